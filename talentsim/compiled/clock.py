"""Passes over everyone: reference pay, retirements, clocks and headcounts; move records."""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.draws import uniform_at
from talentsim.compiled.ties import GONE

_TALLIES = 4  # interleaved tallies of the per-place sums (a power of two)

CODE_ROWS = 5
"""Rows of a move record's codes (int32): step, researcher, cohort, origin, destination."""
VALUE_ROWS_BEFORE_GAINS = 3
"""Rows of a move record's values (float) before the utility-term gains: tenure, pay before,
pay after."""


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
def retire_and_clock(
    location: np.ndarray,
    pay: np.ndarray,
    tenure: np.ndarray,
    attachment: np.ndarray,
    retirement: tuple[int, int, float, np.uint64],
    dt: float,
    decay: float,
    headcount: np.ndarray,
    mean_pay: np.ndarray,
    retired: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Retirements, then everyone's clocks and the count of each place, in one pass.

    ``retirement`` is ``(rows, place, probability, offset)``: of the first ``rows`` rows,
    those at ``place`` whose hashed uniform under ``offset`` is below ``probability`` retire
    (their location becomes ``GONE``). Then tenure grows by ``dt`` and attachment decays by
    ``decay`` for everyone, each place's headcount (labs, then the pool; the retired are not
    counted) goes to ``headcount`` and each lab's mean pay (NaN if empty) to ``mean_pay``.
    The pay is summed in four interleaved parts, so the mean can differ from a sum in row
    order in the last bit.

    Returns:
        How many retired; their rows, ascending, are the first entries of ``retired`` (at
        least as long as ``location``).
    """
    eligible, place_retiring, probability, offset = retirement
    n_retired = 0
    n_places = headcount.shape[0]
    # Row i goes to tally i % 4 of its place, and the tallies are added up at the end: with
    # one tally, rows at the same place wait on each other's update of it (~15% slower).
    counts = np.zeros((n_places + 1, _TALLIES), np.int64)  # place 0: the retired (location −1)
    pay_sum = np.zeros((n_places + 1, _TALLIES))
    for i in range(location.shape[0]):
        if (
            location[i] == place_retiring
            and i < eligible
            and uniform_at(np.uint64(i), offset) < probability
        ):
            location[i] = GONE
            retired[n_retired] = i
            n_retired += 1
        tenure[i] += dt
        attachment[i] *= decay
        place, tally = location[i] + 1, i & (_TALLIES - 1)
        counts[place, tally] += 1
        pay_sum[place, tally] += pay[i]
    for j in range(n_places):
        headcount[j] = counts[j + 1].sum()
    for j in range(mean_pay.shape[0]):
        total = pay_sum[j + 1, 0]
        for tally in range(1, _TALLIES):
            total += pay_sum[j + 1, tally]
        mean_pay[j] = total / headcount[j] if headcount[j] > 0 else np.nan
    return n_retired


@numba.njit(cache=True)
def outside_record(
    step: int,
    rows: np.ndarray,
    cohort: np.ndarray,
    pay: np.ndarray,
    places: tuple[int, int],
    kind: int,
    entry: bool,
    n_values: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The move records of entries into the pool or retirements from it, as :func:`decide`'s.

    ``places`` is ``(origin, destination)``. Pay is recorded as pay before, and for entries
    as pay after too; the other values are NaN. ``n_values`` is the number of value rows
    (:data:`VALUE_ROWS_BEFORE_GAINS` plus one per utility term).
    """
    count = rows.shape[0]
    codes = np.empty((CODE_ROWS, count), np.int32)
    values = np.full((n_values, count), np.nan)
    for m in range(count):
        r = rows[m]
        codes[0, m], codes[1, m], codes[2, m] = step, r, cohort[r]
        codes[3, m], codes[4, m] = places
        values[1, m] = pay[r]
        if entry:
            values[2, m] = pay[r]
    return codes, np.full(count, kind, np.int8), values
