"""A step's decisions, compiled against the registered utility terms.

The functions here call the terms' kernels (:mod:`talentsim.terms`), so they are compiled
once per registry: :func:`kernel_set` copies them into a namespace holding that registry's
kernels and compiles them there, cached on disk under the registry's fingerprint. Call them
through ``kernel_set().decide`` and ``kernel_set().utility_terms``.

A step's decisions (:func:`decide`), in order (the rules of :mod:`talentsim.model`, steps
3–8). The negotiation of an offer goes: offer, counter-offer, capacity, acceptance, moves.

1. :func:`~talentsim.compiled.offers.screen_into`: who separates, gets an offer or meets an
   outside opportunity;
2. offer — :func:`make_offers`: each researcher offered one gets an offer from a lab drawn by
   hiring weight (a lab hires when it has room and is not frozen); a poaching raid's offers
   replace the regular offers of those it courts (the model passes no raid of a frozen lab:
   a frozen lab makes no offer of any kind). The pay offered is :func:`offered_pay` (former
   staff by the lab's return rule, not the new-hire premium). :func:`choose`: each decides
   by the binary logit on the utility gain less the switching cost (lab-to-lab moves);
3. counter-offer — :func:`moves_from_offers`: the lab being left may counter-offer each
   researcher who chose to go (with its probability, when the offer pays more); the
   researcher re-decides with the same draw, and one kept stays with the raise;
4. capacity — then a lab takes at most its room of those still going, by a random priority
   (so a researcher kept by a counter-offer uses up no place); those turned away are counted
   as ``blocked_by_capacity`` at that lab and stay where they are;
5. acceptance — the others' moves are agreed (written as move records);
6. :func:`exits`: employed researchers with an outside opportunity who did not accept an
   offer weigh it, with counter-offers as in 3 (the pool has no capacity);
7. moves — :func:`separations`, then :func:`apply_moves`: the moves (offers, exits, then
   separations) are counted in ``flows`` and applied (location, pay, tenure, the former lab,
   the pay had there, and attachment), and each lab's reputation (recent attrition) decays
   and adds this step's voluntary departures per member.

Every draw is the keyed hash of the row under its purpose's offset
(:func:`~talentsim.compiled.draws.step_offsets`).
"""

from __future__ import annotations

import hashlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import literal_unroll

from talentsim import terms as registry
from talentsim.compiled import compat
from talentsim.compiled.choice import accepts, counter_offer_pay, offer_lab, within_capacity
from talentsim.compiled.clock import CODE_ROWS, VALUE_ROWS_BEFORE_GAINS
from talentsim.compiled.compat import prefetch
from talentsim.compiled.draws import (
    ACCEPT,
    CAPACITY,
    COUNTER,
    EXIT_ACCEPT,
    OFFER_DRAW,
    OFFER_LAB,
    OPPORTUNITY,
    RAID,
    SEPARATION_DRAW,
    uniform_at,
)
from talentsim.compiled.offers import raid_offers, screen_into
from talentsim.compiled.records import (
    Counters,
    Hiring,
    Labs,
    Market,
    Raids,
    Researchers,
    State,
    TermContext,
    Ties,
    Workspace,
)
from talentsim.compiled.search import offer_effort
from talentsim.compiled.ties import tie_pair

NO_LAB = -1
"""Former lab of a researcher who has none (as :data:`talentsim.population.NO_LAB`)."""

# Codes shared with talentsim.model (the positions of FLOWS and the codes of MOVE_KINDS);
# tests/test_compiled.py checks that they agree.
HIRES, QUITS, RETURNS, EXITS, SEPARATIONS = range(5)
OFFERS, ACCEPTANCES, COUNTER_OFFERS, COUNTER_RETAINED, BLOCKED_BY_CAPACITY = range(7, 12)
HIRE, QUIT, RETURN, EXIT, SEPARATION = range(1, 6)

#: How many researchers ahead the decision loops ask for the columns they will read. A
#: decision is a long chain of work on one researcher's row, so without the hint the
#: processor waits on each row's memory in turn (~6% of a step at 10^5 researchers).
AHEAD = 8

# What the kernel set fills in for its registry (frozen into the compiled code): per term,
# (kernel, position, row of its weights or -1, whether it counts at the outside pool).
TERMS: tuple = ()
N_TERMS = 0
WEIGHT_ROW = np.zeros(0, np.int64)
USES_TIES = np.zeros(0, np.bool_)
#: Functions here compiled once per registry, with their Numba options.
_TEMPLATES: dict[str, dict[str, Any]] = {}


def _template(**options: Any) -> Any:
    """Mark a function as compiled per registry (see :func:`kernel_set`), with ``options``."""

    def mark(function: Any) -> Any:
        _TEMPLATES[function.__name__] = options
        return function

    return mark


_HELPER = {"helper": True}
#: The parts of the step, inlined into it by Numba: as calls, each passed the records' arrays
#: with a reference count apiece (~2.5 µs a step).
_PART = {"inline": "always"}


# --------------------------------------------------------------------------------------------
# Utility terms
# --------------------------------------------------------------------------------------------


@_template(**_HELPER)
def terms_at(terms, k, i, j, pay, peer_share, context):  # pragma: no cover - compiled
    """Write researcher ``i``'s utility terms at place ``j`` paid ``pay`` into ``terms[:, k]``.

    ``context`` is a :class:`~talentsim.compiled.records.TermContext`. A term that is off,
    or not counted at the outside pool, is 0.
    """
    switches, weights, researchers = context.switches, context.weights, context.researchers
    labs, outside_amenity = context.labs, context.outside_amenity
    at_lab = j < labs.amenity.shape[0]
    # one copy of the body per term, its position, weight row and place rule constants there
    for term in literal_unroll(TERMS):
        kernel, t, row, anywhere = term
        value = 0.0
        if switches[t] and (at_lab or anywhere):
            w = weights[row, i] if row >= 0 else 0.0
            value = kernel(w, i, j, pay, peer_share, researchers, labs, outside_amenity)
        terms[t, k] = value


@_template(**_HELPER)
def gain(
    gains, column, r, here, here_pay, there, there_pay, ties, pair, context
):  # pragma: no cover - compiled
    """Researcher ``r``'s utility gain from moving to ``there`` (paid ``there_pay``).

    The term-by-term gains go to ``gains[:, column]``; returns their sum (added in term
    order). Tie shares are read only if a term that reads them is on.
    """
    share_here = share_there = 0.0
    if context.ties_on:
        location = context.researchers.location
        share_here, share_there = tie_pair(ties.indptr, ties.indices, location, r, here, there)
    terms_at(pair, 0, r, here, here_pay, share_here, context)
    terms_at(pair, 1, r, there, there_pay, share_there, context)
    total = 0.0
    for t in range(N_TERMS):
        gains[t, column] = pair[t, 1] - pair[t, 0]
        total = gains[t, column] if t == 0 else total + gains[t, column]
    return total


@_template(**_HELPER)
def fetch_ahead(rows, k, decided, context):  # pragma: no cover - compiled
    """Prefetch what a decision on researcher ``rows[k + AHEAD]`` reads (if there is one).

    The researcher columns, ``decided``, and the weights of the terms that are on.
    """
    if k + AHEAD < rows.shape[0]:
        row = rows[k + AHEAD]
        switches, weights, researchers = context.switches, context.weights, context.researchers
        prefetch((researchers.location, researchers.pay, researchers.last_lab), row)
        prefetch((decided,), row)
        for t in range(N_TERMS):
            if switches[t] and WEIGHT_ROW[t] >= 0:
                prefetch((weights[WEIGHT_ROW[t]],), row)


@_template()
def utility_terms(rows, place, pay, peer_share, context):  # pragma: no cover - compiled
    """The utility terms of ``rows`` at ``place`` paid ``pay`` (see kernels.utility_terms).

    Returns an array of shape ``(N_TERMS, len(rows))``; ``peer_share`` is each one's share of
    ties at ``place``; ``context`` as for :func:`terms_at`.
    """
    n = rows.shape[0]
    terms = np.empty((N_TERMS, n))
    for k in range(n):
        terms_at(terms, k, rows[k], place[k], pay[k], peer_share[k], context)
    return terms


# --------------------------------------------------------------------------------------------
# The step's decisions
# --------------------------------------------------------------------------------------------


@_template(**_HELPER)
def offered_pay(hiring, state, r, j, premium):  # pragma: no cover - compiled
    """What lab ``j`` offers researcher ``r``, ``premium`` being the offer's new-hire premium.

    Former staff (``j`` is ``r``'s former lab) are not paid as poached stars: they get their
    old pay if the lab pays returners so, else market pay with the lab's return premium
    (unless the lab pays them as newcomers). Anyone else gets the pay level ×
    (1 + ``premium``) × market value.
    """
    if j == state.last_lab[r] and not hiring.return_as_new_hire[j]:
        if hiring.return_old_pay[j]:
            return state.last_lab_pay[r]
        premium = hiring.return_premium[j]
    return hiring.pay_level[j] * (1.0 + premium) * state.market_value[r]


# ---- search effort (scenario table [search]; off: never called) ---------------------------


@_template(**_HELPER)
def market_gap(r, here, state, hiring, weight, ties, scratch, context):  # pragma: no cover
    """The mean utility gain of moving from lab ``here`` to the labs that hire (``"market"``).

    Weighted by ``weight`` (recruiting intensity, 0 for a lab that does not hire), over the
    labs other than ``here``, at the pay each would offer (:func:`offered_pay`); 0 when no
    other lab hires. ``scratch`` is ``(pair, shares)``: shapes ``(N_TERMS, 2)`` and
    ``(n_labs + 1,)``.
    """
    pair, shares = scratch
    n_labs = weight.shape[0]
    total_weight = 0.0
    for j in range(n_labs):
        if j != here:
            total_weight += weight[j]
    if not total_weight > 0:
        return 0.0
    shares[:] = 0.0
    if context.ties_on and r < ties.indptr.shape[0] - 1:  # r's tie shares, in one pass
        location = context.researchers.location
        degree = 0
        for entry in range(ties.indptr[r], ties.indptr[r + 1]):
            if ties.indices[entry] < 0:  # room left for ties to come
                break
            where = location[ties.indices[entry]]
            if where >= 0:  # (not GONE)
                degree += 1
                shares[where] += 1.0
        if degree > 0:
            shares /= degree
    terms_at(pair, 0, r, here, state.pay[r], shares[here], context)
    staying = 0.0
    for t in range(N_TERMS):
        staying += pair[t, 0]
    gap = 0.0
    for j in range(n_labs):
        if j == here or weight[j] == 0:
            continue
        there_pay = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
        terms_at(pair, 1, r, j, there_pay, shares[j], context)
        moving = 0.0
        for t in range(N_TERMS):
            moving += pair[t, 1]
        gap += weight[j] * (moving - staying)
    return gap / total_weight


@_template(**_PART)
def thin_offered(
    step, offered, state, hiring, headcount, market, ties, offsets, context, decided
):  # pragma: no cover - compiled
    """Keep the employed offer candidates whose search effort brings an offer (exact thinning).

    The first pass screened the employed at ``p(effort_max)``, ``p(x) = 1 − exp(−x ·
    offer_rate_step)``, with the uniform ``u`` of the offer draw; a candidate keeps the offer
    iff ``u < p(effort)``: given ``u < p(effort_max)`` that has probability ``p(effort) /
    p(effort_max)``, so the offer comes with probability ``p(effort)``, and effort is computed
    only for candidates. The gap is the utility gain of the offer the candidate would get
    (the lab the ``offer_lab`` draw picks, as :func:`make_offers` will) or, with
    ``market.gap_over_market``, :func:`market_gap`; before the switching cost and the choice
    noise, 0 without a lab to offer. Researchers in the pool keep theirs. ``offered`` is
    compacted in place; returns how many are kept.
    """
    location = state.location
    n_labs = hiring.pay_level.shape[0]
    weight = np.empty(n_labs)
    for j in range(n_labs):  # the labs that make offers this step (as make_offers)
        hires = hiring.capacity[j] - headcount[j] >= 1 and hiring.frozen_until[j] < step
        weight[j] = hiring.recruiting_intensity[j] if hires else 0.0
    cumulative = np.cumsum(weight)
    pair = np.empty((N_TERMS, 2))
    gains = np.empty((N_TERMS, 1))
    scratch = (pair, np.empty(n_labs + 1))
    # Without the gap, effort is the lab's: each lab's chance of an offer, once a step.
    lab_chance = np.empty(n_labs)
    for h in range(n_labs):
        effort = offer_effort(
            0.0,
            context.labs.turmoil[h],
            0.0,
            market.turmoil_sensitivity,
            market.effort_min,
            market.effort_max,
        )
        lab_chance[h] = -np.expm1(-effort * market.offer_rate_step)
    kept = 0
    for k in range(offered.shape[0]):
        if market.gap_sensitivity > 0:
            fetch_ahead(offered, k, decided, context)
            if k + AHEAD < offered.shape[0]:
                prefetch((state.market_value, ties.indptr), offered[k + AHEAD])
        r = offered[k]
        here = location[r]
        if here < n_labs:
            p_offer = lab_chance[here]
            if market.gap_sensitivity > 0:
                gap = 0.0
                if market.gap_over_market:
                    gap = market_gap(r, here, state, hiring, weight, ties, scratch, context)
                else:
                    draw = uniform_at(np.uint64(r), offsets[OFFER_LAB])
                    j, has_offer = offer_lab(here, weight, cumulative, draw)
                    if has_offer:
                        there_pay = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
                        gap = gain(
                            gains, 0, r, here, state.pay[r], j, there_pay, ties, pair, context
                        )
                effort = offer_effort(
                    gap,
                    context.labs.turmoil[here],
                    market.gap_sensitivity,
                    market.turmoil_sensitivity,
                    market.effort_min,
                    market.effort_max,
                )
                p_offer = -np.expm1(-effort * market.offer_rate_step)
            if not uniform_at(np.uint64(r), offsets[OFFER_DRAW]) < p_offer:
                continue
        offered[kept] = r
        kept += 1
    return kept


# ---- end of search effort ------------------------------------------------------------------


@_template(**_PART)
def make_offers(
    step, state, hiring, headcount, raids, offered, separated, offsets
):  # pragma: no cover - compiled
    """Step 2: ``(rows, to, offer_pay, n, room)`` of this step's offers, regular then raids.

    ``room`` is each lab's free places at the start of the step. A frozen lab makes no
    regular offer (the model passes no raid of a frozen lab either); the offered pay is
    :func:`offered_pay`.
    """
    location, market_value = state.location, state.market_value
    n_labs = hiring.pay_level.shape[0]
    room = np.empty(n_labs)
    weight = np.empty(n_labs)
    for j in range(n_labs):
        room[j] = hiring.capacity[j] - headcount[j]
        hires = room[j] >= 1 and hiring.frozen_until[j] < step
        weight[j] = hiring.recruiting_intensity[j] if hires else 0.0
    cumulative = np.cumsum(weight)
    raid_rows, raid_lab, raid_premium = raid_offers(
        location, state.last_lab, separated, raids, offsets[RAID]
    )
    raided = np.zeros(location.shape[0] if raid_rows.shape[0] else 0, np.bool_)
    for r in raid_rows:
        raided[r] = True
    size = offered.shape[0] + raid_rows.shape[0]
    rows = np.empty(size, np.int64)
    to = np.empty(size, np.int64)
    offer_pay = np.empty(size)
    n = 0
    for k in range(offered.shape[0]):
        r = offered[k]
        if k + AHEAD < offered.shape[0]:
            prefetch((location, market_value, state.last_lab), offered[k + AHEAD])
        j, has_offer = offer_lab(
            location[r], weight, cumulative, uniform_at(np.uint64(r), offsets[OFFER_LAB])
        )
        if has_offer and not (raid_rows.shape[0] and raided[r]):
            rows[n], to[n] = r, j
            offer_pay[n] = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
            n += 1
    for m in range(raid_rows.shape[0]):
        r, j = raid_rows[m], raid_lab[m]
        rows[n], to[n] = r, j
        offer_pay[n] = offered_pay(hiring, state, r, j, raid_premium[m])
        n += 1
    return rows, to, offer_pay, n, room


@_template(**_PART)
def choose(
    rows, to, offer_pay, n, state, market, ties, offsets, flows, context, decided
):  # pragma: no cover - compiled
    """Step 3's choices: ``(gains, accepted, n_accepted)`` of the first ``n`` offers.

    Column ``a`` of ``gains`` holds the term-by-term gains of the ``a``-th accepted offer,
    whose index is ``accepted[a]``; the accepted are marked in ``decided``.
    """
    location, pay, market_value = state.location, state.pay, state.market_value
    outside = context.labs.amenity.shape[0]  # the pool's code: the number of labs
    gains = np.empty((N_TERMS, n))
    pair = np.empty((N_TERMS, 2))
    accepted = np.empty(n, np.int64)
    n_accepted = 0
    for m in range(n):
        fetch_ahead(rows, m, decided, context)
        r, j, here = rows[m], to[m], location[rows[m]]
        flows[OFFERS, j] += 1
        now_pay = pay[r] if here < outside else market.outside_pay_ratio * market_value[r]
        value = gain(gains, n_accepted, r, here, now_pay, j, offer_pay[m], ties, pair, context)
        switching = market.switching_cost if here < outside else 0.0
        draw = uniform_at(np.uint64(r), offsets[ACCEPT])
        if accepts(value - switching, market.noise_scale, draw):
            flows[ACCEPTANCES, j] += 1
            accepted[n_accepted] = m
            n_accepted += 1  # (else the next offer's gains overwrite this column)
    for a in range(n_accepted):
        decided[rows[accepted[a]]] = True  # accepted: no second decision this step
    return gains, accepted, n_accepted


@_template(**_HELPER)
def retained(
    r, here, offered_pay, gains, column, switching, accept_purpose, pair, context, counters
):  # pragma: no cover - compiled
    """Whether a counter-offer keeps researcher ``r`` at lab ``here`` (then pay rises).

    ``counters`` is a :class:`~talentsim.compiled.records.Counters`; ``context`` as for
    :func:`terms_at`. The lab counters with its probability when the offer pays more than
    ``r`` earns now, matching it up to its limit × current pay; ``r`` re-decides with the
    same draw (``accept_purpose``), the pay terms of staying replaced by those of the raise.
    """
    pay, hiring, noise = counters.pay, counters.hiring, counters.noise_scale
    offsets, flows = counters.offsets, counters.flows
    if not here < hiring.counter_offer_probability.shape[0]:
        return False
    current = pay[r]
    chance = uniform_at(np.uint64(r), offsets[COUNTER])
    if not (chance < hiring.counter_offer_probability[here] and offered_pay > current):
        return False
    flows[COUNTER_OFFERS, here] += 1
    raise_to = counter_offer_pay(current, offered_pay, hiring.counter_offer_limit[here])
    # before (column 0) and after (column 1) the raise; the peer term cancels
    terms_at(pair, 0, r, here, current, 0.0, context)
    terms_at(pair, 1, r, here, raise_to, 0.0, context)
    total = 0.0
    for t in range(N_TERMS):
        term = gains[t, column] - (pair[t, 1] - pair[t, 0])
        total = term if t == 0 else total + term
    if accepts(total - switching, noise, uniform_at(np.uint64(r), offsets[accept_purpose])):
        return False
    flows[COUNTER_RETAINED, here] += 1
    pay[r] = raise_to
    return True


@_template(**_PART)
def moves_from_offers(
    offers, choices, room, state, hiring, market, offsets, flows, context, moves
):  # pragma: no cover - compiled
    """Step 3's counter-offers, then capacity; the moves of those who still go.

    ``offers`` is ``(rows, to, offer_pay)``, ``choices`` ``(gains, accepted, n_accepted)``
    and ``moves`` ``(record, kind, values)``, filled from column 0. First the lab being left
    may counter each acceptance (:func:`retained`); then each lab takes at most its room of
    those still going, by a random priority, so that a researcher kept by a counter-offer
    uses up no place. Those turned away are counted in ``flows[BLOCKED_BY_CAPACITY]`` at the
    lab that turned them away. Returns the number of moves written.
    """
    rows, to, offer_pay = offers
    gains, accepted, n_accepted = choices
    record, kind, values = moves
    location, last_lab = state.location, state.last_lab
    outside = hiring.pay_level.shape[0]
    pair = np.empty((N_TERMS, 2))
    counters = Counters(state.pay, hiring, market.noise_scale, offsets, flows)
    # Counter-offers: those kept stay (with a raise) and take no place.
    going = np.empty(n_accepted, np.int64)  # columns of the accepted still going
    n_going = 0
    for a in range(n_accepted):
        m = accepted[a]
        r, here = rows[m], location[rows[m]]
        switching = market.switching_cost if here < outside else 0.0
        if market.counter_offers and retained(
            r, here, offer_pay[m], gains, a, switching, ACCEPT, pair, context, counters
        ):
            continue
        going[n_going] = a
        n_going += 1
    # Capacity: a lab takes at most its room of those still going, by a random priority.
    destination = np.empty(n_going, np.int64)
    priority = np.empty(n_going)
    for g in range(n_going):
        m = accepted[going[g]]
        destination[g] = to[m]
        priority[g] = uniform_at(np.uint64(rows[m]), offsets[CAPACITY])
    fits = within_capacity(destination, room, priority)
    n_moves = 0
    for g in range(n_going):
        a = going[g]
        m = accepted[a]
        r, j, here = rows[m], to[m], location[rows[m]]
        if not fits[g]:
            flows[BLOCKED_BY_CAPACITY, j] += 1
            continue
        record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, here, j
        if j == last_lab[r]:
            kind[n_moves] = RETURN
        else:
            kind[n_moves] = QUIT if here < outside else HIRE
        values[2, n_moves] = offer_pay[m]
        for t in range(N_TERMS):
            values[VALUE_ROWS_BEFORE_GAINS + t, n_moves] = gains[t, a]
        n_moves += 1
    return n_moves


@_template(**_PART)
def exits(
    chance, n_moves, state, hiring, market, ties, offsets, flows, context, moves, decided
):  # pragma: no cover - compiled
    """Step 4: outside opportunities weighed by the employed who did not accept an offer.

    Moves are written from column ``n_moves`` of ``moves``; returns the new count.
    """
    record, kind, values = moves
    location, pay, market_value = state.location, state.pay, state.market_value
    outside = hiring.pay_level.shape[0]
    move_gains = values[VALUE_ROWS_BEFORE_GAINS:]
    pair = np.empty((N_TERMS, 2))
    counters = Counters(pay, hiring, market.noise_scale, offsets, flows)
    for k in range(chance.shape[0]):
        fetch_ahead(chance, k, decided, context)
        r = chance[k]
        if decided[r]:
            continue
        here = location[r]
        outside_pay = market.outside_pay_ratio * market_value[r]
        value = gain(
            move_gains, n_moves, r, here, pay[r], outside, outside_pay, ties, pair, context
        )
        if not accepts(value, market.noise_scale, uniform_at(np.uint64(r), offsets[EXIT_ACCEPT])):
            continue
        if market.counter_offers and retained(
            r, here, outside_pay, move_gains, n_moves, 0.0, EXIT_ACCEPT, pair, context, counters
        ):
            continue
        record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, here, outside
        kind[n_moves], values[2, n_moves] = EXIT, outside_pay
        n_moves += 1
    return n_moves


@_template(**_PART)
def separations(separated, n_moves, state, market, outside, moves):  # pragma: no cover - compiled
    """Step 5's separations, written from column ``n_moves``; returns the new count."""
    record, kind, values = moves
    for r in separated:
        record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, state.location[r], outside
        kind[n_moves] = SEPARATION
        values[2, n_moves] = market.outside_pay_ratio * state.market_value[r]
        for t in range(N_TERMS):
            values[VALUE_ROWS_BEFORE_GAINS + t, n_moves] = np.nan
        n_moves += 1
    return n_moves


@_template(**_PART)
def apply_moves(
    step, n_moves, state, researchers, market, flows, moves
):  # pragma: no cover - compiled
    """Step 5: count the moves in ``flows`` and apply them (at most one per researcher).

    Location, pay, tenure, joining step, the former lab (with the pay had there) and
    attachment; the record gets the step, cohort, tenure at the place left (NaN if not a lab)
    and pay before.
    """
    record, kind, values = moves
    location, pay, tenure, last_lab = state.location, state.pay, state.tenure, state.last_lab
    attachment = researchers.attachment
    outside = flows.shape[1] - 1
    for m in range(n_moves):
        if m + AHEAD < n_moves:
            prefetch(state, record[1, m + AHEAD])
            prefetch((attachment,), record[1, m + AHEAD])
        r, here, there = record[1, m], record[3, m], record[4, m]
        record[0, m], record[2, m] = step, state.cohort[r]
        from_lab = 0 <= here < outside
        to_lab = 0 <= there < outside
        values[0, m] = tenure[r] if from_lab else np.nan
        values[1, m] = pay[r]
        if to_lab:
            flows[HIRES, there] += 1
            if from_lab:
                flows[QUITS, here] += 1
        if kind[m] == RETURN:
            flows[RETURNS, there] += 1
        elif kind[m] == EXIT:
            flows[EXITS, here] += 1
        elif kind[m] == SEPARATION:
            flows[SEPARATIONS, here] += 1
        if here < outside:
            last_lab[r] = here
            state.last_lab_pay[r] = pay[r]
            attachment[r] = -np.expm1(-tenure[r] / market.attachment_bond_time)
        if there == last_lab[r]:  # back at one's former lab: no longer a former lab
            last_lab[r] = NO_LAB
            attachment[r] = 0.0
        location[r], pay[r], tenure[r], state.joined_step[r] = there, values[2, m], 0.0, step


@_template()
def decide(
    step,
    state,
    researchers,
    labs,
    hiring,
    headcount,
    raids,
    ties,
    switches,
    weights,
    market,
    offsets,
    flows,
    workspace,
):  # pragma: no cover - compiled
    """A step's decisions: separations, offers, opportunities, moves, flows, reputation.

    See the module docstring for the order. The records arrive as plain tuples in their
    fields' order (``tuple(record)``) and are named again first thing: Numba types a plain
    tuple from a cached fingerprint but a NamedTuple through Python, which cost ~15 µs a step.

    Args:
        step: The step number (recorded as the movers' ``joined_step``).
        state: A :class:`~talentsim.compiled.records.State` record; updated in place.
        researchers: A :class:`~talentsim.compiled.records.Researchers` record.
        labs: A :class:`~talentsim.compiled.records.Labs` record; ``reputation`` is updated
            in place.
        hiring: A :class:`~talentsim.compiled.records.Hiring` record.
        headcount: Each lab's headcount at the start of the step.
        raids: A :class:`~talentsim.compiled.records.Raids` record of this step's raids.
        ties: A :class:`~talentsim.compiled.records.Ties` record.
        switches: Whether each term (in registry order) is on.
        weights: The population's weights, a row per weighted term.
        market: A :class:`~talentsim.compiled.records.Market` record.
        offsets: Hash offsets by purpose (:data:`~talentsim.compiled.draws.PURPOSES`).
        flows: This step's flows (``model.FLOWS`` × places); incremented in place.
        workspace: A :class:`~talentsim.compiled.records.Workspace` record.

    Returns:
        The moves as they were before being applied, ``(codes, kind, values)``: ``codes``
        rows are step, researcher, cohort, origin and destination; ``values`` rows are the
        tenure (NaN for those not leaving a lab), pay before, pay after and the utility-term
        gains in registry order (NaN for separations).
    """
    state, researchers, labs = State(*state), Researchers(*researchers), Labs(*labs)
    hiring, raids, ties = Hiring(*hiring), Raids(*raids), Ties(*ties)
    market, workspace = Market(*market), Workspace(*workspace)
    location = state.location
    n_labs = hiring.pay_level.shape[0]
    ties_on = False
    for t in range(N_TERMS):
        ties_on = ties_on or (switches[t] and USES_TIES[t])
    context = TermContext(switches, weights, researchers, labs, market.outside_amenity, ties_on)
    first_pass = np.array([offsets[SEPARATION_DRAW], offsets[OFFER_DRAW], offsets[OPPORTUNITY]])
    n_sep, n_off, n_opp = screen_into(
        location,
        n_labs,
        (
            market.p_separation,
            market.p_offer_employed,
            market.p_offer_outside,
            market.p_opportunity,
        ),
        first_pass,
        (workspace.separated, workspace.offered, workspace.chance),
    )
    separated = workspace.separated[:n_sep]
    if market.searching:  # search effort: thin the candidates screened at its cap
        candidates = workspace.offered[:n_off]
        n_off = thin_offered(
            step,
            candidates,
            state,
            hiring,
            headcount,
            market,
            ties,
            offsets,
            context,
            workspace.decided,
        )
    offered = workspace.offered[:n_off]
    chance = workspace.chance[:n_opp]
    rows, to, offer_pay, n, room = make_offers(
        step, state, hiring, headcount, raids, offered, separated, offsets
    )
    decided = workspace.decided
    choices = choose(rows, to, offer_pay, n, state, market, ties, offsets, flows, context, decided)
    size = choices[2] + chance.shape[0] + separated.shape[0]
    moves = (
        np.empty((CODE_ROWS, size), np.int32),
        np.empty(size, np.int8),
        np.empty((VALUE_ROWS_BEFORE_GAINS + N_TERMS, size)),
    )
    offers = (rows, to, offer_pay)
    n_moves = moves_from_offers(
        offers, choices, room, state, hiring, market, offsets, flows, context, moves
    )
    n_moves = exits(
        chance, n_moves, state, hiring, market, ties, offsets, flows, context, moves, decided
    )
    n_moves = separations(separated, n_moves, state, market, n_labs, moves)
    apply_moves(step, n_moves, state, researchers, market, flows, moves)
    accepted, n_accepted = choices[1], choices[2]
    for a in range(n_accepted):
        decided[rows[accepted[a]]] = False  # (left all False for the next step)
    for j in range(n_labs):
        departures = flows[QUITS, j] + flows[EXITS, j]
        labs.reputation[j] = labs.reputation[j] * market.reputation_decay + departures / max(
            headcount[j], 1
        )
    record, kind, values = moves
    return record[:, :n_moves].copy(), kind[:n_moves].copy(), values[:, :n_moves].copy()


# --------------------------------------------------------------------------------------------
# One compiled set per registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelSet:
    """The functions of this module compiled against one registry of utility terms."""

    fingerprint: str
    names: tuple[str, ...]
    decide: Any
    utility_terms: Any

    @property
    def n_values(self) -> int:
        """Rows of a move record's values: tenure, pay before, pay after, then the gains."""
        return VALUE_ROWS_BEFORE_GAINS + len(self.names)

    def is_cached(self) -> bool:
        """Whether the step's compiled code is on disk (False: the first step compiles)."""
        return compat.is_cached(self.decide)


_SETS: dict[str, KernelSet] = {}


def kernel_set() -> KernelSet:
    """The step's decisions compiled against the registered terms (built once per registry).

    The functions are copied into a namespace holding the registry's kernels and compiled
    there (lazily, on first call), with a disk cache keyed by :func:`talentsim.terms.fingerprint`
    and by the compiled package's sources.
    """
    fingerprint = f"{registry.fingerprint()}-{_SOURCES}"
    found = _SETS.get(fingerprint)
    if found is None:
        found = _SETS[fingerprint] = _build(fingerprint)
    return found


def _sources_digest() -> str:
    """A digest of the compiled package's source files.

    Part of the step's cache key: Numba's own key covers only a function's file, so an edit
    to a helper in another file (``ties.py``, ``choice.py``, ...) would otherwise leave the
    step's cached build in use, silently stale.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


_SOURCES = _sources_digest()


def _build(fingerprint: str) -> KernelSet:
    terms = registry.all_terms()
    weighted = [term.name for term in registry.weighted()]
    rows = [weighted.index(term.name) if term.weight is not None else -1 for term in terms]
    namespace = dict(globals())
    namespace.update(
        TERMS=tuple((term.kernel, t, rows[t], term.at_outside) for t, term in enumerate(terms)),
        N_TERMS=len(terms),
        USES_TIES=np.array([term.uses_ties for term in terms], dtype=np.bool_),
        WEIGHT_ROW=np.array(rows, dtype=np.int64),
    )
    for name, options in _TEMPLATES.items():
        function = globals()[name]
        copy = types.FunctionType(
            function.__code__, namespace, function.__name__, function.__defaults__
        )
        copy.__qualname__, copy.__module__ = function.__qualname__, function.__module__
        copy.__doc__ = function.__doc__
        namespace[name] = compat.compile_keyed(copy, fingerprint, options)
    return KernelSet(
        fingerprint, tuple(t.name for t in terms), namespace["decide"], namespace["utility_terms"]
    )
