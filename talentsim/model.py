"""The talent-market model: a Mesa model whose researchers live in arrays.

Each step (length ``dt`` years, ``scenario.time.step``) covers the interval
``((k−1)·dt, k·dt]`` and does, in order:

1. scheduled events due in the interval (reorganisations, leadership changes, mission pivots,
   pay changes, hiring freezes, poaching raids), then random reorganisations (per lab,
   probability ``1 − exp(−reorg_rate·dt)``); a reorganisation breaks a share of in-lab ties;
2. each lab's reference pay ratio (a quantile of its staff's pay / market value) and each
   researcher's share of colleague ties per place are taken from the start of the step;
3. exogenous separations of employed researchers (lab → outside pool);
4. offers: each employed researcher receives one with probability ``1 − exp(−λ_e·dt)``, each
   researcher in the pool with ``1 − exp(−λ_u·dt)``; the offering lab is drawn in proportion to
   recruiting intensity among labs with room that are not frozen, never the researcher's own;
   a poaching raid replaces the regular offers of the researchers it targets;
5. binary-logit acceptance against staying, with a switching cost for lab-to-lab moves, then
   capacity (a random subset of acceptances into a full lab go ahead), then counter-offers:
   the lab being left may match the offer's pay (up to a limit), and the researcher stays if
   the raise reverses the decision under the same noise draw;
6. outside opportunities for employed researchers who did not accept an offer this step
   (exit to the pool), with counter-offers as in 5;
7. the moves are recorded and applied (at most one move per researcher per step);
8. reputation: each lab's recent attrition is updated with this step's voluntary departures;
9. retirements from the pool and entries of new researchers into it;
10. clocks: tenure grows, turmoil and attachment decay by their half-lives.

Every move is recorded (see :mod:`talentsim.results`).

Randomness: the run's SeedSequence has one child stream per purpose (set-up, network, events,
decisions, entries). Each decision draw is a keyed hash of (step, purpose, researcher) under a
key from the decision stream, so two variants of a scenario run with the same seed give the
same researcher the same draws whatever else happens (common random numbers; see
:func:`talentsim.compare`), and draws are computed only for the researchers who need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from talentsim import compiled, kernels
from talentsim.hashing import derive_key, key_offset, uniform_hash
from talentsim.network import ColleagueNetwork
from talentsim.population import GONE, NO_LAB, LabState, Population
from talentsim.scenario import (
    OUTSIDE,
    HiringFreeze,
    PoachingRaid,
    Reorganisation,
    Scenario,
    ScenarioError,
    load_scenario,
)
from talentsim.units import half_life_factor, rate_to_probability

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
)

#: Child random streams of a run, by purpose (index = spawn key).
STREAMS = ("setup", "network", "events", "decisions", "entries")

#: Purposes of the per-step decision uniforms (each a keyed hash of step, purpose and row).
_DRAWS = (
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
(
    D_SEPARATION,
    D_OFFER,
    D_OFFER_LAB,
    D_ACCEPT,
    D_OPPORTUNITY,
    D_EXIT_ACCEPT,
    D_CAPACITY,
    D_COUNTER,
    D_RETIREMENT,
    D_RAID,
) = range(len(_DRAWS))


class _StepUniforms:
    """This step's uniforms, indexed like ``draws[purpose, rows]``.

    Every draw is a keyed hash of (step, purpose, row), computed only for the rows that need
    it, so a researcher's draw does not depend on what anyone else did or on how many
    researchers there are: common random numbers across variants.
    """

    def __init__(self, key: np.uint64, step: int) -> None:
        self.key, self.step = key, step

    def purpose_key(self, purpose: int) -> np.uint64:
        """The key of one purpose's draws this step."""
        return derive_key(self.key, self.step * 16 + purpose)

    def offset(self, purpose: int) -> np.uint64:
        """The hash offset of one purpose's draws this step (for the compiled loops)."""
        return key_offset(self.purpose_key(purpose))

    def __getitem__(self, index: tuple[int, np.ndarray]) -> np.ndarray:
        purpose, rows = index
        return uniform_hash(rows, self.purpose_key(purpose))


def _as_scenario(scenario: Scenario | str | Path | Mapping[str, Any]) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str | Path):
        return load_scenario(scenario)
    if isinstance(scenario, Mapping):
        return Scenario.from_dict(scenario)
    raise ScenarioError(
        f"expected a Scenario, a path to a TOML file or a dict, got {type(scenario).__name__}"
    )


def make_seed_sequence(
    seed: int | np.random.SeedSequence | None,
) -> np.random.SeedSequence:
    """Build the run's SeedSequence; an unseeded run draws fresh entropy (recorded).

    A SeedSequence that is not a plain root (a spawned child, or one with list entropy) is
    turned into an integer seed drawn from it, so that the recorded seed replays the run.
    """
    if isinstance(seed, np.random.SeedSequence):
        if not seed.spawn_key and isinstance(seed.entropy, int | np.integer):
            return seed
        return np.random.SeedSequence(int(seed.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def spawn_seeds(root: int, count: int) -> list[int]:
    """``count`` independent integer seeds spawned from ``root`` with ``SeedSequence.spawn``.

    Each is recorded with its run and replays it exactly (``talentsim run --seed``).
    """
    children = np.random.SeedSequence(root).spawn(count)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]


def seed_list(seeds: int | Iterable[int], root_seed: int = 0, *, minimum: int = 1) -> list[int]:
    """Replicate seeds: ``seeds`` spawned from ``root_seed`` if a count, else the given seeds.

    Raises:
        ValueError: for fewer than ``minimum`` seeds, repeated or negative seeds.
    """
    if isinstance(seeds, bool):
        raise ValueError("seeds must be a number of replicates or a list of seeds")
    if isinstance(seeds, int | np.integer):
        if seeds < minimum:
            raise ValueError(f"need at least {minimum} seeds, got {seeds}")
        return spawn_seeds(root_seed, int(seeds))
    chosen = [int(s) for s in seeds]
    if len(chosen) < minimum or len(set(chosen)) != len(chosen):
        raise ValueError(f"need at least {minimum} distinct seeds, got {chosen}")
    if any(s < 0 for s in chosen):
        raise ValueError("seeds must be non-negative integers")
    return chosen


def child_generator(seed_sequence: np.random.SeedSequence, purpose: str) -> np.random.Generator:
    """The run's random stream for one purpose (see :data:`STREAMS`).

    Built from the spawn key, so it does not depend on how often the sequence was spawned.
    """
    child = np.random.SeedSequence(
        seed_sequence.entropy,
        spawn_key=(*seed_sequence.spawn_key, STREAMS.index(purpose)),
        pool_size=seed_sequence.pool_size,
    )
    return np.random.Generator(np.random.PCG64(child))


class Researcher(mesa.Agent):
    """A researcher: a thin view over row ``row`` of the model's :class:`Population`."""

    def __init__(self, model: TalentModel, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def _pop(self) -> Population:
        return self.model.population

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
        if network is None or self.row >= network.size:
            return []
        adjacency = network.adjacency
        start, end = adjacency.indptr[self.row], adjacency.indptr[self.row + 1]
        agents = self.model.materialise_agents()
        return [agents[int(j)] for j in adjacency.indices[start:end]]


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
        **more_overrides: More overrides as keywords, so ``mesa.batch_run`` can vary them:
            ``parameters={"scenario": path, "labs.MSL.pay_level": [1, 2, 3]}``.

    Attributes:
        spec: The validated talentsim scenario. (``model.scenario`` stays Mesa's own scenario
            object so that Mesa's visualisation and batch tools keep working.)
        seed: The integer seed, or the entropy of an unseeded run.
        population: Researcher arrays (:class:`~talentsim.population.Population`).
        lab_state: Lab arrays (:class:`~talentsim.population.LabState`).
        datacollector: A Mesa ``DataCollector`` with a headcount reporter per lab.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping[str, Any],
        *,
        seed: int | None = None,
        rng: int | np.random.SeedSequence | None = None,
        overrides: Mapping[str, Any] | None = None,
        **more_overrides: Any,
    ) -> None:
        if seed is not None and rng is not None:
            raise ValueError("give seed or rng, not both")
        seed_sequence = make_seed_sequence(seed if seed is not None else rng)
        generator = np.random.Generator(np.random.PCG64(seed_sequence))
        super().__init__(rng=generator)
        spec = _as_scenario(scenario)
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
        self.labs = [Lab(self, j) for j in range(self.lab_state.n)]
        # Above LAZY_AGENTS_ABOVE researchers their Mesa agents are made on first access to
        # model.agents (or agents_by_type / agent_types): a million agent objects cost seconds
        # and hundreds of megabytes that a batch run never uses.
        self._researchers: list[Researcher] | None = None
        if self.population.size <= LAZY_AGENTS_ABOVE:
            self.materialise_agents()

        # Per step × place: headcount (end of step) and flows during the step.
        n_places = len(self.place_names)
        self.headcount_history = np.zeros((self.n_steps + 1, n_places), dtype=np.int64)
        self.flow_history = np.zeros((self.n_steps + 1, len(FLOWS), n_places), dtype=np.int64)
        self.pay_history = np.full((self.n_steps + 1, self.lab_state.n), np.nan)
        self.turmoil_history = np.zeros((self.n_steps + 1, self.lab_state.n))
        self.reputation_history = np.zeros((self.n_steps + 1, self.lab_state.n))
        self._raids_due: list[PoachingRaid] = []
        self._move_log: list[dict[str, np.ndarray]] = []
        self._advance_clocks_and_record(0, dt=0.0)

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
        self._p_offer_employed = float(rate_to_probability(market.offer_rate_employed, dt))
        self._p_offer_outside = float(rate_to_probability(market.offer_rate_outside, dt))
        self._p_separation = float(rate_to_probability(market.separation_rate, dt))
        self._p_opportunity = float(rate_to_probability(outside.opportunity_rate, dt))
        self._p_retirement = float(rate_to_probability(outside.retirement_rate, dt))
        self._attachment_decay = half_life_factor(market.attachment_half_life, dt)
        self._entry_means = np.array([c.entry_rate * dt for c in spec.cohorts.values()])
        if not spec.mechanisms.random_reorganisations:
            self.lab_state.reorg_probability[:] = 0.0

    def _build_network(self) -> ColleagueNetwork | None:
        spec = self.spec
        former = np.array([c.former_colleague_ties for c in spec.cohorts.values()], dtype=np.int64)
        if not spec.mechanisms.peers or (spec.network.degree == 0 and not former.any()):
            return None
        pop = self.population
        return ColleagueNetwork.generate(
            pop.view("location"),
            spec.network.degree,
            former[pop.view("cohort")],
            pop.view("last_lab"),
            self.lab_state.n,
            self._streams["network"],
        )

    def _prepare_schedule(self) -> None:
        self._schedule: dict[int, list[Any]] = {}
        for event in self.spec.events:
            # Step k covers ((k-1)dt, k dt]; an event at time t is applied at the start of the
            # step that begins nearest to t, so its timing error is at most dt/2. An event in
            # the last half step is applied at the start of the last step rather than dropped.
            step = min(round(event.at / self.dt) + 1, self.n_steps)
            self._schedule.setdefault(step, []).append(event)

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
        self._decide(k)
        self._entries_and_retirements(k)
        self._advance_clocks_and_record(k)
        self.datacollector.collect(self)
        if k >= self.n_steps:
            self.running = False

    def _apply_events(self, k: int) -> None:
        labs = self.lab_state
        self._raids_due = []
        for event in self._schedule.get(k, ()):
            j = self._lab_code[event.lab]
            factor = labs.apply_event(event, j)
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
        shocks = self._streams["events"].random(labs.n) < labs.reorg_probability
        for shocked in np.flatnonzero(shocks):
            self._reorganise(int(shocked), float(labs.reorg_severity[shocked]))

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

    def _context(self) -> kernels.DecisionContext:
        """Reference pay and tie shares from the state at the start of the step."""
        pop, labs, spec = self.population, self.lab_state, self.spec
        location = pop.view("location")
        if spec.mechanisms.fairness:
            reference = labs.reference_ratio(
                location, pop.view("pay"), pop.view("market_value"), spec.market.fairness_quantile
            )
        else:
            reference = np.full(labs.n, np.nan)
        if self.network is not None:
            self.network.set_locations(location)
        return kernels.DecisionContext(
            pop=pop,
            labs=labs,
            mechanisms=spec.mechanisms,
            outside_amenity=spec.outside.amenity,
            reference_ratio=reference,
            network=self.network,
        )

    def _decide(self, k: int) -> None:
        pop, labs = self.population, self.lab_state
        location = pop.view("location")
        outside = self._outside_code
        draws = _StepUniforms(self._hash_key, k)
        ctx = self._context()
        flows = self.flow_history[k]

        # Exogenous separations, offers and outside opportunities: one pass over everyone.
        offsets = np.array([draws.offset(p) for p in (D_SEPARATION, D_OFFER, D_OPPORTUNITY)])
        sep_rows, rows, chance = compiled.screen(
            location,
            labs.n,
            self._p_separation,
            self._p_offer_employed,
            self._p_offer_outside,
            self._p_opportunity,
            offsets,
        )
        # Headcounts at the start of this step were recorded at the end of the last one.
        room = labs.capacity - self.headcount_history[k - 1, : labs.n]
        hiring = (room >= 1) & (labs.frozen_until < k)
        weights = np.where(hiring, labs.recruiting_intensity, 0.0)
        if rows.shape[0]:
            offer_lab, has_offer = kernels.draw_offer_labs(
                location[rows], weights, draws[D_OFFER_LAB, rows]
            )
            rows, offer_lab = rows[has_offer], offer_lab[has_offer]
        else:
            offer_lab = rows
        premium = labs.new_hire_premium[offer_lab]
        rows, offer_lab, premium = self._add_raids(
            rows, offer_lab, premium, location, sep_rows, draws
        )
        offered_pay = labs.pay_level[offer_lab] * (1.0 + premium) * pop.market_value[rows]
        np.add.at(flows[FLOWS.index("offers")], offer_lab, 1)

        rows, current, offer_lab, offered_pay, term_gain, decided = self._choose_offers(
            k, rows, offer_lab, offered_pay, room, draws, ctx
        )

        # Outside opportunities for employed researchers who did not accept an offer (whether
        # they move, were turned away by capacity or were kept by a counter-offer).
        busy = np.zeros(location.shape[0], dtype=bool)
        busy[decided] = True
        chance = chance[~busy[chance]]
        exit_rows, exit_from, outside_pay, exit_gain = self._choose_exits(k, chance, draws, ctx)

        sep_from = location[sep_rows]

        # Record, then apply (one move at most per researcher). Kinds: a move into one's former
        # lab is a return.
        is_return = offer_lab == pop.last_lab[rows]
        kinds = np.where(is_return, RETURN, np.where(current < outside, QUIT, HIRE))
        n_out = exit_rows.shape[0] + sep_rows.shape[0]
        sep_pay = self.spec.outside.pay_ratio * pop.market_value[sep_rows]
        movers = np.concatenate([rows, exit_rows, sep_rows])
        origin = np.concatenate([current, exit_from, sep_from])
        destination = np.concatenate([offer_lab, np.full(n_out, outside)])
        kind = np.concatenate(
            [kinds, np.full(exit_rows.shape[0], EXIT), np.full(sep_rows.shape[0], SEPARATION)]
        )
        pay_after = np.concatenate([offered_pay, outside_pay, sep_pay])
        gains = np.concatenate(
            [term_gain, exit_gain, np.full((len(kernels.TERMS), sep_rows.shape[0]), np.nan)],
            axis=1,
        )
        self._log_moves(k, movers, origin, destination, kind, pay_after, gains)
        self._move(movers, origin, destination, pay_after)
        self._update_reputation(k)

    def _choose_offers(
        self,
        k: int,
        rows: np.ndarray,
        offer_lab: np.ndarray,
        offered_pay: np.ndarray,
        room: np.ndarray,
        draws: _StepUniforms,
        ctx: kernels.DecisionContext,
    ) -> tuple[np.ndarray, ...]:
        """Offers: logit choice, capacity, counter-offers. Returns the moves that go ahead.

        Returns ``(rows, current, offer_lab, offered_pay, term_gain, decided)``, where
        ``decided`` are all who accepted (moving or not).
        """
        if rows.shape[0] == 0:
            none = np.zeros(0, dtype=np.int64)
            return none, none, none, np.zeros(0), np.zeros((len(kernels.TERMS), 0)), none
        pop, outside = self.population, self._outside_code
        flows, market = self.flow_history[k], self.spec.market
        location = pop.view("location")
        current = location[rows]
        current_pay = np.where(
            current < outside, pop.pay[rows], self.spec.outside.pay_ratio * pop.market_value[rows]
        )
        peers_now, peers_offer = self._peer_shares(rows, current, offer_lab)
        terms_now = kernels.utility_terms(rows, current, current_pay, ctx, peers_now)
        terms_offer = kernels.utility_terms(rows, offer_lab, offered_pay, ctx, peers_offer)
        term_gain = terms_offer - terms_now
        switching = np.where(current < outside, market.switching_cost, 0.0)
        accepted = kernels.accept(
            term_gain.sum(axis=0) - switching, market.noise_scale, draws[D_ACCEPT, rows]
        )
        np.add.at(flows[FLOWS.index("acceptances")], offer_lab[accepted], 1)
        fits = kernels.within_capacity(offer_lab[accepted], room, draws[D_CAPACITY, rows[accepted]])
        go = np.flatnonzero(accepted)[fits]
        decided = rows[accepted]  # chose to move: no second decision this step
        rows, current, offer_lab = rows[go], current[go], offer_lab[go]
        offered_pay, term_gain, switching = offered_pay[go], term_gain[:, go], switching[go]
        stays = self._counter_offers(
            k, rows, current, offered_pay, term_gain, switching, draws, D_ACCEPT, ctx
        )
        rows, current, offer_lab = rows[~stays], current[~stays], offer_lab[~stays]
        offered_pay, term_gain = offered_pay[~stays], term_gain[:, ~stays]

        return rows, current, offer_lab, offered_pay, term_gain, decided

    def _choose_exits(
        self,
        k: int,
        exit_rows: np.ndarray,
        draws: _StepUniforms,
        ctx: kernels.DecisionContext,
    ) -> tuple[np.ndarray, ...]:
        """Outside opportunities: logit choice and counter-offers. Returns the exits."""
        if exit_rows.shape[0] == 0:
            none = np.zeros(0, dtype=np.int64)
            return none, none, np.zeros(0), np.zeros((len(kernels.TERMS), 0))
        pop, outside = self.population, self._outside_code
        location = pop.view("location")
        noise = self.spec.market.noise_scale
        exit_from = location[exit_rows]
        outside_pay = self.spec.outside.pay_ratio * pop.market_value[exit_rows]
        exit_places = np.full(exit_rows.shape[0], outside)
        peers_out, peers_here = self._peer_shares(exit_rows, exit_places, exit_from)
        exit_gain = kernels.utility_terms(
            exit_rows, exit_places, outside_pay, ctx, peers_out
        ) - kernels.utility_terms(exit_rows, exit_from, pop.pay[exit_rows], ctx, peers_here)
        exits = kernels.accept(exit_gain.sum(axis=0), noise, draws[D_EXIT_ACCEPT, exit_rows])
        exit_rows, exit_from = exit_rows[exits], exit_from[exits]
        exit_gain, outside_pay = exit_gain[:, exits], outside_pay[exits]
        stays = self._counter_offers(
            k,
            exit_rows,
            exit_from,
            outside_pay,
            exit_gain,
            np.zeros(exit_rows.shape[0]),
            draws,
            D_EXIT_ACCEPT,
            ctx,
        )
        exit_rows, exit_from = exit_rows[~stays], exit_from[~stays]
        exit_gain, outside_pay = exit_gain[:, ~stays], outside_pay[~stays]

        return exit_rows, exit_from, outside_pay, exit_gain

    def _peer_shares(
        self, rows: np.ndarray, first: np.ndarray, second: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Tie shares at two places per row, gathered once (None without a network)."""
        if self.network is None or not self.spec.mechanisms.peers:
            return None, None
        a, b = self.network.shares(rows, first, second)
        return a, b

    def _add_raids(
        self,
        rows: np.ndarray,
        offer_lab: np.ndarray,
        premium: np.ndarray,
        location: np.ndarray,
        separated: np.ndarray,
        draws: _StepUniforms,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Poaching raids due this step replace the regular offers of the people they target.

        ``separated`` are the rows separated this step (they receive no offer).
        """
        for raid in self._raids_due:
            raider, target = self._lab_code[raid.lab], self._lab_code[raid.target]
            staff = np.flatnonzero(location == target)
            staff = staff[~np.isin(staff, separated)]
            order = draws[D_RAID, staff]  # drawn only for the raided lab's staff
            if raid.former_staff_first:
                order = order - (self.population.last_lab[staff] == raider)  # alumni sort first
            chosen = staff[np.argsort(order, kind="stable")[: raid.offers]]
            keep = ~np.isin(rows, chosen)
            bonus = (
                self.lab_state.new_hire_premium[raider] if raid.premium is None else raid.premium
            )
            rows = np.concatenate([rows[keep], chosen])
            offer_lab = np.concatenate([offer_lab[keep], np.full(chosen.shape[0], raider)])
            premium = np.concatenate([premium[keep], np.full(chosen.shape[0], bonus)])
        return rows, offer_lab, premium

    def _counter_offers(
        self,
        k: int,
        rows: np.ndarray,
        origin: np.ndarray,
        offered_pay: np.ndarray,
        term_gain: np.ndarray,
        switching: np.ndarray,
        draws: _StepUniforms,
        accept_row: int,
        ctx: kernels.DecisionContext,
    ) -> np.ndarray:
        """Labs counter some departures by matching pay; returns who stays after all.

        A lab counters with its ``counter_offer_probability`` when the offer pays more than
        the researcher earns now, raising pay to the offer (at most ``counter_offer_limit`` ×
        current pay). The researcher re-decides with the same noise draw, so a counter-offer
        retains exactly those for whom the raise reverses the choice. Pay rises only for those
        retained.
        """
        stays = np.zeros(rows.shape[0], dtype=bool)
        labs = self.lab_state
        if not self.spec.mechanisms.counter_offers or rows.shape[0] == 0:
            return stays
        from_lab = origin < labs.n
        lab = np.where(from_lab, origin, 0)
        pop = self.population
        current_pay = pop.pay[rows]
        countered = (
            from_lab
            & (draws[D_COUNTER, rows] < labs.counter_offer_probability[lab])
            & (offered_pay > current_pay)
        )
        idx = np.flatnonzero(countered)
        if idx.shape[0] == 0:
            return stays
        c_rows, c_lab = rows[idx], lab[idx]
        raise_to = kernels.counter_offer_pay(
            current_pay[idx], offered_pay[idx], labs.counter_offer_limit[c_lab]
        )
        same_place = np.zeros(c_rows.shape[0])  # the peer term cancels in after − before
        before = kernels.utility_terms(c_rows, c_lab, current_pay[idx], ctx, same_place)
        after = kernels.utility_terms(c_rows, c_lab, raise_to, ctx, same_place)
        gain = (term_gain[:, idx] - (after - before)).sum(axis=0) - switching[idx]
        leaves = kernels.accept(gain, self.spec.market.noise_scale, draws[accept_row, c_rows])
        retained = idx[~leaves]
        stays[retained] = True
        pop.pay[rows[retained]] = raise_to[~leaves]
        flows = self.flow_history[k]
        np.add.at(flows[FLOWS.index("counter_offers")], c_lab, 1)
        np.add.at(flows[FLOWS.index("counter_retained")], c_lab[~leaves], 1)
        return stays

    def _update_reputation(self, k: int) -> None:
        """Reputation memory: decayed past attrition plus this step's voluntary departures."""
        labs, flows = self.lab_state, self.flow_history[k]
        departures = flows[FLOWS.index("quits"), : labs.n] + flows[FLOWS.index("exits"), : labs.n]
        staff = np.maximum(self.headcount_history[k - 1, : labs.n], 1)
        labs.reputation = labs.reputation * labs.reputation_decay + departures / staff

    def _move(
        self, rows: np.ndarray, origin: np.ndarray, destination: np.ndarray, pay: np.ndarray
    ) -> None:
        if rows.shape[0] == 0:
            return
        pop = self.population
        left_lab = origin < self._outside_code
        bond = self.spec.market.attachment_bond_time
        leavers = rows[left_lab]
        pop.last_lab[leavers] = origin[left_lab]
        pop.attachment[leavers] = -np.expm1(-pop.tenure[leavers] / bond)
        # Back at one's former lab (e.g. from the pool): it is no longer a former lab.
        home = rows[destination == pop.last_lab[rows]]
        pop.last_lab[home] = NO_LAB
        pop.attachment[home] = 0.0
        pop.location[rows] = destination
        pop.pay[rows] = pay
        pop.tenure[rows] = 0.0
        pop.joined_step[rows] = self.steps

    def _log_moves(
        self,
        k: int,
        rows: np.ndarray,
        origin: np.ndarray,
        destination: np.ndarray,
        kind: np.ndarray | int,
        pay_after: np.ndarray,
        term_gain: np.ndarray | None,
    ) -> None:
        """Record moves (before they are applied) and count them in this step's flows."""
        count = rows.shape[0]
        if count == 0:
            return
        pop, outside = self.population, self._outside_code
        kinds = np.broadcast_to(np.asarray(kind, dtype=np.int8), (count,))
        from_lab = (origin >= 0) & (origin < outside)
        self._move_log.append(
            {
                "step": np.full(count, k, dtype=np.int32),
                "researcher": rows.astype(np.int64),
                "cohort": pop.cohort[rows],
                "origin": origin.astype(np.int32),
                "destination": destination.astype(np.int32),
                "kind": kinds.copy(),
                "tenure": np.where(from_lab, pop.tenure[rows], np.nan),
                "pay_before": pop.pay[rows],
                "pay_after": np.array(pay_after, dtype=float),
                "gains": (
                    np.full((len(kernels.TERMS), count), np.nan) if term_gain is None else term_gain
                ),
            }
        )
        # Arrivals count as hires at the destination lab; lab-to-lab departures as quits.
        flows, n_places = self.flow_history[k], len(self.place_names)

        def count_at(places: np.ndarray) -> np.ndarray:
            return np.bincount(places, minlength=n_places)

        lab_arrival = (destination >= 0) & (destination < outside)
        flows[FLOWS.index("hires")] += count_at(destination[lab_arrival])
        flows[FLOWS.index("returns")] += count_at(destination[kinds == RETURN])
        flows[FLOWS.index("quits")] += count_at(origin[from_lab & lab_arrival])
        flows[FLOWS.index("exits")] += count_at(origin[kinds == EXIT])
        flows[FLOWS.index("separations")] += count_at(origin[kinds == SEPARATION])

    def _entries_and_retirements(self, k: int) -> None:
        pop, outside = self.population, self._outside_code
        if self._p_retirement > 0:
            offset = _StepUniforms(self._hash_key, k).offset(D_RETIREMENT)
            retiring = compiled.draw_below(
                pop.view("location"), outside, self._p_retirement, offset
            )
            self._log_moves(
                k,
                retiring,
                np.full_like(retiring, outside),
                np.full_like(retiring, GONE),
                RETIREMENT,
                np.full(retiring.shape[0], np.nan),
                None,
            )
            self.flow_history[k, FLOWS.index("retirements"), outside] += retiring.shape[0]
            pop.location[retiring] = GONE
            if self._researchers is not None:
                for row in retiring:  # few per step: Mesa's registry needs per-agent removal
                    self._researchers[row].remove()
        entries = self._streams["entries"]
        counts = entries.poisson(self._entry_means)
        for index, (cohort, count) in enumerate(
            zip(self.spec.cohorts.values(), counts, strict=True)
        ):
            if count == 0:
                continue
            rows = pop.add_cohort(
                index, cohort, int(count), outside, NO_LAB, k, self.spec, self.lab_state, entries
            )
            self._log_moves(
                k,
                rows,
                np.full_like(rows, GONE),
                np.full_like(rows, outside),
                ENTRY,
                pop.pay[rows],
                None,
            )
            self.flow_history[k, FLOWS.index("entries"), outside] += rows.shape[0]
            if self._researchers is not None:  # entrants' Mesa agents (a handful per step)
                self._researchers.extend(Researcher(self, int(row)) for row in rows)

    def _advance_clocks_and_record(self, k: int, dt: float | None = None) -> None:
        """Advance the clocks by ``dt`` (default: one step), then record the state of step k.

        Tenure grows and attachment decays for everyone (a retired researcher's clock is never
        read again); turmoil decays. One pass over the population also counts headcounts and
        pay per place.
        """
        pop, labs = self.population, self.lab_state
        advance = dt is None
        headcount, pay_sum = compiled.clock_and_tally(
            pop.view("location"),
            pop.view("pay"),
            pop.view("tenure"),
            pop.view("attachment"),
            self.dt if advance else 0.0,
            self._attachment_decay if advance else 1.0,
            len(self.place_names),
        )
        if advance:
            labs.turmoil *= labs.turmoil_decay
        self.headcount_history[k] = headcount
        with np.errstate(invalid="ignore", divide="ignore"):
            self.pay_history[k] = pay_sum[: labs.n] / headcount[: labs.n]
        self.turmoil_history[k] = labs.turmoil
        self.reputation_history[k] = labs.reputation

    def _extend_history(self, last_step: int) -> None:
        extra = last_step + 1 - self.headcount_history.shape[0]
        if extra <= 0:
            return

        def grow(array: np.ndarray, fill: float) -> np.ndarray:
            pad = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
            return np.concatenate([array, pad])

        self.headcount_history = grow(self.headcount_history, 0)
        self.flow_history = grow(self.flow_history, 0)
        self.pay_history = grow(self.pay_history, np.nan)
        self.turmoil_history = grow(self.turmoil_history, 0.0)
        self.reputation_history = grow(self.reputation_history, 0.0)
        self.n_steps = max(self.n_steps, last_step)
        self.running = True

    def move_log(self) -> dict[str, np.ndarray]:
        """All recorded moves as concatenated arrays (codes, not names)."""
        if not self._move_log:
            empty: dict[str, np.ndarray] = {}
            return empty
        records = self._move_log
        log = {
            key: np.concatenate([r[key] for r in records]) for key in records[0] if key != "gains"
        }
        gains = np.concatenate([r["gains"] for r in records], axis=1)
        for t, name in enumerate(kernels.TERMS):
            log[f"gain_{name}"] = gains[t]
        return log
