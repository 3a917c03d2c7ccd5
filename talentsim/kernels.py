"""Vectorised decision kernels: utilities, offers, choices and capacity.

Each function works on whole arrays of researchers at once; none loops over agents.

References:
    Train, K. (2009). *Discrete Choice Methods with Simulation*, 2nd ed., ch. 3 (logit).
    Burdett, K. & Mortensen, D. T. (1998). Wage differentials, employer size, and
    unemployment. *International Economic Review* 39(2), 257–273 (on-the-job search).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from talentsim.population import LabState, Population
from talentsim.scenario import Mechanisms

TERMS = ("pay", "mission", "stability", "attachment", "amenity")
"""Names of the utility terms, in the row order returned by :func:`utility_terms`."""


def utility_terms(
    rows: np.ndarray,
    place: np.ndarray,
    pay: np.ndarray,
    pop: Population,
    labs: LabState,
    mechanisms: Mechanisms,
    outside_amenity: float,
) -> np.ndarray:
    """Deterministic utility of researchers ``rows`` at ``place`` when paid ``pay``.

    ``V_ij = w_pay·log(pay) + w_mission·clarity_j·alignment(i, j) − w_stability·turmoil_j
    + w_attach·attachment_i·[j is i's former lab] + amenity_j``, where
    ``alignment = 1 − 2·|orientation_i − orientation_j|`` lies in [−1, 1], so a clear mission
    one disagrees with repels. At the outside pool only pay and the outside amenity count.

    Args:
        rows: Researcher rows.
        place: Location of each (a lab index, or ``labs.outside``).
        pay: Pay each would receive there (> 0).
        pop: Researcher state.
        labs: Lab state.
        mechanisms: Which terms are switched on.
        outside_amenity: Utility of the outside option beyond pay.

    Returns:
        Array of shape ``(len(TERMS), len(rows))``; the utility is its column sum.
    """
    n = rows.shape[0]
    terms = np.zeros((len(TERMS), n))
    at_lab = place < labs.n
    lab = np.where(at_lab, place, 0)
    if mechanisms.pay:
        terms[0] = pop.w_pay[rows] * np.log(pay)
    if mechanisms.mission:
        alignment = 1.0 - 2.0 * np.abs(pop.orientation[rows] - labs.orientation[lab])
        terms[1] = np.where(
            at_lab, pop.w_mission[rows] * labs.mission_clarity[lab] * alignment, 0.0
        )
    if mechanisms.stability:
        terms[2] = np.where(at_lab, -pop.w_stability[rows] * labs.turmoil[lab], 0.0)
    if mechanisms.attachment:
        former = at_lab & (place == pop.last_lab[rows])
        terms[3] = np.where(former, pop.w_attachment[rows] * pop.attachment[rows], 0.0)
    terms[4] = np.where(at_lab, labs.amenity[lab], outside_amenity)
    return terms


def accept(gain: np.ndarray, noise_scale: float, uniform: np.ndarray) -> np.ndarray:
    """Binary-logit acceptance: accept with probability ``1 / (1 + exp(−gain / scale))``.

    This is the choice between two options each carrying i.i.d. Gumbel noise of the given
    scale (Train 2009, §3.1). A scale of 0 is deterministic best response (accept when the
    gain is positive).
    """
    if noise_scale == 0:
        return gain > 0
    return uniform < expit(gain / noise_scale)


def draw_offer_labs(
    current: np.ndarray, weights: np.ndarray, uniform: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the offering lab for each researcher, in proportion to ``weights``.

    A researcher's own lab never makes them an offer: its weight is removed from their draw.
    Exact and vectorised: the uniform is scaled to the remaining total weight and stepped over
    the researcher's own lab on the cumulative-weight axis.

    Args:
        current: Current location of each researcher (lab index, or ``len(weights)`` or more
            for the outside pool, which excludes nothing).
        weights: Recruiting weight of each lab (0 for labs that cannot hire now).
        uniform: One U(0, 1) draw per researcher.

    Returns:
        ``(lab, has_offer)``: the drawn lab and whether any lab could make an offer.
    """
    n_labs = weights.shape[0]
    cumulative = np.cumsum(weights)
    total = cumulative[-1] if n_labs else 0.0
    employed = current < n_labs
    own = np.where(employed, current, 0)
    own_weight = np.where(employed, weights[own], 0.0)
    own_start = np.where(employed, cumulative[own] - weights[own], np.inf)
    remaining = total - own_weight
    has_offer = remaining > 1e-12 * max(total, 1.0)
    target = uniform * remaining
    target = target + np.where(target >= own_start, own_weight, 0.0)
    lab = np.searchsorted(cumulative, target, side="right")
    return np.minimum(lab, n_labs - 1), has_offer


def within_capacity(destination: np.ndarray, room: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Keep at most ``room[j]`` of the moves into each lab ``j``, chosen at random.

    Args:
        destination: Destination lab of each accepted move.
        room: Free places per lab (``inf`` for unlimited).
        uniform: One U(0, 1) draw per move, used as a random priority.

    Returns:
        Boolean mask of the moves that go ahead.
    """
    n = destination.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((uniform, destination))
    sorted_destination = destination[order]
    first = np.searchsorted(sorted_destination, sorted_destination, side="left")
    rank = np.arange(n) - first
    keep = np.empty(n, dtype=bool)
    keep[order] = rank < room[sorted_destination]
    return keep
