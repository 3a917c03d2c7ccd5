"""The step's work over researchers, compiled with Numba.

:func:`decide` makes a step's decisions (separations, offers, choices, capacity,
counter-offers, outside opportunities, the moves and their flows) in one compiled call, and
:func:`retire_and_clock` does retirements, clocks and headcounts in one pass. They are built
from small per-researcher functions (:func:`offer_lab`, :func:`accepts`,
:func:`counter_offer_pay`, the utility terms), which :mod:`talentsim.kernels` applies to arrays
so that each rule can be used and tested on its own with the code the step runs.

Why compiled: a step makes a few decisions for a few researchers each (a few dozen at 1,000
researchers), and as NumPy statements each costs a call of a few microseconds whatever its
size; at 10^5–10^6 researchers each statement is also a pass over memory with its own
temporaries. One compiled function does the lot in one call, and each pass over everyone reads
each researcher once. The functions are compiled on first use and cached on disk
(``cache=True``), so a new process loads them in milliseconds.

:mod:`talentsim.model` documents the rules and their order.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 2**53
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Codes shared with talentsim.population (GONE, NO_LAB) and talentsim.model (the positions
# of FLOWS, the codes of MOVE_KINDS and of the draw purposes); tests/test_compiled.py checks
# that they agree.
GONE = NO_LAB = -1
_HIRES, _QUITS, _RETURNS, _EXITS, _SEPARATIONS = range(5)
_OFFERS, _ACCEPTANCES, _COUNTER_OFFERS, _COUNTER_RETAINED = range(7, 11)
_HIRE, _QUIT, _RETURN, _EXIT, _SEPARATION = range(1, 6)
PURPOSES = (
    "separation",
    "offer",
    "offer_lab",
    "accept",
    "opportunity",
    "exit_accept",
    "capacity",
    "counter",
    "retirement",
    "raid",
)
"""Purposes of the per-step decision draws; a purpose's code is its position here."""
_SEPARATION_DRAW, _OFFER_DRAW, _OFFER_LAB, _ACCEPT, _OPPORTUNITY = range(5)
_EXIT_ACCEPT, _CAPACITY, _COUNTER, _RAID = 5, 6, 7, 9
#: Rows of a move record: the codes (int32: step, researcher, cohort, origin, destination) and
#: the values (float: tenure, pay before, pay after, then the eight utility-term gains).
CODE_ROWS, VALUE_ROWS = 5, 11
#: Decorator of the helpers the hot loops call with arrays: compiled without Numba's reference
#: counting (they allocate nothing), then inlined by LLVM. A helper inlined by Numba instead
#: (``inline="always"``) that reads arrays in branches pays an atomic reference count per
#: array per call, ~40x slower here.
_helper = numba.njit(_nrt=False, forceinline=True, cache=True)  # type: ignore[call-overload]
_TALLIES = 4  # interleaved tallies of the per-place sums (a power of two)
_CHUNK = 4096  # rows per block of the vectorised passes (a block's outcomes stay in cache)


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
def step_offsets(key: np.uint64, step: int) -> np.ndarray:  # pragma: no cover - compiled
    """Each purpose's hash offset for one step: ``key_offset(derive_key(key, 16·step + p))``.

    The same arithmetic as :func:`talentsim.hashing.derive_key` and
    :func:`~talentsim.hashing.key_offset` (uint64 products wrap modulo 2**64).
    """
    offsets = np.empty(len(PURPOSES), np.uint64)
    for purpose in range(len(PURPOSES)):
        salt = np.uint64(step * 16 + purpose) * _GOLDEN
        offsets[purpose] = mix(key ^ salt) * _GOLDEN
    return offsets


@numba.njit(cache=True)
def uniforms(values: np.ndarray, offset: np.uint64) -> np.ndarray:  # pragma: no cover
    """:func:`uniform_at` of each non-negative integer value."""
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        out[i] = uniform_at(np.uint64(values[i]), offset)
    return out


# Positions of the utility terms (as in kernels.TERMS).
_PAY, _MISSION, _STABILITY, _PEERS, _FAIRNESS, _ATTACHMENT, _REPUTATION, _AMENITY = range(8)

#: How many researchers ahead the decision loops ask for the columns they will read. A
#: decision is a long chain of work on one researcher's row, so without the hint the
#: processor waits on each row's memory in turn (~6% of a step at 10^5 researchers).
_AHEAD = 8


@intrinsic
def _prefetch(typingctx, arrays, index):
    """Ask the processor to bring ``array[index]`` into cache, for each of a tuple of arrays.

    LLVM's ``prefetch``: a hint only, which changes no value (an index out of range does not
    fault).
    """
    signature = numba.types.void(arrays, index)

    def codegen(context, builder, sig, args):
        int32, byte_pointer = ir.IntType(32), ir.IntType(8).as_pointer()
        hint = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        # (named by llvmlite: llvm.prefetch.p0, or .p0i8 with LLVM's older typed pointers)
        function = builder.module.declare_intrinsic("llvm.prefetch", [byte_pointer], hint)
        for position, array_type in enumerate(sig.args[0]):
            array = context.make_array(array_type)(
                context, builder, builder.extract_value(args[0], position)
            )
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, array, [args[1]], wraparound=False, boundscheck=False
            )
            # a read (0), kept in all cache levels (3), of data (1)
            builder.call(
                function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)]
            )
        return context.get_dummy_value()

    return signature, codegen


prefetch: Callable[[tuple, int], None] = _prefetch  # type: ignore[assignment]  # as called


@_helper
def _fetch_ahead(
    rows: np.ndarray, k: int, columns: tuple, researcher: tuple, switches: np.ndarray
) -> None:
    """Prefetch what a decision on researcher ``rows[k + _AHEAD]`` reads (if there is one).

    ``columns`` are population columns read whatever the terms; of ``researcher`` (as for
    :func:`utility_terms`), the columns of the terms that are on.
    """
    if k + _AHEAD < rows.shape[0]:
        row = rows[k + _AHEAD]
        prefetch(columns, row)
        for t in range(_AMENITY):  # the weights, in term order
            if switches[t]:
                prefetch((researcher[t],), row)
        if switches[_MISSION]:
            prefetch((researcher[7],), row)  # orientation
        if switches[_FAIRNESS]:
            prefetch((researcher[8],), row)  # market value
        if switches[_ATTACHMENT]:
            prefetch((researcher[9],), row)  # attachment


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


@_helper
def _tie_pair(
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
        share_first[k], share_second[k] = _tie_pair(
            indptr, indices, location, rows[k], first[k], second[k]
        )
    return share_first, share_second


@_helper
def _terms_at(
    terms: np.ndarray, k: int, i: int, j: int, pay: float, peer_share: float, context: tuple
) -> None:  # pragma: no cover - compiled
    """Write researcher ``i``'s utility terms at place ``j`` paid ``pay`` into ``terms[:, k]``.

    ``context`` is ``(switches, researcher, last_lab, location, lab, outside_amenity)`` as
    for :func:`utility_terms`.
    """
    switches, researcher, last_lab, location, lab, outside_amenity = context
    for t in range(8):
        terms[t, k] = 0.0
    if switches[_PAY]:
        terms[_PAY, k] = researcher[0][i] * np.log(pay)
    if switches[_PEERS]:
        terms[_PEERS, k] = researcher[3][i] * peer_share
    if j >= lab[1].shape[0]:
        terms[_AMENITY, k] = outside_amenity
    else:
        terms[_AMENITY, k] = lab[5][j]
        if switches[_MISSION]:
            alignment = 1.0 - 2.0 * abs(researcher[7][i] - lab[0][j])
            terms[_MISSION, k] = researcher[1][i] * lab[1][j] * alignment
        if switches[_STABILITY]:
            terms[_STABILITY, k] = -researcher[2][i] * lab[2][j]
        if switches[_FAIRNESS]:
            shortfall = np.log(lab[3][j] * researcher[8][i] / pay)
            if shortfall > 0:  # False for NaN (an empty lab has no reference)
                terms[_FAIRNESS, k] = -researcher[4][i] * shortfall
        if switches[_ATTACHMENT] and j == last_lab[i]:
            terms[_ATTACHMENT, k] = researcher[5][i] * researcher[9][i]
        if switches[_REPUTATION] and j != location[i]:
            terms[_REPUTATION, k] = -researcher[6][i] * lab[4][j]


@_helper
def _gain(
    gains: np.ndarray,
    column: int,
    r: int,
    here: int,
    here_pay: float,
    there: int,
    there_pay: float,
    ties: tuple,
    pair: np.ndarray,
    context: tuple,
) -> float:  # pragma: no cover - compiled
    """Researcher ``r``'s utility gain from moving to ``there`` (paid ``there_pay``).

    The term-by-term gains go to ``gains[:, column]``; returns their sum (added in term
    order). Tie shares are read only if the peers term is on.
    """
    share_here = share_there = 0.0
    if context[0][_PEERS]:
        share_here, share_there = _tie_pair(ties[0], ties[1], context[3], r, here, there)
    _terms_at(pair, 0, r, here, here_pay, share_here, context)
    _terms_at(pair, 1, r, there, there_pay, share_there, context)
    gain = 0.0
    for t in range(8):
        gains[t, column] = pair[t, 1] - pair[t, 0]
        gain = gains[t, column] if t == 0 else gain + gains[t, column]
    return gain


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
    n = rows.shape[0]
    terms = np.empty((8, n))
    context = (switches, researcher, last_lab, location, lab, outside_amenity)
    for k in range(n):
        _terms_at(terms, k, rows[k], place[k], pay[k], peer_share[k], context)
    return terms


@numba.njit(inline="always", cache=True)
def accepts(gain: float, noise_scale: float, uniform: float) -> bool:  # pragma: no cover
    """Binary-logit acceptance (see kernels.accept): ``uniform < 1 / (1 + exp(−gain/scale))``."""
    if noise_scale == 0:
        return gain > 0
    return uniform < 1.0 / (1.0 + np.exp(-(gain / noise_scale)))


@_helper
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


@numba.njit(cache=True)
def decide(
    step: int,
    state: tuple[np.ndarray, ...],
    researcher: tuple[np.ndarray, ...],
    lab: tuple[np.ndarray, ...],
    hiring: tuple[np.ndarray, ...],
    headcount: np.ndarray,
    raids: tuple[np.ndarray, ...],
    ties: tuple[np.ndarray, np.ndarray],
    switches: np.ndarray,
    market: np.ndarray,
    offsets: np.ndarray,
    flows: np.ndarray,
    workspace: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, ...]:  # pragma: no cover - compiled
    """A step's decisions: separations, offers, opportunities, moves, flows, reputation.

    The rules are those of :mod:`talentsim.model` (steps 3–8 of its step) with the terms of
    :func:`utility_terms`; every draw is the keyed hash of the row under its purpose's offset
    (:func:`step_offsets`). In order:

    1. :func:`screen_into`: who separates, gets an offer or meets an outside opportunity;
    2. each researcher offered one gets an offer from a lab drawn by hiring weight
       (:func:`offer_lab`; a lab hires when it has room and is not frozen); a poaching
       raid's offers (:func:`raid_offers`) replace the regular offers of those it courts;
    3. each decides by the binary logit on the utility gain less the switching cost
       (lab-to-lab moves); a lab takes at most its room of those who accept, by a random
       priority; the lab being left may counter-offer (with its probability, when the offer
       pays more), and the researcher re-decides with the same draw;
    4. employed researchers with an outside opportunity who did not accept an offer weigh it,
       with counter-offers as in 3;
    5. the moves (offers, exits, then separations) are counted in ``flows`` and applied:
       location, pay, tenure, the former lab and attachment; each lab's reputation (recent
       attrition) decays and adds this step's voluntary departures per member.

    Args:
        step: The step number (recorded as the movers' ``joined_step``).
        state: Population columns ``(location, pay, market_value, tenure, last_lab,
            joined_step, cohort)``; updated in place.
        researcher: As for :func:`utility_terms`.
        lab: As for :func:`utility_terms`; the reputation column is updated in place.
        hiring: Lab columns ``(capacity, frozen_until, recruiting_intensity, pay_level,
            new_hire_premium, counter_offer_probability, counter_offer_limit)``.
        headcount: Each lab's headcount at the start of the step.
        raids: This step's poaching raids, as for :func:`raid_offers`.
        ties: ``(indptr, indices)`` of the colleague network (``indptr = [0]`` for none).
        switches: The seven term switches of :func:`utility_terms`, then counter-offers.
        market: ``(noise_scale, switching_cost, outside_pay_ratio, outside_amenity,
            attachment_bond_time, p_separation, p_offer_employed, p_offer_outside,
            p_opportunity, reputation_decay)``.
        offsets: Hash offsets by purpose (:data:`PURPOSES`).
        flows: This step's flows (``model.FLOWS`` × places); incremented in place.
        workspace: Scratch arrays at least as long as the population, kept between steps so
            that a step allocates nothing in proportion to the population (each such
            allocation costs page faults): three int64 arrays and a boolean one that is all
            False (and is left so).

    Returns:
        The moves as they were before being applied, ``(codes, kind, values)``: ``codes``
        rows are step, researcher, cohort, origin and destination; ``values`` rows are the
        tenure (NaN for those not leaving a lab), pay before, pay after and the eight
        utility-term gains (NaN for separations).
    """
    location, pay, market_value, tenure, last_lab, joined_step, cohort = state
    capacity, frozen_until, intensity, pay_level, new_hire_premium = hiring[:5]
    noise, switching_cost, outside_ratio, outside_amenity, bond_time = market[:5]
    counter_offers = switches[7]
    attachment, reputation = researcher[9], lab[4]
    n_labs = pay_level.shape[0]
    outside = n_labs
    context = (switches, researcher, last_lab, location, lab, outside_amenity)
    counters = (pay, hiring[5], hiring[6], noise, offsets, flows)

    # 1. Who separates, is offered a job or meets an opportunity.
    first_pass = np.array([offsets[_SEPARATION_DRAW], offsets[_OFFER_DRAW], offsets[_OPPORTUNITY]])
    n_sep, n_off, n_opp = screen_into(
        location,
        n_labs,
        (market[5], market[6], market[7], market[8]),
        first_pass,
        (workspace[0], workspace[1], workspace[2]),
    )
    separated, offered, chance = workspace[0][:n_sep], workspace[1][:n_off], workspace[2][:n_opp]
    # 2. Offers: rows, offering lab and pay; raids replace the regular offers of their targets.
    room = np.empty(n_labs)
    weight = np.empty(n_labs)
    for j in range(n_labs):
        room[j] = capacity[j] - headcount[j]
        weight[j] = intensity[j] if room[j] >= 1 and frozen_until[j] < step else 0.0
    cumulative = np.cumsum(weight)
    raid_rows, raid_lab, raid_premium = raid_offers(
        location, last_lab, separated, raids, offsets[_RAID]
    )
    raided = np.zeros(location.shape[0] if raid_rows.shape[0] else 0, np.bool_)
    for r in raid_rows:
        raided[r] = True
    size = offered.shape[0] + raid_rows.shape[0]
    rows = np.empty(size, np.int64)
    to = np.empty(size, np.int64)
    offer_pay = np.empty(size)
    n = 0
    key_offer_lab = offsets[_OFFER_LAB]
    for k in range(offered.shape[0]):
        r = offered[k]
        if k + _AHEAD < offered.shape[0]:
            prefetch((location, market_value), offered[k + _AHEAD])
        j, has_offer = offer_lab(
            location[r], weight, cumulative, uniform_at(np.uint64(r), key_offer_lab)
        )
        if has_offer and not (raid_rows.shape[0] and raided[r]):
            rows[n], to[n] = r, j
            offer_pay[n] = pay_level[j] * (1.0 + new_hire_premium[j]) * market_value[r]
            n += 1
    for m in range(raid_rows.shape[0]):
        r, j = raid_rows[m], raid_lab[m]
        rows[n], to[n] = r, j
        offer_pay[n] = pay_level[j] * (1.0 + raid_premium[m]) * market_value[r]
        n += 1

    # 3. Logit choice on the utility gain, less the switching cost of a lab-to-lab move.
    gains = np.empty((8, n))  # of the accepted offers (column a: the a-th accepted)
    pair = np.empty((8, 2))
    accepted = np.empty(n, np.int64)
    n_accepted = 0
    for m in range(n):
        _fetch_ahead(rows, m, (location, pay, last_lab), researcher, switches)
        r, j, here = rows[m], to[m], location[rows[m]]
        flows[_OFFERS, j] += 1
        now_pay = pay[r] if here < outside else outside_ratio * market_value[r]
        gain = _gain(gains, n_accepted, r, here, now_pay, j, offer_pay[m], ties, pair, context)
        switching = switching_cost if here < outside else 0.0
        if accepts(gain - switching, noise, uniform_at(np.uint64(r), offsets[_ACCEPT])):
            flows[_ACCEPTANCES, j] += 1
            accepted[n_accepted] = m
            n_accepted += 1  # (else the next offer's gains overwrite this column)
    decided = workspace[3]  # accepted: no second decision this step (all False on entry)
    for a in range(n_accepted):
        decided[rows[accepted[a]]] = True

    # Capacity: a lab takes at most its room of those who accept, by a random priority.
    taken = accepted[:n_accepted]
    priority = np.empty(n_accepted)
    for a in range(n_accepted):
        priority[a] = uniform_at(np.uint64(rows[taken[a]]), offsets[_CAPACITY])
    fits = within_capacity(to[taken], room, priority)

    # Counter-offers from the lab being left; then the moves of those who still go.
    n_moves = 0
    size = n_accepted + chance.shape[0] + separated.shape[0]
    record = np.empty((CODE_ROWS, size), np.int32)
    kind = np.empty(size, np.int8)
    values = np.empty((VALUE_ROWS, size))
    movers, origin, destination = record[1], record[3], record[4]
    tenure_before, pay_before, pay_after = values[0], values[1], values[2]
    move_gains = values[3:]
    for a in range(n_accepted):
        if not fits[a]:
            continue
        m = accepted[a]
        r, j, here = rows[m], to[m], location[rows[m]]
        switching = switching_cost if here < outside else 0.0
        if counter_offers and _retained(
            r, here, offer_pay[m], gains, a, switching, _ACCEPT, pair, context, counters
        ):
            continue
        movers[n_moves], origin[n_moves], destination[n_moves] = r, here, j
        if j == last_lab[r]:
            kind[n_moves] = _RETURN
        else:
            kind[n_moves] = _QUIT if here < outside else _HIRE
        pay_after[n_moves] = offer_pay[m]
        for t in range(8):
            move_gains[t, n_moves] = gains[t, a]
        n_moves += 1

    # 4. Outside opportunities for the employed who did not accept an offer.
    for k in range(chance.shape[0]):
        _fetch_ahead(chance, k, (decided, location, pay, market_value), researcher, switches)
        r = chance[k]
        if decided[r]:
            continue
        here = location[r]
        outside_pay = outside_ratio * market_value[r]
        gain = _gain(
            move_gains, n_moves, r, here, pay[r], outside, outside_pay, ties, pair, context
        )
        if not accepts(gain, noise, uniform_at(np.uint64(r), offsets[_EXIT_ACCEPT])):
            continue
        if counter_offers and _retained(
            r, here, outside_pay, move_gains, n_moves, 0.0, _EXIT_ACCEPT, pair, context, counters
        ):
            continue
        movers[n_moves], origin[n_moves], destination[n_moves] = r, here, outside
        kind[n_moves], pay_after[n_moves] = _EXIT, outside_pay
        n_moves += 1

    # 5. Separations; then count and apply the moves (at most one per researcher), and
    # update reputation with this step's voluntary departures.
    for r in separated:
        movers[n_moves], origin[n_moves], destination[n_moves] = r, location[r], outside
        kind[n_moves], pay_after[n_moves] = _SEPARATION, outside_ratio * market_value[r]
        for t in range(8):
            move_gains[t, n_moves] = np.nan
        n_moves += 1
    for m in range(n_moves):
        if m + _AHEAD < n_moves:
            prefetch((*state, attachment), movers[m + _AHEAD])
        r, here, there = movers[m], origin[m], destination[m]
        record[0, m], record[2, m] = step, cohort[r]
        from_lab = 0 <= here < outside
        to_lab = 0 <= there < outside
        tenure_before[m] = tenure[r] if from_lab else np.nan
        pay_before[m] = pay[r]
        if to_lab:
            flows[_HIRES, there] += 1
            if from_lab:
                flows[_QUITS, here] += 1
        if kind[m] == _RETURN:
            flows[_RETURNS, there] += 1
        elif kind[m] == _EXIT:
            flows[_EXITS, here] += 1
        elif kind[m] == _SEPARATION:
            flows[_SEPARATIONS, here] += 1
        if here < outside:
            last_lab[r] = here
            attachment[r] = -np.expm1(-tenure[r] / bond_time)
        if there == last_lab[r]:  # back at one's former lab: no longer a former lab
            last_lab[r] = NO_LAB
            attachment[r] = 0.0
        location[r], pay[r], tenure[r], joined_step[r] = there, pay_after[m], 0.0, step
    for a in range(n_accepted):
        decided[rows[accepted[a]]] = False  # (left all False for the next step)
    for j in range(n_labs):
        departures = flows[_QUITS, j] + flows[_EXITS, j]
        reputation[j] = reputation[j] * market[9] + departures / max(headcount[j], 1)
    return record[:, :n_moves].copy(), kind[:n_moves].copy(), values[:, :n_moves].copy()


@numba.njit(cache=True)
def outside_record(
    step: int,
    rows: np.ndarray,
    cohort: np.ndarray,
    pay: np.ndarray,
    places: tuple[int, int],
    kind: int,
    entry: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The move records of entries into the pool or retirements from it, as :func:`decide`'s.

    ``places`` is ``(origin, destination)``. Pay is recorded as pay before, and for entries
    as pay after too; the other values are NaN.
    """
    count = rows.shape[0]
    codes = np.empty((CODE_ROWS, count), np.int32)
    values = np.full((VALUE_ROWS, count), np.nan)
    for m in range(count):
        r = rows[m]
        codes[0, m], codes[1, m], codes[2, m] = step, r, cohort[r]
        codes[3, m], codes[4, m] = places
        values[1, m] = pay[r]
        if entry:
            values[2, m] = pay[r]
    return codes, np.full(count, kind, np.int8), values


@_helper
def _retained(
    r: int,
    here: int,
    offered_pay: float,
    gains: np.ndarray,
    column: int,
    switching: float,
    accept_purpose: int,
    pair: np.ndarray,
    context: tuple,
    counters: tuple,
) -> bool:  # pragma: no cover - compiled
    """Whether a counter-offer keeps researcher ``r`` at lab ``here`` (then pay rises).

    ``counters`` is ``(pay, counter_offer_probability, counter_offer_limit, noise_scale,
    offsets, flows)``; ``context`` as for :func:`_terms_at`.

    The lab counters with its probability when the offer pays more than ``r`` earns now,
    matching it up to its limit × current pay; ``r`` re-decides with the same draw
    (``accept_purpose``), the pay terms of staying replaced by those of the raise.
    """
    pay, counter_probability, counter_limit, noise, offsets, flows = counters
    if not here < counter_probability.shape[0]:
        return False
    current = pay[r]
    chance = uniform_at(np.uint64(r), offsets[_COUNTER])
    if not (chance < counter_probability[here] and offered_pay > current):
        return False
    flows[_COUNTER_OFFERS, here] += 1
    raise_to = counter_offer_pay(current, offered_pay, counter_limit[here])
    # before (column 0) and after (column 1) the raise; the peer term cancels
    _terms_at(pair, 0, r, here, current, 0.0, context)
    _terms_at(pair, 1, r, here, raise_to, 0.0, context)
    gain = 0.0
    for t in range(8):
        term = gains[t, column] - (pair[t, 1] - pair[t, 0])
        gain = term if t == 0 else gain + term
    if accepts(gain - switching, noise, uniform_at(np.uint64(r), offsets[accept_purpose])):
        return False
    flows[_COUNTER_RETAINED, here] += 1
    pay[r] = raise_to
    return True


def kernels_cached() -> bool:
    """Whether the step's compiled code is in Numba's disk cache, up to date.

    False means that the first step in a new process compiles it (~15 s; once after
    installing or upgrading talentsim). Reads Numba's cache index of :func:`decide`; with a
    Numba whose cache works differently, says True rather than guess.
    """
    try:
        return bool(decide._cache._cache_file._load_index())  # type: ignore[attr-defined]
    except Exception:  # Numba's internals, not an API: do not guess
        return True


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
