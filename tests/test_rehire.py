"""How keenly a lab courts its former staff: ``labs.NAME.rehire_rate`` (docs/model.md §7.2).

An offer drawn from a researcher's former lab is made with probability the lab's
``rehire_rate`` (thinning, with its own keyed draw), so the lab courts its former staff at that
multiple of the rate at which it courts anyone else. Tested here: at rate 0 nobody returns
(raids excepted, which are not thinned) while hiring goes on; the rate of offers from the former
lab is rate × the weight-based rate, within sampling error, and the offers of every other lab
are untouched (common random numbers make that exact); rate 1 is a scenario without the key,
bit for bit; the schema, the mean field and calibration treat the key as documented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

import talentsim as ts
from talentsim import run_statistics as rs
from talentsim.calibration import as_parameters
from talentsim.mean_field import MeanFieldError, meanfield, untreatable
from talentsim.model import FLOWS
from tests.conftest import small_scenario_dict
from tests.test_golden import frame_digest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(6)
#: A two-sided test's p-value below this fails (a false alarm about once in 1000 runs).
ALPHA = 1e-3


def _all_labs(scenario: ts.Scenario, rate: float) -> ts.Scenario:
    return scenario.with_overrides({f"labs.{name}.rehire_rate": rate for name in scenario.labs})


# --------------------------------------------------------------------------------------------
# Rate 0: no returns, hiring goes on
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["boomerang", "msl_exodus"])
def test_at_rate_zero_nobody_returns_while_hiring_goes_on(name: str) -> None:
    scenario = ts.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    assert not any(e.kind == "poaching_raid" for e in scenario.events)  # (raids are not thinned)
    never = _all_labs(scenario, 0.0)
    returns_before = 0
    for seed in SEEDS[:4]:
        kinds = ts.run(never, seed=seed).events["kind"].astype(str)
        assert (kinds == "return").sum() == 0
        assert (kinds == "quit").sum() + (kinds == "hire").sum() >= 20
        returns_before += (ts.run(scenario, seed=seed).events["kind"] == "return").sum()
    assert returns_before >= 20  # the scenario does have returns when labs court alumni


def test_raids_still_reach_former_staff_at_rate_zero() -> None:
    # B raids A, alumni first; A's stars were at B. B never courts them by regular offers, so
    # every return to B is a raid's, in the raid's step.
    raid = {"kind": "poaching_raid", "lab": "B", "target": "A", "at": "4w", "offers": 10}
    data = small_scenario_dict(events=[{**raid, "premium": 1.0, "former_staff_first": True}])
    data["labs"]["B"].update({"return_pay": "new_hire", "capacity": 200})
    scenario = _all_labs(ts.Scenario.from_dict(data), 0.0)
    raid_returns = 0
    for seed in SEEDS:
        model = ts.TalentModel(scenario, seed=seed)
        model.run()
        returns = model.flow_history[:, FLOWS.index("returns"), :].sum(axis=1)
        (raid_step,) = [shock.step for shock in model.shock_log if shock.kind == "poaching_raid"]
        raid_returns += returns[raid_step]
        assert returns.sum() == returns[raid_step]
    assert raid_returns >= 10


# --------------------------------------------------------------------------------------------
# The rate of offers from the former lab
# --------------------------------------------------------------------------------------------

N = 400
OFFER_RATE = 6.0  # per year, employed and in the pool
WEIGHTS = {"A": 1.0, "B": 2.0, "C": 1.0}  # B is everyone's former lab


def _offers_market(start: str, rehire: float, *, alumni: bool = True) -> ts.Scenario:
    """N researchers at ``start`` (lab A or the pool) whose former lab is B; nobody moves.

    No capacity limits, no separations, outside opportunities or retirements; a switching
    cost of 10 and an outside amenity of 20 with best-response choice, so every offer is
    declined and the state, hence the rate of each lab's offers, stays as it started.
    """
    cohort: dict[str, Any] = {"size": N, "lab": start}
    if alumni:
        cohort["previous_lab"] = "B"
    return ts.Scenario.from_dict(
        {
            "name": "offers",
            "time": {"step": "1w", "duration": "1y"},
            "market": {
                "offer_rate_employed": f"{OFFER_RATE}/year",
                "offer_rate_outside": f"{OFFER_RATE}/year",
                "separation_rate": "0/year",
                "noise_scale": 0.0,
                "switching_cost": 10.0,
            },
            "outside": {"opportunity_rate": "0/year", "retirement_rate": "0/year", "amenity": 20.0},
            "labs": {
                name: {
                    "recruiting_intensity": w,
                    **({"rehire_rate": rehire} if name == "B" else {}),
                }
                for name, w in WEIGHTS.items()
            },
            "cohorts": {"alumni": cohort},
        }
    )


def _offers_by_lab(scenario: ts.Scenario, seed: int) -> np.ndarray:
    model = ts.TalentModel(scenario, seed=seed)
    model.run()
    assert model.flow_history[:, FLOWS.index("acceptances"), :].sum() == 0  # nobody moved
    return model.flow_history[:, FLOWS.index("offers"), :3].sum(axis=0)


@pytest.mark.parametrize("start", ["A", "outside"])
@pytest.mark.parametrize("rate", [0.3, 0.0])
def test_the_former_lab_courts_at_rate_times_the_weight_based_rate(start: str, rate: float) -> None:
    # Offers from lab j arrive at λ·w_j / Σ w over the labs that may offer (all but one's own),
    # those from the former lab B thinned to rate × that. Over 6 seeds of N researchers for a
    # year, B's offers are Poisson with mean 6·N·λ·rate·p_B (p_B = 2/3 at A, 1/2 in the pool;
    # about 2900 at rate 0.3 from lab A): an exact two-sided Poisson test at level 1e-3. With
    # the same seeds every other lab's offers are the very same as at rate 1 (the thinning
    # draws its own uniforms), and B's are a subset of those: given the n offers B drew, the
    # number made is Binomial(n, rate), an exact binomial test at level 1e-3.
    others = [lab for lab in WEIGHTS if lab != start]
    p_b = WEIGHTS["B"] / sum(WEIGHTS[lab] for lab in others)
    b = list(WEIGHTS).index("B")
    drawn = made = 0
    for seed in SEEDS:
        courted = _offers_by_lab(_offers_market(start, rate), seed)
        alike = _offers_by_lab(_offers_market(start, 1.0), seed)
        for j in range(3):
            if j != b:
                assert courted[j] == alike[j]
        assert courted[b] <= alike[b]
        drawn, made = drawn + alike[b], made + courted[b]
    expected = len(SEEDS) * N * OFFER_RATE * 1.0 * p_b * rate
    if rate == 0:
        assert made == 0 and drawn > 1000
        return
    poisson_p = 2 * min(stats.poisson.cdf(made, expected), stats.poisson.sf(made - 1, expected))
    assert poisson_p > ALPHA, (made, expected)
    assert stats.binomtest(int(made), int(drawn), rate).pvalue > ALPHA, (made, drawn)


def test_only_former_staff_are_courted_less() -> None:
    # Researchers who never worked at B get all of B's offers, as at rate 1.
    for seed in SEEDS[:3]:
        courted = _offers_by_lab(_offers_market("A", 0.2, alumni=False), seed)
        alike = _offers_by_lab(_offers_market("A", 1.0, alumni=False), seed)
        assert np.array_equal(courted, alike)
        assert courted[1] > 0


# --------------------------------------------------------------------------------------------
# Rate 1 is the scenario without the key
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["boomerang", "msl_exodus"])
def test_rate_one_is_bit_identical_to_a_scenario_without_the_key(name: str) -> None:
    scenario = ts.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    explicit = _all_labs(scenario, 1.0)
    lowered = _all_labs(scenario, 0.5)
    for seed in (0, 1):
        plain, written = ts.run(scenario, seed=seed), ts.run(explicit, seed=seed)
        for table in ("timeseries", "events", "researchers"):
            assert frame_digest(getattr(plain, table)) == frame_digest(getattr(written, table))
        changed = ts.run(lowered, seed=seed)
        assert frame_digest(plain.events) != frame_digest(changed.events)


def test_search_effort_over_the_market_weighs_the_former_lab_as_it_courts() -> None:
    # With search effort from the mean gain over the market, that mean weighs the former lab
    # by its rehire rate: rate 1 is still the scenario without the key, rate 0.5 is not.
    data = small_scenario_dict()
    data["search"] = {"gap_sensitivity": 1.0, "gap": "market"}
    scenario = ts.Scenario.from_dict(data)
    plain = ts.run(scenario, seed=3)
    assert frame_digest(plain.events) == frame_digest(
        ts.run(_all_labs(scenario, 1.0), seed=3).events
    )
    assert frame_digest(plain.events) != frame_digest(
        ts.run(_all_labs(scenario, 0.5), seed=3).events
    )


# --------------------------------------------------------------------------------------------
# Schema, mean field, calibration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_the_schema_refuses_a_rate_outside_zero_to_one(value: float) -> None:
    data = small_scenario_dict()
    data["labs"]["B"]["rehire_rate"] = value
    with pytest.raises(ts.ScenarioError, match=r"labs\.B\.rehire_rate") as caught:
        ts.Scenario.from_dict(data)
    assert "between 0 and 1" in str(caught.value)
    assert "bounding rate" in str(caught.value)


def test_the_schema_refuses_it_in_a_file_naming_file_and_key(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "boomerang.toml").read_text()
    path = tmp_path / "boomerang.toml"
    path.write_text(text.replace("[labs.Home]\n", "[labs.Home]\nrehire_rate = 1.5\n"))
    with pytest.raises(ts.ScenarioError) as caught:
        ts.load_scenario(path)
    message = str(caught.value)
    assert "boomerang.toml" in message and "labs.Home.rehire_rate" in message


def test_the_mean_field_refuses_a_rate_below_one() -> None:
    data = small_scenario_dict(events=[])
    for lab in data["labs"].values():
        lab.update({"return_pay": "new_hire", "reorg_rate": "0/year"})
        lab.pop("capacity", None)
    data["labs"]["C"]["rehire_rate"] = 0.25
    scenario = ts.Scenario.from_dict(data)
    problems = [p for p in untreatable(scenario) if "rehire_rate" in p]
    assert problems == [
        "labs.C.rehire_rate: the lab courts its former staff at 0.25 × the rate at which it "
        "courts anyone else, and the mean-field state does not track former labs (set "
        "labs.C.rehire_rate = 1)"
    ]
    with pytest.raises(MeanFieldError, match=r"labs\.C\.rehire_rate"):
        meanfield(scenario)
    with pytest.warns(UserWarning, match=r"labs\.C\.rehire_rate"):
        result = meanfield(scenario, strict=False)
    assert any("labs.C.rehire_rate" in caveat for caveat in result.caveats)
    at_one = scenario.with_overrides({"labs.C.rehire_rate": 1.0})
    assert not any("rehire_rate" in p for p in untreatable(at_one))


def test_the_rate_is_a_calibration_parameter(flagship: ts.Scenario) -> None:
    (parameter,) = as_parameters(flagship, {"labs.Frontier.rehire_rate": (0.0, 1.0)})
    assert (parameter.path, parameter.low, parameter.high) == ("labs.Frontier.rehire_rate", 0, 1)
    moved = flagship.with_overrides({parameter.path: np.float64(0.25)})
    assert moved.labs["Frontier"].rehire_rate == 0.25
    with pytest.raises(ts.ScenarioError, match=r"labs\.Frontier\.rehire_rate"):
        as_parameters(flagship, {"labs.Frontier.rehire_rate": (1.0, 2.0)})
    # what a boomerang target sees: Frontier's share of returns among its arrivals, 0 at rate 0
    never = flagship.with_overrides({parameter.path: 0.0})
    for seed in (0, 1):
        assert rs.boomerang_share(ts.run(never, seed=seed), "Frontier") == 0
        assert rs.boomerang_share(ts.run(flagship, seed=seed), "Frontier") > 0.05
