"""Colleague ties, compiled: shares of a researcher's ties per place, and their upkeep.

The upkeep of a living network: former-colleague ties fading, new ties forming inside labs.

The ties are CSR arrays with room: row ``i``'s colleagues are the entries of
``indices[indptr[i]:indptr[i + 1]]`` before the first negative one (``count[i]`` of them);
the rest of the row is room (-1) for ties still to come. See :mod:`talentsim.network`.
"""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.compat import helper
from talentsim.compiled.draws import uniform_at

GONE = -1
"""Location of a researcher who retired from the field (as :data:`talentsim.population.GONE`)."""


@helper
def tie_pair(
    indptr: np.ndarray,
    indices: np.ndarray,
    location: np.ndarray,
    row: int,
    first: int,
    second: int,
) -> tuple[float, float]:  # pragma: no cover - compiled
    """Share of one row's ties (to people still in the field) located at two places."""
    if row >= indptr.shape[0] - 1:  # beyond the rows the network covers: no ties
        return 0.0, 0.0
    degree = at_first = at_second = 0
    for entry in range(indptr[row], indptr[row + 1]):
        if indices[entry] < 0:  # room left for ties to come (a row's ties come first)
            break
        where = location[indices[entry]]
        if where != GONE:
            degree += 1
            at_first += where == first
            at_second += where == second
    if degree == 0:
        return 0.0, 0.0
    return at_first / degree, at_second / degree


@numba.njit(cache=True)
def tie_shares(
    indptr: np.ndarray,
    indices: np.ndarray,
    location: np.ndarray,
    rows: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Share of each row's ties (to people not retired) located at ``first`` and ``second``.

    Rows beyond the network (those ``indptr`` does not cover) and rows without ties get 0.
    """
    n = rows.shape[0]
    share_first = np.zeros(n)
    share_second = np.zeros(n)
    for k in range(n):
        share_first[k], share_second[k] = tie_pair(
            indptr, indices, location, rows[k], first[k], second[k]
        )
    return share_first, share_second


_PAIR = np.uint64(1 << 32)
_ROW = np.uint64(1024)  # draws per row: proposals and their tries (more repeat, harmlessly)


@numba.njit(inline="always", cache=True)
def _pair_value(a: int, b: int) -> np.uint64:  # pragma: no cover - compiled
    """One integer per unordered pair of rows (the hashed value of a tie's draws)."""
    low, high = min(a, b), max(a, b)
    return np.uint64(low) * _PAIR + np.uint64(high)


@numba.njit(cache=True)
def fade_and_count(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    location: np.ndarray,
    n_labs: int,
    p_fade: float,
    offset: np.uint64,
    in_lab: np.ndarray,
    target: np.ndarray,
    tally: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Drop ties to the retired and fading former-colleague ties; count ties to lab-mates.

    A tie is a colleague tie while both are at the same lab; otherwise (different places, or
    both in the outside pool) it is a former-colleague tie, dropped with probability
    ``p_fade`` — a hash of the pair, so that both directions go together. Rows are kept
    packed (ties first, then room). ``in_lab[i]`` receives the number of ``i``'s ties to
    people at ``i``'s lab; ``tally[0, j + 1]`` the staff of lab ``j`` and ``tally[1, j + 1]``
    those of them with fewer such ties than their ``target`` (for :func:`form_ties`).

    Returns:
        The number of tie entries dropped (twice the number of ties).
    """
    n = min(indptr.shape[0] - 1, location.shape[0])
    dropped = 0
    tally[:] = 0
    for i in range(n):
        here = location[i]
        start = indptr[i]
        had = count[i]
        kept = 0
        mates = 0
        for e in range(start, start + had):
            k = indices[e]
            there = location[k]
            if here == GONE or there == GONE:
                continue
            colleague = here == there and here < n_labs
            if not colleague and p_fade > 0 and uniform_at(_pair_value(i, k), offset) < p_fade:
                continue
            if kept < e - start:
                indices[start + kept] = k
            kept += 1
            mates += colleague
        if kept < had:
            for e in range(start + kept, start + had):
                indices[e] = -1
            count[i] = kept
            dropped += had - kept
        in_lab[i] = mates
        if 0 <= here < n_labs:
            tally[0, here + 1] += 1
            tally[1, here + 1] += mates < target[i]
    for i in range(n, in_lab.shape[0]):
        in_lab[i] = 0
    return dropped


@numba.njit(inline="always", cache=True)
def _tied(indptr: np.ndarray, indices: np.ndarray, count: np.ndarray, a: int, b: int) -> bool:
    """Whether rows ``a`` and ``b`` are tied (a scan of ``a``'s ties)."""
    found = False  # pragma: no cover - compiled
    for e in range(indptr[a], indptr[a] + count[a]):  # pragma: no cover - compiled
        found = found or indices[e] == b
    return found  # pragma: no cover - compiled


@numba.njit(inline="always", cache=True)
def _remove(indptr: np.ndarray, indices: np.ndarray, count: np.ndarray, a: int, b: int) -> None:
    """Remove ``b`` from row ``a``, keeping the order of the others (and room after)."""
    start = indptr[a]  # pragma: no cover - compiled
    shift = 0  # pragma: no cover - compiled
    for e in range(start, start + count[a]):  # pragma: no cover - compiled
        if indices[e] == b:
            shift = 1
        elif shift:
            indices[e - 1] = indices[e]
    if shift:  # pragma: no cover - compiled
        count[a] -= 1
        indices[start + count[a]] = -1


@numba.njit(inline="always", cache=True)
def _make_room(
    indptr: np.ndarray, indices: np.ndarray, count: np.ndarray, location: np.ndarray, a: int
) -> bool:
    """Room for one more tie in row ``a``: if it is full, its oldest former-colleague tie goes.

    Rows keep ties in the order they were made, so the first tie to someone at another place
    is the oldest former-colleague tie. False if the row is full of colleague ties.
    """
    start = indptr[a]  # pragma: no cover - compiled
    if count[a] < indptr[a + 1] - start:  # pragma: no cover - compiled
        return True
    for e in range(start, start + count[a]):  # pragma: no cover - compiled
        b = indices[e]
        if location[b] != location[a]:
            _remove(indptr, indices, count, a, b)
            _remove(indptr, indices, count, b, a)
            return True
    return False  # pragma: no cover - compiled


@numba.njit(cache=True)
def form_ties(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    location: np.ndarray,
    n_labs: int,
    in_lab: np.ndarray,
    target: np.ndarray,
    tally: np.ndarray,
    p_propose: float,
    closure: float,
    offsets: np.ndarray,
    lenient: bool,
) -> int:  # pragma: no cover - compiled
    """New ties inside labs, towards each researcher's target degree.

    Each researcher at a lab with ``m`` missing ties (target minus ties to lab-mates; ``in_lab``
    and the labs' tallies from :func:`fade_and_count`) proposes ``Binomial(m, p_propose)``
    ties. A proposal goes, with probability ``closure``, to a friend of a friend (a lab-mate
    tied to a random lab-mate of the proposer: triadic closure), otherwise to a lab-mate met at
    random.
    Partners who miss ties themselves are sought first (8 tries); failing that, if
    ``lenient``, any lab-mate not yet tied accepts (8 more tries), so that a newcomer to a
    settled lab is not left alone. A row that is full (its width, see
    :mod:`talentsim.network`) makes room by dropping its oldest former-colleague tie; a
    partner full of colleague ties is skipped. Draws are hashes of (row, proposal, try) under
    ``offsets`` (proposals, partners).

    Returns:
        The number of ties formed.
    """
    n = min(indptr.shape[0] - 1, location.shape[0])
    propose_offset, partner_offset = offsets[0], offsets[1]
    # staff of each lab, and the staff who miss ties, by counting sort
    staff_start = np.cumsum(tally[0])
    want_start = np.cumsum(tally[1])
    staff = np.empty(staff_start[n_labs], np.int32)
    wanting = np.empty(want_start[n_labs], np.int32)
    staff_fill = staff_start[:n_labs].copy()
    want_fill = want_start[:n_labs].copy()
    for i in range(n):
        lab = location[i]
        if 0 <= lab < n_labs:
            staff[staff_fill[lab]] = i
            staff_fill[lab] += 1
            if in_lab[i] < target[i]:
                wanting[want_fill[lab]] = i
                want_fill[lab] += 1
    formed = 0
    for w in range(wanting.shape[0]):
        i = wanting[w]
        lab = location[i]
        goal = target[i]
        missing = goal - in_lab[i]
        proposals = 0
        for m in range(missing):
            proposals += uniform_at(np.uint64(i) * _ROW + np.uint64(m), propose_offset) < p_propose
        for a in range(proposals):
            if in_lab[i] >= goal or not _make_room(indptr, indices, count, location, i):
                break
            base = (np.uint64(i) * _ROW + np.uint64(a)) * np.uint64(64)
            for attempt in range(16 if lenient else 8):
                picky = attempt < 8
                draw = base + np.uint64(4 * attempt)
                k = -1
                if in_lab[i] > 0 and uniform_at(draw, partner_offset) < closure:
                    # friend of a friend: a random lab-mate of a random lab-mate
                    c = indices[
                        indptr[i] + int(uniform_at(draw + np.uint64(1), partner_offset) * count[i])
                    ]
                    if location[c] == lab and count[c] > 0:
                        k = indices[
                            indptr[c]
                            + int(uniform_at(draw + np.uint64(2), partner_offset) * count[c])
                        ]
                elif picky:
                    size = want_start[lab + 1] - want_start[lab]
                    pick = int(uniform_at(draw + np.uint64(3), partner_offset) * size)
                    k = wanting[want_start[lab] + pick]
                else:
                    size = staff_start[lab + 1] - staff_start[lab]
                    pick = int(uniform_at(draw + np.uint64(3), partner_offset) * size)
                    k = staff[staff_start[lab] + pick]
                if k < 0 or k == i or location[k] != lab:
                    continue
                if picky and in_lab[k] >= target[k]:
                    continue
                if _tied(indptr, indices, count, i, k):
                    continue
                if not _make_room(indptr, indices, count, location, k):
                    continue
                indices[indptr[i] + count[i]] = k
                count[i] += 1
                indices[indptr[k] + count[k]] = i
                count[k] += 1
                in_lab[i] += 1
                in_lab[k] += 1
                formed += 1
                break
    return formed
