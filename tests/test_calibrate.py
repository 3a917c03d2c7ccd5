"""The method of simulated moments: formulas on a deterministic problem, recovery of known
parameters on a small market, and (slow) coverage of its intervals and the law of J."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

import talentsim as ts
from talentsim.calibrate import Parameter, moment_targets, smm
from talentsim.targets import Source, Target, Targets, TargetsError, target_values

SOURCE = Source(citation="synthetic", measures="simulated at known parameters")

TINY = {  # a market that runs in milliseconds: the deterministic tests only read its scenario
    "name": "tiny",
    "time": {"step": "1mo", "duration": "1mo"},
    "labs": {"A": {}},
    "cohorts": {"a": {"size": 3, "lab": "A"}},
}


def separation_rate(result: ts.RunResult) -> float:
    """A moment equal to the parameter: m(θ) = θ, with no simulation noise."""
    return result.scenario.market.separation_rate


def twice_separation_rate(result: ts.RunResult) -> float:
    return 2 * result.scenario.market.separation_rate


def deterministic_targets(first: float, second: float, s1: float, s2: float) -> list[Target]:
    return [
        Target(name="m1", statistic=separation_rate, observed=first, se=s1, source=SOURCE),
        Target(name="m2", statistic=twice_separation_rate, observed=second, se=s2, source=SOURCE),
    ]


RATE = Parameter("market.separation_rate", 0.05, 1.0, unit="/year")


def test_estimate_standard_error_and_j_on_a_problem_solved_by_hand() -> None:
    # m(θ) = (θ, 2θ), observed (0.3, 0.8), σ = (0.1, 0.2): W = diag(100, 25).
    # θ̂ = (100·0.3 + 25·2·0.8) / (100 + 25·4) = 0.35; G = (1, 2)';
    # Var θ̂ = (1 + 1/R) / (G'WG) = (1 + 1/4) / 200; Q(θ̂) = 100·0.05² + 25·0.1² = 0.5
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)
    result = smm(TINY, targets, [RATE], replicates=4, maxiter=3, popsize=4)
    assert result.estimate[0] == pytest.approx(0.35, abs=1e-3)
    assert result.jacobian[:, 0] == pytest.approx([1.0, 2.0])
    assert result.se[0] == pytest.approx(math.sqrt(1.25 / 200), rel=1e-3)
    assert result.objective == pytest.approx(0.5, rel=1e-2)
    assert result.j_df == 1
    assert result.j_statistic == pytest.approx(0.5 / 1.25, rel=1e-2)
    assert result.j_pvalue == pytest.approx(stats.chi2.sf(0.4, 1), rel=1e-2)
    assert list(result.moments["target"]) == ["m1", "m2"]
    assert result.moments["simulated"].to_numpy() == pytest.approx([0.35, 0.7], abs=2e-3)
    interval = result.confidence_intervals().loc["market.separation_rate"]
    assert interval["low"] < 0.35 < interval["high"]


def test_exactly_identified_has_no_j_test() -> None:
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)[:1]
    result = smm(TINY, targets, [RATE], replicates=2, maxiter=3, popsize=4)
    assert result.estimate[0] == pytest.approx(0.3, abs=1e-3)
    assert result.j_df == 0 and math.isnan(result.j_statistic) and math.isnan(result.j_pvalue)


def test_bands_are_moments_and_bounds_are_refused() -> None:
    band = Target(name="b", statistic=separation_rate, band=(0.2, 0.6), source=SOURCE)
    observed, sigma = moment_targets(Targets(name="t", targets=[band]))
    assert observed[0] == pytest.approx(0.4) and sigma[0] == pytest.approx(0.4 / (2 * 1.96))
    bound = Target(name="lower", statistic=separation_rate, at_least=0.2, source=SOURCE)
    with pytest.raises(TargetsError, match=r"targets\.0 \(lower\): a one-sided bound"):
        smm(TINY, [bound], [RATE], replicates=2)


def test_a_parameter_the_scenario_refuses_is_named() -> None:
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)
    with pytest.raises(ts.ScenarioError, match=r"market\.no_such_key"):
        smm(TINY, targets, [Parameter("market.no_such_key", 0.0, 1.0)], replicates=2)


# ---- recovery on a small market -----------------------------------------------------------

SMALL_MARKET: dict[str, Any] = {
    "name": "small_market",
    "time": {"step": "1mo", "duration": "1y"},
    "market": {
        "offer_rate_employed": "1/year",
        "offer_rate_outside": "2/year",
        "separation_rate": "0.3/year",
        "switching_cost": 0.5,
    },
    "outside": {"opportunity_rate": "0.5/year", "retirement_rate": "0.1/year"},
    "labs": {"A": {"pay_level": 1.5, "capacity": 80}, "B": {"pay_level": 1.0, "capacity": 80}},
    "cohorts": {
        "a": {"size": 60, "lab": "A"},
        "b": {"size": 60, "lab": "B"},
        "pool": {"size": 40, "lab": "outside", "entry_rate": "10/year"},
    },
}
TRUTH = 0.3  # market.separation_rate, per year
STATISTICS = [
    Target(
        name=f"attrition_{lab}",
        statistic="attrition_rate",
        args={"lab": lab},
        band=(0.0, 10.0),
        source=SOURCE,
    )
    for lab in "AB"
]


def synthetic_targets(data_seed: int, sd: np.ndarray) -> list[Target]:
    """Targets observed on one run at the true parameters (the "data"), with its per-run sd."""
    data = target_values(SMALL_MARKET, STATISTICS, seeds=[data_seed]).iloc[0].to_numpy()
    return [
        Target(
            name=t.name,
            statistic=t.statistic,
            args=t.args,
            observed=float(value),
            se=float(error),
            source=SOURCE,
        )
        for t, value, error in zip(STATISTICS, data, sd, strict=True)
    ]


def per_run_sd(seeds: int) -> np.ndarray:
    """The sampling sd of one run's statistics at the truth (root seed apart from the fits')."""
    return target_values(SMALL_MARKET, STATISTICS, seeds=seeds, root_seed=777).std(ddof=1).values


def fit(targets: list[Target], root_seed: int = 0) -> Any:
    return smm(
        SMALL_MARKET,
        targets,
        [RATE],
        replicates=4,
        root_seed=root_seed,
        maxiter=3,
        popsize=4,
        polish_maxiter=12,
    )


def test_recovers_a_known_separation_rate_on_a_small_market() -> None:
    result = fit(synthetic_targets(123_456_789, per_run_sd(10)))
    assert math.isfinite(result.se[0]) and 0 < result.se[0] < 0.3
    assert abs(result.estimate[0] - TRUTH) < 3 * result.se[0]
    assert result.j_df == 1 and 0 <= result.j_pvalue <= 1


@pytest.mark.slow
@pytest.mark.xfail(
    reason="open: the Wald intervals under-cover on this small market (33 of 40 with a "
    "replicate seed set per fit, 27 of 40 with common seeds across fits; binomial p < 0.01). "
    "The standard errors are not yet to be trusted at R = 4 with one run as data.",
    strict=False,
)
def test_intervals_cover_the_truth_and_j_follows_its_chi_square_law() -> None:
    # 40 synthetic data sets at the truth: the 95% Wald intervals should cover it in about
    # 95% of them (two-sided binomial test), and J should follow χ²(1) (KS test). Each fit
    # has its own replicate seeds, as independent studies would: with the same seeds, the
    # simulation error of m̄_R would be common to all 40 fits and the trials not independent.
    sd = per_run_sd(40)
    covered, j_values = [], []
    for data_seed in range(1_000, 1_040):
        result = fit(synthetic_targets(data_seed, sd), root_seed=data_seed)
        interval = result.confidence_intervals().iloc[0]
        covered.append(interval["low"] <= TRUTH <= interval["high"])
        j_values.append(result.j_statistic)
    hits = int(np.sum(covered))
    assert stats.binomtest(hits, len(covered), 0.95).pvalue > 0.01, hits
    assert stats.kstest(j_values, stats.chi2(1).cdf).pvalue > 0.01
