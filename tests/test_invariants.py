"""Invariants under property-based testing: whatever the scenario, the books balance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import talentsim as ts
from talentsim.population import GONE

rates = st.sampled_from(["0/year", "0.5/year", "3/year", "12/year", "2/w"])


@st.composite
def scenarios(draw: st.DrawFn) -> ts.Scenario:
    n_labs = draw(st.integers(1, 4))
    names = [f"L{j}" for j in range(n_labs)]
    labs = {}
    for name in names:
        labs[name] = {
            "pay_level": draw(st.floats(0.5, 4.0)),
            "new_hire_premium": draw(st.floats(0.0, 1.0)),
            "mission_clarity": draw(st.floats(0.0, 1.0)),
            "orientation": draw(st.floats(0.0, 1.0)),
            "recruiting_intensity": draw(st.floats(0.0, 3.0)),
            "reorg_rate": draw(rates),
            "reorg_severity": draw(st.floats(0.0, 3.0)),
            "counter_offer_probability": draw(st.sampled_from([0.0, 0.5, 1.0])),
            "counter_offer_limit": draw(st.floats(1.0, 3.0)),
        }
    cohorts = {}
    for c in range(draw(st.integers(1, 3))):
        lab = draw(st.sampled_from([*names, "outside"]))
        cohorts[f"c{c}"] = {
            "size": draw(st.integers(0, 40)),
            "lab": lab,
            "entry_rate": draw(rates),
            "tenure": "0w" if lab == "outside" else draw(st.sampled_from(["0w", "1y"])),
            "market_value": {"dist": "lognormal", "median": 1.0, "sigma": draw(st.floats(0, 1))},
            "orientation": {"dist": "uniform", "low": 0.0, "high": 1.0},
            "weights": {
                "pay": {"dist": "normal", "mean": 1.0, "sd": draw(st.floats(0, 1)), "low": 0.0}
            },
        }
    starting = {name: 0 for name in names}
    for cohort in cohorts.values():
        if cohort["lab"] in starting:
            starting[cohort["lab"]] += cohort["size"]
    for name in names:
        if draw(st.booleans()):
            labs[name]["capacity"] = starting[name] + draw(st.integers(0, 10))
    data = {
        "time": {"step": draw(st.sampled_from(["1d", "1w", "1mo"])), "duration": "6mo"},
        "market": {
            "offer_rate_employed": draw(rates),
            "offer_rate_outside": draw(rates),
            "separation_rate": draw(rates),
            "noise_scale": draw(st.sampled_from([0.0, 0.3, 2.0])),
            "switching_cost": draw(st.floats(0.0, 2.0)),
        },
        "outside": {"opportunity_rate": draw(rates), "retirement_rate": draw(rates)},
        "labs": labs,
        "cohorts": cohorts,
        "network": {"degree": draw(st.sampled_from([0.0, 4.0])), "reorg_tie_break": 0.5},
        "events": [
            {"kind": "reorganisation", "lab": names[0], "at": "4w", "severity": 1.0},
            {"kind": "leadership_change", "lab": names[-1], "at": "6w", "mission_clarity": 0.2},
        ],
    }
    if n_labs > 1:
        raid = {"kind": "poaching_raid", "lab": names[1], "target": names[0], "at": "8w"}
        raid |= {"offers": draw(st.integers(1, 60)), "former_staff_first": draw(st.booleans())}
        data["events"].append(raid)
    return ts.Scenario.from_dict(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_books_balance(scenario: ts.Scenario, seed: int) -> None:
    model = ts.TalentModel(scenario, seed=seed)
    n_labs = model.lab_state.n
    capacity = model.lab_state.capacity
    for _ in range(model.n_steps):
        model.step()
        location = model.population.view("location")
        # Each researcher is in exactly one place: a lab, the pool, or gone.
        assert ((location >= GONE) & (location <= n_labs)).all()
        # The headcounts the compiled step recorded are the researchers in each place now.
        counts = model.headcount_history[model.steps]
        assert (counts == np.bincount(location[location != GONE], minlength=n_labs + 1)).all()
        assert (model.headcounts() == counts).all()
        assert (counts[:n_labs] <= capacity).all()
        for name in ("pay", "tenure", "attachment", "market_value"):
            assert np.isfinite(model.population.view(name)).all()
        assert (model.population.view("pay") > 0).all()
        assert (model.lab_state.turmoil >= 0).all()
        assert (model.lab_state.reputation >= 0).all()
        if model.network is not None:
            adjacency = model.network.adjacency
            assert (adjacency != adjacency.T).nnz == 0
    res = ts.RunResult.from_model(model)
    ts_ = res.timeseries
    # Flows add up: the headcount change of each place equals its inflow minus its outflow.
    ev = res.events
    for place in model.place_names:
        start = ts_.loc[(ts_["step"] == 0) & (ts_["lab"] == place), "headcount"].item()
        end = ts_.loc[(ts_["step"] == model.steps) & (ts_["lab"] == place), "headcount"].item()
        inflow = (ev["destination"] == place).sum()
        outflow = (ev["origin"] == place).sum()
        assert end - start == inflow - outflow
    # A departure's tenure is its time less the time the stay began: the arrival's, or for
    # the starting staff the set-up's (time 0) less their cohort's tenure.
    people = res.researchers.set_index("researcher")
    began = {
        r: -float(scenario.cohorts[str(c)].tenure)
        for r, c, place in zip(people.index, people["cohort"], people["start"], strict=True)
        if str(place) != "outside"
    }
    for row in ev.itertuples():
        if row.origin in scenario.labs:
            assert row.tenure == pytest.approx(row.time - began.pop(row.researcher), abs=1e-9)
        if row.destination in scenario.labs:
            began[row.researcher] = row.time
    # The population is everyone who started or entered, minus those who retired.
    alive = ts_.loc[ts_["step"] == model.steps, "headcount"].sum()
    entered = (ev["kind"] == "entry").sum()
    retired = (ev["kind"] == "retirement").sum()
    assert alive == len(model.initial_location) + entered - retired
    assert not ts_[["headcount", "hires", "quits", "exits"]].isna().any().any()
    # Mesa's registry holds one agent per researcher still in the field, plus the labs.
    assert len(model.agents_by_type.get(ts.Researcher, [])) == alive
