"""The compiled loops agree with plain NumPy statements of the same rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from talentsim import compiled
from talentsim.hashing import derive_key, key_offset, uniform_hash
from talentsim.network import ColleagueNetwork
from talentsim.population import GONE

SEEDS = st.integers(0, 2**32 - 1)


def _locations(rng: np.random.Generator, n: int, n_labs: int) -> np.ndarray:
    # labs 0..n_labs-1, the pool n_labs, and some retired (GONE)
    return rng.integers(GONE, n_labs + 1, n).astype(np.int32)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 400), n_labs=st.integers(1, 6))
def test_screen_matches_numpy(seed: int, n: int, n_labs: int) -> None:
    rng = np.random.default_rng(seed)
    location = _locations(rng, n, n_labs)
    p_sep, p_emp, p_out, p_opp = rng.uniform(0, 0.6, 4)
    keys = [derive_key(seed, salt) for salt in range(3)]
    offsets = np.array([key_offset(key) for key in keys])
    separated, offered, opportunity = compiled.screen(
        location, n_labs, p_sep, p_emp, p_out, p_opp, offsets
    )
    rows = np.arange(n)
    u_sep, u_offer, u_opp = (uniform_hash(rows, key) for key in keys)
    employed = (location >= 0) & (location < n_labs)
    expected_sep = employed & (u_sep < p_sep)
    stays = employed & ~expected_sep
    expected_offer = (stays & (u_offer < p_emp)) | ((location == n_labs) & (u_offer < p_out))
    expected_opp = stays & (u_opp < p_opp)
    np.testing.assert_array_equal(separated, np.flatnonzero(expected_sep))
    np.testing.assert_array_equal(offered, np.flatnonzero(expected_offer))
    np.testing.assert_array_equal(opportunity, np.flatnonzero(expected_opp))


def test_screen_draws_have_the_stated_probabilities() -> None:
    # 200k employed researchers: each count is binomial; 5 standard deviations of tolerance.
    n, p = 200_000, 0.1
    location = np.zeros(n, dtype=np.int32)
    offsets = np.array([key_offset(derive_key(7, salt)) for salt in range(3)])
    separated, offered, opportunity = compiled.screen(location, 1, p, p, 0.0, p, offsets)
    assert abs(separated.shape[0] - n * p) < 5 * np.sqrt(n * p * (1 - p))
    stayed = n - separated.shape[0]
    for chosen in (offered, opportunity):
        assert abs(chosen.shape[0] - stayed * p) < 5 * np.sqrt(stayed * p * (1 - p))
    # the offer and opportunity draws are independent of each other
    both = np.intersect1d(offered, opportunity).shape[0]
    assert abs(both - stayed * p * p) < 5 * np.sqrt(stayed * p * p)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 300), n_labs=st.integers(1, 5))
def test_draw_below_matches_numpy(seed: int, n: int, n_labs: int) -> None:
    rng = np.random.default_rng(seed)
    location = _locations(rng, n, n_labs)
    key = derive_key(seed, 3)
    chosen = compiled.draw_below(location, n_labs, 0.3, key_offset(key))
    expected = (location == n_labs) & (uniform_hash(np.arange(n), key) < 0.3)
    np.testing.assert_array_equal(chosen, np.flatnonzero(expected))


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


def test_clock_and_tally_advances_and_counts() -> None:
    rng = np.random.default_rng(3)
    location = _locations(rng, 500, 4)
    pay, tenure, attachment = rng.random((3, 500))
    before_tenure, before_attachment = tenure.copy(), attachment.copy()
    headcount, pay_sum = compiled.clock_and_tally(location, pay, tenure, attachment, 0.25, 0.9, 5)
    np.testing.assert_allclose(tenure, before_tenure + 0.25)
    np.testing.assert_allclose(attachment, before_attachment * 0.9)
    present = location >= 0
    np.testing.assert_array_equal(headcount, np.bincount(location[present], minlength=5))
    np.testing.assert_allclose(
        pay_sum, np.bincount(location[present], weights=pay[present], minlength=5)
    )
