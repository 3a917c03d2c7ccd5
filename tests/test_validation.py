"""The mean-field solver, and the simulation validated against theory (docs/validation.md).

The checks' tolerances come from sampling error (Bonferroni t bounds at family-wise level
0.001, see talentsim/validation.py); the fast suite runs each check with enough replicates to
be meaningful, the slow suite with more researchers and seeds. A negative control shows the
trajectory check detects a wrong theory.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import talentsim as ts
from talentsim import validation
from talentsim.mean_field import (
    MeanFieldError,
    MeanFieldWarning,
    meanfield,
    relaxation_time,
    stationary_logit_shares,
    untreatable,
)
from talentsim.scenario import ScenarioError
from tests.conftest import ROOT

# --------------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------------


def test_meanfield_has_the_shape_of_a_run_timeseries() -> None:
    scenario = validation.shock_scenario(2_000, years=1.0)
    expected = ts.meanfield(scenario).timeseries
    simulated = ts.run(scenario, seed=1).timeseries
    assert list(expected[["step", "lab"]].astype(str).itertuples(index=False)) == list(
        simulated[["step", "lab"]].astype(str).itertuples(index=False)
    )
    np.testing.assert_allclose(expected["time"], simulated["time"])
    for column in ("headcount", "hires", "quits", "exits", "separations", "mean_pay", "turmoil"):
        assert column in expected
    assert expected.loc[expected["step"] == 0, "headcount"].sum() == pytest.approx(2_000)


@pytest.mark.parametrize("method", ["ode", "steps"])
def test_meanfield_conserves_researchers(method: str) -> None:
    # Headcounts change only by entries and retirements: the flows must balance exactly.
    scenario = validation.shock_scenario(5_000, years=2.0)
    table = meanfield(scenario, method=method).timeseries
    total = table.groupby("step")["headcount"].sum().to_numpy()
    pool = table[table["lab"] == "outside"]
    change = (pool["entries"] - pool["retirements"]).to_numpy()
    np.testing.assert_allclose(np.diff(total), change[1:], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["ode", "steps"])
def test_meanfield_refuses_a_rate_that_would_never_finish(method: str) -> None:
    # 1e300/year passed validation; the ODE never ended and the steps raised a NaN error.
    # The scenario now refuses it (more events a step than the simulation draws exactly); a
    # rate the simulation accepts can still be too fast for the mean field's solver.
    base = validation.shock_scenario(1_000)
    with pytest.raises(ScenarioError, match=r"market\.offer_rate_employed: .* at most 500"):
        base.with_overrides({"market.offer_rate_employed": "1e300/year"})
    fast = base.with_overrides({"market.offer_rate_employed": "20000/year"})
    with pytest.raises(MeanFieldError, match=r"market\.offer_rate_employed \(20000/year\)"):
        meanfield(fast, method=method)


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("rtol", 0, "rtol must be a number in [1e-12, 1), not 0"),  # (never returned)
        ("rtol", float("nan"), "rtol must be a number in [1e-12, 1), not nan"),  # (nor this)
        ("rtol", -1, "rtol must be a number in [1e-12, 1), not -1"),
        ("rtol", "x", "rtol must be a number in [1e-12, 1), not 'x'"),
        ("types", 0, "types must be a whole number of at least 1, not 0"),
        ("types", 2.5, "types must be a whole number of at least 1, not 2.5"),
    ],
)
def test_meanfield_refuses_a_bad_option_naming_it(option: str, value: object, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        meanfield(validation.shock_scenario(100), **{option: value})  # type: ignore[arg-type]
    assert str(caught.value) == said


def test_meanfield_refuses_an_offer_rate_that_search_effort_makes_too_fast() -> None:
    # 9,000/year passed the 1e4 guard, but effort up to 20 made it 1.8e5/year: 90 s a year
    # (the scenario now refuses that much at weekly steps; 1,000/year × 20 it accepts)
    fast = validation.shock_scenario(1_000).with_overrides(
        {
            "market.offer_rate_employed": "1000/year",
            "search": {"gap_sensitivity": 1.0, "effort_max": 20.0},
        }
    )
    with pytest.raises(
        MeanFieldError, match=r"offer_rate_employed × search\.effort_max \(20000/year\)"
    ):
        meanfield(fast, method="ode")


def test_meanfield_treats_a_lab_of_capacity_0_as_never_hiring() -> None:
    # it was refused as "binding", though a lab with no room makes no offers: exact
    scenario = validation.shock_scenario(1_000, years=0.5)
    closed = scenario.with_overrides({"labs.C.capacity": 0, "cohorts.c.lab": "outside"})
    result = meanfield(closed, method="steps")
    assert result.caveats == []
    hires = result.timeseries.query("lab == 'C'")["hires"]
    assert len(hires) and (hires == 0).all()


def test_stationary_logit_shares_refuse_where_the_closed_form_does_not_apply() -> None:
    # one lab, noise 0, no lab recruiting: NaN with only numpy warnings before
    with pytest.raises(ValueError, match="at least two labs that recruit"):
        stationary_logit_shares(np.array([0.0]), np.array([1.0]), 0.5)
    with pytest.raises(ValueError, match=r"noise_scale: expected a number > 0, got 0\.0"):
        stationary_logit_shares(np.array([0.0, 1.0]), np.array([1.0, 1.0]), 0.0)
    with pytest.raises(ValueError, match="at least two labs that recruit"):
        stationary_logit_shares(np.array([0.0, 1.0]), np.array([0.0, 0.0]), 0.5)
    # a lab that does not recruit among others that do: share 0, the others as without it
    shares = stationary_logit_shares(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0]), 0.5)
    assert shares[2] == 0.0 and shares[:2] == pytest.approx(
        stationary_logit_shares(np.array([0.0, 1.0]), np.array([1.0, 1.0]), 0.5)
    )


def test_meanfield_refuses_what_it_cannot_treat_and_says_how_to_fix_it() -> None:
    flagship = ts.load_scenario(ROOT / "scenarios" / "msl_exodus.toml")
    with pytest.raises(MeanFieldError) as caught:
        meanfield(flagship)
    message = str(caught.value)
    for key in ("mechanisms.peers", "mechanisms.fairness", "mechanisms.reputation"):
        assert key in message
    assert "strict=False" in message
    raid = {"kind": "poaching_raid", "lab": "B", "target": "A", "at": "0.5y", "offers": 50}
    raided = validation.shock_scenario(1_000, events=[raid])
    assert untreatable(raided) == [
        "events.0 (poaching_raid): a fixed number of targeted offers is not a rate "
        "(remove the event)"
    ]
    assert untreatable(validation.shock_scenario(1_000)) == []


def test_meanfield_can_ignore_with_a_warning_and_caveats() -> None:
    scenario = validation.shock_scenario(1_000, years=0.5).with_overrides(
        {"mechanisms.fairness": True}
    )
    with pytest.warns(MeanFieldWarning, match="mechanisms.fairness"):
        result = meanfield(scenario, strict=False)
    assert any("mechanisms.fairness" in c for c in result.caveats)


def test_meanfield_detects_binding_capacity() -> None:
    scenario = validation.shock_scenario(2_000, years=1.0).with_overrides({"labs.C.capacity": 600})
    with pytest.raises(MeanFieldError, match=r"labs\.C\.capacity binds"):
        meanfield(scenario, method="steps")
    with pytest.raises(MeanFieldError, match=r"labs\.C\.capacity binds.*Raise or remove"):
        meanfield(scenario, method="ode")
    roomy = scenario.with_overrides({"labs.C.capacity": 5_000})
    assert meanfield(roomy).caveats == []


def test_meanfield_rejects_bad_arguments() -> None:
    scenario = validation.shock_scenario(1_000)
    with pytest.raises(ValueError, match="method"):
        meanfield(scenario, method="euler")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="types"):
        meanfield(scenario, types=0)


def test_fixed_attributes_need_one_type_and_random_ones_converge() -> None:
    fixed = validation.shock_scenario(1_000).with_overrides({"cohorts.a.orientation": 0.5})
    assert meanfield(fixed).types == 1
    scenario = validation.shock_scenario(10_000, years=1.5)
    fine = meanfield(scenario, types=2048, method="steps").headcounts().to_numpy()
    coarse = meanfield(scenario, types=256, method="steps").headcounts().to_numpy()
    # quasi-Monte Carlo over a smooth integrand: 256 points are within 0.05% of 2048
    assert np.abs(coarse - fine).max() / 10_000 < 5e-4


def test_steps_and_ode_agree_as_the_step_shrinks() -> None:
    scenario = validation.shock_scenario(5_000, years=1.5, step="1d")
    steps = meanfield(scenario, method="steps").headcounts().to_numpy()
    ode = meanfield(scenario, method="ode").headcounts().to_numpy()
    assert np.abs(steps - ode).max() / 5_000 < 5e-3


def test_stationary_logit_shares_satisfy_balance() -> None:
    # The closed form is the stationary distribution of the switching chain it describes.
    rng = np.random.default_rng(3)
    utility, intensity = rng.normal(0, 1, 5), rng.uniform(0.5, 2, 5)
    shares = stationary_logit_shares(utility, intensity, 0.7)
    others = intensity.sum() - intensity
    offer = intensity[None, :] / others[:, None]
    np.fill_diagonal(offer, 0.0)
    accept = 1 / (1 + np.exp(-(utility[None, :] - utility[:, None]) / 0.7))
    rate = offer * accept
    np.fill_diagonal(rate, 0.0)
    np.fill_diagonal(rate, -rate.sum(axis=1))
    np.testing.assert_allclose(shares @ rate, 0.0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(tau=st.floats(0.05, 2.0), jump=st.floats(-100, 100).filter(lambda x: abs(x) > 1))
def test_relaxation_time_of_an_exponential(tau: float, jump: float) -> None:
    time = np.linspace(0, 1 + 20 * tau, 20_001)
    value = 50 + np.where(time < 1, 0, jump * np.exp(-(time - 1) / tau))
    assert relaxation_time(time, value, 1.0, 50.0) == pytest.approx(tau, rel=1e-3)


def test_relaxation_time_is_nan_without_relaxation() -> None:
    time = np.linspace(0, 1, 11)
    assert math.isnan(relaxation_time(time, np.ones(11), 0.0))


# --------------------------------------------------------------------------------------------
# The validation checks (docs/validation.md)
# --------------------------------------------------------------------------------------------


def test_meanfield_matches_burdett_mortensen() -> None:
    check = validation.job_ladder_check()
    assert check.passed, check


def test_stationary_shares() -> None:
    check = validation.stationary_shares_check(seeds=range(8))
    assert check.passed, check


def test_trajectories_with_reorganisations() -> None:
    check = validation.trajectory_check(seeds=range(16))
    assert check.passed, check


def test_trajectory_check_detects_a_wrong_theory() -> None:
    # Negative control: the mean field of a milder reorganisation (severity 0.7, not 1.0) must
    # be rejected by the same test on the same number of replicates.
    wrong = validation.shock_scenario(20_000, severity=0.7)
    check = validation.trajectory_check(seeds=range(16), expected_from=wrong)
    assert not check.passed, check


def test_daily_and_weekly_steps() -> None:
    check = validation.timestep_check(seeds=range(12), researchers=5_000)
    assert check.passed, check


def test_relaxation_time_after_a_shock() -> None:
    check = validation.relaxation_check(seeds=range(16), researchers=10_000, bootstrap=200)
    assert check.passed, check


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("stationary_shares", {"seeds": range(100, 140), "researchers": 50_000}),
        ("trajectories", {"seeds": range(100, 160), "researchers": 50_000}),
        ("timestep", {"seeds": range(100, 130), "researchers": 20_000}),
        ("relaxation", {"seeds": range(100, 180), "researchers": 40_000}),
    ],
)
def test_validation_checks_with_more_replicates(name: str, kwargs: dict) -> None:
    check = validation.ALL_CHECKS[name](**kwargs)
    assert check.passed, check


def test_validate_script_writes_the_page(tmp_path) -> None:
    import runpy
    import sys

    out = tmp_path / "docs"
    argv = sys.argv
    sys.argv = ["validate.py", "--quick", "--out", str(out)]
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(ROOT / "examples" / "validate.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert done.value.code == 0
    page = (out / "validation.md").read_text(encoding="utf-8")
    for section in (
        "## Summary",
        "## 2. Stationary shares",
        "## 3. Trajectories",
        "## 4. Time-step invariance",
        "## 5. Relaxation",
        "## 6. Step length in the shipped scenarios",
        "**reorg_shock** (3 seeds",
        "**fitted/reorg_shock_fitted** (3 seeds",  # the fitted scenarios are shipped too
    ):
        assert section in page
    for name in ("shares", "trajectories", "convergence", "relaxation"):
        figure = out / "figures" / f"validation_{name}.png"
        assert figure.stat().st_size > 10_000
        assert f"figures/validation_{name}.png" in page


def test_meanfield_command(tmp_path, capsys) -> None:
    from talentsim.cli import main

    flagship = str(ROOT / "scenarios" / "msl_exodus.toml")
    assert main(["meanfield", flagship, "--strict"]) == 2
    assert "mechanisms.fairness" in capsys.readouterr().err
    out = tmp_path / "mf.csv"
    # the shipped scenario as it is: the mechanisms left out are named, with why
    assert main(["meanfield", flagship, "--method", "steps", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mechanism(s) left out" in printed
    assert "caveat: ignored: mechanisms.fairness" in printed
    table = pd.read_csv(out)
    assert set(table["lab"]) == {"MSL", "Rival", "Frontier", "outside"}
    assert main(["meanfield", flagship, "--lenient", "--out", str(tmp_path / "no" / "x.csv")]) == 0
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["meanfield", flagship, "--lenient", "--out", str(blocked / "x.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_trajectories_with_every_event_kind_the_mean_field_treats() -> None:
    events = [
        {
            "kind": "leadership_change",
            "lab": "B",
            "at": "0.4y",
            "severity": 0.6,
            "mission_clarity": 0.3,
        },
        {"kind": "hiring_freeze", "lab": "C", "at": "0.6y", "duration": "0.3y"},
        {"kind": "pay_change", "lab": "A", "at": "0.8y", "new_hire_premium": 0.3},
        {"kind": "mission_pivot", "lab": "C", "at": "1.0y", "orientation": 0.9},
        {
            "kind": "pay_change",
            "lab": "B",
            "at": "1.2y",
            "pay_level": 1.3,
            "applies_to": "everyone",
        },
    ]
    scenario = validation.shock_scenario(10_000, years=1.5, events=events)
    check = validation.trajectory_check(seeds=range(12), scenario=scenario)
    assert check.passed, check
    # the events matter: the mean field without them is rejected by the same test
    calm = validation.shock_scenario(10_000, years=1.5, events=[])
    control = validation.trajectory_check(seeds=range(12), scenario=scenario, expected_from=calm)
    assert not control.passed, control


def test_ode_records_pay_and_turmoil_as_the_simulation_does() -> None:
    # Before a pay change for everyone, mean pay is the old one; at an event's step the
    # recorded state is the one before the event (the simulation records the end of a step).
    events = [
        {"kind": "pay_change", "lab": "A", "at": "1y", "pay_level": 2.4, "applies_to": "everyone"},
        {"kind": "reorganisation", "lab": "B", "at": "1y", "severity": 1.0},
    ]
    scenario = validation.shock_scenario(5_000, years=2.0, events=events)
    shock = round(1.0 / scenario.time.step)
    tables = {m: meanfield(scenario, method=m).timeseries for m in ("ode", "steps")}
    for table in tables.values():
        a = table[table["lab"] == "A"].set_index("step")["mean_pay"]
        assert a[shock] < 0.6 * a[shock + 1]  # the doubling shows after the event, not before
        b = table[table["lab"] == "B"].set_index("step")["turmoil"]
        assert b[shock] == 0 and b[shock + 1] > 0.9
    ode, steps = (t.set_index(["step", "lab"]) for t in tables.values())
    np.testing.assert_allclose(ode["mean_pay"], steps["mean_pay"], rtol=0.02)


@pytest.mark.parametrize("weeks", [2.5, 3.5, 4.5])
def test_hiring_freeze_lasts_as_many_steps_as_in_the_simulation(weeks: float) -> None:
    freeze = [{"kind": "hiring_freeze", "lab": "C", "at": "10w", "duration": f"{weeks}w"}]
    scenario = validation.shock_scenario(2_000, years=0.5, events=freeze)
    expected = meanfield(scenario, method="steps").timeseries
    hires = expected[expected["lab"] == "C"].set_index("step")["hires"]
    simulated = ts.run(scenario, seed=1).timeseries
    sim_hires = simulated[simulated["lab"] == "C"].set_index("step")["hires"]
    frozen = sorted(hires.index[hires == 0].drop(0))
    assert frozen == sorted(sim_hires.index[sim_hires == 0].drop(0))
    assert len(frozen) == round(weeks)


def test_path_comparison_counts_constant_places_and_needs_replicates() -> None:
    runs = np.tile(np.array([[10.0, 5.0], [10.0, 5.0], [10.0, 5.0]]), (4, 1, 1))
    runs[:, :, 0] += np.arange(4)[:, None]  # place 0 varies across replicates
    expected = np.array([[11.5, 5.0], [11.5, 5.0], [11.5, 5.0]])
    assert validation._compare_paths(runs, expected)["max_t"] == 0
    wrong = expected.copy()
    wrong[:, 1] = 6.0  # a place that never varies, off by one researcher
    assert validation._compare_paths(runs, wrong)["max_t"] == math.inf
    with pytest.raises(ValueError, match="at least 2 replicates"):
        validation._compare_paths(runs[:1], expected)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_meanfield_works_on_every_shipped_scenario(path, capsys) -> None:
    from talentsim.cli import main

    assert main(["meanfield", str(path)]) == 0  # no --set flags needed
    printed = capsys.readouterr().out
    assert "expected headcount" in printed
    for line in printed.splitlines():
        if line.startswith("caveat: ignored: "):
            assert "(set " in line or "(or set " in line  # says what switches it off
