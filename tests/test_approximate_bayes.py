"""ABC-SMC (pyabc): residuals of each form of target, a smoke run, reproducibility on one
core, resuming after a kill, and (slow) simulation-based calibration."""

from __future__ import annotations

import gc
import math
import multiprocessing
import multiprocessing.queues
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

import talentsim as ts
from talentsim import experiments
from talentsim.approximate_bayes import (
    UNDEFINED,
    TargetModel,
    abc_smc,
    defined_spread,
    residual,
)
from talentsim.smm import Parameter
from talentsim.targets import Target, Targets, as_targets
from tests.test_smm import SOURCE, TINY, separation_rate

pytest.importorskip("pyabc")

# (TINY: a market that runs in milliseconds; separation_rate, m(θ) = θ, reads the scenario
# itself: no simulation noise, so the exact posterior is known)

RATE = Parameter("market.separation_rate", 0.0, 1.0)  # (a plain number: per year)


def estimate(observed: float, se: float) -> list[Target]:
    return [Target(name="m", statistic=separation_rate, observed=observed, se=se, source=SOURCE)]


def abc_tiny(**options: Any) -> Any:
    """``abc_smc`` of RATE on TINY to the estimate 0.4 ± 0.05, without a progress bar."""
    return abc_smc(TINY, estimate(0.4, 0.05), [RATE], **{"progress": False, **options})


def test_residuals_of_each_form() -> None:
    def target(**form: object) -> Target:
        return Target(name="t", statistic=separation_rate, source=SOURCE, **form)

    assert residual(target(observed=0.5, se=0.1), 0.7) == pytest.approx(2.0)
    assert residual(target(observed=0.5, se=0.1), 0.7, noise=-0.5) == pytest.approx(1.5)
    band = target(band=(0.2, 0.6))
    scale = 0.4 / 3.92
    assert residual(band, 0.4) == 0.0 and residual(band, 0.2) == 0.0
    assert residual(band, 0.7) == pytest.approx(0.1 / scale)
    assert residual(band, 0.1) == pytest.approx(-0.1 / scale)
    assert residual(target(at_least=8), 9.0) == 0.0
    assert residual(target(at_least=8), 6.0) == pytest.approx(-0.25)
    assert residual(target(at_most=0.0), 0.5) == pytest.approx(0.5)
    assert residual(target(at_most=0.1), 0.05) == 0.0
    assert residual(band, math.nan) == UNDEFINED


def test_the_adaptive_scale_leaves_out_undefined_residuals() -> None:
    # a target undefined on 4% of the particles kept its weight (pyabc's standard deviation
    # over every particle made it ~2e5 times larger, and the target dropped out of the fit)
    rng = np.random.default_rng(3)
    samples = rng.normal(0.0, [1.0, 7.5, 2.0], size=(500, 3))
    samples[rng.random(500) < 0.04, 1] = UNDEFINED
    samples[:, 2] = UNDEFINED  # (defined nowhere: weight 0, not NaN)
    spread = defined_spread(samples=samples, s0=np.zeros(3), s_ids=["a", "b", "c"])
    defined = samples[:, 1] < UNDEFINED
    assert spread[0] == pytest.approx(np.std(samples[:, 0]))
    assert spread[1] == pytest.approx(np.std(samples[defined, 1]))
    assert 6.5 < spread[1] < 8.5 and spread[2] == 0.0
    assert np.std(samples[:, 1]) > 1e4 * spread[1]  # (what the scale used to be)
    # one residual (pyabc's one-statistic samples): the particles are the first axis
    assert float(defined_spread(samples=samples[:, 1])) == pytest.approx(spread[1])
    # so an undefined particle's weighted residual is far beyond a defined one's
    assert UNDEFINED / spread[1] > 1e4 * np.max(np.abs(samples[defined, 1])) / spread[1]
    # through pyabc's own distance, as abc_smc builds it: weights 1/spread, the target kept,
    # and an undefined particle's distance far beyond a defined one's
    pyabc = pytest.importorskip("pyabc")
    particles = [SimpleNamespace(sum_stat={"a": a, "b": b}) for a, b, _ in samples]
    sample = SimpleNamespace(all_particles=particles, accepted_particles=particles)
    distance = pyabc.AdaptivePNormDistance(p=2, scale_function=defined_spread)
    observed = {"a": 0.0, "b": 0.0}
    distance.initialize(t=0, get_sample=lambda: sample, x_0=observed, total_sims=len(particles))
    assert distance.get_weights(0) == pytest.approx(1 / spread[:2])
    close = distance({"a": 0.5, "b": 3.0}, observed, t=0)
    assert close == pytest.approx(np.hypot(0.5 / spread[0], 3.0 / spread[1]))
    assert distance({"a": 0.5, "b": UNDEFINED}, observed, t=0) > 1e4 * close


def test_model_seeds_come_from_the_particle() -> None:
    targets = as_targets(
        [
            Target(
                name="leavers",
                statistic="departures",
                args={"lab": "A"},
                band=(0, 1),
                source=SOURCE,
            )
        ]
    )
    base = ts.Scenario.from_dict({**TINY, "cohorts": {"a": {"size": 40, "lab": "A"}}})
    model = TargetModel(
        base, targets, [RATE.path], ["r"], replicates=3, seed=5, observation_noise=True
    )
    first = model.statistics([0.8])
    assert model.statistics([0.8]) == pytest.approx(first)  # the same particle, the same runs
    other = TargetModel(
        base, targets, [RATE.path], ["r"], replicates=3, seed=6, observation_noise=True
    )
    values = [other.statistics([0.8])[0] for _ in range(2)] + [model.statistics([0.81])[0]]
    assert len({first[0], *values}) > 1  # another seed or value: other runs
    # a value the scenario refuses is a rejected particle, not an error
    assert model.residuals([-1.0]) == pytest.approx([UNDEFINED])


def test_smoke_two_generations(tmp_path: Path) -> None:
    result = abc_tiny(population_size=100, max_generations=2, db=tmp_path / "abc.db", workers=2)
    assert result.method == "abc" and result.parameters == [RATE.path]
    assert list(result.generations["t"]) == [0, 1]
    assert (result.generations["particles"] == 100).all()
    assert result.n_simulations == result.generations["simulations"].sum() >= 200
    assert list(result.posterior.columns) == [RATE.path, "weight"]
    assert result.posterior["weight"].sum() == pytest.approx(1.0)
    assert result.generations["epsilon"].iloc[1] < result.generations["epsilon"].iloc[0]
    # The posterior moved from the prior (uniform on [0, 1]: mean 0.5, sd 0.289) to the
    # estimate 0.4 ± 0.05. Its second generation's sd is 0.07-0.12 (seeds 0-11), so with 100
    # particles (effective size > 95) the Monte Carlo error of its mean is at most ~0.012:
    # half-way from the prior's mean, |mean − 0.4| < 0.05, is ≥ 4 such errors (seen: ≤ 0.021).
    # An sd below 0.2 is > 6 standard errors (0.013 at n = 100) under a sample of the prior's.
    # Uniform prior draws fail (the sd test always, the mean's alone ~96% of the time).
    weights = result.posterior["weight"].to_numpy()
    values = result.posterior[RATE.path].to_numpy()
    mean = result.weighted_mean()[RATE.path]
    assert mean == pytest.approx(np.sum(weights * values))
    assert abs(mean - 0.4) < 0.05
    assert math.sqrt(np.sum(weights * (values - mean) ** 2)) < 0.2 < stats.uniform().std()
    assert 1 / np.sum(weights**2) > 50  # the effective size the error above assumes
    with pytest.raises(FileExistsError, match=r"abc\.db: exists; resume it"):
        abc_tiny(db=tmp_path / "abc.db")


def test_one_core_is_reproducible(tmp_path: Path) -> None:
    runs = [
        abc_smc(
            TINY,
            estimate(0.4, 0.05),
            [RATE, Parameter("labs.A.pay_level", 0.5, 2.0, prior=stats.norm(1.0, 0.2))],
            population_size=15,
            max_generations=2,
            db=tmp_path / f"abc{i}.db",
            workers=1,
            seed=3,
            progress=False,
        )
        for i in range(2)
    ]
    assert runs[0].posterior.equals(runs[1].posterior)
    assert runs[0].generations.equals(runs[1].generations)


def test_several_workers_are_reproducible_whatever_their_number(tmp_path: Path) -> None:
    # Each particle's task draws from its own seed (SeededMappingSampler), so the particles do
    # not depend on which worker finishes first, nor on how many there are.
    runs = [
        abc_tiny(population_size=12, max_generations=2, db=tmp_path / f"abc{i}.db", **options)
        for i, options in enumerate(({"workers": 2}, {"workers": 2}, {"workers": 3}))
    ]
    for other in runs[1:]:
        assert runs[0].posterior.equals(other.posterior)
        assert runs[0].generations.equals(other.generations)
    another_seed = abc_tiny(
        population_size=12, max_generations=2, db=tmp_path / "abc9.db", workers=2, seed=9
    )
    assert not runs[0].posterior.equals(another_seed.posterior)


def dies_in_a_worker(result: ts.RunResult) -> float:
    """m(θ) = θ here; in a worker process, killed at once (as by the out-of-memory killer)."""
    if multiprocessing.parent_process() is not None:
        os._exit(1)
    return separation_rate(result)


def dies_sending_a_result(result: ts.RunResult) -> float:
    """m(θ) = θ here; in a worker, killed after sending the first bytes of a result."""
    if multiprocessing.parent_process() is not None:
        (queue,) = [
            o for o in gc.get_objects() if isinstance(o, multiprocessing.queues.SimpleQueue)
        ]
        queue._writer._send(struct.pack("!i", 1000) + b"x" * 10)  # (of 1000 bytes)
        os._exit(1)
    return separation_rate(result)


@pytest.mark.parametrize("statistic", [dies_in_a_worker, dies_sending_a_result])
def test_a_worker_that_dies_ends_the_fit_with_a_clear_error(tmp_path: Path, statistic: Any) -> None:
    # A dead worker breaks the shared pool; one that died in the middle of sending a particle
    # would leave the fit waiting for ever (the pool's manager thread waits for the rest of
    # the message), were it not for pool_watch, which stops such a pool after STALL_SECONDS.
    # Either way the fit ends with one error that says what is kept, and the next call
    # starts new workers.
    target = Target(name="m", statistic=statistic, observed=0.4, se=0.05, source=SOURCE)
    pool = experiments.shared_pool(2)
    start = time.monotonic()
    with pytest.raises(experiments.SweepError, match=r"a worker process died .*\(--resume\)"):
        abc_smc(
            TINY, [target], [RATE], population_size=4, max_generations=1,
            db=tmp_path / "abc.db", workers=2, progress=False,
        )  # fmt: skip
    assert time.monotonic() - start < 60
    assert experiments.shared_pool(2) is not pool
    experiments.discard_shared_pool(2)


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    db = tmp_path / "abc.db"
    abc_tiny(population_size=10, max_generations=1, db=db, workers=1)
    with pytest.raises(ValueError, match=r"run 1 was made with other settings"):
        abc_tiny(population_size=10, max_generations=2, db=db, workers=1, seed=9, resume=True)
    with pytest.raises(FileNotFoundError, match="no ABC database to resume"):
        abc_tiny(db=tmp_path / "none.db", resume=True)


RESUMED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_approximate_bayes import TINY, RATE, estimate
    from talentsim.approximate_bayes import abc_smc
    abc_smc(TINY, estimate(0.4, 0.02), [RATE], population_size=30, max_generations=50,
            db={db!r}, workers=1, progress=False)
    """
)


def _generations(db: Path) -> list[int]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "SELECT t FROM populations WHERE t >= 0 ORDER BY t"
            ).fetchall()
    except sqlite3.OperationalError:  # (the tables are not made yet, or locked)
        return []
    return [row[0] for row in rows]


def test_resume_after_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "abc.db"
    script = RESUMED.format(tests=str(Path(__file__).parent), db=str(db))
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(_generations(db)) < 2:
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no two generations within 5 minutes"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    before = _generations(db)
    assert 2 <= len(before) < 4  # killed mid-run, with generations still to do
    with sqlite3.connect(db) as connection:
        epsilons = connection.execute(
            "SELECT t, epsilon FROM populations WHERE t >= 0 ORDER BY t"
        ).fetchall()
    result = abc_smc(
        TINY,
        estimate(0.4, 0.02),
        [RATE],
        population_size=30,
        max_generations=4,
        db=db,
        workers=1,
        resume=True,
        progress=False,
    )
    assert list(result.generations["t"]) == [0, 1, 2, 3]
    assert result.run_id == 1
    # the generations done before the kill are kept as they were
    kept = list(zip(result.generations["t"], result.generations["epsilon"], strict=True))[
        : len(epsilons)
    ]
    assert kept == [tuple(row) for row in epsilons]
    assert (result.generations["particles"] == 30).all()


SBC_SETS, SBC_DRAWS, SBC_SE, SBC_POPULATION, SBC_GENERATIONS = 40, 4, 0.1, 60, 5


def _sbc_rank(index: int, folder: str) -> int:
    """One SBC replication: θ* from the prior, data from θ*, ABC, the rank of θ*."""
    rng = np.random.default_rng([20180401, index])
    truth = float(rng.uniform())
    observed = truth + SBC_SE * float(rng.standard_normal())
    targets = Targets(
        name="sbc",
        targets=[
            Target(name="m", statistic=separation_rate, observed=observed, se=SBC_SE, source=SOURCE)
        ],
    )
    result = abc_smc(
        TINY,
        targets,
        [RATE],
        population_size=SBC_POPULATION,
        max_generations=SBC_GENERATIONS,
        db=Path(folder) / f"sbc{index}.db",
        workers=1,
        seed=index,
        progress=False,
    )
    sample = result.sample(SBC_DRAWS, seed=index)[RATE.path].to_numpy()
    below, ties = int(np.sum(sample < truth)), int(np.sum(sample == truth))
    return below + int(rng.integers(0, ties + 1))


@pytest.mark.slow
def test_simulation_based_calibration(tmp_path: Path) -> None:
    """Simulation-based calibration (Talts et al. 2018) on a one-parameter problem.

    θ ~ Uniform(0, 1) (a separation rate, per year); the statistic is θ itself, observed with
    error se = 0.1 (so the exact posterior is a truncated normal). For each of N = 40 data
    sets: draw θ* from the prior and the observation θ* + se·z, run ABC-SMC (population 60,
    5 generations, observation noise on, adaptive distance, one core each), draw L = 4 values
    from the posterior and record the rank of θ* among them (0..4). If the ABC posterior is
    the posterior, the ranks are uniform on 0..4: a chi-square test over the 5 ranks (8
    expected each) must not reject at the 1% level. The counts are printed (a ∪ shape means
    too narrow a posterior, ∩ too wide). About 1,400 simulations per data set; two
    processes.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        ranks = list(pool.map(_sbc_rank, range(SBC_SETS), [str(tmp_path)] * SBC_SETS))
    counts = np.bincount(ranks, minlength=SBC_DRAWS + 1)
    print("SBC rank counts:", counts.tolist())
    test = stats.chisquare(counts)
    assert test.pvalue > 0.01, f"ranks not uniform: {counts.tolist()}, p = {test.pvalue:.3g}"


def test_a_dask_cluster_by_its_address(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        result, again = (
            abc_tiny(
                population_size=10,
                max_generations=2,
                db=tmp_path / f"abc{i}.db",
                dask=cluster.scheduler_address,
            )
            for i in range(2)
        )
    finally:
        cluster.close()
    assert list(result.generations["t"]) == [0, 1]
    assert (result.generations["particles"] == 10).all()
    # seeded tasks: reproducible on the cluster, and the same particles as on local workers
    assert result.posterior.equals(again.posterior)
    local = abc_tiny(population_size=10, max_generations=2, db=tmp_path / "local.db", workers=2)
    assert result.posterior.equals(local.posterior)
    with pytest.raises(ts.ScenarioError, match=r"dask tcp://127\.0\.0\.1:9: cannot connect"):
        abc_tiny(db=tmp_path / "x.db", dask="tcp://127.0.0.1:9")


def test_the_result_names_its_database(tmp_path: Path) -> None:
    result = abc_tiny(population_size=8, max_generations=1, db=tmp_path / "abc.db", workers=1)
    assert result.history == tmp_path / "abc.db" and result.run_id == 1
    assert result.load_history().n_populations == 1


def test_resume_refuses_a_changed_target_figure_or_scenario(tmp_path: Path) -> None:
    """A resumed run of other targets or another scenario would mix two posteriors."""
    db = tmp_path / "abc.db"
    abc_tiny(population_size=10, max_generations=1, db=db, workers=1)
    with pytest.raises(ValueError, match=r"run 1 was made with other settings"):
        abc_smc(
            TINY, estimate(0.45, 0.05), [RATE], population_size=10, max_generations=2,
            db=db, workers=1, resume=True, progress=False,
        )  # fmt: skip
    other = {**TINY, "market": {"noise_scale": 0.9}}
    with pytest.raises(ValueError, match=r"run 1 was made with other settings"):
        abc_smc(
            other, estimate(0.4, 0.05), [RATE], population_size=10, max_generations=2,
            db=db, workers=1, resume=True, progress=False,
        )  # fmt: skip
    # the same settings resume (the description is stable across calls)
    resumed = abc_tiny(population_size=10, max_generations=2, db=db, workers=1, resume=True)
    assert list(resumed.generations["t"]) == [0, 1]


def test_an_infinite_statistic_is_not_averaged_away() -> None:
    """As in SMM: a run with an infinite value (a flow ratio without reverse flow) makes the
    particle's statistic infinite, hence UNDEFINED, not the mean of the finite runs."""
    from talentsim.approximate_bayes import particle_seed
    from talentsim.seeds import spawn_seeds

    seeds = spawn_seeds(particle_seed([0.3], 5), 4)

    def infinite_on_the_first_seed(result: Any) -> float:
        return math.inf if result.seed == seeds[0] else 1.0

    targets = as_targets(
        [
            Target(
                name="ratio", statistic=infinite_on_the_first_seed, observed=1.0, se=0.1,
                source=SOURCE,
            )
        ]
    )  # fmt: skip
    base = ts.Scenario.from_dict(TINY)
    model = TargetModel(
        base, targets, [RATE.path], ["r"], replicates=4, seed=5, observation_noise=False
    )
    assert model.statistics([0.3])[0] == math.inf
    assert model.residuals([0.3]) == pytest.approx([UNDEFINED])


def test_a_residual_without_spread_where_defined_still_rejects_the_undefined() -> None:
    # A band every defined particle meets (residual 0), undefined on 4% of them: with weight
    # 0 (before 5 December 2026) an undefined particle's distance was a defined one's; with
    # scale 1 (its own units) it is far beyond. Defined everywhere, or nowhere: weight 0.
    pyabc = pytest.importorskip("pyabc")
    rng = np.random.default_rng(0)
    samples = np.column_stack([rng.normal(size=500), np.zeros(500), np.zeros(500)])
    samples[rng.random(500) < 0.04, 1] = UNDEFINED
    spread = defined_spread(samples=samples)
    assert spread[1] == 1.0 and spread[2] == 0.0
    particles = [SimpleNamespace(sum_stat={"a": a, "b": b, "c": c}) for a, b, c in samples]
    sample = SimpleNamespace(all_particles=particles, accepted_particles=particles)
    distance = pyabc.AdaptivePNormDistance(p=2, scale_function=defined_spread)
    observed = {"a": 0.0, "b": 0.0, "c": 0.0}
    distance.initialize(t=0, get_sample=lambda: sample, x_0=observed, total_sims=len(particles))
    inside = distance({"a": 0.5, "b": 0.0, "c": 0.0}, observed, t=0)
    assert inside == pytest.approx(0.5 / spread[0])
    assert distance({"a": 0.5, "b": UNDEFINED, "c": 0.0}, observed, t=0) > 1e4 * inside
