"""The talent-market model: a Mesa model whose researchers live in arrays.

Each step (length ``dt`` years, ``scenario.time.step``) covers the interval
``((k−1)·dt, k·dt]`` and does, in order:

1. scheduled events due this step (reorganisations, leadership changes, mission pivots, pay
   changes, hiring freezes, poaching raids: an event at time ``t`` is applied at the start of
   step ``round(t/dt) + 1``, the step that begins nearest to ``t``; docs/model.md §3), then
   random reorganisations (per lab, probability ``1 − exp(−reorg_rate·dt)``); a
   reorganisation breaks a share of in-lab ties;
2. each lab's reference pay ratio (a quantile of its staff's pay / market value) and each
   researcher's share of colleague ties per place are taken from the start of the step;
3. each researcher at a lab or in the pool has a Poisson number of candidate events at the
   bounding rate Λ = max(δ + λ_o + λ_e·(most search effort this step), λ_u) over the step
   (uniformization); a poaching raid due this step (never of a frozen lab) adds an offer at
   the start of the step to each researcher it courts;
4. researchers live their step one after another (in a hashed random order when a lab could
   fill), their raid offer first, then each candidate event: it is real with probability
   (rate of its kind in the researcher's current state)/Λ: an exogenous separation (rate δ),
   an outside opportunity (λ_o) or an offer (λ_e × search effort ``e``, 1 unless the
   scenario's ``[search]`` is on; see :func:`talentsim.compiled.search.offer_effort`) for the
   employed, an offer
   (λ_u) in the pool. The offering lab is drawn in proportion to recruiting intensity among
   labs with room at the start of the step that are not frozen, never the researcher's own;
   an offer so drawn from the researcher's former lab is made with probability that lab's
   ``labs.NAME.rehire_rate`` (1 by default: a lab courts its former staff like anyone else;
   raids are not thinned). Former staff are offered pay by the lab's return rule
   (``labs.NAME.return_pay``), not the new-hire premium. A frozen lab makes no offer of any
   kind: a raid due while its lab is frozen is skipped (logged in
   :attr:`TalentModel.shock_log` as ``"skipped_poaching_raid"``);
5. an offer's negotiation, in this order: the researcher's binary-logit choice against
   staying (with a switching cost for lab-to-lab moves); counter-offer: the lab being left
   may match the offer's pay (up to a limit), and the researcher stays if the raise reverses
   the decision under the same noise draw; capacity: the lab takes them only if a place of
   its room at the start of the step is left (each move in uses one; places freed this step
   wait for the next), so one kept by a counter-offer uses up no place (the others are
   counted as ``blocked_by_capacity``); acceptance: the move is agreed;
6. an outside opportunity is weighed by logit (exit to the pool), with counter-offers as in 5;
7. moves: each move is recorded and applied at once, and the researcher's next candidate
   event starts from the new state, so a researcher may move several times in a step and its
   own transitions are exact at any step length, given the rest of the market (others'
   places, pay, turmoil, reference pay, reputation) as at the start of the step;
8. reputation: each lab's recent attrition is updated with this step's voluntary departures
   (and, with search effort's ``gap = "lab"``, each lab's memory of its staff's offers, read
   at the start of the step for its effort, with this step's offers);
9. retirements from the pool and entries of new researchers into it;
10. clocks: tenure grows, turmoil and attachment decay by their half-lives;
11. a living colleague network (``network.formation_rate``, ``network.former_tie_half_life``;
    off by default), every ``network.update_interval`` (a whole number of steps):
    former-colleague ties fade, then researchers at labs form missing ties
    (:meth:`talentsim.network.ColleagueNetwork.upkeep`).

Every move is recorded (see :mod:`talentsim.results`).

Steps 3–8 are one compiled call (``talentsim.compiled.kernel_set().decide``); retirements
from step 9 share one compiled pass over everyone with the clocks and headcounts of step 10
(:func:`talentsim.compiled.retire_and_clock`), after the entries (this step's entrants do not
retire yet). The rules of single decisions are also in :mod:`talentsim.kernels`, applied to
arrays with the same compiled code.

Randomness: the run's SeedSequence has one child stream per purpose (set-up, network, events,
decisions, entries). Each decision draw is a keyed hash of (step, purpose, researcher) under a
key from the decision stream, so two variants of a scenario run with the same seed give the
same researcher the same draws whatever else happens (common random numbers; see
:func:`talentsim.compare`), and draws are computed only for the researchers who need them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from talentsim import compiled, kernels
from talentsim.compiled import records
from talentsim.network import ColleagueNetwork, Formation
from talentsim.population import GONE, NO_LAB, LabState, Population
from talentsim.scenario import (
    OUTSIDE,
    Event,
    HiringFreeze,
    PoachingRaid,
    Reorganisation,
    Scenario,
    as_scenario,
    require_mapping,
)
from talentsim.seeds import STREAMS, child_generator, make_seed_sequence
from talentsim.units import half_life_factor, rate_to_probability


@dataclass(frozen=True)
class Shock:
    """A shock the model applied: a scheduled event, or a random reorganisation.

    Attributes:
        step: The step it was applied in (at the start of the step, before the decisions).
        lab: The lab it concerns (for a poaching raid, the raiding lab).
        kind: The scheduled event's kind (``"reorganisation"``, ``"poaching_raid"``, ...),
            ``"random_reorganisation"``, or ``"skipped_poaching_raid"`` for a raid due while
            its lab was frozen (it made no offers).
        severity: Turmoil it added at ``lab`` (0 for events that add none).
        event: The scenario's event (None for a random reorganisation).
    """

    step: int
    lab: str
    kind: str
    severity: float
    event: Event | None = None


SKIPPED_RAID = "skipped_poaching_raid"
"""Shock kind of a poaching raid due while its lab was frozen (it made no offers)."""

_NO_RAIDS = tuple(records.NO_RAIDS)  # as the compiled step takes records (see _decide)
_NO_TIES = tuple(records.NO_TIES)

#: Event kinds, in the order of their integer codes in the model's move log.
MOVE_KINDS = ("entry", "hire", "quit", "return", "exit", "separation", "retirement")
ENTRY, HIRE, QUIT, RETURN, EXIT, SEPARATION, RETIREMENT = range(len(MOVE_KINDS))

#: Flow columns of the time series, in order.
FLOWS = (
    "hires",
    "quits",
    "returns",
    "exits",
    "separations",
    "entries",
    "retirements",
    "offers",
    "acceptances",
    "counter_offers",
    "counter_retained",
    "blocked_by_capacity",
)

#: Purposes of the per-step decision uniforms (each a keyed hash of step, purpose and row).
_DRAWS = compiled.PURPOSES
(
    D_EVENTS,
    D_EVENT_KIND,
    D_OFFER_LAB,
    D_ACCEPT,
    D_UNUSED,
    D_EXIT_ACCEPT,
    D_PRIORITY,
    D_COUNTER,
    D_RETIREMENT,
    D_RAID,
    D_REHIRE,
) = range(len(_DRAWS))

#: The model's per-step histories and the value of a step not yet recorded.
_HISTORY_FILL = {
    "headcount_history": 0,
    "flow_history": 0,
    "pay_history": np.nan,
    "turmoil_history": 0.0,
    "reputation_history": 0.0,
    "search_gap_history": 0.0,
}


class Researcher(mesa.Agent):
    """A researcher: a thin view over row ``row`` of the model's :class:`Population`."""

    def __init__(self, model: TalentModel, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def _pop(self) -> Population:
        return self.model.population

    @property
    def researcher(self) -> int:
        """This researcher's number in the ``researcher`` column of the events and researchers.

        It is the researcher's row in the population. Mesa's ``unique_id`` differs: the labs'
        agents are made first (ids 1 to the number of labs), so ``unique_id`` is
        ``researcher`` + number of labs + 1 when the agents are made together, as
        ``model.agents`` does.
        """
        return self.row

    @property
    def lab(self) -> str | None:
        """Name of the current lab, ``'outside'`` for the pool, None once retired."""
        code = int(self._pop.location[self.row])
        return None if code == GONE else self.model.place_names[code]

    @property
    def cohort(self) -> str:
        """Cohort name."""
        return self.model.cohort_names[int(self._pop.cohort[self.row])]

    @property
    def former_lab(self) -> str | None:
        """The lab this researcher last left, if any."""
        code = int(self._pop.last_lab[self.row])
        return None if code == NO_LAB else self.model.place_names[code]

    @property
    def pay(self) -> float:
        """Current pay (in units of a market value of 1)."""
        return float(self._pop.pay[self.row])

    @property
    def market_value(self) -> float:
        """Market value: pay at a lab with pay level 1 and no premium."""
        return float(self._pop.market_value[self.row])

    @property
    def tenure(self) -> float:
        """Years at the current place."""
        return float(self._pop.tenure[self.row])

    @property
    def attachment(self) -> float:
        """Attachment (0–1) to the former lab."""
        return float(self._pop.attachment[self.row])

    @property
    def orientation(self) -> float:
        """Preferred research orientation (0 product, 1 frontier)."""
        return float(self._pop.orientation[self.row])

    @property
    def colleagues(self) -> list[Researcher]:
        """The researchers this one has colleague ties with (empty without a network)."""
        network = self.model.network
        if network is None:
            return []
        agents = self.model.materialise_agents()
        return [agents[int(j)] for j in network.neighbours(self.row)]


class Lab(mesa.Agent):
    """A lab: a thin view over row ``index`` of the model's :class:`LabState`."""

    def __init__(self, model: TalentModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def _labs(self) -> LabState:
        return self.model.lab_state

    @property
    def name(self) -> str:
        """Lab name."""
        return self._labs.names[self.index]

    @property
    def lab(self) -> str:
        """The lab's name, as a researcher's ``lab`` is theirs.

        So Mesa reporters such as ``agent_reporters={"lab": "lab"}`` work on both agent types.
        """
        return self._labs.names[self.index]

    @property
    def headcount(self) -> int:
        """Researchers at the lab now."""
        return int(self.model.headcounts()[self.index])

    @property
    def pay_level(self) -> float:
        """Pay as a multiple of market value."""
        return float(self._labs.pay_level[self.index])

    @property
    def turmoil(self) -> float:
        """Current turmoil."""
        return float(self._labs.turmoil[self.index])

    @property
    def mission_clarity(self) -> float:
        """Current mission clarity."""
        return float(self._labs.mission_clarity[self.index])

    @property
    def reputation(self) -> float:
        """Recent attrition (share of staff who left, discounted by the memory half-life)."""
        return float(self._labs.reputation[self.index])


LAZY_AGENTS_ABOVE = 50_000
"""Above this many researchers at the start, their Mesa agents are made on first access."""

MAX_LAB_COLUMNS = 50
"""Above this many labs the DataCollector keeps one dict-valued ``headcounts`` column."""


def _headcount_of(place: int, model: TalentModel) -> int:
    return int(model.headcount_history[model.steps, place])


def _all_headcounts(model: TalentModel) -> dict[str, int]:
    counts = model.headcount_history[model.steps]
    return {name: int(c) for name, c in zip(model.place_names, counts, strict=True)}


def _history(name: str, what: str) -> Any:
    """A per-step history of the model: the recorded rows of its storage, as a view.

    Row k is step k (row 0: the start); rows run to the last step of the run so far
    (``model.n_steps``), which the storage may exceed (see ``TalentModel._extend_history``).
    """

    def recorded(model: TalentModel) -> np.ndarray:
        return model._history_storage[name][: model.n_steps + 1]

    return property(recorded, doc=f"{what}, one row per step (row 0: the start).")


class TalentModel(mesa.Model):
    """A talent market of researchers and labs, stepped with vectorised decisions.

    Args:
        scenario: A :class:`~talentsim.Scenario`, a path to a TOML scenario file, or a dict.
        seed: Seed of the run's one NumPy Generator (via ``SeedSequence``); None draws fresh
            entropy, which is recorded in :attr:`seed` so the run can be replayed.
        rng: Accepted for Mesa's tools (``mesa.batch_run`` passes ``rng=``); an integer is
            used as the seed. Give ``seed`` or ``rng``, not both.
        overrides: Dotted-path overrides applied to the scenario
            (``{"labs.MSL.pay_level": 3.0}``).
        lean: For runs read only through their arrays (calibration, :func:`talentsim.run` and
            :func:`talentsim.run_statistics.run_arrays` build one): no Mesa agent objects until
            ``model.agents`` is first read (as above ``LAZY_AGENTS_ABOVE`` researchers) and no
            ``DataCollector`` (``datacollector`` is None; the histories hold the same
            headcounts), and ``step()`` runs without Mesa's event list (see
            ``_step_without_event_list``: Mesa's ``run_for`` and ``run_until`` step it as
            Mesa would, ``schedule_event`` and ``schedule_recurring`` are refused). Results
            are identical; a flagship run costs ~30% less.
        **more_overrides: More overrides as keywords, so ``mesa.batch_run`` can vary them:
            ``parameters={"scenario": path, "labs.MSL.pay_level": [1, 2, 3]}``.

    Attributes:
        spec: The validated talentsim scenario. (``model.scenario`` stays Mesa's own scenario
            object so that Mesa's visualisation and batch tools keep working.)
        seed: The integer seed, or the entropy of an unseeded run.
        population: Researcher arrays (:class:`~talentsim.population.Population`).
        lab_state: Lab arrays (:class:`~talentsim.population.LabState`).
        datacollector: A Mesa ``DataCollector`` with a headcount reporter per lab (None for a
            ``lean`` model).
        shock_log: The shocks applied so far (:class:`Shock`), in the order applied:
            scheduled events and random reorganisations.
    """

    headcount_history = _history("headcount_history", "Headcount per place (labs, then outside)")
    flow_history = _history("flow_history", "Flows per place during the step (FLOWS × places)")
    pay_history = _history("pay_history", "Mean pay per lab at the end of the step")
    turmoil_history = _history("turmoil_history", "Turmoil per lab at the end of the step")
    reputation_history = _history("reputation_history", "Reputation per lab at step end")
    search_gap_history = _history(
        "search_gap_history",
        'Search effort\'s lab gap (``search.gap = "lab"``: the mean gain of the offers the '
        "lab's staff received, weighted by how recent) per lab at the end of the step, which "
        "the next step's effort uses; 0 with another gap rule",
    )

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping[str, Any],
        *,
        seed: int | None = None,
        rng: int | np.random.SeedSequence | None = None,
        overrides: Mapping[str, Any] | None = None,
        lean: bool = False,
        **more_overrides: Any,
    ) -> None:
        if seed is not None and rng is not None:
            raise ValueError("give seed or rng, not both")
        seed_sequence = make_seed_sequence(seed if seed is not None else rng)
        generator = np.random.Generator(np.random.PCG64(seed_sequence))
        super().__init__(rng=generator)
        if lean:
            self._step_without_event_list()
        spec = as_scenario(scenario)
        spec.check_terms()
        if overrides is not None:
            require_mapping(overrides, "overrides")
        all_overrides = {**(overrides or {}), **more_overrides}
        if all_overrides:
            spec = spec.with_overrides(all_overrides)
        self.spec: Scenario = spec
        self.seed: int = int(seed_sequence.entropy)  # type: ignore[arg-type]
        self.dt: float = spec.time.step
        self.n_steps: int = spec.time.n_steps

        self.lab_state = LabState.from_scenario(spec)
        self.place_names: list[str] = [*self.lab_state.names, OUTSIDE]
        self.cohort_names: list[str] = list(spec.cohorts)
        self._outside_code = self.lab_state.outside
        self._lab_code = {name: j for j, name in enumerate(self.place_names)}
        self._streams = {purpose: child_generator(seed_sequence, purpose) for purpose in STREAMS}
        self._hash_key = np.uint64(self._streams["decisions"].integers(0, 2**63))
        self._prepare_rates()
        self._prepare_schedule()

        total = sum(c.size for c in spec.cohorts.values())
        self.population = Population.empty(max(16, int(total * 1.25)))
        for index, cohort in enumerate(spec.cohorts.values()):
            if cohort.size == 0:
                continue
            last = NO_LAB if cohort.previous_lab is None else self._lab_code[cohort.previous_lab]
            self.population.add_cohort(
                index,
                cohort,
                cohort.size,
                self._lab_code[cohort.lab],
                last,
                0,
                spec,
                self.lab_state,
                self._streams["setup"],
            )

        self.initial_location = self.population.view("location").copy()
        self.network: ColleagueNetwork | None = self._build_network()
        self._kernels = compiled.kernel_set()
        self._switches = kernels.term_switches(spec.mechanisms, self.network is not None)
        self.labs = [Lab(self, j) for j in range(self.lab_state.n)]
        # Above LAZY_AGENTS_ABOVE researchers their Mesa agents are made on first access to
        # model.agents (or agents_by_type / agent_types): a million agent objects cost seconds
        # and hundreds of megabytes that a batch run never uses.
        self._researchers: list[Researcher] | None = None
        if self.population.size <= LAZY_AGENTS_ABOVE and not lean:
            self.materialise_agents()

        # Per step × place: headcount (end of step) and flows during the step.
        n_places = len(self.place_names)
        # Stored with room to grow: headcount_history etc. are views of the first
        # n_steps + 1 rows (see _extend_history).
        self._history_storage: dict[str, np.ndarray] = {
            "headcount_history": np.zeros((self.n_steps + 1, n_places), dtype=np.int64),
            "flow_history": np.zeros((self.n_steps + 1, len(FLOWS), n_places), dtype=np.int64),
            "pay_history": np.full((self.n_steps + 1, self.lab_state.n), np.nan),
            "turmoil_history": np.zeros((self.n_steps + 1, self.lab_state.n)),
            "reputation_history": np.zeros((self.n_steps + 1, self.lab_state.n)),
            "search_gap_history": np.zeros((self.n_steps + 1, self.lab_state.n)),
        }
        self._raids_due: list[PoachingRaid] = []
        self._move_log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._move_log_released = False  # (handed over: see move_log_by_step)
        self._advance_clocks_and_record(0, dt=0.0)

        self.datacollector: mesa.DataCollector | None = None
        if not lean:
            reporters: dict[str, Any] = {"time_years": "time_years"}
            if len(self.place_names) <= MAX_LAB_COLUMNS:
                for j, name in enumerate(self.place_names):
                    reporters[f"headcount_{name}"] = partial(_headcount_of, j)
            else:
                reporters["headcounts"] = _all_headcounts
            self.datacollector = mesa.DataCollector(model_reporters=reporters)
            self.datacollector.collect(self)

    # ----------------------------------------------------------------------------------------
    # Set-up helpers
    # ----------------------------------------------------------------------------------------

    def _prepare_rates(self) -> None:
        spec, dt = self.spec, self.dt
        market, outside = spec.market, spec.outside
        search = spec.search
        # With search effort the bounding rate uses the most effort anyone makes, and an
        # offer event is real with the researcher's own effort (compiled.decisions).
        effort_cap = search.effort_cap
        self._p_retirement = float(rate_to_probability(outside.retirement_rate, dt))
        self._attachment_decay = half_life_factor(market.attachment_half_life, dt)
        self._entry_means = np.array([c.entry_rate * dt for c in spec.cohorts.values()])
        self._has_entries = bool(np.any(self._entry_means > 0))
        self._entering = [  # the cohorts with entries: (index, cohort)
            (index, cohort)
            for index, cohort in enumerate(spec.cohorts.values())
            if self._entry_means[index] > 0
        ]
        labs = self.lab_state
        self._hiring = tuple(  # arrays that events change in place: one record for the run
            records.Hiring(
                capacity=labs.capacity,
                frozen_until=labs.frozen_until,
                recruiting_intensity=labs.recruiting_intensity,
                pay_level=labs.pay_level,
                new_hire_premium=labs.new_hire_premium,
                counter_offer_probability=labs.counter_offer_probability,
                counter_offer_limit=labs.counter_offer_limit,
                return_premium=labs.return_premium,
                return_old_pay=labs.return_old_pay,
                return_as_new_hire=labs.return_as_new_hire,
                rehire_rate=labs.rehire_rate,
            )
        )
        by_lab = float(search.gap == "lab")  # the lab's gap, else the researcher's own
        market_record = records.Market(
            noise_scale=float(market.noise_scale),
            switching_cost=float(market.switching_cost),
            outside_pay_ratio=float(outside.pay_ratio),
            outside_amenity=float(outside.amenity),
            attachment_bond_time=float(market.attachment_bond_time),
            separation_rate=float(market.separation_rate),
            offer_rate_employed=float(market.offer_rate_employed),
            offer_rate_outside=float(market.offer_rate_outside),
            opportunity_rate=float(outside.opportunity_rate),
            effort_cap=effort_cap,
            dt=float(dt),
            reputation_decay=float(self.lab_state.reputation_decay),
            counter_offers=bool(spec.mechanisms.counter_offers),
            searching=bool(search.on),
            gap_sensitivity=(1.0 - by_lab) * float(search.gap_sensitivity),  # one's own gap
            gap_over_market=search.gap == "market",
            turmoil_sensitivity=float(search.turmoil_sensitivity),
            effort_min=float(search.effort_min),
            effort_max=float(search.effort_max),
            lab_gap_sensitivity=by_lab * float(search.gap_sensitivity),
            offer_memory_decay=float(self.lab_state.offer_memory_decay),
        )
        self._market = tuple(market_record)  # (see _decide)
        self._lab_gap = market_record.lab_gap_sensitivity > 0  # (search.gap = "lab")
        self._no_reference = np.full(self.lab_state.n, np.nan)  # no fairness: no reference pay
        self._column_views: tuple[records.State, records.Researchers] | None = None
        none = np.zeros(0, dtype=np.int64)
        self._workspace = records.Workspace(none, none)
        if not spec.mechanisms.random_reorganisations:
            self.lab_state.reorg_probability[:] = 0.0

    def _build_network(self) -> ColleagueNetwork | None:
        spec = self.spec
        self._formation: Formation | None = None  # a living network's rule (None: static)
        self._network_every = 1  # steps between its updates
        former = np.array([c.former_colleague_ties for c in spec.cohorts.values()], dtype=np.int64)
        if not spec.mechanisms.term_on("peers") or (spec.network.degree == 0 and not former.any()):
            return None
        pop, rules = self.population, spec.network
        if rules.formation_rate > 0 or rules.former_tie_half_life is not None:
            self._network_every = spec.network_update_every
            self._formation = Formation.per_step(
                rules.degree,
                rules.formation_rate,
                rules.closure,
                rules.former_tie_half_life,
                self._network_every * self.dt,
                int(self._streams["network"].integers(0, 2**63)),
            )
        forms = self._formation is not None and self._formation.forms
        network = ColleagueNetwork.generate(
            pop.view("location"),
            0.0 if forms else rules.degree,  # with formation, in-lab ties by its rule
            former[pop.view("cohort")],
            pop.view("last_lab"),
            self.lab_state.n,
            self._streams["network"],
        )
        if forms and self._formation is not None:
            network.settle(pop.view("location"), self.lab_state.n, self._formation)
        return network

    def _prepare_schedule(self) -> None:
        self._schedule: dict[int, list[Any]] = {}
        for step, event in self.spec.event_schedule():  # (the rule: Scenario.event_schedule)
            self._schedule.setdefault(step, []).append(event)
        self.shock_log: list[Shock] = []

    @property
    def schedule(self) -> list[tuple[int, Event]]:
        """The scenario's events with the step each is applied in, in time order.

        As :meth:`talentsim.scenario.Scenario.event_schedule` gives them: an event at time t
        is applied at the start of the step that begins nearest to t (so at most dt/2 off),
        and one in the last half step at the start of the last step.
        """
        return [(step, event) for step in sorted(self._schedule) for event in self._schedule[step]]

    # ----------------------------------------------------------------------------------------
    # Public helpers
    # ----------------------------------------------------------------------------------------

    def materialise_agents(self) -> list[Researcher]:
        """Create the Mesa agents of all researchers now, if they are not made yet.

        Called automatically by ``model.agents``, ``agents_by_type`` and ``agent_types``.
        Retired researchers' agents are made and removed, as if created eagerly.

        Returns:
            The researchers' agents, indexed by population row.
        """
        if self._researchers is None:
            location = self.population.view("location")
            self._researchers = [Researcher(self, row) for row in range(self.population.size)]
            for row in np.flatnonzero(location == GONE):
                self._researchers[row].remove()
        return self._researchers

    @property
    def agents(self):
        """All agents (labs and researchers); researchers' agents are made on first access."""
        self.materialise_agents()
        return super().agents

    @property
    def agents_by_type(self):
        """Agents by type; researchers' agents are made on first access."""
        self.materialise_agents()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        """Agent types; researchers' agents are made on first access."""
        self.materialise_agents()
        return super().agent_types

    @property
    def time_years(self) -> float:
        """Simulated time since the start, in years."""
        return self.steps * self.dt

    def headcounts(self) -> np.ndarray:
        """Researchers per place now: one entry per lab, then the outside pool."""
        location = self.population.view("location")
        # GONE is −1: shifting by one counts the retired in bin 0, which is dropped
        return np.bincount(location + 1, minlength=len(self.place_names) + 1)[1:]

    def run(self, steps: int | None = None, progress: Any = None) -> None:
        """Run the scenario's duration (or ``steps`` more steps).

        Args:
            steps: Number of steps; default: until the scenario's duration is reached.
            progress: Optional callable called with the number of steps just done.
        """
        remaining = self.n_steps - self.steps if steps is None else steps
        if self.steps + remaining > self.n_steps:
            self._extend_history(self.steps + remaining)
        for _ in range(max(0, remaining)):
            self.step()
            if progress is not None:
                progress(1)

    # ----------------------------------------------------------------------------------------
    # The step
    # ----------------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance the market by one step (see the module docstring for the order)."""
        k = self.steps  # Mesa has already counted this step
        if k > self.n_steps:
            self._extend_history(k)
        self._apply_events(k)
        offsets = compiled.step_offsets(self._hash_key, k)
        self._decide(k, offsets)
        eligible = self.population.size  # this step's entrants do not retire yet
        entered = self._entries(k)
        self._advance_clocks_and_record(k, retire=(eligible, offsets[D_RETIREMENT]))
        if self._formation is not None and self.network is not None and self._network_due(k):
            self.network.upkeep(
                self.population.view("location"), self.lab_state.n, self._formation, k
            )
        for record in entered:  # logged after the retirements, as they happen after them
            self._record(*record)
        if self.datacollector is not None:  # (None in a lean model)
            self.datacollector.collect(self)
        if k >= self.n_steps:
            self.running = False

    # ---- lean models (issue 17): Python overhead outside the step, nothing else ----------------

    def _step_without_event_list(self) -> None:
        """Make ``step()`` count and run the step directly, without Mesa's event list.

        Mesa 3 runs each ``step()`` as an event of its default schedule (an event popped,
        executed and rescheduled: ~20 µs a step, a tenth of a flagship run). A lean model
        stops that schedule and steps itself, counting ``steps`` and ``time`` as Mesa does.
        Having no event list, it steps for Mesa's ``run_for`` and ``run_until`` (one step per
        unit of Mesa time, as Mesa would) and refuses ``schedule_event`` and
        ``schedule_recurring`` with a message (it would never run them; before 4 December 2026
        it accepted them silently, and ``run_for`` moved the clock without stepping). With a
        Mesa whose internals differ, the model keeps Mesa's own stepping.
        """
        schedule = getattr(self, "_default_schedule", None)
        if not (callable(getattr(schedule, "stop", None)) and hasattr(self, "_user_step")):
            return  # pragma: no cover - another Mesa: keep its clock
        schedule.stop()  # type: ignore[union-attr]
        self.step = self._lean_step  # type: ignore[method-assign]
        self.run_for = self._lean_run_for
        self.run_until = self._lean_run_until
        self.schedule_event = self._no_event_list
        self.schedule_recurring = self._no_event_list

    def _lean_step(self) -> None:
        """One step of a lean model: Mesa's count and clock, then :meth:`step`."""
        self.steps += 1
        self.time += 1.0
        TalentModel.step(self)

    def _lean_run_for(self, duration: float) -> None:
        """Mesa's ``run_for`` on a lean model: the steps due in ``duration`` units of time."""
        self._lean_run_until(self.time + duration)

    def _lean_run_until(self, end_time: float) -> None:
        """Mesa's ``run_until`` on a lean model, as Mesa runs it.

        A step at each whole time in (``time``, ``end_time``], then the clock at ``end_time``.
        """
        now = float(self.time)  # type: ignore[has-type]  # (Mesa sets time untyped)
        if now > end_time:
            warnings.warn(
                f"end_time {end_time} is before the model's time {now}",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        while math.floor(now) + 1.0 <= end_time:
            now = math.floor(now) + 1.0
            self.steps += 1
            self.time = now
            TalentModel.step(self)
        self.time = float(end_time)

    def _no_event_list(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "a lean model (TalentModel(..., lean=True)) steps itself without Mesa's event "
            "list, so it cannot run scheduled events; create the model without lean=True to "
            "use schedule_event or schedule_recurring"
        )

    def _network_due(self, k: int) -> bool:
        """Whether step ``k`` ends with an update of a living network (every k-th step)."""
        return k % self._network_every == 0

    def _apply_events(self, k: int) -> None:
        labs = self.lab_state
        self._raids_due = []
        for event in self._schedule.get(k, ()):
            j = self._lab_code[event.lab]
            factor, turmoil = labs.apply_event(event, j)
            self.shock_log.append(Shock(k, event.lab, event.kind, float(turmoil), event))
            if factor != 1.0:
                staff = self.population.view("location") == j
                self.population.view("pay")[staff] *= factor
            match event:
                case Reorganisation():
                    self._break_ties(j)
                case HiringFreeze(duration=duration):
                    forever = np.iinfo(np.int64).max  # also holds if the run is extended
                    end = forever if duration is None else k - 1 + round(duration / self.dt)
                    labs.frozen_until[j] = max(labs.frozen_until[j], end)
                case PoachingRaid():
                    self._raids_due.append(event)
        self._skip_frozen_raids(k)
        shocks = self._streams["events"].random(labs.n) < labs.reorg_probability
        for shocked in np.flatnonzero(shocks):
            severity = float(labs.reorg_severity[shocked])
            self._reorganise(int(shocked), severity)
            self.shock_log.append(Shock(k, labs.names[shocked], "random_reorganisation", severity))

    def _skip_frozen_raids(self, k: int) -> None:
        """Drop the raids due at step ``k`` of labs frozen then (after all of k's events).

        A frozen lab makes no offers of any kind; a skipped raid's entry in the shock log
        becomes ``"skipped_poaching_raid"``.
        """
        frozen = self.lab_state.frozen_until
        skipped = {id(raid) for raid in self._raids_due if frozen[self._lab_code[raid.lab]] >= k}
        if not skipped:
            return
        self._raids_due = [raid for raid in self._raids_due if id(raid) not in skipped]
        for index, shock in enumerate(self.shock_log):
            if shock.step == k and id(shock.event) in skipped:
                self.shock_log[index] = replace(shock, kind=SKIPPED_RAID)

    def _reorganise(self, lab: int, severity: float) -> None:
        """Turmoil jumps by ``severity`` and a share of the ties inside the lab break."""
        self.lab_state.turmoil[lab] += severity
        self._break_ties(lab)

    def _break_ties(self, lab: int) -> None:
        if self.network is not None:
            self.network.break_ties(
                self.population.view("location"),
                lab,
                self.spec.network.reorg_tie_break,
                self._streams["network"],
            )

    def _reference_ratio(self) -> np.ndarray:
        """Each lab's reference pay ratio now (NaN for all without fairness)."""
        pop, labs, spec = self.population, self.lab_state, self.spec
        if not spec.mechanisms.term_on("fairness"):
            return self._no_reference
        return labs.reference_ratio(
            pop.view("location"),
            pop.view("pay"),
            pop.view("market_value"),
            spec.market.fairness_quantile,
        )

    def _context(self) -> kernels.DecisionContext:
        """Reference pay and tie shares from the state now (for utilities outside the step)."""
        if self.network is not None:
            self.network.set_locations(self.population.view("location"))
        return kernels.DecisionContext(
            pop=self.population,
            labs=self.lab_state,
            mechanisms=self.spec.mechanisms,
            outside_amenity=self.spec.outside.amenity,
            reference_ratio=self._reference_ratio(),
            network=self.network,
        )

    def _decide(self, k: int, offsets: np.ndarray) -> None:
        """Steps 3–8 of the module docstring, in one compiled function (``decide``)."""
        labs = self.lab_state
        if self.network is not None:  # shares asked of the network read the current places
            self.network.set_locations(self.population.view("location"))
        state, researchers = self._columns()
        record = self._kernels.decide(  # records as plain tuples (see compiled.decisions.decide)
            k,
            tuple(state),
            tuple(researchers),
            tuple(kernels.lab_columns(labs, self._reference_ratio())),
            self._hiring,
            self.headcount_history[k - 1, : labs.n],
            self._raids(self._raids_due),
            _NO_TIES if self.network is None else tuple(records.Ties(*self.network.csr())),
            self._switches,
            self.population.weights,
            self._market,
            offsets,
            self.flow_history[k],
            labs.offer_memory,
            tuple(self._workspace),
        )
        self._record(*record)

    def _columns(self) -> tuple[records.State, records.Researchers]:
        """The population columns the compiled step reads, as views kept between steps.

        Rebuilt when rows are added, when the arrays are reallocated, and after the model is
        copied or unpickled (a copy's views are no longer views of its population).
        """
        pop = self.population
        views = self._column_views
        if not (
            views is not None
            and views[0].location.base is pop.location
            and views[0].location.shape[0] == pop.size
        ):
            state = records.State(*(pop.view(name) for name in records.State._fields))
            self._column_views = views = (
                state,
                records.Researchers(*(pop.view(name) for name in records.Researchers._fields)),
            )
            if self._workspace.candidates.shape[0] < pop.capacity:
                # the step's scratch arrays, as long as the population's allocation
                capacity = pop.capacity
                self._workspace = records.Workspace(
                    np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64)
                )
        return views

    def _raids(self, raids: list[PoachingRaid]) -> tuple[np.ndarray, ...]:
        """Poaching raids as the arrays of compiled.raid_offers (a Raids record as a tuple)."""
        if not raids:
            return _NO_RAIDS
        code, labs = self._lab_code, self.lab_state
        record = records.Raids(
            np.array([code[raid.lab] for raid in raids], dtype=np.int64),
            np.array([code[raid.target] for raid in raids], dtype=np.int64),
            np.array([raid.offers for raid in raids], dtype=np.int64),
            np.array(
                [
                    labs.new_hire_premium[code[raid.lab]] if raid.premium is None else raid.premium
                    for raid in raids
                ],
                dtype=float,
            ),
            np.array([raid.former_staff_first for raid in raids], dtype=np.bool_),
        )
        return tuple(record)

    def _record(self, codes: np.ndarray, kind: np.ndarray, values: np.ndarray) -> None:
        """Keep moves in the log, as the compiled step returns them (see :meth:`move_log`)."""
        if kind.shape[0]:
            self._move_log.append((codes, kind, values))

    def _outside_record(
        self, k: int, rows: np.ndarray, origin: int, destination: int, kind: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The log record of entries into or retirements from the pool (pay as after)."""
        pop = self.population
        return compiled.outside_record(
            k,
            rows,
            pop.cohort,
            pop.pay,
            (origin, destination),
            kind,
            kind == ENTRY,
            self._kernels.n_values,
        )

    def _entries(self, k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """New researchers enter the pool (a Poisson number per cohort); their log records."""
        records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if not self._has_entries:
            return records  # (a Poisson draw with mean 0 takes nothing from the stream)
        pop, outside = self.population, self._outside_code
        entries = self._streams["entries"]
        counts = entries.poisson(self._entry_means)
        for index, cohort in self._entering:
            count = counts[index]
            if count == 0:
                continue
            rows = pop.add_cohort(
                index, cohort, int(count), outside, NO_LAB, k, self.spec, self.lab_state, entries
            )
            records.append(self._outside_record(k, rows, GONE, outside, ENTRY))
            self.flow_history[k, FLOWS.index("entries"), outside] += rows.shape[0]
            if self._researchers is not None:  # entrants' Mesa agents (a handful per step)
                self._researchers.extend(Researcher(self, int(row)) for row in rows)
        return records

    def _retired(self, k: int, rows: np.ndarray) -> None:
        """Record the researchers who retired from the pool this step."""
        outside = self._outside_code
        self._record(*self._outside_record(k, rows, outside, GONE, RETIREMENT))
        self.flow_history[k, FLOWS.index("retirements"), outside] += rows.shape[0]
        if self._researchers is not None:
            for row in rows:  # few per step: Mesa's registry removes agents one by one
                self._researchers[row].remove()

    def _advance_clocks_and_record(
        self, k: int, dt: float | None = None, retire: tuple[int, np.uint64] | None = None
    ) -> None:
        """Retirements, advance the clocks by ``dt`` (default: one step), record step k.

        With ``retire=(rows, offset)``, researchers in the pool among the first ``rows`` rows
        retire with the retirement probability (hashed draws under ``offset``). Tenure grows
        and attachment decays for everyone (a retired researcher's clock is never read
        again); turmoil decays. The same pass over the population counts headcounts and pay
        per place.
        """
        labs = self.lab_state
        advance = dt is None
        eligible, offset = (0, np.uint64(0)) if retire is None else retire
        state, researchers = self._columns()
        n_retired = compiled.retire_and_clock(
            state.location,
            state.pay,
            state.tenure,
            researchers.attachment,
            (eligible, self._outside_code, self._p_retirement, np.uint64(offset)),
            self.dt if advance else 0.0,
            self._attachment_decay if advance else 1.0,
            self.headcount_history[k],
            self.pay_history[k],
            self._workspace[0],
        )
        if n_retired:
            self._retired(k, self._workspace[0][:n_retired])
        if advance:
            labs.turmoil *= labs.turmoil_decay
        self.turmoil_history[k] = labs.turmoil
        self.reputation_history[k] = labs.reputation
        if self._lab_gap:
            self.search_gap_history[k] = labs.search_gap()

    def _extend_history(self, last_step: int) -> None:
        """Make the histories reach ``last_step`` (and the run's length with them).

        Each history is a view of the first ``n_steps + 1`` rows of a storage array that may
        have spare rows (see :func:`_history`). Storage that is full is copied into one at
        least twice as long, so stepping past the scenario's duration costs amortised constant
        time per step, not a copy of every history per step.
        """
        if last_step + 1 <= self.headcount_history.shape[0]:
            return
        storage = self._history_storage
        capacity = storage["headcount_history"].shape[0]
        if last_step + 1 > capacity:
            capacity = max(last_step + 1, 2 * capacity)
            for name, fill in _HISTORY_FILL.items():
                old = storage[name]
                storage[name] = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
                storage[name][: old.shape[0]] = old
        self.n_steps = max(self.n_steps, last_step)
        self.running = True

    @property
    def term_names(self) -> tuple[str, ...]:
        """The utility terms of this model's step, in registry order (``gain_<term>``)."""
        return self._kernels.names

    def move_log(self) -> dict[str, np.ndarray]:
        """All recorded moves as concatenated arrays (codes, not names).

        Keys: ``step``, ``researcher``, ``cohort``, ``origin``, ``destination``, ``kind``
        (see :data:`MOVE_KINDS`), ``tenure`` (at the place left; NaN if not a lab),
        ``pay_before``, ``pay_after`` and ``gain_<term>`` for each utility term
        (:func:`talentsim.terms.names`, as when the model was made).

        Raises:
            RuntimeError: if the log was handed over (``move_log_by_step(release=True)``).
        """
        self._check_move_log()
        if not self._move_log:
            empty: dict[str, np.ndarray] = {}
            return empty
        codes = np.concatenate([r[0] for r in self._move_log], axis=1)
        kind = np.concatenate([r[1] for r in self._move_log])
        values = np.concatenate([r[2] for r in self._move_log], axis=1)
        return _log_columns(codes, kind, values, self._kernels.names)

    def move_count(self) -> int:
        """The number of moves recorded so far (the length of :meth:`move_log`'s arrays)."""
        self._check_move_log()
        return sum(record[1].shape[0] for record in self._move_log)

    def move_log_by_step(self, *, release: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """The recorded moves one step at a time: :meth:`move_log` cut at each step's end.

        Yields one dict (the keys of :meth:`move_log`) per step with moves, in step order;
        within a step the moves are in the order recorded.

        Args:
            release: Hand the log over: each step's records leave the model once yielded, so
                a caller converting them (``RunResult.from_model(model, release=True)``, as
                ``ts.run`` does) never holds the log twice. Afterwards the model no longer
                has its log (``move_log`` raises), though it can still be stepped.
        """
        self._check_move_log()
        records = self._move_log
        if release:
            self._move_log = []
            self._move_log_released = True
        first = 0
        while first < len(records):
            step = records[first][0][0, 0]
            last = first + 1
            while last < len(records) and records[last][0][0, 0] == step:
                last += 1
            part = records[first:last]
            if release:
                records[first:last] = [None] * (last - first)  # type: ignore[list-item]
            first = last
            if len(part) == 1:
                yield _log_columns(*part[0], self._kernels.names)
            else:
                yield _log_columns(
                    np.concatenate([r[0] for r in part], axis=1),
                    np.concatenate([r[1] for r in part]),
                    np.concatenate([r[2] for r in part], axis=1),
                    self._kernels.names,
                )
            del part

    def _check_move_log(self) -> None:
        if self._move_log_released:
            raise RuntimeError(
                "this model's move log was handed over to a RunResult "
                "(RunResult.from_model(..., release=True)); read the result's events instead"
            )


def _log_columns(
    codes: np.ndarray, kind: np.ndarray, values: np.ndarray, terms: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The columns of :meth:`TalentModel.move_log` from the compiled step's records.

    ``terms`` names the utility terms of the gains, in their order.
    """
    log = {
        "step": codes[0].astype(np.int64),  # int64 like every table's step (joins in polars)
        "researcher": codes[1].astype(np.int64),
        "cohort": codes[2],
        "origin": codes[3],
        "destination": codes[4],
        "kind": kind,
        "tenure": values[0],
        "pay_before": values[1],
        "pay_after": values[2],
    }
    for t, name in enumerate(terms):
        log[f"gain_{name}"] = values[compiled.VALUE_ROWS_BEFORE_GAINS + t]
    return log
