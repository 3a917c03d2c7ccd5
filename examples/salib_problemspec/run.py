"""SALib's own chain (``ProblemSpec``: sample → evaluate → analyze) driving talentsim.

Users who know SALib need no wrapper: a ``ProblemSpec`` names dotted scenario paths as its
variables, and the model function is a few lines over :func:`talentsim.run` (plain numbers are
accepted for rates and weights in Python). This example

1. runs a Saltelli sweep with talentsim (``ts.sweep(..., design="saltelli")``) and its Sobol
   indices (``ts.sensitivity``) for the early attrition of MSL's starting staff;
2. gives the *same* sample to a SALib ``ProblemSpec`` (``set_samples``), evaluates it with a
   function that runs talentsim on the sweep's replicate seeds, analyses it with SALib's Sobol
   analyser (same bootstrap seed), and checks that both give the same indices — so the two
   routes are interchangeable, and the differences a user sees between two such analyses
   come from their samples and seeds, not from talentsim.

Usage: python examples/salib_problemspec/run.py [--seeds N] [--out DIR] [--samples N]
(``--seeds``: replicates per point; default output folder: results/salib_problemspec)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from SALib import ProblemSpec
from SALib.analyze import sobol

import talentsim as ts
from talentsim.cli import positive_integer, run_output_folder, run_script

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parent.parent / "scenarios" / "msl_exodus.toml"
OUTPUT = "early_attrition.MSL"
PARAMETERS = {  # dotted scenario paths and their ranges (plain numbers: see the module doc)
    "labs.MSL.pay_level": (2.0, 5.0),
    "labs.MSL.mission_clarity": (0.1, 0.9),
    "cohorts.msl_veterans.weights.stability": (0.0, 2.4),
}


def talentsim_model(x: np.ndarray, scenario: ts.Scenario, seeds: list[int]) -> np.ndarray:
    """SALib's model function: one row of ``x`` per point → the output averaged over seeds."""
    names = list(PARAMETERS)
    y = np.empty(x.shape[0])
    for i, row in enumerate(x):
        point = scenario.with_overrides(dict(zip(names, map(float, row), strict=True)))
        y[i] = np.mean([ts.run(point, seed=s).summary()[OUTPUT] for s in seeds])
    return y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=positive_integer, default=4, help="replicates per point (4)"
    )
    parser.add_argument(
        "--samples", type=positive_integer, default=None, help="Saltelli base sample N"
    )
    parser.add_argument("--out", type=run_output_folder, default="results/salib_problemspec")
    args = parser.parse_args()
    tiny = os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny"
    samples = args.samples or (4 if tiny else 32)
    scenario = ts.load_scenario(SCENARIO).with_overrides({"time.duration": "13w"})

    # 1. talentsim's route: a Saltelli sweep, then ts.sensitivity
    table = ts.sweep(
        scenario,
        {path: {"low": low, "high": high} for path, (low, high) in PARAMETERS.items()},
        design="saltelli",
        samples=samples,
        replicates=args.seeds,
        metrics=[OUTPUT],
        workers=1,
        progress=False,
    )
    ours = ts.sensitivity(table, OUTPUT, num_resamples=1000, seed=0)

    # 2. SALib's route on the same sample and seeds
    points = table.drop_duplicates("point").sort_values("point")
    seeds = sorted({int(s) for s in table["seed"]}, key=list(table["seed"]).index)
    spec = ProblemSpec(
        {
            "names": list(PARAMETERS),
            "bounds": [list(bounds) for bounds in PARAMETERS.values()],
            "outputs": [OUTPUT],
        }
    )
    spec.set_samples(points[list(PARAMETERS)].to_numpy(dtype=float))
    spec.evaluate(talentsim_model, scenario, seeds)
    spec.analyze(
        sobol.analyze,
        calc_second_order=False,
        num_resamples=1000,
        conf_level=0.95,
        seed=np.random.default_rng(0),  # as ts.sensitivity (SALib reads a seed of 0 as none)
    )
    theirs = spec.analysis  # SALib's ResultDict: S1, ST (and confidence) per variable
    rows = []
    for k, name in enumerate(PARAMETERS):
        for index in ("S1", "ST"):
            mine = ours[(ours["parameter"] == name) & (ours["index"] == index)]["value"].iloc[0]
            rows.append(
                {
                    "parameter": name,
                    "index": index,
                    "ts.sensitivity": mine,
                    "SALib": float(theirs[index][k]),
                }
            )
    both = pd.DataFrame(rows)
    print(f"Sobol indices of {OUTPUT}: {len(points)} points x {len(seeds)} seeds {seeds}")
    print(both.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    # the two routes must agree (same sample, same runs, same analyser and bootstrap seed)
    np.testing.assert_allclose(both["ts.sensitivity"], both["SALib"], rtol=1e-9, atol=1e-12)
    print("ts.sensitivity and SALib's ProblemSpec chain agree.")

    out = Path(args.out)
    ts.run(scenario, seed=seeds[0]).save(out, overwrite=True)
    print(f"first run (seed {seeds[0]}) saved to {out}")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
