"""Run the flagship scenario over a few seeds and print who left MSL, and why.

Usage: python examples/msl_exodus/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import talentsim as ts

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "msl_exodus.toml"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds")
    parser.add_argument("--out", default=None, help="save the first run's results here")
    args = parser.parse_args(argv)

    scenario = ts.load_scenario(SCENARIO)
    rows = []
    for seed in range(args.seeds):
        result = ts.run(scenario, seed=seed)
        if seed == 0 and args.out:
            result.save(args.out, overwrite=True)
        events = result.events
        first_two_months = events[(events["origin"] == "MSL") & (events["time"] <= 8 / 52)]
        rows.append(
            {
                "seed": seed,
                "left MSL in 8 weeks": len(first_two_months),
                "returned to former lab": int((first_two_months["kind"] == "return").sum()),
                "left for the outside": int((first_two_months["kind"] == "exit").sum()),
                "MSL end headcount": result.summary()["headcount_end.MSL"],
            }
        )
        # Exit-interview view: why did people leave MSL?
        if seed == 0:
            reasons = result.exit_reasons(by=("lab", "cohort"))
            msl = reasons[(reasons["lab"] == "MSL") & (reasons["count"] > 0)]
            print("departures from MSL by main reason (seed 0, whole run):")
            print(msl[["cohort", "reason", "count", "share"]].to_string(index=False))
    table = pd.DataFrame(rows).set_index("seed")
    print(table.to_string())
    return table


if __name__ == "__main__":
    main()
