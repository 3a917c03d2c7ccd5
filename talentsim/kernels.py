"""Decision kernels: utilities, offers, choices and capacity, on arrays of researchers.

These are the rules of a step's decisions, one function each, for use and testing on their
own. Each applies, to every researcher given, the compiled per-researcher function that the
step itself uses (``talentsim.compiled.kernel_set().decide`` runs them all in one pass), so
there is one implementation of each rule.

References:
    Train, K. (2009). *Discrete Choice Methods with Simulation*, 2nd ed., ch. 3 (logit).
    Burdett, K. & Mortensen, D. T. (1998). Wage differentials, employer size, and
    unemployment. *International Economic Review* 39(2), 257–273 (on-the-job search).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talentsim import compiled, terms
from talentsim.compiled import records
from talentsim.network import ColleagueNetwork
from talentsim.population import LabState, Population
from talentsim.scenario import Mechanisms


@dataclass
class DecisionContext:
    """What a utility evaluation needs besides the researchers and places.

    Attributes:
        pop: Researcher state.
        labs: Lab state (including reputation).
        mechanisms: Which terms are switched on.
        outside_amenity: Utility of the outside option beyond pay.
        reference_ratio: Each lab's reference pay ratio (pay / market value) this step, NaN
            for an empty lab.
        network: Colleague ties with shares updated this step, or None.
    """

    pop: Population
    labs: LabState
    mechanisms: Mechanisms
    outside_amenity: float
    reference_ratio: np.ndarray
    network: ColleagueNetwork | None = None


def lab_columns(labs: LabState, reference_ratio: np.ndarray) -> records.Labs:
    """The lab columns the utility terms read, as the compiled step's record."""
    return records.Labs(
        orientation=labs.orientation,
        mission_clarity=labs.mission_clarity,
        turmoil=labs.turmoil,
        reference_ratio=reference_ratio,
        reputation=labs.reputation,
        amenity=labs.amenity,
    )


def term_switches(mechanisms: Mechanisms, has_network: bool) -> np.ndarray:
    """Whether each utility term is on, in registry order (:func:`talentsim.terms.names`).

    A term without a switch is always on; a term that reads colleague ties is off without a
    colleague network.

    Args:
        mechanisms: The scenario's switches.
        has_network: Whether there are colleague ties.
    """
    return np.array(
        [
            mechanisms.term_on(term.name) and (has_network or not term.uses_ties)
            for term in terms.all_terms()
        ],
        dtype=np.bool_,
    )


def utility_terms(
    rows: np.ndarray,
    place: np.ndarray,
    pay: np.ndarray,
    ctx: DecisionContext,
    peer_share: np.ndarray | None = None,
) -> np.ndarray:
    """Deterministic utility of researchers ``rows`` at ``place`` when paid ``pay``.

    ``V_ij = w_pay·log(pay) + w_mission·clarity_j·alignment(i, j) − w_stability·turmoil_j
    + w_peers·share_ij − w_fairness·max(0, log(ref_j / (pay / market_value_i)))
    + w_attach·attachment_i·[j is i's former lab] − w_reputation·attrition_j·[i not at j]
    + amenity_j``, where ``alignment = 1 − 2·|orientation_i − orientation_j|`` lies in
    [−1, 1], so a clear mission one disagrees with repels; ``share_ij`` is the share of i's
    colleague ties who are at j (the outside pool included); ``ref_j`` is a high quantile of
    pay relative to market value at lab j (equity theory compares the ratio of reward to
    contribution, so colleagues worth more on the market may earn more without unfairness,
    but a newcomer paid a premium for the same worth is unfair); ``attrition_j`` is the lab's
    recent attrition (its reputation), which only those not working there weigh. At the
    outside pool only pay, peers and the outside amenity count.

    Args:
        rows: Researcher rows.
        place: Location of each (a lab index, or ``labs.outside``).
        pay: Pay each would receive there (> 0).
        ctx: Researcher and lab state, switches, reference pay and network.
        peer_share: The share of each researcher's ties at ``place``, if already computed
            (see :meth:`talentsim.network.ColleagueNetwork.shares`).

    Returns:
        Array of shape ``(number of terms, len(rows))``, a row per term in registry order
        (:func:`talentsim.terms.names`); the utility is its column sum.

    References:
        Adams, J. S. (1963). Toward an understanding of inequity. *Journal of Abnormal and
        Social Psychology* 67(5), 422–436 (fairness).
        Felps, W. et al. (2009). Turnover contagion. *Academy of Management Journal* 52(3),
        545–561 (peers).
    """
    labs, pop = ctx.labs, ctx.pop
    rows, place = np.asarray(rows, dtype=np.int64), np.asarray(place, dtype=np.int64)
    switches = term_switches(ctx.mechanisms, ctx.network is not None)
    ties_on = bool(any(s and t.uses_ties for s, t in zip(switches, terms.all_terms(), strict=True)))
    if ties_on and rows.shape[0] > 0 and peer_share is None:
        peer_share = ctx.network.share(rows, place)  # type: ignore[union-attr]
    researchers = records.Researchers(*(pop.view(name) for name in records.Researchers._fields))
    context = records.TermContext(
        switches=switches,
        weights=pop.weights,
        researchers=researchers,
        labs=lab_columns(labs, ctx.reference_ratio),
        outside_amenity=float(ctx.outside_amenity),
        ties_on=ties_on,
    )
    return compiled.kernel_set().utility_terms(
        rows,
        place,
        np.asarray(pay, dtype=float),
        np.zeros(rows.shape[0]) if peer_share is None else np.asarray(peer_share, dtype=float),
        context,
    )


def _flat(*arrays: object, dtypes: tuple[type, ...]) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the inputs together; their common shape and flat contiguous copies."""
    broadcast = np.broadcast_arrays(*(np.asarray(a) for a in arrays))
    shape = broadcast[0].shape if broadcast else ()
    flat: list[np.ndarray] = [
        np.ascontiguousarray(b.ravel(), dtype=dtype)
        for b, dtype in zip(broadcast, dtypes, strict=True)
    ]
    return shape, flat


def counter_offer_pay(
    current_pay: np.ndarray, offered_pay: np.ndarray, limit: np.ndarray
) -> np.ndarray:
    """Pay a lab counter-offers: it matches the offer, up to ``limit`` × current pay.

    Never below the current pay (a counter-offer is not a pay cut). Inputs broadcast.
    """
    shape, (current, offered, limits) = _flat(
        current_pay, offered_pay, limit, dtypes=(float, float, float)
    )
    return compiled.counter_offer_pays(current, offered, limits).reshape(shape)


def accept(gain: np.ndarray, noise_scale: float, uniform: np.ndarray | None) -> np.ndarray:
    """Binary-logit acceptance: accept with probability ``1 / (1 + exp(−gain / scale))``.

    This is the choice between two options each carrying i.i.d. Gumbel noise of the given
    scale (Train 2009, §3.1). A scale of 0 is deterministic best response (accept when the
    gain is positive; ``uniform`` is then not used). ``gain`` and ``uniform`` broadcast.
    """
    if noise_scale == 0:
        return np.asarray(gain) > 0
    shape, (gains, uniforms) = _flat(gain, uniform, dtypes=(float, float))
    return compiled.accept_all(gains, float(noise_scale), uniforms).reshape(shape)


def draw_offer_labs(
    current: np.ndarray, weights: np.ndarray, uniform: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the offering lab for each researcher, in proportion to ``weights``.

    A researcher's own lab never makes them an offer: its weight is removed from their draw.
    Exact: the uniform is scaled to the remaining total weight and stepped over the
    researcher's own lab on the cumulative-weight axis.

    Args:
        current: Current location of each researcher (lab index, or ``len(weights)`` or more
            for the outside pool, which excludes nothing).
        weights: Recruiting weight of each lab (0 for labs that cannot hire now).
        uniform: One U(0, 1) draw per researcher (``current`` and ``uniform`` broadcast).

    Returns:
        ``(lab, has_offer)``: the drawn lab and whether any lab could make an offer.
    """
    shape, (places, uniforms) = _flat(current, uniform, dtypes=(np.int64, float))
    if (places < 0).any():
        raise ValueError("draw_offer_labs: current locations must be labs or the pool (>= 0)")
    lab, has_offer = compiled.offer_labs(
        places, np.ascontiguousarray(weights, dtype=float), uniforms
    )
    return lab.reshape(shape), has_offer.reshape(shape)


def within_capacity(destination: np.ndarray, room: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Keep at most ``room[j]`` of the moves into each lab ``j``, chosen at random.

    Args:
        destination: Destination lab of each accepted move.
        room: Free places per lab (``inf`` for unlimited).
        uniform: One U(0, 1) draw per move, used as a random priority.

    Returns:
        Boolean mask of the moves that go ahead.
    """
    rooms = np.ascontiguousarray(room, dtype=float)
    shape, (labs, priority) = _flat(destination, uniform, dtypes=(np.int64, float))
    if labs.size and (labs.min() < 0 or labs.max() >= rooms.shape[0]):
        raise ValueError(f"within_capacity: destinations must be labs 0..{rooms.shape[0] - 1}")
    return compiled.within_capacity(labs, rooms, priority).reshape(shape)
