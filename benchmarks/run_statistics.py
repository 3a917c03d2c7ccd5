"""Cost of the calibration statistics (talentsim.run_statistics) on a flagship-size run.

A calibration runs 10^4 simulations and computes a few statistics on each, so each statistic
must cost little beside the run itself. For each statistic this measures the time of one call
on the flagship run's arrays (``RunArrays``, built once per run and shared by every statistic)
and reports it in microseconds and as a ratio to the run (building and stepping the flagship
scenario for its 52 weekly steps), timed side by side in the same process. Building the arrays
is reported the same way.

    .venv/bin/python benchmarks/run_statistics.py            # 2,000 calls per statistic
    .venv/bin/python benchmarks/run_statistics.py --quick    # smoke check

Writes ``benchmarks/results/run_statistics.csv`` (or ``--out FOLDER``). Exit status 0: the
figures are printed, not judged (a shared machine's noise is not a code failure).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim import run_statistics as rs

ROOT = Path(__file__).resolve().parent.parent
CORE = ["msl_veterans", "stars_from_rival", "stars_from_frontier"]
CALLS = {
    "departures": lambda a: rs.departures(a, "MSL", cohorts=CORE, window=(0, "2mo")),
    "attrition_rate": lambda a: rs.attrition_rate(a, "Rival"),
    "new_hire_retention": lambda a: rs.new_hire_retention(
        a, "Rival", hired=(0, "6mo"), after="6mo"
    ),
    "retention": lambda a: rs.retention(a, "MSL", cohorts=CORE, at="26w"),
    "boomerang_share": lambda a: rs.boomerang_share(a),
    "mean_time_to_return": lambda a: rs.mean_time_to_return(a),
    "outside_share": lambda a: rs.outside_share(a, "MSL"),
    "median_tenure_at_departure": lambda a: rs.median_tenure_at_departure(a, "MSL"),
    "exit_reason_share": lambda a: rs.exit_reason_share(a, "stability", "MSL"),
    "flow_ratio": lambda a: rs.flow_ratio(a, "Frontier", "Rival"),
    "flow_share": lambda a: rs.flow_share(a, "Frontier", "Rival"),
}


def per_call(function, argument, calls: int) -> float:
    """Best of three timings of ``calls`` calls, per call (seconds)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            function(argument)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few calls (smoke check)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    calls, runs = (20, 2) if args.quick else (2000, 20)
    scenario = ts.load_scenario(ROOT / "scenarios" / "msl_exodus.toml")
    result = ts.run(scenario, seed=1)  # compiles on a fresh install
    run_time = per_call(lambda seed: ts.run(scenario, seed=seed), 2, runs)
    arrays = rs.RunArrays.of(result)
    rows = [
        {
            "statistic": "RunArrays.of",
            "seconds": per_call(rs.RunArrays.of, result, calls // 10 or 1),
        }
    ]
    rows += [
        {"statistic": name, "seconds": per_call(call, arrays, calls)}
        for name, call in CALLS.items()
    ]
    table = pd.DataFrame(rows)
    table["microseconds"] = table["seconds"] * 1e6
    table["ratio_to_run"] = table["seconds"] / run_time
    print(f"flagship run: {run_time * 1e3:.1f} ms ({len(result.events)} moves)")
    print(table[["statistic", "microseconds", "ratio_to_run"]].to_string(index=False))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "run_statistics_quick.csv" if args.quick else "run_statistics.csv"
    table.assign(run_seconds=run_time).to_csv(out / name, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
