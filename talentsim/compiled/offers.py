"""Who has candidate events in a step (uniformization), and poaching raids."""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.draws import uniform_at

_CHUNK = 4096  # rows per block of the vectorised passes (a block's outcomes stay in cache)


@numba.njit(cache=True)
def screen_events(
    location: np.ndarray,
    n_labs: int,
    mean: float,
    offset: np.uint64,
    buffers: tuple[np.ndarray, np.ndarray],
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The step's first pass: who has candidate events, and how many (uniformization).

    Each researcher at a lab or in the pool (location ``n_labs``) has a Poisson number of
    candidate events of mean ``mean`` (the bounding rate × the step), drawn by inverting its
    distribution at the row's keyed uniform under ``offset``: none when the uniform is at
    least ``1 − exp(−mean)`` (most researchers, one branch-free hash each), else the least
    ``n ≥ 1`` with the uniform below ``P(1 ≤ N ≤ n)``.

    The rows go, ascending, into ``buffers[0]`` and their counts into ``buffers[1]`` (each
    at least as long as ``location``).

    Returns:
        How many rows have at least one candidate event (the first that many entries of the
        buffers), and the total number of candidate events.
    """
    rows, counts = buffers
    n = location.shape[0]
    p_any = -np.expm1(-mean)
    p_one = mean * np.exp(-mean)
    n_rows = 0
    total = 0
    flag = np.empty(_CHUNK, np.uint8)
    uniform = np.empty(_CHUNK)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        # Branch-free, so the compiler vectorises the hashes; then the rows with events are
        # compacted without a branch (a branch taken at random would be mispredicted often).
        for i in range(start, stop):
            place = location[i]
            present = (place >= 0) & (place <= n_labs)
            u = uniform_at(np.uint64(i), offset)
            uniform[i - start] = u
            flag[i - start] = np.uint8(present & (u < p_any))
        first = n_rows
        for i in range(start, stop):
            rows[n_rows] = i
            n_rows += flag[i - start]
        for k in range(first, n_rows):
            u = uniform[rows[k] - start]
            count, term, cumulative = 1, p_one, p_one
            while u >= cumulative and count < 10_000:  # (the cap guards against rounding)
                count += 1
                term *= mean / count
                cumulative += term
            counts[k] = count
            total += count
    return n_rows, total


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
