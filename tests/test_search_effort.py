"""On-the-job search effort (scenario table ``[search]``; issue 16, item 1).

An employed researcher receives offers at ``offer_rate_employed × effort``, ``effort =
clip(exp(a·gap + b·turmoil), effort_min, effort_max)`` (see ``docs/model.md``). The
statistical tests count the offers made to one lab's staff in a market where nobody moves
(a prohibitive switching cost), so the state, and hence each researcher's effort, stays as
set up; the expected count is computed here from the stated formula, independently of the
compiled step, and the observed count must lie within 4 standard deviations of it. Within a
step, offers are the events of a Poisson process at rate λ_e·effort (the step is exact: a
researcher may get several offers in one step, docs/model.md §3.1), so the offers from one
lab are a sum of independent Poisson counts (a false failure has probability < 1e-4 per
check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import talentsim as ts
from talentsim.mean_field import MeanFieldError, MeanFieldWarning, meanfield
from talentsim.scenario import ScenarioError

SEEDS = (0, 1, 2)
RATE = 2.0  # offers per employed researcher per year at effort 1
STAFF = 2000
PAY_ONLY = {
    name: False
    for name in (
        "mission",
        "stability",
        "attachment",
        "peers",
        "fairness",
        "reputation",
        "counter_offers",
        "random_reorganisations",
    )
}


def quiet_market(
    *,
    search: dict[str, Any] | None,
    turmoil: float = 0.0,
    rival_pay: float | tuple[float, ...] = 1.0,
) -> dict[str, Any]:
    """Staff at lab A; only the rival labs make offers; nobody moves, separates or leaves.

    One rival lab per pay level in ``rival_pay`` (B, C, ...), all hiring with the same
    recruiting intensity.
    """
    rivals = rival_pay if isinstance(rival_pay, tuple) else (rival_pay,)
    data: dict[str, Any] = {
        "name": "quiet",
        "time": {"step": "1w", "duration": "1y"},
        "mechanisms": PAY_ONLY,
        "market": {
            "offer_rate_employed": f"{RATE}/year",
            "offer_rate_outside": "0/year",
            "separation_rate": "0/year",
            "noise_scale": 1.0,
            "switching_cost": 1000.0,  # nobody accepts: the state stays as set up
        },
        "outside": {"opportunity_rate": "0/year", "retirement_rate": "0/year"},
        "labs": {
            "A": {"pay_level": 1.0, "turmoil": turmoil, "recovery_half_life": "2y"},
            **{
                "BCDEFG"[k]: {"pay_level": pay, "capacity": 10 * STAFF}
                for k, pay in enumerate(rivals)
            },
        },
        "cohorts": {
            "staff": {
                "size": STAFF,
                "lab": "A",
                "weights": {"pay": {"dist": "uniform", "low": 0.0, "high": 4.0}},
            }
        },
    }
    if search is not None:
        data["search"] = search
    return data


def staff_offer_gains(model: ts.TalentModel) -> np.ndarray:
    """The gains of every offer lab A's staff can get in the quiet market (rival, person)."""
    pop = model.population
    at_a = pop.view("location") == 0
    offers = model.lab_state.pay_level[1:, None] * pop.view("market_value")[at_a][None, :]
    return pop.view("w_pay")[at_a] * (np.log(offers) - np.log(pop.view("pay")[at_a]))


def offer_chance(model: ts.TalentModel, step: int, search: dict[str, Any]) -> np.ndarray:
    """Each of lab A's staff's expected offers from each rival lab in ``step`` (formula).

    Shape (rival lab, researcher); pay is the only utility term.

    Every rival lab hires with the same intensity, so each makes the offer with equal
    probability; the gain of moving to lab j is ``w_pay · log(pay offered / pay now)``.
    """
    gains = all_gains = staff_offer_gains(model)  # (rival lab, researcher)
    turmoil = model.turmoil_history[step - 1, 0]  # during the step: as the previous one ended
    if search.get("gap", "offer") == "market":
        gains = gains.mean(axis=0, keepdims=True)  # the effort of the mean gain, any offer
    elif search.get("gap") == "lab":  # the lab's, from its memory as the step starts
        gains = np.full((1, 1), model.search_gap_history[step - 1, 0])
    exponent = search.get("gap_sensitivity", 0.0) * gains
    exponent = exponent + search.get("turmoil_sensitivity", 0.0) * turmoil
    effort = np.clip(np.exp(exponent), search.get("effort_min", 0.0), search.get("effort_max", 3.0))
    expected = effort * RATE * model.dt  # a Poisson mean: nobody moves, so effort stays
    return np.broadcast_to(expected, all_gains.shape) / all_gains.shape[0]  # π_j = 1 / rivals


def offers_against_formula(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Offers to lab A's staff over all seeds, per rival lab: observed, expected, variance.

    And the person-steps of A's staff. The offers from one lab are a sum of independent
    Poisson counts across researchers and steps (mean = variance).
    """
    n_rivals = len(data["labs"]) - 1
    observed, expected, variance = np.zeros(n_rivals), np.zeros(n_rivals), np.zeros(n_rivals)
    person_steps = 0
    offers = ts.model.FLOWS.index("offers")
    for seed in SEEDS:
        model = ts.TalentModel(ts.Scenario.from_dict(data), seed=seed)
        for step in range(1, model.n_steps + 1):
            p = offer_chance(model, step, data["search"])
            model.step()
            observed += model.flow_history[step, offers, 1 : 1 + n_rivals]
            expected += p.sum(axis=1)
            variance += p.sum(axis=1)
            person_steps += p.shape[1]
        # nobody moved: A's staff were the same people all along
        assert model.headcount_history[model.n_steps, 0] == STAFF
    return observed, expected, variance, person_steps


def z_score(observed: np.ndarray, expected: np.ndarray, variance: np.ndarray) -> float:
    """The largest |z| over the rival labs."""
    return float(np.max(np.abs((observed - expected) / np.sqrt(variance))))


@pytest.mark.parametrize("turmoil", [0.0, 0.5, 1.5])
def test_arrival_rate_matches_the_formula_with_turmoil(turmoil: float) -> None:
    search = {"turmoil_sensitivity": 0.8, "effort_max": 3.0}
    data = quiet_market(search=search, turmoil=turmoil)
    observed, expected, variance, _ = offers_against_formula(data)
    assert z_score(observed, expected, variance) < 4, (observed, expected)


@pytest.mark.parametrize("gap", ["offer", "market"])
@pytest.mark.parametrize("rival_pay", [0.6, 1.0, 1.3, 2.0, (0.7, 1.8)])
def test_arrival_rate_matches_the_formula_with_the_gap(
    rival_pay: float | tuple[float, ...], gap: str
) -> None:
    # pay weights uniform on [0, 4]: gaps spread over the clip range at both ends; with two
    # rivals, the two gap rules differ (the mean of efforts against the effort of the mean)
    search = {"gap": gap, "gap_sensitivity": 1.5, "effort_min": 0.3, "effort_max": 2.5}
    data = quiet_market(search=search, rival_pay=rival_pay)
    observed, expected, variance, _ = offers_against_formula(data)
    assert z_score(observed, expected, variance) < 4, (observed, expected)
    if isinstance(rival_pay, tuple):  # the test tells the two rules apart
        other = {**search, "gap": "market" if gap == "offer" else "offer"}
        _, wrong, _, _ = offers_against_formula(quiet_market(search=other, rival_pay=rival_pay))
        assert z_score(observed, wrong, variance) > 4, (observed, expected, wrong)


def offers_per_person_year(data: dict[str, Any]) -> float:
    observed, _, _, person_steps = offers_against_formula(data)
    return float(observed.sum()) / (person_steps / 52)


def test_offers_per_person_rise_with_turmoil_and_with_the_gap() -> None:
    search = {"turmoil_sensitivity": 0.8, "gap_sensitivity": 1.0}
    by_turmoil = [
        offers_per_person_year(quiet_market(search=search, turmoil=t)) for t in (0.0, 0.7, 1.4)
    ]
    by_gap = [
        offers_per_person_year(quiet_market(search=search, rival_pay=p)) for p in (0.7, 1.0, 1.4)
    ]
    assert by_turmoil[0] < by_turmoil[1] < by_turmoil[2], by_turmoil
    assert by_gap[0] < by_gap[1] < by_gap[2], by_gap
    # the contented (a rival paying less) search less than at effort 1, ...
    assert by_gap[0] < 0.9 * RATE
    # ... and turmoil at the cap's reach more than doubles the rate (effort e^1.12 ≈ 3, capped)
    assert by_turmoil[2] > 2.0 * by_turmoil[0]


def test_off_is_the_default_and_the_same_as_absent() -> None:
    data = quiet_market(search=None, turmoil=1.0)
    assert not ts.Scenario.from_dict(data).search.on
    off = {"gap_sensitivity": 0.0, "turmoil_sensitivity": 0.0, "effort_max": 7.0}
    results = [ts.run(ts.Scenario.from_dict(data), seed=3)]
    results.append(ts.run(ts.Scenario.from_dict({**data, "search": off}), seed=3))
    assert results[0].timeseries.equals(results[1].timeseries)
    assert results[0].researchers.equals(results[1].researchers)


def test_effort_one_gives_the_same_offers_as_off() -> None:
    """Common random numbers: at effort 1 under a cap of 1, exactly the offers of no search.

    With the cap at 1 the step's bounding rate is that of no search, so the same draws make
    the same candidate events, and an offer event is kept at effort 1 as without search. (A
    higher cap raises the bounding rate, so the draws differ; the rate tests above check
    those runs statistically.)
    """
    # turmoil 0 and a rival paying the same: gap 0 and turmoil 0, so effort exp(0) = 1
    on = quiet_market(
        search={"turmoil_sensitivity": 1.0, "gap_sensitivity": 1.0, "effort_max": 1.0}
    )
    off = quiet_market(search=None)
    offers = ts.model.FLOWS.index("offers")
    a = ts.TalentModel(ts.Scenario.from_dict(on), seed=5)
    b = ts.TalentModel(ts.Scenario.from_dict(off), seed=5)
    a.run()
    b.run()
    assert a.flow_history[1:, offers].sum() > 0
    np.testing.assert_array_equal(a.flow_history[:, offers], b.flow_history[:, offers])


def test_effort_from_turmoil_alone_bounds_the_step_by_the_most_any_lab_gives() -> None:
    """With effort from turmoil alone, the bounding rate uses the highest lab's effort.

    Turmoil is frozen over a step, so nobody's effort exceeds that of the lab in most
    turmoil: the step screens candidates at it, not at the cap. At calm labs (effort 1 for
    all) a cap of 7 then costs nothing and gives exactly the offers of no search (the same
    draws), and with turmoil the rate is as stated (the rate tests above).
    """
    calm = quiet_market(search={"turmoil_sensitivity": 1.0, "effort_max": 7.0})
    off = quiet_market(search=None)
    offers = ts.model.FLOWS.index("offers")
    runs = [ts.TalentModel(ts.Scenario.from_dict(data), seed=5) for data in (calm, off)]
    for model in runs:
        model.run()
    assert runs[0].flow_history[1:, offers].sum() > 0
    np.testing.assert_array_equal(runs[0].flow_history, runs[1].flow_history)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("effort_max", 0.5, "effort_max"),
        ("effort_max", -1.0, "effort_max"),
        ("effort_max", 1000.0, "effort_max"),
        ("effort_min", 1.5, "effort_min"),
        ("effort_min", -0.1, "effort_min"),
        ("gap_sensitivity", -1.0, "gap_sensitivity"),
        ("turmoil_sensitivity", -0.5, "turmoil_sensitivity"),
        ("turmoil_sensitivity", "high", "turmoil_sensitivity"),
        ("effort", 2.0, "effort"),
        ("gap", "mean", "gap"),
        ("gap_memory", "0y", "gap_memory"),
        ("gap_memory", "soon", "gap_memory"),
    ],
)
def test_bad_values_are_refused_naming_the_field(field: str, value: Any, message: str) -> None:
    data = quiet_market(search={field: value})
    with pytest.raises(ScenarioError, match=f"search.{message}"):
        ts.Scenario.from_dict(data)


# -- the lab's gap (search.gap = "lab") -------------------------------------------------------


@pytest.mark.parametrize("rival_pay", [0.7, 1.4, (0.7, 1.8)])
def test_arrival_rate_matches_the_formula_with_the_lab_gap(
    rival_pay: float | tuple[float, ...],
) -> None:
    """Offers at λ_e·clip(exp(a·ḡ_A + b·turmoil)), ḡ_A the lab's gap as the step starts."""
    search = {"gap": "lab", "gap_sensitivity": 1.5, "turmoil_sensitivity": 0.4}
    data = quiet_market(search=search, rival_pay=rival_pay, turmoil=0.5)
    observed, expected, variance, _ = offers_against_formula(data)
    assert z_score(observed, expected, variance) < 4, (observed, expected)


def test_lab_gap_is_the_recency_weighted_mean_gain_of_the_staffs_offers() -> None:
    """Every offer worth the same: the gap is that gain; the memory's weight is exact.

    With one pay weight for all and one rival, every offer's gain is ``w·log(1.4)``, so the
    lab's gap is exactly that from the first offer on, and 0 before; the memory's count is
    ``Σ_s offers_s · d^(steps after s)``, d = 2^(−dt / gap_memory), from the recorded flows.
    """
    data = quiet_market(
        search={"gap": "lab", "gap_sensitivity": 1.0, "gap_memory": "2mo"}, rival_pay=1.4
    )
    data["cohorts"]["staff"]["weights"] = {"pay": 2.0}
    model = ts.TalentModel(ts.Scenario.from_dict(data), seed=1)
    assert model.lab_state.search_gap()[0] == 0.0  # before any offer
    decay = 0.5 ** (model.dt / (2 / 12))
    offers = ts.model.FLOWS.index("offers")
    count = 0.0
    for step in range(1, model.n_steps + 1):
        model.step()
        count = count * decay + model.flow_history[step, offers, 1]
        np.testing.assert_allclose(model.lab_state.offer_memory[1, 0], count, rtol=1e-12)
    assert count > 100
    np.testing.assert_allclose(model.lab_state.search_gap()[0], 2.0 * np.log(1.4), rtol=1e-12)
    # recorded each step: 0 until the first offers, then the gain
    first = int(np.argmax(model.flow_history[:, offers, 1] > 0))
    assert np.all(model.search_gap_history[:first, 0] == 0.0)
    np.testing.assert_allclose(model.search_gap_history[first:, 0], 2.0 * np.log(1.4), rtol=1e-12)
    assert model.lab_state.search_gap()[1] == 0.0  # the rival's staff: nobody, no offers


def test_lab_gap_estimates_the_staffs_mean_market_gap() -> None:
    """The gap is the mean over the staff of their "market" gap, within its sampling error.

    Uniform pay weights and two rivals: offers sample a person and a rival evenly, so the
    recency-weighted mean of their gains estimates the mean gain over both, with the
    variance of one gain over the effective number of offers remembered, (Σw)²/Σw², which is
    computed here from the recorded offers; |z| < 4 on each seed.
    """
    search = {"gap": "lab", "gap_sensitivity": 0.5, "gap_memory": "1mo"}
    data = quiet_market(search=search, rival_pay=(0.7, 1.8))
    offers = ts.model.FLOWS.index("offers")
    for seed in SEEDS:
        model = ts.TalentModel(ts.Scenario.from_dict(data), seed=seed)
        gains = staff_offer_gains(model)
        decay = 0.5 ** (model.dt * 12)
        weight = weight_sq = 0.0
        for step in range(1, model.n_steps + 1):
            model.step()
            n = model.flow_history[step, offers, 1:].sum()  # offers to A's staff this step
            weight, weight_sq = weight * decay + n, weight_sq * decay**2 + n
        z = (model.lab_state.search_gap()[0] - gains.mean()) / (
            gains.std() * np.sqrt(weight_sq) / weight
        )
        assert abs(z) < 4, (seed, z)


def test_lab_gap_leaves_out_raid_offers() -> None:
    """A raid's offers are counted as offers but not heard as the market's (same memory)."""
    search = {"gap": "lab", "gap_sensitivity": 1.0}
    plain = quiet_market(search=search, rival_pay=1.4)
    raided = quiet_market(search=search, rival_pay=1.4)
    raided["events"] = [
        {"kind": "poaching_raid", "lab": "B", "target": "A", "at": "4w", "offers": 300}
    ]
    offers = ts.model.FLOWS.index("offers")
    runs = [ts.TalentModel(ts.Scenario.from_dict(data), seed=2) for data in (plain, raided)]
    for model in runs:
        model.run()
    assert (
        runs[1].flow_history[1:, offers, 1].sum() >= runs[0].flow_history[1:, offers, 1].sum() + 300
    )
    memory = [model.lab_state.offer_memory for model in runs]
    np.testing.assert_array_equal(memory[0][1], memory[1][1])  # the same offers, ...
    np.testing.assert_allclose(memory[0][0], memory[1][0], rtol=1e-12)  # (added in any order)


def test_offers_per_person_rise_with_the_lab_gap() -> None:
    search = {"gap": "lab", "gap_sensitivity": 1.0}
    by_gap = [
        offers_per_person_year(quiet_market(search=search, rival_pay=p)) for p in (0.7, 1.0, 1.4)
    ]
    assert by_gap[0] < 0.9 * RATE < 1.1 * RATE < by_gap[2], by_gap


def pool_market(search: dict[str, Any] | None) -> dict[str, Any]:
    """Moves happen: three labs, a pool, no mechanism the mean field refuses."""
    data = {
        "name": "searching",
        "time": {"step": "1w", "duration": "2y"},
        "mechanisms": PAY_ONLY | {"stability": True},
        "market": {
            "offer_rate_employed": "2/year",
            "offer_rate_outside": "3/year",
            "separation_rate": "0.1/year",
            "noise_scale": 0.5,
            "switching_cost": 0.3,
        },
        "outside": {"opportunity_rate": "0.5/year", "retirement_rate": "0.1/year"},
        "labs": {
            "A": {"pay_level": 1.0, "turmoil": 1.0, "recovery_half_life": "1y"},
            "B": {"pay_level": 1.3},
            "C": {"pay_level": 0.8},
        },
        "cohorts": {
            "a": {"size": 3000, "lab": "A", "weights": {"pay": 1.0, "stability": 0.3}},
            "b": {"size": 1500, "lab": "B", "weights": {"pay": 1.0, "stability": 0.3}},
            "c": {"size": 1000, "lab": "C", "weights": {"pay": 1.0, "stability": 0.3}},
            "pool": {"size": 500, "lab": "outside", "weights": {"pay": 1.0, "stability": 0.3}},
        },
    }
    if search is not None:
        data["search"] = search
    return data


@pytest.mark.parametrize("gap", ["offer", "market"])
def test_mean_field_follows_search_effort(gap: str) -> None:
    """The mean field's discrete mode matches simulated flows with search effort on."""
    search = {"gap": gap, "gap_sensitivity": 1.0, "turmoil_sensitivity": 0.7, "effort_max": 3.0}
    scenario = ts.Scenario.from_dict(pool_market(search))
    plain = meanfield(ts.Scenario.from_dict(pool_market(None)), method="steps")
    solved = meanfield(scenario, method="steps")
    expected = float(solved.timeseries.query("lab == 'A'")["quits"].sum())
    without = float(plain.timeseries.query("lab == 'A'")["quits"].sum())
    assert expected > 1.1 * without  # effort > 1 at A: turmoil and a better-paying B
    runs = [ts.run(scenario, seed=s).timeseries.query("lab == 'A'") for s in SEEDS]
    solved_a = solved.timeseries.query("lab == 'A'")
    for flow in ("quits", "exits", "hires"):
        simulated = [float(run[flow].sum()) for run in runs]
        mean, sd = np.mean(simulated), np.std(simulated, ddof=1)
        want = float(solved_a[flow].sum())
        # 4 standard errors of a mean of 3 runs, with a Poisson floor for a lucky small spread
        tolerance = 4 * max(sd, np.sqrt(want)) / np.sqrt(len(SEEDS))
        assert abs(mean - want) < tolerance, (flow, simulated, want)


def test_mean_field_refuses_the_lab_gap_and_uses_the_market_gap_when_told() -> None:
    """The lab's offer memory is not in the mean-field state: refused, naming the key."""
    lab = ts.Scenario.from_dict(pool_market({"gap": "lab", "gap_sensitivity": 1.0}))
    with pytest.raises(MeanFieldError, match=r'search\.gap: "lab"'):
        meanfield(lab, method="steps")
    with pytest.warns(MeanFieldWarning, match="search.gap"):
        loose = meanfield(lab, method="steps", strict=False)
    assert any("search.gap" in caveat for caveat in loose.caveats)
    market = meanfield(
        ts.Scenario.from_dict(pool_market({"gap": "market", "gap_sensitivity": 1.0})),
        method="steps",
    )
    pd.testing.assert_frame_equal(loose.timeseries, market.timeseries)


# --------------------------------------------------------------------------------------------
# One long step with moves: the simulation, the mean field and the formula agree
# --------------------------------------------------------------------------------------------
#
# test_mean_field_follows_search_effort compares two years of flows with 4 standard errors of
# three runs (about 4% of the quits): a 20% error in turmoil_sensitivity or gap_sensitivity
# moves its statistic by at most 0.8 of the tolerance, so it would pass. The tests below pin
# the rule per state: the mean field's step is exp(Q·dt) of the generator written here from
# the stated formula (deterministic), and one quarterly step of the simulation moves each
# researcher by that matrix (chi-square at the 0.1% level). Power of the chi-square, at 10,000
# researchers per starting place (noncentral chi-square, 12 degrees of freedom, noncentrality
# 67–143 against a critical value of 32.9): above 0.999 for turmoil_sensitivity or
# gap_sensitivity 20% off either way, with either gap rule (measured on seeds 7–9: 69–159,
# against 9–16 for the right rule). The bounds of effort do not bind there; the mean-field
# test also takes bounds that bind.

LONG_LABS = {"A": (1.0, 1.0, 1.0), "B": (1.3, 0.0, 2.0), "C": (0.8, 0.4, 1.0)}
"""Pay level, turmoil and recruiting intensity of each lab (one long step's market)."""
LONG_RATES = {"employed": 6.0, "outside": 5.0, "separation": 1.0, "opportunity": 2.0}
LONG_NOISE, LONG_SWITCHING, LONG_STABILITY, LONG_POOL_PAY = 0.5, 0.3, 0.3, 0.7
LONG_PLACES = (*LONG_LABS, "outside")
UNBOUNDED = (0.2, 5.0)
"""Effort bounds that no state reaches in this market (its effort: 0.55 to 3.5)."""
BINDING = (0.6, 2.5)
"""Effort bounds that bind: lab B's staff search at the floor, lab A's at the cap (with
``gap = "offer"``, towards B only)."""


def long_step_market(
    gap: str, sizes: dict[str, int], bounds: tuple[float, float] = UNBOUNDED
) -> ts.Scenario:
    """Three labs and the pool, moves of every kind, search effort; one quarter."""
    return ts.Scenario.from_dict(
        {
            "name": "one_long_step",
            "time": {"step": "3mo", "duration": "3mo"},
            "mechanisms": PAY_ONLY | {"stability": True},
            "market": {
                "offer_rate_employed": f"{LONG_RATES['employed']}/year",
                "offer_rate_outside": f"{LONG_RATES['outside']}/year",
                "separation_rate": f"{LONG_RATES['separation']}/year",
                "noise_scale": LONG_NOISE,
                "switching_cost": LONG_SWITCHING,
            },
            "outside": {
                "opportunity_rate": f"{LONG_RATES['opportunity']}/year",
                "retirement_rate": "0/year",
                "pay_ratio": LONG_POOL_PAY,
                "amenity": 0.0,
            },
            "labs": {
                name: {"pay_level": pay, "turmoil": turmoil, "recruiting_intensity": intensity}
                for name, (pay, turmoil, intensity) in LONG_LABS.items()
            },
            "cohorts": {
                f"at_{place}": {
                    "size": size,
                    "lab": place,
                    "weights": {"pay": 1.0, "stability": LONG_STABILITY},
                }
                for place, size in sizes.items()
            },
            "search": long_search(gap, bounds),
        }
    )


def long_search(gap: str, bounds: tuple[float, float] = UNBOUNDED) -> dict[str, Any]:
    return {
        "gap": gap,
        "gap_sensitivity": 1.0,
        "turmoil_sensitivity": 0.7,
        "effort_min": bounds[0],
        "effort_max": bounds[1],
    }


def search_generator(gap: str, bounds: tuple[float, float] = UNBOUNDED) -> np.ndarray:
    """The generator over (A, B, C, pool) from docs/model.md §7.2–7.3 and §7.2.1 (per year).

    Offers from lab j to staff of lab i at ``λ_e·π_ij·e_ij``, ``π_ij = w_j/(W − w_i)``,
    ``e_ij = clip(exp(a·g_ij + b·T_i), e_min, e_max)``, accepted by logit with the switching
    cost; separations; outside opportunities taken by logit; offers to the pool by intensity.
    """
    pay, turmoil, intensity = np.array(list(LONG_LABS.values())).T
    search = long_search(gap, bounds)
    value = np.log(pay) - LONG_STABILITY * turmoil
    at_pool = np.log(LONG_POOL_PAY)
    n = len(LONG_LABS)
    share = intensity[None, :] / (intensity.sum() - intensity)[:, None]
    np.fill_diagonal(share, 0.0)
    gain = value[None, :] - value[:, None]  # (from lab, to lab)
    if gap == "market":
        gain = np.broadcast_to((share * gain).sum(axis=1, keepdims=True), gain.shape)
    exponent = search["gap_sensitivity"] * gain + search["turmoil_sensitivity"] * turmoil[:, None]
    effort = np.clip(np.exp(exponent), search["effort_min"], search["effort_max"])
    accept = 1 / (1 + np.exp(-(value[None, :] - value[:, None] - LONG_SWITCHING) / LONG_NOISE))
    q = np.zeros((n + 1, n + 1))
    q[:n, :n] = LONG_RATES["employed"] * share * effort * accept
    np.fill_diagonal(q, 0.0)
    leave = 1 / (1 + np.exp(-(at_pool - value) / LONG_NOISE))
    q[:n, n] = LONG_RATES["separation"] + LONG_RATES["opportunity"] * leave
    hired = 1 / (1 + np.exp(-(value - at_pool) / LONG_NOISE))
    q[n, :n] = LONG_RATES["outside"] * intensity / intensity.sum() * hired
    q[np.diag_indices_from(q)] = -q.sum(axis=1)
    return q


@pytest.mark.parametrize("bounds", [UNBOUNDED, BINDING])
@pytest.mark.parametrize("gap", ["offer", "market"])
def test_mean_field_step_is_expm_of_the_search_generator(
    gap: str, bounds: tuple[float, float]
) -> None:
    """Each row of the mean field's one-step matrix, from one starting place at a time."""
    from scipy.linalg import expm

    spec = long_step_market(gap, {"A": 1}, bounds)
    exact = expm(search_generator(gap, bounds) * spec.time.step)
    for row, place in enumerate(LONG_PLACES):
        market = long_step_market(gap, {place: 1_000}, bounds)
        solved = meanfield(market, method="steps").headcounts()
        np.testing.assert_allclose(
            solved.iloc[1].to_numpy() / 1_000, exact[row], rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize("gap", ["offer", "market"])
def test_one_long_step_with_search_effort_moves_each_researcher_by_expm(gap: str) -> None:
    from scipy.linalg import expm

    per_place = 10_000
    spec = long_step_market(gap, dict.fromkeys(LONG_PLACES, per_place))
    model = ts.TalentModel(spec, seed=7)
    start = model.population.view("location").copy()
    model.step()
    counts = np.zeros((len(LONG_PLACES), len(LONG_PLACES)))
    np.add.at(counts, (start, model.population.view("location")), 1)
    expected = per_place * expm(search_generator(gap) * spec.time.step)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 32.9, (chi2, counts, expected)  # 12 degrees of freedom, 0.1% level
