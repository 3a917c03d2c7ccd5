"""Results do not depend on the step length beyond the lag of interactions.

Each researcher's own moves are exact at any step length given the market at the start of the
step (uniformization; tests/test_exact_transitions.py checks it without interactions), so a
scenario run with daily and with weekly steps must agree on its key outputs up to the lag of
interactions (peer shares, reference pay, reputation, capacity and turmoil's decay are read
at the start of the step) and the timing of events (at most half a step). Each output is
averaged over 30 seeds per step length; the test requires |mean_day − mean_week| ≤ 3.9·SE +
3% of the weekly mean, where SE is the standard error of the difference of the two means
(3.9 SE is a two-sided 0.01% level for sampling error; the 3% allowance bounds the lag of
interactions and of events, which for weekly steps is about a week in a year's run).
"""

from __future__ import annotations

import numpy as np
import pytest

import talentsim as ts

SEEDS = range(30)


def _outputs(scenario: ts.Scenario, seed: int) -> dict[str, float]:
    res = ts.run(scenario, seed=seed)
    s = res.summary()
    ts_ = res.timeseries
    eight_weeks = ts_[(ts_["lab"] == "MSL") & (ts_["time"] <= 8 * 7 / 365.25 + 1e-9)]
    return {
        "MSL headcount at 8 weeks": float(eight_weeks["headcount"].iloc[-1]),
        "MSL end headcount": float(s["headcount_end.MSL"]),
        "Rival end headcount": float(s["headcount_end.Rival"]),
        "Frontier end headcount": float(s["headcount_end.Frontier"]),
        "outside end headcount": float(s["headcount_end.outside"]),
        "MSL attrition": float(s["attrition.MSL"]),
        "moves": float(s["moves"]),
    }


@pytest.mark.parametrize("daily_step", ["1d"])
def test_daily_and_weekly_steps_agree(flagship: ts.Scenario, daily_step: str) -> None:
    weekly = flagship
    daily = flagship.with_overrides({"time.step": daily_step})
    assert daily.time.n_steps == 365
    week = [_outputs(weekly, s) for s in SEEDS]
    day = [_outputs(daily, s) for s in SEEDS]
    problems = []
    for key in week[0]:
        w = np.array([o[key] for o in week])
        d = np.array([o[key] for o in day])
        se = np.sqrt(w.var(ddof=1) / len(w) + d.var(ddof=1) / len(d))
        tolerance = 3.9 * se + 0.03 * abs(w.mean())
        if abs(d.mean() - w.mean()) > tolerance:
            problems.append(
                f"{key}: day {d.mean():.2f} vs week {w.mean():.2f} (tol {tolerance:.2f})"
            )
    assert not problems, problems
