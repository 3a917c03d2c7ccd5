"""The "money isn't enough" phase diagram and the Sobol indices of early attrition.

1. Runs the sweep declared in ``phase.toml``: the highly paid lab's pay level × its rate of
   random reorganisations, 20 replicates per cell (``--seeds`` changes the replicates), into a
   resumable store; draws the share of its starting staff who never left in the first year, with the
   replicate means and 95% intervals in a table.
2. Runs a Saltelli design over the veterans' main preference weights (pay, mission, stability,
   peers, fairness) and prints the Sobol indices of early attrition (the share of the lab's
   starting staff gone within 13 weeks), with confidence intervals.

Usage: python examples/paper_sweep/run.py [--seeds N] [--out DIR] [--workers N]
(default output folder: results/paper_sweep)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim import plots
from talentsim.cli import positive_integer, run_output_folder, run_script
from talentsim.sweepfile import load_sweep_file

HERE = Path(__file__).resolve().parent
PAY, REORG = "labs.MSL.pay_level", "labs.MSL.reorg_rate"
WEIGHTS = {
    f"cohorts.msl_veterans.weights.{name}": {"low": 0.0, "high": 2.0}
    for name in ("pay", "mission", "stability", "peers", "fairness")
}


def phase_diagram(out: Path, replicates: int, workers: int | None) -> pd.DataFrame:
    """Run the phase sweep and draw retention over pay × reorganisation rate."""
    scenario, spec = load_sweep_file(HERE / "phase.toml")
    table = ts.sweep(
        scenario,
        spec.parameter_specs(),
        replicates=replicates,
        root_seed=spec.root_seed,
        metrics=spec.metrics,
        store=out / "phase-store",
        workers=workers,
        progress=sys.stderr.isatty(),
    )
    table["retention.MSL"] = 1.0 - table["attrition.MSL"]
    cells = ts.aggregate(table, ["retention.MSL"], by=[PAY, REORG])
    figure = plots.sweep_heatmap(table, PAY, REORG, "retention.MSL", percent=True)
    axes = figure.axes[0]
    axes.set_xlabel("MSL pay level (multiple of market value)")
    axes.set_ylabel("MSL reorganisations per year")
    # (the figure's own title, replaced: an axes title would be a second one under it)
    figure.suptitle("Share of MSL's starting staff who never left in the first year")
    figure.savefig(out / "phase_diagram.png", dpi=150)
    return cells


def sobol_indices(out: Path, replicates: int, samples: int, workers: int | None) -> pd.DataFrame:
    """Sobol indices of MSL's early attrition over the veterans' preference weights."""
    scenario = ts.load_scenario(HERE.parents[1] / "scenarios" / "msl_exodus.toml")
    table = ts.sweep(
        scenario,
        WEIGHTS,
        design="saltelli",
        samples=samples,
        replicates=replicates,
        metrics=["early_attrition.MSL"],
        store=out / "sobol-store",
        workers=workers,
        progress=sys.stderr.isatty(),
    )
    indices = ts.sensitivity(table, "early_attrition.MSL")
    plots.sensitivity_bars(indices).savefig(out / "sobol_indices.png", dpi=150)
    return indices


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run both experiments, print their tables, and return the phase-diagram cells."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seeds", type=positive_integer, default=20, help="replicates per cell (20)"
    )
    parser.add_argument(
        "--out", type=run_output_folder, default="results/paper_sweep", help="output folder"
    )
    parser.add_argument(
        "--workers", type=positive_integer, default=None, help="processes (all cores)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    # The first run of the phase sweep, saved as a results folder (replaces the folder).
    first = next(ts.replicates(HERE.parents[1] / "scenarios" / "msl_exodus.toml", 1))
    first.save(out, overwrite=True)

    cells = phase_diagram(out, args.seeds, args.workers)
    print(f"retention of MSL's starting staff after a year (mean of {args.seeds} seeds, 95% t CI)")
    shown = cells[[PAY, REORG, "mean", "ci_low", "ci_high"]].round(3)
    print(shown.to_string(index=False))
    samples = 64 if args.seeds >= 10 else 8
    indices = sobol_indices(out, max(2, args.seeds // 10), samples, args.workers)
    print("\nSobol indices of early attrition (share of MSL's starting staff gone in 13 weeks):")
    print(indices[["parameter", "index", "value", "ci_low", "ci_high"]].round(3).to_string())
    print(f"\nfigures: {out}/phase_diagram.png, {out}/sobol_indices.png")
    print(f"stores: {out}/phase-store, {out}/sobol-store")
    return cells


if __name__ == "__main__":
    raise SystemExit(run_script(main))
