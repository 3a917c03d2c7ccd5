"""Run the flagship scenario over a few seeds and print who left MSL, and why.

Usage: python examples/msl_exodus/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "msl_exodus.toml"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    args = script_arguments(__doc__, argv)

    scenario = ts.load_scenario(SCENARIO)
    rows = []
    for replicate, result in enumerate(ts.replicates(scenario, args.seeds, save_first=args.out)):
        seed = result.seed  # spawned from one root seed; replays with ts.run(..., seed=seed)
        first_two_months = result.departures("MSL", until=8 * 7 / 365.25)
        rows.append(
            {
                "replicate": replicate,
                "seed": seed,
                "left MSL in 8 weeks": len(first_two_months),
                "returned to former lab": int((first_two_months["kind"] == "return").sum()),
                "left for the outside": int((first_two_months["kind"] == "exit").sum()),
                "MSL end headcount": result.summary()["headcount_end.MSL"],
            }
        )
        # Exit-interview view: why did people leave MSL?
        if replicate == 0:
            reasons = result.exit_reasons(by=("lab", "cohort"))
            msl = reasons[(reasons["lab"] == "MSL") & (reasons["count"] > 0)]
            print(f"departures from MSL by main reason (seed {seed}, whole run):")
            print(msl[["cohort", "reason", "count", "share"]].to_string(index=False))
    table = pd.DataFrame(rows).set_index("replicate")
    print(table.to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
