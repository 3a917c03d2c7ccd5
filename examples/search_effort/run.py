"""Search effort by lab in the reorg_shock scenario: how hard each lab's staff look.

The reorg_shock scenario with on-the-job search effort from the lab's turmoil and from the
lab's gap (``search.gap = "lab"``: the mean utility gain of the offers its staff received
recently), against the same scenario without search effort, on the same seeds. The
sensitivities are illustrative, not fitted (the scenario file's commented ``[search]`` table):
effort × e^0.5 per unit of turmoil and × e per utility unit of gap, within 0.2 to 3.

For each seed the table shows the reorganised lab's attrition over the year with and without
search effort, its departures in the month after each reorganisation, and its staff's mean
search effort and gap over the year. Below it, each lab's mean effort by quarter (mean over the
seeds). With ``--out``, the first run's results and a figure of each lab's gap and effort
week by week (``search_effort.png``) are saved there.

Usage: python examples/search_effort/run.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import talentsim as ts
from talentsim.cli import run_script, script_arguments
from talentsim.compiled.search import offer_effort
from talentsim.seeds import seed_list

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parents[1] / "scenarios" / "reorg_shock.toml"
LAB = "Reorg"
# as the scenario file's commented [search] table, with the lab's gap
SEARCH = {
    "gap": "lab",
    "gap_sensitivity": 1.0,
    "turmoil_sensitivity": 0.5,
    "effort_min": 0.2,
    "effort_max": 3.0,
}
WINDOW = 4  # weeks: "the month after" a reorganisation


def lab_effort(model: ts.TalentModel) -> np.ndarray:
    """Each lab's search effort in each step (rows: steps 1..n; a multiple of λ_e).

    With effort by lab, a step's effort is the rule (``talentsim.compiled.search``) applied to
    the lab's gap and turmoil as the previous step ended (:attr:`search_gap_history`,
    :attr:`turmoil_history`).
    """
    search = model.spec.search
    gap = model.search_gap_history[:-1]
    turmoil = model.turmoil_history[:-1]
    rule = np.vectorize(
        lambda g, t: offer_effort(
            g,
            t,
            search.gap_sensitivity,
            search.turmoil_sensitivity,
            search.effort_min,
            search.effort_max,
        )
    )
    return np.asarray(rule(gap, turmoil), dtype=float)


def month_after(result: ts.RunResult) -> float:
    """Mean voluntary departures from the reorganised lab in the 4 weeks after each reorg."""
    rows = result.timeseries[result.timeseries["lab"] == LAB].sort_values("step")
    departures = (rows["quits"] + rows["exits"]).to_numpy()
    steps = [step for step, _ in result.scenario.event_schedule("reorganisation")]
    return float(np.mean([departures[s : s + WINDOW].sum() for s in steps]))


def save_figure(model: ts.TalentModel, effort: np.ndarray, folder: Path) -> Path:
    """Each lab's gap and effort, week by week, of one run: ``folder/search_effort.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = np.arange(1, effort.shape[0] + 1)
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    for j, name in enumerate(model.lab_state.names):
        top.plot(weeks, model.search_gap_history[:-1, j], label=name)
        bottom.plot(weeks, effort[:, j], label=name)
    top.axhline(0.0, color="grey", linewidth=0.5)
    top.set_ylabel("lab's gap (utility units)")
    bottom.axhline(1.0, color="grey", linewidth=0.5)
    bottom.set_ylabel("search effort (× λ_e)")
    bottom.set_xlabel("week")
    top.legend(frameon=False)
    top.set_title(f"Search effort by lab, {model.spec.name}, seed {model.seed}")
    figure.tight_layout()
    path = folder / "search_effort.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Print the reorganised lab's attrition and effort per replicate; return the table."""
    args = script_arguments(__doc__, argv)
    plain = ts.load_scenario(SCENARIO)
    searching = ts.Scenario.from_dict({**plain.to_dict(), "search": SEARCH}, source=str(SCENARIO))
    code = plain.lab_names.index(LAB)
    rows: list[dict[str, Any]] = []
    quarterly = []
    for replicate, seed in enumerate(seed_list(args.seeds)):
        model = ts.TalentModel(searching, seed=seed)
        model.run()
        result = ts.RunResult.from_model(model)
        effort = lab_effort(model)
        if replicate == 0 and args.out is not None:
            result.save(args.out, overwrite=True)
            print(f"saved the first run and {save_figure(model, effort, Path(args.out))}")
        without = ts.run(plain, seed=seed)
        quarterly.append([part.mean(axis=0) for part in np.array_split(effort, 4)])
        rows.append(
            {
                "replicate": replicate,
                "seed": seed,
                "attrition": result.summary()[f"attrition.{LAB}"],
                "attrition without search": without.summary()[f"attrition.{LAB}"],
                "left in the month after a reorg": month_after(result),
                "the same without search": month_after(without),
                "mean effort": float(effort[:, code].mean()),
                "mean gap": float(model.search_gap_history[1:, code].mean()),
            }
        )
    table = pd.DataFrame(rows).set_index("replicate")
    print(table.round(3).to_string())
    by_quarter = pd.DataFrame(
        np.mean(quarterly, axis=0),
        index=pd.Index([f"Q{q}" for q in range(1, 5)], name="quarter"),
        columns=plain.lab_names,
    )
    print("\nmean search effort by quarter (× the offer rate at effort 1), mean over the seeds:")
    print(by_quarter.round(2).to_string())
    return table


if __name__ == "__main__":
    raise SystemExit(run_script(main))
