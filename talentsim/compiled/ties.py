"""Colleague ties, compiled: the share of a researcher's ties located at a place."""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.compat import helper

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
    if row >= indptr.shape[0] - 1:  # joined after the network was made: no ties
        return 0.0, 0.0
    degree = at_first = at_second = 0
    for entry in range(indptr[row], indptr[row + 1]):
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

    Rows beyond the network (``indptr`` covers the rows present at set-up) and rows without
    ties get 0.
    """
    n = rows.shape[0]
    share_first = np.zeros(n)
    share_second = np.zeros(n)
    for k in range(n):
        share_first[k], share_second[k] = tie_pair(
            indptr, indices, location, rows[k], first[k], second[k]
        )
    return share_first, share_second
