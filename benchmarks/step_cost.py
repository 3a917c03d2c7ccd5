"""Time per step of two checkouts of talentsim, side by side (before/after a model change).

Each measurement runs in a child process with ``PYTHONPATH`` set to one checkout, and the
checkouts alternate (A, B, A, B, ...), so that the machine's load falls on both alike; the
ratio of the best times per step is reported per workload.

Usage: python benchmarks/step_cost.py BEFORE_CHECKOUT AFTER_CHECKOUT [--rounds 3] [--only 10^6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import talentsim as ts
from benchmarks.workloads import core_market, scaled_flagship
def searching(gap_sensitivity):
    data = scaled_flagship(1_000_000, 20, duration="2y").to_dict()
    data["search"] = {{"gap_sensitivity": gap_sensitivity, "turmoil_sensitivity": 0.5}}
    return ts.Scenario.from_dict(data, source="search effort")
workloads = {{
    "flagship 10^6 with search effort (gap and turmoil), weekly": lambda: searching(1.0),
    "flagship 10^6 with search effort (turmoil only), weekly": lambda: searching(0.0),
    "core market, 10^5 researchers, weekly": lambda: core_market(100_000, labs=5, duration="5y"),
    "flagship scaled to 10^6, 20 labs, weekly": (
        lambda: scaled_flagship(1_000_000, 20, duration="2y")
    ),
}}
model = ts.TalentModel(workloads[{name!r}](), seed=1)
for _ in range(3):
    model.step()
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    for _ in range({steps}):
        model.step()
    best = min(best, (time.perf_counter() - start) / {steps})
print(json.dumps(best))
"""

WORKLOADS = {
    "flagship 10^6 with search effort (gap and turmoil), weekly": 8,
    "flagship 10^6 with search effort (turmoil only), weekly": 8,
    "core market, 10^5 researchers, weekly": 20,
    "flagship scaled to 10^6, 20 labs, weekly": 8,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="run the workloads whose name contains this")
    args = parser.parse_args(argv)
    for name, steps in WORKLOADS.items():
        if args.only not in name:
            continue
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for label in ("before", "after"):
                root = getattr(args, label)
                code = CHILD.format(root=root, name=name, steps=steps)
                env_path = {"PYTHONPATH": root}
                out = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=root,
                    env={**__import__("os").environ, **env_path},
                )
                times[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        before, after = min(times["before"]), min(times["after"])
        print(
            f"{name}: before {before * 1e3:.2f} ms/step, after {after * 1e3:.2f} ms/step, "
            f"ratio {after / before:.3f} (runs: {times})"
        )


if __name__ == "__main__":
    main()
