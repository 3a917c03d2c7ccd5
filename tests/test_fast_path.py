"""The lean run path of calibration gives exactly what the full path gives.

``run_statistics.run_arrays`` (a lean model, arrays without tables), ``targets.target_matrix``
and ``targets.target_matrices`` (many points, in the warm shared process pool) must give the
same arrays and the same statistics as ``ts.run`` → ``RunArrays.of`` → ``Target.compute``,
bit for bit, on every scenario. Their speed is measured in ``benchmarks/``, not here.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

import talentsim as ts
from talentsim import experiments, terms
from talentsim import run_statistics as rs
from talentsim.model import FLOWS, TalentModel
from talentsim.results import EARLY_EXIT_YEARS, LAB_FLOWS
from talentsim.scenario import OUTSIDE
from talentsim.targets import (
    Source,
    Target,
    Targets,
    load_targets,
    scenario_for,
    target_matrices,
    target_matrix,
    target_values,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
SOURCE = {"citation": "test", "measures": "test"}


def assert_same_arrays(full: rs.RunArrays, lean: rs.RunArrays) -> None:
    for field in dataclasses.fields(rs.RunArrays):
        if field.name in ("events", "gain_columns"):
            continue
        a, b = getattr(full, field.name), getattr(lean, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            assert np.array_equal(a, b, equal_nan=True), field.name
        else:
            assert a == b, field.name
    assert np.array_equal(full.gains, lean.gains, equal_nan=True)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_run_arrays_are_the_arrays_of_the_full_result(path: Path) -> None:
    scenario = ts.load_scenario(path)
    for seed in (0, 1):
        full = rs.RunArrays.of(ts.run(scenario, seed=seed))
        assert len(full.time) > 50  # runs with moves of every common kind
        assert_same_arrays(full, rs.run_arrays(scenario, seed=seed))


def test_run_arrays_of_a_run_without_moves(small: ts.Scenario) -> None:
    still = small.with_overrides(
        {
            "market.offer_rate_employed": 0.0,
            "market.offer_rate_outside": 0.0,
            "market.separation_rate": 0.0,
            "outside.opportunity_rate": 0.0,
            "outside.retirement_rate": 0.0,
            "cohorts.pool.entry_rate": 0.0,
        }
    )
    lean = rs.run_arrays(still, seed=0, steps=3)
    assert len(lean.time) == 0 and lean.gains.shape == (0, len(lean.gain_terms))
    assert_same_arrays(rs.RunArrays.of(ts.run(still, seed=0, steps=3)), lean)


def test_run_arrays_check_steps(small: ts.Scenario) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        rs.run_arrays(small, seed=0, steps=0)


def test_a_lean_model_steps_the_same_market(small: ts.Scenario) -> None:
    full, lean = TalentModel(small, seed=4), TalentModel(small, seed=4, lean=True)
    full.run()
    lean.run()
    assert np.array_equal(full.headcount_history, lean.headcount_history)
    assert np.array_equal(full.flow_history, lean.flow_history)
    for name, values in full.move_log().items():
        assert np.array_equal(values, lean.move_log()[name], equal_nan=True), name
    assert lean.datacollector is None and full.datacollector is not None
    assert (lean.steps, lean.time, lean.running) == (full.steps, full.time, full.running)
    full.step()
    lean.step()  # one more step, asked for by hand: counted and run as by Mesa
    assert (lean.steps, lean.time) == (full.steps, full.time)
    assert np.array_equal(full.headcount_history, lean.headcount_history)
    # its researchers' Mesa agents are made when first asked for
    assert len(lean.agents) == len(full.agents)


def test_a_lean_model_runs_for_mesa_time_and_refuses_events(small: ts.Scenario) -> None:
    # Mesa's clock calls step a lean model as they step a full one (a step at each whole
    # time, the clock at the end); events, which it could never run, are refused
    full, lean = TalentModel(small, seed=4), TalentModel(small, seed=4, lean=True)
    for model in (full, lean):
        model.run_for(2.5)
        model.step()
        model.run_until(5.2)
    assert (lean.steps, lean.time) == (full.steps, full.time) == (5, 5.2)
    assert np.array_equal(full.headcount_history, lean.headcount_history)
    assert np.array_equal(full.flow_history, lean.flow_history)
    with pytest.warns(RuntimeWarning, match="before the model's time"):
        lean.run_until(1)
    assert lean.steps == 5
    for schedule in (lean.schedule_event, lean.schedule_recurring):
        with pytest.raises(RuntimeError, match=r"lean model .* cannot run scheduled events"):
            schedule(print, after=1)


def shipped_targets() -> list[Targets]:
    return [load_targets(path) for path in sorted((ROOT / "targets").glob("*.toml"))]


@pytest.mark.parametrize("targets", shipped_targets(), ids=lambda t: t.name)
def test_target_values_equal_the_statistics_computed_the_slow_way(targets: Targets) -> None:
    # each targets file names the shipped scenario it is written for
    scenario = scenario_for(ROOT / "scenarios" / f"{targets.scenario}.toml", targets)
    seeds = [3, 11, 12]
    lean = target_values(scenario, targets, seeds)
    for seed in seeds:
        result = ts.run(scenario, seed=seed)
        for target in targets.targets:
            slow = target.compute(result)  # RunArrays.of(result) inside
            fast = lean.loc[seed, target.name]
            assert fast == slow or (np.isnan(fast) and np.isnan(slow)), target.name


def share_of_hires_from_outside(result: ts.RunResult) -> float:
    events = result.events
    return float((events["kind"] == "hire").mean())


def test_a_function_target_takes_the_full_path(small: ts.Scenario) -> None:
    forms = {"observed": 0.5, "se": 0.1, "source": Source(**SOURCE)}
    function = Target(name="hires", statistic=share_of_hires_from_outside, **forms)
    named = Target(name="departures_a", statistic="departures", args={"lab": "A"}, **forms)
    targets = Targets(name="mixed", targets=[function, named])
    values = target_matrix(small, targets, [0, 1])
    for r, seed in enumerate([0, 1]):
        result = ts.run(small, seed=seed)
        assert values[r, 0] == share_of_hires_from_outside(result)
        assert values[r, 1] == rs.departures(result, "A")


def test_target_matrices_in_the_shared_pool_equal_the_serial_ones() -> None:
    targets = load_targets(ROOT / "targets" / "msl.toml")
    scenario = scenario_for(ROOT / "scenarios" / "msl_exodus.toml", targets)
    points = [{}, {"labs.MSL.pay_level": 2.5}, {"market.switching_cost": 1.4}]
    seeds = [1, 2, 3]
    serial = target_matrices(scenario, targets, points, seeds, workers=1)
    assert serial.shape == (3, 3, len(targets.targets))
    for p, overrides in enumerate(points):
        one = target_matrix(scenario, targets, seeds, overrides=overrides)
        assert np.array_equal(serial[p], one)
    parallel = target_matrices(scenario, targets, points, seeds, workers=2)
    pool = experiments.shared_pool(2)
    again = target_matrices(scenario, targets, points[::-1], seeds, workers=2)
    assert np.array_equal(serial, parallel, equal_nan=True)
    assert np.array_equal(serial[::-1], again, equal_nan=True)
    assert experiments.shared_pool(2) is pool  # the same warm workers, not a new pool
    experiments.discard_shared_pool(2)
    assert experiments.shared_pool(2) is not pool


def test_the_fingerprint_is_remembered_and_still_the_registrys_digest() -> None:
    remembered = terms.fingerprint()
    terms._FINGERPRINTS.clear()
    assert terms.fingerprint() == remembered  # recomputed from the kernels' sources


def summary_the_pandas_way(result: ts.RunResult) -> dict[str, float | int | str]:
    """``RunResult.summary`` as it was computed through pandas before issue 17 (the reference)."""
    table, ev = result.timeseries, result.events
    labs = result.scenario.lab_names
    out: dict[str, float | int | str] = {
        "scenario": result.scenario.name,
        "seed": result.seed,
        "steps": int(table["step"].max()),
        "years": float(table["time"].max()),
    }
    first = table[table["step"] == 0].set_index("lab")["headcount"]
    last = table[table["step"] == table["step"].max()].set_index("lab")["headcount"]
    totals = table[table["step"] > 0].groupby("lab", observed=True)[list(FLOWS)].sum()
    departures = result.departures()
    for lab in labs:
        out[f"headcount_start.{lab}"] = int(first[lab])
        out[f"headcount_end.{lab}"] = int(last[lab])
        for flow in LAB_FLOWS:
            out[f"{flow}.{lab}"] = int(totals.loc[lab, flow])
        offers = int(totals.loc[lab, "offers"])
        out[f"offer_acceptance.{lab}"] = (
            float(totals.loc[lab, "acceptances"] / offers) if offers else float("nan")
        )
        out[f"net_flow.{lab}"] = int(
            totals.loc[lab, "hires"]
            - totals.loc[lab, "quits"]
            - totals.loc[lab, "exits"]
            - totals.loc[lab, "separations"]
        )
        leavers = departures[departures["origin"] == lab]
        out[f"attrition.{lab}"] = result._share_left(lab)
        out[f"early_attrition.{lab}"] = result._share_left(lab, at=EARLY_EXIT_YEARS)
        out[f"early_exits.{lab}"] = int((leavers["tenure"] < EARLY_EXIT_YEARS).sum())
    out["moves"] = int(ev["kind"].isin(["hire", "quit", "return", "exit"]).sum())
    out["boomerangs"] = int((ev["kind"] == "return").sum())
    out["early_exits"] = int((departures["tenure"] < EARLY_EXIT_YEARS).sum())
    out[f"headcount_end.{OUTSIDE}"] = int(last[OUTSIDE])
    out["population_end"] = int(last.sum())
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_summary_equals_the_one_computed_through_pandas(path: Path) -> None:
    scenario = ts.load_scenario(path)
    for seed in (0, 5):
        result = ts.run(scenario, seed=seed)
        fast, slow = result.summary(), summary_the_pandas_way(result)
        assert list(fast) == list(slow)
        for key, value in slow.items():
            same = fast[key] == value or (value != value and fast[key] != fast[key])
            assert same and type(fast[key]) is type(value), (key, fast[key], value)


def test_the_summary_of_a_saved_and_loaded_result(small: ts.Scenario, tmp_path: Path) -> None:
    result = ts.run(small, seed=2)
    loaded = ts.RunResult.load(result.save(tmp_path / "run"))
    assert loaded.summary() == pytest.approx(result.summary(), nan_ok=True)


def a_worker_dies(result: ts.RunResult) -> float:
    os._exit(1)  # a worker killed in the middle of a task


def test_a_shared_pool_whose_worker_died_is_replaced(small: ts.Scenario) -> None:
    forms = {"observed": 0.5, "se": 0.1, "source": Source(**SOURCE)}
    targets = Targets(name="dies", targets=[Target(name="dies", statistic=a_worker_dies, **forms)])
    pool = experiments.shared_pool(2)
    died = r"a worker process died .*the targets' runs are lost"
    with pytest.raises(experiments.SweepError, match=died):
        target_matrices(small, targets, [{}], [0, 1], workers=2)
    assert experiments.shared_pool(2) is not pool  # the next call gets new workers
    experiments.discard_shared_pool(2)
