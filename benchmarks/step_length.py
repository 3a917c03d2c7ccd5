"""The step-length effect on each shipped scenario: daily, weekly and monthly steps.

For each scenario in ``scenarios/`` and ``scenarios/fitted/`` (named ``fitted/NAME``) and
each step length, runs the scenario on 20 seeds and
reports a few key statistics as the mean over seeds with a 95% t interval (the numbers of
docs/validation.md, "Step length"). The statistics: every lab's attrition (share of its
starting staff who left during the run; ``RunResult.summary()``), the pool's headcount at
the end, the number of moves, and per scenario the statistic its story is about (MSL's core
researchers lost within 8 and 9 weeks; the share of the 40 poached who returned Home).

Usage: python benchmarks/step_length.py [--seeds 20] [--steps 1d 1w 1mo] [--scenario NAME ...]
(run it with ``PYTHONPATH`` pointing at another checkout to measure that code).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"

import talentsim as ts  # noqa: E402

WEEK = 7 / 365.25
STEPS = ("1d", "1w", "1mo")
CORE = ["msl_veterans", "stars_from_rival", "stars_from_frontier"]


def _core_lost(weeks: int) -> Callable[[ts.RunResult], float]:
    def metric(result: ts.RunResult) -> float:
        left = result.departures("MSL", cohorts=CORE, until=weeks * WEEK)
        return float(left["researcher"].nunique())

    return metric


def _returned_home(result: ts.RunResult) -> float:
    ev = result.events
    mask = (ev["cohort"] == "poached") & (ev["origin"] == "Poacher")
    returned = ev.loc[mask & (ev["destination"] == "Home") & (ev["kind"] == "return")]
    return float(returned["researcher"].nunique()) / 40.0


SPECIFIC: dict[str, dict[str, Callable[[ts.RunResult], float]]] = {
    "msl_exodus": {"MSL core lost in 8 weeks": _core_lost(8), "in 9 weeks": _core_lost(9)},
    "boomerang": {"share of the poached back Home": _returned_home},
}


def statistics(name: str, result: ts.RunResult) -> dict[str, float]:
    summary = result.summary()
    out = {
        f"attrition {lab}": float(summary[f"attrition.{lab}"]) for lab in result.scenario.lab_names
    }
    out["pool at the end"] = float(summary["headcount_end.outside"])
    out["moves"] = float(summary["moves"])
    story = Path(name).name.removesuffix("_fitted")  # a fitted scenario tells its base's story
    for label, metric in SPECIFIC.get(story, {}).items():
        out[label] = metric(result)
    return out


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95% t interval."""
    n = values.shape[0]
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def shipped() -> list[str]:
    """The shipped scenarios: ``scenarios/*.toml``, then the fitted ones (``fitted/NAME``)."""
    found = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    return found + sorted(f"fitted/{p.stem}" for p in (SCENARIOS / "fitted").glob("*.toml"))


def tables(seeds: int, steps: list[str], names: list[str] | None = None) -> str:
    """The markdown tables, one per scenario: statistic × step length, mean ± half-width."""
    names = names or shipped()
    lines: list[str] = []
    for name in names:
        base = ts.load_scenario(SCENARIOS / f"{name}.toml")
        rows: dict[str, dict[str, tuple[float, float]]] = {}
        for step in steps:
            scenario = base.with_overrides({"time.step": step})
            runs = [statistics(name, ts.run(scenario, seed=s)) for s in range(seeds)]
            rows[step] = {k: interval(np.array([r[k] for r in runs])) for k in runs[0]}
        lines += [f"**{name}** ({seeds} seeds; mean ± 95% t half-width)", ""]
        lines.append("| statistic | " + " | ".join(steps) + " |")
        lines.append("|---|" + "---|" * len(steps))
        for key in rows[steps[0]]:
            cells = []
            for step in steps:
                mean, half = rows[step][key]
                digits = 3 if abs(mean) < 10 else 1
                cells.append(f"{mean:.{digits}f} ± {half:.{digits}f}")
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", nargs="+", default=list(STEPS))
    parser.add_argument("--scenario", nargs="*", default=None)
    args = parser.parse_args(argv)
    print(tables(args.seeds, args.steps, args.scenario))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
