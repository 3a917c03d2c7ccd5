"""EMA Workbench over talentsim: experiments under deep uncertainty, feature scoring, then PRIM.

EMA Workbench's ``Model`` wraps any Python function of named uncertainties that returns named
outcomes; a talentsim run is such a function in a few lines (``msl_outcomes`` below: dotted
scenario paths as the uncertainties, summary metrics as the outcomes). The example samples
the uncertainties (Latin hypercube, EMA's default), runs the experiments, ranks which
uncertainties drive MSL's early attrition and boomerangs with extra-trees feature scoring
(``ema_workbench.analysis.feature_scoring``), then asks PRIM
(``ema_workbench.analysis.prim``) for scenario discovery: in which region of the
uncertainties does MSL lose more of its starting staff than in the typical experiment (early
attrition above its median across the experiments)?

Usage: python examples/ema_workbench/run.py [--seeds N] [--out DIR] [--experiments N]
(``--seeds``: replicates per experiment; default output folder: results/ema_workbench)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ema_workbench import Model, RealParameter, ScalarOutcome, perform_experiments
from ema_workbench.analysis import feature_scoring, prim

import talentsim as ts
from talentsim.cli import positive_integer, run_output_folder, run_script

SCENARIO = Path(__file__).resolve().parent.parent.parent / "scenarios" / "msl_exodus.toml"
BASE = ts.load_scenario(SCENARIO).with_overrides({"time.duration": "13w"})
UNCERTAIN = {  # EMA names (identifiers) → dotted scenario paths, with their ranges
    "msl_pay": ("labs.MSL.pay_level", 2.0, 5.0),
    "msl_mission": ("labs.MSL.mission_clarity", 0.1, 0.9),
    "rival_amenity": ("labs.Rival.amenity", 0.0, 1.0),
    "offer_rate": ("market.offer_rate_employed", 1.0, 12.0),  # a plain number: per year
}
SEEDS: list[int] = [1, 2]
SAMPLE_SEED = 0
"""Seed of EMA's Latin hypercube (the experiments are the same from one run to the next)."""

# Scenario discovery: the cases of interest are the experiments where MSL's early attrition
# is above its median across the experiments. PRIM peels the box of all experiments into a
# smaller one where those cases are denser; along its peeling trajectory coverage (the share
# of all cases of interest that the box holds) falls as density (the share of the box's
# experiments that are cases of interest) rises. The box reported is the one with the highest
# coverage among those with a density of at least DENSITY and at least MIN_EXPERIMENTS
# experiments; a trajectory without one means PRIM found no box.
OUTCOME = "early_attrition"
DENSITY = 0.8
MIN_EXPERIMENTS = 5
"""Fewer experiments in a box make an anecdote, not a scenario."""


def msl_outcomes(**values: float) -> dict[str, float]:
    """The model function EMA Workbench calls: uncertainties in, outcomes out."""
    scenario = BASE.with_overrides({UNCERTAIN[name][0]: v for name, v in values.items()})
    summaries = [ts.run(scenario, seed=s).summary() for s in SEEDS]
    return {
        "early_attrition": float(np.mean([s["early_attrition.MSL"] for s in summaries])),
        "boomerangs": float(np.mean([s["boomerangs"] for s in summaries])),
    }


def discover(x: pd.DataFrame, outcome: np.ndarray) -> dict[str, Any]:
    """PRIM on the experiments: the box where ``outcome`` above its median is concentrated.

    Returns the question, the cases of interest, PRIM's settings, its whole peeling
    trajectory (each box's limits, coverage, density, mass, experiments inside) and the box
    chosen from it (``None`` when no box qualifies, with a note saying why).
    """
    threshold = float(np.median(outcome))
    of_interest = outcome > threshold
    n, k = len(outcome), int(of_interest.sum())
    mass_min = max(0.05, MIN_EXPERIMENTS / n)
    found: dict[str, Any] = {
        "question": f"where is MSL's {OUTCOME.replace('_', ' ')} above its median?",
        "outcome": OUTCOME,
        "threshold": threshold,
        "experiments": n,
        "cases_of_interest": k,
        "settings": {
            "peel_alpha": 0.05,
            "paste_alpha": 0.05,
            "mass_min": mass_min,
            "density_at_least": DENSITY,
            "experiments_at_least": MIN_EXPERIMENTS,
        },
        "trajectory": [],
        "box": None,
    }
    if k == 0:
        found["note"] = "no case of interest: over half of the experiments share the largest value"
        return found
    algorithm = prim.Prim(x, of_interest, peel_alpha=0.05, paste_alpha=0.05, mass_min=mass_min)
    box = algorithm.find_box()
    for i, row in box.peeling_trajectory.iterrows():
        limits = box.box_lims[i]
        stats, restricted = box.inspect(int(i), style="data")[0]
        found["trajectory"].append(
            {
                "index": int(i),
                "coverage": float(row["coverage"]),
                "density": float(row["density"]),
                "mass": float(row["mass"]),
                "inside": int(row["n"]),
                "of_interest_inside": int(row["k"]),
                "limits": {
                    name: {"min": float(limits.at[0, name]), "max": float(limits.at[1, name])}
                    for name in x.columns
                },
                "restricted": {
                    name: {
                        "min": float(values.iloc[0]),
                        "max": float(values.iloc[1]),
                        # quasi-p-values of the lower and upper limit (None: not restricted)
                        "qp": [_number(values.iloc[2]), _number(values.iloc[3])],
                    }
                    for name, values in restricted.iterrows()
                },
            }
        )
        assert int(stats["n"]) == int(row["n"])
    eligible = [
        entry
        for entry in found["trajectory"]
        if entry["restricted"]
        and entry["density"] >= DENSITY
        and entry["inside"] >= MIN_EXPERIMENTS
    ]
    if eligible:
        found["box"] = max(eligible, key=lambda e: (e["coverage"], e["density"]))["index"]
    else:
        sizable = [e["density"] for e in found["trajectory"] if e["inside"] >= MIN_EXPERIMENTS]
        best = f" (the best reached {max(sizable):.2f})" if sizable else ""
        why = (
            f"with {n} experiments that is no surprise: run more (--experiments 200)"
            if n < 100
            else "the cases of interest do not gather in a box of these uncertainties"
        )
        found["note"] = (
            f"PRIM found no box: none on its peeling trajectory holds {MIN_EXPERIMENTS} or more "
            f"experiments at a density of {DENSITY:g} or more{best}; {why}"
        )
    return found


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def print_discovery(found: dict[str, Any], x: pd.DataFrame) -> None:
    """The box PRIM found (or why none), as a table a reader can follow."""
    print(
        f"scenario discovery (PRIM): {found['question']} "
        f"(cases of interest: {OUTCOME} > {found['threshold']:.3g}, "
        f"{found['cases_of_interest']} of {found['experiments']} experiments)"
    )
    if found["box"] is None:
        print(found["note"])
        return
    box = found["trajectory"][found["box"]]
    print(
        f"box {box['index']} of the peeling trajectory (boxes 0-{len(found['trajectory']) - 1}): "
        f"coverage {box['coverage']:.2f} (share of the cases of interest inside), "
        f"density {box['density']:.2f} (share of the experiments inside that are cases), "
        f"{box['inside']} experiments inside (mass {box['mass']:.2f})"
    )
    rows = [
        {
            "uncertainty": name,
            "path": UNCERTAIN[name][0],
            "box min": limits["min"],
            "box max": limits["max"],
            "sampled min": float(x[name].min()),
            "sampled max": float(x[name].max()),
            "qp (low, high)": ", ".join("-" if q is None else f"{q:.2g}" for q in limits["qp"]),
        }
        for name, limits in box["restricted"].items()
    ]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("(qp: PRIM's quasi-p-value of each limit; '-': the limit is the sampled edge)")
    weak = [
        name
        for name, limits in box["restricted"].items()
        if any(q is not None and q > 0.05 for q in limits["qp"])
    ]
    if weak:
        print(
            f"limits with a quasi-p-value above 0.05 ({', '.join(weak)}) may be chance: "
            f"{found['experiments']} experiments are few for PRIM (run more: --experiments 200)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=positive_integer, default=2, help="replicates per experiment (2)"
    )
    parser.add_argument(
        "--experiments", type=positive_integer, default=None, help="experiments (200)"
    )
    parser.add_argument("--out", type=run_output_folder, default="results/ema_workbench")
    args = parser.parse_args()
    tiny = os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny"
    n = args.experiments or (12 if tiny else 200)
    SEEDS[:] = [int(s) for s in ts.seeds.seed_list(args.seeds, 0)]

    model = Model("talentsim_msl", function=msl_outcomes)
    model.uncertainties = [
        RealParameter(name, low, high) for name, (_, low, high) in UNCERTAIN.items()
    ]
    model.outcomes = [ScalarOutcome("early_attrition"), ScalarOutcome("boomerangs")]
    experiments, outcomes = perform_experiments(
        model, scenarios=n, uncertainty_sampling_kwargs={"rng": SAMPLE_SEED}
    )

    x = experiments[list(UNCERTAIN)]
    scores = feature_scoring.get_feature_scores_all(x, outcomes)
    print(f"{n} experiments x {len(SEEDS)} seeds {SEEDS} (EMA Workbench, Latin hypercube)")
    print("feature scores (extra trees; higher: the uncertainty matters more):")
    print(scores.to_string(float_format=lambda v: f"{v:.3f}"))
    table = pd.concat([x, pd.DataFrame(outcomes)], axis=1)
    print(table.describe().loc[["mean", "min", "max"]].to_string(float_format=lambda v: f"{v:.3g}"))

    found = discover(x, np.asarray(outcomes[OUTCOME], dtype=float))
    print_discovery(found, x)

    out = Path(args.out)
    ts.run(BASE, seed=SEEDS[0]).save(out, overwrite=True)
    document = {
        "uncertainties": {name: [path, low, high] for name, (path, low, high) in UNCERTAIN.items()},
        "seeds": SEEDS,
        "sample_seed": SAMPLE_SEED,
        "experiments": table.to_dict(orient="list"),
        "scenario_discovery": found,
    }
    with open(out / "scenario_discovery.json", "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, allow_nan=False)
    print(f"first run (seed {SEEDS[0]}) saved to {out}")
    print(f"experiments and PRIM's boxes: {out / 'scenario_discovery.json'}")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
