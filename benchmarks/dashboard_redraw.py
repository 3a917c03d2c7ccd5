"""Steps per second of the dashboard on the flagship: step + redraw, without a browser.

Mesa's player steps the model, redraws the page, then waits the *Play Interval* (100 ms by
default), so the dashboard plays at 1 / (interval + step and redraw). This renders the
dashboard for ``scenarios/msl_exodus.toml`` with solara (no browser, no server), presses its
Step button ``--steps`` times and times each press: the model's step plus the re-render of
every panel, the PNG charts included. It also times the parts on a model of its own (the
step, each chart, the feed, the status table).

Given two checkouts (before / after a change), each measurement runs in a child process
importing talentsim from that checkout, and the checkouts alternate round by round (A, B, A,
B, ...), so that the machine's load falls on both alike: compare the **ratio** of their
medians, taken side by side, rather than absolute times on a shared machine.

Usage: python benchmarks/dashboard_redraw.py [CHECKOUT ...] [--steps 50] [--rounds 3]
[--interval 100] [--quick] (default checkout: this one)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import ipyvuetify as v
import solara
import talentsim as ts
from talentsim import viz

assert ts.__file__.startswith({root!r}), ts.__file__
spec = ts.load_scenario({root!r} + "/scenarios/msl_exodus.toml")
steps = min({steps}, spec.time.n_steps)
_, rc = solara.render(solara.AppLayout(children=[viz.dashboard(spec, seed=42)]), handle_error=False)
button = rc.find(v.Btn, children=["Step"]).widget
press = []
for _ in range(steps):
    start = time.perf_counter()
    button.click()
    press.append(time.perf_counter() - start)
parts = {{"step": [], "headcount": [], "flows": [], "feed": [], "status": []}}
model = viz.DashboardModel(spec, seed=42)
window = max(1, round(0.25 / spec.time.step))
calls = {{
    "step": model.step,
    "headcount": lambda: viz.headcount_png(model),
    "flows": lambda: viz.flows_png(model, window),
    "feed": lambda: viz.event_feed(model, limit=viz.FEED_LENGTH),
    "status": lambda: viz.status_html(model),
}}
for _ in range(steps):
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        parts[name].append(time.perf_counter() - start)
print(json.dumps({{"press": press, "parts": parts}}))
"""


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", default=[str(ROOT)])
    parser.add_argument("--steps", type=int, default=50, help="presses of Step per round (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per checkout (3)")
    parser.add_argument("--interval", type=float, default=100, help="play interval, ms (100)")
    parser.add_argument("--quick", action="store_true", help="smoke check: 5 steps, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 5, 1
    roots = [str(Path(c).resolve()) for c in args.checkouts]
    runs: dict[str, list[dict[str, list[float]]]] = {root: [] for root in roots}
    for _ in range(args.rounds):
        for root in roots:
            code = CHILD.format(root=root, steps=args.steps)
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                sys.exit(f"{root}: the child failed:\n{done.stderr}")
            runs[root].append(json.loads(done.stdout.splitlines()[-1]))
    print(
        f"flagship dashboard, {args.steps} presses of Step x {args.rounds} rounds per checkout "
        f"(ms; parts: medians; steps/s: 1 / (play interval {args.interval:g} ms + mean press))"
    )
    header = f"{'checkout':<24} {'press':>7}{'mean':>7}{'p90':>7}{'steps/s':>9}"
    names = list(runs[roots[0]][0]["parts"])
    print(header + "".join(f"{name:>11}" for name in names))
    medians = {}
    for root in roots:
        presses = [t for run in runs[root] for t in run["press"]]
        press = _median_ms(presses)
        mean = 1000 * statistics.fmean(presses)
        p90 = 1000 * statistics.quantiles(presses, n=10)[-1]
        medians[root] = press
        parts = [_median_ms([t for run in runs[root] for t in run["parts"][n]]) for n in names]
        rate = 1000 / (args.interval + mean)
        print(
            f"{Path(root).name:<24} {press:>7.1f}{mean:>7.1f}{p90:>7.1f}{rate:>9.2f}"
            + "".join(f"{value:>11.1f}" for value in parts)
        )
    if len(roots) > 1:
        first = medians[roots[0]]
        for root in roots[1:]:
            ratio = medians[root] / first
            print(f"median press {Path(root).name} / {Path(roots[0]).name}: {ratio:.2f}")


if __name__ == "__main__":
    main()
