"""The term registry: one entry and one kernel add a utility term everywhere it belongs.

The worked example of ``docs/contributing.md``: a toy term, registered here only, reaches the
scenario schema, the compiled step, the events, the exit reasons and a figure's legend, and the
mean-field solver and the Mesa reference refuse it by name. Nothing else is edited.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import talentsim as ts
from talentsim import terms
from talentsim.compiled.compat import helper
from talentsim.mean_field import MeanFieldError
from tests.conftest import small_scenario_dict

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
LAB_DISLIKE = 0.4  # the toy term's size at a lab, per unit of weight


@helper
def crunch_term(w, i, j, pay, peer_share, researchers, labs, outside_amenity):  # pragma: no cover
    """``−w_crunch·0.4`` at any lab: a dislike of lab life that the outside pool does not have."""
    return -w * LAB_DISLIKE


CRUNCH = terms.Term(
    "crunch",
    "Crunch time at labs: a dislike of lab life that the outside pool does not have.",
    "−w_crunch·0.4 at a lab",
    crunch_term,
    weight="Weight on crunch time.",
    label="crunch time",
    colour="#000000",
)


@pytest.fixture
def crunch() -> Iterator[terms.Term]:
    with terms.registered(CRUNCH) as term:
        yield term


def test_the_built_in_terms_are_in_utility_order() -> None:
    assert terms.names() == (
        "pay",
        "mission",
        "stability",
        "peers",
        "fairness",
        "attachment",
        "reputation",
        "amenity",
    )
    assert terms.gain_columns()[0] == "gain_pay"
    assert terms.reasons()[-2:] == ["idiosyncratic", "exogenous"]
    assert set(terms.reason_colours()) == set(terms.reasons())


def test_a_registered_term_reaches_the_schema(crunch: terms.Term) -> None:
    data = small_scenario_dict()
    data["cohorts"]["a_staff"]["weights"] = {"crunch": {"dist": "uniform", "low": 1, "high": 2}}
    scenario = ts.Scenario.from_dict(data)
    assert scenario.cohorts["a_staff"].weights.crunch.high == 2
    assert scenario.cohorts["c_staff"].weights.crunch.value == 1.0  # the default weight
    assert scenario.mechanisms.crunch is True
    off = scenario.with_overrides({"mechanisms.crunch": False})
    assert not off.mechanisms.term_on("crunch")
    from talentsim.schema_doc import render

    assert "| `crunch` | −w_crunch·0.4 at a lab |" in render()
    with pytest.raises(ts.ScenarioError, match=r"weights\.crunchy"):
        ts.Scenario.from_dict(
            small_scenario_dict(cohorts={"x": {"size": 1, "lab": "A", "weights": {"crunchy": 1}}})
        )


def test_a_registered_term_reaches_the_step_events_and_exit_reasons(
    crunch: terms.Term,
) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    result = ts.run(scenario, seed=3)
    events = result.events
    assert events.columns[-1] == "gain_crunch"
    exits = events[events["kind"] == "exit"]
    assert len(exits) > 0
    weight = result.researchers.set_index("researcher")["w_crunch"]
    # lab → outside: the term is −0.4·w at the lab and absent outside
    np.testing.assert_allclose(
        exits["gain_crunch"].to_numpy(), LAB_DISLIKE * weight[exits["researcher"]].to_numpy()
    )
    hires = events[(events["kind"] == "hire")]
    np.testing.assert_allclose(
        hires["gain_crunch"], -LAB_DISLIKE * weight[hires["researcher"]].to_numpy()
    )
    reasons = result.exit_reasons()
    assert "crunch" in set(reasons["reason"].astype(str))
    assert reasons.loc[reasons["reason"] == "crunch", "count"].sum() > 0
    # switched off, it contributes nothing
    quiet = ts.run(scenario.with_overrides({"mechanisms.crunch": False}), seed=3)
    assert (quiet.events["gain_crunch"].fillna(0) == 0).all()


def test_a_registered_term_reaches_a_figure_legend(crunch: terms.Term) -> None:
    from talentsim import plots

    result = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=3)
    figure = plots.exit_reasons(result)
    legend = [
        text.get_text()
        for ax in figure.axes
        if ax.get_legend()
        for text in ax.get_legend().get_texts()
    ]
    legend += [text.get_text() for legend_ in figure.legends for text in legend_.get_texts()]
    assert "crunch time" in legend


def test_consumers_that_cannot_treat_a_term_refuse_it_by_name(crunch: terms.Term) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    with pytest.raises(MeanFieldError, match="term 'crunch'"):
        ts.meanfield(scenario)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from reference_mesa import ReferenceModel
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    core: dict[str, object] = {
        f"mechanisms.{name}": False
        for name in ("peers", "fairness", "reputation", "counter_offers")
    }
    core["events"] = []
    with pytest.raises(terms.UnsupportedTermError, match="term 'crunch'"):
        ReferenceModel(scenario.with_overrides(core), seed=0)
    ReferenceModel(scenario.with_overrides({**core, "mechanisms.crunch": False}), seed=0)


def test_unregistering_restores_the_schema_and_the_step() -> None:
    before = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=1).events
    with terms.registered(CRUNCH):
        pass
    assert "crunch" not in terms.names()
    with pytest.raises(ts.ScenarioError, match=r"mechanisms\.crunch"):
        ts.Scenario.from_dict(small_scenario_dict(mechanisms={"crunch": False}))
    after = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=1).events
    assert "gain_crunch" not in after.columns
    assert before.equals(after)


def test_the_registry_refuses_bad_terms() -> None:
    with pytest.raises(ValueError, match="registered already"):
        terms.register(terms.get("pay"))
    with pytest.raises(ValueError, match="lower-case"):
        terms.Term("Bad Name", "", "", crunch_term)
    with pytest.raises(TypeError, match="compiled function"):
        terms.Term("plain", "", "", lambda *args: 0.0)
    with pytest.raises(ValueError, match="built-in"):
        terms.unregister("pay")
    with pytest.raises(KeyError, match="the terms are pay, mission"):
        terms.get("nope")


def test_the_fingerprint_follows_the_registry(crunch: terms.Term) -> None:
    with_crunch = terms.fingerprint()
    terms.unregister("crunch")
    try:
        assert terms.fingerprint() != with_crunch
    finally:
        terms.register(CRUNCH)
    assert terms.fingerprint() == with_crunch
