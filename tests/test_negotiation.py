"""The negotiation of an offer, in order: offer, counter-offer, capacity, acceptance, moves.

One test per rule (docs/model.md §3 and §7.2–§7.5, §7.12–§7.13): a frozen lab makes no offer
of any kind (raids included) but still counter-offers; capacity is checked after
counter-offers, so a researcher kept by a counter-offer uses up no place; those a full lab
turns away are counted (``blocked_by_capacity``); former staff who come back are paid by
their lab's return rule, not the new-hire premium, also when a raid brings them back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import talentsim as ts
from talentsim.model import FLOWS, RETURN, SKIPPED_RAID
from tests.conftest import small_scenario_dict

# --------------------------------------------------------------------------------------------
# Offers: a frozen lab makes none, raids included
# --------------------------------------------------------------------------------------------


def _raid_on_a(freeze: dict[str, Any] | None, freeze_first: bool = True) -> ts.Scenario:
    """C raids A (30 offers at week 4); optionally C is frozen then."""
    data = small_scenario_dict()
    raid = {
        "kind": "poaching_raid",
        "lab": "C",
        "target": "A",
        "at": "4w",
        "offers": 30,
        "premium": 1.0,
    }
    events = [] if freeze is None else [{"kind": "hiring_freeze", "lab": "C", **freeze}]
    data["events"] = [*events, raid] if freeze_first else [raid, *events]
    data["labs"]["C"]["capacity"] = 200
    return ts.Scenario.from_dict(data)


@pytest.mark.parametrize(
    ("freeze", "freeze_first"),
    [({"at": "0w", "duration": "10w"}, True), ({"at": "4w", "duration": "2w"}, False)],
    ids=["frozen-before", "frozen-the-same-step-listed-after"],
)
def test_a_frozen_raiders_offers_never_arrive(freeze: dict[str, Any], freeze_first: bool) -> None:
    for seed in range(5):
        model = ts.TalentModel(_raid_on_a(freeze, freeze_first), seed=seed)
        model.run(steps=8)
        c = model.spec.lab_names.index("C")
        offers_by_c = model.flow_history[:, FLOWS.index("offers"), c]
        assert offers_by_c[5] == 0  # the raid's step: the frozen raider sends nothing
        hires_by_c = model.flow_history[:, FLOWS.index("hires"), c]
        assert hires_by_c[5] == 0
        raids = [shock for shock in model.shock_log if shock.event is not None]
        kinds = {shock.kind for shock in raids}
        assert SKIPPED_RAID in kinds and "poaching_raid" not in kinds
        skipped = next(shock for shock in raids if shock.kind == SKIPPED_RAID)
        assert skipped.step == 5 and skipped.lab == "C"
    from talentsim import viz

    feed = [item.text for item in viz.shocks(model) if item.kind == SKIPPED_RAID]
    assert len(feed) == 1 and "skipped" in feed[0] and "hiring freeze" in feed[0]


def test_a_raid_after_its_freeze_ended_goes_ahead() -> None:
    model = ts.TalentModel(_raid_on_a({"at": "0w", "duration": "2w"}), seed=0)
    model.run(steps=8)
    c = model.spec.lab_names.index("C")
    assert model.flow_history[5, FLOWS.index("offers"), c] >= 30
    assert [s.kind for s in model.shock_log if s.event is not None][-1] == "poaching_raid"


def test_those_a_skipped_raid_courted_keep_their_regular_offers() -> None:
    """A skipped raid takes nothing away: the same researchers get the same regular offers
    (same draws) as in a run where the raid is not in the scenario at all."""
    frozen = ts.TalentModel(_raid_on_a({"at": "0w", "duration": "10w"}), seed=3)
    data = _raid_on_a({"at": "0w", "duration": "10w"}).to_dict()
    data["events"] = data["events"][:1]  # the freeze alone
    plain = ts.TalentModel(ts.Scenario.from_dict(data), seed=3)
    frozen.run(steps=8)
    plain.run(steps=8)
    np.testing.assert_array_equal(frozen.flow_history, plain.flow_history)


# --------------------------------------------------------------------------------------------
# Counter-offer before capacity
# --------------------------------------------------------------------------------------------


def _two_acceptors(counter: float) -> ts.Scenario:
    """B raids the two researchers of A; B has room for one (noiseless choice).

    ``pay_minded`` goes for the raid's pay alone, so A's matching counter-offer keeps them;
    ``mission_minded`` goes for B's mission, which no raise can match.
    """
    quiet = {"offer_rate_employed": "0/year", "offer_rate_outside": "0/year"}
    return ts.Scenario.from_dict(
        {
            "name": "two_acceptors",
            "time": {"step": "1w", "duration": "2w"},
            "mechanisms": {"peers": False, "fairness": False, "reputation": False},
            "market": {**quiet, "separation_rate": "0/year", "noise_scale": 0.0},
            "outside": {"opportunity_rate": "0/year"},
            "labs": {
                "A": {
                    "mission_clarity": 0.0,
                    "counter_offer_probability": counter,
                    "counter_offer_limit": 3.0,
                },
                "B": {"mission_clarity": 1.0, "orientation": 1.0, "capacity": 2},
            },
            "cohorts": {
                "pay_minded": {"size": 1, "lab": "A", "weights": {"pay": 2.0, "mission": 0.0}},
                "mission_minded": {
                    "size": 1,
                    "lab": "A",
                    "orientation": 1.0,
                    "weights": {"pay": 0.1, "mission": 2.0},
                },
                "b_staff": {"size": 1, "lab": "B"},
            },
            "events": [
                {
                    "kind": "poaching_raid",
                    "lab": "B",
                    "target": "A",
                    "at": "0w",
                    "offers": 2,
                    "premium": 1.0,
                }
            ],
        }
    )


def test_a_researcher_kept_by_a_counter_offer_uses_up_no_place() -> None:
    # B has room for one and both researchers accept its raid offer. A counters both: the
    # pay-minded one stays (with a raise), so the mission-minded one gets B's place — on every
    # seed. (With capacity first, the place would go to the pay-minded one on about half the
    # seeds and be left empty: 10 seeds would all pass with probability 1/1024.)
    for seed in range(10):
        model = ts.TalentModel(_two_acceptors(counter=1.0), seed=seed)
        model.step()
        result = ts.RunResult.from_model(model)
        moves = result.events[result.events["kind"] == "quit"]
        assert list(moves["cohort"]) == ["mission_minded"]
        summary = result.summary()
        assert summary["counter_retained.A"] == 1
        assert summary["blocked_by_capacity.B"] == 0
        pay = model.population.view("pay")
        assert pay[0] == pytest.approx(2.0)  # the raise matched the raid's pay


def test_a_full_lab_turns_away_and_counts_the_rest() -> None:
    # Without counter-offers both go for one place: one moves, one is blocked and stays.
    for seed in range(5):
        model = ts.TalentModel(_two_acceptors(counter=0.0), seed=seed)
        model.step()
        summary = ts.RunResult.from_model(model).summary()
        assert summary["quits.A"] == 1
        assert summary["acceptances.B"] == 2
        assert summary["blocked_by_capacity.B"] == 1
        assert summary["headcount_end.B"] == 2


@pytest.mark.parametrize("seed", range(4))
def test_acceptances_are_moves_counter_retentions_or_blocked(seed: int) -> None:
    """Every accepted offer ends as exactly one of: a move, kept by a counter-offer, or
    turned away by capacity (outside opportunities off, so counter-offers answer offers)."""
    data = small_scenario_dict()
    data["outside"] = {"opportunity_rate": "0/year", "retirement_rate": "0.2/year"}
    data["labs"]["A"]["counter_offer_probability"] = 0.5
    data["labs"]["C"]["capacity"] = 45  # 40 staff: C fills up and turns people away
    model = ts.TalentModel(ts.Scenario.from_dict(data), seed=seed)
    model.run()
    flows = model.flow_history[1:].sum(axis=0)  # flows × places over the run
    n_labs = model.lab_state.n

    def total(name: str) -> int:
        return int(flows[FLOWS.index(name), :n_labs].sum())

    assert total("blocked_by_capacity") > 0
    assert total("acceptances") == (
        total("hires") + total("counter_retained") + total("blocked_by_capacity")
    )
    result = ts.RunResult.from_model(model)
    summary = result.summary()
    series = result.timeseries
    for lab in model.spec.lab_names:
        counted = series.loc[series["lab"] == lab, "blocked_by_capacity"].sum()
        assert summary[f"blocked_by_capacity.{lab}"] == counted
    assert summary["blocked_by_capacity.B"] == 0  # B has no capacity limit


# --------------------------------------------------------------------------------------------
# Returners' pay
# --------------------------------------------------------------------------------------------


def _returns_scenario(**b: Any) -> ts.Scenario:
    """Stars at A used to work at B, which pays new hires a 50% premium."""
    data = small_scenario_dict()
    data["events"] = []  # no pay changes: pay levels stay as stated
    data["labs"]["B"].update({"new_hire_premium": 0.5, "capacity": 1000, **b})
    data["labs"]["A"]["reorg_rate"] = "6/year"
    data["labs"]["A"]["capacity"] = 1000
    data["labs"]["C"]["capacity"] = 1000
    data["cohorts"]["stars"]["size"] = 40
    return ts.Scenario.from_dict(data)


def _moves(scenario: ts.Scenario, seed: int) -> tuple[ts.TalentModel, dict[str, np.ndarray]]:
    model = ts.TalentModel(scenario, seed=seed)
    model.run()
    return model, model.move_log()


@pytest.mark.parametrize(
    ("rule", "factor"),
    [({}, 1.0), ({"return_premium": 0.3}, 1.3)],
    ids=["default-market-no-premium", "market-with-premium"],
)
def test_returners_are_paid_market_pay_with_the_return_premium(
    rule: dict[str, Any], factor: float
) -> None:
    scenario = _returns_scenario(**rule)
    b = scenario.lab_names.index("B")
    returns_to_b = hires = 0
    for seed in range(3):
        model, log = _moves(scenario, seed)
        level = model.lab_state.pay_level
        premium = model.lab_state.new_hire_premium
        value = model.population.view("market_value")[log["researcher"]]
        into_lab = log["destination"] < model.lab_state.n
        back = (log["kind"] == RETURN) & into_lab
        destination = log["destination"][back]
        expected = level[destination] * np.where(destination == b, factor, 1.0) * value[back]
        np.testing.assert_allclose(log["pay_after"][back], expected, rtol=1e-12)
        returns_to_b += int((destination == b).sum())
        # new hires (not returning) still get the new-hire premium
        hired = np.isin(log["kind"], (ts.model.HIRE, ts.model.QUIT)) & into_lab
        hired_into = log["destination"][hired]
        np.testing.assert_allclose(
            log["pay_after"][hired],
            level[hired_into] * (1 + premium[hired_into]) * value[hired],
            rtol=1e-12,
        )
        hires += int(hired.sum())
    assert returns_to_b >= 10 and hires >= 10


def test_returners_can_be_paid_their_old_pay() -> None:
    scenario = _returns_scenario(return_pay="old")
    returns = 0
    for seed in range(3):
        model, log = _moves(scenario, seed)
        b = model.spec.lab_names.index("B")
        value = model.population.view("market_value")
        for m in np.flatnonzero((log["kind"] == RETURN) & (log["destination"] == b)):
            r = log["researcher"][m]
            left = np.flatnonzero((log["researcher"][:m] == r) & (log["origin"][:m] == b))
            # their pay when they last left B; starting alumni: B's pay level × market value
            old = log["pay_before"][left[-1]] if left.size else 1.2 * value[r]
            assert log["pay_after"][m] == pytest.approx(old, rel=1e-12)
            returns += 1
    assert returns >= 10


def test_a_return_premium_needs_market_pay() -> None:
    data = small_scenario_dict()
    data["labs"]["B"].update({"return_pay": "old", "return_premium": 0.2})
    with pytest.raises(ts.ScenarioError, match=r"labs\.B: return_premium applies to"):
        ts.Scenario.from_dict(data)


def test_returners_can_be_paid_as_newcomers_which_the_mean_field_needs() -> None:
    from talentsim.mean_field import untreatable

    scenario = _returns_scenario(return_pay="new_hire")
    model, log = _moves(scenario, 0)
    b = scenario.lab_names.index("B")
    back = (log["kind"] == RETURN) & (log["destination"] == b)
    assert back.sum() >= 3
    # as every hire into B: its pay level 1.2 with the 50% new-hire premium
    value = model.population.view("market_value")
    expected = 1.2 * 1.5 * value[log["researcher"][back]]
    np.testing.assert_allclose(log["pay_after"][back], expected, rtol=1e-12)
    assert not any(problem.startswith("labs.B.") for problem in untreatable(scenario))
    refused = untreatable(_returns_scenario())
    assert any(problem.startswith("labs.B.return_pay") for problem in refused)


# --------------------------------------------------------------------------------------------
# Rules stated in docs/model.md §7.12–§7.13 with a test each (added after a review)
# --------------------------------------------------------------------------------------------


def test_a_frozen_lab_makes_no_regular_offers_but_still_counter_offers() -> None:
    """§7.12: weight 0 in the draw of regular offers; keeping staff is not hiring."""
    data = small_scenario_dict()
    # C pays least, so offers to its staff pay more: the condition for a counter-offer
    data["events"] = [{"kind": "hiring_freeze", "lab": "C", "at": "0w"}]  # for good
    data["labs"]["C"]["counter_offer_probability"] = 0.8
    counters = retained = 0
    for seed in range(5):
        model = ts.TalentModel(ts.Scenario.from_dict(data), seed=seed)
        model.run()
        c = model.spec.lab_names.index("C")
        # the offers C makes (counted by the offering lab), in every step: none
        assert model.flow_history[:, FLOWS.index("offers"), c].sum() == 0
        assert model.flow_history[:, FLOWS.index("hires"), c].sum() == 0
        counters += int(model.flow_history[:, FLOWS.index("counter_offers"), c].sum())
        retained += int(model.flow_history[:, FLOWS.index("counter_retained"), c].sum())
    assert counters >= 10 and retained >= 1


@pytest.mark.parametrize(
    ("rule", "factor"),
    [({"return_premium": 0.3}, 1.3), ({}, 1.0)],
    ids=["market-with-premium", "market"],
)
def test_a_raids_offers_to_its_former_staff_follow_its_return_rule(
    rule: dict[str, Any], factor: float
) -> None:
    """§7.13: a raid's former staff come back at the raider's return pay, not its premium."""
    data = _returns_scenario(**rule).to_dict()
    data["market"]["offer_rate_employed"] = "0/year"  # every move into B at week 4 is the raid's
    data["events"] = [
        {
            "kind": "poaching_raid",
            "lab": "B",
            "target": "A",
            "at": "4w",
            "offers": 40,
            "premium": 1.0,  # twice the pay level for newcomers
            "former_staff_first": True,
        }
    ]
    returns = 0
    for seed in range(3):
        model, log = _moves(ts.Scenario.from_dict(data), seed)
        b = model.spec.lab_names.index("B")
        value = model.population.view("market_value")
        in_raid = (log["step"] == 5) & (log["destination"] == b)
        back = in_raid & (log["kind"] == RETURN)
        expected = 1.2 * factor * value[log["researcher"][back]]
        np.testing.assert_allclose(log["pay_after"][back], expected, rtol=1e-12)
        joined = in_raid & (log["kind"] != RETURN) & (log["origin"] == 0)  # (from A)
        np.testing.assert_allclose(
            log["pay_after"][joined], 1.2 * 2.0 * value[log["researcher"][joined]], rtol=1e-12
        )
        returns += int(back.sum())
    assert returns >= 5  # the raid reached the stars, whose former lab is B
