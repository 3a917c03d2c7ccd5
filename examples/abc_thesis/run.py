"""The flagship's thesis under an ABC posterior: how often the article's facts hold.

``examples/fit_shipped`` fits the flagship's market to the public figures for labs without
shocks by simulated moments and reports the article's facts across the SMM confidence set.
This example does the Bayesian counterpart: ABC-SMC (:func:`ts.calibrate` with
``method="abc"``, pyabc) over the same five parameters with uniform priors on the same bounds,
to ``targets/labs_without_shocks.toml``; then it draws parameter vectors from the posterior
(by their weights), runs the scenario as shipped otherwise, and reports the probability that
each of the article's counts (``targets/msl.toml``) holds, with 95% Wilson intervals.

Usage: python examples/abc_thesis/run.py [--seeds N] [--out DIR] [--population N] [--abc-seed N]
(the facts are counted over ``--draws`` × ``--seeds`` runs, each with a parameter vector
drawn from the posterior and a seed of its own; ``--abc-seed``: the ABC run's seed, 1 by
default: the run is reproducible on 2 workers; default output folder: results/abc_thesis)
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import talentsim as ts
from talentsim.cli import positive_integer, run_output_folder, run_script
from talentsim.smm import Parameter
from talentsim.targets import load_targets

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIO = ROOT / "scenarios" / "msl_exodus.toml"
PARAMETERS = [  # the five the SMM fit keeps (examples/fit_shipped), uniform priors on its bounds
    Parameter("market.noise_scale", 0.2, 1.5),
    Parameter("market.switching_cost", 0.5, 3.0),
    Parameter("labs.Rival.amenity", 0.0, 1.0),
    Parameter("labs.Rival.rehire_rate", 0.0, 1.0),
    Parameter("labs.Frontier.rehire_rate", 0.0, 1.0),
]


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson interval of a binomial proportion."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=positive_integer,
        default=2,
        help="runs per posterior draw (2): draws x seeds runs, each its own draw and seed",
    )
    parser.add_argument("--population", type=positive_integer, default=None, help="particles (200)")
    parser.add_argument(
        "--draws", type=positive_integer, default=None, help="posterior draws (100)"
    )
    parser.add_argument(
        "--generations", type=positive_integer, default=None, help="ABC generations (4)"
    )
    parser.add_argument(
        "--abc-seed", type=int, default=1, help="seed of the ABC run (1; reproducible)"
    )
    parser.add_argument("--out", type=run_output_folder, default="results/abc_thesis")
    args = parser.parse_args()
    tiny = os.environ.get("TALENTSIM_EXAMPLE_BUDGET") == "tiny"
    population = args.population or (20 if tiny else 200)
    draws = args.draws or (6 if tiny else 100)
    generations = args.generations or (2 if tiny else 4)
    scenario = ts.load_scenario(SCENARIO)
    with tempfile.TemporaryDirectory() as folder:
        fit = ts.calibrate(
            scenario,
            ROOT / "targets" / "labs_without_shocks.toml",
            PARAMETERS,
            method="abc",
            fix_unidentified=False,
            population_size=population,
            max_generations=generations,
            max_simulations=20 * population * generations,
            db=str(Path(folder) / "abc.db"),
            workers=1 if tiny else 2,
            seed=args.abc_seed,
        )
    posterior = fit.posterior
    print(fit.format())

    facts = load_targets(ROOT / "targets" / "msl.toml")
    # Every run has a parameter vector drawn from the posterior and a seed of its own, so the
    # runs are independent draws of the posterior predictive and the Wilson interval applies.
    # (Until 5 December 2026 all draws ran on the same two seeds: the runs of one seed are
    # strongly alike across parameter values, and on those two seeds "all three" could not
    # happen at any parameter value, so the table reported the seeds, not the posterior.)
    n_runs = draws * args.seeds
    rng = np.random.default_rng(7)
    rows = rng.choice(len(posterior), size=n_runs, p=posterior["weight"].to_numpy())
    seeds = [int(s) for s in ts.seeds.seed_list(n_runs, 11)]
    holds = []
    for row, seed in zip(rows, seeds, strict=True):
        values = {p.path: float(posterior.iloc[row][p.path]) for p in PARAMETERS}
        result = ts.run(scenario.with_overrides(values), seed=seed)
        held = {t.name: t.compute(result) >= t.at_least for t in facts.targets}
        holds.append({**held, "all three": all(held.values())})
    table = pd.DataFrame(holds)
    n = len(table)
    summary = pd.DataFrame(
        [
            {
                "fact": fact,
                "runs": n,
                "probability": table[fact].mean(),
                **dict(zip(("low", "high"), wilson(int(table[fact].sum()), n), strict=True)),
            }
            for fact in table.columns
        ]
    )
    print(
        f"\nThe article's facts under the ABC posterior: {n_runs} runs, each with its own "
        f"posterior draw and seed (ts.seeds.seed_list({n_runs}, 11))"
    )
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out = Path(args.out)
    ts.run(scenario, seed=seeds[0]).save(out, overwrite=True)
    summary.to_csv(out / "facts_under_the_posterior.csv", index=False)
    posterior.to_csv(out / "posterior.csv", index=False)
    print(f"first run (seed {seeds[0]}), the posterior and the table saved to {out}")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
