"""Colleague ties, compiled: shares of a researcher's ties per place, and their upkeep.

The upkeep of a living network: former-colleague ties fading, new ties forming inside labs.

The ties are CSR arrays with room: row ``i``'s colleagues are the entries of
``indices[indptr[i]:indptr[i + 1]]`` before the first negative one (``count[i]`` of them);
the rest of the row is room (-1) for ties still to come. See :mod:`talentsim.network`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from talentsim.compiled.compat import helper, prefetch
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


NEVER = np.iinfo(np.int32).max
"""Due update of a tie that does not fade (a colleague tie, or former ties when they last)."""

AHEAD = 16
"""How many rows ahead :func:`refresh` asks for a row's data (prefetch: the rows it reads are
scattered, so each would otherwise wait for memory in turn)."""

_UNSEEN = np.iinfo(np.int32).min
"""Last-seen location of a row the network has not looked at yet (it differs from any place)."""


@numba.njit(cache=True)
def dirty_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    location: np.ndarray,
    seen: np.ndarray,
    stale: np.ndarray,
    row_due: np.ndarray,
    update: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """The rows an update must re-read, sorted: those whose ties may have changed status.

    A row is dirty if it moved since the last update (``location`` differs from ``seen``,
    which is brought up to date), if one of its ties moved (a tie changes between colleague
    and former-colleague only when one end moves), if it is ``stale`` (ties broken by a
    reorganisation; cleared here), or if one of its former-colleague ties is due to fade
    (``row_due`` at most ``update``). One sequential pass over the rows, plus the ties of
    those who moved.
    """
    n = min(indptr.shape[0] - 1, location.shape[0])
    mark = stale[:n].copy()
    stale[:n] = False
    for i in range(n):
        if location[i] != seen[i]:
            seen[i] = location[i]
            mark[i] = True
            for e in range(indptr[i], indptr[i] + count[i]):
                mark[indices[e]] = True
        elif row_due[i] <= update:
            mark[i] = True
    return np.flatnonzero(mark).astype(np.int64)


@numba.njit(inline="always", cache=True)
def _lifetime(pair: np.uint64, offset: np.uint64, log_keep: float) -> int:
    """Updates a new former-colleague tie lasts: Geometric, P(L >= j) = (1 − p_fade)^j.

    ``log_keep`` is ``log(1 − p_fade)`` (< 0). 0 means the tie goes at the update that finds
    it former, with probability ``p_fade``, as each later update's survival is ``1 − p_fade``.
    """
    u = 1.0 - uniform_at(pair, offset)  # pragma: no cover - compiled
    lasts = math.log(u) / log_keep  # pragma: no cover - compiled
    return int(min(lasts, 1e9))  # pragma: no cover - compiled


@helper
def _fetch_rows_ahead(
    indptr, indices, count, due, location, in_lab, row_due, rows, r
):  # pragma: no cover - compiled
    """Prefetch what :func:`refresh` reads of later rows: in three stages, each needing the last.

    A row's bookkeeping ``AHEAD`` rows ahead, its ties half as far, the places of its tied
    researchers a quarter as far.
    """
    n_rows = rows.shape[0]
    if r + AHEAD < n_rows:
        prefetch((indptr, count, location, in_lab, row_due), rows[r + AHEAD])
    if r + AHEAD // 2 < n_rows:
        j = rows[r + AHEAD // 2]
        prefetch((indices, due), indptr[j])
        prefetch((indices, due), indptr[j + 1] - 1)
    if r + AHEAD // 4 < n_rows:
        j = rows[r + AHEAD // 4]
        for e in range(indptr[j], indptr[j] + count[j]):
            prefetch((location,), indices[e])


@numba.njit(cache=True)
def refresh(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    due: np.ndarray,
    location: np.ndarray,
    n_labs: int,
    rows: np.ndarray,
    update: int,
    p_fade: float,
    offset: np.uint64,
    in_lab: np.ndarray,
    row_due: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Re-read the ties of ``rows``: drop ties to the retired and faded former-colleague ties.

    A tie is a colleague tie while both are at the same lab; otherwise (different places, or
    both in the outside pool) it is a former-colleague tie. A tie found former for the first
    time gets its due update (``due``, parallel to ``indices``): ``update`` plus a geometric
    lifetime (:func:`_lifetime`, a hash of the pair under ``offset``, the same from both
    ends, so both directions go together); it is dropped at that update, unless it became a
    colleague tie again meanwhile (its due is then cleared). Memoryless, this is the same law
    as dropping each former tie with probability ``p_fade`` at every update, without reading
    every tie at every update: only rows whose ties may have changed (:func:`dirty_rows`).
    Rows are kept packed (ties first, then room). ``in_lab[i]`` receives the number of
    ``i``'s ties to people at ``i``'s lab, ``row_due[i]`` the earliest due of its ties.

    Returns:
        The number of tie entries dropped (twice the number of ties).
    """
    log_keep = math.log1p(-p_fade) if 0.0 < p_fade < 1.0 else 0.0
    dropped = 0
    n_rows = rows.shape[0]
    for r in range(n_rows):
        _fetch_rows_ahead(indptr, indices, count, due, location, in_lab, row_due, rows, r)
        i = rows[r]
        here = location[i]
        start = indptr[i]
        had = count[i]
        kept = 0
        mates = 0
        soonest = NEVER
        for e in range(start, start + had):
            k = indices[e]
            there = location[k]
            if here == GONE or there == GONE:
                continue
            colleague = here == there and here < n_labs
            d = due[e]
            if colleague:
                d = NEVER
            elif d == NEVER and p_fade > 0:
                if p_fade >= 1.0:
                    d = update
                else:
                    lasts = _lifetime(_pair_value(i, k), offset, log_keep)
                    d = update + min(lasts, NEVER - 1 - update)
            if d <= update:
                continue
            if kept < e - start:
                indices[start + kept] = k
            due[start + kept] = d
            kept += 1
            mates += colleague
            soonest = min(soonest, d)
        if kept < had:
            for e in range(start + kept, start + had):
                indices[e] = -1
                due[e] = NEVER
            count[i] = kept
            dropped += had - kept
        in_lab[i] = mates
        row_due[i] = soonest
    return dropped


@numba.njit(inline="always", cache=True)
def _tied(indptr: np.ndarray, indices: np.ndarray, count: np.ndarray, a: int, b: int) -> bool:
    """Whether rows ``a`` and ``b`` are tied (a scan of ``a``'s ties)."""
    found = False  # pragma: no cover - compiled
    for e in range(indptr[a], indptr[a] + count[a]):  # pragma: no cover - compiled
        found = found or indices[e] == b
    return found  # pragma: no cover - compiled


@numba.njit(inline="always", cache=True)
def _remove(
    indptr: np.ndarray, indices: np.ndarray, count: np.ndarray, due: np.ndarray, a: int, b: int
) -> None:
    """Remove ``b`` from row ``a``, keeping the order of the others (and room after)."""
    start = indptr[a]  # pragma: no cover - compiled
    shift = 0  # pragma: no cover - compiled
    for e in range(start, start + count[a]):  # pragma: no cover - compiled
        if indices[e] == b:
            shift = 1
        elif shift:
            indices[e - 1] = indices[e]
            due[e - 1] = due[e]
    if shift:  # pragma: no cover - compiled
        count[a] -= 1
        indices[start + count[a]] = -1
        due[start + count[a]] = NEVER


@numba.njit(inline="always", cache=True)
def _make_room(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    due: np.ndarray,
    location: np.ndarray,
    a: int,
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
            _remove(indptr, indices, count, due, a, b)
            _remove(indptr, indices, count, due, b, a)
            return True
    return False  # pragma: no cover - compiled


@numba.njit(inline="always", cache=True)
def _proposal_draws(i: int, a: int) -> np.uint64:  # pragma: no cover - compiled
    """The first hashed value of proposal ``a`` of row ``i`` (its tries use the next 64)."""
    return (np.uint64(i) * _ROW + np.uint64(a)) * np.uint64(64)


@helper
def _fetch_proposals_ahead(
    indptr,
    indices,
    count,
    location,
    in_lab,
    target,
    proposer,
    proposal,
    p,
    n_proposals,
    closure,
    partner_offset,
    wanting,
    want_start,
):  # pragma: no cover - compiled
    """Prefetch what the first try of later proposals reads, in stages (each needs the last).

    ``2·AHEAD`` proposals ahead, the proposer's bookkeeping; ``AHEAD`` ahead, its ties. Then
    its first try's partner: a lab-mate missing ties (``AHEAD/2`` ahead: its bookkeeping;
    ``AHEAD/4``: the room its new tie goes to), or through a friend (``AHEAD/2``: the friend's
    bookkeeping; ``AHEAD/4``: the friend's ties; ``AHEAD/8``: the friend of a friend). Hints
    only: the values are read again when the proposal is made.
    """
    if p + 2 * AHEAD < n_proposals:
        prefetch((indptr, count, in_lab, target, location), proposer[p + 2 * AHEAD])
    if p + AHEAD < n_proposals:
        prefetch((indices,), indptr[proposer[p + AHEAD]])
    for stage in (AHEAD // 2, AHEAD // 4, AHEAD // 8):
        if p + stage >= n_proposals:
            continue
        i = proposer[p + stage]
        draw = _proposal_draws(i, proposal[p + stage])
        if in_lab[i] > 0 and uniform_at(draw, partner_offset) < closure:
            c = indices[indptr[i] + int(uniform_at(draw + np.uint64(1), partner_offset) * count[i])]
            if stage == AHEAD // 2:
                prefetch((indptr, count, location), c)
            elif stage == AHEAD // 4:
                prefetch((indices,), indptr[c])
            elif count[c] > 0:
                k = indices[
                    indptr[c] + int(uniform_at(draw + np.uint64(2), partner_offset) * count[c])
                ]
                prefetch((indptr, count, location, in_lab, target), k)
        elif stage != AHEAD // 8:
            lab = location[i]
            size = want_start[lab + 1] - want_start[lab]
            if size > 0:
                pick = int(uniform_at(draw + np.uint64(3), partner_offset) * size)
                k = wanting[want_start[lab] + pick]
                if stage == AHEAD // 2:
                    prefetch((indptr, count, location, in_lab, target), k)
                else:
                    prefetch((indices,), indptr[k] + count[k])


@numba.njit(cache=True)
def form_ties(
    indptr: np.ndarray,
    indices: np.ndarray,
    count: np.ndarray,
    due: np.ndarray,
    location: np.ndarray,
    n_labs: int,
    in_lab: np.ndarray,
    target: np.ndarray,
    p_propose: float,
    closure: float,
    offsets: np.ndarray,
    lenient: bool,
) -> int:  # pragma: no cover - compiled
    """New ties inside labs, towards each researcher's target degree.

    Each researcher at a lab with ``m`` missing ties (target minus ties to lab-mates, ``in_lab``
    as kept up to date by :func:`refresh`) proposes ``Binomial(m, p_propose)``
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
    tally = np.zeros((2, n_labs + 1), np.int64)
    for i in range(n):
        lab = location[i]
        if 0 <= lab < n_labs:
            tally[0, lab + 1] += 1
            tally[1, lab + 1] += in_lab[i] < target[i]
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
    # the proposals: Binomial(missing, p_propose) per researcher missing ties, all drawn
    # from the missing ties at the start of the update; then carried out in that order
    n_wanting = wanting.shape[0]
    proposer = np.empty(np.sum(target[wanting] - in_lab[wanting]), np.int32)
    proposal = np.empty(proposer.shape[0], np.int32)
    n_proposals = 0
    for w in range(n_wanting):
        if w + AHEAD < n_wanting:  # the scattered rows' data, ahead (a hint only)
            prefetch((in_lab, target), wanting[w + AHEAD])
        i = wanting[w]
        a = 0
        for m in range(target[i] - in_lab[i]):
            if uniform_at(np.uint64(i) * _ROW + np.uint64(m), propose_offset) < p_propose:
                proposer[n_proposals] = i
                proposal[n_proposals] = a
                n_proposals += 1
                a += 1
    formed = 0
    for p in range(n_proposals):
        _fetch_proposals_ahead(
            indptr, indices, count, location, in_lab, target, proposer, proposal, p,
            n_proposals, closure, partner_offset, wanting, want_start,
        )  # fmt: skip
        i, a = proposer[p], proposal[p]
        lab = location[i]
        if in_lab[i] >= target[i] or not _make_room(indptr, indices, count, due, location, i):
            continue  # (its later proposals find the same)
        base = _proposal_draws(i, a)
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
                        indptr[c] + int(uniform_at(draw + np.uint64(2), partner_offset) * count[c])
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
            if not _make_room(indptr, indices, count, due, location, k):
                continue
            # (room's due is NEVER already: a colleague tie's, until it becomes former)
            indices[indptr[i] + count[i]] = k
            count[i] += 1
            indices[indptr[k] + count[k]] = i
            count[k] += 1
            in_lab[i] += 1
            in_lab[k] += 1
            formed += 1
            break
    return formed
