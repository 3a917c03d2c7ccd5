"""A step's decisions, compiled against the registered utility terms.

The functions here call the terms' kernels (:mod:`talentsim.terms`), so they are compiled
once per registry: :func:`kernel_set` copies them into a namespace holding that registry's
kernels and compiles them there, cached on disk under the registry's fingerprint. Call them
through ``kernel_set().decide`` and ``kernel_set().utility_terms``.

A step's decisions (:func:`decide`), in order (the rules of :mod:`talentsim.model`, steps
3–8). Each researcher's own moves over the step are exact (uniformization), with the rest of
the market frozen at the start of the step:

1. :func:`~talentsim.compiled.offers.screen_events`: each researcher's number of candidate
   events, Poisson at the bounding rate Λ (:func:`bounding_rate`) × the step, with search
   effort by lab (from turmoil, and the lab's gap with ``search.gap = "lab"``) at the most
   effort any lab gives this step (:func:`with_effort_cap`); raids pick their targets (an
   extra offer at the start of the step);
2. :func:`processing_order`: researchers take turns in a hashed random order when a lab
   could fill (in row order otherwise, when the order changes nothing); with search effort
   that does not depend on a researcher's own gap, those whose candidate events would all be
   thinned away in their state at the start of the step are left out first
   (:func:`may_act`: they would do nothing);
3. :func:`live_events`: per researcher, its raid offer, then each candidate event, real with
   probability rate/Λ in its current state: a separation, an outside opportunity
   (:func:`weigh_exit`) or an offer (rate λ_e × :func:`offer_effort` for the employed). An
   offer's negotiation (:func:`negotiate`) goes: offer (the lab drawn by hiring weight, made
   to its former staff with probability its ``rehire_rate``, :func:`courts`;
   :func:`offered_pay`), the binary-logit choice, counter-offer (:func:`retained`: the lab
   being left may keep them), capacity (the lab takes them only if a place of its room at
   the start of the step is left; else ``blocked_by_capacity``), acceptance;
4. moves: :func:`apply_move` records and applies each move at once (location, pay, tenure,
   the former lab, the pay had there, and attachment), and counts it in ``flows``; the
   researcher's next candidate event starts from the new state;
5. each lab's reputation (recent attrition) decays and adds this step's voluntary departures
   per member; with ``search.gap = "lab"``, each lab's offer memory has been weighed down at
   the start and has added its staff's offers' gains (:func:`negotiate`).

Every draw is the keyed hash of the row (and of the candidate event's number,
:func:`~talentsim.compiled.draws.event_uniform`) under its purpose's offset
(:func:`~talentsim.compiled.draws.step_offsets`), so no draw depends on the processing order.
"""

from __future__ import annotations

import logging
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import literal_unroll
from numba.core.errors import NumbaError

from talentsim import terms as registry
from talentsim.compiled import compat
from talentsim.compiled.choice import accepts, counter_offer_pay, offer_lab
from talentsim.compiled.clock import CODE_ROWS, VALUE_ROWS_BEFORE_GAINS
from talentsim.compiled.compat import prefetch
from talentsim.compiled.draws import (
    ACCEPT,
    COUNTER,
    EVENT_KIND,
    EVENTS,
    EXIT_ACCEPT,
    OFFER_LAB,
    PRIORITY,
    RAID,
    REHIRE,
    event_uniform,
    uniform_at,
)
from talentsim.compiled.offers import raid_offers, screen_events
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
from talentsim.compiled.search import offer_effort as effort_rule
from talentsim.compiled.ties import tie_pair
from talentsim.versions import files_digest

logger = logging.getLogger("talentsim")

NO_LAB = -1
"""Former lab of a researcher who has none (as :data:`talentsim.population.NO_LAB`)."""

# Codes shared with talentsim.model (the positions of FLOWS and the codes of MOVE_KINDS);
# tests/test_compiled.py checks that they agree.
HIRES, QUITS, RETURNS, EXITS, SEPARATIONS = range(5)
OFFERS, ACCEPTANCES, COUNTER_OFFERS, COUNTER_RETAINED, BLOCKED_BY_CAPACITY = range(7, 12)
HIRE, QUIT, RETURN, EXIT, SEPARATION = range(1, 6)

#: The position of ``effort_cap`` in a :class:`Market` record (:func:`with_effort_cap` slices
#: at it with literals, which Numba needs; tests/test_compiled.py checks that they agree).
_CAP_FIELD = Market._fields.index("effort_cap")

#: The number of a raid's offer among a researcher's candidate events (its draws' key).
RAID_EVENT = 2**20 - 1

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
    order). Tie shares are read only if a term that reads them is on; ``ties`` is
    ``(indptr, indices, location)``: the network in CSR form and the colleagues' places.
    """
    share_here = share_there = 0.0
    if context.ties_on:
        indptr, indices, location = ties
        share_here, share_there = tie_pair(indptr, indices, location, r, here, there)
    terms_at(pair, 0, r, here, here_pay, share_here, context)
    terms_at(pair, 1, r, there, there_pay, share_there, context)
    total = 0.0
    for t in range(N_TERMS):
        gains[t, column] = pair[t, 1] - pair[t, 0]
        total = gains[t, column] if t == 0 else total + gains[t, column]
    return total


@_template(**_HELPER)
def fetch_ahead(row, state, context, ties):  # pragma: no cover - compiled
    """Prefetch what researcher ``row``'s step reads: its columns, weights and ties' row.

    Researchers take their turns in a random order when a lab could fill, so the processor
    cannot guess the next rows; the hint lets their memory be read while earlier researchers
    are decided (a hint that changes no value).
    """
    researchers, switches, weights = context.researchers, context.switches, context.weights
    prefetch((state.location, state.pay, state.market_value, state.last_lab), row)
    prefetch((state.tenure, state.last_lab_pay, state.cohort, state.joined_step), row)
    prefetch((researchers.attachment, researchers.orientation), row)
    for t in range(N_TERMS):
        if switches[t] and WEIGHT_ROW[t] >= 0:
            prefetch((weights[WEIGHT_ROW[t]],), row)
    if context.ties_on and row < ties[0].shape[0]:
        prefetch((ties[0],), row)


@_template(**_HELPER)
def fetch_ties_ahead(order, k, context, ties):  # pragma: no cover - compiled
    """Prefetch the colleague ties later researchers' decisions read, in two stages.

    :func:`fetch_ahead` asks for a researcher's row of the network ``AHEAD`` turns ahead;
    this asks for its ties ``AHEAD / 2`` turns ahead and for its colleagues' places
    ``AHEAD / 4`` ahead (each stage needs the last). The places are scattered over the
    population, so a decision that reads tie shares would otherwise wait on each in turn.
    Hints only: no value changes.
    """
    if not context.ties_on:
        return
    indptr, indices, location = ties
    n, rows = order.shape[0], indptr.shape[0] - 1
    if k + AHEAD // 2 < n and order[k + AHEAD // 2] < rows:
        prefetch((indices,), indptr[order[k + AHEAD // 2]])
    if k + AHEAD // 4 < n and order[k + AHEAD // 4] < rows:
        row = order[k + AHEAD // 4]
        for entry in range(indptr[row], indptr[row + 1]):
            colleague = indices[entry]
            if colleague < 0:  # room left for ties to come
                break
            prefetch((location,), colleague)


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


@_template(**_HELPER)
def courts(hiring, state, r, j, event, offset):  # pragma: no cover - compiled
    """Whether lab ``j``, drawn to make researcher ``r`` an offer, makes it (thinning).

    Always, unless ``j`` is ``r``'s former lab and the lab's ``rehire_rate`` is below 1: then
    with that probability (the ``rehire`` draw of candidate event ``event``), so that the lab
    courts its former staff at ``rehire_rate`` × the rate at which it courts anyone else. At
    ``rehire_rate = 1`` no draw is made (runs are those of a scenario without the key).
    """
    rate = hiring.rehire_rate[j]
    if j != state.last_lab[r] or not rate < 1.0:
        return True
    return event_uniform(r, event, offset) < rate


@_template(**_HELPER)
def retained(
    r, here, offered_pay, gains, column, switching, accept_purpose, event, pair, context, counters
):  # pragma: no cover - compiled
    """Whether a counter-offer keeps researcher ``r`` at lab ``here`` (then pay rises).

    ``counters`` is a :class:`~talentsim.compiled.records.Counters`; ``context`` as for
    :func:`terms_at`. The lab counters with its probability when the offer pays more than
    ``r`` earns now, matching it up to its limit × current pay; ``r`` re-decides with the
    same draw (``accept_purpose``, candidate event number ``event``), the pay terms of staying
    replaced by those of the raise.
    """
    pay, hiring, noise = counters.pay, counters.hiring, counters.noise_scale
    offsets, flows = counters.offsets, counters.flows
    if not here < hiring.counter_offer_probability.shape[0]:
        return False
    current = pay[r]
    chance = event_uniform(r, event, offsets[COUNTER])
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
    if accepts(total - switching, noise, event_uniform(r, event, offsets[accept_purpose])):
        return False
    flows[COUNTER_RETAINED, here] += 1
    pay[r] = raise_to
    return True


@_template(**_HELPER)
def market_gap(r, here, state, hiring, weight, ties, scratch, context):  # pragma: no cover
    """The mean utility gain of moving from lab ``here`` to the labs that hire (``"market"``).

    Weighted by ``weight`` (recruiting intensity, 0 for a lab that does not hire; ``r``'s
    former lab's times its ``rehire_rate``, as it courts them: the weights of the offers to
    come), over the labs other than ``here``, at the pay each would offer
    (:func:`offered_pay`); 0 when no other lab hires. ``ties`` is ``(indptr, indices,
    location)`` as for :func:`gain`; ``scratch`` is ``(pair, shares)``: shapes
    ``(N_TERMS, 2)`` and ``(n_labs + 1,)``.
    """
    pair, shares = scratch
    n_labs = weight.shape[0]
    former = state.last_lab[r]
    total_weight = 0.0
    for j in range(n_labs):
        if j != here:
            total_weight += weight[j] * hiring.rehire_rate[j] if j == former else weight[j]
    if not total_weight > 0:
        return 0.0
    shares[:] = 0.0
    if context.ties_on:  # r's tie shares, in one pass
        indptr, indices, location = ties
        if r < indptr.shape[0] - 1:
            degree = 0
            for entry in range(indptr[r], indptr[r + 1]):
                if indices[entry] < 0:  # room left for ties to come
                    break
                where = location[indices[entry]]
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
        courting = weight[j] * hiring.rehire_rate[j] if j == former else weight[j]
        if j == here or courting == 0:
            continue
        there_pay = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
        terms_at(pair, 1, r, j, there_pay, shares[j], context)
        moving = 0.0
        for t in range(N_TERMS):
            moving += pair[t, 1]
        gap += courting * (moving - staying)
    return gap / total_weight


@_template(**_HELPER)
def offer_effort(
    r,
    here,
    j,
    has_offer,
    state,
    hiring,
    market,
    weight,
    lab_effort,
    ties,
    scratch,
    context,
    gains,
    column,
):  # pragma: no cover - compiled
    """Search effort of employed researcher ``r`` at lab ``here``, and the offer's gain.

    Computed only when a candidate event falls in the offer band of the thinning (see
    :func:`live_events`); at most ``market.effort_cap``. Without ``[search]`` it is 1. Else
    :func:`talentsim.compiled.search.offer_effort` of the gap and the lab's turmoil: the gap
    is the utility gain of the offer to come (from lab ``j``, the lab the event's
    ``offer_lab`` draw picks, which then makes the offer; 0 without one) or, with
    ``market.gap_over_market``, :func:`market_gap`; before the switching cost and the
    choice noise. With the lab's gap (``search.gap = "lab"``) or none, the lab's effort
    ``lab_effort[here]``, computed once a step.

    Returns:
        ``(effort, value)``: ``value`` is the offer's gain when the gap is that gain (its
        terms written to ``gains[:, column]``, the move's column, where :func:`negotiate`
        reads them: the same numbers it would compute), NaN otherwise.
    """
    value = np.nan
    if (
        not market.searching
        or not (market.gap_sensitivity > 0)
        or not (has_offer or market.gap_over_market)
    ):
        return lab_effort[here], value  # the lab's effort (at a researcher's own gap of 0)
    if market.gap_over_market:
        gap = market_gap(r, here, state, hiring, weight, ties, scratch, context)
    else:
        pair = scratch[0]
        there_pay = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
        gap = gain(gains, column, r, here, state.pay[r], j, there_pay, ties, pair, context)
        value = gap
    effort = effort_rule(
        gap,
        context.labs.turmoil[here],
        market.gap_sensitivity,
        market.turmoil_sensitivity,
        market.effort_min,
        market.effort_max,
    )
    return effort, value


@_template(**_HELPER)
def apply_move(m, step, state, researchers, market, flows, moves):  # pragma: no cover - compiled
    """Record move ``m`` (step, cohort, tenure and pay before), count it and apply it.

    Location, pay, tenure, joining step, the former lab (with the pay had there) and
    attachment change at once: the researcher's next candidate event this step starts from
    the new state.
    """
    record, kind, values = moves
    location, pay, tenure, last_lab = state.location, state.pay, state.tenure, state.last_lab
    attachment = researchers.attachment
    outside = flows.shape[1] - 1
    r, here, there = record[1, m], record[3, m], record[4, m]
    record[0, m], record[2, m] = step, state.cohort[r]
    from_lab = 0 <= here < outside
    to_lab = 0 <= there < outside
    # tenure at the move: its time less the time the stay began, both as recorded (ends of
    # steps; set-up at time 0). An arrival's clock has counted its arrival step (reset to 0,
    # then advanced at the step's end), so it reads that here; a starter's clock, read at the
    # start of this step, has not counted this step yet.
    began_at_setup = state.joined_step[r] == 0
    values[0, m] = (tenure[r] + market.dt if began_at_setup else tenure[r]) if from_lab else np.nan
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


@_template(**_HELPER)
def negotiate(
    r,
    event,
    j,
    offer_pay,
    known,
    n_moves,
    step,
    state,
    researchers,
    market,
    ties,
    room,
    pair,
    context,
    counters,
    moves,
):  # pragma: no cover - compiled
    """An offer to ``r`` from lab ``j`` paying ``offer_pay``; returns the number of moves.

    ``known`` is the offer's utility gain if already computed (by :func:`offer_effort`, its
    terms in the move's column), NaN if not.

    With search effort's ``gap = "lab"``, the gain of an offer to an employed researcher (not
    a raid's) is added to their lab's offer memory (``counters.offer_memory``).

    In order: the researcher's binary-logit choice against staying (switching cost between
    labs); counter-offer: the lab being left may keep them (:func:`retained`); capacity: the
    lab takes them only if a place of its room at the start of the step is left (else the
    offer is counted as ``blocked_by_capacity`` and they stay); acceptance: the move is
    written to column ``n_moves`` of ``moves`` and applied (:func:`apply_move`), and
    ``n_moves + 1`` returned (``n_moves`` if there is no move). Draws are keyed by the
    candidate event's number ``event``.
    """
    record, kind, values = moves
    location, pay, market_value = state.location, state.pay, state.market_value
    flows = counters.flows
    outside = context.labs.amenity.shape[0]  # the pool's code: the number of labs
    here = location[r]
    flows[OFFERS, j] += 1
    now_pay = pay[r] if here < outside else market.outside_pay_ratio * market_value[r]
    move_gains = values[VALUE_ROWS_BEFORE_GAINS:]
    value = known
    if np.isnan(value):
        value = gain(move_gains, n_moves, r, here, now_pay, j, offer_pay, ties, pair, context)
    if market.lab_gap_sensitivity > 0 and here < outside and event != RAID_EVENT:
        counters.offer_memory[0, here] += value  # what the lab's staff hear of the market
        counters.offer_memory[1, here] += 1.0
    switching = market.switching_cost if here < outside else 0.0
    draw = event_uniform(r, event, counters.offsets[ACCEPT])
    if not accepts(value - switching, market.noise_scale, draw):
        return n_moves
    flows[ACCEPTANCES, j] += 1
    if (
        market.counter_offers
        and here < outside
        and retained(
            r,
            here,
            offer_pay,
            move_gains,
            n_moves,
            switching,
            ACCEPT,
            event,
            pair,
            context,
            counters,
        )
    ):
        return n_moves
    if not room[j] > 0:
        flows[BLOCKED_BY_CAPACITY, j] += 1
        return n_moves
    room[j] -= 1
    record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, here, j
    if j == state.last_lab[r]:
        kind[n_moves] = RETURN
    else:
        kind[n_moves] = QUIT if here < outside else HIRE
    values[2, n_moves] = offer_pay
    apply_move(n_moves, step, state, researchers, market, flows, moves)
    return n_moves + 1


#: What a candidate event is before the search-effort thinning (:func:`event_band`).
NOTHING, SEPARATES, MEETS_OPPORTUNITY, OFFER_BAND = range(4)


@_template(**_HELPER)
def event_band(x, employed, market):  # pragma: no cover - compiled
    """The band a candidate event falls in, from its uniform ``x`` scaled to [0, Λ).

    Employed: a separation if ``x < δ``, an outside opportunity if ``δ ≤ x < δ + ω``, the
    offer band if ``δ + ω ≤ x < δ + ω + λ_e × effort cap``; in the pool, the offer band if
    ``x < λ_u``; else nothing. Returns ``(band, x)`` with ``x`` less ``δ + ω`` for an employed
    researcher's offer band, where the effort's thinning compares it with ``λ_e × effort``.
    The one statement of this arithmetic, for :func:`live_events` and :func:`may_act`.
    """
    if not employed:
        return (OFFER_BAND if x < market.offer_rate_outside else NOTHING), x
    if x < market.separation_rate:
        return SEPARATES, x
    x -= market.separation_rate
    if x < market.opportunity_rate:
        return MEETS_OPPORTUNITY, x
    x -= market.opportunity_rate
    if not (x < market.offer_rate_employed * market.effort_cap):
        return NOTHING, x
    return OFFER_BAND, x


@_template(**_PART)
def live_events(
    step,
    order,
    counts,
    raid,
    state,
    researchers,
    hiring,
    market,
    ties,
    room,
    weight,
    lab_effort,
    context,
    counters,
    moves,
):  # pragma: no cover - compiled
    """Each researcher's candidate events in ``order``; returns the number of moves written.

    Uniformization: ``counts[k]`` candidate events of researcher ``order[k]`` at the
    bounding rate Λ (``raid[k]``: the index of a raid offer made to them at the start of the
    step, −1 for none). Each candidate event is real with probability (rate of its kind in
    the researcher's current state)/Λ, its kind chosen in proportion to the rates, from one
    keyed uniform ``x`` scaled to [0, Λ): an employed researcher separates if ``x < δ``,
    meets an outside opportunity if ``δ ≤ x < δ + ω``, gets an offer if
    ``δ + ω ≤ x < δ + ω + λ_e·effort``; one in the pool gets an offer if ``x < λ_u``. An
    offer from one's former lab is then made with probability its ``rehire_rate``
    (:func:`courts`; raids are not thinned). A move
    applies at once (:func:`apply_move`), so the next candidate event starts from the new
    state: over a step, the researcher's own transitions follow the continuous-time process
    exactly, given the rest of the market as at the start of the step.
    """
    raid_lab, raid_premium, raid_at = raid
    record, kind, values = moves
    location, market_value = state.location, state.market_value
    offsets, flows = counters.offsets, counters.flows
    outside = hiring.pay_level.shape[0]
    bound = bounding_rate(market)
    cumulative = np.cumsum(weight)
    pair = np.empty((N_TERMS, 2))
    scratch = (np.empty((N_TERMS, 2)), np.empty(outside + 1))
    n_moves = 0
    for k in range(order.shape[0]):
        r = order[k]
        if k + AHEAD < order.shape[0]:
            fetch_ahead(order[k + AHEAD], state, context, ties)
        fetch_ties_ahead(order, k, context, ties)
        # a raid's offer comes first, at the start of the step
        q = raid_at[k] if raid_at.shape[0] else -1
        if q >= 0:
            j = raid_lab[q]
            offer_pay = offered_pay(hiring, state, r, j, raid_premium[q])
            n_moves = negotiate(
                r, RAID_EVENT, j, offer_pay, np.nan, n_moves, step, state, researchers, market,
                ties, room, pair, context, counters, moves,
            )  # fmt: skip
        for event in range(counts[k]):
            here = location[r]
            employed = here < outside
            band, x = event_band(
                event_uniform(r, event, offsets[EVENT_KIND]) * bound, employed, market
            )
            if band == NOTHING:
                continue
            if band == SEPARATES:
                record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, here, outside
                kind[n_moves] = SEPARATION
                values[2, n_moves] = market.outside_pay_ratio * market_value[r]
                for t in range(N_TERMS):
                    values[VALUE_ROWS_BEFORE_GAINS + t, n_moves] = np.nan
                apply_move(n_moves, step, state, researchers, market, flows, moves)
                n_moves += 1
                continue
            if band == MEETS_OPPORTUNITY:
                n_moves = weigh_exit(
                    r, event, n_moves, step, state, researchers, market, ties, pair, context,
                    counters, moves,
                )  # fmt: skip
                continue
            j, has_offer = offer_lab(
                here, weight, cumulative, event_uniform(r, event, offsets[OFFER_LAB])
            )
            known = np.nan
            if employed:
                effort, known = offer_effort(
                    r, here, j, has_offer, state, hiring, market, weight, lab_effort, ties,
                    scratch, context, values[VALUE_ROWS_BEFORE_GAINS:], n_moves,
                )  # fmt: skip
                if not (x < market.offer_rate_employed * effort):
                    continue
            if not has_offer or not courts(hiring, state, r, j, event, offsets[REHIRE]):
                continue
            offer_pay = offered_pay(hiring, state, r, j, hiring.new_hire_premium[j])
            n_moves = negotiate(
                r, event, j, offer_pay, known, n_moves, step, state, researchers, market, ties,
                room, pair, context, counters, moves,
            )  # fmt: skip
    return n_moves


@_template(**_HELPER)
def weigh_exit(
    r, event, n_moves, step, state, researchers, market, ties, pair, context, counters, moves
):  # pragma: no cover - compiled
    """An outside opportunity met by employed ``r``: weighed, countered, maybe taken.

    The move (if any) is written to column ``n_moves`` and applied; returns the new count.
    """
    record, kind, values = moves
    location, pay = state.location, state.pay
    outside = context.labs.amenity.shape[0]
    here = location[r]
    outside_pay = market.outside_pay_ratio * state.market_value[r]
    move_gains = values[VALUE_ROWS_BEFORE_GAINS:]
    value = gain(move_gains, n_moves, r, here, pay[r], outside, outside_pay, ties, pair, context)
    draw = event_uniform(r, event, counters.offsets[EXIT_ACCEPT])
    if not accepts(value, market.noise_scale, draw):
        return n_moves
    if market.counter_offers and retained(
        r,
        here,
        outside_pay,
        move_gains,
        n_moves,
        0.0,
        EXIT_ACCEPT,
        event,
        pair,
        context,
        counters,
    ):
        return n_moves
    record[1, n_moves], record[3, n_moves], record[4, n_moves] = r, here, outside
    kind[n_moves], values[2, n_moves] = EXIT, outside_pay
    apply_move(n_moves, step, state, researchers, market, counters.flows, moves)
    return n_moves + 1


@_template(**_HELPER)
def may_act(r, count, state, hiring, market, weight, lab_effort, cumulative, bound, offsets):
    """Whether any of researcher ``r``'s ``count`` candidate events can be real.

    Each is tried, as :func:`live_events` would, in ``r``'s state at the start of the step:
    the same keyed uniform and arithmetic, the same thinning. False only when every one is
    certainly thinned away: in the pool beyond the offer rate; employed in the offer band
    beyond ``λ_e × effort`` where the effort does not depend on the offer's gain (no search
    effort, effort by lab, or no lab to make the offer); or with no lab to make the offer.
    None being real, the state never changes and :func:`live_events` would do nothing for
    ``r``, so leaving ``r`` out changes no result, and saves reading its row (most of the
    candidates of a market whose search effort can reach a high cap). An offer whose
    effort needs its gain counts as possibly real.
    """
    here = state.location[r]
    employed = here < hiring.pay_level.shape[0]
    for event in range(count):
        band, x = event_band(event_uniform(r, event, offsets[EVENT_KIND]) * bound, employed, market)
        if band == NOTHING:
            continue
        if band != OFFER_BAND or not employed:
            return True  # (a separation, an opportunity, or an offer in the pool)
        if market.searching and market.gap_sensitivity > 0:
            return True
        if not (x < market.offer_rate_employed * lab_effort[here]):
            continue
        if offer_lab(here, weight, cumulative, event_uniform(r, event, offsets[OFFER_LAB]))[1]:
            return True  # (a lab makes the offer)
    return False


@_template(**_HELPER)
def bounding_rate(market):  # pragma: no cover - compiled
    """Λ: the most events per year in any state (employed at ``market.effort_cap``, or pooled).

    ``effort_cap`` is the scenario's cap, or this step's highest lab effort when effort comes
    from turmoil alone (:func:`with_effort_cap`).
    """
    employed = (
        market.separation_rate
        + market.opportunity_rate
        + market.offer_rate_employed * market.effort_cap
    )
    return max(employed, market.offer_rate_outside)


@_template(**_HELPER)
def with_effort_cap(fields, cap):  # pragma: no cover - compiled
    """A :class:`Market` of the plain tuple ``fields``, its ``effort_cap`` set to ``cap``."""
    # (9 is _CAP_FIELD, as a literal; concatenation, as Numba types no starred tuple display)
    return Market(*(fields[:9] + (cap,) + fields[10:]))  # noqa: RUF005


#: Researchers take their turns by blocks of consecutive rows when the population is large:
#: a block holds a population's 1/BLOCKS of rows (at least one row).
BLOCKS = 1024


@_template(**_PART)
def processing_order(candidates, offset, in_order, block, n_buckets):  # pragma: no cover
    """The order in which researchers live their step, as positions in ``candidates``.

    By the priority ``uniform_at(row // block, offset)`` (a counting sort into ``n_buckets``
    buckets, the number of the step's candidates; within a bucket, ascending rows) when
    places at a lab may run out, so that no row number is favoured beyond the order within a
    block of ``block`` consecutive rows; as given (ascending rows) when ``in_order`` (no lab
    can fill: the order then changes nothing but the order of the move log). Blocks keep the
    memory reads of a large population in ascending runs (a fully random order of 10^6
    researchers doubled the step's time); with ``block = 1`` the order is fully random.
    ``candidates`` ascend, so each block's priority is hashed once. A subset of the
    candidates, sorted with the same ``n_buckets``, keeps its order among all of them.
    """
    n = candidates.shape[0]
    if in_order or n < 2:
        return np.arange(n)
    bucket = np.empty(n, np.int64)
    starts = np.zeros(n_buckets + 1, np.int64)
    key, b = -1, 0
    for k in range(n):
        if candidates[k] // block != key:
            key = candidates[k] // block
            b = min(int(uniform_at(np.uint64(key), offset) * n_buckets), n_buckets - 1)
        bucket[k] = b
        starts[b + 1] += 1
    for b in range(n_buckets):
        starts[b + 1] += starts[b]
    position = np.empty(n, np.int64)
    for k in range(n):
        position[starts[bucket[k]]] = k
        starts[bucket[k]] += 1
    return position


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
    offer_memory,
    workspace,
):  # pragma: no cover - compiled
    """A step's decisions: each researcher's events, the moves, flows, reputation.

    See the module docstring for the process. The records arrive as plain tuples in their
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
        offer_memory: Per lab, the weighted sum of its staff's offers' gains and their number
            (``LabState.offer_memory``); with ``market.lab_gap_sensitivity`` > 0 their ratio
            is the lab's gap this step, then both are weighed down and this step's offers
            added, in place.
        workspace: A :class:`~talentsim.compiled.records.Workspace` record.

    Returns:
        The moves in the order they happened, ``(codes, kind, values)``: ``codes`` rows are
        step, researcher, cohort, origin and destination; ``values`` rows are the tenure (NaN
        for those not leaving a lab), pay before, pay after and the utility-term gains in
        registry order (NaN for separations). A researcher may move several times in a step.
    """
    state, researchers, labs = State(*state), Researchers(*researchers), Labs(*labs)
    hiring, raids, ties = Hiring(*hiring), Raids(*raids), Ties(*ties)
    market_fields = market
    market, workspace = Market(*market), Workspace(*workspace)
    location = state.location
    n_labs = hiring.pay_level.shape[0]
    ties_on = False
    for t in range(N_TERMS):
        ties_on = ties_on or (switches[t] and USES_TIES[t])
    context = TermContext(switches, weights, researchers, labs, market.outside_amenity, ties_on)
    # colleagues' places as at the start of the step (a copy only if ties are read)
    tie_view = (ties.indptr, ties.indices, location.copy() if ties_on else location)
    # Search effort by lab, computed once: at a researcher's own gap of 0 (all of it without
    # one: from turmoil, and the lab's gap with gap = "lab", as at the start of the step).
    lab_effort = np.ones(n_labs)
    if market.searching:
        for j in range(n_labs):
            lab_gap = 0.0
            if market.lab_gap_sensitivity > 0 and offer_memory[1, j] > 0:
                lab_gap = offer_memory[0, j] / offer_memory[1, j]
            lab_effort[j] = effort_rule(
                lab_gap,
                labs.turmoil[j],
                market.lab_gap_sensitivity,
                market.turmoil_sensitivity,
                market.effort_min,
                market.effort_max,
            )
            offer_memory[0, j] *= market.offer_memory_decay
            offer_memory[1, j] *= market.offer_memory_decay
        if not market.gap_sensitivity > 0 and n_labs > 0:
            # From the lab alone, nobody's effort this step exceeds the highest lab's (turmoil
            # and the labs' gaps are frozen over the step): the bounding rate uses it rather
            # than the cap.
            market = with_effort_cap(market_fields, lab_effort.max())
    n_rows, n_events = screen_events(
        location,
        n_labs,
        bounding_rate(market) * market.dt,
        offsets[EVENTS],
        (workspace.candidates, workspace.counts),
    )
    # Raids: an extra offer at the start of the step to those they court.
    raid_rows, raid_lab, raid_premium = raid_offers(
        location, state.last_lab, np.zeros(0, np.int64), raids, offsets[RAID]
    )
    candidates = workspace.candidates[:n_rows]
    counts_of = workspace.counts[:n_rows]
    if raid_rows.shape[0]:  # the raided join the candidates (with no candidate event if none)
        listed = np.zeros(location.shape[0], np.bool_)
        rows = np.empty(n_rows + raid_rows.shape[0], np.int64)
        rows[:n_rows] = candidates
        for k in range(n_rows):
            listed[candidates[k]] = True
        n = n_rows
        for r in raid_rows:
            if not listed[r]:
                listed[r] = True
                rows[n] = r
                n += 1
        candidates = np.sort(rows[:n])
    # Labs hire while they have room at the start of the step and are not frozen.
    room = np.empty(n_labs)
    weight = np.empty(n_labs)
    least_room = np.inf
    for j in range(n_labs):
        room[j] = hiring.capacity[j] - headcount[j]
        hires = room[j] >= 1 and hiring.frozen_until[j] < step
        weight[j] = hiring.recruiting_intensity[j] if hires else 0.0
        if hires:
            least_room = min(least_room, room[j])
    # If no lab can fill this step, the order in which researchers live it changes nothing.
    in_order = raid_rows.shape[0] == 0 and n_events < least_room
    block = max(1, location.shape[0] // BLOCKS)
    # Each candidate's count of candidate events and raid offer (-1: none), rows ascending.
    n_candidates = candidates.shape[0]
    counts = np.empty(n_candidates, np.int64)
    raid_at = np.full(n_candidates if raid_rows.shape[0] else 0, -1, np.int64)
    if raid_rows.shape[0]:
        count_of = np.zeros(location.shape[0], np.int64)
        for k in range(n_rows):
            count_of[workspace.candidates[k]] = workspace.counts[k]
        which = np.full(location.shape[0], -1, np.int64)
        for q in range(raid_rows.shape[0]):
            which[raid_rows[q]] = q  # a researcher courted by two raids keeps the later one
        for k in range(n_candidates):
            counts[k] = count_of[candidates[k]]
            raid_at[k] = which[candidates[k]]
    else:
        counts[:] = counts_of
    # Only those who can act live the step (may_act): the others would do nothing in it.
    # Worth a pass when search effort by lab (no gap of one's own) thins offer candidates.
    # The order of those kept is theirs in the order of all (same buckets: see below).
    if market.searching and not market.gap_sensitivity > 0:
        cumulative, bound = np.cumsum(weight), bounding_rate(market)
        kept = np.empty(n_candidates, np.int64)
        n_live = 0
        for k in range(n_candidates):
            raided = raid_at.shape[0] > 0 and raid_at[k] >= 0
            if raided or may_act(
                candidates[k], counts[k], state, hiring, market, weight, lab_effort,
                cumulative, bound, offsets,
            ):  # fmt: skip
                kept[n_live], counts[n_live] = candidates[k], counts[k]
                if raid_at.shape[0]:
                    raid_at[n_live] = raid_at[k]
                n_live += 1
        candidates, counts = kept[:n_live], counts[:n_live]
        raid_at = raid_at[:n_live] if raid_at.shape[0] else raid_at
    position = processing_order(candidates, offsets[PRIORITY], in_order, block, n_candidates)
    order, counts = candidates[position], counts[position]
    raid_at = raid_at[position] if raid_at.shape[0] else raid_at
    size = n_events + raid_rows.shape[0]
    moves = (
        np.empty((CODE_ROWS, size), np.int32),
        np.empty(size, np.int8),
        np.empty((VALUE_ROWS_BEFORE_GAINS + N_TERMS, size)),
    )
    counters = Counters(state.pay, hiring, market.noise_scale, offsets, flows, offer_memory)
    n_moves = live_events(
        step,
        order,
        counts,
        (raid_lab, raid_premium, raid_at),
        state,
        researchers,
        hiring,
        market,
        tie_view,
        room,
        weight,
        lab_effort,
        context,
        counters,
        moves,
    )
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
        return compat.is_cached(self.decide.dispatcher)


class _NamingTerms:
    """A compiled function of a kernel set whose compile errors name the terms at fault.

    Numba compiles on the first call; a kernel it cannot type (a wrong argument, a Python
    object it does not know) fails there with a long message about this module's code.
    This raises :class:`talentsim.terms.TermCompileError` instead, naming the terms whose
    kernels the message mentions (else the terms beyond the built-in ones) and keeping
    Numba's first lines, without its terminal colours.
    """

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self.checked = False

    def __call__(self, *args: Any) -> Any:
        if not self.checked:  # (once: whether this first call compiles, logged at INFO)
            self.checked = True
            if not self.dispatcher.signatures and not compat.is_cached(self.dispatcher):
                logger.info(
                    "compiling talentsim's %s for the utility terms %s (once after installing "
                    "or after changing the terms; 15-75 s)",
                    self.dispatcher.py_func.__name__,
                    ", ".join(registry.names()),
                )
        try:
            return self.dispatcher(*args)
        except NumbaError as exc:
            raise registry.TermCompileError(_explain_compile_error(exc)) from None


def _explain_compile_error(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    at_fault = [
        f"{term.name!r} (kernel {term.kernel.py_func.__name__})"  # type: ignore[attr-defined]
        for term in registry.all_terms()
        if re.search(rf"\b{term.kernel.py_func.__name__}\b", text)  # type: ignore[attr-defined]
    ]
    if not at_fault:
        at_fault = [repr(name) for name in registry.custom_names()] or ["(built-in terms only)"]
    lines: list[str] = []
    for line in (line.strip() for line in text.splitlines()):
        noise = line.startswith(("Failed in nopython mode", "During:", "File ", "<source"))
        if line and not noise and line not in lines:
            lines.append(line)
    lines = lines[:4] or [text.strip().splitlines()[0] if text.strip() else type(exc).__name__]
    return (
        f"the step does not compile with the utility term {', '.join(at_fault)}: a kernel "
        "must take (w, i, j, pay, peer_share, researchers, labs, outside_amenity), return a "
        "float, and use only what Numba compiles (numbers, NumPy arrays, the records' "
        "fields). Numba said: " + " / ".join(lines)
    )


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
    return files_digest(Path(__file__).parent, "*.py")[:16]


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
        fingerprint,
        tuple(t.name for t in terms),
        _NamingTerms(namespace["decide"]),
        _NamingTerms(namespace["utility_terms"]),
    )
