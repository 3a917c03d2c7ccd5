"""Speed of the run path calibration uses: one flagship run, and many on two warm workers.

A calibration simulates 10^4 and more flagship-size runs (``scenarios/msl_exodus.toml``:
build, 52 weekly steps) and keeps a few statistics of each. Two figures decide issue 17's
targets, both measured here side by side so that the machine's load touches every variant
alike (see README.md, "Noise"):

1. **CPU time per run** (``time.process_time``, this process only) of three ways to get the
   targets of ``targets/msl.toml`` from a run, interleaved within each repeat:

   - ``summary``: ``ts.run`` then the full ``RunResult.summary()`` (the reference: what a
     sweep computed for every run before the lean path);
   - ``full``: ``ts.run``, ``RunArrays.of`` and the targets' statistics (the calibration path
     before the lean path);
   - ``lean``: :func:`talentsim.targets.target_matrix`: a lean model, ``RunArrays.from_model``
     and the statistics, no tables.

   Reported with the median and the spread (min–max) over the repeats, in ms, as a ratio to
   ``summary`` of the same repeat, and as a ratio to a fixed ``yardstick`` (``YARDSTICK``
   iterations of pure-Python work, interleaved too): ``summary`` itself got faster with the
   lean path (``ts.run`` builds a lean model), so the yardstick is what compares this code
   with older code measured by the same script (on code without ``target_matrix`` the script
   measures ``summary`` and ``full`` only).

2. **Parallel efficiency on two warm workers**: :func:`talentsim.targets.target_matrices` over
   ``points × seeds`` flagship runs with ``workers=1`` (in this process) and ``workers=2``
   (the shared pool, started before the clock: a calibration's generations reuse it),
   interleaved; efficiency = serial time / (2 × parallel time). The ``machine`` ceiling (pure
   Python work, serial and on the same pool) is measured in each repeat: when it is well
   below 1 the machine did not have two free cores and the figure understates the code.

    .venv/bin/python benchmarks/calibration_path.py            # ~2 min
    .venv/bin/python benchmarks/calibration_path.py --quick    # smoke check, ~15 s

Writes ``calibration_path.json`` (``_quick`` with ``--quick``) to ``benchmarks/results/`` (or
``--out``). Exit status 1 if the lean and full paths or the serial and parallel matrices
differ (results must not depend on the path or the workers); otherwise 0, whether or not
the targets are met (noise is not a code failure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import talentsim as ts
from talentsim import experiments
from talentsim.run_statistics import RunArrays
from talentsim.targets import load_targets, scenario_for

try:  # (absent from code before the lean path: then only summary and full are measured)
    from talentsim.targets import target_matrices, target_matrix
except ImportError:  # pragma: no cover - older code
    target_matrices = target_matrix = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from sweep_parallel import burn, burn_iterations, machine_ceiling, machine_info  # noqa: E402

FULL = {"calls": 30, "repeats": 7, "points": 16, "seeds": 10, "parallel_repeats": 3}
QUICK = {"calls": 3, "repeats": 2, "points": 2, "seeds": 2, "parallel_repeats": 1}
YARDSTICK = 400_000
"""Iterations of the yardstick (``sweep_parallel.burn``): ~10–20 ms of pure Python."""
TARGET_MS = 10.0
TARGET_EFFICIENCY = 0.9


def cpu_per_call(function: Any, calls: int, first_seed: int) -> float:
    """CPU seconds per call of ``function(seed)`` over ``calls`` seeds."""
    started = time.process_time()
    for seed in range(first_seed, first_seed + calls):
        function(seed)
    return (time.process_time() - started) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny workload (smoke check)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    targets = load_targets(ROOT / "targets" / "msl.toml")
    scenario = scenario_for(ROOT / "scenarios" / "msl_exodus.toml", targets)
    problems: list[str] = []

    def summary(seed: int) -> None:
        ts.run(scenario, seed=seed).summary()

    def full(seed: int) -> np.ndarray:
        result = ts.run(scenario, seed=seed)
        arrays = RunArrays.of(result)
        return np.array([t.compute(result, arrays) for t in targets.targets])

    def lean(seed: int) -> np.ndarray:
        assert target_matrix is not None
        return target_matrix(scenario, targets, [seed])[0]

    def yardstick(seed: int) -> None:
        burn(YARDSTICK)

    variants: dict[str, Any] = {"yardstick": yardstick, "summary": summary, "full": full}
    full(1)  # warm-up (loads the compiled step)
    if target_matrix is not None:
        variants["lean"] = lean
        for seed in (1, 2):  # the paths agree
            if not np.array_equal(full(seed), lean(seed), equal_nan=True):
                problems.append(f"lean and full paths differ at seed {seed}")

    # 1. CPU per run, interleaved
    per_run: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(size["repeats"]):
        first = 100 + repeat * size["calls"]
        for name, function in variants.items():
            per_run[name].append(cpu_per_call(function, size["calls"], first))
    run_rows = []
    for name, values in per_run.items():
        ratios = [v / s for v, s in zip(values, per_run["summary"], strict=True)]
        sticks = [v / s for v, s in zip(values, per_run["yardstick"], strict=True)]
        run_rows.append(
            {
                "variant": name,
                "ms_median": 1e3 * statistics.median(values),
                "ms_min": 1e3 * min(values),
                "ms_max": 1e3 * max(values),
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "yardsticks_median": statistics.median(sticks),
                "yardsticks_min": min(sticks),
                "yardsticks_max": max(sticks),
                "ms_by_repeat": [1e3 * v for v in values],
            }
        )
    parallel_rows = [] if target_matrices is None else _parallel(scenario, targets, size, problems)
    figures = {
        "machine": machine_info(),
        "workload": {"scenario": "msl_exodus", "targets": "msl", **size},
        "per_run": run_rows,
        "parallel": parallel_rows,
        "problems": problems,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "calibration_path_quick.json" if args.quick else "calibration_path.json"
    (out / name).write_text(json.dumps(figures, indent=2))
    _print(run_rows, parallel_rows, size, problems)
    return 1 if problems else 0


def _parallel(
    scenario: ts.Scenario, targets: Any, size: dict[str, int], problems: list[str]
) -> list[dict[str, float]]:
    """Serial and two-warm-worker target matrices, interleaved, with the machine ceiling."""
    assert target_matrices is not None
    points = [
        {"labs.MSL.pay_level": 2.0 + 0.1 * p, "market.switching_cost": 1.0 + 0.05 * p}
        for p in range(size["points"])
    ]
    seeds = list(range(1, size["seeds"] + 1))
    runs = len(points) * len(seeds)
    pool = experiments.shared_pool(2)
    target_matrices(scenario, targets, points[:2], seeds[:2], workers=2)  # start the workers
    iterations = burn_iterations(0.25)
    rows = []
    for _ in range(size["parallel_repeats"]):
        started = time.perf_counter()
        serial = target_matrices(scenario, targets, points, seeds, workers=1)
        serial_s = time.perf_counter() - started
        started = time.perf_counter()
        parallel = target_matrices(scenario, targets, points, seeds, workers=2)
        parallel_s = time.perf_counter() - started
        if not np.array_equal(serial, parallel, equal_nan=True):
            problems.append("serial and parallel target matrices differ")
        ceiling_serial, ceiling_parallel = machine_ceiling(pool, iterations, 4)
        rows.append(
            {
                "serial_s": serial_s,
                "parallel_s": parallel_s,
                "runs": runs,
                "runs_per_s_per_core_serial": runs / serial_s,
                "runs_per_s_per_core_parallel": runs / (2 * parallel_s),
                "efficiency": serial_s / (2 * parallel_s),
                "ceiling": ceiling_serial / (2 * ceiling_parallel),
            }
        )
    return rows


def _print(
    run_rows: list[dict[str, Any]],
    parallel_rows: list[dict[str, float]],
    size: dict[str, int],
    problems: list[str],
) -> None:
    print(
        f"CPU per flagship run ({size['repeats']} repeats × {size['calls']} runs; load "
        f"{os.getloadavg()[0]:.1f}):"
    )
    print(
        f"{'variant':9} {'ms median':>10} {'ms min–max':>14} {'÷summary':>9} "
        f"{'÷yardstick':>11} {'range':>12}"
    )
    for row in run_rows:
        print(
            f"{row['variant']:9} {row['ms_median']:10.2f} "
            f"{row['ms_min']:6.2f}–{row['ms_max']:<6.2f} {row['ratio_median']:9.3f} "
            f"{row['yardsticks_median']:11.3f} "
            f"{row['yardsticks_min']:5.3f}–{row['yardsticks_max']:.3f}"
        )
    print(f"target: lean ≤ {TARGET_MS} ms CPU on a machine where summary took ~35 ms before")
    for row in parallel_rows:
        print(
            f"two warm workers, {row['runs']} runs: serial {row['serial_s']:.2f} s, "
            f"parallel {row['parallel_s']:.2f} s, runs/s/core "
            f"{row['runs_per_s_per_core_serial']:.1f} → {row['runs_per_s_per_core_parallel']:.1f}: "
            f"efficiency {row['efficiency']:.3f} "
            f"(machine ceiling {row['ceiling']:.3f})"
        )
    if parallel_rows:
        best = max(row["efficiency"] for row in parallel_rows)
        print(f"best efficiency {best:.3f} (target ≥ {TARGET_EFFICIENCY})")
    for problem in problems:
        print("PROBLEM:", problem)


if __name__ == "__main__":
    raise SystemExit(main())
