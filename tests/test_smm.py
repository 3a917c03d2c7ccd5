"""The method of simulated moments: formulas on a deterministic problem, recovery of known
parameters on a small market, and (slow) coverage of its intervals and the law of J."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from scipy import stats

import talentsim as ts
from talentsim.seeds import seed_list
from talentsim.smm import Parameter, conditional_means, moment_targets, smm
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


def fit_tiny(targets: list[Target], **options: Any) -> Any:
    """``smm`` on TINY with the small search budget of the problems solved by hand."""
    budget = {"replicates": 2, "maxiter": 2, "popsize": 4, "polish_maxiter": 25, **options}
    return smm(TINY, targets, [RATE], **budget)


def test_estimate_standard_error_and_j_on_a_problem_solved_by_hand() -> None:
    # m(θ) = (θ, 2θ), observed (0.3, 0.8), σ = (0.1, 0.2): W = diag(100, 25).
    # θ̂ = (100·0.3 + 25·2·0.8) / (100 + 25·4) = 0.35; G = (1, 2)'.
    # The moments have no simulation noise (Σ_sim = 0), so Ω = diag(σ²) = W⁻¹ and
    # Var θ̂ = 1 / (G'WG) = 1 / 200 (no (1 + 1/R) factor: there is nothing simulated to
    # correct for); Q(θ̂) = 100·0.05² + 25·0.1² = 0.5 = J.
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)
    result = fit_tiny(targets, se_replicates=4)
    assert result.estimate[0] == pytest.approx(0.35, abs=1e-3)
    assert result.jacobian[:, 0] == pytest.approx([1.0, 2.0])
    assert result.se[0] == pytest.approx(math.sqrt(1 / 200), rel=1e-3)
    assert result.objective == pytest.approx(0.5, rel=1e-2)
    assert result.j_df == 1
    assert result.j_statistic == pytest.approx(0.5, rel=1e-2)
    assert result.j_pvalue == pytest.approx(stats.chi2.sf(0.5, 1), rel=1e-2)
    assert list(result.moments["target"]) == ["m1", "m2"]
    assert result.moments["simulated"].to_numpy() == pytest.approx([0.35, 0.7], abs=2e-3)
    assert result.moments["simulated_sd"].to_numpy() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert result.moment_covariance == pytest.approx(np.diag([0.01, 0.04]))
    assert result.weighting == "diagonal" and result.se_replicates == 4
    interval = result.confidence_intervals().loc["market.separation_rate"]
    assert interval["low"] < 0.35 < interval["high"]


# ---- moments with known simulation noise: the sandwich, efficient weighting, the J df -----

NOISE = 0.2  # sd of one run's noise in each moment
RHO = 0.9  # correlation of the two moments' noise within a run


def seed_noise(seed: int) -> np.ndarray:
    """Two correlated standard normals fixed by a run's seed (so common across θ)."""
    u, v = np.random.default_rng(seed).standard_normal(2)
    return np.array([u, RHO * u + math.sqrt(1 - RHO**2) * v])


def run_noise(result: ts.RunResult) -> np.ndarray:
    return seed_noise(result.seed)


def noisy_first(result: ts.RunResult) -> float:
    return result.scenario.market.separation_rate + NOISE * float(run_noise(result)[0])


def noisy_second(result: ts.RunResult) -> float:
    return 2 * result.scenario.market.separation_rate + NOISE * float(run_noise(result)[1])


def noisy_targets(s1: float, s2: float) -> list[Target]:
    return [
        Target(name="n1", statistic=noisy_first, observed=0.3, se=s1, source=SOURCE),
        Target(name="n2", statistic=noisy_second, observed=0.8, se=s2, source=SOURCE),
    ]


@pytest.mark.parametrize("weighting", ["diagonal", "efficient"])
def test_the_sandwich_uses_the_simulated_covariance_of_the_moments(weighting: str) -> None:
    # m̄_R(θ) = Gθ + c with G = (1, 2)' and c the mean noise of the R common runs: the
    # estimate, Ω = diag(σ²) + Σ_sim / R and the sandwich can all be computed by hand. The
    # noise (sd 0.2, ρ = 0.9) dominates the targets' errors, so the efficient W, which uses
    # the correlation, must give a clearly smaller standard error than the diagonal one
    # (Hansen 1982: the efficient variance is the smallest of all weightings).
    replicates, wide = 2, 12
    observed, sigma = np.array([0.3, 0.8]), np.array([0.02, 0.03])
    result = fit_tiny(
        noisy_targets(*sigma), replicates=replicates, se_replicates=wide, weighting=weighting
    )
    noise = np.array([NOISE * seed_noise(seed) for seed in ts.seeds.seed_list(wide)])
    omega = np.diag(sigma**2) + np.cov(noise, rowvar=False) / replicates
    G = np.array([[1.0], [2.0]])
    diagonal = np.diag(1 / sigma**2)
    W = diagonal if weighting == "diagonal" else np.linalg.inv(omega)
    bread = np.linalg.inv(G.T @ W @ G)
    estimate = bread @ G.T @ W @ (observed - noise[:replicates].mean(axis=0))
    variance = bread @ G.T @ W @ omega @ W @ G @ bread
    assert result.moment_covariance == pytest.approx(omega, rel=1e-9)
    assert result.weight_matrix == pytest.approx(W, rel=1e-9)
    assert result.jacobian[:, 0] == pytest.approx([1.0, 2.0], rel=1e-6)
    assert result.estimate[0] == pytest.approx(estimate[0], abs=1e-3)
    assert result.se[0] == pytest.approx(math.sqrt(variance[0, 0]), rel=1e-6)
    assert result.j_df == 1 and math.isfinite(result.j_statistic)
    if weighting == "efficient":
        assert result.j_statistic == pytest.approx(result.objective, rel=1e-3)  # J = Q
        bread = np.linalg.inv(G.T @ diagonal @ G)
        diagonal_variance = bread @ G.T @ diagonal @ omega @ diagonal @ G @ bread
        assert result.se[0] < 0.9 * math.sqrt(diagonal_variance[0, 0])


def test_an_executor_runs_the_replicates_with_the_same_results() -> None:
    options: dict[str, Any] = {
        "replicates": 2,
        "maxiter": 1,
        "popsize": 4,
        "polish_maxiter": 5,
        "se_replicates": 4,
    }
    alone = smm(TINY, noisy_targets(0.05, 0.1), [RATE], **options)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pooled = smm(TINY, noisy_targets(0.05, 0.1), [RATE], executor=pool, **options)
    assert pooled.estimate == pytest.approx(alone.estimate, abs=0)
    assert pooled.se == pytest.approx(alone.se, abs=0)
    assert pooled.j_statistic == alone.j_statistic
    assert pooled.evaluations == alone.evaluations


def test_a_statistic_that_cannot_go_to_worker_processes_is_named() -> None:
    target = Target(
        name="by_lambda",
        statistic=lambda result: result.scenario.market.separation_rate,
        observed=0.3,
        se=0.1,
        source=SOURCE,
    )
    refused = pytest.raises(ValueError, match="'by_lambda' cannot be sent to worker processes")
    with ProcessPoolExecutor(max_workers=1) as pool, refused:  # the pool never starts a worker
        smm(TINY, [target], [RATE], replicates=2, executor=pool)


def test_an_unknown_weighting_is_refused() -> None:
    with pytest.raises(ValueError, match="weighting must be one of diagonal, efficient"):
        smm(TINY, deterministic_targets(0.3, 0.8, 0.1, 0.2), [RATE], weighting="optimal")


def test_exactly_identified_has_no_j_test() -> None:
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)[:1]
    result = fit_tiny(targets, se_replicates=2)
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


def fit(targets: list[Target], root_seed: int = 0, **options: Any) -> Any:
    """SMM on the small market: R = 4, a small search (3 generations of 4, 12 polish steps)."""
    settings = {"replicates": 4, "maxiter": 3, "popsize": 4, "polish_maxiter": 12, **options}
    return smm(SMALL_MARKET, targets, [RATE], root_seed=root_seed, **settings)


def test_recovers_a_known_separation_rate_on_a_small_market() -> None:
    result = fit(synthetic_targets(123_456_789, per_run_sd(10)), se_replicates=20)
    assert math.isfinite(result.se[0]) and 0 < result.se[0] < 0.3
    assert abs(result.estimate[0] - TRUTH) < 3 * result.se[0]
    assert result.j_df == 1 and 0 <= result.j_pvalue <= 1


def contradictory_targets() -> list[Target]:
    """Lab A's attrition far above B's: the model, where A pays more, has A's below B's."""
    return [
        Target(
            name=t.name,
            statistic=t.statistic,
            args=t.args,
            observed=value,
            se=0.05,
            source=SOURCE,
        )
        for t, value in zip(STATISTICS, (0.9, 0.5), strict=True)
    ]


def test_negative_control_targets_the_model_cannot_produce_are_rejected_by_j() -> None:
    # At the truth the model gives attrition ≈ 0.65 (A) and 0.85 (B), and any separation
    # rate moves both together (slope ≈ 1 each): no θ gives A 0.4 above B. The J-test must
    # reject at 1% on each of three independent replicate-seed sets (R = 2, a small search).
    for root_seed in (11, 12, 13):
        result = fit(
            contradictory_targets(),
            root_seed=root_seed,
            replicates=2,
            maxiter=2,
            polish_maxiter=6,
            se_replicates=8,
        )
        assert result.j_df == 1
        assert result.j_pvalue < 0.01, (root_seed, result.j_statistic)


@pytest.mark.slow
def test_intervals_cover_the_truth_and_j_follows_its_chi_square_law() -> None:
    """Coverage of the 95% Wald intervals and the law of J, on the small market.

    Sizes: one parameter (separation rate, truth 0.3/year), two moments (attrition of labs A
    and B), R = 4 common replicate runs per candidate, the default ``se_replicates`` (50)
    for the Jacobian and the simulated covariance, one run at the truth as each data set,
    60 data sets, each fitted on its own replicate seeds (as independent studies would be:
    with common seeds across fits, the simulation error of m̄_R would be shared by all 60
    and the trials would not be independent). The targets' se is the sd of one run's
    statistic at the truth, measured on 400 runs (relative error of an sd from 400 runs
    ≈ 3.5%; the 40 used before were off by 10–16% by chance, a cause of the old
    under-coverage).

    Tests: two-sided binomial test of the hits against 0.95 at α = 0.01 (rejects at ≤ 52
    hits of 60; power 0.70 against a true coverage of 0.85, 0.93 against 0.80), and a KS
    test of the 60 J statistics against χ²(1) at α = 0.01. 25 minutes on the shared 2-core
    machine (about 18 000 runs of the small market).
    """
    sd = per_run_sd(400)
    covered, j_values = [], []
    for data_seed in range(1_000, 1_060):
        result = fit(synthetic_targets(data_seed, sd), root_seed=data_seed)
        interval = result.confidence_intervals().iloc[0]
        covered.append(interval["low"] <= TRUTH <= interval["high"])
        j_values.append(result.j_statistic)
    hits = int(np.sum(covered))
    assert stats.binomtest(hits, len(covered), 0.95).pvalue > 0.01, hits
    assert stats.kstest(j_values, stats.chi2(1).cdf).pvalue > 0.01, j_values


COMMON_SEEDS = set(seed_list(2, 0))  # the replicate seeds of smm(replicates=2, root_seed=0)


def undefined_beyond_the_common_seeds(result: ts.RunResult) -> float:
    """3θ on the common replicate seeds, infinite on the others (as a ratio of flows can be)."""
    if result.seed not in COMMON_SEEDS:
        return math.inf
    return 3 * result.scenario.market.separation_rate


def test_moments_undefined_at_the_standard_errors_are_left_out_and_named() -> None:
    # m3 is defined on the fit's common seeds (so the search sees it) but infinite on the
    # extra runs of the Jacobian and the covariance: the standard errors and the J-test come
    # from m1 and m2 alone, as in the hand-solved problem, and the result says so.
    targets = [
        *deterministic_targets(0.3, 0.8, 0.1, 0.2),
        Target(
            name="m3",
            statistic=undefined_beyond_the_common_seeds,
            observed=1.05,
            se=0.3,
            source=SOURCE,
        ),
    ]
    result = fit_tiny(targets, se_replicates=4)
    assert result.left_out == ["m3"]
    assert result.se[0] == pytest.approx(math.sqrt(1 / 200), rel=1e-2)
    assert result.j_df == 1 and math.isfinite(result.j_statistic)


# A small market where the flow back from the well-paying lab is mostly zero: A pays three
# times B's pay and choices are nearly best responses (noise 0.3), so in a year about 23
# researchers move B -> A and none A -> B in about 80% of runs (40 seeds measured: 82.5%),
# while no run has no move either way (the fewest B -> A moves seen: 15).
ONE_WAY_MARKET: dict[str, Any] = {
    **SMALL_MARKET,
    "market": {**SMALL_MARKET["market"], "noise_scale": 0.3},
    "labs": {**SMALL_MARKET["labs"], "A": {"pay_level": 3.0, "capacity": 80}},
}


def one_way_targets(statistic: str, observed: float, se: float) -> list[Target]:
    """Attrition of both labs and the flow B -> A, as a ratio or as a share."""
    return [
        Target(
            name=f"attrition_{lab}",
            statistic="attrition_rate",
            args={"lab": lab},
            observed=value,
            se=0.1,
            source=SOURCE,
        )
        for lab, value in (("A", 0.6), ("B", 0.8))
    ] + [
        Target(
            name="flow_B_to_A",
            statistic=statistic,
            args={"origin": "B", "destination": "A"},
            observed=observed,
            se=se,
            source=SOURCE,
        )
    ]


def test_a_flow_share_target_stays_in_the_standard_errors_and_j_where_a_ratio_is_left_out() -> None:
    # The same figure twice: a ratio of 19 ± 6, then as a share 19/20 ± 6/20² (delta method).
    # With the ratio, the runs of the Jacobian and the covariance where no one moved A -> B
    # make the moment infinite, so smm leaves it out; the share is finite on every run and
    # enters the standard errors and the J-test (three moments, one parameter: 2 df).
    budget = {"replicates": 2, "maxiter": 2, "popsize": 4, "polish_maxiter": 12}
    ratio = smm(
        ONE_WAY_MARKET, one_way_targets("flow_ratio", 19.0, 6.0), [RATE], **budget, se_replicates=8
    )
    assert ratio.left_out == ["flow_B_to_A"]
    assert ratio.j_df == 1
    share = smm(
        ONE_WAY_MARKET,
        one_way_targets("flow_share", 0.95, 0.015),
        [RATE],
        **budget,
        se_replicates=8,
    )
    assert share.left_out == []
    assert share.j_df == 2 and math.isfinite(share.j_statistic)
    assert math.isfinite(share.se[0]) and share.se[0] > 0
    flow = share.moments.set_index("target").loc["flow_B_to_A"]
    assert 0.9 <= flow["simulated"] <= 1.0 and math.isfinite(flow["simulated_sd"])


def test_conditional_means_skip_undefined_runs_only() -> None:
    values = np.array([[1.0, np.nan, np.inf, np.nan], [3.0, 2.0, 1.0, np.nan]])
    means = conditional_means(values)
    assert means[0] == 2.0 and means[1] == 2.0  # (the second over its one defined run)
    assert means[2] == math.inf  # an infinite run is not a missing one
    assert math.isnan(means[3])  # defined on no run


FIRST_COMMON_SEED = seed_list(2, 0)[0]


def undefined_on_one_seed(result: ts.RunResult) -> float:
    """θ, but undefined (no event to measure) on the first common seed and on a wide one."""
    if result.seed in (FIRST_COMMON_SEED, seed_list(4, 0)[3]):
        return math.nan
    return result.scenario.market.separation_rate


def test_a_statistic_undefined_on_some_runs_is_its_mean_over_the_others() -> None:
    # The hand-solved problem (θ̂ = 0.35, se = sqrt(1/200), J = 0.5 on 1 df) with m1 undefined
    # on one of the two common seeds at every θ: the moment is its mean over the runs that
    # define it, so the answer is the same; before, one undefined replicate made every
    # candidate's objective the penalty.
    targets = deterministic_targets(0.3, 0.8, 0.1, 0.2)
    targets[0] = targets[0].model_copy(update={"statistic": undefined_on_one_seed})
    result = fit_tiny(targets, se_replicates=4)
    assert result.estimate[0] == pytest.approx(0.35, abs=1e-3)
    assert result.left_out == []
    assert result.se[0] == pytest.approx(math.sqrt(1 / 200), rel=1e-3)
    assert result.j_df == 1 and result.j_statistic == pytest.approx(0.5, rel=1e-2)


def test_the_covariance_of_means_over_defining_runs_follows_its_formula() -> None:
    """Ω's simulated part for a statistic undefined on some runs (docs/calibration.md):
    Cov(m̄_k, m̄_l) = Σ_kl · n_kl / (n_k · n_l), with n_k ≈ R·share_k.

    Statistic 1 ~ N(0, 1) is defined on each run with probability 1/2; statistic 2 is always
    defined, correlated 0.6 with the first. With R = 4 the exact variance of the first's
    conditional mean is E[1/n | n > 0] = 0.572 (n ~ Binomial(4, 1/2)); the formula gives 1/2
    (Σ/R = 0.25 without the correction); the covariance is exactly 0.6/4. Σ and the shares
    are estimated on 4,000 runs (sd of the estimates ~3%); tolerance 20% on the variance,
    0.03 on the covariance.
    """
    from talentsim.smm import _omega

    rng = np.random.default_rng(7)

    def draws(n: int) -> np.ndarray:
        first = rng.standard_normal(n)
        second = 0.6 * first + 0.8 * rng.standard_normal(n)
        first[rng.random(n) < 0.5] = np.nan
        return np.column_stack([first, second])

    class Runs:
        def values(self, theta: np.ndarray, seeds: list[int]) -> np.ndarray:
            return draws(len(seeds))

    omega = _omega(Runs(), np.zeros(1), np.zeros(2), 4, list(range(4000)))  # type: ignore[arg-type]
    sets = draws(4 * 20_000).reshape(20_000, 4, 2)
    defined = (~np.isnan(sets[:, :, 0])).sum(axis=1) > 0
    means = np.nanmean(sets[defined], axis=1)
    truth = np.cov(means.T)
    assert truth[0, 0] == pytest.approx(0.572, rel=0.05)  # (the setting is as stated)
    assert omega[0, 0] == pytest.approx(0.5, rel=0.1)
    assert omega[0, 0] == pytest.approx(truth[0, 0], rel=0.2)
    assert omega[0, 1] == pytest.approx(truth[0, 1], abs=0.03)
    assert omega[1, 1] == pytest.approx(0.25, rel=0.1)


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(2)


def _half_defined(result: Any) -> float:
    """Sd 0.2 around the separation rate, undefined on about half the runs."""
    u = _noise(result.seed)
    return math.nan if u[1] > 0 else result.scenario.market.separation_rate + 0.2 * u[0]


def _always_defined(result: Any) -> float:
    return 2 * result.scenario.market.separation_rate + 0.2 * _noise(result.seed)[0]


def test_simulated_sd_is_one_run_s_sd_where_a_statistic_is_sometimes_undefined() -> None:
    # it was √((Ω_kk − σ²)·R), which is sd/√(share of runs defining it): 0.29 for this 0.2
    targets = [
        Target(name="h", statistic=_half_defined, observed=0.3, se=0.05, source=SOURCE),
        Target(name="a", statistic=_always_defined, observed=0.6, se=0.05, source=SOURCE),
    ]
    fit = smm(
        TINY,
        targets,
        [Parameter("market.separation_rate", 0.05, 1.0, unit="/year")],
        replicates=8,
        maxiter=2,
        popsize=4,
        polish_maxiter=10,
        se_replicates=400,
    )
    sd = fit.moments.set_index("target")["simulated_sd"]
    # one run's sd is 0.2 for both; over ~200 and 400 runs its estimate is within ±0.03
    # (more than 4 standard errors of an sd estimate: 0.2/√(2·200) = 0.01)
    assert sd["h"] == pytest.approx(0.2, abs=0.03) and sd["a"] == pytest.approx(0.2, abs=0.03)


def test_two_statistics_never_defined_on_the_same_run_have_no_covariance_term() -> None:
    # n_kl = 0: Cov(m̄_k, m̄_l) = Σ_kl · n_kl / (n_k n_l) = 0. The pairwise Σ_kl is not a
    # number there; it made Ω's entry NaN and every moment was left out of the standard
    # errors and the J-test (before 5 December 2026).
    from talentsim.smm import _omega

    rng = np.random.default_rng(3)
    runs = rng.standard_normal((400, 3))
    runs[0::2, 0] = np.nan  # the first statistic on odd runs only
    runs[1::2, 1] = np.nan  # the second on even runs only

    class Runs:
        def values(self, theta: np.ndarray, seeds: list[int]) -> np.ndarray:
            return runs[: len(seeds)]

    sigma = np.array([0.1, 0.2, 0.3])
    omega = _omega(Runs(), np.zeros(1), sigma, 8, list(range(400)))  # type: ignore[arg-type]
    assert np.all(np.isfinite(omega))
    assert omega[0, 1] == 0.0 and omega[1, 0] == 0.0
    variances = np.nanvar(runs, axis=0, ddof=1)
    shares = np.array([0.5, 0.5, 1.0])
    assert np.diag(omega) == pytest.approx(sigma**2 + variances / (8 * shares))
    both = ~np.isnan(runs[:, 0])
    third = np.cov(runs[both, 0], runs[both, 2])[0, 1] * 0.5 / (8 * 0.5 * 1.0)
    assert omega[0, 2] == pytest.approx(third)


def _odd_runs(result: ts.RunResult) -> float:
    """θ with noise, defined on runs with an odd seed only."""
    u = float(_noise(result.seed)[0])
    return result.scenario.market.separation_rate + 0.1 * u if result.seed % 2 else math.nan


def _even_runs(result: ts.RunResult) -> float:
    """2θ with noise, defined on runs with an even seed only."""
    u = float(_noise(result.seed)[0])
    return math.nan if result.seed % 2 else 2 * result.scenario.market.separation_rate + 0.1 * u


def test_a_fit_with_statistics_defined_on_disjoint_runs_has_standard_errors_and_j() -> None:
    targets = [
        Target(name="odd", statistic=_odd_runs, observed=0.3, se=0.1, source=SOURCE),
        Target(name="even", statistic=_even_runs, observed=0.6, se=0.1, source=SOURCE),
        Target(name="m", statistic=twice_separation_rate, observed=0.6, se=0.1, source=SOURCE),
    ]
    seeds = seed_list(20, 0)
    assert {s % 2 for s in seeds[:6]} == {0, 1}  # (both defined on the common seeds)
    result = fit_tiny(targets, replicates=6, se_replicates=20)
    assert result.left_out == []
    assert math.isfinite(result.se[0]) and result.se[0] > 0
    assert result.j_df == 2 and math.isfinite(result.j_statistic)
    assert result.moment_covariance[0, 1] == 0.0


def test_a_parameter_held_at_a_bound_counts_as_fixed_in_the_j_test() -> None:
    # m(θ) = (θ, 2θ), θ ∈ [0.05, 1], observed (−0.3, −0.6): both targets point at θ = −0.3,
    # past the bound. θ̂ = 0.05, g = (0.35, 0.7), z = 3.5 each, Q = 24.5, and no θ in the
    # bounds meets either target. With W = Ω⁻¹ (no simulation noise), J = Q on 2 df
    # (p = 4.8e-6). Before 5 December 2026 the misfit along G was projected out as if θ̂ met
    # G'Wg = 0: J = 8.82 on 1 df; with observed (−0.3, 0.2), J = 2.42 (p = 0.12) where Q = 12.5.
    result = fit_tiny(deterministic_targets(-0.3, -0.6, 0.1, 0.2), se_replicates=4)
    assert result.estimate[0] == RATE.low
    assert result.held == ["market.separation_rate"]
    assert result.j_df == 2
    assert result.j_statistic == pytest.approx(24.5, rel=1e-6)
    assert result.j_pvalue == pytest.approx(stats.chi2.sf(24.5, 2), rel=1e-6)
    other = fit_tiny(deterministic_targets(-0.3, 0.2, 0.1, 0.2), se_replicates=4)
    assert other.held == ["market.separation_rate"] and other.j_df == 2
    assert other.j_statistic == pytest.approx(12.5, rel=1e-6) and other.j_pvalue < 0.01
    # inside the bounds nothing is held (the hand-solved problem: J = 0.5 on 1 df)
    inside = fit_tiny(deterministic_targets(0.3, 0.8, 0.1, 0.2), se_replicates=4)
    assert inside.held == [] and inside.j_df == 1


def test_the_j_test_at_a_bound_keeps_its_size_and_gains_power() -> None:
    # Linear-Gaussian moments m = Gθ + e, e ~ N(0, I), W = Ω⁻¹ = I, θ ≥ 0. Held at the bound,
    # J = Q on K − p + 1 df; free, on K − p: each is exact given which happened (Q at the bound
    # is χ²(K − p) plus an independent half-normal squared), so the size stays 5% with the
    # truth on the bound; against data made at θ = −3, past it, J now rejects.
    from talentsim.smm import held_at_bounds, j_test

    rng = np.random.default_rng(1)
    G = np.array([[1.0], [2.0], [0.5]])
    identity = np.eye(3)

    def rejected(truth: float, fits: int) -> float:
        count = 0
        for _ in range(fits):
            observed = G[:, 0] * truth + rng.standard_normal(3)
            theta = max(0.0, float(G[:, 0] @ observed / (G[:, 0] @ G[:, 0])))
            g = G[:, 0] * theta - observed
            bounds = np.zeros(1), np.full(1, np.inf)
            held = held_at_bounds(np.array([theta]), *bounds, G, identity, g)
            free = G[:, [i for i in range(1) if i not in held]]
            j = j_test(free, identity, identity, g)
            count += stats.chi2.sf(j, 3 - free.shape[1]) < 0.05
        return count / fits

    assert rejected(0.0, 4000) == pytest.approx(0.05, abs=0.012)  # (sd 0.0034)
    assert rejected(-3.0, 200) > 0.95


def test_efficient_weighting_refuses_a_statistic_whose_variance_cannot_be_estimated() -> None:
    # Defined on one of the common seeds only: its variance across runs is unknown, so the
    # efficient weight cannot be formed (defined on some runs only is fine: see above).
    first = seed_list(2, 0)[0]

    def on_one_run(result: ts.RunResult) -> float:
        return result.scenario.market.separation_rate if result.seed == first else math.nan

    targets = [
        Target(name="one", statistic=on_one_run, observed=0.3, se=0.1, source=SOURCE),
        Target(name="m", statistic=twice_separation_rate, observed=0.6, se=0.1, source=SOURCE),
    ]
    with pytest.raises(TargetsError, match="defined \\(and finite\\) on at least two runs"):
        fit_tiny(targets, weighting="efficient")
