"""Run the pay_compression scenario over a few seeds: the veterans leave a hiring spree.

For each seed the table shows the newcomers' pay for their worth against the veterans', the
share of the 100 veterans who left the lab during the year, the share of their departures whose
main reason was fairness, how many of them came back to the lab (returners are paid as former
staff: the pay level, without the new-hire premium), and
the veterans' attrition on the same seed without the fairness term and without the premium.

Usage: python examples/pay_compression/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments
from talentsim.results import main_reasons

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "pay_compression.toml"
LAB, COHORT = "Spree", "veterans"
NO_FAIRNESS = {"mechanisms.fairness": False}
NO_PREMIUM = {"events.1.new_hire_premium": 0.0}  # the spree at market pay


def veteran_departures(result: ts.RunResult) -> pd.DataFrame:
    """Voluntary departures of veterans from the spree lab (quits, returns and exits)."""
    return result.departures(LAB, cohorts=[COHORT], kinds=("quit", "return", "exit"))


def veteran_attrition(result: ts.RunResult) -> float:
    """Share of the veterans who left the spree lab at least once.

    Args:
        result: A finished run.

    Returns:
        A share between 0 and 1.
    """
    people = result.researchers
    veterans = int((people["cohort"] == COHORT).sum())
    return veteran_departures(result)["researcher"].nunique() / veterans


def pay_ratio(result: ts.RunResult) -> float:
    """Mean pay per market value of the lab's new hires over that of its veterans at the start.

    Args:
        result: A finished run.

    Returns:
        The ratio (3.0 when new hires get a premium of 200%).
    """
    ev, people = result.events, result.researchers.set_index("researcher")
    hires = ev[(ev["destination"] == LAB) & (ev["cohort"] != COHORT)]
    hired = (hires["pay_after"] / people.loc[hires["researcher"], "market_value"].to_numpy()).mean()
    level = result.scenario.labs[LAB].pay_level  # the veterans' pay per market value
    return float(hired / level)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Print what happens to the veterans, per replicate; return the table."""
    args = script_arguments(__doc__, argv)
    scenario = ts.load_scenario(SCENARIO)
    rows = []
    for replicate, result in enumerate(ts.replicates(scenario, args.seeds, save_first=args.out)):
        departures = veteran_departures(result)
        ev = result.events
        rehired = (ev["cohort"] == COHORT) & (ev["destination"] == LAB) & (ev["kind"] == "return")
        rows.append(
            {
                "replicate": replicate,
                "seed": result.seed,
                "newcomer/veteran pay": pay_ratio(result),
                "veterans who left": veteran_attrition(result),
                "main reason fairness": float((main_reasons(departures) == "fairness").mean()),
                "came back": int(rehired.sum()),
                "left, no fairness term": veteran_attrition(
                    ts.run(scenario, seed=result.seed, overrides=NO_FAIRNESS)
                ),
                "left, no premium": veteran_attrition(
                    ts.run(scenario, seed=result.seed, overrides=NO_PREMIUM)
                ),
            }
        )
    table = pd.DataFrame(rows).set_index("replicate")
    print(table.round(3).to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
