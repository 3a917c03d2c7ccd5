"""Named records of the arrays the compiled step reads: columns by name, never by position.

Each record is a :class:`typing.NamedTuple` of arrays (or numbers), which Numba passes to
compiled code as a tuple whose fields are read by name (``lab.turmoil[j]``). The model builds
them (:meth:`talentsim.model.TalentModel`) from its population and lab state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Researchers(NamedTuple):
    """Population columns the utility terms may read (besides the weights), one row each."""

    location: np.ndarray
    """Place now: a lab index, the outside pool (``n_labs``) or GONE (−1)."""
    last_lab: np.ndarray
    """Former lab (NO_LAB, −1, if none)."""
    orientation: np.ndarray
    """Preferred research orientation, 0 (product) to 1 (frontier research)."""
    market_value: np.ndarray
    """Market value (base pay)."""
    attachment: np.ndarray
    """Attachment to the former lab, 0–1."""
    tenure: np.ndarray
    """Years at the current place."""
    pay: np.ndarray
    """Current pay."""


class Labs(NamedTuple):
    """Lab columns the utility terms may read, one row per lab."""

    orientation: np.ndarray
    mission_clarity: np.ndarray
    turmoil: np.ndarray
    reference_ratio: np.ndarray
    """This step's reference pay ratio (pay / market value), NaN for an empty lab."""
    reputation: np.ndarray
    """Recent attrition (updated in place by the step)."""
    amenity: np.ndarray


class State(NamedTuple):
    """Population columns the step reads and updates in place."""

    location: np.ndarray
    pay: np.ndarray
    market_value: np.ndarray
    tenure: np.ndarray
    last_lab: np.ndarray
    joined_step: np.ndarray
    cohort: np.ndarray
    last_lab_pay: np.ndarray
    """Pay when leaving the former lab (what the "old" rule pays a returner)."""


class Hiring(NamedTuple):
    """Lab columns of hiring and keeping staff."""

    capacity: np.ndarray
    frozen_until: np.ndarray
    recruiting_intensity: np.ndarray
    pay_level: np.ndarray
    new_hire_premium: np.ndarray
    counter_offer_probability: np.ndarray
    counter_offer_limit: np.ndarray
    return_premium: np.ndarray
    """Premium over market pay offered to former staff (the "market" rule)."""
    return_old_pay: np.ndarray
    """Whether the lab offers former staff their old pay (else market pay with a premium)."""
    return_as_new_hire: np.ndarray
    """Whether the lab offers former staff what it offers newcomers (overrides the others)."""
    rehire_rate: np.ndarray
    """Probability, 0–1, that an offer the lab draws for one of its former staff is made."""


class Market(NamedTuple):
    """Market parameters of a step (rates are per year)."""

    noise_scale: float
    switching_cost: float
    outside_pay_ratio: float
    outside_amenity: float
    attachment_bond_time: float
    separation_rate: float
    offer_rate_employed: float
    """λ_e: offers per year to an employed researcher at search effort 1."""
    offer_rate_outside: float
    opportunity_rate: float
    effort_cap: float
    """The most search effort anyone can make (the bounding rate uses λ_e × this cap): the
    scenario's ``effort_max``, lowered for a step to its highest lab effort when effort comes
    from turmoil alone (``decisions.with_effort_cap``)."""
    dt: float
    """The step's length in years."""
    reputation_decay: float
    counter_offers: bool
    searching: bool
    """Whether search effort varies (``search.on``); False: effort 1, no extra work."""
    gap_sensitivity: float
    gap_over_market: bool
    """The gap is the mean gain over the labs that hire (else that of the offer to come)."""
    turmoil_sensitivity: float
    effort_min: float
    effort_max: float
    lab_gap_sensitivity: float
    """The gap sensitivity when the gap is the lab's (``search.gap = "lab"``), else 0: effort
    is then the lab's, and ``gap_sensitivity`` (the researcher's own gap) is 0."""
    offer_memory_decay: float
    """The factor a step weighs the labs' offer memory down by (``LabState.offer_memory``)."""


class Raids(NamedTuple):
    """This step's poaching raids, one row each."""

    raider: np.ndarray
    target: np.ndarray
    offers: np.ndarray
    premium: np.ndarray
    former_staff_first: np.ndarray


class Ties(NamedTuple):
    """The colleague network in CSR form (``indptr = [0]`` for none)."""

    indptr: np.ndarray
    indices: np.ndarray


class Workspace(NamedTuple):
    """Scratch arrays at least as long as the population, kept between steps.

    So that a step allocates nothing in proportion to the population (each such allocation
    costs page faults).
    """

    candidates: np.ndarray
    """Rows with candidate events this step (int64)."""
    counts: np.ndarray
    """Their numbers of candidate events (int64)."""


class TermContext(NamedTuple):
    """What the utility terms read besides a researcher's row and place (built per step)."""

    switches: np.ndarray
    """Whether each term, in registry order, is on."""
    weights: np.ndarray
    """The population's weights, a row per weighted term."""
    researchers: Researchers
    labs: Labs
    outside_amenity: float
    ties_on: bool
    """Whether a term that reads colleague ties is on (then tie shares are computed)."""


class Counters(NamedTuple):
    """What a counter-offer, and an offer, read and update."""

    pay: np.ndarray
    hiring: Hiring
    noise_scale: float
    offsets: np.ndarray
    flows: np.ndarray
    offer_memory: np.ndarray
    """Per lab, the weighted sum of its staff's offers' gains and their number (shape
    ``(2, n_labs)``), added to by each offer when ``Market.lab_gap_sensitivity`` > 0."""


NO_RAIDS = Raids(
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0),
    np.zeros(0, dtype=np.bool_),
)
NO_TIES = Ties(np.zeros(1, dtype=np.int32), np.zeros(0, dtype=np.int32))
