"""Approximate Bayesian computation (ABC-SMC, with pyabc) of scenario parameters.

:func:`abc_smc` draws parameter vectors from their priors (:mod:`talentsim.priors`), runs the
scenario with them (``replicates`` runs, seeds derived from the parameter values), computes
the targets' statistics (:mod:`talentsim.targets`) and keeps the vectors whose statistics
lie close to the targets; sequential Monte Carlo (Toni et al. 2009; Beaumont et al. 2009)
tightens the tolerance ε generation by generation, proposing from the last population. The
weighted population of the last generation approximates the posterior.

**How targets enter the distance.** Every target becomes one residual, observed as 0:

- an estimate (``observed``, ``se``): ``(s − observed) / se + z``, where ``z`` is a standard
  normal draw (seeded from the particle) when ``observation_noise`` is on (the default): the
  observed value is the simulated statistic measured with error ``se``, so as ε → 0 the ABC
  posterior tends to the posterior under that error model (Wilkinson 2013), not to the
  posterior of an exact match;
- a band ``[low, high]``: the distance outside the band in units of ``(high − low) / 3.92``
  (the scale the method of simulated moments gives a band), 0 inside: the band is read as a
  statement that the value lies in it (a uniform error over the band), not as a midpoint;
- a one-sided bound (``at_least`` / ``at_most``): the shortfall past the bound, 0 on the
  right side, in units of ``|bound|`` (1 for a bound at 0).

``s`` is the mean over the replicate runs where the statistic is defined (as the SMM
moments, :func:`talentsim.smm.conditional_means`); a residual whose statistic is undefined in
every replicate (nobody left), or infinite in one (a flow ratio without reverse flow; until 5
December 2026 such runs were left out of the mean), is :data:`UNDEFINED`, far outside any
tolerance, so the particle is rejected (a parameter vector where the scenario refuses the
values is rejected the same way: the prior is in effect truncated to valid scenarios).

The distance is the Euclidean norm of the residuals, each weighted by the inverse of its
spread over the last generation's particles, all those simulated, accepted or not
(``pyabc.AdaptivePNormDistance`` with :func:`defined_spread` as scale: the standard deviation
over the particles where the residual is defined, not :data:`UNDEFINED`; a band's residual is
0 for most particles, so a median absolute deviation would be 0 and drop the band; a residual
with no spread gets weight 0, unless it is undefined on some particles: then its own units,
so that those are still rejected). Until 5 December 2026 the scale was pyabc's standard
deviation over all particles, undefined ones included, which in effect dropped from the fit
any target undefined on a few particles (see :func:`defined_spread`).
``distance="fixed"`` keeps the residuals' own units (then, without observation noise, the
distance's square is the method of simulated moments' objective with diagonal weights for
estimates; not for bands, which SMM reads as a midpoint with an error and ABC as a range:
0.70 in [0.64, 0.80] is 0 here and −0.49 there). The population size adapts
to the variation of the proposal (``pyabc.AdaptivePopulationSize``) when
``adaptive_population`` is on.

**Seeds and reproducibility.** A particle's runs are seeded from ``seed`` and its parameter
values (a hash of their bytes), and its observation noise from the same: the statistics of a
given parameter vector are the same on every worker and in every run. Which parameter
vectors pyabc proposes is reproducible from ``seed`` on local cores: on one core
(``workers=1``) with pyabc's single-core sampler (NumPy's global generator seeded from
``seed``); on several (``workers`` ≥ 2) with a mapping sampler whose tasks each draw from a
seed of their own (:class:`talentsim._pyabc_sampler.SeededMappingSampler`: the same particles
for any number of workers ≥ 2 and on a Dask cluster, though not the same as on one core).

**The database.** pyabc writes every generation to an SQLite file (``db``): parameters,
weights, distances and the statistics as NumPy arrays saved without pickling
(``numpy.save(allow_pickle=False)``), the settings as JSON. A run killed between or during
generations resumes from it (``resume=True``) with the generations already done; the file is
our own output, read back only by pyabc, and nothing of talentsim is unpickled from it.

References:
    Toni, T., Welch, D., Strelkowa, N., Ipsen, A. and Stumpf, M. P. H. (2009). Approximate
    Bayesian computation scheme for parameter inference and model selection in dynamical
    systems. J. R. Soc. Interface 6, 187–202.
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983–990.
    Prangle, D. (2017). Adapting the ABC distance function. Bayesian Analysis 12(1), 289–309.
    Wilkinson, R. D. (2013). Approximate Bayesian computation (ABC) gives exact results under
    the assumption of model error. Stat. Appl. Genet. Mol. Biol. 12(2), 129–141.
    Klinger, E., Rickert, D. and Hasenauer, J. (2018). pyABC: distributed, likelihood-free
    inference. Bioinformatics 34(20), 3591–3593.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talentsim.hashing import fingerprint
from talentsim.priors import prior_of
from talentsim.results import run
from talentsim.run_statistics import RunArrays, StatisticError
from talentsim.scenario import Scenario, ScenarioError
from talentsim.seeds import spawn_seeds
from talentsim.smm import Parameter, conditional_means
from talentsim.targets import Target, Targets, TargetsError, as_targets, scenario_for

UNDEFINED = 1e6
"""The residual of a statistic undefined on every replicate (or of a refused parameter
vector): far beyond any tolerance, so the particle is rejected."""


class CalibrationDependencyError(ImportError):
    """pyabc (or dask.distributed) is missing; the message says what to install."""


def _pyabc() -> Any:
    try:
        import pyabc
    except ImportError:
        raise CalibrationDependencyError(
            "approximate Bayesian computation needs pyabc: pip install 'talentsim[calibrate]'"
        ) from None
    return pyabc


@dataclass(frozen=True)
class ABCResult:
    """What :func:`abc_smc` found.

    Attributes:
        posterior: The last generation: one row per particle, one column per parameter
            (its dotted path) and ``weight`` (normalised to sum to 1).
        parameters: Parameter names (their dotted paths), in order.
        targets: The targets fitted.
        history: The pyabc SQLite database, a path (:meth:`load_history` reads every
            generation from it). run_id: The run's id in it.
        generations: One row per generation ``t``: ``epsilon``, ``particles`` (accepted),
            ``simulations`` (parameter vectors simulated, each ``replicates`` runs),
            ``acceptance`` (particles / simulations).
        n_simulations: Parameter vectors simulated over all generations.
        replicates: Runs per parameter vector. seed: The root seed.
        method: ``"abc"``.
    """

    posterior: pd.DataFrame
    parameters: list[str]
    targets: Targets
    history: Path
    run_id: int
    generations: pd.DataFrame
    n_simulations: int
    replicates: int
    seed: int
    method: str = field(default="abc")

    def load_history(self) -> Any:
        """The run's ``pyabc.History`` (every generation, read from :attr:`history`)."""
        return _pyabc().History(f"sqlite:///{Path(self.history).resolve()}", _id=self.run_id)

    def weighted_mean(self) -> pd.Series:
        """The posterior mean of each parameter."""
        weights = self.posterior["weight"].to_numpy()
        return pd.Series(
            {p: float(np.sum(weights * self.posterior[p].to_numpy())) for p in self.parameters}
        )

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """``n`` draws from the posterior (resampled by weight, with replacement)."""
        rng = np.random.default_rng(seed)
        weights = self.posterior["weight"].to_numpy(dtype=float)
        rows = rng.choice(len(self.posterior), size=n, p=weights / weights.sum())
        return self.posterior[self.parameters].iloc[rows].reset_index(drop=True)


# ---- the model ---------------------------------------------------------------------------------


def residual(target: Target, value: float, noise: float = 0.0) -> float:
    """A target's residual at simulated value ``value`` (see the module docstring)."""
    if not math.isfinite(value):
        return UNDEFINED
    if target.observed is not None and target.se is not None:
        return (value - target.observed) / target.se + noise
    if target.band is not None:
        low, high = target.band
        scale = (high - low) / (2 * 1.96) if high > low else max(abs(high), 1.0)
        outside = value - high if value > high else value - low if value < low else 0.0
        return outside / scale
    bound = target.at_least if target.at_least is not None else target.at_most
    assert bound is not None
    scale = abs(bound) if bound != 0 else 1.0
    gap = min(0.0, value - bound) if target.at_least is not None else max(0.0, value - bound)
    return gap / scale


def defined_spread(*, samples: np.ndarray, **_: Any) -> np.ndarray:
    """Each residual's standard deviation over the particles where it is defined.

    The scale of the adaptive distance (``pyabc.AdaptivePNormDistance``'s ``scale_function``).
    A residual at :data:`UNDEFINED` (its statistic undefined, or the scenario refusing the
    values) is left out: pyabc's own standard deviation took it in, so a few undefined
    particles inflated that target's scale a millionfold and its weight fell to nothing for
    every particle where it was defined (the target was in effect dropped from the fit), and
    an undefined particle's weighted residual was small, not far outside the tolerance. A
    residual defined nowhere, or with no spread and defined everywhere, has scale 0 (weight
    0). One with no spread where it is defined (a band every defined particle meets) but
    undefined somewhere has scale 1, its own units: with weight 0 an undefined particle's
    :data:`UNDEFINED` counted for nothing and the particle passed (until 5 December 2026).
    """
    shape = np.shape(samples)  # (particles, residuals), or (particles,) for one residual
    values = np.array(samples, dtype=float).reshape(shape[0], -1)
    values[~(np.abs(values) < UNDEFINED / 2)] = np.nan
    defined = np.isfinite(values).any(axis=0)
    spread = np.zeros(values.shape[1])
    if defined.any():
        spread[defined] = np.nanstd(values[:, defined], axis=0)
    # (pyabc gives a scale close to 0 weight 0: np.isclose's tolerance, as pyabc's)
    flat = defined & np.isclose(spread, 0) & np.isnan(values).any(axis=0)
    spread[flat] = 1.0
    return spread.reshape(shape[1:])


def particle_seed(values: Sequence[float], seed: int) -> int:
    """A seed derived from a parameter vector and the root seed (the same on every worker)."""
    data = struct.pack(f"<q{len(values)}d", seed, *(float(v) for v in values))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


class TargetModel:
    """Parameter values → the targets' residuals: the model pyabc simulates.

    Picklable (for Dask workers): a scenario, targets and plain settings.
    """

    def __init__(
        self,
        scenario: Scenario,
        targets: Targets,
        paths: Sequence[str],
        keys: Sequence[str],
        *,
        replicates: int,
        seed: int,
        observation_noise: bool,
    ) -> None:
        self.scenario, self.targets = scenario, targets
        self.paths, self.keys = list(paths), list(keys)
        self.replicates, self.seed, self.observation_noise = replicates, seed, observation_noise

    def statistics(self, values: Sequence[float]) -> np.ndarray:
        """Mean of each target's statistic over the replicates that define it.

        NaN where none does; infinite where one gives an infinite value
        (:func:`talentsim.smm.conditional_means`).

        Raises:
            ScenarioError: if the scenario refuses the values.
        """
        overrides = dict(zip(self.paths, (float(v) for v in values), strict=True))
        scenario = self.scenario.with_overrides(overrides, source="abc parameters")
        seeds = spawn_seeds(particle_seed(values, self.seed), self.replicates)
        out = np.full((len(seeds), len(self.targets.targets)), np.nan)
        for r, seed in enumerate(seeds):
            result = run(scenario, seed=seed)
            arrays = RunArrays.of(result)
            for k, target in enumerate(self.targets.targets):
                try:
                    out[r, k] = target.compute(result, arrays)
                except StatisticError as exc:
                    raise TargetsError(f"target {target.name}: {exc}") from None
        # as the SMM moments: the mean over the runs that define each statistic; infinite if
        # a run gives an infinite value (a flow ratio without reverse flow), which
        # :func:`residual` makes UNDEFINED, never a mean over the finite runs alone
        return conditional_means(out)

    def residuals(self, values: Sequence[float]) -> np.ndarray:
        """The targets' residuals at a parameter vector (:data:`UNDEFINED` where refused)."""
        try:
            stats = self.statistics(values)
        except ScenarioError as exc:
            if isinstance(exc, TargetsError):
                raise
            return np.full(len(self.targets.targets), UNDEFINED)
        noise = np.zeros(len(stats))
        if self.observation_noise:
            rng = np.random.default_rng([particle_seed(values, self.seed), 1])
            noise = rng.standard_normal(len(stats))
        return np.array(
            [
                residual(t, float(s), float(z))
                for t, s, z in zip(self.targets.targets, stats, noise, strict=True)
            ]
        )

    def __call__(self, parameter: Mapping[str, float]) -> dict[str, float]:
        """The residuals by target name, for pyabc's parameter dict."""
        values = [float(parameter[key]) for key in self.keys]
        found = self.residuals(values)
        return {t.name: float(r) for t, r in zip(self.targets.targets, found, strict=True)}


def _prior(pyabc: Any, parameters: Sequence[Parameter], keys: Sequence[str]) -> Any:
    class FrozenRV(pyabc.RVBase):
        def __init__(self, frozen: Any) -> None:
            self.frozen = frozen

        def copy(self) -> FrozenRV:
            return FrozenRV(self.frozen)

        def rvs(self, *args: Any, **kwargs: Any) -> float:
            # From NumPy's global generator, which the samplers seed per worker: the frozen
            # distribution's own generator would be pickled along with it to every Dask task,
            # which would then all draw the same values.
            uniform = np.random.uniform(size=kwargs.get("size"))  # noqa: NPY002
            return self.frozen.ppf(uniform)

        def pmf(self, x: float, *args: Any, **kwargs: Any) -> float:
            return 0.0

        def pdf(self, x: float, *args: Any, **kwargs: Any) -> float:
            return self.frozen.pdf(x, *args, **kwargs)

        def cdf(self, x: float, *args: Any, **kwargs: Any) -> float:
            return self.frozen.cdf(x, *args, **kwargs)

    return pyabc.Distribution(
        **{key: FrozenRV(prior_of(p)) for key, p in zip(keys, parameters, strict=True)}
    )


def _keys(parameters: Sequence[Parameter]) -> list[str]:
    """Names for pyabc (letters, digits, ``_``; unique), in the parameters' order."""
    keys = []
    for index, p in enumerate(parameters):
        keys.append(f"p{index}_" + re.sub(r"\W", "_", p.path))
    return keys


def _description(
    parameters: Sequence[Parameter],
    targets: Targets,
    replicates: int,
    seed: int,
    noise: bool,
    scenario: Scenario,
    distance: str,
) -> dict[str, Any]:
    """What a run is of (stored in the database as JSON, compared on resume).

    The targets with their figures (:meth:`Targets.identity`, as a fit's checkpoint records
    them), and a digest of the scenario (its resolved values), so that a resume with a changed
    target or scenario is refused rather than mixing two posteriors' generations.
    """
    return {
        "talentsim": "abc_smc",
        "parameters": [
            [
                p.path,
                repr(prior_of(p).dist.name),
                repr(prior_of(p).args),
                repr(sorted(prior_of(p).kwds.items())),
            ]
            for p in parameters
        ],
        "targets": targets.identity(),
        "scenario": fingerprint(scenario.to_dict()),
        # (the adaptive scale's rule: a database of the earlier rule, over every particle, is
        # not resumed with this one)
        "distance": f"{distance} (spread over defined residuals)"
        if distance == "adaptive"
        else distance,
        "replicates": replicates,
        "seed": seed,
        "observation_noise": noise,
    }


# ---- the estimator -----------------------------------------------------------------------------


def abc_smc(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    parameters: Sequence[Parameter],
    *,
    population_size: int = 200,
    max_simulations: int | None = 10_000,
    max_generations: int | None = None,
    min_epsilon: float = 0.0,
    replicates: int = 1,
    seed: int = 0,
    db: str | os.PathLike[str] = "abc.db",
    resume: bool = False,
    dask: Any = None,
    workers: int | None = None,
    distance: str = "adaptive",
    adaptive_population: bool = False,
    observation_noise: bool = True,
    progress: bool = True,
) -> ABCResult:
    """Approximate the posterior of ``parameters`` given ``targets`` by ABC-SMC (pyabc).

    See the module docstring for the distance, the seeds and the database.

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        targets: Targets of any form (estimates, bands, one-sided bounds).
        parameters: What to infer; a parameter's ``prior`` (a frozen scipy.stats
            distribution), else the uniform prior over its bounds. Values reach the scenario
            as plain numbers (a rate per year, a duration in years).
        population_size: Particles per generation (the start, with ``adaptive_population``).
        max_simulations: Stop after the generation in which this many parameter vectors have
            been simulated in all (a generation always completes); None for no limit.
        max_generations: Stop after this many generations in all (counting those of a
            resumed run); None for no limit.
        min_epsilon: Stop once the tolerance ε falls to this.
        replicates: Runs per parameter vector (their statistics are averaged).
        seed: Root of the particles' seeds (and of NumPy's global generator, which pyabc
            draws from).
        db: The SQLite file pyabc writes (refused if it exists, unless ``resume``).
        resume: Continue the last run stored in ``db`` (the same scenario, parameters,
            priors, targets with their figures, distance, replicates and seed, checked)
            instead of starting one.
        dask: A Dask scheduler address (or a ``distributed.Client``): simulate on that
            cluster (the seeded mapping sampler over the client's executor: reproducible, the
            same particles as on local workers) instead of local cores.
        workers: Local processes (talentsim's shared pool of spawned workers, one seeded
            task per particle: reproducible from ``seed`` whatever their number); default all
            cores; 1 runs in this process (pyabc's single-core sampler: reproducible from
            ``seed``, with other draws than on several workers).
        distance: ``"adaptive"`` (weights from the spread of each residual) or ``"fixed"``.
        adaptive_population: Adapt the population size between generations
            (``pyabc.AdaptivePopulationSize``, from ``population_size``).
        observation_noise: Add the targets' errors to the simulated estimates (see above).
        progress: Report each generation on stderr (pyabc's log).

    Returns:
        An :class:`ABCResult`.

    Raises:
        CalibrationDependencyError: if pyabc (or, with ``dask``, dask.distributed) is missing.
        TargetsError: if the targets do not fit the scenario.
        ScenarioError: if a parameter's path does not exist.
        FileExistsError: if ``db`` exists and ``resume`` is false; FileNotFoundError if it
            does not exist and ``resume`` is true.
        ValueError: for invalid settings or a resumed run of other settings.
        SweepError: if a worker of the shared pool died (the generations finished are
            kept in ``db``: resume them).
    """
    pyabc = _pyabc()
    chosen = as_targets(targets)
    parameters = list(parameters)
    if not parameters:
        raise ValueError("abc_smc: give at least one Parameter to infer")
    paths = [p.path for p in parameters]
    if len(set(paths)) != len(paths):
        raise ValueError(f"abc_smc: a parameter is given twice: {paths}")
    if population_size < 2 or replicates < 1:
        raise ValueError("abc_smc: population_size must be at least 2 and replicates at least 1")
    if distance not in ("adaptive", "fixed"):
        raise ValueError(f"abc_smc: distance must be 'adaptive' or 'fixed', got {distance!r}")
    base = scenario_for(scenario, chosen)
    keys = _keys(parameters)
    model = TargetModel(
        base,
        chosen,
        paths,
        keys,
        replicates=replicates,
        seed=seed,
        observation_noise=observation_noise,
    )
    # Fail early, naming the path, if the scenario refuses a parameter (at the prior's
    # median); this run also compiles the step before any worker starts.
    model.statistics([float(prior_of(p).median()) for p in parameters])

    db_path = Path(db)
    if resume and not db_path.exists():
        raise FileNotFoundError(f"{db_path}: no ABC database to resume")
    if not resume and db_path.exists():
        raise FileExistsError(
            f"{db_path}: exists; resume it (resume=True, --resume) or choose another file"
        )
    description = _description(
        parameters, chosen, replicates, seed, observation_noise, base, distance
    )
    meta_info = {"talentsim": json.dumps(description, sort_keys=True, default=str)}

    np.random.seed(seed % 2**32)  # noqa: NPY002  (pyabc draws from NumPy's global generator)
    if distance == "adaptive":
        metric = pyabc.AdaptivePNormDistance(p=2, scale_function=defined_spread)
    else:
        metric = pyabc.PNormDistance(p=2)
    size: Any = (
        pyabc.AdaptivePopulationSize(population_size, max_population_size=4 * population_size)
        if adaptive_population
        else population_size
    )
    logger = logging.getLogger("ABC")
    old_level = logger.level
    logger.setLevel(logging.INFO if progress else logging.WARNING)
    client, own_client = None, False
    pooled = 0  # (the workers of the shared pool the particles run on; 0: not on it)
    url = f"sqlite:///{db_path.resolve()}"
    try:
        if dask is None and workers == 1:
            sampler = pyabc.sampler.SingleCoreSampler()
        else:
            from talentsim._pyabc_sampler import SeededMappingSampler
            from talentsim.experiments import pool_watch, shared_pool

            watch = None
            if dask is not None:
                client, own_client = _dask_client(dask)
                executor: Any = client.get_executor(pure=False)
            else:
                pooled = workers or os.cpu_count() or 1
                executor = shared_pool(pooled)
                watch = pool_watch(pooled)
            # one seeded task per particle, collected in order: reproducible wherever it runs
            sampler = SeededMappingSampler(executor, seed, check=watch)
        abc = pyabc.ABCSMC(
            model,
            _prior(pyabc, parameters, keys),
            metric,
            population_size=size,
            sampler=sampler,
        )
        if resume:
            try:
                history = pyabc.History(url)
                runs = history.all_runs()
            except Exception as exc:  # (SQLAlchemy's and pyabc's errors: not our database)
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise ScenarioError(
                    f"{db_path}: not an ABC database talentsim can resume "
                    f"({type(exc).__name__}: {first[:200]}); leave out --resume and choose "
                    "another --out to start a new fit"
                ) from None
            if not runs:
                raise ScenarioError(f"{db_path}: holds no ABC run to resume")
            run_id = max(r.id for r in runs)
            stored = _stored_description(db_path, run_id)
            if stored != str(meta_info):
                raise ScenarioError(
                    f"{db_path}: run {run_id} was made with other settings; resume it with "
                    f"the same scenario, parameters, priors, targets (and their figures), "
                    f"distance, replicates and seed\n"
                    f"  stored: {stored}\n  given:  {meta_info}"
                )
            history = abc.load(url, run_id)
        else:
            history = abc.new(url, {t.name: 0.0 for t in chosen.targets}, meta_info=meta_info)
            run_id = history.id
        done = history.n_populations if resume else 0
        remaining = math.inf if max_generations is None else max_generations - done
        if remaining > 0:
            abc.run(
                minimum_epsilon=min_epsilon,
                max_nr_populations=remaining,
                max_total_nr_simulations=(math.inf if max_simulations is None else max_simulations),
            )
    except BaseException as exc:
        if pooled:
            from talentsim.experiments import release_pool

            kept = f"the generations it finished are kept in {db_path}"
            release_pool(exc, pooled, kept=f"{kept}: rerun with resume=True (--resume)")
        raise
    finally:
        logger.setLevel(old_level)
        if own_client and client is not None:
            client.close()
    return _result(pyabc, url, run_id, parameters, keys, chosen, replicates, seed, db_path)


def _stored_description(db: Path, run_id: int) -> str | None:
    """The settings a run in the database was made with, as pyabc stored them.

    A string, compared as is: nothing read from the file is parsed or evaluated.
    """
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as connection:
        row = connection.execute(
            "SELECT json_parameters FROM abc_smc WHERE id = ?", (run_id,)
        ).fetchone()
    return None if row is None else str(row[0])


def _dask_client(dask: Any) -> tuple[Any, bool]:
    if not isinstance(dask, str):
        return dask, False
    from talentsim.experiments import connect_dask

    try:
        return connect_dask(dask, "dask"), True
    except ImportError:
        raise CalibrationDependencyError(
            "dask: needs dask.distributed: pip install 'talentsim[dask]'"
        ) from None


def _result(
    pyabc: Any,
    url: str,
    run_id: int,
    parameters: Sequence[Parameter],
    keys: Sequence[str],
    targets: Targets,
    replicates: int,
    seed: int,
    db_path: Path,
) -> ABCResult:
    history = pyabc.History(url, _id=run_id)
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    posterior = pd.DataFrame(
        {p.path: frame[k].to_numpy() for p, k in zip(parameters, keys, strict=True)}
    )
    posterior["weight"] = np.asarray(weights, dtype=float) / float(np.sum(weights))
    populations = history.get_all_populations()
    populations = populations[populations["t"] >= 0]
    generations = pd.DataFrame(
        {
            "t": populations["t"].to_numpy(dtype=int),
            "epsilon": populations["epsilon"].to_numpy(dtype=float),
            "particles": populations["particles"].to_numpy(dtype=int),
            "simulations": populations["samples"].to_numpy(dtype=int),
        }
    )
    generations["acceptance"] = generations["particles"] / generations["simulations"]
    return ABCResult(
        posterior=posterior,
        parameters=[p.path for p in parameters],
        targets=targets,
        history=db_path,
        run_id=run_id,
        generations=generations.reset_index(drop=True),
        n_simulations=int(generations["simulations"].sum()),
        replicates=replicates,
        seed=seed,
    )


__all__ = [
    "UNDEFINED",
    "ABCResult",
    "CalibrationDependencyError",
    "TargetModel",
    "abc_smc",
    "particle_seed",
    "residual",
]
