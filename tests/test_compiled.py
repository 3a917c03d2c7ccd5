"""The compiled loops agree with plain NumPy statements of the same rules."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.special import expit

from talentsim import compiled, kernels, model, population
from talentsim.hashing import derive_key, key_offset, uniform_hash
from talentsim.network import ColleagueNetwork
from talentsim.population import GONE

SEEDS = st.integers(0, 2**32 - 1)


def _locations(rng: np.random.Generator, n: int, n_labs: int) -> np.ndarray:
    # labs 0..n_labs-1, the pool n_labs, and some retired (GONE)
    return rng.integers(GONE, n_labs + 1, n).astype(np.int32)


def _screen(location: np.ndarray, n_labs: int, mean: float, offset: np.uint64):
    buffers = tuple(np.empty(location.shape[0], dtype=np.int64) for _ in range(2))
    n_rows, total = compiled.screen_events(location, n_labs, mean, offset, buffers)
    rows, counts = (buffer[:n_rows] for buffer in buffers)
    assert counts.sum() == total
    return rows, counts


@settings(max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    n=st.one_of(st.integers(0, 400), st.integers(4000, 9000)),  # across the blocks of rows
    n_labs=st.integers(1, 6),
    mean=st.floats(0.0, 3.0),
)
def test_screen_matches_numpy(seed: int, n: int, n_labs: int, mean: float) -> None:
    rng = np.random.default_rng(seed)
    location = _locations(rng, n, n_labs)
    key = derive_key(seed, 0)
    rows, counts = _screen(location, n_labs, mean, np.uint64(key_offset(key)))
    u = uniform_hash(np.arange(n), key)
    present = (location >= 0) & (location <= n_labs)  # at a lab or in the pool
    # the Poisson count by inverting its distribution function from the top: N = 0 when
    # u ≥ P(N ≥ 1), else the least n ≥ 1 with u < P(1 ≤ N ≤ n)
    from scipy.stats import poisson

    # (P(1 ≤ N ≤ n) summed from its terms: cdf(n) − pmf(0) cancels to 0 at a tiny mean, which
    # sent a uniform of 0 to the loop's end, 10,000, where the code rightly gives 1)
    expected = np.zeros(n, dtype=np.int64)
    below = u < -np.expm1(-mean)
    for i in np.flatnonzero(below):
        count, reached = 1, poisson.pmf(1, mean)
        while u[i] >= reached and count < 10_000:
            count += 1
            reached += poisson.pmf(count, mean)
        expected[i] = count
    expected[~present] = 0
    np.testing.assert_array_equal(rows, np.flatnonzero(expected))
    np.testing.assert_array_equal(counts, expected[expected > 0])


def test_screen_counts_are_poisson() -> None:
    # 200k researchers (labs and pool) at mean 0.7: each count's frequency against the Poisson
    # law, 5 binomial standard deviations of tolerance; the retired have none.
    n, mean = 200_000, 0.7
    location = np.tile(np.array([0, 1, GONE], dtype=np.int32), n // 2)[: n + n // 2]
    rows, counts = _screen(location, 1, mean, np.uint64(key_offset(derive_key(7, 0))))
    assert (location[rows] != GONE).all()
    present = int((location != GONE).sum())
    frequency = np.bincount(counts, minlength=6)
    frequency[0] = present - rows.shape[0]
    from scipy.stats import poisson

    for k in range(6):
        p = poisson.pmf(k, mean)
        assert abs(frequency[k] - present * p) < 5 * np.sqrt(present * p * (1 - p)) + 1, k


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(2, 120), n_labs=st.integers(1, 5))
def test_tie_shares_match_a_dense_count(seed: int, n: int, n_labs: int) -> None:
    rng = np.random.default_rng(seed)
    dense = np.triu(rng.random((n, n)) < 0.1, 1)
    dense = dense | dense.T
    network = ColleagueNetwork(sparse.csr_array(dense.astype(float)))
    location = _locations(rng, n + 10, n_labs)  # 10 later entrants outside the network
    network.set_locations(location)
    rows = rng.integers(0, n + 10, 50)
    first, second = rng.integers(0, n_labs + 1, (2, 50))
    a, b = network.shares(rows, first, second)
    here = location[:n]
    for k, row in enumerate(rows):
        if row >= n:
            assert a[k] == b[k] == 0
            continue
        ties = here[dense[row]]
        present = ties[ties != GONE]
        degree = max(present.shape[0], 1)
        assert a[k] == np.count_nonzero(present == first[k]) / degree
        assert b[k] == np.count_nonzero(present == second[k]) / degree


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 400), n_labs=st.integers(1, 6), q=st.floats(0, 1))
def test_lab_quantiles_match_numpy_lower_quantile(seed: int, n: int, n_labs: int, q: float) -> None:
    rng = np.random.default_rng(seed)
    location = _locations(rng, n, n_labs)
    pay, value = rng.lognormal(0, 0.5, (2, n))
    reference = compiled.lab_quantiles(location, pay, value, n_labs, q)
    for j in range(n_labs):
        ratios = (pay / value)[location == j]
        if ratios.shape[0] == 0:
            assert np.isnan(reference[j])
        else:
            # rank floor(q·(m − 1)) is numpy's "lower" quantile
            assert reference[j] == np.quantile(ratios, q, method="lower")


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 600), n_labs=st.integers(1, 5), p=st.floats(0, 1))
def test_retire_and_clock_retires_advances_and_counts(
    seed: int, n: int, n_labs: int, p: float
) -> None:
    rng = np.random.default_rng(seed)
    location = _locations(rng, n, n_labs)
    before_location = location.copy()
    pay, tenure, attachment = rng.random((3, n))
    before_tenure, before_attachment = tenure.copy(), attachment.copy()
    eligible = int(rng.integers(0, n + 1))  # later rows (this step's entrants) never retire
    key = derive_key(seed, 8)
    headcount = np.full(n_labs + 1, -7, dtype=np.int64)  # overwritten, not added to
    mean_pay = np.zeros(n_labs)
    buffer = np.empty(n, dtype=np.int64)
    n_retired = compiled.retire_and_clock(
        location,
        pay,
        tenure,
        attachment,
        (eligible, n_labs, p, key_offset(key)),
        0.25,
        0.9,
        headcount,
        mean_pay,
        buffer,
    )
    retired = buffer[:n_retired]
    rows = np.arange(n)
    expected = (before_location == n_labs) & (rows < eligible) & (uniform_hash(rows, key) < p)
    np.testing.assert_array_equal(retired, np.flatnonzero(expected))
    np.testing.assert_array_equal(location, np.where(expected, GONE, before_location))
    np.testing.assert_allclose(tenure, before_tenure + 0.25)
    np.testing.assert_allclose(attachment, before_attachment * 0.9)
    present = location >= 0
    np.testing.assert_array_equal(headcount, np.bincount(location[present], minlength=n_labs + 1))
    pay_sum = np.bincount(location[present], weights=pay[present], minlength=n_labs + 1)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(mean_pay, pay_sum[:n_labs] / headcount[:n_labs])


def test_codes_shared_with_the_model_agree() -> None:
    assert compiled.GONE == population.GONE and compiled.NO_LAB == population.NO_LAB
    assert compiled.PURPOSES == model._DRAWS
    for name in ("hires", "quits", "returns", "exits", "separations"):
        assert getattr(compiled, name.upper()) == model.FLOWS.index(name)
    for name in ("offers", "acceptances", "counter_offers", "counter_retained"):
        assert getattr(compiled, name.upper()) == model.FLOWS.index(name)
    for name in ("hire", "quit", "return", "exit", "separation"):
        assert getattr(compiled, name.upper()) == model.MOVE_KINDS.index(name)


def test_a_step_s_effort_cap_replaces_that_field_alone() -> None:
    # with_effort_cap slices the record's plain tuple at literal positions (as Numba needs)
    from talentsim.compiled import decisions
    from talentsim.compiled.records import Market

    fields = tuple(float(k) for k in range(len(Market._fields)))
    capped = decisions.with_effort_cap(fields, -1.0)
    assert capped.effort_cap == -1.0
    assert [v for k, v in enumerate(capped) if k != decisions._CAP_FIELD] == [
        v for k, v in enumerate(fields) if k != decisions._CAP_FIELD
    ]


@settings(max_examples=30, deadline=None)
@given(key=st.integers(0, 2**63 - 1), step=st.integers(0, 10**6))
def test_step_offsets_match_the_hashing_module(key: int, step: int) -> None:
    offsets = compiled.step_offsets(np.uint64(key), step)
    expected = [key_offset(derive_key(key, 16 * step + p)) for p in range(len(compiled.PURPOSES))]
    np.testing.assert_array_equal(offsets, np.array(expected, dtype=np.uint64))


def test_offering_lab_follows_the_weights_and_is_never_ones_own() -> None:
    # 200k draws per case; each lab's count is binomial, checked within 5 standard deviations.
    n = 200_000
    weights = np.array([1.0, 2.0, 0.0, 3.0])
    uniform = np.random.default_rng(5).random(n)
    for current, shares in ((1, [1, 0, 0, 3]), (4, [1, 2, 0, 3])):  # at lab 1; in the pool
        labs, has_offer = compiled.offer_labs(np.full(n, current), weights, uniform)
        assert has_offer.all()
        p = np.array(shares) / sum(shares)
        counts = np.bincount(labs, minlength=4)
        assert (np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p))).all()
    # nobody else hiring: no offer
    _, has_offer = compiled.offer_labs(
        np.array([3, 4]), np.array([0.0, 0.0, 0.0, 3.0]), uniform[:2]
    )
    assert has_offer.tolist() == [False, True]


def test_within_capacity_keeps_the_room_by_priority() -> None:
    destination = np.array([0, 1, 0, 0, 1, 2, 0])
    priority = np.array([0.9, 0.5, 0.1, 0.4, 0.2, 0.3, 0.6])
    room = np.array([2.0, np.inf, -1.0])
    keep = compiled.within_capacity(destination, room, priority)
    # lab 0 keeps its two lowest priorities (0.1, 0.4); lab 1 all; lab 2 (over capacity) none
    assert keep.tolist() == [False, True, True, True, True, False, False]


def test_acceptance_is_the_binary_logit() -> None:
    rng = np.random.default_rng(2)
    gain, uniform = rng.normal(0, 3, 10_000), rng.random(10_000)
    np.testing.assert_array_equal(
        compiled.accept_all(gain, 0.7, uniform), uniform < expit(gain / 0.7)
    )
    np.testing.assert_array_equal(compiled.accept_all(gain, 0.0, uniform), gain > 0)


def test_a_later_raid_takes_over_the_offers_of_an_earlier_one() -> None:
    location = np.array([0, 0, 0, 0, 1, 1], dtype=np.int32)
    last_lab = np.full(6, population.NO_LAB, dtype=np.int32)
    raids = (
        np.array([2, 1]),  # raiders
        np.array([0, 0]),  # both raid lab 0
        np.array([3, 4]),  # offers
        np.array([0.5, 0.2]),
        np.array([False, False]),
    )
    separated = np.array([2])  # separated this step: not courted
    rows, lab, premium = compiled.raid_offers(
        location, last_lab, separated, raids, np.uint64(12345)
    )
    # the second raid courts all three of lab 0's remaining staff; it replaces the first's
    assert sorted(rows.tolist()) == [0, 1, 3] and (lab == 1).all() and (premium == 0.2).all()


def test_the_kernels_rule_functions_broadcast_and_check_their_input() -> None:
    # a single uniform for several gains, and scalars, broadcast as NumPy would
    gain = np.array([0.1, -2.0, 1.0, 5.0])
    np.testing.assert_array_equal(
        kernels.accept(gain, 0.5, np.array([0.1])), expit(gain / 0.5) > 0.1
    )
    assert kernels.accept(gain, 0.0, None).tolist() == [True, False, True, True]
    assert kernels.counter_offer_pay(1.0, 1.5, 2.0) == 1.5
    assert np.isnan(kernels.counter_offer_pay(np.nan, 2.0, 1.5))
    labs, has_offer = kernels.draw_offer_labs(np.array([[0, 3]]), np.array([1.0, 2.0, 3.0]), 0.5)
    assert labs.shape == (1, 2) and has_offer.all() and labs[0, 0] != 0
    with pytest.raises(ValueError, match=r"destinations must be labs 0\.\.1"):
        kernels.within_capacity(np.array([0, 5]), np.array([1.0, 1.0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="current locations"):
        kernels.draw_offer_labs(np.array([-1]), np.array([1.0]), np.array([0.5]))


def _offer_labs_numpy(current: np.ndarray, weights: np.ndarray, uniform: np.ndarray):
    # the rule as NumPy statements: scale the uniform to the weight left once one's own lab is
    # removed, step over one's own lab on the cumulative axis, binary-search the lab
    n_labs = weights.shape[0]
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    employed = current < n_labs
    own = np.where(employed, current, 0)
    own_weight = np.where(employed, weights[own], 0.0)
    own_start = np.where(employed, cumulative[own] - weights[own], np.inf)
    remaining = total - own_weight
    target = uniform * remaining
    target = target + np.where(target >= own_start, own_weight, 0.0)
    lab = np.searchsorted(cumulative, target, side="right")
    return np.minimum(lab, n_labs - 1), remaining > 1e-12 * max(total, 1.0)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n_labs=st.integers(1, 60))  # short (counted) and long (searched) lab lists
def test_offering_lab_matches_numpy(seed: int, n_labs: int) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.random(n_labs) * (rng.random(n_labs) < 0.8)  # some labs not hiring
    current = rng.integers(0, n_labs + 1, 500)
    uniform = rng.random(500)
    lab, has_offer = compiled.offer_labs(current, weights, uniform)
    expected_lab, expected_has = _offer_labs_numpy(current, weights, uniform)
    np.testing.assert_array_equal(has_offer, expected_has)
    np.testing.assert_array_equal(lab[has_offer], expected_lab[has_offer])
    assert (lab[has_offer] != current[has_offer]).all()


def test_prefetch_is_only_a_hint():
    """compiled.prefetch changes no value, whatever the index (a prefetch never faults)."""

    @numba.njit
    def touch(first, second, index):
        compiled.prefetch((first, second), index)
        return first.sum() + second.sum()

    first, second = np.arange(5, dtype=np.int32), np.ones(5)
    assert touch(first, second, 2) == 15.0
    assert touch(first, second, 10**12) == 15.0
    np.testing.assert_array_equal(first, np.arange(5))
