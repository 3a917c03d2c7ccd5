"""The method of simulated moments (SMM): fit scenario parameters to targets.

The moments are the targets' statistics (:mod:`talentsim.targets`), each averaged over ``R``
replicate runs. The estimate minimises the weighted distance between simulated and observed
moments,

    Q(θ) = g(θ)' W g(θ),    g(θ) = m̄_R(θ) − m_obs,

with a diagonal weighting matrix from the targets' errors, ``W = diag(1 / σ_k²)``. Every
parameter vector is run on the **same** replicate seeds (common random numbers), so Q is a
deterministic function of θ and differences between candidates are not blurred by sampling
noise. Q is minimised by differential evolution over the parameters' bounds, then polished
locally with Nelder–Mead (the simulated moments move in steps, so a gradient-based polish would
stall).

Standard errors come from a numerical Jacobian ``G = ∂m̄/∂θ`` (central differences on the
common seeds) and the sandwich

    V = (1 + 1/R) (G'WG)⁻¹ G'W Ω W G (G'WG)⁻¹,    Ω = diag(σ_k²),

where ``1 + 1/R`` accounts for the simulation noise of the R-replicate mean when each
simulated run has the sampling variance of the observed statistic (McFadden 1989; Gourieroux
and Monfort 1996, ch. 2). With ``W = Ω⁻¹`` this is ``(1 + 1/R)(G'WG)⁻¹``. When there are more
moments than parameters, the J statistic ``Q(θ̂) / (1 + 1/R)`` tests the over-identifying
restrictions: under the model it is asymptotically χ² with (moments − parameters) degrees of
freedom.

Which targets are moments: an estimate (``observed``, ``se``) is the moment ``observed`` with
error ``se``; a band ``[low, high]`` is read as the moment at its midpoint with error
``(high − low) / (2 × 1.96)`` (the band as a 95% interval: a judgement, stated here); a
one-sided bound (``at_least``, ``at_most``) is not a moment, and the estimator refuses it by
name. The standard errors and the J-test assume the targets' errors are independent (W is
diagonal).

References:
    McFadden, D. (1989). A method of simulated moments for estimation of discrete response
    models without numerical integration. Econometrica 57(5), 995–1026.
    Gourieroux, C. and Monfort, A. (1996). Simulation-Based Econometric Methods. Oxford
    University Press.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as scipy_stats

from talentsim.results import run
from talentsim.run_statistics import RunArrays, StatisticError
from talentsim.scenario import Scenario
from talentsim.seeds import seed_list
from talentsim.targets import Target, Targets, TargetsError, as_targets, scenario_for

PENALTY = 1e12
"""Objective value where a moment is undefined (NaN or infinite) at a parameter vector."""


@dataclass(frozen=True)
class Parameter:
    """A scenario value to estimate.

    Attributes:
        path: Its dotted path (``"labs.MSL.pay_level"``, ``"market.separation_rate"``).
        low, high: Bounds of the search.
        unit: How to write a value into the scenario: ``""`` for a plain number,
            ``"/year"`` for a rate (``"0.3/year"``), ``"y"`` for a duration in years.
        prior: A frozen :mod:`scipy.stats` distribution (for approximate Bayesian
            computation); None means uniform over ``[low, high]``. See
            :mod:`talentsim.priors` (``priors.parameter(path, prior)`` sets the bounds from it).
    """

    path: str
    low: float
    high: float
    unit: str = ""
    prior: Any = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"{self.path}: bounds must be finite with low < high")
        if self.prior is not None and not all(
            callable(getattr(self.prior, name, None)) for name in ("rvs", "pdf", "support")
        ):
            raise ValueError(
                f"{self.path}: prior must be a frozen scipy.stats distribution, e.g. "
                f"scipy.stats.norm(1.0, 0.5), got {self.prior!r}"
            )
        if self.unit not in ("", "/year", "y"):
            raise ValueError(f"{self.path}: unit must be '', '/year' or 'y', got {self.unit!r}")

    def value(self, x: float) -> float | str:
        """``x`` as the scenario reads it."""
        return float(x) if not self.unit else f"{float(x)!r}{self.unit}"


@dataclass(frozen=True)
class SMMResult:
    """What :func:`smm` found.

    Attributes:
        parameters: Parameter names (their dotted paths).
        estimate: θ̂. se: Its standard errors. covariance: Their covariance matrix.
        objective: Q(θ̂).
        moments: One row per target: ``observed``, ``sigma`` (its error), ``simulated``
            (m̄_R(θ̂)), ``residual`` and ``z`` ((simulated − observed) / sigma).
        jacobian: ∂m̄/∂θ at θ̂ (moments × parameters).
        replicates: R. seeds: The common replicate seeds.
        j_statistic, j_df, j_pvalue: The J-test (NaN without over-identification).
        evaluations: Parameter vectors simulated.
    """

    parameters: list[str]
    estimate: np.ndarray
    se: np.ndarray
    covariance: np.ndarray
    objective: float
    moments: pd.DataFrame
    jacobian: np.ndarray
    replicates: int
    seeds: list[int]
    j_statistic: float
    j_df: int
    j_pvalue: float
    evaluations: int

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals ``estimate ± z·se`` per parameter."""
        z = float(scipy_stats.norm.ppf(0.5 + level / 2))
        return pd.DataFrame(
            {
                "estimate": self.estimate,
                "se": self.se,
                "low": self.estimate - z * self.se,
                "high": self.estimate + z * self.se,
            },
            index=pd.Index(self.parameters, name="parameter"),
        )


def moment_targets(targets: Targets) -> tuple[np.ndarray, np.ndarray]:
    """The observed moments and their errors (σ) of targets, in order.

    Raises:
        TargetsError: naming a target that is a one-sided bound (not a moment).
    """
    observed, sigma = [], []
    where = targets.source_file or targets.name
    for index, target in enumerate(targets.targets):
        if target.observed is not None and target.se is not None:
            observed.append(target.observed)
            sigma.append(target.se)
        elif target.band is not None:
            low, high = target.band
            if high <= low:
                raise TargetsError(
                    f"{where}: targets.{index} ({target.name}): a band of zero width is not a "
                    "moment with an error; give observed and se"
                )
            observed.append((low + high) / 2)
            sigma.append((high - low) / (2 * 1.96))
        else:
            raise TargetsError(
                f"{where}: targets.{index} ({target.name}): a one-sided bound ({target.form}) "
                "is not a moment; the method of simulated moments needs an estimate with its "
                "se, or a band"
            )
    return np.array(observed, dtype=float), np.array(sigma, dtype=float)


class _Moments:
    """m̄_R(θ): the targets' statistics averaged over the common replicate seeds."""

    def __init__(
        self,
        scenario: Scenario,
        targets: Targets,
        parameters: Sequence[Parameter],
        seeds: list[int],
    ) -> None:
        self.scenario, self.targets, self.parameters, self.seeds = (
            scenario,
            targets,
            list(parameters),
            seeds,
        )
        self.cache: dict[tuple[float, ...], np.ndarray] = {}

    def values(self, theta: np.ndarray) -> np.ndarray:
        """Per-replicate values, shape (R, moments); NaN where a statistic is undefined."""
        key = tuple(float(x) for x in theta)
        if key in self.cache:
            return self.cache[key]
        overrides = {p.path: p.value(x) for p, x in zip(self.parameters, theta, strict=True)}
        scenario = self.scenario.with_overrides(overrides, source="calibration parameters")
        out = np.empty((len(self.seeds), len(self.targets.targets)))
        for r, seed in enumerate(self.seeds):
            result = run(scenario, seed=seed)
            arrays = RunArrays.of(result)
            for k, target in enumerate(self.targets.targets):
                out[r, k] = _compute(target, result, arrays)
        self.cache[key] = out
        return out

    def mean(self, theta: np.ndarray) -> np.ndarray:
        """m̄_R(θ) (NaN where a statistic is undefined on any replicate)."""
        return self.values(theta).mean(axis=0)


def _compute(target: Target, result: Any, arrays: RunArrays) -> float:
    try:
        return target.compute(result, arrays)
    except StatisticError as exc:
        raise TargetsError(f"target {target.name}: {exc}") from None


def smm(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    parameters: Sequence[Parameter],
    *,
    replicates: int = 10,
    root_seed: int = 0,
    maxiter: int = 30,
    popsize: int = 8,
    optimizer_seed: int = 0,
    polish: bool = True,
    polish_maxiter: int = 60,
    step: float = 0.05,
) -> SMMResult:
    """Estimate ``parameters`` by the method of simulated moments (see the module docstring).

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        targets: Targets with estimates (``observed``, ``se``) or bands; no one-sided bounds.
        parameters: What to estimate, with bounds.
        replicates: R, the replicate runs per parameter vector (the same seeds for all).
        root_seed: Root of the replicate seeds.
        maxiter: Differential evolution's generations.
        popsize: Differential evolution's population, per parameter.
        optimizer_seed: Seed of differential evolution (the search, not the simulations).
        polish: Refine the best point with Nelder–Mead within the bounds.
        polish_maxiter: At most this many Nelder–Mead iterations.
        step: Finite-difference step for the Jacobian, as a share of each parameter's range
            (the simulated moments move in steps under common random numbers, so the step
            must span many of them).

    Returns:
        An :class:`SMMResult`.

    Raises:
        TargetsError: for one-sided targets or targets that do not fit the scenario.
        ScenarioError: for a parameter path or value the scenario refuses.
    """
    chosen = as_targets(targets)
    if not parameters:
        raise ValueError("smm: give at least one Parameter to estimate")
    base = scenario_for(scenario, chosen)
    observed, sigma = moment_targets(chosen)
    weight = 1.0 / sigma**2
    seeds = seed_list(replicates, root_seed, minimum=2)
    moments = _Moments(base, chosen, parameters, seeds)
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])
    # Fail early, naming the path, if the scenario refuses a parameter.
    moments.mean((lows + highs) / 2)

    def objective(theta: np.ndarray) -> float:
        theta = np.clip(theta, lows, highs)
        g = moments.mean(theta) - observed
        if not np.all(np.isfinite(g)):
            return PENALTY
        return float(g @ (weight * g))

    found = optimize.differential_evolution(
        objective,
        list(zip(lows, highs, strict=True)),
        maxiter=maxiter,
        popsize=popsize,
        seed=optimizer_seed,
        polish=False,
        init="sobol" if len(parameters) > 1 else "latinhypercube",
        updating="immediate",
    )
    best, best_value = np.asarray(found.x, dtype=float), float(found.fun)
    if polish:
        local = optimize.minimize(
            objective,
            best,
            method="Nelder-Mead",
            bounds=list(zip(lows, highs, strict=True)),
            options={
                "xatol": 1e-4 * float(np.min(highs - lows)),
                "fatol": 1e-8,
                "maxiter": polish_maxiter,
            },
        )
        if float(local.fun) <= best_value:
            best = np.clip(np.asarray(local.x, dtype=float), lows, highs)
            best_value = float(local.fun)

    jacobian = _jacobian(moments, best, lows, highs, step)
    factor = 1.0 + 1.0 / len(seeds)
    bread = jacobian.T @ (weight[:, None] * jacobian)
    try:
        inverse = np.linalg.inv(bread)
        meat = jacobian.T @ ((weight**2 * sigma**2)[:, None] * jacobian)
        covariance = factor * inverse @ meat @ inverse
    except np.linalg.LinAlgError:
        covariance = np.full((len(parameters), len(parameters)), np.nan)
    se = np.sqrt(np.diag(covariance))
    simulated = moments.mean(best)
    n_moments, n_parameters = len(observed), len(parameters)
    df = n_moments - n_parameters
    j_statistic = best_value / factor if df > 0 else math.nan
    j_pvalue = float(scipy_stats.chi2.sf(j_statistic, df)) if df > 0 else math.nan
    table = pd.DataFrame(
        {
            "target": [t.name for t in chosen.targets],
            "observed": observed,
            "sigma": sigma,
            "simulated": simulated,
            "residual": simulated - observed,
            "z": (simulated - observed) / sigma,
        }
    )
    return SMMResult(
        parameters=[p.path for p in parameters],
        estimate=best,
        se=se,
        covariance=covariance,
        objective=best_value,
        moments=table,
        jacobian=jacobian,
        replicates=len(seeds),
        seeds=seeds,
        j_statistic=j_statistic,
        j_df=max(df, 0),
        j_pvalue=j_pvalue,
        evaluations=len(moments.cache),
    )


def _jacobian(
    moments: _Moments, theta: np.ndarray, lows: np.ndarray, highs: np.ndarray, step: float
) -> np.ndarray:
    """∂m̄/∂θ by central differences on the common seeds (one-sided at a bound)."""
    columns = []
    for i in range(len(theta)):
        h = step * (highs[i] - lows[i])
        up, down = theta.copy(), theta.copy()
        up[i] = min(theta[i] + h, highs[i])
        down[i] = max(theta[i] - h, lows[i])
        columns.append((moments.mean(up) - moments.mean(down)) / (up[i] - down[i]))
    return np.column_stack(columns)


__all__ = ["PENALTY", "Parameter", "SMMResult", "moment_targets", "smm"]
