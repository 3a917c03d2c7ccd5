"""Run the mission_vs_money scenario: how the split of talent depends on pay, mission, stability.

Runs the scenario and three variants on the same seeds with ``ts.compare`` (common random
numbers): Money raises its pay by another third (1.8 to 2.4); Mission loses its clear,
research-oriented mission (clarity 0.3, orientation 0.3, like Money's); Mission loses its
stability (reorganised at random like Money). For each seed the table shows Mission's share of
the two labs' researchers at the end of the year (it starts at 0.5) under each, and below it
the paired effects with 95% confidence intervals.

Usage: python examples/mission_vs_money/run.py [--seeds N] [--out DIR]   (N >= 2)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "mission_vs_money.toml"
VARIANTS = {
    "Money pays 2.4": {"labs.Money.pay_level": 2.4},
    "Mission unclear": {"labs.Mission.mission_clarity": 0.3, "labs.Mission.orientation": 0.3},
    "Mission unstable": {"labs.Mission.reorg_rate": "3/year", "labs.Mission.reorg_severity": 0.7},
}


def mission_share(result: ts.RunResult) -> float:
    """Mission's share of the researchers at the two labs at the end of the run.

    Args:
        result: A finished run.

    Returns:
        A share between 0 and 1.
    """
    summary = result.summary()
    mission, money = summary["headcount_end.Mission"], summary["headcount_end.Money"]
    return float(mission) / float(mission + money)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Compare the scenario with its variants over ``--seeds`` seeds and print the split.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The per-seed table of Mission's share under the scenario and each variant.
    """
    args = script_arguments(__doc__, argv)
    if args.seeds < 2:
        raise SystemExit("error: --seeds must be at least 2 for a paired comparison")

    scenario = ts.load_scenario(SCENARIO)
    seeds = list(range(args.seeds))
    if args.out:
        ts.run(scenario, seed=seeds[0]).save(args.out, overwrite=True)
    comparison = ts.compare(scenario, VARIANTS, seeds=seeds, metrics={"share": mission_share})
    table = comparison.runs.pivot(index="seed", columns="variant", values="share")
    table = table[["baseline", *VARIANTS]]
    table.columns.name = "Mission's share at the end"
    print(table.round(3).to_string())
    effects = comparison.effects.set_index("variant")[["effect", "ci_low", "ci_high", "p_value"]]
    print("\neffect on Mission's share (variant − scenario, paired by seed):")
    print(effects.round(3).to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
