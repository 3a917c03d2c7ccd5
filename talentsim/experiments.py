"""Parameter sweeps with replicates: local process pool, Dask, shards, and a resumable store.

``sweep(scenario, params, replicates=20)`` runs every point of a design (see
:mod:`talentsim.designs`) ``replicates`` times and returns a tidy table, one row per run.

- **Seeds.** One root ``SeedSequence(root_seed)`` spawns one seed per replicate; replicate
  ``r`` uses the same seed at every point (common random numbers, so differences between points
  are paired). Each run's seed is in the table and replays it: ``ts.run(scenario, seed=...,
  overrides=...)`` or ``talentsim run --seed``.
- **Execution.** One seam, a ``concurrent.futures.Executor``: by default a process pool with an
  explicit spawn context sized to the machine, started on first use and shared by every later
  sweep and calibration with as many workers (:func:`shared_pool`); ``workers=1`` runs in this
  process; any executor
  can be given, e.g. a Dask cluster's ``Client(address).get_executor()``, and is kept busy with
  :data:`IN_FLIGHT_PER_SLOT` runs per slot of it (:func:`executor_slots`: a Dask cluster's
  threads, a pool's ``max_workers``), not per core of this machine. Results do not depend
  on the executor or the number of workers.
- **Store.** With ``store=FOLDER`` results go to a crash-safe store (:mod:`talentsim.store`) as
  they arrive; a sweep that is interrupted, even by ``kill -9``, is finished with
  ``resume=True`` and the final table has every run exactly once. Without a store, nothing is
  written and time series are not kept.
- **Shards.** ``shard=(i, n)`` (``--shard i/n``) runs every n-th run starting at the i-th,
  counting from 0 (``0/4`` to ``3/4``), a deterministic split for array jobs (SLURM, PBS)
  with no scheduler; each shard writes a store of its own, and
  :func:`talentsim.store.merge_stores` (``talentsim store merge``) combines them.
- **Failures.** A run that raises is recorded as failed with its error and the sweep goes on.
- **Scripts.** The pool's workers are started with ``spawn``, so each imports the script
  that started the sweep: a script's code must sit under ``if __name__ == "__main__":``
  (Python's rule for process pools). Without it, the script's sweep would start again in
  every worker; talentsim stops that there with a message saying so
  (:func:`refuse_while_a_worker_starts`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import multiprocessing
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from talentsim import terms
from talentsim._text import ascii_digits
from talentsim.designs import Design, DesignError, design_size, make_design
from talentsim.interrupts import held_interrupts, wait_first
from talentsim.progress import Progress
from talentsim.results import (
    MetricSpec,
    check_metrics,
    check_picklable,
    jsonable,
    metric_values,
    run,
    run_metadata,
)
from talentsim.scenario import Scenario, ScenarioError, as_scenario, takes_whole_numbers
from talentsim.seeds import spawn_seeds
from talentsim.store import (
    DONE,
    FAILED,
    PENDING,
    PlannedRun,
    RunOutcome,
    SweepStore,
    assemble_table,
)

RUN_COLUMNS = ("run_id", "point", "replicate", "seed", "status", "error")
"""The columns that describe a run, first in a sweep table."""

MAX_RUNS = 1_000_000
"""The most runs a sweep may plan unless ``max_runs`` says otherwise (``--max-runs``).

A sweep plans every run (id, seed, manifest row) before the first one starts, about a
kilobyte each; the limit catches a typo such as ``replicates = 10**9`` before that, with the
count computed from the design's options, not by building it."""


class SweepError(RuntimeError):
    """Work on the shared process pool could not finish (a worker died, for example).

    A sweep's finished runs are stored; an ABC fit's finished generations are kept in its
    database; the message says what is kept and how to go on.
    """


def execute_run(
    scenario: Scenario,
    run_id: str,
    overrides: dict[str, Any],
    seed: int,
    metrics: MetricSpec,
    timeseries: bool,
) -> RunOutcome:
    """Run one point of a sweep; never raises (a failure is returned as a failed outcome)."""
    started = time.perf_counter()
    try:
        result = run(scenario, seed=seed, overrides=overrides)
        return RunOutcome(
            run_id=run_id,
            status=DONE,
            summary=metric_values(result, metrics),
            timeseries=result.timeseries if timeseries else None,
            seconds=time.perf_counter() - started,
        )
    except Exception as exc:  # a failed run is data, not a crash
        text = "".join(traceback.format_exception_only(exc)).strip()
        return RunOutcome(run_id, FAILED, error=text, seconds=time.perf_counter() - started)


def plan_runs(design: Design, replicates: int, root_seed: int) -> list[PlannedRun]:
    """Every run of a sweep, in design order (point, then replicate), with its id and seed.

    The id is a hash of the point's index, its overrides and the replicate, so the same sweep
    always gives the same ids (which is what makes resuming and sharding deterministic).
    """
    seeds = spawn_seeds(root_seed, replicates)
    planned = []
    for point in range(len(design)):
        overrides = design.overrides(point)
        for replicate, seed in enumerate(seeds):
            key = json.dumps(
                {"point": point, "overrides": overrides, "replicate": replicate}, sort_keys=True
            )
            run_id = hashlib.sha256(key.encode()).hexdigest()[:16]
            planned.append(PlannedRun(run_id, point, replicate, seed))
    return planned


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Parse ``"i/n"`` (or a tuple of two integers) into ``(i, n)`` with ``0 <= i < n``.

    ``i`` and ``n`` are written in the ASCII digits 0-9 (``"²/4"`` or a full-width ``"４"``
    is refused with the usual message, not read or passed to ``int``).

    Raises:
        ValueError: ``shard: expected i/n such as 0/4, got ...`` or ``shard: need 0 <= i < n``.
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        left, sep, right = (part.strip() for part in shard.partition("/"))
        # (ASCII digits only: str.isdigit also accepts "²", which int() then refuses)
        if not sep or not ascii_digits(left) or not ascii_digits(right):
            raise ValueError(f"shard: expected i/n such as 0/4, got {shard!r}")
        index, count = int(left), int(right)
    else:
        index, count = shard
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in (index, count)):
            raise ValueError(f"shard: expected two integers (i, n) such as (0, 4), got {shard!r}")
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard: need 0 <= i < n, got {index}/{count}")
    return index, count


def sweep(
    scenario: Scenario | str | Path | Mapping[str, Any],
    params: Mapping[str, Any] | Design,
    *,
    replicates: int = 1,
    design: str = "grid",
    samples: int | None = None,
    design_seed: int = 0,
    second_order: bool = False,
    levels: int | None = None,
    root_seed: int = 0,
    metrics: MetricSpec = None,
    timeseries: bool = True,
    store: str | Path | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    executor: Executor | None = None,
    workers: int | None = None,
    shard: str | tuple[int, int] | None = None,
    progress: bool | Callable[[int], Any] = True,
    chunk_runs: int | None = None,
    max_runs: int = MAX_RUNS,
) -> pd.DataFrame:
    """Run a parameter sweep with replicates and return one row per run.

    Args:
        scenario: The base scenario (a Scenario, a TOML path or a dict).
        params: Scenario key → list of values or range (see :mod:`talentsim.designs`), or a
            ready :class:`~talentsim.designs.Design`.
        replicates: Runs per point (seeds spawned from ``root_seed``).
        design: ``grid``, ``lhs``, ``sobol``, ``halton``, ``saltelli`` or ``morris``.
        samples: Size of a sampled design (see :func:`~talentsim.designs.make_design`).
        design_seed: Seed of the design's sampler.
        second_order: A Saltelli design for second-order Sobol indices.
        levels: Grid levels of a Morris design (default 4; only Morris takes it).
        root_seed: Root of the replicate seeds.
        metrics: Summary keys to keep (default: all numeric ones) or name → function of a
            RunResult (functions must be picklable to run in other processes).
        timeseries: Keep each run's time series in the store.
        store: Folder of a crash-safe store; None keeps results in memory only.
        resume: Finish the sweep in an existing store (only missing runs are done).
        retry_failed: With ``resume``, also redo runs that failed.
        executor: A ``concurrent.futures.Executor`` (e.g. Dask's); not shut down here. The
            sweep keeps :data:`IN_FLIGHT_PER_SLOT` runs submitted per slot of it: per thread
            of a Dask cluster's workers (asked again as the cluster scales), per worker of a
            ``concurrent.futures`` pool, else per core of this machine.
        workers: Processes of the default pool (default: all cores); 1 runs in this process.
            With an executor, the most slots of it counted (default: all it has).
        shard: ``(i, n)`` or ``"i/n"``: run only every n-th run starting at the i-th, counting
            from 0 (``0 <= i < n``).
        progress: Show a progress bar (True), or a callable called with 1 after each run.
        chunk_runs: Runs per stored chunk (default: 50).
        max_runs: Refuse a sweep of more runs than this (default :data:`MAX_RUNS`); the count
            is computed before the design is built.

    Returns:
        A DataFrame with ``run_id``, ``point``, ``replicate``, ``seed``, ``status`` (``done``,
        ``failed`` or ``pending``), ``error``, one column per parameter (named by its path) and
        one per metric. ``table.attrs`` holds ``store`` (the folder or None), ``design`` and
        the SALib ``problem`` of a sensitivity design.

    Raises:
        ScenarioError: if the scenario, a point's overrides or a metric are invalid (checked
            before anything runs; :func:`check_sweep` makes the same checks).
        DesignError: for a bad parameter spec or design, an option the design would ignore,
            or more runs than ``max_runs``.
        StoreError: if the store holds another sweep, or this one without ``resume``, or
            this one with other design points (the design's sampler drew other points for
            the same description, e.g. after a SciPy or SALib upgrade).
        SweepError: if a worker process died; finished runs are stored, rerun with resume.
            Also if called while a worker process starts (a script without
            ``if __name__ == "__main__":``, see the module docstring).
    """
    refuse_while_a_worker_starts("sweep")
    base = as_scenario(scenario)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    chosen = check_sweep(
        base,
        params,
        replicates=replicates,
        design=design,
        samples=samples,
        design_seed=design_seed,
        second_order=second_order,
        levels=levels,
        metrics=metrics,
        max_runs=max_runs,
    )
    planned = plan_runs(chosen, replicates, root_seed)
    in_processes = executor is None and (workers or os.cpu_count() or 1) > 1 and len(planned) > 1
    if in_processes or isinstance(executor, ProcessPoolExecutor):
        check_picklable(metrics, "sweep", "workers=1 and no executor")
    split = parse_shard(shard)
    if split is not None:
        planned = [r for k, r in enumerate(planned) if k % split[1] == split[0]]

    sink: SweepStore | None = None
    if store is not None and isinstance(metrics, Mapping):
        raise ValueError("sweep: metric functions cannot be stored; give summary keys")
    if store is not None:
        spec = {
            "talentsim_sweep": 1,
            "scenario": base.to_dict(),
            "design": chosen.describe(),
            "replicates": replicates,
            "root_seed": root_seed,
            "metrics": None if metrics is None else sorted(metrics),
            "timeseries": timeseries,
        }
        custom = terms.custom_fingerprint()
        if custom is not None:  # (resumed only with the same custom terms and kernels)
            spec["terms"] = {"names": terms.custom_names(), "digest": custom}
        meta = {
            "versions": run_metadata()["versions"],
            # (exact: pandas' to_json keeps 10 decimals, which rounded values like 4.66e-05)
            "points": jsonable(chosen.points.to_dict(orient="split")),
        }
        if chosen.problem is not None:
            meta["problem"] = chosen.problem
        sink = SweepStore.create(store, spec, resume=resume, meta=meta, runs=planned)
        statuses = sink.statuses()
        redo = {PENDING, FAILED} if retry_failed else {PENDING}
        todo = [r for r in planned if statuses.get(r.run_id) in redo]
    else:
        todo = planned

    keep_series = timeseries and sink is not None
    try:
        outcomes = _execute(
            base,
            chosen,
            todo,
            metrics,
            keep_series,
            sink,
            executor,
            workers,
            progress,
            chunk_runs or 50,
        )
        if sink is not None:
            table = sink.table(r.run_id for r in planned)
    finally:  # (an interrupted sweep releases the store, so that it can be resumed at once)
        if sink is not None:
            sink.close()
    if sink is None:
        table = _table_from_outcomes(outcomes, chosen, planned)
        table.attrs["store"] = None
        table.attrs["design"] = chosen.describe()
        table.attrs["problem"] = chosen.problem
    failed = int((table["status"] == FAILED).sum())
    if failed:
        first = table.loc[table["status"] == FAILED, "error"].iloc[0]
        hint = "resume=True, retry_failed=True" if store is not None else "sweep again"
        warnings.warn(
            f"{failed} of {len(table)} runs failed (first: {first}); their rows have "
            f"status 'failed' and the error; fix the cause and {hint}",
            RuntimeWarning,
            stacklevel=2,
        )
    return table


def check_sweep(
    scenario: Scenario | str | Path | Mapping[str, Any],
    params: Mapping[str, Any] | Design,
    *,
    replicates: int = 1,
    design: str = "grid",
    samples: int | None = None,
    design_seed: int = 0,
    second_order: bool = False,
    levels: int | None = None,
    metrics: MetricSpec = None,
    max_runs: int = MAX_RUNS,
) -> Design:
    """Every check :func:`sweep` makes before it runs anything; returns the design.

    The number of runs is computed first, from the design's options, and refused above
    ``max_runs`` before the design is built; then every distinct point is put in the scenario
    and the metrics are checked. ``talentsim validate`` runs this on a sweep file.

    Raises:
        DesignError: for a bad design or ``replicates``, an ignored option, an empty list of
            metrics or too many runs; ScenarioError: for a point the scenario cannot take or
            an unknown metric.
    """
    base = as_scenario(scenario)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise DesignError(f"replicates: expected a positive integer, got {replicates!r}")
    if not isinstance(params, Design):
        points = design_size(params, design, samples=samples, second_order=second_order)
        _check_size(points, replicates, max_runs)
        params = make_design(
            params,
            design,
            samples=samples,
            seed=design_seed,
            second_order=second_order,
            levels=levels,
        )
    _check_size(len(params), replicates, max_runs)
    if metrics is not None and not isinstance(metrics, str) and len(metrics) == 0:
        raise DesignError(
            "metrics: the list is empty; leave it out for every numeric summary metric, or "
            "name at least one"
        )
    _check_points(base, params)
    check_metrics(base, metrics, "sweep.metrics")
    return params


def _check_size(points: int, replicates: int, max_runs: int) -> None:
    runs = points * replicates
    if runs > max_runs:
        raise DesignError(
            f"the sweep has {points:,} points × {replicates:,} replicates = {runs:,} runs, "
            f"more than the limit of {max_runs:,}: check samples, levels and replicates, or "
            "raise the limit (max_runs=, --max-runs)"
        )


def _check_points(base: Scenario, design: Design) -> None:
    seen: set[str] = set()
    for point in range(len(design)):
        overrides = design.overrides(point)
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            base.with_overrides(overrides, source="sweep.parameters", lenient=False)
        except ScenarioError as exc:
            values = ", ".join(f"{k} = {v!r}" for k, v in overrides.items())
            header, *details = str(exc).splitlines()
            header = header.removeprefix("sweep.parameters: ")
            details = [_point_problem(line, overrides) for line in details]
            details += [  # (a range gives floats: 30.0 for a capacity)
                f"  sweep.parameters.{k}: takes whole numbers: give its range integer = true"
                for k, v in overrides.items()
                if isinstance(v, float) and takes_whole_numbers(base, k)
            ]
            text = "\n".join([f"sweep.parameters at point {point} ({values}): {header}", *details])
            raise ScenarioError(text) from None


def _point_problem(line: str, overrides: Mapping[str, Any]) -> str:
    """A problem of a design point, named by its key path.

    A swept parameter under ``sweep.parameters``; any other key as the scenario's (which the
    point's values broke).
    """
    indent = line[: len(line) - len(line.lstrip())]
    rest = line.strip().removeprefix("sweep.parameters: ")
    if rest == line.strip():
        return line
    key = rest.split(":", 1)[0]
    where = "sweep.parameters." if key in overrides else "the scenario's "
    return f"{indent}{where}{rest}"


def _execute(
    base: Scenario,
    design: Design,
    todo: list[PlannedRun],
    metrics: MetricSpec,
    timeseries: bool,
    sink: SweepStore | None,
    executor: Executor | None,
    workers: int | None,
    progress: bool | Callable[[int], Any],
    chunk_runs: int,
) -> list[RunOutcome]:
    outcomes: list[RunOutcome] = []
    buffer: list[RunOutcome] = []
    last_flush = time.monotonic()
    bar = Progress(progress, len(todo), "sweep")

    def record(outcome: RunOutcome) -> None:
        nonlocal last_flush
        outcomes.append(outcome)
        buffer.append(outcome)
        bar.advance(outcome.status == FAILED)
        if sink is not None and (len(buffer) >= chunk_runs or time.monotonic() - last_flush > 30):
            sink.commit(buffer)
            buffer.clear()
            last_flush = time.monotonic()

    def task(planned: PlannedRun) -> tuple[Any, ...]:
        overrides = design.overrides(planned.point)
        return (base, planned.run_id, overrides, planned.seed, metrics, timeseries)

    pending: set[Future[RunOutcome]] = set()
    count = workers or os.cpu_count() or 1
    pooled = False  # (whether the runs went to the shared pool of `count` workers)
    try:
        if executor is None and (count == 1 or len(todo) <= 1):
            for planned in todo:
                record(execute_run(*task(planned)))
        else:
            pool = executor or shared_pool(count)
            pooled = executor is None
            watch = pool_watch(count) if pooled else None
            window = _Window(executor, workers)
            queue = iter(todo)
            exhausted = False
            with held_interrupts() as held:  # (Ctrl-C, SIGTERM: raised between waits only)
                while pending or not exhausted:
                    while not exhausted and len(pending) < window.size():
                        upcoming = next(queue, None)
                        if upcoming is None:
                            exhausted = True
                            break
                        pending.add(pool.submit(execute_run, *task(upcoming)))
                    if not pending:
                        break
                    finished, pending = wait_first(pending, held, watch)
                    for future in finished:
                        record(future.result())
    except BrokenProcessPool as exc:
        if pooled:
            release_pool(exc, count)
        _flush(sink, buffer)
        left = len(todo) - len(outcomes)
        if sink is None:  # (nothing was stored, so there is nothing to resume)
            raise SweepError(
                f"a worker process died ({exc}) after {len(outcomes)} of {len(todo)} runs; "
                f"nothing is stored (no store given), so run it again. {_SCRIPT_HINT}"
            ) from None
        raise SweepError(
            f"a worker process died ({exc}); {len(outcomes)} runs are stored, {left} remain: "
            f"rerun with resume=True (--resume). {_SCRIPT_HINT}"
        ) from None
    except BaseException as exc:
        _flush(sink, buffer)
        if pooled:
            release_pool(exc, count)
        raise
    finally:
        bar.close()
        for future in pending:  # (after an error: the pool outlives the sweep)
            future.cancel()
    _flush(sink, buffer)
    return outcomes


IN_FLIGHT_PER_SLOT = 4
"""Runs a sweep keeps submitted per slot of its executor, so that no slot waits for work."""

SLOTS_ASKED_EVERY = 10.0
"""Seconds between two questions to a Dask cluster about its threads (it may scale meanwhile)."""


def executor_slots(executor: Executor) -> int | None:
    """How many runs ``executor`` runs at once, if it says: None if it does not.

    A Dask ``Client(...).get_executor()``: the threads of the cluster's workers now (None
    while it has none, or if the scheduler does not answer); a ``concurrent.futures`` pool
    (``ProcessPoolExecutor``, ``ThreadPoolExecutor``): its ``max_workers``.
    """
    client = getattr(executor, "_client", None)
    if client is not None and callable(getattr(client, "nthreads", None)):
        try:
            threads = sum(int(n) for n in client.nthreads().values())
        except Exception:  # (a scheduler gone or slow: the default, asked again later)
            return None
        return threads or None
    size = getattr(executor, "_max_workers", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size
    return None


class _Window:
    """How many runs a sweep keeps submitted: :data:`IN_FLIGHT_PER_SLOT` per slot.

    The slots are ``workers`` (default: the cores) for the sweep's own pool; for an executor
    given, :func:`executor_slots` (the threads of a Dask cluster's workers, asked again every
    :data:`SLOTS_ASKED_EVERY` seconds as it scales; a pool's ``max_workers``), or the cores of
    this machine if it does not say; ``workers`` caps them.
    """

    def __init__(self, executor: Executor | None, workers: int | None) -> None:
        self.executor, self.workers = executor, workers
        self.dask = executor is not None and hasattr(executor, "_client")
        self.asked = -float("inf")
        self.slots = workers or os.cpu_count() or 1

    def size(self) -> int:
        """The window now (a question to a Dask scheduler at most every 10 seconds)."""
        now = time.monotonic()
        if self.executor is not None and now - self.asked >= SLOTS_ASKED_EVERY:
            slots = executor_slots(self.executor) or os.cpu_count() or 1
            self.slots = min(slots, self.workers) if self.workers else slots
            self.asked = now if self.dask else float("inf")  # (a pool's size is fixed)
        return IN_FLIGHT_PER_SLOT * self.slots


# ---- warm workers ---------------------------------------------------------------------------

_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOL_MODULES: dict[int, tuple[str, ...]] = {}
"""The modules each pool's workers imported when they started (``terms.IMPORTED`` then)."""
_AT_EXIT: list[bool] = []  # (whether shutdown_pools is registered to run at exit)


_SCRIPT_HINT = (
    'From a script: its code must be under `if __name__ == "__main__":`, as the workers '
    "import the script that starts them (docs/sweeps.md, Where it runs)"
)


def refuse_while_a_worker_starts(what: str) -> None:
    """Refuse to start ``what`` (a sweep, a comparison, a pool) in a worker that is starting.

    A worker of a spawned pool imports the script that started the pool before it can work;
    a script whose code is not under ``if __name__ == "__main__":`` would then run its sweep
    again inside every worker (which Python stops only later, or which fails on the sweep's
    own store with a misleading message). Detected by the flag Python's ``multiprocessing``
    sets while a spawned process prepares (its own check of the same mistake reads it).

    Raises:
        SweepError: if this process is a spawned worker still importing its parent's script.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SweepError(
            f"{what} was started while a worker process was importing the script that started "
            f"the workers. {_SCRIPT_HINT}"
        )


def connect_dask(address: str, option: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` (sweeps and ABC share it).

    The modules of ``talentsim --import`` (:data:`talentsim.terms.IMPORTED`) are imported on
    the cluster's workers, those running and those that join later (a worker plugin,
    :class:`talentsim._dask_terms.ImportTerms`), so that they register the same terms.

    Raises:
        ImportError: without dask.distributed (the caller says how to install it).
        ScenarioError: naming ``option`` and ``address``, for a scheduler that cannot be
            reached or an address that is not one, or workers that cannot import a module
            of ``--import``.
    """
    from distributed import Client

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ScenarioError(
            f"{option} {address}: cannot connect to the scheduler ({exc})"
        ) from None
    except (ValueError, TypeError) as exc:  # (a malformed address: "missing port number")
        raise ScenarioError(
            f"{option} {address}: not a scheduler address ({exc}); expected e.g. tcp://host:8786"
        ) from None
    if terms.IMPORTED:
        from talentsim._dask_terms import ImportTerms

        plugin = ImportTerms(terms.IMPORTED)
        try:
            client.register_plugin(plugin)
        except Exception as exc:  # (a worker's ImportError, raised here by distributed)
            with contextlib.suppress(Exception):  # (not left for workers that join later)
                client.unregister_worker_plugin(plugin.name)
            client.close()
            raise ScenarioError(
                f"{option} {address}: the cluster's workers cannot import the modules of "
                f"--import ({exc}); install them where the workers run"
            ) from None
    return client


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process pool of ``workers`` spawned workers that sweeps and calibrations share.

    Made on first use and kept until the interpreter exits (or :func:`shutdown_pools`), so a
    series of sweeps or a calibration's generations pay the workers' start-up (importing
    talentsim, loading the compiled step from Numba's disk cache: about a second) once, not
    once per call. One pool per worker count; its workers import the modules of
    ``talentsim --import`` (:data:`talentsim.terms.IMPORTED`), and a pool made before one was
    imported is made anew. A pool whose worker died is discarded
    (:func:`discard_shared_pool`) and the next call makes a new one. Its workers end when
    this process does, however it ends (:func:`start_worker`).
    """
    modules = tuple(terms.IMPORTED)
    pool = _POOLS.get(workers)
    if pool is not None and _POOL_MODULES.get(workers) != modules:
        discard_shared_pool(workers)  # (its workers lack a module imported since)
        pool = None
    if pool is None:
        refuse_while_a_worker_starts("a process pool")
        if not _AT_EXIT:
            atexit.register(shutdown_pools)
            _AT_EXIT.append(True)
        pool = _POOLS[workers] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            # (the modules of `talentsim --import`: the workers register the same terms)
            initializer=partial(start_worker, modules, os.getpid()),
        )
        _POOL_MODULES[workers] = modules
    return pool


PARENT_CHECK_SECONDS = 1.0
"""How often a pool's worker checks that the process that started it is still there."""


def start_worker(modules: tuple[str, ...], parent: int) -> None:
    """Start a worker of a shared pool: it imports ``modules``, and exits with its ``parent``.

    A worker of a process pool waits for work on pipes its parent shares with it, so a parent
    killed without shutting its pool down (``kill -9``, a SIGTERM to a script, an
    out-of-memory kill) would leave its workers waiting forever; a thread of the worker
    checks every :data:`PARENT_CHECK_SECONDS` that its parent process is still its parent
    (``os.getppid``: an orphan is adopted by another) and ends the worker when it is not.

    Raises:
        ImportError: for a module that cannot be imported (the pool then breaks, saying so).
    """
    watch = threading.Thread(
        target=_exit_without_parent, args=(parent,), name="talentsim-parent-watch", daemon=True
    )
    watch.start()
    if modules:
        terms.import_modules(modules)


def _exit_without_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)  # (nobody is left to take a result: no cleanup, no flush)


def terminate_pools() -> None:
    """Stop every shared pool at once, runs in progress included (an interrupted command).

    :func:`shutdown_pools` waits for the runs in progress; this terminates the workers
    (SIGTERM), so that an interrupted ``talentsim sweep`` ends now and leaves none behind.
    """
    for workers in list(_POOLS):
        terminate_pool(workers)


def terminate_pool(workers: int) -> None:
    """Stop the shared pool of ``workers`` workers at once, if there is one (see above).

    A sweep or a target matrix interrupted by Ctrl-C stops its pool this way: the runs in
    progress are lost either way, and a pool left to finish them would keep the workers busy
    (the next call would wait for them) and make a script wait for them at exit. The next
    call starts new workers (about a second).

    A worker stopped while it was sending a result leaves half a message in the pool's
    result pipe, and the pool's manager thread, which reads it, would wait for the rest for
    ever (the interpreter joins that thread at exit, so the command would never end). Once
    the workers are gone, the only end still open for writing is this process's own: closing
    it gives that thread the end of the pipe, and it ends as for a broken pool.
    """
    pool = _POOLS.get(workers)
    if pool is None:
        return
    processes = _worker_processes(pool)
    manager = getattr(pool, "_executor_manager_thread", None)
    results = getattr(pool, "_result_queue", None)
    discard_shared_pool(workers)
    for process in processes:
        with contextlib.suppress(Exception):  # (one that has ended already)
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(5)
    if manager is None or results is None:
        return
    manager.join(MANAGER_GRACE_SECONDS)
    if manager.is_alive() and not any(p.is_alive() for p in processes):
        with contextlib.suppress(Exception):
            results._writer.close()  # (stuck in the middle of a result: see above)
        manager.join(MANAGER_GRACE_SECONDS)


def pool_watch(workers: int) -> Callable[[], None]:
    """A check for the waits on the shared pool of ``workers`` (``interrupts.wait_first``).

    A worker that dies on its own (an out-of-memory kill, a crash) normally breaks its pool
    at once: the pool's manager thread sees it end, and every run in progress fails with
    ``BrokenProcessPool``, which a sweep reports with the way to resume. But a worker that
    dies while it is sending a result leaves half a message, and the manager thread then
    waits for the rest instead, so the sweep would wait for ever. The check returned here
    notices a worker that has ended while the pool is still not broken
    :data:`STALL_SECONDS` later, and stops the pool (:func:`terminate_pool`, which
    unblocks the manager thread): the pool breaks, and the sweep ends as for any dead worker.
    """
    seen: list[float] = []  # (when a dead worker was first seen while the pool is not broken)

    def check() -> None:
        pool = _POOLS.get(workers)
        if pool is None or getattr(pool, "_broken", False):
            return
        if not any(process.exitcode is not None for process in _worker_processes(pool)):
            seen.clear()
            return
        if not seen:
            seen.append(time.monotonic())
        elif time.monotonic() - seen[0] > STALL_SECONDS:
            terminate_pool(workers)

    return check


def _worker_processes(pool: ProcessPoolExecutor) -> list[Any]:
    """The pool's worker processes (none if this Python's pool lacks ``_processes``).

    ``ProcessPoolExecutor`` has no public way to name its workers: this private attribute is
    the one place :func:`terminate_pool` and :func:`pool_watch` read it.
    """
    return list((getattr(pool, "_processes", None) or {}).values())


STALL_SECONDS = 5.0
"""How long :func:`pool_watch` lets a pool with a dead worker break on its own."""

MANAGER_GRACE_SECONDS = 2.0
"""How long :func:`terminate_pool` lets a pool's manager thread end on its own (it ends at
once unless it is stuck in half a result), and then after unblocking it."""


def release_pool(exc: BaseException, workers: int, kept: str | None = None) -> None:
    """Leave the shared pool of ``workers`` fit for the next call after ``exc`` ended work in it.

    A worker died (``BrokenProcessPool``): the pool is discarded, and the next call starts
    new workers. Ctrl-C or SIGTERM: the pool is stopped at once (:func:`terminate_pool`), the
    runs in progress are not waited for. Any other error leaves it as it is.

    Raises:
        SweepError: for a worker that died, if ``kept`` says what the work keeps (and how to
            go on): the error to raise instead of ``BrokenProcessPool``.
    """
    if isinstance(exc, BrokenProcessPool):
        discard_shared_pool(workers)
        if kept is not None:
            raise SweepError(
                f"a worker process died ({exc}); {kept} (a worker that runs out of memory "
                "dies this way: fewer workers need less)"
            ) from None
    elif isinstance(exc, KeyboardInterrupt):
        terminate_pool(workers)


def discard_shared_pool(workers: int) -> None:
    """Forget (and shut down) the shared pool of ``workers`` workers, e.g. after a crash."""
    pool = _POOLS.pop(workers, None)
    _POOL_MODULES.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Shut down every shared pool (run at exit; the next call starts new workers)."""
    for workers in list(_POOLS):
        pool = _POOLS.pop(workers)
        pool.shutdown(wait=True, cancel_futures=True)


def _flush(sink: SweepStore | None, buffer: list[RunOutcome]) -> None:
    if sink is not None and buffer:
        sink.commit(buffer)
        buffer.clear()


def _table_from_outcomes(
    outcomes: list[RunOutcome], design: Design, planned: list[PlannedRun]
) -> pd.DataFrame:
    by_id = {o.run_id: o for o in outcomes}
    runs = pd.DataFrame(
        [
            {
                "run_id": r.run_id,
                "point": r.point,
                "replicate": r.replicate,
                "seed": r.seed,
                "status": by_id[r.run_id].status if r.run_id in by_id else PENDING,
                "error": by_id[r.run_id].error if r.run_id in by_id else None,
            }
            for r in planned
        ],
        columns=list(RUN_COLUMNS),
    )
    summaries = pd.DataFrame(
        [{"run_id": o.run_id, **(o.summary or {})} for o in outcomes if o.status == DONE]
    )
    return assemble_table(runs, design.points, summaries)
