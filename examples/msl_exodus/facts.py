"""The six facts of the MSL case, checked across seeds with paired counterfactuals.

Runs the flagship scenario and five counterfactual variants on the same seeds (common random
numbers) and prints, for each fact of docs/case-msl.md, the estimate, its confidence interval,
the statistical test and whether the fact holds. The test suite runs :func:`evaluate` and
requires every fact to hold.

Usage: python examples/msl_exodus/facts.py [--seeds N] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import talentsim as ts
from talentsim.cli import positive_integer, run_output_folder, run_script

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "msl_exodus.toml"
WEEK = 7 / 365.25
STARS = ["stars_from_rival", "stars_from_frontier"]
CORE = ["msl_veterans", *STARS]
ALPHA = 0.01
"""Significance level of the one-sided tests."""


def core_lost_8w(result: ts.RunResult) -> float:
    """Core researchers (veterans and poached stars) who left MSL within 8 weeks."""
    left = result.departures("MSL", cohorts=CORE, until=8 * WEEK)
    return float(left["researcher"].nunique())


def quick_star_returns(result: ts.RunResult) -> float:
    """Poached stars who went back to their former lab less than 4 weeks after joining MSL."""
    returns = result.departures("MSL", cohorts=STARS, kinds=("return",))
    return float((returns["tenure"] < 4 * WEEK).sum())


def veteran_departures_26w(result: ts.RunResult) -> float:
    """Veterans who left MSL within 26 weeks."""
    left = result.departures("MSL", cohorts=["msl_veterans"], until=26 * WEEK)
    return float(left["researcher"].nunique())


def msl_departures(result: ts.RunResult) -> float:
    """All departures from MSL over the run."""
    return float(len(result.departures("MSL")))


def core_retention_26w(result: ts.RunResult) -> float:
    """Share of the core still at MSL (never left) after 26 weeks."""
    return result.retention("MSL", cohorts=CORE, at=26 * WEEK)


def rival_net_flow(result: ts.RunResult) -> float:
    """Net flow of researchers into Rival over the run."""
    return float(result.summary()["net_flow.Rival"])


def acceptance_before(result: ts.RunResult) -> float:
    """Share of MSL's offers accepted in its first 4 weeks."""
    return result.offer_acceptance("MSL", 0.0, 4 * WEEK)


def acceptance_after(result: ts.RunResult) -> float:
    """Share of MSL's offers accepted in weeks 12–30, after the exodus."""
    return result.offer_acceptance("MSL", 12 * WEEK, 30 * WEEK)


METRICS = {
    "core_lost_8w": core_lost_8w,
    "quick_star_returns": quick_star_returns,
    "veteran_departures_26w": veteran_departures_26w,
    "msl_departures": msl_departures,
    "core_retention_26w": core_retention_26w,
    "rival_net_flow": rival_net_flow,
    "acceptance_before": acceptance_before,
    "acceptance_after": acceptance_after,
}

NO_REORGANISATIONS = {"events": [], "mechanisms.random_reorganisations": False}


def variants(scenario: ts.Scenario) -> dict[str, dict[str, Any]]:
    """The counterfactuals: no pay compression, no reorganisations, more pay, no reputation."""
    pay = scenario.labs["MSL"].pay_level
    return {
        "no_pay_compression": {"mechanisms.fairness": False},
        "no_reorganisations": NO_REORGANISATIONS,
        "pay_x1.5": {"labs.MSL.pay_level": 1.5 * pay},
        "pay_x2": {"labs.MSL.pay_level": 2.0 * pay},
        "no_reputation": {"mechanisms.reputation": False},
    }


def run_comparison(seeds: int = 20, root_seed: int = 0, **kwargs: Any) -> ts.Comparison:
    """Run the flagship and its counterfactuals on ``seeds`` common seeds."""
    scenario = ts.load_scenario(SCENARIO)
    return ts.compare(
        scenario, variants(scenario), seeds=seeds, root_seed=root_seed, metrics=METRICS, **kwargs
    )


def _lower_bound(values: np.ndarray) -> float:
    """One-sided (1 − ALPHA) t lower confidence bound of the mean."""
    n = values.shape[0]
    se = values.std(ddof=1) / math.sqrt(n)
    return float(values.mean() - stats.t.ppf(1 - ALPHA, n - 1) * se)


def _one_sided_p(difference: np.ndarray) -> float:
    """p-value of the one-sided t-test that the mean of ``difference`` is above 0."""
    if np.all(difference == difference[0]):
        return 0.0 if difference[0] > 0 else 1.0
    return float(stats.ttest_1samp(difference, 0.0, alternative="greater").pvalue)


def evaluate(comparison: ts.Comparison) -> pd.DataFrame:
    """Check the six facts; one row each with the estimate, the test and whether it holds."""
    runs = comparison.runs

    def metric(variant: str, name: str) -> np.ndarray:
        table = runs[runs["variant"] == variant].sort_values("seed")
        return table[name].to_numpy(dtype=float)

    rows = []

    def fact(number: str, claim: str, estimate: float, test: str, value: float, holds: bool):
        rows.append(
            {
                "fact": number,
                "claim": claim,
                "estimate": estimate,
                "test": test,
                "statistic": value,
                "holds": bool(holds),
            }
        )

    level = f"{1 - ALPHA:.0%}"

    def at_least(number: str, claim: str, values: np.ndarray, what: str, floor: float) -> None:
        """A fact of the form "the mean is above ``floor``", by its lower confidence bound."""
        bound = _lower_bound(values)
        fact(
            number,
            claim,
            float(values.mean()),
            f"one-sided {level} t lower bound of {what}",
            bound,
            bound > floor,
        )

    at_least(
        "1",
        "MSL loses at least 8 core researchers within 8 weeks",
        metric("baseline", "core_lost_8w"),
        "the mean",
        8 - 1e-9,
    )
    at_least(
        "2",
        "some poached stars return to their former lab within 4 weeks of joining",
        metric("baseline", "quick_star_returns"),
        "the mean count",
        0,
    )
    veterans = metric("baseline", "veteran_departures_26w")
    fairness_gain = veterans - metric("no_pay_compression", "veteran_departures_26w")
    p_fair = _one_sided_p(fairness_gain)
    fact(
        "3a",
        "veterans leave, and fewer without pay compression (same seeds)",
        float(fairness_gain.mean()),
        "paired one-sided t-test p (baseline − no compression > 0)",
        p_fair,
        _lower_bound(veterans) > 0 and p_fair < ALPHA,
    )
    reorg_gain = metric("baseline", "msl_departures") - metric(
        "no_reorganisations", "msl_departures"
    )
    p_reorg = _one_sided_p(reorg_gain)
    fact(
        "3b",
        "without reorganisations fewer people leave MSL (same seeds)",
        float(reorg_gain.mean()),
        "paired one-sided t-test p (baseline − no reorganisations > 0)",
        p_reorg,
        p_reorg < ALPHA,
    )
    scenario = comparison.scenario
    if scenario.labs["Rival"].pay_level < scenario.labs["MSL"].pay_level:
        at_least(
            "4",
            "the mission-clear, stable rival gains talent on net while paying less",
            metric("baseline", "rival_net_flow"),
            "the mean net flow",
            0,
        )
    else:
        fact("4", "the rival pays less than MSL", float("nan"), "scenario", float("nan"), False)
    base_retention = metric("baseline", "core_retention_26w")
    pay_effect = metric("pay_x2", "core_retention_26w") - base_retention
    reorg_effect = metric("no_reorganisations", "core_retention_26w") - base_retention
    # "Less than half" is the claim tested, not read off the point estimate: paired one-sided
    # t-test that the mean over seeds of ½·(no reorgs gain) − (pay×2 gain) is above 0.
    p_half = _one_sided_p(0.5 * reorg_effect - pay_effect)
    ratio = float(pay_effect.mean() / reorg_effect.mean())
    fact(
        "5",
        "doubling MSL's pay buys less than half the retention that removing reorganisations does",
        ratio,
        "ratio of mean retention gains; paired one-sided t-test p (½·no reorgs − pay×2 > 0)",
        p_half,
        p_half < ALPHA,
    )
    drop = metric("baseline", "acceptance_before") - metric("baseline", "acceptance_after")
    reputation = metric("no_reputation", "acceptance_after") - metric(
        "baseline", "acceptance_after"
    )
    p_drop, p_rep = _one_sided_p(drop), _one_sided_p(reputation)
    fact(
        "6",
        "after the exodus MSL's offers are accepted less often, partly through its reputation",
        float(drop.mean()),
        "paired one-sided t-tests p (before − after > 0; no reputation − baseline > 0), max",
        max(p_drop, p_rep),
        p_drop < ALPHA and p_rep < ALPHA,
    )
    return pd.DataFrame(rows).set_index("fact")


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the comparison, print the facts table, save the first baseline run if asked."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seeds", type=positive_integer, default=20, help="paired seeds (default 20)"
    )
    parser.add_argument(
        "--out", type=run_output_folder, default=None, help="save the first baseline run here"
    )
    args = parser.parse_args(argv)

    comparison = run_comparison(args.seeds, progress=sys.stderr.isatty())
    if args.out:
        seed = int(comparison.runs["seed"].iloc[0])
        ts.run(SCENARIO, seed=seed).save(args.out, overwrite=True)
    facts = evaluate(comparison) if args.seeds >= 3 else pd.DataFrame()
    n = comparison.runs["seed"].nunique()
    print(f"{n} paired seeds (one row per fact; 'holds' uses one-sided tests at {ALPHA:.0%})")
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print(facts.to_string() if len(facts) else "(too few seeds to test the facts)")
    return facts


if __name__ == "__main__":
    raise SystemExit(run_script(main))
