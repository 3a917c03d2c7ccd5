"""The case-study figures of docs/case-msl.md, drawn with talentsim.plots.

Runs the flagship and three counterfactuals (no reorganisations, doubled pay, no reputation
effect) on the same spawned seeds — common random numbers, so differences between variants
are paired — and draws:

- ``msl_core_retention.png``: the share of MSL's starting core still there, per variant, with
  95% t bands across seeds (:func:`talentsim.plots.retention`);
- ``msl_tenure_survival.png``: tenure at MSL by cohort, Kaplan–Meier with delayed entry and
  right censoring, pooled over seeds (:func:`talentsim.plots.tenure_survival`);
- ``msl_exit_reasons.png``: why the core left MSL (:func:`talentsim.plots.exit_reasons`);
- ``msl_flows_8w.png``: who moved where in the first eight weeks (:func:`talentsim.plots.flows`);
- ``msl_headcounts.png``: headcount per lab with 95% t bands (:func:`talentsim.plots.headcount`);
- ``msl_offer_acceptance.png``: the share of MSL's offers accepted, with and without the
  reputation effect (:func:`talentsim.plots.offer_acceptance`);
- ``msl_effects.png``: the paired effects of the counterfactuals on retention and flows, with
  95% t intervals (:func:`talentsim.plots.comparison_effects`).

Usage: python examples/msl_exodus/figures.py [--seeds N] [--out DIR] [--figures DIR]
(default figures folder: docs/figures, or DIR/figures when --out is given)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim import plots
from talentsim.cli import output_folder, positive_integer, run_output_folder, run_script
from talentsim.compare import BASELINE, Comparison, paired_effects
from talentsim.seeds import spawn_seeds

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "msl_exodus.toml"
CORE = ["msl_veterans", "stars_from_rival", "stars_from_frontier"]
WEEK = 7 / 365.25
AS_IT_HAPPENED = "as it happened"
VARIANTS = {
    AS_IT_HAPPENED: {},
    "no reorganisations": {"events": [], "mechanisms.random_reorganisations": False},
    "MSL pay doubled": {"labs.MSL.pay_level": 5.0},
    "no reputation effect": {"mechanisms.reputation": False},
}
DPI = 150


def metrics(result: ts.RunResult) -> dict[str, float]:
    """What the counterfactuals change: the core's retention, MSL's pull, Rival's gain."""
    return {
        "core retained at 8 weeks": result.retention("MSL", cohorts=CORE, at=8 * WEEK),
        "core retained at 26 weeks": result.retention("MSL", cohorts=CORE, at=26 * WEEK),
        "core retained at 1 year": result.retention("MSL", cohorts=CORE),
        "MSL offers accepted, weeks 12-30": result.offer_acceptance("MSL", 12 * WEEK, 30 * WEEK),
        "net_flow.Rival": float(result.summary()["net_flow.Rival"]),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the replicates, draw the figures, print a table of means per variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seeds", type=positive_integer, default=20, help="replicates per variant (20)"
    )
    parser.add_argument(
        "--out", type=run_output_folder, default=None, help="save the first baseline run here"
    )
    parser.add_argument(
        "--figures", type=output_folder, default=None, help="folder for the PNG figures"
    )
    args = parser.parse_args(argv)
    figures = Path(
        args.figures or (Path(args.out) / "figures" if args.out else ROOT / "docs/figures")
    )

    scenario = ts.load_scenario(SCENARIO)
    seeds = spawn_seeds(0, args.seeds)
    results = {
        name: [ts.run(scenario, seed=seed, overrides=overrides) for seed in seeds]
        for name, overrides in VARIANTS.items()
    }
    if args.out:
        results[AS_IT_HAPPENED][0].save(args.out, overwrite=True)
    figures.mkdir(parents=True, exist_ok=True)  # after saving: a save replaces its folder

    # Paired by seed: the effects of each counterfactual with t intervals.
    runs = pd.DataFrame(
        [
            {
                "variant": BASELINE if name == AS_IT_HAPPENED else name,
                "replicate": replicate,
                "seed": result.seed,
                **metrics(result),
            }
            for name, replicates in results.items()
            for replicate, result in enumerate(replicates)
        ]
    )
    comparison = Comparison(
        runs=runs,
        effects=paired_effects(runs, 0.95),
        variants={name: o for name, o in VARIANTS.items() if name != AS_IT_HAPPENED},
        confidence=0.95,
        scenario=scenario,
    )

    baseline = results[AS_IT_HAPPENED]
    drawn = {
        "msl_core_retention": plots.retention(
            {name: results[name] for name in list(VARIANTS)[:3]}, "MSL", cohorts=CORE
        ),
        "msl_tenure_survival": plots.tenure_survival(baseline, labs=["MSL"], cohorts=CORE),
        "msl_exit_reasons": plots.exit_reasons(baseline, labs=["MSL"], cohorts=CORE),
        "msl_flows_8w": plots.flows(baseline, end="8w"),
        "msl_headcounts": plots.headcount(baseline),
        "msl_offer_acceptance": plots.offer_acceptance(
            {name: results[name] for name in (AS_IT_HAPPENED, "no reputation effect")}, "MSL"
        ),
        "msl_effects": plots.comparison_effects(
            comparison,
            metrics=[
                "core retained at 8 weeks",
                "core retained at 26 weeks",
                "MSL offers accepted, weeks 12-30",
                "net_flow.Rival",
            ],
        ),
    }
    for name, figure in drawn.items():
        figure.savefig(figures / f"{name}.png", dpi=DPI)

    table = runs.groupby("variant", sort=False).mean(numeric_only=True)
    table = table.drop(columns=["replicate", "seed"]).rename(index={BASELINE: AS_IT_HAPPENED})
    table.index.name = f"variant (mean of {args.seeds} seeds)"
    print(table.round(3).T.to_string())
    print(f"figures written to {figures}/")
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
