"""Statistics of a run, targets files and evaluating a scenario against targets.

Every statistic is checked against values computed by hand on a small synthetic run (a
move log written out below, with the headcounts it implies), and against the methods of
RunResult that measure the same thing on real runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import talentsim as ts
from talentsim import run_statistics as rs
from talentsim import terms
from talentsim.cli import main
from talentsim.model import MOVE_KINDS
from talentsim.targets import (
    Source,
    Target,
    Targets,
    TargetsError,
    evaluate_targets,
    load_targets,
    target_values,
)

ROOT = Path(__file__).resolve().parent.parent
DT = 1 / 12  # monthly steps: times below are whole months

SCENARIO = {
    "name": "synthetic",
    "time": {"step": "1mo", "duration": "3y"},
    "labs": {"A": {}, "B": {}},
    "cohorts": {
        "a_staff": {"size": 4, "lab": "A", "tenure": "1y"},
        "b_staff": {"size": 4, "lab": "B", "tenure": "1y"},
        "poached": {"size": 1, "lab": "B", "previous_lab": "A", "attachment": 0.5},
        "pool": {"size": 2, "lab": "outside", "entry_rate": "1/year"},
    },
}
# researchers 0-3 a_staff (A), 4-7 b_staff (B), 8 poached (B, formerly at A), 9-10 pool,
# 11 an entrant to the pool.
COHORT_OF = ["a_staff"] * 4 + ["b_staff"] * 4 + ["poached"] + ["pool"] * 3
START = ["A"] * 4 + ["B"] * 5 + ["outside"] * 3
# (step, researcher, origin, destination, kind, tenure in months at a lab left, main gain)
MOVES = [
    (1, 4, "B", "A", "quit", 13, "pay"),
    (2, 0, "A", "B", "quit", 14, "pay"),
    (2, 8, "B", "A", "return", 2, "attachment"),
    (3, 1, "A", "outside", "exit", 15, None),  # no term favoured it: idiosyncratic
    (4, 9, "outside", "A", "hire", None, "pay"),
    (5, 10, "outside", "B", "hire", None, "pay"),
    (6, 11, "gone", "outside", "entry", None, "none"),
    (7, 11, "outside", "gone", "retirement", None, "none"),
    (9, 1, "outside", "A", "return", None, "attachment"),
    (10, 9, "A", "outside", "exit", 6, "mission"),
    (14, 2, "A", "outside", "separation", 26, "none"),
    (20, 10, "B", "A", "quit", 15, "peers"),
    (30, 4, "A", "B", "return", 29, "stability"),
]
STEPS = 36


def synthetic_run(moves: list[tuple[Any, ...]] = MOVES) -> ts.RunResult:
    """A RunResult holding the moves above (or ``moves``), with the headcounts they imply."""
    scenario = ts.Scenario.from_dict(SCENARIO)
    places = ["A", "B", "outside"]
    categories = [*places, "gone"]
    term_names = terms.names()
    rows: list[dict[str, Any]] = []
    for step, who, origin, destination, kind, tenure, reason in moves:
        gains = dict.fromkeys(term_names, -0.1)
        if reason == "none":
            gains = dict.fromkeys(term_names, math.nan)
        elif reason is not None:
            gains[reason] = 0.4
        rows.append(
            {
                "step": step,
                "time": step * DT,
                "researcher": who,
                "cohort": COHORT_OF[who],
                "origin": origin,
                "destination": destination,
                "kind": kind,
                "tenure": math.nan if tenure is None else tenure * DT,
                "pay_before": 1.0,
                "pay_after": 1.0,
                **{f"gain_{t}": g for t, g in gains.items()},
            }
        )
    events = pd.DataFrame(rows)
    events["cohort"] = pd.Categorical(events["cohort"], categories=list(scenario.cohorts))
    events["origin"] = pd.Categorical(events["origin"], categories=categories)
    events["destination"] = pd.Categorical(events["destination"], categories=categories)
    events["kind"] = pd.Categorical(events["kind"], categories=list(MOVE_KINDS))
    events = events.sort_values(["step", "kind", "researcher"], kind="stable")
    headcount = np.zeros((STEPS + 1, 3), dtype=np.int64)
    where = list(START)
    for step in range(STEPS + 1):
        for move in moves:
            if move[0] == step:
                where[move[1]] = move[3]
        headcount[step] = [where[: 11 if step < 6 else 12].count(p) for p in places]
    headcount[:6, 2] -= 1  # researcher 11 enters the pool at step 6
    timeseries = pd.DataFrame(
        {
            "step": np.repeat(np.arange(STEPS + 1), 3),
            "time": np.repeat(np.arange(STEPS + 1), 3) * DT,
            "lab": pd.Categorical(np.tile(places, STEPS + 1), categories=places),
            "headcount": headcount.reshape(-1),
        }
    )
    researchers = pd.DataFrame(
        {
            "researcher": np.arange(12),
            "cohort": pd.Categorical(COHORT_OF, categories=list(scenario.cohorts)),
            "start": pd.Categorical(START, categories=places),
        }
    )
    return ts.RunResult(scenario, 0, timeseries, events.reset_index(drop=True), researchers)


@pytest.fixture(scope="module")
def synthetic() -> rs.RunArrays:
    return rs.RunArrays.of(synthetic_run())


def test_the_synthetic_headcounts_are_those_worked_out_by_hand(synthetic: rs.RunArrays) -> None:
    # A: 4 at the start; +4 (1), -0 +8 (2), -1 (3), +9 (4), +1 (9), -9 (10), -2 (14), +10 (20),
    # -4 (30)
    expected_a = [4, 5, 5, 4, 5, 5, 5, 5, 5, 6, 5, 5, 5, 5, 4]
    assert synthetic.headcount[:15, 0].tolist() == expected_a
    assert synthetic.headcount[30, 0] == 4 and synthetic.headcount[30, 1] == 5


def test_departures_by_hand(synthetic: rs.RunArrays) -> None:
    year = (0, "1y")
    assert rs.departures(synthetic, "A", window=year) == 3  # researchers 0, 1, 9
    assert rs.departures(synthetic, "A") == 5  # and 2 (separation), 4 (return to B)
    assert rs.departures(synthetic, "A", window=year, kinds=["exit"]) == 2
    assert rs.departures(synthetic, "A", window=year, cohorts=["a_staff"]) == 2
    assert rs.departures(synthetic, "A", window=year, max_tenure="1y") == 1  # 9, after 6 months
    assert rs.departures(synthetic, "A", destination="outside") == 3
    assert rs.departures(synthetic, "B", kinds=["return"], max_tenure="1mo") == 0
    assert rs.departures(synthetic, "B", kinds=["return"], max_tenure="2mo") == 1
    assert rs.departures(synthetic) == 8  # every departure from a lab
    # the window is (start, end]: the move at month 2 is in (0, 2mo] and not in (2mo, 1y]
    assert rs.departures(synthetic, "A", window=(0, "2mo")) == 1
    assert rs.departures(synthetic, "A", window=("2mo", "1y")) == 2


def test_attrition_rate_is_departures_per_person_year(synthetic: rs.RunArrays) -> None:
    # departures from A in the first year: 3; person-years at A: headcount at the start of
    # each of the 12 steps (4,5,5,4,5,5,5,5,5,6,5,5 = 59) times a month
    assert rs.attrition_rate(synthetic, "A", window=(0, "1y")) == pytest.approx(3 / (59 / 12))


def test_new_hire_retention_by_hand(synthetic: rs.RunArrays) -> None:
    # hired into A in the first year: 4 (month 1), 8 (2), 9 (4), 1 (9); 9 leaves at month 10
    assert rs.new_hire_retention(synthetic, "A", hired=(0, "1y"), after="1y") == 0.75
    # 4 leaves A at month 30, 29 months after joining: still there at two years
    assert rs.new_hire_retention(synthetic, "A", hired=(0, "1y"), after="2y") == 0.75
    # every lab, hires of the first six months: 4, 0, 8, 9 (leaves), 10 (leaves B at 20)
    assert rs.new_hire_retention(synthetic, hired=(0, "6mo"), after="2y") == 0.6
    assert math.isnan(rs.new_hire_retention(synthetic, "B", hired=("6mo", "1y"), after="1y"))


def test_a_run_too_short_for_new_hire_retention_is_an_error(synthetic: rs.RunArrays) -> None:
    with pytest.raises(rs.StatisticError, match=r"needs a run of 3\.5 years"):
        rs.new_hire_retention(synthetic, "A", hired=(0, "1y"), after="2.5y")
    # a whole step past the 3-year run (monthly steps) is past it: hires at 1 year would be
    # followed for 24 months, not 25; half a step is the rounding of the number of steps
    with pytest.raises(rs.StatisticError, match=r"needs a run of 3\.083 years"):
        rs.new_hire_retention(synthetic, "A", hired=(0, "1y"), after="25mo")
    assert rs.new_hire_retention(synthetic, "A", hired=(0, "1y"), after="2y") == 0.75


def test_retention_of_starting_staff_by_hand(synthetic: rs.RunArrays) -> None:
    assert rs.retention(synthetic, "A", at="1y") == 0.5  # 0 and 1 of 0-3 left
    assert rs.retention(synthetic, "A", at="2y") == 0.25  # and 2
    assert rs.retention(synthetic, "B", cohorts=["poached"], at="1mo") == 1.0
    assert rs.retention(synthetic, "B", cohorts=["poached"], at="2mo") == 0.0


def test_boomerang_share_by_hand(synthetic: rs.RunArrays) -> None:
    # arrivals at labs: 4, 0, 8 (return), 9, 10, 1 (return), 10, 4 (return)
    assert rs.boomerang_share(synthetic) == pytest.approx(3 / 8)
    assert rs.boomerang_share(synthetic, "A") == pytest.approx(2 / 5)
    assert rs.boomerang_share(synthetic, window=(0, "1y")) == pytest.approx(2 / 6)


def test_boomerang_share_by_history_by_hand() -> None:
    # 8 (at B, formerly at A) leaves B for the pool at 2 and is hired by A at 5: a hire (A is
    # not the lab 8 last left) but a boomerang by history; 5 leaves B at 3, is hired by A at
    # 8, leaves A at 10 and is hired back by B at 12: a hire, a boomerang by history
    moves = [move for move in MOVES if move[1] != 8] + [
        (2, 8, "B", "outside", "exit", 2, None),
        (5, 8, "outside", "A", "hire", None, "pay"),
        (3, 5, "B", "outside", "exit", 15, None),
        (8, 5, "outside", "A", "hire", None, "pay"),
        (10, 5, "A", "outside", "exit", 2, None),
        (12, 5, "outside", "B", "hire", None, "pay"),
    ]
    arrays = rs.RunArrays.of(synthetic_run(moves))
    # arrivals at labs: 4, 0, 9, 10, 1 (return), 10, 4 (return), 8 (A), 5 (A), 5 (B)
    assert rs.boomerang_share(arrays) == pytest.approx(2 / 10)
    assert rs.boomerang_share(arrays, count="history") == pytest.approx(4 / 10)
    assert rs.boomerang_share(arrays, "A", count="history") == pytest.approx(2 / 6)
    assert rs.boomerang_share(arrays, "B", count="history") == pytest.approx(2 / 4)
    assert rs.boomerang_share(arrays, window=(0, "1y"), count="history") == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="count: expected 'return' or 'history'"):
        rs.boomerang_share(arrays, count="any")


@pytest.mark.parametrize("seed", [1, 2])
def test_boomerang_share_by_history_agrees_with_the_move_log(seed: int) -> None:
    # each arrival read from the events table in order, against the labs the researcher had
    # worked at (where they started, their cohort's previous lab, every lab joined since)
    result = ts.run(
        ROOT / "scenarios" / "boomerang.toml", seed=seed, overrides={"time.duration": "3y"}
    )
    previous = {name: c.previous_lab for name, c in result.scenario.cohorts.items()}
    initial = result.researchers["entered_step"].to_numpy() == 0
    worked: dict[int, set[str]] = {}
    for row in result.researchers.itertuples():
        labs = {str(row.start), previous[str(row.cohort)] if initial[row.researcher] else None}
        worked[int(row.researcher)] = labs - {"outside", None}
    arrivals: list[tuple[str, float, bool]] = []
    for move in result.events.sort_values(["researcher", "step"], kind="stable").itertuples():
        to = str(move.destination)
        if to in result.scenario.lab_names:
            arrivals.append((to, move.time, to in worked[move.researcher]))
            worked[move.researcher].add(to)
    arrays = rs.RunArrays.of(result)
    for lab in (None, *result.scenario.lab_names):
        for window in (None, (1.0, 3.0)):
            chosen = [
                back
                for to, time, back in arrivals
                if lab in (None, to) and (window is None or window[0] < time <= window[1])
            ]
            share = rs.boomerang_share(arrays, lab, window=window, count="history")
            assert share == pytest.approx(np.mean(chosen), abs=1e-12), (lab, window)
            assert share >= rs.boomerang_share(arrays, lab, window=window)
    assert rs.boomerang_share(arrays, count="history") > rs.boomerang_share(arrays)


def test_mean_time_to_return_by_hand(synthetic: rs.RunArrays) -> None:
    # 8 had left A when the run started (2 months at B); 1 left A at 3 and came back at 9;
    # 4 left B at 1 and came back at 30
    assert rs.mean_time_to_return(synthetic) == pytest.approx((2 + 6 + 29) / 3 * DT)
    assert rs.mean_time_to_return(synthetic, "A") == pytest.approx((2 + 6) / 2 * DT)
    assert math.isnan(rs.mean_time_to_return(synthetic, "B", window=(0, "1y")))


def test_time_to_return_counts_from_leaving_the_lab_not_from_the_previous_move() -> None:
    # 5 leaves B for the pool at month 3, is hired by A at 8 and goes back to B at 12: a
    # return (B is the lab 5 last left) 9 months after leaving B, not 4 after joining A
    moves = [
        *MOVES,
        (3, 5, "B", "outside", "exit", 15, None),
        (8, 5, "outside", "A", "hire", None, "pay"),
        (12, 5, "A", "B", "return", 4, "peers"),
    ]
    arrays = rs.RunArrays.of(synthetic_run(moves))
    assert rs.mean_time_to_return(arrays, "B") == pytest.approx((29 + 9) / 2 * DT)
    assert rs.mean_time_to_return(arrays) == pytest.approx((2 + 6 + 29 + 9) / 4 * DT)


def test_time_to_return_on_a_real_run_agrees_with_the_move_log() -> None:
    # each return's gap from the researcher's last move out of the lab returned to, read
    # from the events table; for a first move, the tenure at the lab left (started there with
    # a former lab); otherwise the leaving is before the run and the return is left out
    result = ts.run(
        ROOT / "scenarios" / "boomerang.toml", seed=1, overrides={"time.duration": "3y"}
    )
    ev = result.events.reset_index(drop=True)
    gaps, via_the_pool = [], 0
    for i in np.flatnonzero(ev["kind"] == "return"):
        back = ev.loc[i]
        earlier = ev.loc[: i - 1]
        earlier = earlier[earlier["researcher"] == back["researcher"]]
        left = earlier[earlier["origin"] == back["destination"]]
        if len(left):
            gaps.append(back["time"] - left["time"].iloc[-1])
            via_the_pool += left.index[-1] != earlier.index[-1]
        elif earlier.empty and not math.isnan(back["tenure"]):
            gaps.append(back["tenure"])
    # (returns whose previous move was a hire from the pool into another lab: seed 1 has two)
    assert len(gaps) > 10 and via_the_pool >= 1
    assert rs.mean_time_to_return(result) == pytest.approx(np.mean(gaps))


def test_outside_share_and_median_tenure_by_hand(synthetic: rs.RunArrays) -> None:
    # departures from A: 0 (to B), 1 (out), 9 (out), 2 (out, separation), 4 (to B)
    assert rs.outside_share(synthetic, "A") == pytest.approx(3 / 5)
    assert rs.outside_share(synthetic, "A", kinds=["quit", "return", "exit"]) == 0.5
    # tenures 14, 15, 6, 26, 29 months
    assert rs.median_tenure_at_departure(synthetic, "A") == pytest.approx(15 * DT)


def test_exit_reason_share_by_hand(synthetic: rs.RunArrays) -> None:
    # departures from A: pay (0), idiosyncratic (1), mission (9), exogenous (2), stability (4)
    for reason in ("pay", "idiosyncratic", "mission", "exogenous", "stability"):
        assert rs.exit_reason_share(synthetic, reason, "A") == pytest.approx(1 / 5), reason
    assert rs.exit_reason_share(synthetic, "peers", "A") == 0.0
    assert rs.exit_reason_share(synthetic, "peers", "B") == pytest.approx(1 / 3)


def test_exit_reason_share_agrees_with_run_result_exit_reasons() -> None:
    result = synthetic_run()
    table = result.exit_reasons(by=("lab",))
    for row in table.itertuples():
        value = rs.exit_reason_share(result, str(row.reason), str(row.lab))
        assert value == pytest.approx(row.share, nan_ok=True), row


def test_flow_ratio_by_hand(synthetic: rs.RunArrays) -> None:
    # A -> B: 0 (2), 4 (30); B -> A: 4 (1), 8 (2), 10 (20)
    assert rs.flow_ratio(synthetic, "A", "B") == pytest.approx(2 / 3)
    assert rs.flow_ratio(synthetic, "B", "A") == pytest.approx(3 / 2)
    assert rs.flow_ratio(synthetic, "A", "B", window=(0, "1y")) == 0.5
    assert rs.flow_ratio(synthetic, "A", "B", window=("2y", "3y")) == math.inf
    assert math.isnan(rs.flow_ratio(synthetic, "A", "B", window=("1.7y", "2y")))


def test_flow_share_by_hand(synthetic: rs.RunArrays) -> None:
    # A -> B: 0 (quit, 2), 4 (return, 30); B -> A: 4 (quit, 1), 8 (return, 2), 10 (quit, 20)
    assert rs.flow_share(synthetic, "A", "B") == pytest.approx(2 / 5)
    assert rs.flow_share(synthetic, "B", "A") == pytest.approx(3 / 5)
    assert rs.flow_share(synthetic, "A", "B", window=(0, "1y")) == pytest.approx(1 / 3)
    # forward only (where flow_ratio is inf), reverse only, no move either way
    assert rs.flow_share(synthetic, "A", "B", window=("2y", "3y")) == 1.0
    assert rs.flow_share(synthetic, "B", "A", window=("2y", "3y")) == 0.0
    assert math.isnan(rs.flow_share(synthetic, "A", "B", window=("1.7y", "2y")))
    # kinds: one return each way, so equal flows; quits only: 1 A -> B, 2 B -> A
    assert rs.flow_share(synthetic, "A", "B", kinds=["return"]) == 0.5
    assert rs.flow_share(synthetic, "A", "B", kinds=["quit"]) == pytest.approx(1 / 3)
    # a lab with itself: every move counted both ways, none exists between A and A
    assert math.isnan(rs.flow_share(synthetic, "A", "A"))
    with pytest.raises(rs.StatisticError, match="origin: no lab named 'C'"):
        rs.flow_share(synthetic, "C", "A")


def test_flow_share_is_the_ratio_as_a_share_on_result_and_arrays_alike() -> None:
    result = synthetic_run()
    arrays = rs.RunArrays.of(result)
    for origin, destination in (("A", "B"), ("B", "A")):
        for window in (None, (0, "1y"), ("2y", "3y"), ("1.7y", "2y")):
            share = rs.flow_share(result, origin, destination, window=window)
            assert share == rs.flow_share(arrays, origin, destination, window=window) or (
                math.isnan(share)
                and math.isnan(rs.flow_share(arrays, origin, destination, window=window))
            )
            ratio = rs.flow_ratio(result, origin, destination, window=window)
            if math.isfinite(ratio):
                assert share == pytest.approx(ratio / (1 + ratio))
            elif ratio == math.inf:
                assert share == 1.0
            else:
                assert math.isnan(share)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flow_share_of_a_full_run_equals_that_of_its_lean_arrays(seed: int) -> None:
    scenario = ts.load_scenario(ROOT / "scenarios" / "mission_vs_money.toml")
    full = ts.run(scenario, seed=seed)
    lean = rs.run_arrays(scenario, seed=seed)
    for origin, destination in (("Money", "Mission"), ("Mission", "Money")):
        share = rs.flow_share(full, origin, destination)
        assert 0.0 <= share <= 1.0
        assert share == rs.flow_share(lean, origin, destination)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: rs.departures(a, "C"), r"lab: no lab named 'C'"),
        (lambda a: rs.departures(a, cohorts=["nobody"]), r"no cohort named \['nobody'\]"),
        (lambda a: rs.departures(a, kinds=["hire"]), None),
        (lambda a: rs.departures(a, window=(0, "4y")), r"window end: '4y' is past the end"),
        (lambda a: rs.departures(a, window=("1y", "2mo")), r"ends \('2mo'\) before"),
        (lambda a: rs.exit_reason_share(a, "money"), r"unknown reason 'money'"),
        (lambda a: rs.retention(a, "A", at="5y"), r"at: '5y' is past the end"),
    ],
)
def test_statistics_refuse_what_the_run_does_not_have(
    synthetic: rs.RunArrays, call: Any, message: str | None
) -> None:
    if message is None:  # a kind that is not a departure simply counts nothing
        assert call(synthetic) == 0
        return
    with pytest.raises(rs.StatisticError, match=message):
        call(synthetic)


def test_statistics_agree_with_run_result_on_a_real_run(small: ts.Scenario) -> None:
    result = ts.run(small, seed=3)
    arrays = rs.RunArrays.of(result)
    summary = result.summary()
    for lab in small.lab_names:
        assert rs.retention(arrays, lab, at="1y") == result.retention(lab)
        assert rs.retention(arrays, lab, at="13w") == result.retention(lab, at="13w")
        assert rs.departures(arrays, lab) == len(result.departures(lab))
        # the summary's hires include returns
        share = summary[f"returns.{lab}"] / summary[f"hires.{lab}"]
        assert rs.boomerang_share(arrays, lab) == pytest.approx(share)
    # a target's args reach the statistic: count = "history" as the function computes it
    history = Targets.from_dict(
        {
            "name": "t",
            "targets": [
                target_dict(
                    statistic="boomerang_share",
                    args={"lab": "A", "count": "history"},
                    at_least=None,
                    band=[0.0, 1.0],
                )
            ],
        },
        source="t.toml",
    )
    assert history.targets[0].compute(result) == rs.boomerang_share(arrays, "A", count="history")
    assert rs.departures(arrays, "A", cohorts=["stars"], window=(0, "8w")) == len(
        result.departures("A", cohorts=["stars"], until=8 * 7 / 365.25)
    )
    # the statistics take a RunResult as well as its arrays
    assert rs.departures(result, "A") == rs.departures(arrays, "A")


# ---- targets files ------------------------------------------------------------------------

SOURCE = {"citation": "A report (2025)", "measures": "what it measures"}


def target_dict(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "core",
        "statistic": "departures",
        "args": {"lab": "A", "window": ["0w", "1y"]},
        "at_least": 2,
        "source": dict(SOURCE),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def problem(data: dict[str, Any]) -> str:
    with pytest.raises(TargetsError) as caught:
        Targets.from_dict(data, source="t.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"statistic": "departure"}, "t.toml: targets.0: statistic: unknown statistic 'departure'"),
        (
            {"args": {"lab": "A", "windw": ["0w", "1y"]}},
            "t.toml: targets.0: args.windw: unknown key (expected one of: lab, cohorts, window",
        ),
        ({"args": {"window": ["1y", "0w"]}}, "targets.0: args.window: the window ends before"),
        ({"args": {"window": ["0w", "3"]}}, "targets.0: args.window.1: expected a duration"),
        ({"args": {"origin": "A"}, "statistic": "flow_ratio"}, "args.destination: required key"),
        ({"args": {"kinds": ["hire"]}}, "targets.0: args.kinds.0: input should be 'quit'"),
        (
            {"statistic": "boomerang_share", "args": {"count": "any"}, "at_least": 0.1},
            "targets.0: args.count: input should be 'return' or 'history'",
        ),
        ({"band": [0.1, 0.2]}, "give exactly one of: observed (with se), band, at_least"),
        ({"at_least": None}, "give exactly one of"),
        ({"at_least": None, "observed": 0.5}, "observed and se go together"),
        ({"at_least": None, "observed": 0.5, "se": 0}, "targets.0.se: input should be greater"),
        ({"at_least": None, "band": [0.8, 0.6]}, "band: low 0.8 is above high 0.6"),
        ({"at_leest": 1}, "targets.0.at_leest: unknown key; did you mean 'at_least'?"),
        ({"source": {"citation": "x"}}, "targets.0.source.measures: required key is missing"),
        (
            {"source": {**SOURCE, "judgement": True}},
            "targets.0.source: judgement = true needs a note",
        ),
        (
            {"source": {**SOURCE, "judgement": "yes", "note": "a note"}},
            "targets.0.source.judgement: input should be a valid boolean",
        ),
        ({"name": "two words"}, "targets.0.name: string should match pattern"),
        # a boolean was read as 1 or 0 ("≥ 1"), as the scenario schema does not
        ({"at_least": True}, "targets.0.at_least: expected a number or a duration"),
        # a count written as a word was told only to be a duration
        ({"at_least": "one"}, "targets.0.at_least: expected a number, or a duration with units"),
        ({"at_least": None, "band": [0.5, True]}, "targets.0.band.1: expected a number"),
        # figures a statistic cannot take: a percentage typed as a share, a vacuous bound
        (
            {
                "statistic": "boomerang_share",
                "args": {"lab": "A"},
                "at_least": None,
                "band": [2, 6],
            },
            "targets.0: band: 2 is outside what boomerang_share is a share (0 to 1) (a "
            "percentage given as a share?)",
        ),
        ({"at_least": -3}, "targets.0: at_least: -3 always holds: departures is never negative"),
        (
            {"at_least": None, "observed": -1.0, "se": 1.0},
            "targets.0: observed: -1 is outside what departures is never negative",
        ),
        (
            {
                "statistic": "retention",
                "args": {"lab": "A", "at": "1y"},
                "at_least": None,
                "at_most": 1.0,
            },
            "targets.0: at_most: 1 always holds: retention is a share (0 to 1)",
        ),
        (
            {"statistic": "retention", "args": {"lab": "A", "at": "1y"}, "at_least": 1.5},
            "targets.0: at_least: 1.5 can never hold: retention is a share (0 to 1)",
        ),
        # hires up to the end of the run cannot be followed for two years: refused up front
        (
            {
                "statistic": "new_hire_retention",
                "args": {"lab": "A"},
                "at_least": None,
                "band": [0.6, 0.8],
            },
            "targets.0: args.hired: required with after > 0",
        ),
        # a flow from a lab to itself is undefined on every run
        (
            {"statistic": "flow_share", "args": {"origin": "A", "destination": "A"}},
            "targets.0: args.destination: the same lab as origin ('A')",
        ),
    ],
)
def test_bad_targets_are_refused_naming_the_file_and_key(
    changes: dict[str, Any], message: str
) -> None:
    text = problem({"name": "t", "targets": [target_dict(**changes)]})
    assert message.lower() in text.lower()
    assert "\n" not in text  # one problem, one line


def test_targets_file_level_problems() -> None:
    assert "t.toml: targets: list should have at least 1 item" in problem(
        {"name": "t", "targets": []}
    )
    assert "repeated: core" in problem({"name": "t", "targets": [target_dict(), target_dict()]})
    assert "t.toml: run_duration: expected a duration" in problem(
        {"name": "t", "run_duration": 3, "targets": [target_dict()]}
    )
    several = problem({"name": "t", "bogus": 1, "targets": [target_dict(statistic="x")]})
    assert several.startswith("t.toml: invalid targets file (2 problems)")


def test_values_and_bounds_read_durations_in_years() -> None:
    targets = Targets.from_dict(
        {
            "name": "t",
            "targets": [
                target_dict(
                    statistic="mean_time_to_return",
                    args={},
                    at_least=None,
                    observed="18mo",
                    se="6mo",
                )
            ],
        }
    )
    assert targets["core"].observed == 1.5 and targets["core"].se == 0.5
    assert targets["core"].bounds == pytest.approx((1.5 - 0.98, 1.5 + 0.98))


def test_load_targets_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="no such file"):
        load_targets(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(TargetsError, match=r"bad\.toml: not valid TOML"):
        load_targets(bad)


# ---- evaluation ---------------------------------------------------------------------------


def constant_statistic(result: ts.RunResult) -> float:
    return 5.0


def test_evaluate_targets_tabulates_mean_interval_inside_and_z(small: ts.Scenario) -> None:
    targets = [
        Target(
            name="five",
            statistic=constant_statistic,
            observed=4.0,
            se=0.5,
            source=Source(**SOURCE),
        ),
        Target(
            name="a_departures",
            statistic="departures",
            args={"lab": "A"},
            band=(0, 1e6),
            source=Source(**SOURCE),
        ),
    ]
    table = evaluate_targets(small, targets, seeds=4).set_index("target")
    five = table.loc["five"]
    assert five["mean"] == 5.0 and five["z"] == pytest.approx(2.0)
    assert not five["inside"] and five["share_inside"] == 0.0
    assert five["ci_low"] == five["ci_high"] == 5.0
    values = target_values(small, targets, seeds=4)
    counts = values["a_departures"]
    departures = table.loc["a_departures"]
    assert departures["mean"] == pytest.approx(counts.mean())
    assert departures["ci_low"] < counts.mean() < departures["ci_high"]
    assert departures["inside"] and departures["share_inside"] == 1
    # the replicate seeds are spawned from the root seed: the same call, the same values
    pd.testing.assert_frame_equal(values, target_values(small, targets, seeds=4))


def test_a_share_interval_is_clipped_to_zero_and_one() -> None:
    # two seeds, 0.0 and 1.0: the t-interval of the mean is 0.5 ± 6.35, which the targets and
    # calibrate tables showed as [-5.85, 6.85] for a share
    from talentsim.targets import _fit_row

    def named(statistic: str, band: tuple[float, float]) -> Target:
        return Target(
            name=statistic, statistic=statistic, args={"lab": "A"}, band=band,
            source=Source(**SOURCE),
        )  # fmt: skip

    row = _fit_row(named("boomerang_share", (0.02, 0.06)), np.array([0.0, 1.0]))
    assert row["mean"] == 0.5 and (row["ci_low"], row["ci_high"]) == (0.0, 1.0)
    row = _fit_row(named("departures", (0, 10)), np.array([0.0, 10.0]))
    assert row["ci_low"] == 0.0 and row["ci_high"] > 10.0  # (a count has no upper end)
    free = _fit_row(
        Target(name="free", statistic=constant_statistic, observed=0.0, se=1.0,
               source=Source(**SOURCE)),
        np.array([0.0, 1.0]),
    )  # fmt: skip
    assert free["ci_low"] < 0 < 1 < free["ci_high"]  # (a function's values are not bounded)


def test_evaluate_refuses_targets_that_do_not_fit_the_scenario(small: ts.Scenario) -> None:
    def targets(**changes: Any) -> Targets:
        return Targets.from_dict({"name": "t", "targets": [target_dict(**changes)]}, source="t")

    with pytest.raises(TargetsError, match=r"t: targets\.0 \(core\): args\.lab: no lab named 'Z'"):
        evaluate_targets(small, targets(args={"lab": "Z"}), seeds=2)
    with pytest.raises(TargetsError, match=r"args\.cohorts: no cohort named \['nobody'\]"):
        evaluate_targets(small, targets(args={"cohorts": ["nobody"]}), seeds=2)
    too_long = targets(
        statistic="new_hire_retention",
        args={"lab": "A", "hired": ["0w", "1y"]},
        at_least=None,
        band=[0.5, 0.9],
    )
    with pytest.raises(TargetsError, match=r"targets\.0 \(core\): new_hire_retention needs a run"):
        evaluate_targets(small, too_long, seeds=2)
    other = Targets.from_dict({"name": "t", "scenario": "msl_exodus", "targets": [target_dict()]})
    with pytest.raises(TargetsError, match="for scenario 'msl_exodus', not 'small'"):
        evaluate_targets(small, other, seeds=2)


def test_run_duration_lengthens_the_run(small: ts.Scenario) -> None:
    targets = Targets.from_dict(
        {
            "name": "t",
            "run_duration": "3y",
            "targets": [
                target_dict(
                    statistic="new_hire_retention",
                    args={"lab": "B", "hired": ["0w", "1y"], "after": "2y"},
                    at_least=None,
                    band=[0.0, 1.0],
                )
            ],
        }
    )
    values = target_values(small, targets, seeds=2)
    assert values["core"].between(0, 1).all()


SHIPPED = sorted((ROOT / "targets").glob("*.toml"))


def test_targets_are_shipped() -> None:
    assert {path.name for path in SHIPPED} >= {"msl.toml", "labs_without_shocks.toml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_targets_load_cite_and_evaluate_on_their_scenario(path: Path) -> None:
    targets = load_targets(path)
    for target in targets.targets:
        assert target.source.citation and target.source.measures and target.applies_to
    assert targets.scenario is not None
    table = evaluate_targets(ROOT / "scenarios" / f"{targets.scenario}.toml", targets, seeds=2)
    assert list(table["target"]) == [t.name for t in targets.targets]
    assert table["mean"].notna().all()


def test_cli_targets_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "targets",
            str(ROOT / "scenarios" / "msl_exodus.toml"),
            str(ROOT / "targets" / "msl.toml"),
            "--seeds",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "core_departures_2mo" in out and "≥ 8" in out


def test_cli_targets_bad_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "t"\n[[targets]]\nname = "x"\nstatistic = "departures"\n'
        'args = { lab = "MSL", windw = ["0w", "2mo"] }\nat_least = 1\n'
        'source = { citation = "c", measures = "m" }\n'
    )
    status = main(["targets", str(ROOT / "scenarios" / "msl_exodus.toml"), str(bad)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {bad}: targets.0: args.windw: unknown key")
    assert err.count("\n") == 1


def test_cli_targets_names_files_of_the_wrong_kind(capsys: pytest.CaptureFixture[str]) -> None:
    # the two files swapped gave four scenario-schema errors about the targets file
    scenario, targets = ROOT / "scenarios" / "msl_exodus.toml", ROOT / "targets" / "msl.toml"
    assert main(["targets", str(targets), str(scenario)]) == 2
    assert capsys.readouterr().err == (
        f"error: {targets}: a targets file where FILE should be a scenario file (the two "
        "files given the other way round?)\n"
    )
    other = ROOT / "scenarios" / "boomerang.toml"
    assert main(["targets", str(scenario), str(other)]) == 2
    assert capsys.readouterr().err == (
        f"error: {other}: a scenario file where TARGETS should be a targets file\n"
    )


@pytest.mark.parametrize(
    ("command", "given", "said"),
    [
        # a targets or calibration file read as a scenario listed its keys as unknown
        # ("targets: unknown key; did you mean 'market'?"), a scenario read as a calibration
        # or targets file likewise
        (["run", "{targets}", "--quiet"], "targets", "is a targets file, not a scenario file"),
        (["meanfield", "{calibration}"], "calibration", "is a calibration file, not a scenario"),
        (["calibrate", "{scenario}"], "scenario", "is a scenario file, not a calibration file"),
        (["calibrate", "{targets}"], "targets", "is a targets file, not a calibration file"),
    ],
)
def test_a_file_of_another_kind_is_named_as_what_it_is(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    given: str,
    said: str,
) -> None:
    files = {
        "scenario": ROOT / "scenarios" / "msl_exodus.toml",
        "targets": ROOT / "targets" / "msl.toml",
        "calibration": ROOT / "examples" / "calibrate_flagship" / "flagship.toml",
    }
    words = [word.format(**files) for word in command]
    assert main([*words, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    commands = {"scenario": "run FILE", "targets": "targets SCENARIO FILE"}
    use = f"use it with `talentsim {commands.get(given, 'calibrate FILE')}`\n"
    assert err.startswith(f"error: {files[given]}: {said}") and err.endswith(use), err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(TargetsError, match="is a scenario file, not a targets file"):
        ts.load_targets(files["scenario"])


def test_the_statistics_benchmark_runs_and_writes_its_figures(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "benchmarks/run_statistics.py", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    figures = pd.read_csv(tmp_path / "run_statistics_quick.csv")
    assert set(figures["statistic"]) == {"RunArrays.of", *rs.STATISTICS}
    assert (figures["ratio_to_run"] > 0).all()
