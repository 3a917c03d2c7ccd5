"""The method of simulated moments (SMM): fit scenario parameters to targets.

The moments are the targets' statistics (:mod:`talentsim.targets`), each averaged over ``R``
replicate runs: over the runs where it is defined (:func:`conditional_means`: a mean time to
return needs a return, as the observed figure did; a statistic undefined on every run, or
infinite on one, leaves its moment undefined). The estimate minimises the weighted distance
between simulated and observed moments,

    Q(θ) = g(θ)' W g(θ),    g(θ) = m̄_R(θ) − m_obs,

with, by default, a diagonal weighting matrix from the targets' errors, ``W = diag(1 / σ_k²)``.
Every parameter vector is run on the **same** replicate seeds (common random numbers), so Q is
a deterministic function of θ and differences between candidates are not blurred by sampling
noise. Q is minimised by differential evolution over the parameters' bounds, then polished
locally with Nelder–Mead (the simulated moments move in steps, so a gradient-based polish would
stall).

Standard errors come from a numerical Jacobian ``G = ∂E[m]/∂θ`` (central differences on
``se_replicates`` runs, 50 by default, whose first R are the common seeds) and the sandwich

    V = (G'WG)⁻¹ G'W Ω W G (G'WG)⁻¹,    Ω = diag(σ_k²) + Σ_sim(θ̂) / R,

where Ω is the covariance of g(θ̂) at the truth: the targets' errors (independent, as the
targets state them) plus the covariance of the simulated mean, with Σ_sim the covariance of
one run's statistics estimated on the same ``se_replicates`` runs at θ̂ (McFadden 1989;
Gourieroux and Monfort 1996, ch. 2). When one run has the sampling variance of the observed
statistic (``Σ_sim = diag(σ²)``) this is the textbook ``(1 + 1/R)`` correction; when the
targets come from large samples (σ small) the simulation noise dominates and the textbook
factor would understate it; correlated moments (two statistics of one run) are covered.
``weighting="efficient"`` is two-step GMM: a first estimate with the diagonal W, then
``W = Ω⁻¹`` estimated there, and the search again; V is then ``(G'Ω⁻¹G)⁻¹``, the smallest
of all weightings.

When there are more moments than parameters, the J statistic tests the over-identifying
restrictions: with ``M = I − G(G'WG)⁻¹G'W`` the residual is ``g(θ̂) ≈ M e`` with
``e ~ (0, Ω)``, so ``J = g(θ̂)' (M Ω M')⁺ g(θ̂)`` is asymptotically χ² with (moments −
parameters) degrees of freedom under the model, for any W (with the efficient W it is
``Q(θ̂)`` itself; Hansen 1982). A parameter held at a bound (the estimate on it, the criterion
falling past it) does not meet the first-order condition behind ``g(θ̂) ≈ M e``: the J-test
counts it as fixed (its column left out of M, one degree of freedom more), so a misfit the
bound causes is in J (:func:`held_at_bounds`, ``SMMResult.held``).

Which targets are moments: an estimate (``observed``, ``se``) is the moment ``observed`` with
error ``se``; a band ``[low, high]`` is read as the moment at its midpoint with error
``(high − low) / (2 × 1.96)`` (the band as a 95% interval: a judgement, stated here); a
one-sided bound (``at_least``, ``at_most``) is not a moment, and the estimator refuses it by
name. The targets' errors are taken as independent of each other (each comes from its own
source); the simulated moments' correlation is estimated.

References:
    Hansen, L. P. (1982). Large sample properties of generalized method of moments
    estimators. Econometrica 50(4), 1029–1054.
    McFadden, D. (1989). A method of simulated moments for estimation of discrete response
    models without numerical integration. Econometrica 57(5), 995–1026.
    Gourieroux, C. and Monfort, A. (1996). Simulation-Based Econometric Methods. Oxford
    University Press.
    Newey, W. K. and West, K. D. (1987). Hypothesis testing with efficient method of moments
    estimation. International Economic Review 28(3), 777–787 (the distance-metric test of
    :func:`profile`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as scipy_stats

from talentsim.interrupts import gather
from talentsim.results import check_picklable, run
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

    def at_bound(self, x: float, margin: float = 0.01) -> bool:
        """Whether ``x`` lies within ``margin`` of the range from a bound.

        An estimate there is a sign that the bound, not the data, decided it.
        """
        near = margin * (self.high - self.low)
        return bool(x - self.low <= near or self.high - x <= near)

    def contains(self, low: float, high: float) -> bool:
        """Whether the interval ``[low, high]`` does not reach past the bounds.

        A Wald interval that does says the normal approximation is poor there. (An interval
        that is not a number, NaN, is not shown past them.)
        """
        return not (low < self.low or high > self.high)


@dataclass(frozen=True)
class SMMResult:
    """What :func:`smm` found.

    Attributes:
        parameters: Parameter names (their dotted paths).
        estimate: θ̂. se: Its standard errors. covariance: Their covariance matrix.
        objective: Q(θ̂).
        moments: One row per target: ``observed``, ``sigma`` (its error), ``simulated``
            (m̄_R(θ̂)), ``residual`` and ``z`` ((simulated − observed) / sigma),
            ``simulated_sd`` (one run's sd at θ̂) and ``total_se`` (√Ω_kk: the error of the
            residual, observed and simulated).
        jacobian: ∂m̄/∂θ at θ̂ (moments × parameters).
        replicates: R. seeds: The common replicate seeds.
        j_statistic, j_df, j_pvalue: The J-test (NaN without over-identification).
        evaluations: Parameter vectors evaluated (simulated, or on a resume read from the
            checkpoint: the same count as an uninterrupted fit).
        weighting: ``"diagonal"`` or ``"efficient"``. weight_matrix: W (moments × moments).
        moment_covariance: Ω at θ̂, the covariance of m̄_R(θ̂) − m_obs: the targets' errors
            plus the simulated covariance of one run's moments divided by R.
        se_replicates: Runs per point for the Jacobian and the simulated covariance.
        left_out: Targets left out of the standard errors and the J-test, their derivative,
            simulated covariance or value at the estimate being undefined (the J-test's
            degrees of freedom count only the moments used).
        held: Parameters held at a bound of their search range: the estimate lies on it and
            the criterion falls past it (its gradient points out), so the bound, not the
            data, set it. The J-test counts them as fixed: its degrees of freedom are the
            moments used less the other parameters, and the misfit the bound causes is in J
            (until 5 December 2026 it was projected out, and J had one degree of freedom
            fewer per such parameter).
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
    weighting: str = "diagonal"
    weight_matrix: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    moment_covariance: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    se_replicates: int = 0
    left_out: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

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
    """The targets' statistics per replicate run, cached per (parameter vector, seed)."""

    def __init__(
        self,
        scenario: Scenario,
        targets: Targets,
        parameters: Sequence[Parameter],
        seeds: list[int],
        executor: Executor | None = None,
        cache: MutableMapping[tuple[float, ...], np.ndarray] | None = None,
    ) -> None:
        self.scenario, self.targets, self.parameters, self.seeds = (
            scenario,
            targets,
            list(parameters),
            seeds,
        )
        self.executor = executor
        self.cache: dict[tuple[tuple[float, ...], int], np.ndarray] = {}
        self.used: set[tuple[float, ...]] = set()  # evaluated: simulated, or from ``cache``
        # θ → the common seeds' moments, shape (R, moments): kept by the caller (a checkpoint
        # on disk for --resume, the trace of the fit); filled as candidates are simulated
        self.known: MutableMapping[tuple[float, ...], np.ndarray] | None = cache

    def values(self, theta: np.ndarray, seeds: list[int] | None = None) -> np.ndarray:
        """Per-replicate values, shape (seeds, moments); NaN where a statistic is undefined.

        ``seeds`` defaults to the common replicate seeds of the objective.
        """
        key = tuple(float(x) for x in theta)
        self.used.add(key)
        chosen = self.seeds if seeds is None else seeds
        if self.known is not None and key in self.known:
            for seed, row in zip(self.seeds, np.asarray(self.known[key]), strict=True):
                self.cache.setdefault((key, seed), row)
        missing = [seed for seed in chosen if (key, seed) not in self.cache]
        if missing:
            overrides = {p.path: p.value(x) for p, x in zip(self.parameters, key, strict=True)}
            scenario = self.scenario.with_overrides(overrides, source="calibration parameters")
            if self.executor is not None and len(missing) > 1:
                futures = [
                    self.executor.submit(run_moments, scenario, self.targets, seed)
                    for seed in missing
                ]
                rows = gather(futures)
            else:
                rows = [run_moments(scenario, self.targets, seed) for seed in missing]
            for seed, row in zip(missing, rows, strict=True):
                self.cache[key, seed] = row
        common = all((key, seed) in self.cache for seed in self.seeds)
        if self.known is not None and key not in self.known and common:
            self.known[key] = np.array([self.cache[key, seed] for seed in self.seeds])
        return np.array([self.cache[key, seed] for seed in chosen])

    def mean(self, theta: np.ndarray, seeds: list[int] | None = None) -> np.ndarray:
        """m̄(θ) over the seeds: each statistic's mean over the runs where it is defined.

        See :func:`conditional_means`.
        """
        return conditional_means(self.values(theta, seeds))


def conditional_means(values: np.ndarray) -> np.ndarray:
    """Each column's mean over the rows where it is defined (not NaN).

    A statistic that needs events to be measured (a mean time to return needs a return, a
    share of the moves between two labs needs a move) is NaN on a run without them; the
    observed figure it is compared with was measured where those events happened. So the
    moment is the mean over the runs where the statistic is defined (an estimate of its
    expectation given that it is defined), not undefined because one replicate is. NaN only
    where no run defines it; infinite where a run gives an infinite value (a ratio of flows
    with no reverse flow: no conditional reading makes that a number).
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    defined = ~np.isnan(values)
    counts = defined.sum(axis=0)
    totals = np.where(defined, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def run_moments(scenario: Scenario, targets: Targets, seed: int) -> np.ndarray:
    """The targets' statistics on one run of ``scenario`` (a task for worker processes)."""
    result = run(scenario, seed=seed)
    arrays = RunArrays.of(result)
    return np.array([_compute(target, result, arrays) for target in targets.targets], dtype=float)


def _compute(target: Target, result: Any, arrays: RunArrays) -> float:
    try:
        return target.compute(result, arrays)
    except StatisticError as exc:
        raise TargetsError(f"target {target.name}: {exc}") from None


WEIGHTINGS = ("diagonal", "efficient")
"""The weighting matrices :func:`smm` knows."""


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
    weighting: str = "diagonal",
    se_replicates: int | None = None,
    executor: Executor | None = None,
    cache: MutableMapping[tuple[float, ...], np.ndarray] | None = None,
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
        weighting: ``"diagonal"`` (``W = diag(1/σ²)`` from the targets' errors) or
            ``"efficient"`` (two-step: ``W = Ω⁻¹`` with Ω, the moments' covariance, estimated
            at the diagonal-weighting estimate; the search is then run again).
        se_replicates: Runs at the estimate (and at each Jacobian point) used for the
            Jacobian and the simulated covariance of the moments; the first R of them are
            the common replicate seeds (so never fewer than R). Default ``max(R, 50)``.
        executor: A ``concurrent.futures.Executor`` (a process pool, Dask's
            ``Client.get_executor()``) that runs the replicate runs of each parameter vector
            in parallel; not shut down here. The statistics must then be picklable (built-in
            names or top-level functions). Results do not depend on it.
        cache: Where to keep the per-replicate moments of each parameter vector simulated
            on the R common seeds (θ as a tuple of floats → an array of shape (R, moments)); a
            mapping filled by an
            earlier, interrupted fit with the same scenario, targets, parameters and seeds
            makes its candidates free (``talentsim.calibration`` keeps one on disk for
            ``--resume``). Default: a fresh dict.

    Returns:
        An :class:`SMMResult`.

    Raises:
        TargetsError: for one-sided targets or targets that do not fit the scenario.
        ScenarioError: for a parameter path or value the scenario refuses.
        ValueError: for an unknown weighting, no parameters, ``se_replicates < 2``, or a
            statistic that cannot go to the executor's worker processes.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(
            f"smm: weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}"
        )
    chosen = as_targets(targets)
    if not parameters:
        raise ValueError("smm: give at least one Parameter to estimate")
    base = scenario_for(scenario, chosen)
    observed, sigma = moment_targets(chosen)
    seeds = seed_list(replicates, root_seed, minimum=2)
    wide = max(len(seeds), 50) if se_replicates is None else se_replicates
    if wide < 2:
        raise ValueError(f"smm: se_replicates must be at least 2, got {se_replicates}")
    # Spawned seeds are prefixes of one another: the first R of these are the common seeds.
    wide_seeds = seed_list(wide, root_seed, minimum=2) if wide > len(seeds) else seeds
    if executor is not None and not isinstance(executor, ThreadPoolExecutor):
        check_picklable(
            {t.name: t.statistic for t in chosen.targets if callable(t.statistic)},
            "smm (a target's statistic)",
            "executor=None",
        )
    moments = _Moments(base, chosen, parameters, seeds, executor, cache)
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])
    # Fail early, naming the path, if the scenario refuses a parameter.
    moments.mean((lows + highs) / 2)

    search = {
        "maxiter": maxiter,
        "popsize": popsize,
        "optimizer_seed": optimizer_seed,
        "polish": polish,
        "polish_maxiter": polish_maxiter,
    }
    weight = np.diag(1.0 / sigma**2)
    best, best_value = _minimise(moments, observed, weight, lows, highs, None, search)
    if weighting == "efficient":
        first_omega = _omega(moments, best, sigma, len(seeds), wide_seeds)
        if not np.all(np.isfinite(first_omega)):
            raise TargetsError(
                "smm: efficient weighting needs every target's statistic defined (and finite) "
                "on at least two runs at the first-step estimate, to estimate its variance "
                "(some are not there); use weighting='diagonal'"
            )
        weight = np.linalg.inv(first_omega)
        best, best_value = _minimise(moments, observed, weight, lows, highs, best, search)

    jacobian = _jacobian(moments, best, lows, highs, step, wide_seeds)
    omega = _omega(moments, best, sigma, len(seeds), wide_seeds)
    simulated = moments.mean(best)
    residual = simulated - observed
    n_parameters = len(parameters)
    # A moment whose derivative, simulated covariance or value at the estimate is undefined
    # (a ratio of flows is infinite on a run where the reverse flow is zero) cannot enter the
    # standard errors or the J-test: they are computed from the others, and the result names
    # the moments left out (``left_out``); the J-test's degrees of freedom count only those used.
    usable = (
        np.all(np.isfinite(jacobian), axis=1) & np.isfinite(np.diag(omega)) & np.isfinite(residual)
    )
    used = np.flatnonzero(usable)
    if not np.all(np.isfinite(omega[np.ix_(used, used)])):  # (not expected: say it plainly)
        used = np.zeros(0, dtype=np.int64)
        usable[:] = False
    left_out = [chosen.targets[k].name for k in np.flatnonzero(~usable)]
    jac, res = jacobian[used], residual[used]
    w_used, omega_used = weight[np.ix_(used, used)], omega[np.ix_(used, used)]
    n_moments = len(used)
    covariance = np.full((n_parameters, n_parameters), np.nan)
    if n_moments >= n_parameters:
        try:
            inverse = np.linalg.inv(jac.T @ w_used @ jac)
        except np.linalg.LinAlgError:
            inverse = None
        if inverse is not None:
            covariance = inverse @ jac.T @ w_used @ omega_used @ w_used @ jac @ inverse
    # A parameter held at a bound (the estimate on it and the criterion falling past it) does
    # not meet the first-order condition G'Wg = 0: for the J-test it is fixed, not estimated.
    held = held_at_bounds(best, lows, highs, jac, w_used, res) if n_moments else []
    free = [i for i in range(n_parameters) if i not in held]
    df = n_moments - len(free)
    j_statistic = j_test(jac[:, free], w_used, omega_used, res) if df > 0 else math.nan
    se = np.sqrt(np.diag(covariance))
    j_pvalue = float(scipy_stats.chi2.sf(j_statistic, df)) if df > 0 else math.nan
    table = pd.DataFrame(
        {
            "target": [t.name for t in chosen.targets],
            "observed": observed,
            "sigma": sigma,
            "simulated": simulated,
            "residual": residual,
            "z": residual / sigma,
            "simulated_sd": _run_sd(moments, best, wide_seeds),
            "total_se": np.sqrt(np.diag(omega)),
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
        evaluations=len(moments.used),
        weighting=weighting,
        weight_matrix=weight,
        moment_covariance=omega,
        se_replicates=len(wide_seeds),
        left_out=left_out,
        held=[parameters[i].path for i in held],
    )


def held_at_bounds(
    theta: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    jacobian: np.ndarray,
    weight: np.ndarray,
    residual: np.ndarray,
) -> list[int]:
    """The parameters the bounds hold: at a bound, with ``Q = g'Wg`` falling past it.

    ∂Q/∂θ = 2 G'W g: positive at the lower bound, or negative at the upper one, means that
    the criterion would fall beyond the bound; there the estimate is set by the bound, not by
    the first-order condition ``G'Wg = 0``.
    """
    slope = jacobian.T @ weight @ residual
    return [
        i
        for i in range(len(theta))
        if (theta[i] <= lows[i] and slope[i] > 0) or (theta[i] >= highs[i] and slope[i] < 0)
    ]


def j_test(
    jacobian: np.ndarray, weight: np.ndarray, omega: np.ndarray, residual: np.ndarray
) -> float:
    """``J = g' (M Ω M')⁺ g`` with ``M = I − G(G'WG)⁻¹G'W`` (``M = I`` without columns).

    At an interior minimum ``G'Wg(θ̂) = 0`` and ``g(θ̂) ≈ M e`` with ``e ~ (0, Ω)``, so J is
    χ² with (moments − columns of G) degrees of freedom for any W; with ``W = Ω⁻¹`` it is
    ``Q(θ̂)``. NaN when ``G'WG`` is singular.
    """
    moments = len(residual)
    projector = np.eye(moments)
    if jacobian.shape[1]:
        try:
            inverse = np.linalg.inv(jacobian.T @ weight @ jacobian)
        except np.linalg.LinAlgError:
            return math.nan
        projector = projector - jacobian @ inverse @ jacobian.T @ weight
    spread = projector @ omega @ projector.T
    pseudo = np.linalg.pinv((spread + spread.T) / 2, rcond=1e-10, hermitian=True)
    return float(residual @ pseudo @ residual)


def _minimise(
    moments: _Moments,
    observed: np.ndarray,
    weight: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    start: np.ndarray | None,
    options: dict[str, Any],
) -> tuple[np.ndarray, float]:
    """Differential evolution over the bounds, then a Nelder–Mead polish: (θ̂, Q(θ̂))."""

    def objective(theta: np.ndarray) -> float:
        theta = np.clip(theta, lows, highs)
        g = moments.mean(theta) - observed
        if not np.all(np.isfinite(g)):
            return PENALTY
        return float(g @ weight @ g)

    return _global_search(objective, lows, highs, start, options)


def _global_search(
    objective: Any,
    lows: np.ndarray,
    highs: np.ndarray,
    start: np.ndarray | None,
    options: dict[str, Any],
) -> tuple[np.ndarray, float]:
    """Differential evolution of ``objective`` over the bounds, then Nelder–Mead: (x, f(x)).

    ``options``: ``maxiter``, ``popsize`` and ``optimizer_seed`` for differential evolution;
    with ``polish``, a Nelder–Mead polish of at most ``polish_maxiter`` iterations.
    """
    found = optimize.differential_evolution(
        objective,
        list(zip(lows, highs, strict=True)),
        maxiter=options["maxiter"],
        popsize=options["popsize"],
        seed=options["optimizer_seed"],
        polish=False,
        init="sobol" if len(lows) > 1 else "latinhypercube",
        updating="immediate",
        x0=start,
    )
    best, best_value = np.asarray(found.x, dtype=float), float(found.fun)
    if options["polish"]:
        local = optimize.minimize(
            objective,
            best,
            method="Nelder-Mead",
            bounds=list(zip(lows, highs, strict=True)),
            options={
                "xatol": 1e-4 * float(np.min(highs - lows)),
                "fatol": 1e-8,
                "maxiter": options["polish_maxiter"],
            },
        )
        if float(local.fun) <= best_value:
            best = np.clip(np.asarray(local.x, dtype=float), lows, highs)
            best_value = float(local.fun)
    return best, best_value


def _omega(
    moments: _Moments, theta: np.ndarray, sigma: np.ndarray, replicates: int, seeds: list[int]
) -> np.ndarray:
    """Ω, the covariance of g(θ) = m̄_R(θ) − m_obs: diag(σ²) + Cov(m̄_R(θ)).

    One run's covariance Σ_sim is estimated on ``seeds`` (pairwise over the runs where both
    statistics are defined); the mean over the ``replicates`` common seeds of a statistic
    defined on ``n_k`` of them has ``Cov(m̄_k, m̄_l) = Σ_kl · n_kl / (n_k · n_l)``, where
    ``n_kl`` of them define both: ``Σ_sim / R`` when every run defines every statistic. The
    shares of runs defining each statistic and each pair are estimated on ``seeds`` too
    (``n_k ≈ R·share_k``).
    """
    values = moments.values(theta, seeds)
    defined = (~np.isnan(values)).astype(float)
    runs = values.shape[0]
    share = defined.sum(axis=0) / runs
    share_both = (defined.T @ defined) / runs
    pairwise = pd.DataFrame(values).cov(min_periods=2, ddof=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        simulated = np.atleast_2d(pairwise * share_both / (replicates * np.outer(share, share)))
    # Two statistics never defined on the same run have n_kl = 0, so no covariance term; on
    # one run only, Σ_kl cannot be estimated and its term, 1/(n_k n_l), is small: 0 in both
    # cases, not NaN, which took every moment out of the standard errors and the J-test
    # (until 5 December 2026). A statistic's own variance stays NaN where it is undefined.
    apart = np.isnan(simulated) & ~np.eye(len(share), dtype=bool)
    simulated[apart] = 0.0
    return np.diag(sigma**2) + simulated


def _run_sd(moments: _Moments, theta: np.ndarray, seeds: list[int]) -> np.ndarray:
    """One run's standard deviation of each statistic at ``theta``, over the runs defining it.

    The runs of ``seeds`` are cached (those :func:`_omega` made). Not ``√((Ω_kk − σ_k²)·R)``:
    for a statistic undefined on some runs, that is one run's sd over the square root of the
    share of runs defining it (until 5 December 2026 the column was that: 0.29 for a
    statistic of sd 0.2 defined on half the runs).
    """
    values = moments.values(theta, seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (a statistic defined on < 2 runs)
        return np.nanstd(values, axis=0, ddof=1)


def _jacobian(
    moments: _Moments,
    theta: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    step: float,
    seeds: list[int],
) -> np.ndarray:
    """∂m̄/∂θ by central differences on ``seeds`` (one-sided at a bound)."""
    columns = []
    for i in range(len(theta)):
        h = step * (highs[i] - lows[i])
        up, down = theta.copy(), theta.copy()
        up[i] = min(theta[i] + h, highs[i])
        down[i] = max(theta[i] - h, lows[i])
        columns.append((moments.mean(up, seeds) - moments.mean(down, seeds)) / (up[i] - down[i]))
    return np.column_stack(columns)


# --------------------------------------------------------------------------------------------
# Profile (criterion-based) confidence intervals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileSummary:
    """The interval read from a profile's minima (:func:`profile_interval`).

    Attributes:
        distance: D per grid value. inside: D at most the threshold. The others: see
            :class:`Profile`.
    """

    distance: np.ndarray
    inside: np.ndarray
    threshold: float
    low: float
    high: float
    closed_low: bool
    closed_high: bool
    disjoint: bool
    minimum: float


@dataclass(frozen=True)
class Profile(ProfileSummary):
    """A parameter's profile of the efficient SMM criterion, and its confidence interval.

    Attributes:
        parameter: The parameter's dotted path.
        table: One row per grid value: ``value``, ``criterion`` (the least
            ``C = g' Ω̂⁻¹ g`` with the parameter held there, the others free), ``distance``
            (``criterion`` less the least over the whole grid: the distance-metric statistic
            D), ``inside`` (D at most the threshold), ``evaluations`` (parameter vectors
            simulated for that value), then the other parameters' values at the minimum.
        level: The confidence level. threshold: The χ²(1) quantile D is held to.
        low, high: The interval: the grid values inside, widened by linear interpolation of D
            to the threshold between the outermost value inside and its neighbour outside; a
            bound of the search range when the values inside reach it (see ``closed_low`` and
            ``closed_high``). NaN when no value is inside (not expected: the minimum is).
        closed_low, closed_high: Whether the interval reaches that bound of the parameter's
            range: the data do not exclude the bound, and the interval is cut there.
        disjoint: Whether a grid value between ``low`` and ``high`` is outside: the set is
            not an interval, and ``[low, high]`` covers it.
        minimum: The least criterion over the grid (the efficient criterion's minimum, to the
            grid's resolution). estimate: The estimate the profile started from.
        used: The targets the criterion uses (those defined at the estimate).
    """

    parameter: str
    table: pd.DataFrame
    level: float
    estimate: float
    used: list[str]

    def interval(self) -> tuple[float, float]:
        """``(low, high)``."""
        return self.low, self.high


def profile(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    parameters: Sequence[Parameter],
    estimate: Sequence[float] | np.ndarray,
    path: str,
    *,
    replicates: int = 10,
    root_seed: int = 0,
    points: int = 9,
    level: float = 0.95,
    se_replicates: int | None = None,
    maxiter: int = 80,
    refine: int = 3,
    executor: Executor | None = None,
    cache: MutableMapping[tuple[float, ...], np.ndarray] | None = None,
    progress: Any = None,
    centre: Literal["local", "global"] = "local",
    global_maxiter: int = 30,
    popsize: int = 6,
    optimizer_seed: int = 0,
) -> Profile:
    """The profile confidence interval of one parameter of an SMM fit (distance metric).

    A Wald interval (:meth:`SMMResult.confidence_intervals`) is ``θ̂ ± z·se`` from the
    criterion's curvature at the estimate: near a bound of the search range, or where the
    moments respond to a parameter unevenly, it can reach past the bound or misstate the
    range the data allow. The profile interval asks the data directly: it holds the parameter
    at each value of a grid over its range, minimises the efficient criterion

        C(θ) = g(θ)' Ω̂⁻¹ g(θ),    g(θ) = m̄_R(θ) − m_obs,

    over the other parameters (Nelder–Mead within their bounds, from the minimum found at its
    neighbour towards the centre and from the best point found; the centre is a search over
    all parameters from the estimate, which minimises the fit's criterion rather than this
    one, or a global one: ``centre``), and keeps the values whose
    distance ``D = C_min(value) − min C`` is at most the χ²(1) quantile at ``level``: the
    distance-metric test of Newey and West (1987), asymptotically χ²(1) under the value with
    the efficient weighting. Ω̂ is the moments' covariance at ``estimate``, as in :func:`smm`
    (the targets' errors plus the simulated covariance of the mean of R runs, estimated on
    ``se_replicates`` runs); targets undefined there are left out, as in the fit. The runs
    use the fit's common replicate seeds (``replicates`` and ``root_seed`` as given to
    :func:`smm`), so ``C`` is the fit's deterministic function of θ.

    The interval is read from a grid: ``points`` values spread evenly over the range, plus
    the estimate, then each end inside the range refined by ``refine`` halvings of the gap
    that holds it; the ends are interpolated linearly in D within the last gap. The
    minimisation is local: where it stops short of the least criterion at a value, D there
    is too large and the interval too narrow (and where it stops short at the minimum, D is
    too small everywhere); two starts per value are a guard, not a guarantee.

    Args:
        scenario: As given to :func:`smm`.
        targets: As given to :func:`smm`.
        parameters: As given to :func:`smm`, with their bounds.
        estimate: The fit's estimate (:attr:`SMMResult.estimate`), in the order of
            ``parameters``.
        path: The parameter to profile (one of ``parameters``).
        replicates: R, as given to :func:`smm` (the fit's common seeds).
        root_seed: As given to :func:`smm`.
        se_replicates: As given to :func:`smm` (runs for Ω̂ at the estimate).
        points: Grid values spread evenly over the parameter's range (the estimate is added).
        level: Confidence level.
        maxiter: At most this many Nelder–Mead iterations per search (two searches per
            grid value: from its neighbour's minimum and from the best point found).
        refine: Halvings of the gap at each end inside the range (extra grid values).
        executor: As for :func:`smm`.
        cache: As for :func:`smm` (a cache of the fit's runs makes them free).
        progress: Called with ``(done, most)`` after each grid value searched, if given
            (``most``: the grid values plus the refinements, at most).
        centre: How the efficient criterion's least value (the profile's centre, from which
            D is measured) is searched for: ``"local"``, Nelder–Mead from the estimate;
            ``"global"``, also differential evolution over every parameter's range
            (``global_maxiter`` generations of ``popsize`` × parameters candidates, seeded by
            ``optimizer_seed``, as the fit's own search) then Nelder–Mead from a simplex
            of a tenth of each range (as the local search), the lower of the two kept. A
            local centre that stops above the least value understates D (the interval too
            wide); the global one costs about as many runs as the fit.
        global_maxiter: Differential evolution's generations (``centre="global"``).
        popsize: Its candidates per parameter and generation.
        optimizer_seed: Its seed (the search is reproducible).

    Returns:
        A :class:`Profile`.

    Raises:
        ValueError: for an unknown path, fewer than 2 points, an estimate of the wrong length
            or outside the bounds, or a level outside (0, 1).
        TargetsError: for one-sided targets, or when no target is defined at the estimate.
    """
    names = [p.path for p in parameters]
    if path not in names:
        raise ValueError(f"profile: {path!r} is not one of the parameters ({', '.join(names)})")
    theta_hat = np.asarray(estimate, dtype=float)
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])
    if theta_hat.shape != (len(parameters),):
        raise ValueError(
            f"profile: estimate has {theta_hat.size} values for {len(parameters)} parameters"
        )
    if np.any(theta_hat < lows) or np.any(theta_hat > highs):
        raise ValueError("profile: the estimate lies outside the parameters' bounds")
    if points < 2:
        raise ValueError(f"profile: points must be at least 2, got {points}")
    if not 0 < level < 1:
        raise ValueError(f"profile: level must be between 0 and 1, got {level}")
    if centre not in ("local", "global"):
        raise ValueError(f"profile: centre must be 'local' or 'global', got {centre!r}")
    chosen = as_targets(targets)
    base = scenario_for(scenario, chosen)
    observed, sigma = moment_targets(chosen)
    seeds = seed_list(replicates, root_seed, minimum=2)
    wide = max(len(seeds), 50) if se_replicates is None else max(se_replicates, len(seeds))
    wide_seeds = seed_list(wide, root_seed, minimum=2) if wide > len(seeds) else seeds
    moments = _Moments(base, chosen, parameters, seeds, executor, cache)
    omega = _omega(moments, theta_hat, sigma, len(seeds), wide_seeds)
    at_estimate = moments.mean(theta_hat) - observed
    usable = np.isfinite(np.diag(omega)) & np.isfinite(at_estimate)
    used = np.flatnonzero(usable)
    if used.size == 0 or not np.all(np.isfinite(omega[np.ix_(used, used)])):
        raise TargetsError("profile: no target's moment and covariance are defined at the estimate")
    weight = np.linalg.inv(omega[np.ix_(used, used)])

    def criterion(theta: np.ndarray) -> float:
        g = moments.mean(np.clip(theta, lows, highs))[used] - observed[used]
        return float(g @ weight @ g) if np.all(np.isfinite(g)) else PENALTY

    k = names.index(path)
    # The efficient criterion's own minimum near the estimate (the estimate minimises the fit's
    # criterion, which may weigh the moments otherwise): the profile's centre and first start.
    searched = [0]

    def counted(theta: np.ndarray) -> float:
        searched[0] += 1
        return criterion(theta)

    least, start = _nelder_mead(counted, theta_hat.copy(), lows, highs, maxiter)
    if not least < criterion(theta_hat):
        start = theta_hat
    if centre == "global":
        options = {
            "maxiter": global_maxiter,
            "popsize": popsize,
            "optimizer_seed": optimizer_seed,
            "polish": False,  # (polished below)
        }
        anywhere, value = _global_search(counted, lows, highs, theta_hat.copy(), options)
        # polished as the local centre is (a simplex of a tenth of each range: the criterion
        # moves in steps, which SciPy's default simplex of 5% can stop on)
        polished, spot = _nelder_mead(counted, np.clip(anywhere, lows, highs), lows, highs, maxiter)
        if polished <= value:
            anywhere, value = spot, polished
        if value < least:  # (within the bounds: differential evolution's or the polish's)
            least, start = value, anywhere
    grid = np.union1d(np.linspace(lows[k], highs[k], points), [theta_hat[k], start[k]])
    most = len(grid) + 2 * refine  # (grid values searched, at most)

    def report(done: int, _: int) -> None:
        if progress is not None:
            progress(done, most)

    found = profile_criterion(
        criterion, start, lows, highs, k, grid, maxiter=maxiter, progress=report
    )
    values = found.values
    arguments, evaluations = found.arguments, found.evaluations.copy()
    evaluations[int(np.argmin(np.abs(grid - start[k])))] += searched[0]
    # Each end inside the range: halve the gap between the outermost value inside and its
    # neighbour outside ``refine`` times (a grid value each, searched from the inside one's
    # minimum and from the best point), so that the end's accuracy is the spacing / 2^refine.
    for _ in range(refine):
        summary = profile_interval(grid, values, level)
        where = np.flatnonzero(summary.inside)
        gaps = (
            []
            if where.size == 0
            else [(int(where[0]), int(where[0]) - 1), (int(where[-1]), int(where[-1]) + 1)]
        )
        added = False
        for inside, outside in reversed(gaps):  # (the upper end first: an insertion below
            # it would shift its positions)
            if not 0 <= outside < len(grid):
                continue  # (an end at a bound)
            middle = (grid[inside] + grid[outside]) / 2
            best = arguments[int(np.nanargmin(values))]
            value, theta, count = conditional_minimum(
                criterion, k, middle, [arguments[inside], best], lows, highs, maxiter
            )
            at = int(np.searchsorted(grid, middle))
            grid = np.insert(grid, at, middle)
            values = np.insert(values, at, value)
            arguments = np.insert(arguments, at, theta, axis=0)
            evaluations = np.insert(evaluations, at, count)
            added = True
            report(len(grid), most)
        if not added:
            break
    table = pd.DataFrame({"value": grid, "criterion": values})
    table["evaluations"] = evaluations
    for index, name in enumerate(names):
        if index != k:
            table[name] = arguments[:, index]
    summary = profile_interval(grid, values, level)
    table.insert(2, "distance", summary.distance)
    table.insert(3, "inside", summary.inside)
    return Profile(
        **{f.name: getattr(summary, f.name) for f in fields(ProfileSummary)},
        parameter=path,
        table=table,
        level=level,
        estimate=float(theta_hat[k]),
        used=[chosen.targets[i].name for i in used],
    )


@dataclass(frozen=True)
class ProfilePath:
    """The minima along a profile: per grid value, the least criterion and where it is."""

    values: np.ndarray
    arguments: np.ndarray
    evaluations: np.ndarray


def _nelder_mead(
    function: Any, x0: np.ndarray, lows: np.ndarray, highs: np.ndarray, maxiter: int
) -> tuple[float, np.ndarray]:
    """Nelder–Mead within the bounds from a simplex spanning a tenth of each range: (f, x).

    (A default simplex of 5% of each coordinate would be a point at 0, and the simulated
    criterion moves in steps.)
    """
    span = 0.1 * (highs - lows)
    simplex = [x0.copy()]
    for j in range(len(x0)):
        vertex = x0.copy()
        up = vertex[j] + span[j]
        vertex[j] = up if up <= highs[j] else vertex[j] - span[j]
        simplex.append(vertex)
    tolerances = {"xatol": 1e-4 * float(np.min(highs - lows)), "fatol": 1e-8}
    settings = {"initial_simplex": np.array(simplex), "maxiter": maxiter, **tolerances}
    within = optimize.Bounds(lows, highs)
    local = optimize.minimize(function, x0, method="Nelder-Mead", bounds=within, options=settings)
    x = np.clip(np.asarray(local.x, dtype=float), lows, highs)
    return min(float(local.fun), float(function(x))), x


def conditional_minimum(
    criterion: Any,
    k: int,
    value: float,
    starts: Sequence[np.ndarray],
    lows: np.ndarray,
    highs: np.ndarray,
    maxiter: int = 80,
) -> tuple[float, np.ndarray, int]:
    """The least ``criterion`` with coordinate ``k`` held at ``value``: (C, θ, evaluations).

    A Nelder–Mead search over the other coordinates within their bounds from each of
    ``starts`` (coordinate ``k`` replaced by ``value``; the same start twice is searched
    once), each from a simplex spanning a tenth of each range; the best.
    """
    others = [i for i in range(len(lows)) if i != k]
    count = 0
    best_value, best_theta = math.inf, np.asarray(starts[0], dtype=float).copy()
    tried: list[np.ndarray] = []
    for start in starts:
        theta = np.clip(np.asarray(start, dtype=float), lows, highs)
        theta[k] = value
        if any(np.array_equal(theta, seen) for seen in tried):
            continue
        tried.append(theta.copy())

        def at(free: np.ndarray, theta: np.ndarray = theta) -> float:
            nonlocal count
            point = theta.copy()
            point[others] = free
            count += 1
            return float(criterion(point))

        if not others:
            found = at(np.zeros(0))
        else:
            found, theta[others] = _nelder_mead(
                at, theta[others], lows[others], highs[others], maxiter
            )
        if found < best_value:
            best_value, best_theta = found, theta
    return best_value, best_theta, count


def profile_criterion(
    criterion: Any,
    start: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    k: int,
    grid: np.ndarray,
    *,
    maxiter: int = 80,
    progress: Any = None,
) -> ProfilePath:
    """Minimise ``criterion`` over every coordinate but ``k``, at each value of ``grid``.

    The values are visited outwards from the grid value nearest ``start[k]``; each is
    searched (:func:`conditional_minimum`) from its neighbour's minimum towards ``start``
    (the path of minima a profile follows) and from the best point found so far, so that a
    search stuck on one of the criterion's steps does not carry on along the path.
    """
    grid = np.asarray(grid, dtype=float)
    values = np.full(len(grid), np.nan)
    arguments = np.tile(np.asarray(start, dtype=float), (len(grid), 1))
    evaluations = np.zeros(len(grid), dtype=np.int64)
    centre = int(np.argmin(np.abs(grid - start[k])))
    order = [centre, *range(centre + 1, len(grid)), *range(centre - 1, -1, -1)]
    best = np.asarray(start, dtype=float)
    for done, position in enumerate(order, start=1):
        neighbour = position - 1 if position > centre else position + 1
        origin = arguments[neighbour] if position != centre else np.asarray(start, dtype=float)
        found, theta, count = conditional_minimum(
            criterion, k, float(grid[position]), [origin, best], lows, highs, maxiter
        )
        values[position], arguments[position], evaluations[position] = found, theta, count
        if found <= np.nanmin(values):
            best = theta
        if progress is not None:
            progress(done, len(grid))
    return ProfilePath(values, arguments, evaluations)


def profile_interval(grid: np.ndarray, values: np.ndarray, level: float) -> ProfileSummary:
    """The distance-metric interval from a profile: D = C − min C at most χ²(1) at ``level``.

    ``grid`` ascending; its first and last values are the parameter's bounds. Ends inside the
    grid are interpolated linearly in D between the outermost value inside and the next.
    """
    grid, values = np.asarray(grid, dtype=float), np.asarray(values, dtype=float)
    minimum = float(np.nanmin(values))
    distance = values - minimum
    threshold = float(scipy_stats.chi2.ppf(level, 1))
    inside = distance <= threshold
    where = np.flatnonzero(inside)
    if where.size == 0:  # (not expected: the minimum is inside)
        return ProfileSummary(
            distance, inside, threshold, math.nan, math.nan, False, False, False, minimum
        )
    first, last = int(where[0]), int(where[-1])

    def crossing(a: int, b: int) -> float:
        share = (threshold - distance[a]) / (distance[b] - distance[a])
        return float(grid[a] + share * (grid[b] - grid[a]))

    low = float(grid[0]) if first == 0 else crossing(first, first - 1)
    high = float(grid[-1]) if last == len(grid) - 1 else crossing(last, last + 1)
    return ProfileSummary(
        distance=distance,
        inside=inside,
        threshold=threshold,
        low=low,
        high=high,
        closed_low=first == 0,
        closed_high=last == len(grid) - 1,
        disjoint=bool(where.size != last - first + 1),
        minimum=minimum,
    )


__all__ = [
    "PENALTY",
    "WEIGHTINGS",
    "Parameter",
    "Profile",
    "SMMResult",
    "held_at_bounds",
    "j_test",
    "moment_targets",
    "profile",
    "profile_criterion",
    "profile_interval",
    "run_moments",
    "smm",
]
