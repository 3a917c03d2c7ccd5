"""Run the boomerang scenario over a few seeds: poached researchers return to their old lab.

For each seed the table shows what became of the 40 researchers poached from Home: how many
returned to Home during the year and when (median weeks after the start), how many went to
Other (a lab just like Home they have no attachment to) or left for the outside, and how many
returned on the same seed with the attachment term switched off.

Usage: python examples/boomerang/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "boomerang.toml"
COHORT, POACHER, HOME, OTHER = "poached", "Poacher", "Home", "Other"
NO_ATTACHMENT = {"mechanisms.attachment": False}


def poached_moves(result: ts.RunResult) -> pd.DataFrame:
    """Moves of the poached cohort out of the poaching lab (rows of ``result.events``)."""
    return result.departures(POACHER, cohorts=[COHORT])


def returns_home(result: ts.RunResult) -> int:
    """Number of poached researchers' returns to the lab they were poached from.

    Args:
        result: A finished run.

    Returns:
        The count.
    """
    moves = poached_moves(result)
    return int(((moves["kind"] == "return") & (moves["destination"] == HOME)).sum())


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Print where the poached researchers went, per replicate; return the table."""
    args = script_arguments(__doc__, argv)
    scenario = ts.load_scenario(SCENARIO)
    rows = []
    for replicate, result in enumerate(ts.replicates(scenario, args.seeds, save_first=args.out)):
        moves = poached_moves(result)
        home = moves[(moves["kind"] == "return") & (moves["destination"] == HOME)]
        rows.append(
            {
                "replicate": replicate,
                "seed": result.seed,
                "returned to Home": len(home),
                "median week of return": home["step"].median(),
                "went to Other": int((moves["destination"] == OTHER).sum()),
                "left for the outside": int((moves["kind"] == "exit").sum()),
                "returned, no attachment": returns_home(
                    ts.run(scenario, seed=result.seed, overrides=NO_ATTACHMENT)
                ),
            }
        )
    table = pd.DataFrame(rows).set_index("replicate")
    print(f"{scenario.cohorts[COHORT].size} researchers poached from {HOME} at week 0")
    print(table.to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
