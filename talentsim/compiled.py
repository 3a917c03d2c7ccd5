"""Compiled (Numba) loops for the step's passes over researchers and ties.

A step's work over the whole population is a chain of cheap operations (a comparison, a
hash, a count); written as NumPy expressions each of them is a separate pass over memory with
its own temporary array. Here each chain is one loop that reads each researcher once. The
functions are compiled on first use and cached on disk (``cache=True``), so a new process
loads them in milliseconds.

Every function is a plain loop with the same meaning as the NumPy expression it replaces;
:mod:`talentsim.kernels` and :mod:`talentsim.model` document the rules.
"""

from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 2**53


@numba.njit(inline="always", cache=True)
def mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The SplitMix64 finaliser (uint64 arithmetic wraps modulo 2**64); see talentsim.hashing."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always", cache=True)
def uniform_at(value: np.uint64, offset: np.uint64) -> float:  # pragma: no cover - compiled
    """The uniform in [0, 1) of one value under a key's offset (``hashing.key_offset``)."""
    return float(mix(value + offset) >> _S11) * _UNIT


@numba.njit(cache=True)
def uniforms(values: np.ndarray, offset: np.uint64) -> np.ndarray:  # pragma: no cover
    """:func:`uniform_at` of each non-negative integer value."""
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        out[i] = uniform_at(np.uint64(values[i]), offset)
    return out


# Positions of the utility terms (as in kernels.TERMS).
_PAY, _MISSION, _STABILITY, _PEERS, _FAIRNESS, _ATTACHMENT, _REPUTATION, _AMENITY = range(8)


@numba.njit(cache=True)
def screen(
    location: np.ndarray,
    n_labs: int,
    p_separation: float,
    p_offer_employed: float,
    p_offer_outside: float,
    p_opportunity: float,
    offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The step's first pass: who separates, who gets an offer, who meets an opportunity.

    Draws are keyed hashes of the row (``offsets``: separation, offer, opportunity), computed
    only where the rule reads them. Employed researchers separate with ``p_separation``; the
    others get an offer with ``p_offer_employed`` and an outside opportunity with
    ``p_opportunity``; researchers in the pool (location ``n_labs``) get an offer with
    ``p_offer_outside``.

    Returns:
        ``(separated, offered, opportunity)``: ascending row indices.
    """
    n = location.shape[0]
    separated = np.empty(n, np.int64)
    offered = np.empty(n, np.int64)
    opportunity = np.empty(n, np.int64)
    n_sep = n_off = n_opp = 0
    for i in range(n):
        place = location[i]
        row = np.uint64(i)
        if 0 <= place < n_labs:
            if p_separation > 0 and uniform_at(row, offsets[0]) < p_separation:
                separated[n_sep] = i
                n_sep += 1
                continue
            if p_offer_employed > 0 and uniform_at(row, offsets[1]) < p_offer_employed:
                offered[n_off] = i
                n_off += 1
            if p_opportunity > 0 and uniform_at(row, offsets[2]) < p_opportunity:
                opportunity[n_opp] = i
                n_opp += 1
        elif (
            place == n_labs
            and p_offer_outside > 0
            and uniform_at(row, offsets[1]) < p_offer_outside
        ):
            offered[n_off] = i
            n_off += 1
    return separated[:n_sep].copy(), offered[:n_off].copy(), opportunity[:n_opp].copy()


@numba.njit(cache=True)
def draw_below(
    location: np.ndarray, place: int, probability: float, offset: np.uint64
) -> np.ndarray:  # pragma: no cover - compiled
    """Rows at ``place`` whose hashed uniform (under ``offset``) is below ``probability``."""
    n = location.shape[0]
    chosen = np.empty(n, np.int64)
    count = 0
    if probability > 0:
        for i in range(n):
            if location[i] == place and uniform_at(np.uint64(i), offset) < probability:
                chosen[count] = i
                count += 1
    return chosen[:count].copy()


@numba.njit(cache=True)
def tie_shares(
    indptr: np.ndarray,
    indices: np.ndarray,
    location: np.ndarray,
    gone: int,
    rows: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Share of each row's ties (to people not ``gone``) located at ``first`` and ``second``.

    Rows beyond the network (``indptr`` covers the rows present at set-up) and rows without
    ties get 0.
    """
    n = rows.shape[0]
    size = indptr.shape[0] - 1
    share_first = np.zeros(n)
    share_second = np.zeros(n)
    for k in range(n):
        row = rows[k]
        if row >= size:
            continue
        degree = at_first = at_second = 0
        for entry in range(indptr[row], indptr[row + 1]):
            where = location[indices[entry]]
            if where != gone:
                degree += 1
                at_first += where == first[k]
                at_second += where == second[k]
        if degree > 0:
            share_first[k] = at_first / degree
            share_second[k] = at_second / degree
    return share_first, share_second


@numba.njit(cache=True)
def utility_terms(
    rows: np.ndarray,
    place: np.ndarray,
    pay: np.ndarray,
    peer_share: np.ndarray,
    switches: np.ndarray,
    researcher: tuple[np.ndarray, ...],
    last_lab: np.ndarray,
    location: np.ndarray,
    lab: tuple[np.ndarray, ...],
    outside_amenity: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """The utility terms of ``rows`` at ``place`` paid ``pay`` (see kernels.utility_terms).

    Args:
        rows: Researcher rows.
        place: Location each is evaluated at (a lab, or ``n_labs`` for the outside pool).
        pay: Pay each would receive there.
        peer_share: Share of each one's ties at ``place`` (read when ``switches[3]``).
        switches: Booleans for the terms pay, mission, stability, peers, fairness, attachment,
            reputation (kernels.TERMS order).
        researcher: Population columns ``(w_pay, w_mission, w_stability, w_peers, w_fairness,
            w_attachment, w_reputation, orientation, market_value, attachment)``.
        last_lab: Population column: each researcher's former lab.
        location: Population column: each researcher's place now.
        lab: Lab columns ``(orientation, mission_clarity, turmoil, reference_ratio,
            reputation, amenity)``.
        outside_amenity: Amenity of the outside pool.
    """
    (w_pay, w_mission, w_stability, w_peers, w_fairness, w_attach, w_reputation) = researcher[:7]
    orientation, market_value, attachment = researcher[7], researcher[8], researcher[9]
    lab_orientation, clarity, turmoil, reference, reputation, amenity = lab
    n_labs = clarity.shape[0]
    n = rows.shape[0]
    terms = np.zeros((8, n))
    for k in range(n):
        i, j = rows[k], place[k]
        if switches[_PAY]:
            terms[_PAY, k] = w_pay[i] * np.log(pay[k])
        if switches[_PEERS]:
            terms[_PEERS, k] = w_peers[i] * peer_share[k]
        if j >= n_labs:
            terms[_AMENITY, k] = outside_amenity
            continue
        terms[_AMENITY, k] = amenity[j]
        if switches[_MISSION]:
            alignment = 1.0 - 2.0 * abs(orientation[i] - lab_orientation[j])
            terms[_MISSION, k] = w_mission[i] * clarity[j] * alignment
        if switches[_STABILITY]:
            terms[_STABILITY, k] = -w_stability[i] * turmoil[j]
        if switches[_FAIRNESS]:
            shortfall = np.log(reference[j] * market_value[i] / pay[k])
            if shortfall > 0:  # False for NaN (an empty lab has no reference)
                terms[_FAIRNESS, k] = -w_fairness[i] * shortfall
        if switches[_ATTACHMENT] and j == last_lab[i]:
            terms[_ATTACHMENT, k] = w_attach[i] * attachment[i]
        if switches[_REPUTATION] and j != location[i]:
            terms[_REPUTATION, k] = -w_reputation[i] * reputation[j]
    return terms


@numba.njit(cache=True)
def lab_quantiles(
    location: np.ndarray, pay: np.ndarray, market_value: np.ndarray, n_labs: int, q: float
) -> np.ndarray:  # pragma: no cover - compiled
    """Each lab's ``q`` order statistic of its staff's pay / market value (NaN if empty).

    The order statistic of rank ``floor(q·(count − 1))`` (0-based): staff are grouped by lab
    (a counting sort) and each group is partitioned once.
    """
    n = location.shape[0]
    counts = np.zeros(n_labs, np.int64)
    for i in range(n):
        if 0 <= location[i] < n_labs:
            counts[location[i]] += 1
    starts = np.zeros(n_labs + 1, np.int64)
    for j in range(n_labs):
        starts[j + 1] = starts[j] + counts[j]
    ratios = np.empty(starts[n_labs])
    fill = starts[:n_labs].copy()
    for i in range(n):
        j = location[i]
        if 0 <= j < n_labs:
            ratios[fill[j]] = pay[i] / market_value[i]
            fill[j] += 1
    reference = np.full(n_labs, np.nan)
    for j in range(n_labs):
        if counts[j] > 0:
            rank = int(np.floor(q * (counts[j] - 1)))
            group = ratios[starts[j] : starts[j + 1]]
            reference[j] = np.partition(group, rank)[rank]
    return reference


@numba.njit(cache=True)
def clock_and_tally(
    location: np.ndarray,
    pay: np.ndarray,
    tenure: np.ndarray,
    attachment: np.ndarray,
    dt: float,
    decay: float,
    n_places: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Advance everyone's clocks (tenure += dt, attachment ×= decay) and count the places.

    Returns:
        ``(headcount, pay_sum)`` per place (labs, then the outside pool); the retired
        (negative locations) are not counted.
    """
    headcount = np.zeros(n_places, np.int64)
    pay_sum = np.zeros(n_places)
    for i in range(location.shape[0]):
        tenure[i] += dt
        attachment[i] *= decay
        place = location[i]
        if place >= 0:
            headcount[place] += 1
            pay_sum[place] += pay[i]
    return headcount, pay_sum
