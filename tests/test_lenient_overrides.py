"""Overrides from Python take what optimisers and samplers hand over (integral floats for
integers, plain numbers for rates and durations, NumPy scalars); files and --set keep units."""

from __future__ import annotations

import numpy as np
import pytest

import talentsim as ts
from talentsim.scenario import ScenarioError

BASE = {
    "name": "lenient",
    "time": {"step": "1w", "duration": "4w"},
    "labs": {"A": {"capacity": 50}, "B": {"reorg_rate": "0.5/year"}},
    "cohorts": {
        "a": {
            "size": 10,
            "lab": "A",
            "weights": {"pay": {"dist": "lognormal", "median": 1.0, "sigma": 0.2}},
        }
    },
    "events": [{"kind": "hiring_freeze", "at": "1w", "lab": "A", "duration": "2w"}],
}


@pytest.fixture(scope="module")
def base() -> ts.Scenario:
    return ts.Scenario.from_dict(BASE)


def test_integral_float_for_an_integer(base: ts.Scenario) -> None:
    for value in (70.0, np.float64(70.0), np.float32(70.0), np.int64(70), 70):
        lab = base.with_overrides({"labs.A.capacity": value}).labs["A"]
        assert lab.capacity == 70 and type(lab.capacity) is int


def test_non_integral_value_for_an_integer_is_a_clear_error(base: ts.Scenario) -> None:
    for value in (70.5, np.float64(70.5), float("nan"), float("inf")):
        with pytest.raises(ScenarioError, match=r"labs\.A\.capacity: expected a whole number"):
            base.with_overrides({"labs.A.capacity": value})
    with pytest.raises(ScenarioError, match=r"cohorts\.a\.size: expected a whole number"):
        base.with_overrides({"cohorts.a.size": 10.25})


def test_plain_number_for_a_rate_is_per_year(base: ts.Scenario) -> None:
    for value in (0.3, np.float64(0.3), 3, np.int32(3)):
        scenario = base.with_overrides(
            {"market.separation_rate": value, "labs.B.reorg_rate": value}
        )
        assert scenario.market.separation_rate == float(value)
        assert scenario.labs["B"].reorg_rate == float(value)
    # exact: the number read back is the float handed over
    odd = 0.1234567890123
    assert base.with_overrides({"market.separation_rate": odd}).market.separation_rate == odd
    # with units, as before
    assert base.with_overrides({"market.separation_rate": "1/month"}).market.separation_rate == 12


def test_plain_number_for_a_duration_is_in_years(base: ts.Scenario) -> None:
    scenario = base.with_overrides(
        {
            "labs.A.recovery_half_life": 0.25,
            "events.0.duration": np.float64(1 / 52),
            "time.duration": 0.5,
        }
    )
    assert scenario.labs["A"].recovery_half_life == 0.25
    assert scenario.events[0].duration == 1 / 52
    assert scenario.time.duration == 0.5


def test_negative_or_non_finite_rate_is_a_clear_error(base: ts.Scenario) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"market\.separation_rate: expected a finite non-negative rate \(per year\), "
        r"got -0\.1",
    ):
        base.with_overrides({"market.separation_rate": -0.1})
    with pytest.raises(
        ScenarioError,
        match=r"time\.duration: expected a finite non-negative duration \(in years\), got nan",
    ):
        base.with_overrides({"time.duration": float("nan")})


def test_floats_and_distribution_parameters_unchanged(base: ts.Scenario) -> None:
    scenario = base.with_overrides(
        {
            "labs.A.pay_level": np.float64(2.5),
            "cohorts.a.weights.pay.sigma": 0.4,
            "cohorts.a.weights.mission": 2,
        }
    )
    assert scenario.labs["A"].pay_level == 2.5
    assert scenario.cohorts["a"].weights.pay.sigma == 0.4
    assert scenario.cohorts["a"].weights.mission.value == 2.0


def test_python_entry_points_are_lenient(base: ts.Scenario) -> None:
    result = ts.run(
        base, seed=1, overrides={"labs.A.capacity": 60.0, "market.separation_rate": 0.2}
    )
    assert result.scenario.labs["A"].capacity == 60
    assert result.scenario.market.separation_rate == 0.2
    model = ts.TalentModel(base, seed=1, overrides={"market.offer_rate_employed": np.float64(2.0)})
    assert model.spec.market.offer_rate_employed == 2.0


def test_files_and_command_line_keep_units(base: ts.Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"market\.separation_rate: expected a rate with units"):
        base.with_overrides({"market.separation_rate": 0.3}, lenient=False)
    with pytest.raises(ScenarioError, match=r"labs\.A\.capacity"):
        base.with_overrides({"labs.A.capacity": 70.0}, lenient=False)


def test_set_on_the_command_line_keeps_requiring_units(tmp_path, capsys) -> None:
    from talentsim.cli import main

    path = tmp_path / "s.toml"
    path.write_text(ts.Scenario.from_dict(BASE).to_toml())
    code = main(
        [
            "run",
            str(path),
            "--seed",
            "1",
            "--set",
            "market.separation_rate=0.3",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code != 0
    assert "expected a rate with units" in capsys.readouterr().err
