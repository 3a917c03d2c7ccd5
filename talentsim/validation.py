"""Checks of the simulation against theory: closed forms and the mean-field equations.

Each check builds its scenario in code, runs the simulation over replicate seeds and compares
with the theoretical answer. Comparisons with the simulation use tolerances derived from
sampling error (the formula is in each check's ``tolerance`` text and in docs/validation.md);
deterministic comparisons (the mean field against a closed form, or against itself at another
step length) use stated numerical criteria. The test
suite (tests/test_validation.py) and ``examples/validate.py`` (which regenerates
docs/validation.md) both call these functions.

Checks:
    * :func:`job_ladder_check` — the mean-field equations against the Burdett–Mortensen closed
      form (deterministic).
    * :func:`stationary_shares_check` — stationary lab shares under logit switching against
      the closed form ``x_i ∝ w_i·(W − w_i)·exp(V_i/s)`` (mean field and simulation).
    * :func:`trajectory_check` — headcount trajectories with scheduled reorganisations
      against the mean-field solution, step by step.
    * :func:`timestep_check` — the same at daily and weekly steps, and first-order
      convergence of the discrete-time expectation to the continuous-time solution.
    * :func:`relaxation_check` — the relaxation time after a permanent shock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from talentsim.builders import job_ladder
from talentsim.mean_field import meanfield, relaxation_time, stationary_logit_shares
from talentsim.model import TalentModel
from talentsim.scenario import Scenario

ALPHA = 0.001
"""Family-wise false-alarm probability of each check (Bonferroni over its comparisons)."""

OFF = {
    "peers": False,
    "fairness": False,
    "reputation": False,
    "counter_offers": False,
    "attachment": False,
    "random_reorganisations": False,
}


@dataclass
class Check:
    """The outcome of one validation check.

    Attributes:
        name: What is checked.
        passed: Whether every comparison was within its tolerance.
        statistic: The largest standardised deviation (or relative error) found.
        threshold: The tolerance it was compared with.
        tolerance: How the tolerance was derived.
        details: Numbers for the report (tables, series for figures).
    """

    name: str
    passed: bool
    statistic: float
    threshold: float
    tolerance: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{verdict}: {self.name} ({self.statistic:.3g} vs {self.threshold:.3g})"


def _headcounts(model: TalentModel) -> np.ndarray:
    """(step, place) headcounts of a run."""
    return model.headcount_history[: model.steps + 1].astype(float)


def _simulate(scenario: Scenario, seeds: Sequence[int]) -> np.ndarray:
    """(seed, step, place) headcounts over replicate seeds."""
    runs = []
    for seed in seeds:
        model = TalentModel(scenario, seed=seed)
        model.run()
        runs.append(_headcounts(model))
    return np.array(runs)


def _t_bound(n_comparisons: int, replicates: int) -> float:
    """Two-sided Bonferroni critical value of a t statistic with ``replicates − 1`` d.f."""
    return float(stats.t.ppf(1 - ALPHA / (2 * n_comparisons), replicates - 1))


def _compare_paths(runs: np.ndarray, expected: np.ndarray, max_times: int = 150) -> dict[str, Any]:
    """Standardised deviations of the replicate mean from an expected path, per (time, place).

    ``t = (mean − expected) / (sd / √R)`` at up to ``max_times`` evenly spaced steps (all
    places; step 0, the common start, is left out); the check passes when ``max |t|`` is
    below the Bonferroni critical value of the t distribution with R − 1 degrees of freedom at
    family-wise level :data:`ALPHA` over the m compared (time, place) pairs. A pair whose
    replicates never vary counts as infinitely far off unless it equals the expectation
    (to 1e-9 of the population).
    """
    r = runs.shape[0]
    if r < 2:
        raise ValueError(f"comparing a path needs at least 2 replicates, got {r}")
    n_steps = runs.shape[1] - 1
    chosen = np.unique(np.linspace(1, n_steps, min(max_times, n_steps)).round().astype(int))
    runs, expected = runs[:, chosen], expected[chosen]
    mean = runs.mean(axis=0)
    se = runs.std(axis=0, ddof=1) / math.sqrt(r)
    gap = mean - expected
    exact = np.abs(gap) <= 1e-9 * max(1.0, float(expected[0].sum()))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, gap / se, np.where(exact, 0.0, np.inf))
    bound = _t_bound(t.size, r)
    return {
        "t": t,
        "max_t": float(np.abs(t).max()),
        "bound": bound,
        "mean": mean,
        "se": se,
        "steps": chosen,
    }


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def switching_scenario(
    researchers: int = 20_000, years: float = 6.0, step: str = "1w"
) -> tuple[Scenario, np.ndarray]:
    """Four labs, logit switching, no switching cost, no separations or exits, no capacity.

    Returns the scenario and each lab's deterministic utility ``V_j`` (for the closed form).
    """
    pay = [1.0, 1.2, 1.5, 0.9]
    clarity = [0.2, 0.5, 0.0, 0.8]
    orientation = [0.5, 0.2, 0.9, 0.4]
    intensity = [1.0, 2.0, 0.5, 1.5]
    mine = 0.4  # everyone's orientation
    per_lab = researchers // 4
    data = {
        "name": "validation_switching",
        "time": {"step": step, "duration": f"{years}y"},
        "mechanisms": {**OFF, "stability": False},
        "market": {
            "offer_rate_employed": "4/year",
            "offer_rate_outside": "4/year",
            "separation_rate": "0/year",
            "noise_scale": 0.5,
            "switching_cost": 0.0,
        },
        "outside": {"opportunity_rate": "0/year", "retirement_rate": "0/year"},
        "labs": {
            f"L{j}": {
                "pay_level": pay[j],
                "mission_clarity": clarity[j],
                "orientation": orientation[j],
                "recruiting_intensity": intensity[j],
            }
            for j in range(4)
        },
        "cohorts": {
            f"c{j}": {"size": per_lab, "lab": f"L{j}", "orientation": mine} for j in range(4)
        },
    }
    utility = np.log(pay) + np.array(clarity) * (1 - 2 * np.abs(mine - np.array(orientation)))
    return Scenario.from_dict(data, source="validation"), utility


def shock_scenario(
    researchers: int = 20_000,
    years: float = 3.0,
    step: str = "1w",
    severity: float = 1.0,
    events: list[dict[str, Any]] | None = None,
) -> Scenario:
    """Three labs and the pool, with two scheduled reorganisations of lab A.

    Separations, exits, entries and retirements are on; the reorganisations are at 1 and 2
    years (unless ``events`` replaces them); one cohort has a random orientation. Former
    staff are paid as newcomers (``return_pay = "new_hire"``), as the mean field assumes.
    """
    n = researchers
    as_newcomers = {"return_pay": "new_hire"}
    data = {
        "name": "validation_shocks",
        "time": {"step": step, "duration": f"{years}y"},
        "mechanisms": OFF,
        "market": {
            "offer_rate_employed": "3/year",
            "offer_rate_outside": "4/year",
            "separation_rate": "0.2/year",
            "noise_scale": 0.5,
            "switching_cost": 0.2,
        },
        "outside": {"opportunity_rate": "1/year", "retirement_rate": "0.1/year", "pay_ratio": 0.7},
        # Former staff are paid as newcomers: the mean-field state does not track former labs.
        "labs": {
            "A": {"pay_level": 1.2, "mission_clarity": 0.5, "orientation": 0.2, **as_newcomers},
            "B": {"pay_level": 1.0, "mission_clarity": 0.8, "orientation": 0.8, **as_newcomers},
            "C": {
                "pay_level": 1.1,
                "new_hire_premium": 0.1,
                "recovery_half_life": "0.25y",
                **as_newcomers,
            },
        },
        "cohorts": {
            "a": {
                "size": round(0.35 * n),
                "lab": "A",
                "orientation": {"dist": "uniform", "low": 0.0, "high": 1.0},
            },
            "b": {"size": round(0.35 * n), "lab": "B", "orientation": 0.6},
            "c": {"size": round(0.2 * n), "lab": "C", "orientation": 0.4},
            "pool": {
                "size": round(0.1 * n),
                "lab": "outside",
                "orientation": 0.5,
                "entry_rate": f"{0.05 * n}/year",
            },
        },
        "events": events
        if events is not None
        else [
            {"kind": "reorganisation", "lab": "A", "at": f"{at}y", "severity": severity}
            for at in (1, 2)
            if at < years
        ],
    }
    return Scenario.from_dict(data, source="validation")


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def job_ladder_check(labs: int = 200) -> Check:
    """Mean-field steady state of the job ladder against Burdett & Mortensen (1998).

    Deterministic: the mean field's exact step transitions (``method="steps"``) after 30
    years (15 relaxation times 1/δ of the slowest part, the top of the ladder) must give
    ``u = δ/(δ + λ0)`` and the pay distribution of the employed to within 1e-7: what is left
    of the transient (about 8e-9), not a solver's tolerance (the ODE's, 1e-7 relative, left
    errors of ~3e-6 and needed a 1e-5 threshold until 5 December 2026). With L labs at
    distinct pay levels, offers from labs drawn uniformly and never from one's own lab, the
    balance of flows into and out of the labs at or below the j-th lowest level gives
    ``G_j = δ·F_j / (δ + λ1·(L − 1 − j)/(L − 1))`` with ``F_j = (j + 1)/L`` (j from 0): the
    discrete form of Burdett–Mortensen's ``G = δF/(δ + λ1(1 − F))``.
    """
    delta, lambda0, lambda1 = 0.5, 4.0, 2.0
    pay = np.sort(np.random.default_rng(12345).uniform(1.0, 2.0, labs))
    scenario = job_ladder(
        pay.tolist(),
        researchers=10_000,
        offer_rate_outside=lambda0,
        offer_rate_employed=lambda1,
        separation_rate=delta,
        duration_years=30.0,
    )
    final = meanfield(scenario, method="steps").headcounts().iloc[-1].to_numpy()
    u = final[-1] / final.sum()
    employed = final[:-1] / final[:-1].sum()
    rank = np.arange(labs)
    offer_cdf = (rank + 1) / labs
    theory_g = delta * offer_cdf / (delta + lambda1 * (labs - 1 - rank) / (labs - 1))
    u_error = abs(u - delta / (delta + lambda0))
    g_error = float(np.abs(np.cumsum(employed) - theory_g).max())
    error = max(u_error, g_error)
    return Check(
        "mean field = Burdett–Mortensen steady state (u and G)",
        error < 1e-7,
        error,
        1e-7,
        "numerical: exact step transitions; the transient left after 30 years is ~8e-9",
        {
            "u": u,
            "u_theory": delta / (delta + lambda0),
            "u_error": u_error,
            "max_G_error": g_error,
        },
    )


def stationary_shares_check(seeds: Sequence[int] = range(10), researchers: int = 20_000) -> Check:
    """Stationary lab shares: closed form vs mean field (exact) and vs the simulation.

    Simulation: each replicate's shares are averaged over years 3–6 (the chain relaxes within
    a few months); ``t_j = (mean_j − theory_j)/(sd_j/√R)`` must satisfy ``max |t_j|`` ≤ the
    two-sided Bonferroni t critical value at family-wise level 0.001 over the 4 labs with
    R − 1 degrees of freedom. Mean field: the ODE's shares after 6 years within 1e-6.
    """
    scenario, utility = switching_scenario(researchers)
    intensity = np.array([lab.recruiting_intensity for lab in scenario.labs.values()])
    theory = stationary_logit_shares(utility, intensity, scenario.market.noise_scale)
    mf = meanfield(scenario).headcounts().iloc[-1].to_numpy()[:4]
    mf_error = float(np.abs(mf / mf.sum() - theory).max())
    runs = _simulate(scenario, seeds)
    window = runs[:, runs.shape[1] // 2 :, :4]
    shares = (window / window.sum(axis=2, keepdims=True)).mean(axis=1)  # (seed, lab)
    mean, se = shares.mean(axis=0), shares.std(axis=0, ddof=1) / math.sqrt(len(seeds))
    t = (mean - theory) / se
    bound = _t_bound(4, len(seeds))
    return Check(
        "stationary shares under logit switching = w_i(W − w_i)exp(V_i/s)",
        bool(np.abs(t).max() <= bound and mf_error < 1e-6),
        float(np.abs(t).max()),
        bound,
        "max |t| over labs ≤ t_{R−1}(1 − 0.001/8); mean field within 1e-6",
        {
            "theory": theory,
            "meanfield": mf / mf.sum(),
            "simulation": mean,
            "se": se,
            "t": t,
            "meanfield_error": mf_error,
            "replicates": len(seeds),
            "researchers": researchers,
        },
    )


def trajectory_check(
    seeds: Sequence[int] = range(20),
    researchers: int = 20_000,
    step: str = "1w",
    scenario: Scenario | None = None,
    expected_from: Scenario | None = None,
) -> Check:
    """Headcount per lab and step against the mean field (the simulation's own steps).

    ``expected_from`` (default: the same scenario) lets a test show the check fails when the
    theory is wrong (a negative control).
    """
    scenario = scenario or shock_scenario(researchers, step=step)
    expected = meanfield(expected_from or scenario, method="steps").headcounts().to_numpy()
    runs = _simulate(scenario, seeds)
    result = _compare_paths(runs, expected)
    return Check(
        f"headcount trajectories with scheduled reorganisations = mean field (step {step})",
        result["max_t"] <= result["bound"],
        result["max_t"],
        result["bound"],
        "max |t| over (step, place) ≤ t_{R−1}(1 − 0.001/(2m)), m = number of comparisons",
        {
            **result,
            "expected": expected[result["steps"]],
            "time": result["steps"] * scenario.time.step,
        },
    )


def discretisation_error(scenario: Scenario) -> tuple[float, np.ndarray]:
    """How far the discrete-time expectation is from the continuous-time solution.

    Returns:
        The mean absolute difference of expected headcounts (``method="steps"`` against the
        ODE with events at their exact times) over steps and places, relative to the starting
        population; and the discrete-time expected headcounts (step × place).
    """
    steps = meanfield(scenario, method="steps").headcounts().to_numpy()
    exact = meanfield(scenario, method="ode", align_events=False).headcounts().to_numpy()
    return float(np.abs(steps - exact).mean() / steps[0].sum()), steps


def timestep_check(
    seeds: Sequence[int] = range(12), researchers: int = 10_000, years: float = 2.5
) -> Check:
    """Daily and weekly steps both agree with the mean field, which converges in dt.

    Simulation against the discrete-time mean field at each step length (sampling-error
    bound as in :func:`trajectory_check`). Convergence: the mean absolute deviation of the
    discrete-time expectation from the continuous-time (ODE, events at their exact times)
    solution, relative to the starting population, is first order in dt, so the weekly error
    is about 7× the daily one. Deterministic criteria: the ratio lies in [3.5, 14] (a factor of
    two around 7; zeroth order would give 1 and second order 49), and the daily error is below
    0.05% of the population.
    """
    errors, sims = {}, {}
    for label in ("1d", "1w"):
        scenario = shock_scenario(researchers, years=years, step=label)
        errors[label], steps = discretisation_error(scenario)
        sims[label] = _compare_paths(_simulate(scenario, seeds), steps)
    ratio = errors["1w"] / errors["1d"]
    worst = max(sim["max_t"] / sim["bound"] for sim in sims.values())
    passed = worst <= 1 and 3.5 <= ratio <= 14 and errors["1d"] < 5e-4
    return Check(
        "daily and weekly steps agree with the mean field; first-order convergence in dt",
        passed,
        worst,
        1.0,
        "each step length: max |t| / t-bound ≤ 1; error(1w)/error(1d) in [3.5, 14]",
        {"errors": errors, "ratio": ratio, "t_over_bound": worst},
    )


def relaxation_check(
    seeds: Sequence[int] = range(30), researchers: int = 20_000, bootstrap: int = 400
) -> Check:
    """The e-folding time after a permanent shock, simulated and mean-field.

    The shock: lab A's pay level falls from 1.2 to 0.8 for everyone at 1 year.

    The simulated time is measured on the mean trajectory over replicates; its standard error
    is the bootstrap standard deviation over replicates (resampled with replacement). The
    check passes when ``|τ_sim − τ_mf| ≤ z·SE`` with ``z = Φ⁻¹(1 − 0.001/2) ≈ 3.29``.
    """
    events = [
        {
            "kind": "pay_change",
            "lab": "A",
            "at": "1y",
            "pay_level": 0.8,
            "applies_to": "everyone",
        }
    ]
    scenario = shock_scenario(researchers, years=5.0, events=events)
    mf = meanfield(scenario, method="steps").headcounts()["A"].to_numpy()
    time = np.arange(mf.shape[0]) * scenario.time.step
    shock = time[round(1.0 / scenario.time.step)]
    final_window = time >= 4.0
    tau_mf = relaxation_time(time, mf, shock, float(mf[final_window].mean()))
    runs = _simulate(scenario, seeds)[:, :, 0]

    def tau(sample: np.ndarray) -> float:
        path = sample.mean(axis=0)
        return relaxation_time(time, path, shock, float(path[final_window].mean()))

    tau_sim = tau(runs)
    rng = np.random.default_rng(0)
    boot = [tau(runs[rng.integers(0, len(runs), len(runs))]) for _ in range(bootstrap)]
    se = float(np.nanstd(boot, ddof=1))
    z = float(stats.norm.ppf(1 - ALPHA / 2))
    deviation = abs(tau_sim - tau_mf) / se
    return Check(
        "relaxation time after a permanent pay cut = mean-field prediction",
        deviation <= z,
        deviation,
        z,
        "|τ_sim − τ_mf| / SE_bootstrap ≤ Φ⁻¹(1 − 0.001/2)",
        {
            "tau_meanfield": tau_mf,
            "tau_simulation": tau_sim,
            "se": se,
            "time": time,
            "mf": mf,
            "mean": runs.mean(axis=0),
        },
    )


ALL_CHECKS: dict[str, Callable[..., Check]] = {
    "job_ladder": job_ladder_check,
    "stationary_shares": stationary_shares_check,
    "trajectories": trajectory_check,
    "timestep": timestep_check,
    "relaxation": relaxation_check,
}
