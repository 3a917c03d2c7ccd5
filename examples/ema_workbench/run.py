"""EMA Workbench over talentsim: experiments under deep uncertainty, then feature scoring.

EMA Workbench's ``Model`` wraps any Python function of named uncertainties that returns named
outcomes; a talentsim run is such a function in a few lines (``msl_outcomes`` below: dotted
scenario paths as the uncertainties, summary metrics as the outcomes). The example samples
the uncertainties (Latin hypercube, EMA's default), runs the experiments, and ranks which
uncertainties drive MSL's early attrition and boomerangs with extra-trees feature scoring
(``ema_workbench.analysis.feature_scoring``).

Usage: python examples/ema_workbench/run.py [--seeds N] [--out DIR] [--experiments N]
(``--seeds``: replicates per experiment; default output folder: results/ema_workbench)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from ema_workbench import Model, RealParameter, ScalarOutcome, perform_experiments
from ema_workbench.analysis import feature_scoring

import talentsim as ts

SCENARIO = Path(__file__).resolve().parent.parent.parent / "scenarios" / "msl_exodus.toml"
BASE = ts.load_scenario(SCENARIO).with_overrides({"time.duration": "13w"})
UNCERTAIN = {  # EMA names (identifiers) → dotted scenario paths, with their ranges
    "msl_pay": ("labs.MSL.pay_level", 2.0, 5.0),
    "msl_mission": ("labs.MSL.mission_clarity", 0.1, 0.9),
    "rival_amenity": ("labs.Rival.amenity", 0.0, 1.0),
    "offer_rate": ("market.offer_rate_employed", 1.0, 12.0),  # a plain number: per year
}
SEEDS: list[int] = [1, 2]


def msl_outcomes(**values: float) -> dict[str, float]:
    """The model function EMA Workbench calls: uncertainties in, outcomes out."""
    scenario = BASE.with_overrides({UNCERTAIN[name][0]: v for name, v in values.items()})
    summaries = [ts.run(scenario, seed=s).summary() for s in SEEDS]
    return {
        "early_attrition": float(np.mean([s["early_attrition.MSL"] for s in summaries])),
        "boomerangs": float(np.mean([s["boomerangs"] for s in summaries])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="replicates per experiment (2)")
    parser.add_argument("--experiments", type=int, default=None, help="experiments (200)")
    parser.add_argument("--out", default="results/ema_workbench")
    args = parser.parse_args()
    tiny = os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny"
    n = args.experiments or (12 if tiny else 200)
    SEEDS[:] = [int(s) for s in ts.seeds.seed_list(args.seeds, 0)]

    model = Model("talentsim_msl", function=msl_outcomes)
    model.uncertainties = [
        RealParameter(name, low, high) for name, (_, low, high) in UNCERTAIN.items()
    ]
    model.outcomes = [ScalarOutcome("early_attrition"), ScalarOutcome("boomerangs")]
    experiments, outcomes = perform_experiments(model, scenarios=n)

    x = experiments[list(UNCERTAIN)]
    scores = feature_scoring.get_feature_scores_all(x, outcomes)
    print(f"{n} experiments x {len(SEEDS)} seeds {SEEDS} (EMA Workbench, Latin hypercube)")
    print("feature scores (extra trees; higher: the uncertainty matters more):")
    print(scores.to_string(float_format=lambda v: f"{v:.3f}"))
    table = pd.concat([x, pd.DataFrame(outcomes)], axis=1)
    print(table.describe().loc[["mean", "min", "max"]].to_string(float_format=lambda v: f"{v:.3g}"))

    out = Path(args.out)
    ts.run(BASE, seed=SEEDS[0]).save(out, overwrite=True)
    print(f"first run (seed {SEEDS[0]}) saved to {out}")


if __name__ == "__main__":
    main()
