"""Who is offered a job, who separates, who meets an opportunity, and poaching raids."""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.draws import uniform_at

_CHUNK = 4096  # rows per block of the vectorised passes (a block's outcomes stay in cache)


@numba.njit(cache=True)
def screen_into(
    location: np.ndarray,
    n_labs: int,
    probabilities: tuple[float, float, float, float],
    offsets: np.ndarray,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """The step's first pass: who separates, who gets an offer, who meets an opportunity.

    Draws are keyed hashes of the row (``offsets``: separation, offer, opportunity).
    Employed researchers separate with ``p_separation``; the others get an offer with
    ``p_offer_employed`` and an outside opportunity with ``p_opportunity``; researchers in the
    pool (location ``n_labs``) get an offer with ``p_offer_outside``. ``probabilities`` is
    ``(p_separation, p_offer_employed, p_offer_outside, p_opportunity)``.

    The rows go, ascending, into ``buffers`` (each at least as long as ``location``):
    separated, offered, opportunity.

    Returns:
        How many rows separate, get an offer and meet an opportunity: the first that many
        entries of each buffer.
    """
    p_separation, p_offer_employed, p_offer_outside, p_opportunity = probabilities
    separated, offered, opportunity = buffers
    n = location.shape[0]
    n_sep = n_off = n_opp = 0
    outcome = np.empty(_CHUNK, np.uint8)
    key_separation, key_offer, key_opportunity = offsets[0], offsets[1], offsets[2]
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        # Branch-free, so the compiler vectorises the hashes; a draw never read (a
        # separated researcher's offer draw, say) does not change the outcome.
        for i in range(start, stop):
            place, row = location[i], np.uint64(i)
            employed = (place >= 0) & (place < n_labs)
            separates = employed & (uniform_at(row, key_separation) < p_separation)
            u_offer = uniform_at(row, key_offer)
            offer = ~separates & (
                (employed & (u_offer < p_offer_employed))
                | ((place == n_labs) & (u_offer < p_offer_outside))
            )
            chance = employed & ~separates & (uniform_at(row, key_opportunity) < p_opportunity)
            outcome[i - start] = np.uint8(separates) | np.uint8(offer) << 1 | np.uint8(chance) << 2
        for i in range(start, stop):
            code = outcome[i - start]
            if code == 0:
                continue
            if code & 1:
                separated[n_sep] = i
                n_sep += 1
            if code & 2:
                offered[n_off] = i
                n_off += 1
            if code & 4:
                opportunity[n_opp] = i
                n_opp += 1
    return n_sep, n_off, n_opp


@numba.njit(cache=True)
def raid_offers(
    location: np.ndarray,
    last_lab: np.ndarray,
    separated: np.ndarray,
    raids: tuple[np.ndarray, ...],
    offset: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The offers of the poaching raids due this step: ``(rows, lab, premium)``.

    Each raid ``(raider, target, offers, premium, former_staff_first)`` courts ``offers`` of
    its target's staff (not the ``separated``) in the order of their draws under ``offset``,
    its former staff first if asked. A researcher courted by two raids keeps the later one's
    offer.
    """
    raider, target, count, premium, former_first = raids
    rows = np.zeros(0, np.int64)
    lab = np.zeros(0, np.int64)
    bonus = np.zeros(0)
    if raider.shape[0] == 0:
        return rows, lab, bonus
    n = location.shape[0]
    is_separated = np.zeros(n, np.bool_)
    for r in separated:
        is_separated[r] = True
    for q in range(raider.shape[0]):
        staff = np.empty(n, np.int64)
        n_staff = 0
        for i in range(n):
            if location[i] == target[q] and not is_separated[i]:
                staff[n_staff] = i
                n_staff += 1
        order = np.empty(n_staff)
        for s in range(n_staff):
            order[s] = uniform_at(np.uint64(staff[s]), offset)
            if former_first[q] and last_lab[staff[s]] == raider[q]:
                order[s] -= 1.0  # alumni sort first
        ranked = np.argsort(order, kind="mergesort")
        chosen = staff[ranked[: min(count[q], n_staff)]]
        courted = np.zeros(n, np.bool_)
        for r in chosen:
            courted[r] = True
        keep = np.array([not courted[r] for r in rows], dtype=np.bool_)
        rows = np.concatenate((rows[keep], chosen))
        lab = np.concatenate((lab[keep], np.full(chosen.shape[0], raider[q])))
        bonus = np.concatenate((bonus[keep], np.full(chosen.shape[0], premium[q])))
    return rows, lab, bonus
