"""Structure-of-arrays state of researchers and labs.

The model owns one :class:`Population` (a row per researcher who ever existed) and one
:class:`LabState` (a row per lab). Mesa agents are thin views over these rows; every step's
decisions are computed on whole arrays (see :mod:`talentsim.kernels`).

Locations: ``0 .. n_labs-1`` are labs, ``n_labs`` is the outside pool, ``GONE`` (−1) means
retired from the field (the row is kept so that event records stay valid).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from talentsim import compiled, terms
from talentsim.scenario import (
    Cohort,
    Distribution,
    Event,
    Fixed,
    LeadershipChange,
    LogNormal,
    MissionPivot,
    Normal,
    PayChange,
    Reorganisation,
    Scenario,
    Uniform,
)
from talentsim.units import half_life_factor, rate_to_probability

GONE = -1
NO_LAB = -1

_FLOAT_FIELDS = (
    "market_value",
    "pay",
    "orientation",
    "tenure",
    "attachment",
    "last_lab_pay",
)
_INT_FIELDS = ("location", "cohort", "last_lab", "joined_step")


def draw(dist: Distribution, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` values from a scenario distribution."""
    match dist:
        case Fixed(value=value):
            return np.full(size, value, dtype=float)
        case Normal(mean=mean, sd=sd, low=low, high=high):
            values = rng.normal(mean, sd, size)
            if low is not None or high is not None:
                values = np.clip(values, low, high)
            return values
        case LogNormal(median=median, sigma=sigma):
            return median * np.exp(rng.normal(0.0, sigma, size))
        case Uniform(low=low, high=high):
            return rng.uniform(low, high, size)
    raise TypeError(f"unknown distribution {dist!r}")  # pragma: no cover - schema forbids it


@dataclass
class Population:
    """Researcher state, one row per researcher (growable).

    The preference weights are one array, ``weights``, with a row per weighted utility term
    (:func:`talentsim.terms.weighted`, in that order; ``weight_rows`` maps a term's name to
    its row); ``view("w_<term>")`` is that term's row. It is stored in column-major
    (Fortran) order: a researcher's weights are next to each other in memory, so a decision
    reads them in one cache line rather than one per term (about 12% of a step of the
    flagship at 10^6 researchers, whose decisions read researchers' rows out of order).
    ``draw_order`` is the order in which a cohort's weights are drawn
    (:func:`talentsim.terms.weight_draw_order`).
    """

    location: np.ndarray
    cohort: np.ndarray
    last_lab: np.ndarray
    joined_step: np.ndarray
    market_value: np.ndarray
    pay: np.ndarray
    weights: np.ndarray
    orientation: np.ndarray
    tenure: np.ndarray
    attachment: np.ndarray
    last_lab_pay: np.ndarray
    weight_rows: dict[str, int] = field(default_factory=dict)
    draw_order: tuple[str, ...] = ()
    size: int = 0

    @classmethod
    def empty(cls, capacity: int) -> Population:
        """Allocate room for ``capacity`` researchers."""
        population = cls.__new__(cls)
        population.weight_rows = {term.name: row for row, term in enumerate(terms.weighted())}
        population.draw_order = tuple(term.name for term in terms.weight_draw_order())
        population.weights = np.zeros(
            (len(population.weight_rows), capacity), dtype=float, order="F"
        )
        for name in _FLOAT_FIELDS:
            setattr(population, name, np.zeros(capacity, dtype=float))
        for name in _INT_FIELDS:
            setattr(population, name, np.full(capacity, GONE, dtype=np.int32))
        population.size = 0
        return population

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return int(self.location.shape[0])

    def view(self, name: str) -> np.ndarray:
        """The used part of one field (a view, not a copy); ``w_<term>`` is a term's weights."""
        if name.startswith("w_") and name[2:] in self.weight_rows:
            return self.weights[self.weight_rows[name[2:]], : self.size]
        column: np.ndarray = getattr(self, name)
        return column[: self.size]

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more rows, doubling the allocation when needed."""
        needed = self.size + extra
        if needed <= self.capacity:
            return
        new_capacity = max(needed, 2 * self.capacity, 16)
        for name in (*_FLOAT_FIELDS, *_INT_FIELDS):
            old = getattr(self, name)
            fill = 0.0 if name in _FLOAT_FIELDS else GONE
            grown = np.full(new_capacity, fill, dtype=old.dtype)
            grown[: self.size] = old[: self.size]
            setattr(self, name, grown)
        weights = np.zeros((self.weights.shape[0], new_capacity), order="F")
        weights[:, : self.size] = self.weights[:, : self.size]
        self.weights = weights

    def add_cohort(
        self,
        cohort_index: int,
        cohort: Cohort,
        count: int,
        location: int,
        last_lab: int,
        step: int,
        scenario: Scenario,
        labs: LabState,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Append ``count`` researchers of a cohort at ``location``; return their rows."""
        self.reserve(count)
        new = slice(self.size, self.size + count)  # the new rows (a slice: faster than indices)
        rows = np.arange(self.size, self.size + count)
        self.size += count
        self.location[new] = location
        self.cohort[new] = cohort_index
        self.last_lab[new] = last_lab
        self.joined_step[new] = step
        value = draw(cohort.market_value, count, rng)
        self.market_value[new] = np.maximum(value, 1e-9)
        for name in self.draw_order:
            distribution = getattr(cohort.weights, name)
            if type(distribution) is Fixed:  # the same values, no array made (no draw either)
                self.weights[self.weight_rows[name], new] = float(distribution.value)
            else:
                self.weights[self.weight_rows[name], new] = draw(distribution, count, rng)
        self.orientation[new] = np.clip(draw(cohort.orientation, count, rng), 0.0, 1.0)
        self.tenure[new] = cohort.tenure if location != labs.outside else 0.0
        self.attachment[new] = cohort.attachment if last_lab != NO_LAB else 0.0
        # pay when they left the former lab: its pay level, for those who start with one
        former_level = labs.pay_level[last_lab] if last_lab != NO_LAB else 0.0
        self.last_lab_pay[new] = former_level * self.market_value[new]
        if location == labs.outside:
            self.pay[new] = scenario.outside.pay_ratio * self.market_value[new]
        else:
            premium = labs.new_hire_premium[location] if cohort.hired_at_premium else 0.0
            self.pay[new] = labs.pay_level[location] * (1.0 + premium) * self.market_value[new]
        return rows


@dataclass
class LabState:
    """Lab state, one row per lab (fixed number of labs)."""

    names: list[str]
    pay_level: np.ndarray
    new_hire_premium: np.ndarray
    mission_clarity: np.ndarray
    orientation: np.ndarray
    turmoil: np.ndarray
    turmoil_decay: np.ndarray
    capacity: np.ndarray
    recruiting_intensity: np.ndarray
    reorg_probability: np.ndarray
    reorg_severity: np.ndarray
    amenity: np.ndarray
    counter_offer_probability: np.ndarray
    counter_offer_limit: np.ndarray
    return_premium: np.ndarray
    return_old_pay: np.ndarray
    return_as_new_hire: np.ndarray
    rehire_rate: np.ndarray
    reputation: np.ndarray
    reputation_decay: float
    frozen_until: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    offer_memory: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    """Search effort's ``gap = "lab"``: per lab, the sum of its staff's offers' utility gains
    (row 0) and their number (row 1), each weighted down by the half-life
    ``search.gap_memory``; updated in place by the step."""
    offer_memory_decay: float = 1.0
    """The factor a step weighs the offer memory down by (``0.5 ** (dt / gap_memory)``)."""

    def search_gap(self) -> np.ndarray:
        """Each lab's gap for search effort's ``gap = "lab"`` (0 before the first offer).

        The mean utility gain of the offers its staff received, weighted by how recent
        (:attr:`offer_memory`).
        """
        total, count = self.offer_memory
        return np.divide(total, count, out=np.zeros(self.n), where=count > 0)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> LabState:
        """Build lab arrays from a scenario (per-step probabilities for its step length)."""
        labs = list(scenario.labs.values())
        dt = scenario.time.step

        def column(values: list[float]) -> np.ndarray:
            return np.asarray(values, dtype=float)

        return cls(
            names=scenario.lab_names,
            pay_level=column([lab.pay_level for lab in labs]),
            new_hire_premium=column([lab.new_hire_premium for lab in labs]),
            mission_clarity=column([lab.mission_clarity for lab in labs]),
            orientation=column([lab.orientation for lab in labs]),
            turmoil=column([lab.turmoil for lab in labs]),
            turmoil_decay=column([half_life_factor(lab.recovery_half_life, dt) for lab in labs]),
            capacity=column([np.inf if lab.capacity is None else lab.capacity for lab in labs]),
            recruiting_intensity=column([lab.recruiting_intensity for lab in labs]),
            reorg_probability=np.asarray(
                rate_to_probability(column([lab.reorg_rate for lab in labs]), dt), dtype=float
            ),
            reorg_severity=column([lab.reorg_severity for lab in labs]),
            amenity=column([lab.amenity for lab in labs]),
            counter_offer_probability=column([lab.counter_offer_probability for lab in labs]),
            counter_offer_limit=column([lab.counter_offer_limit for lab in labs]),
            return_premium=column([lab.return_premium for lab in labs]),
            return_old_pay=np.array([lab.return_pay == "old" for lab in labs], dtype=np.bool_),
            return_as_new_hire=np.array(
                [lab.return_pay == "new_hire" for lab in labs], dtype=np.bool_
            ),
            rehire_rate=column([lab.rehire_rate for lab in labs]),
            reputation=np.zeros(len(labs)),
            reputation_decay=half_life_factor(scenario.market.reputation_half_life, dt),
            frozen_until=np.zeros(len(labs), dtype=np.int64),
            offer_memory=np.zeros((2, len(labs))),
            offer_memory_decay=half_life_factor(scenario.search.gap_memory, dt),
        )

    def reference_ratio(
        self, location: np.ndarray, pay: np.ndarray, market_value: np.ndarray, quantile: float
    ) -> np.ndarray:
        """Each lab's reference pay ratio: the ``quantile`` of its researchers' pay / market value.

        Uses the nearest rank at or below ``quantile·(count − 1)`` in each lab's sorted ratios;
        NaN for an empty lab. One compiled pass groups the staff by lab; each group is
        partitioned once.
        """
        return compiled.lab_quantiles(location, pay, market_value, self.n, quantile)

    def apply_event(self, event: Event, j: int) -> tuple[float, float]:
        """Apply what a scheduled event does to lab ``j``'s parameters.

        Reorganisations and leadership changes raise turmoil; leadership changes and mission
        pivots restate the mission; pay changes set the pay level and new-hire premium.
        Hiring freezes, poaching raids and the breaking of ties are left to the caller (they
        act on the population or the clock).

        Returns:
            ``(factor, turmoil)``: the factor by which the pay of the lab's current staff
            changes (1 unless a pay change applies to everyone), and the turmoil added.
        """
        factor, turmoil = 1.0, 0.0
        match event:
            case Reorganisation(severity=severity):
                turmoil = severity
            case LeadershipChange(severity=severity, mission_clarity=clarity, orientation=side):
                turmoil = severity
                self._restate(j, clarity, side)
            case MissionPivot(mission_clarity=clarity, orientation=side):
                self._restate(j, clarity, side)
            case PayChange(pay_level=level, new_hire_premium=premium, applies_to=who):
                if level is not None:
                    if who == "everyone":
                        factor = level / self.pay_level[j]
                    self.pay_level[j] = level
                if premium is not None:
                    self.new_hire_premium[j] = premium
        self.turmoil[j] += turmoil
        return factor, turmoil

    def _restate(self, j: int, clarity: float | None, orientation: float | None) -> None:
        if clarity is not None:
            self.mission_clarity[j] = clarity
        if orientation is not None:
            self.orientation[j] = orientation

    @property
    def n(self) -> int:
        """Number of labs."""
        return len(self.names)

    @property
    def outside(self) -> int:
        """Location code of the outside pool."""
        return len(self.names)
