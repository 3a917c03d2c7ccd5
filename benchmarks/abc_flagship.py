"""Throughput of ABC-SMC on the flagship: parameter vectors simulated per second.

Six parameters of scenarios/msl_exodus.toml against targets/msl.toml (the article's counts),
one replicate per vector, on ``--workers`` processes (talentsim's seeded mapping sampler on
the shared spawned pool; pyabc's multicore sampler before 4 December 2026). Prints the
simulations, the wall time of the ABC generations (from pyabc's database: the first
generation's start to the last one's end, so the parent's start-up and the calibration sample
are left out) and their ratio, the projected time of 10^4 simulations, and the rate of the
same model called in one process, measured in the same run: the ratio of the two is the
parallel efficiency (on a shared machine, only the ratio means much).

    python benchmarks/abc_flagship.py [--population 100] [--generations 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from talentsim.approximate_bayes import TargetModel, abc_smc
from talentsim.smm import Parameter
from talentsim.targets import load_targets, scenario_for

ROOT = Path(__file__).resolve().parents[1]

PARAMETERS = [
    Parameter("labs.MSL.pay_level", 1.5, 4.0),
    Parameter("labs.MSL.new_hire_premium", 0.0, 1.5),
    Parameter("labs.MSL.turmoil", 0.0, 1.0),
    Parameter("labs.MSL.recovery_half_life", 0.02, 0.5),  # years
    Parameter("market.offer_rate_employed", 2.0, 10.0),  # per year
    Parameter("labs.Rival.pay_level", 1.0, 2.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke check)")
    args = parser.parse_args()
    if args.quick:
        args.population, args.generations = 10, 1
    serial = _serial_rate(10 if args.quick else 60)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "abc.db"
        started = time.perf_counter()
        result = abc_smc(
            ROOT / "scenarios" / "msl_exodus.toml",
            ROOT / "targets" / "msl.toml",
            PARAMETERS,
            population_size=args.population,
            max_generations=args.generations,
            max_simulations=None,
            db=db,
            workers=args.workers,
            progress=False,
        )
        total = time.perf_counter() - started
        with sqlite3.connect(db) as connection:
            ends = [
                datetime.fromisoformat(row[0])
                for row in connection.execute(
                    "SELECT population_end_time FROM populations ORDER BY t"
                )
            ]
    # ends[0] is the calibration sample's (t = -1): the generations run from it to the last
    generations = (ends[-1] - ends[0]).total_seconds()
    rate = result.n_simulations / generations
    print(f"workers {args.workers}, population {args.population}, parameters {len(PARAMETERS)}")
    print(result.generations.to_string(index=False))
    print(
        f"simulations {result.n_simulations} in {generations:.1f} s of generations "
        f"({total:.1f} s in all): {rate:.1f} per second, {rate / args.workers:.1f} per worker"
    )
    print(f"10^4 simulations: {1e4 / rate / 60:.1f} minutes at this rate")
    print(
        f"the same model called in one process: {serial:.1f} per second; ABC on "
        f"{args.workers} workers reaches {rate / (args.workers * serial):.2f} of "
        f"{args.workers} x that"
    )


def _serial_rate(calls: int) -> float:
    """Parameter vectors per second of the ABC model called directly in this process."""
    targets = load_targets(ROOT / "targets" / "msl.toml")
    base = scenario_for(ROOT / "scenarios" / "msl_exodus.toml", targets)
    model = TargetModel(
        base,
        targets,
        [p.path for p in PARAMETERS],
        [f"p{i}" for i in range(len(PARAMETERS))],
        replicates=1,
        seed=0,
        observation_noise=True,
    )
    rng = np.random.default_rng(0)
    points = [[rng.uniform(p.low, p.high) for p in PARAMETERS] for _ in range(calls + 1)]
    model.residuals(points[0])  # (compiles, or loads the compiled step)
    started = time.perf_counter()
    for point in points[1:]:
        model.residuals(point)
    return calls / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
