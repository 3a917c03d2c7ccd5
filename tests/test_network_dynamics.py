"""A living colleague network: ties form towards a target degree, fade, and recover.

The rule (docs/model.md, "Colleague networks"): each researcher at a lab with ``m`` missing
ties (target minus ties to lab-mates) proposes each of them with probability
``q = 1 − exp(−r·dt/2)`` per update; in a lab whose members all miss ties, a missing tie is
filled by its owner's proposal or by a lab-mate's, so the lab recovers as
``(1 − q)^(2·updates) = exp(−r·t)``, and a newcomer to a settled lab (whose lab-mates miss
none) fills its own as ``(1 − q)^updates = exp(−r·t/2)``. A former-colleague tie is dropped
with probability ``1 − 2^(−dt/h)`` per update (half-life h).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import sparse

import talentsim as ts
from talentsim import mean_field
from talentsim.network import ColleagueNetwork, Formation
from tests.conftest import small_scenario_dict

DT = 1 / 52
RATE = 4.0  # per missing tie and year


def _stable_lab(seed: int, events: list[dict[str, Any]], **network: Any) -> ts.TalentModel:
    """One lab of 400 with no flows at all (no offers, separations, exits or entries).

    The network is updated every (weekly) step unless ``update_interval`` says otherwise.
    """
    data = {
        "name": "stable",
        "time": {"step": "1w", "duration": "2y"},
        "market": {
            "offer_rate_employed": "0/year",
            "offer_rate_outside": "0/year",
            "separation_rate": "0/year",
        },
        "outside": {"opportunity_rate": "0/year", "retirement_rate": "0/year"},
        "labs": {"A": {"pay_level": 1.0}, "B": {"pay_level": 1.0}},
        "cohorts": {"staff": {"size": 400, "lab": "A"}},
        "network": {
            "degree": 6.0,
            "formation_rate": f"{RATE}/year",
            "update_interval": "1w",
            **network,
        },
        "events": events,
    }
    return ts.TalentModel(ts.Scenario.from_dict(data), seed=seed)


def _mean_in_lab_degree(model: ts.TalentModel) -> float:
    assert model.network is not None
    location = model.population.view("location")
    degrees = model.network.in_lab_degrees(location, model.lab_state.n)
    return float(degrees[location[: degrees.shape[0]] == 0].mean())


def _settled(sizes: list[int], degree: float, closure: float, seed: int) -> tuple[Any, ...]:
    """A network over labs of the given sizes, filled to the target by the formation rule."""
    location = np.repeat(np.arange(len(sizes)), sizes).astype(np.int32)
    empty = sparse.csr_array((location.shape[0], location.shape[0]))
    network = ColleagueNetwork(empty)
    rule = Formation.per_step(degree, RATE, closure, None, DT, seed)
    network.settle(location, len(sizes), rule)
    return network, location, rule


# --------------------------------------------------------------------------------------------
# Scenario fields
# --------------------------------------------------------------------------------------------


def test_formation_needs_a_target_degree() -> None:
    data = small_scenario_dict(network={"formation_rate": "4/year"})
    with pytest.raises(ts.ScenarioError, match=r"network.*formation_rate.*degree"):
        ts.Scenario.from_dict(data)


def test_former_tie_half_life_must_be_positive() -> None:
    data = small_scenario_dict(network={"degree": 4.0, "former_tie_half_life": "0w"})
    with pytest.raises(ts.ScenarioError, match="former_tie_half_life"):
        ts.Scenario.from_dict(data)


def test_the_defaults_keep_the_set_up_network() -> None:
    # no formation, no fading: the network changes only by reorganisations (none here), and
    # entrants get no ties, as before
    data = small_scenario_dict(network={"degree": 6.0}, events=[])
    data["labs"]["A"]["reorg_rate"] = "0/year"
    model = ts.TalentModel(ts.Scenario.from_dict(data), seed=3)
    assert model.network is not None
    before = model.network.adjacency
    set_up = model.network.size
    model.run()
    assert model.population.size > set_up  # people entered...
    assert model.network.size == set_up  # ...and the network did not grow to them
    assert (model.network.adjacency != before).nnz == 0


def test_formation_too_coarse_for_its_updates_is_warned_by_key() -> None:
    # r·Δu = 12/year × 4 weeks (monthly updates of weekly steps) = 0.92: the per-update law is
    # off at first order (docs/model.md §7.17), so the scenario loads with a warning naming the
    # keys and the remedy
    data = small_scenario_dict(network={"degree": 6.0, "formation_rate": "12/year"})
    with pytest.warns(ts.ScenarioWarning) as caught:
        ts.Scenario.from_dict(data, source="net.toml")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("net.toml: network.formation_rate × the update interval is 0.92 ")
    assert "network.update_interval" in message and "first order" in message
    # the interval counts in whole steps: monthly updates of 4-week steps are every 4 weeks,
    # and 6/year × 4 weeks = 0.46 is below the bound
    data["network"]["formation_rate"] = "6/year"
    data["time"]["step"] = "4w"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ts.ScenarioWarning)
        ts.Scenario.from_dict(data)
    # while 6/year with updates every 2 steps of 4 weeks (0.92) is not
    data["network"]["update_interval"] = "8w"
    with pytest.warns(ts.ScenarioWarning, match=r"is 0\.92 .*an update every 8w"):
        ts.Scenario.from_dict(data)


def test_the_default_formation_rate_and_interval_are_not_warned() -> None:
    data = small_scenario_dict(network={"degree": 6.0, "formation_rate": "4/year"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ts.ScenarioWarning)
        scenario = ts.Scenario.from_dict(data)
    assert scenario.network_update_every == 4  # monthly updates of weekly steps


def test_mean_field_refuses_tie_formation_by_name() -> None:
    data = small_scenario_dict(network={"degree": 6.0, "formation_rate": "4/year"})
    problems = mean_field.untreatable(ts.Scenario.from_dict(data))
    assert any(p.startswith("network.formation_rate: tie formation") for p in problems)
    static = mean_field.untreatable(ts.Scenario.from_dict(small_scenario_dict()))
    assert not any("formation_rate" in p for p in static)


# --------------------------------------------------------------------------------------------
# Formation
# --------------------------------------------------------------------------------------------


def test_the_structure_stays_a_symmetric_graph_with_room() -> None:
    model = ts.TalentModel(
        ts.Scenario.from_dict(
            small_scenario_dict(
                network={"degree": 6.0, "formation_rate": "4/year", "former_tie_half_life": "1y"}
            )
        ),
        seed=1,
    )
    model.run()
    network = model.network
    assert network is not None
    adjacency = network.adjacency
    assert (adjacency != adjacency.T).nnz == 0
    assert adjacency.diagonal().sum() == 0
    assert adjacency.nnz == network.count.sum()  # no tie stored twice
    # each row's ties come first, then room
    for row in range(network.size):
        entries = network.indices[network.indptr[row] : network.indptr[row + 1]]
        assert (entries[: network.count[row]] >= 0).all()
        assert (entries[network.count[row] :] == -1).all()


def test_shares_read_through_the_room_match_a_dense_count() -> None:
    network, location, _ = _settled([30, 40], 5.0, 0.5, seed=2)
    location = location.copy()
    location[:10] = 1  # ten move to the other lab
    location[10:15] = 2  # five to the outside pool
    dense = network.adjacency.toarray() > 0
    network.cover(network.size, 7)  # more room: the reading must not change
    network.set_locations(location)
    rows = np.arange(location.shape[0])
    for place in range(3):
        expected = (dense & (location[None, :] == place)).sum(1) / dense.sum(1)
        assert network.share(rows, np.full(rows.shape[0], place)) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
def test_a_stable_lab_converges_to_the_target_degree(seed: int) -> None:
    # All ties broken at once (tie break 1.0): two years later the mean degree is the target.
    # The deficit then is 6·exp(−4·(2 − 0.02)) ≈ 2e-3 ties; what is left is pairing: a
    # proposer who finds no lab-mate missing ties ties to one who misses none (at most one
    # extra tie per such proposer), and a rounding of the lab's last odd deficit. Tolerance
    # 0.05 ties (under 1%).
    reorg = {"kind": "reorganisation", "lab": "A", "at": "1w", "severity": 0.0}
    model = _stable_lab(seed, [reorg], reorg_tie_break=1.0)
    settled = _mean_in_lab_degree(model)
    model.run(2)
    assert _mean_in_lab_degree(model) < 1.0  # all broken; one upkeep since (≈ 0.44 back)
    model.run()
    assert settled == pytest.approx(6.0, abs=0.05)
    assert _mean_in_lab_degree(model) == pytest.approx(6.0, abs=0.05)


def test_after_a_reorganisation_the_lab_recovers_at_the_stated_rate() -> None:
    # A reorganisation breaks half the ties; then the mean deficit relaxes as
    # exp(−r·t): after j weekly updates it is D_0·exp(−r·j·dt) (a missing tie is filled by
    # its owner's proposal or a lab-mate's, each with q = 1 − e^{−r·dt/2}).
    # Averaged over 8 seeds × 400 researchers; the deficit's sampling sd is ~0.01 ties per
    # researcher here, and proposals that find no free partner slow it a little.
    # Tolerance: 0.05 ties or 8% of the predicted deficit, whichever is larger.
    reorg = {"kind": "reorganisation", "lab": "A", "at": "5w", "severity": 0.0}
    checkpoints = (1, 4, 13, 26)
    observed = np.zeros((8, len(checkpoints)))
    initial = np.zeros(8)
    for seed in range(8):
        model = _stable_lab(seed, [reorg], reorg_tie_break=0.5)
        model.run(5)  # the reorganisation is applied at the start of step 6
        initial[seed] = 6.0 - _mean_in_lab_degree(model)
        done = 0
        for column, j in enumerate(checkpoints):
            model.run(j - done)  # step 6 breaks the ties, then its upkeep is the first
            done = j
            observed[seed, column] = 6.0 - _mean_in_lab_degree(model)
    assert initial.mean() == pytest.approx(0.0, abs=0.05)  # settled before
    # the deficit right after the break is half of six ties
    deficit = observed.mean(0)
    for column, j in enumerate(checkpoints):
        predicted = 3.0 * math.exp(-RATE * j * DT)
        assert deficit[column] == pytest.approx(predicted, abs=max(0.05, 0.08 * predicted))


def test_the_network_is_updated_every_interval_at_the_stated_rate() -> None:
    # update_interval = 4 weeks: the ties change only at the end of every 4th step, and from
    # one update to the next the deficit shrinks by exp(−r·4·dt) to first order in
    # r·4·dt = 0.31 (see the next test for updates further apart). Tolerance as in the weekly
    # test above.
    reorg = {"kind": "reorganisation", "lab": "A", "at": "4w", "severity": 0.0}
    deficits = np.zeros((6, 4))
    for seed in range(6):
        model = _stable_lab(seed, [reorg], reorg_tie_break=0.5, update_interval="4w")
        model.run(4)  # steps 1-4; the reorganisation is applied at the start of step 5
        model.step()
        broken = 6.0 - _mean_in_lab_degree(model)
        for _ in (6, 7):  # no update at the end of steps 5-7
            model.step()
            assert 6.0 - _mean_in_lab_degree(model) == broken
        assert broken > 2.0
        for update in range(4):
            model.run(4)  # ends with step 8, 12, 16, 20: one update each
            deficits[seed, update] = 6.0 - _mean_in_lab_degree(model)
    for update in range(4):
        predicted = 3.0 * math.exp(-RATE * 4 * DT * (update + 1))
        observed = deficits[:, update].mean()
        assert observed == pytest.approx(predicted, abs=max(0.05, 0.08 * predicted))


def test_updates_far_apart_shrink_the_deficit_between_the_stated_bounds() -> None:
    # 13-week updates at r = 4/year: r·Δu = 1, where the first-order law exp(−r·Δu) no longer
    # holds (docs/model.md §7.17, "Rates"). Each new tie fills two gaps, so the deficit's factor
    # per update lies strictly between 1 − 2q (every proposal fills two gaps) and (1 − q)²
    # (owner's and lab-mate's proposals as if independent), q = 1 − exp(−r·Δu/2): 0.213 and
    # 0.368 here; measured 0.294, with a standard error of ~0.012 over 6 seeds (each bound is
    # 6 standard errors or more away). A tie that filled only its proposer's gap would give
    # 1 − q = 0.61 and fail.
    weeks = 13
    q = 1 - math.exp(-RATE * weeks * DT / 2)
    reorg = {"kind": "reorganisation", "lab": "A", "at": f"{weeks}w", "severity": 0.0}
    factors = np.zeros(6)
    for seed in range(6):
        with pytest.warns(ts.ScenarioWarning, match="first order"):
            model = _stable_lab(seed, [reorg], reorg_tie_break=0.5, update_interval=f"{weeks}w")
        model.run(weeks + 1)  # an update ends step 13; step 14 applies the reorganisation
        broken = 6.0 - _mean_in_lab_degree(model)
        assert broken > 2.0
        model.run(weeks - 1)  # to the end of step 26: one update
        factors[seed] = (6.0 - _mean_in_lab_degree(model)) / broken
    assert 1 - 2 * q < factors.mean() < (1 - q) ** 2  # (1 − q)² = exp(−r·Δu): faster than it


def test_a_newcomer_to_a_settled_lab_fills_its_ties_in_the_stated_time() -> None:
    # 40 labs of 30, settled; then one newcomer joins each. Its lab-mates miss no ties, so the
    # newcomer's own proposals fill its gaps: missing share (1 − q)^j = exp(−r·t/2) after j
    # steps; all but 5% within 2·ln(20)/r = 1.5 years at r = 4/year (the stated
    # time in docs/model.md). 40 newcomers × 6 ties: the share's sd is ≤ 0.03; tolerance 0.06.
    labs, size, degree = 40, 30, 6.0
    network, location, rule = _settled([size] * labs, degree, 0.5, seed=5)
    location = np.concatenate([location, np.arange(labs, dtype=np.int32)])  # the newcomers
    newcomers = np.arange(labs * size, labs * size + labs)
    assert rule.p_propose == pytest.approx(1 - math.exp(-RATE * DT / 2), rel=1e-12)
    done = 0
    for j in (13, 26, 78):
        for step in range(done, j):
            network.upkeep(location, labs, rule, step)
        done = j
        missing = degree - network.in_lab_degrees(location, labs)[newcomers]
        assert missing.mean() / degree == pytest.approx(math.exp(-RATE * j * DT / 2), abs=0.06)
    assert missing.mean() / degree <= 0.05 + 0.03  # t = 1.5 years


def test_hired_entrants_gain_colleagues() -> None:
    # the network covers rows added after set-up: entrants hired by a lab form ties there
    data = small_scenario_dict(
        network={"degree": 6.0, "formation_rate": "8/year", "update_interval": "2w"},
        time={"step": "1w", "duration": "2y"},
    )
    model = ts.TalentModel(ts.Scenario.from_dict(data), seed=2)
    set_up = model.population.size
    model.run()
    network = model.network
    assert network is not None and network.size >= model.population.size
    location = model.population.view("location")
    tenure = model.population.view("tenure")
    degrees = network.in_lab_degrees(location, model.lab_state.n)
    hired = np.flatnonzero(
        (np.arange(location.shape[0]) >= set_up) & (location >= 0) & (location < 3)
    )
    settled_in = hired[tenure[hired] >= 0.5]
    assert settled_in.shape[0] >= 10
    assert degrees[settled_in].mean() >= 4.0


def test_triadic_closure_makes_clusters() -> None:
    # Closure 1 (friends of friends) against 0 (lab-mates met at random), same labs: the
    # clustering coefficient (share of closed triads) is several times higher with closure.
    # For a random graph of degree 6 in a lab of 200 it is ~6/200 = 0.03.
    def clustering(closure: float, seed: int) -> float:
        network, _, _ = _settled([200] * 3, 6.0, closure, seed)
        a = network.adjacency.astype(np.int64)
        triangles = (a @ a).multiply(a).sum()
        degree = np.asarray(a.sum(1)).ravel()
        return float(triangles / (degree * (degree - 1)).sum())

    for seed in range(3):
        random, closed = clustering(0.0, seed), clustering(1.0, seed)
        assert random < 0.06
        assert closed > 3 * random


# --------------------------------------------------------------------------------------------
# Fading
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("half_life_weeks", [13, 26])
def test_former_colleague_ties_fade_at_the_half_life(half_life_weeks: int) -> None:
    # Half of lab 0 moves to lab 1 (or the pool): their ties to those who stay become
    # former-colleague ties, each dropped with probability 1 − 2^(−dt/h) per step, so after
    # j steps a share 2^(−j·dt/h) survives. Ties inside each lab do not fade. Binomial
    # tolerance: 5 standard deviations of the surviving count.
    network, location, _ = _settled([400, 400], 6.0, 0.5, seed=9)
    half_life = half_life_weeks / 52
    fading = Formation.per_step(6.0, 0.0, 0.5, half_life, DT, key=11)
    moved = location.copy()
    moved[:150] = 1  # to the other lab
    moved[150:200] = 2  # to the outside pool
    dense = network.adjacency.toarray() > 0
    former = np.triu(dense & (moved[:, None] != moved[None, :]), 1)
    current = np.triu(dense & (moved[:, None] == moved[None, :]) & (moved[:, None] < 2), 1)
    n_former = int(former.sum())
    assert n_former > 500
    for step in range(half_life_weeks):
        network.upkeep(moved, 2, fading, step)
    after = network.adjacency.toarray() > 0
    survived = int((after & former).sum())
    p = 2 ** (-half_life_weeks * DT / half_life)
    assert p == pytest.approx(0.5)
    assert abs(survived - n_former * p) < 5 * math.sqrt(n_former * p * (1 - p))
    assert (after[current]).all()  # colleague ties do not fade
    assert (after & ~dense).sum() == 0  # nothing forms at rate 0


def test_a_full_row_drops_its_oldest_former_colleague_tie_for_a_new_colleague() -> None:
    # Row 0 has room for 2·1 + 2 = 4 ties and holds 4, to rows 1-4 (made in that order), all
    # in the pool now (former colleagues). Row 0 misses its one colleague at lab 0, where row
    # 5 also misses one: the new tie 0-5 displaces the oldest former tie, 0-1, from both
    # rows; the others stay.
    head, tail = np.zeros(4, dtype=np.int64), np.arange(1, 5)
    adjacency = sparse.csr_array((np.ones(8), (np.r_[head, tail], np.r_[tail, head])), (6, 6))
    network = ColleagueNetwork(adjacency)
    location = np.array([0, 1, 1, 1, 1, 0], dtype=np.int32)  # one lab; 1 is the pool
    rule = Formation(degree=1.0, p_propose=1.0, closure=0.0, p_fade=0.0, key=3)
    assert rule.width == 4
    assert network.upkeep(location, 1, rule, step=0) == 1
    assert list(network.neighbours(0)) == [2, 3, 4, 5]
    assert list(network.neighbours(1)) == []
    assert list(network.neighbours(5)) == [0]


def test_reading_only_the_changed_rows_gives_the_ties_of_reading_them_all() -> None:
    # An update re-reads only the rows whose ties may have changed (movers and their ties,
    # rows a reorganisation touched, rows with a fading tie due). Reading every row instead
    # must give the very same ties: the same sequence of moves, retirements and a
    # reorganisation, applied to two copies, one forced to re-read all rows at each update.
    lazy, location, _ = _settled([60, 60, 60], 6.0, 0.5, seed=4)
    eager, _, _ = _settled([60, 60, 60], 6.0, 0.5, seed=4)
    assert (lazy.adjacency != eager.adjacency).nnz == 0
    rule = Formation.per_step(6.0, RATE, 0.5, 13 / 52, 4 * DT, key=8)
    rng = np.random.default_rng(1)
    formed = 0
    for update in range(30):
        movers = rng.choice(location.shape[0], 6, replace=False)
        location[movers[:5]] = rng.integers(0, 4, 5)  # to a lab or the pool (3)
        location[movers[5]] = -1  # retired
        if update == 10:
            for network in (lazy, eager):
                network.break_ties(location, 1, 0.5, np.random.default_rng(update))
        eager._stale[:] = True  # every row re-read at this update
        new = lazy.upkeep(location, 3, rule, update)
        assert eager.upkeep(location, 3, rule, update) == new
        assert (lazy.adjacency != eager.adjacency).nnz == 0
        assert (lazy.count == eager.count).all()
        formed += new
    assert formed > 50  # ties did form (and fade: movers' ties became former ones)
    assert lazy.n_ties > 0
