"""Single decisions, compiled: acceptance, the offering lab, counter-offer pay, capacity.

Each rule is one small function on one researcher (called by the step's compiled passes)
with a companion over arrays (called by :mod:`talentsim.kernels`, so each rule can be used and
tested on its own with the code the step runs).
"""

from __future__ import annotations

import numba
import numpy as np

from talentsim.compiled.compat import helper


@numba.njit(inline="always", cache=True)
def accepts(gain: float, noise_scale: float, uniform: float) -> bool:  # pragma: no cover
    """Binary-logit acceptance (see kernels.accept): ``uniform < 1 / (1 + exp(−gain/scale))``."""
    if noise_scale == 0:
        return gain > 0
    return uniform < 1.0 / (1.0 + np.exp(-(gain / noise_scale)))


@helper
def offer_lab(
    current: int, weights: np.ndarray, cumulative: np.ndarray, uniform: float
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """The lab making an offer, by weight, never one's own (see kernels.draw_offer_labs).

    ``cumulative`` is ``np.cumsum(weights)``. The uniform is scaled to the total weight less
    one's own lab's and stepped over one's own lab on the cumulative-weight axis.

    Returns:
        ``(lab, has_offer)``: the lab, and whether any lab could make an offer.
    """
    n_labs = weights.shape[0]
    total = cumulative[n_labs - 1] if n_labs > 0 else 0.0
    own_weight, own_start = 0.0, np.inf
    if current < n_labs:
        own_weight = weights[current]
        own_start = cumulative[current] - own_weight
    remaining = total - own_weight
    target = uniform * remaining
    if target >= own_start:
        target = target + own_weight
    if n_labs <= 32:  # counting is the binary search's answer, branch-free: faster when short
        lab = 0
        for t in range(n_labs):
            lab += cumulative[t] <= target
    else:
        lab = int(np.searchsorted(cumulative, target, side="right"))
    return min(lab, n_labs - 1), remaining > 1e-12 * max(total, 1.0)


@numba.njit(inline="always", cache=True)
def counter_offer_pay(current: float, offered: float, limit: float) -> float:  # pragma: no cover
    """Pay a lab counter-offers: the offer, up to ``limit`` × current pay, never a cut.

    NaN in any input gives NaN (as NumPy's maximum and minimum).
    """
    return np.maximum(current, np.minimum(offered, limit * current))


@numba.njit(cache=True)
def within_capacity(
    destination: np.ndarray, room: np.ndarray, priority: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Keep at most ``room[j]`` of the moves into each lab ``j``: those of lowest priority.

    Ties in priority keep the earlier move. Returns a mask of the moves that go ahead.
    """
    n_labs = room.shape[0]
    keep = np.ones(destination.shape[0], np.bool_)
    takers = np.zeros(n_labs, np.int64)
    for j in destination:
        takers[j] += 1
    for j in range(n_labs):
        if takers[j] == 0 or takers[j] - 1 < room[j]:
            continue  # room for all
        members = np.flatnonzero(destination == j)
        order = np.argsort(priority[members], kind="mergesort")
        for rank in range(members.shape[0]):
            if not rank < room[j]:
                keep[members[order[rank]]] = False
    return keep


@numba.njit(cache=True)
def accept_all(
    gain: np.ndarray, noise_scale: float, uniform: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`accepts` for each gain and its uniform."""
    out = np.empty(gain.shape[0], np.bool_)
    for k in range(gain.shape[0]):
        out[k] = accepts(gain[k], noise_scale, uniform[k])
    return out


@numba.njit(cache=True)
def offer_labs(
    current: np.ndarray, weights: np.ndarray, uniform: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """:func:`offer_lab` for each researcher: ``(lab, has_offer)``."""
    cumulative = np.cumsum(weights)
    lab = np.empty(current.shape[0], np.int64)
    has_offer = np.empty(current.shape[0], np.bool_)
    for k in range(current.shape[0]):
        lab[k], has_offer[k] = offer_lab(current[k], weights, cumulative, uniform[k])
    return lab, has_offer


@numba.njit(cache=True)
def counter_offer_pays(
    current: np.ndarray, offered: np.ndarray, limit: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`counter_offer_pay` for each researcher."""
    out = np.empty(current.shape[0])
    for k in range(current.shape[0]):
        out[k] = counter_offer_pay(current[k], offered[k], limit[k])
    return out
