"""Run the reorg_shock scenario over a few seeds: departures spike after each reorganisation.

For each seed the table shows the departures from the reorganised lab (quits and exits) per
four weeks in the month after each reorganisation and in the month before it, and the share of
its starting staff who left in the year with and without the reorganisations (the same seed,
so the same random draws). Below it, the mean departures per week around a reorganisation.

Usage: python examples/reorg_shock/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "reorg_shock.toml"
LAB = "Reorg"
WINDOW = 4  # weeks: "the month after" and "the month before" a reorganisation
PROFILE = 7  # weeks after a reorganisation in the profile (the last one is 7 weeks before the end)


def weekly_departures(result: ts.RunResult, lab: str = LAB) -> np.ndarray:
    """Voluntary departures (quits and exits) from ``lab`` in each step.

    Args:
        result: A finished run.
        lab: The lab's name.

    Returns:
        One count per step, indexed by step (step 0, the set-up, is 0).
    """
    rows = result.timeseries[result.timeseries["lab"] == lab].sort_values("step")
    return (rows["quits"] + rows["exits"]).to_numpy()


def reorg_steps(scenario: ts.Scenario) -> list[int]:
    """Steps at whose start the scheduled reorganisations are applied.

    An event at time t is applied at the start of step round(t / dt) + 1, so its effect shows
    in that step's decisions (``Scenario.event_schedule``, the rule the model follows).

    Args:
        scenario: The scenario.

    Returns:
        The steps, in order.
    """
    return [step for step, _ in scenario.event_schedule("reorganisation")]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Print departures around reorganisations, per replicate; return the table."""
    args = script_arguments(__doc__, argv)
    scenario = ts.load_scenario(SCENARIO)
    steps = reorg_steps(scenario)
    rows, profiles = [], []
    for replicate, result in enumerate(ts.replicates(scenario, args.seeds, save_first=args.out)):
        calm = ts.run(scenario, seed=result.seed, overrides={"events": []})
        departures = weekly_departures(result)
        after = np.mean([departures[s : s + WINDOW].sum() for s in steps])
        before = np.mean([departures[s - WINDOW : s].sum() for s in steps])
        profiles.append([departures[s - WINDOW : s + PROFILE] for s in steps])
        rows.append(
            {
                "replicate": replicate,
                "seed": result.seed,
                "left per month after a reorg": after,
                "left per month before": before,
                "attrition": result.summary()[f"attrition.{LAB}"],
                "attrition without reorgs": calm.summary()[f"attrition.{LAB}"],
            }
        )
    table = pd.DataFrame(rows).set_index("replicate")
    print(table.round(3).to_string())
    profile = np.mean(profiles, axis=(0, 1))
    weeks = range(-WINDOW, PROFILE)
    print("\nmean departures per week, by week relative to a reorganisation (0 = its first week):")
    print(pd.Series(profile, index=pd.Index(weeks, name="week")).round(2).to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
