"""The mean-field approximation: expected headcounts and flows without sampling.

For the mechanisms whose expectation is tractable, the expected number of researchers of each
type at each place follows deterministic flow equations: with ``x[c, k, i, q]`` the expected
number of researchers of cohort ``c`` and preference type ``k`` at lab ``i`` in pay class ``q``
and ``x_pool[c, k]`` those in the outside pool,

* separations leave a lab at rate δ;
* offers arrive at rate λ_e (λ_u in the pool) from lab ``j`` with probability
  ``π_ij = w_j h_j / Σ_{l≠i} w_l h_l`` (recruiting intensity ``w``, ``h_j = 1`` while lab ``j``
  hires; never one's own lab) and are accepted with the binary-logit probability
  ``σ((V_kj^offer − V_kiq − c)/s)`` (switching cost ``c`` between labs, noise scale ``s``;
  ``s = 0`` is best response);
* outside opportunities arrive at rate ω and are taken with ``σ((V_k^pool − V_kiq)/s)``;
* the pool loses researchers to retirement at rate μ and gains entrants at each cohort's rate.

Utilities are those of :func:`talentsim.kernels.utility_terms` restricted to the tractable terms:
``V = w_pay·log(pay) + w_mission·clarity_j·(1 − 2|o − o_j|) − w_stability·turmoil_j +
amenity_j`` (the researcher's market value cancels from every comparison, because all pay is
proportional to it). Pay is exact through pay classes: a researcher's pay at a lab is set when
they are hired (pay level × (1 + new-hire premium) then in force) and rescaled by pay changes
that apply to everyone, so each lab has one class for its starting staff and one per pay epoch.
Random attributes (weights, orientation) are integrated over by a scrambled Sobol sample of
``types`` points per cohort (quasi-Monte Carlo, error of order 1/types); a cohort whose
attributes are all fixed needs one type, and the solution is then exact in expectation.

Two solvers:

* ``method="ode"`` (default) integrates the equations in continuous time with
  :func:`scipy.integrate.solve_ivp` between events, applying scheduled events as jumps; this is
  the limit of the simulation as the step length goes to zero.
* ``method="steps"`` takes the steps as the simulation does: within a step each researcher's
  own moves follow the continuous-time process exactly with the labs frozen at the start of
  the step, so the step's transition of each type is ``expm(Q·dt)`` for its generator ``Q``
  over places and pay classes (applied to the state by uniformization, checked against
  :func:`scipy.linalg.expm` in the tests); retirements come after the moves,
  then entries. This is the exact expectation of a simulation run at the scenario's step, up
  to the type quadrature.

Mechanisms whose expectation is not a function of these expected counts — colleague ties
(turnover contagion) and their formation over time (``network.formation_rate``), fairness
(the reference pay is a quantile of the lab's pay distribution), reputation, counter-offers,
attachment (it depends on each researcher's tenure when they left), random reorganisations
(the expected logit of a random turmoil is not the logit of the expected turmoil), poaching
raids, binding capacity, former staff paid otherwise than newcomers
(``labs.NAME.return_pay``) and labs courting their former staff at another rate than anyone
else (``labs.NAME.rehire_rate`` below 1) — the state does not track former labs — and
search effort from a lab's memory of its staff's offers (``search.gap = "lab"``) are
refused with a :class:`MeanFieldError` that names each one and how to switch it off, rather
than answered wrongly. ``strict=False`` ignores them and lists what was ignored in
``result.caveats``.

References:
    Kurtz, T. G. (1970). Solutions of ordinary differential equations as limits of pure jump
    Markov processes. *Journal of Applied Probability* 7(1), 49–58 (the large-population
    limit of such flows).
    Train, K. (2009). *Discrete Choice Methods with Simulation*, 2nd ed., ch. 3 (logit).
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from talentsim import terms
from talentsim.population import LabState
from talentsim.scenario import (
    OUTSIDE,
    Distribution,
    Fixed,
    HiringFreeze,
    LogNormal,
    Normal,
    PayChange,
    PoachingRaid,
    Scenario,
    Uniform,
    as_scenario,
)
from talentsim.units import rate_to_probability

#: Flows reported per step (per lab, and ``entries``/``retirements`` for the pool).
MEAN_FIELD_FLOWS = ("hires", "quits", "exits", "separations", "entries", "retirements")

#: Attributes that enter the tractable utility, per cohort: weights then orientation.
_ATTRIBUTES = ("pay", "mission", "stability", "orientation")


class MeanFieldError(ValueError):
    """The scenario uses something the mean-field equations cannot treat exactly."""


class MeanFieldWarning(UserWarning):
    """Something was ignored (``strict=False``); the result's ``caveats`` say what."""


@dataclass
class MeanFieldResult:
    """Expected headcounts and flows of a scenario.

    Attributes:
        scenario: The scenario solved.
        method: ``"ode"`` (continuous time) or ``"steps"`` (the simulation's discrete steps).
        timeseries: One row per (step, place) like :attr:`RunResult.timeseries`: ``step``,
            ``time`` (years), ``lab``, expected ``headcount`` (end of step), expected flows
            during the step (``hires``, ``quits``, ``exits``, ``separations``; ``entries`` and
            ``retirements`` for ``outside``), ``mean_pay`` and ``turmoil``.
        types: Preference types per cohort used for the quadrature.
        caveats: What was ignored (``strict=False``) or where capacity binds.
    """

    scenario: Scenario
    method: str
    timeseries: pd.DataFrame
    types: int
    caveats: list[str] = field(default_factory=list)

    def headcounts(self) -> pd.DataFrame:
        """Expected headcount, one column per place, indexed by time in years."""
        wide = self.timeseries.pivot(index="time", columns="lab", values="headcount")
        wide.columns = wide.columns.astype(str)
        return wide[[*self.scenario.lab_names, OUTSIDE]]


def meanfield(
    scenario: Scenario | Any,
    *,
    method: Literal["ode", "steps"] = "ode",
    types: int = 256,
    strict: bool = True,
    align_events: bool = True,
    rtol: float = 1e-7,
) -> MeanFieldResult:
    """Solve the mean-field equations of a scenario (see the module docstring).

    Args:
        scenario: A :class:`Scenario`, a path to a scenario file, or a mapping.
        method: ``"ode"`` for continuous time (:func:`scipy.integrate.solve_ivp`), or
            ``"steps"`` for the exact expectation of the discrete-time simulation.
        types: Quasi-Monte Carlo points per cohort for random attributes (a power of two is
            best); cohorts whose attributes are all fixed use one.
        strict: Refuse (``MeanFieldError``) mechanisms and events that cannot be treated
            exactly; if False, ignore them with a :class:`MeanFieldWarning` and list them in
            ``caveats``.
        align_events: With ``method="ode"``, apply each scheduled event at the step boundary
            where the simulation applies it (the nearest multiple of the step, at most half a
            step away); False applies it at its exact time.
        rtol: Relative tolerance of the ODE solver, in [1e-12, 1) (below it the solver's
            steps shrink without end).

    Returns:
        The expected time series, in the shape of :attr:`RunResult.timeseries`.

    Raises:
        MeanFieldError: With ``strict=True``, for each untreatable mechanism, event or binding
            capacity, naming the scenario key and how to switch it off.
    """
    spec = as_scenario(scenario)
    if method not in ("ode", "steps"):
        raise ValueError(f"method must be 'ode' or 'steps', not {method!r}")
    if isinstance(types, bool) or not isinstance(types, numbers.Integral) or types < 1:
        raise ValueError(f"types must be a whole number of at least 1, not {types!r}")
    if (
        isinstance(rtol, bool)
        or not isinstance(rtol, numbers.Real)
        or not MIN_RTOL <= float(rtol) < 1  # (False for NaN)
    ):
        # (below the solver's floor, or NaN, its steps shrink for ever: it never returns)
        raise ValueError(f"rtol must be a number in [{MIN_RTOL:g}, 1), not {rtol!r}")
    fast = _too_fast(spec)
    if fast:  # (the equations become stiff: the solver crawls or never ends)
        raise MeanFieldError(
            f"{spec.name}: {fast} exceeds {MAX_MEAN_FIELD_RATE:g}/year, where the equations "
            "are too stiff to solve in reasonable time; such a rate (a move every few hours) "
            "is most likely a typo"
        )
    problems = untreatable(spec)
    if problems and strict:
        raise MeanFieldError(_problem_message(spec, problems))
    caveats = [f"ignored: {p}" for p in problems]
    if problems:
        warnings.warn(_problem_message(spec, problems), MeanFieldWarning, stacklevel=2)
    system = _System(spec, types, align=align_events or method == "steps")
    solution = system.solve_steps() if method == "steps" else system.solve_ode(rtol)
    if system.binding:
        lab, time = system.binding
        message = (
            f"labs.{lab}.capacity binds from about {time:.2f} years: the mean-field equations "
            "do not hold a binding capacity, so from then on their numbers for that lab are "
            "what it would reach without its cap (the simulation admits a random subset of "
            "the acceptances and keeps the lab at its capacity)"
        )
        if strict:
            raise MeanFieldError(
                f"{spec.name}: {message}. Raise or remove labs.{lab}.capacity for a solution "
                "that holds, or pass strict=False (on the command line: leave out --strict) to "
                "get these numbers with this caveat"
            )
        warnings.warn(message, MeanFieldWarning, stacklevel=2)
        caveats.append(message)
    return MeanFieldResult(spec, method, solution, system.n_types, caveats)


MAX_MEAN_FIELD_RATE = 1e4
"""Rates per researcher above this (per year) are refused by the mean-field solver: its ODE
grows stiff (1e3/year took 2 s, 1e7/year over 100 s, 1e300 never ended)."""

MIN_RTOL = 1e-12
"""The smallest relative tolerance the mean-field ODE solver takes: near the floating-point
limit its steps shrink without end (0 and NaN never returned)."""


def _too_fast(spec: Scenario) -> str | None:
    """The first per-researcher rate above :data:`MAX_MEAN_FIELD_RATE` (its key), or None."""
    rates = {
        "market.offer_rate_employed": spec.market.offer_rate_employed,
        "market.offer_rate_outside": spec.market.offer_rate_outside,
        "market.separation_rate": spec.market.separation_rate,
        "outside.opportunity_rate": spec.outside.opportunity_rate,
        "outside.retirement_rate": spec.outside.retirement_rate,
        **{f"labs.{name}.reorg_rate": lab.reorg_rate for name, lab in spec.labs.items()},
    }
    if spec.search.on:  # (the rate an employed researcher gets offers at, at most)
        del rates["market.offer_rate_employed"]
        rates["market.offer_rate_employed × search.effort_max"] = (
            spec.market.offer_rate_employed * spec.search.effort_max
        )
    for key, rate in rates.items():
        if rate > MAX_MEAN_FIELD_RATE:
            return f"{key} ({rate:g}/year)"
    return None


_WHY_NOT = {
    "counter_offers": "re-decisions under the same noise draw",
    "random_reorganisations": "the expected choice under random turmoil is not the choice "
    "under expected turmoil",
}
_OR_ELSE = {
    "counter_offers": "labs.*.counter_offer_probability = 0",
    "random_reorganisations": "labs.*.reorg_rate = 0",
}
"""Why each mechanism that is not a utility term has no exact mean-field treatment (the
terms say so in the registry, :attr:`talentsim.terms.Term.meanfield`)."""


def untreatable(spec: Scenario) -> list[str]:
    """What in a scenario the mean-field equations cannot treat exactly (empty if nothing)."""
    mech = spec.mechanisms
    cohorts = spec.cohorts.values()
    labs = spec.labs.values()

    def weight_matters(name: str) -> bool:
        return any(not _is_zero(getattr(c.weights, name)) for c in cohorts)

    has_ties = spec.network.degree > 0 or any(c.former_colleague_ties > 0 for c in cohorts)
    problems = []
    for term in terms.all_terms():  # every term the equations lack, by name
        matters = (term.weight is None or weight_matters(term.name)) and (
            has_ties or not term.uses_ties
        )
        if term.meanfield is not None and matters and mech.term_on(term.name):
            how = f"set mechanisms.{term.name} = false" if term.switch else "it has no switch"
            problems.append(f"mechanisms.{term.name}: term {term.name!r}: {term.meanfield} ({how})")
    if spec.network.formation_rate > 0 and mech.term_on("peers"):
        problems.append(
            "network.formation_rate: tie formation (colleague ties that form over time) makes "
            "the peers term depend on who is tied to whom, not on expected counts (set "
            "network.formation_rate = 0 or mechanisms.peers = false)"
        )
    if spec.search.gap == "lab" and spec.search.gap_sensitivity > 0:
        problems.append(
            'search.gap: "lab" sets each lab\'s search effort from the offers its staff '
            "received recently, a memory the mean-field state does not carry (set search.gap "
            '= "market", the per-researcher gap whose staff mean it estimates; with '
            'strict=False the solver uses "market")'
        )
    active = {
        "counter_offers": any(lab.counter_offer_probability > 0 for lab in labs),
        "random_reorganisations": any(lab.reorg_rate > 0 for lab in labs),
    }
    problems += [
        f"mechanisms.{name}: {_WHY_NOT[name]} (set mechanisms.{name} = false, or {_OR_ELSE[name]})"
        for name, matters in active.items()
        if matters and getattr(mech, name)
    ]
    problems += [
        f"labs.{name}.return_pay: former staff who come back are paid by the lab's return rule, "
        "not as newcomers, and the mean-field state does not track former labs (set "
        f'labs.{name}.return_pay = "new_hire", or "market" with a return_premium equal to the '
        "new-hire premium)"
        for name, lab in spec.labs.items()
        if _returners_paid_apart(spec, name, lab)
    ]
    problems += [
        f"labs.{name}.rehire_rate: the lab courts its former staff at {lab.rehire_rate:g} × "
        "the rate at which it courts anyone else, and the mean-field state does not track "
        f"former labs (set labs.{name}.rehire_rate = 1)"
        for name, lab in spec.labs.items()
        if lab.rehire_rate != 1
    ]
    problems += [
        f"events.{index} (poaching_raid): a fixed number of targeted offers is not a rate "
        "(remove the event)"
        for index, event in enumerate(spec.events)
        if isinstance(event, PoachingRaid)
    ]
    return problems


def _returners_paid_apart(spec: Scenario, name: str, lab: Any) -> bool:
    """Whether lab ``name`` may offer its former staff other pay than newcomers."""
    if lab.return_pay == "new_hire":
        return False
    if lab.return_pay == "old":
        return True
    premiums = {lab.new_hire_premium} | {
        event.new_hire_premium
        for event in spec.events
        if isinstance(event, PayChange) and event.lab == name and event.new_hire_premium is not None
    }
    return premiums != {lab.return_premium}


def relaxation_time(
    time: np.ndarray, value: np.ndarray, start: float, final: float | None = None
) -> float:
    """E-folding time of a relaxation after ``start``.

    How long ``|value − final|`` takes to fall to 1/e of its size at ``start`` (linear
    interpolation between samples; NaN if it never does).

    Args:
        time: Sample times (increasing).
        value: Samples (e.g. a lab's expected or mean headcount).
        start: When the relaxation starts (e.g. the time of a permanent shock).
        final: The value relaxed to (default: the last sample).
    """
    time, value = np.asarray(time, dtype=float), np.asarray(value, dtype=float)
    after = time >= start - 1e-12
    t, v = time[after], value[after]
    target = v[-1] if final is None else final
    gap = np.abs(v - target)
    threshold = gap[0] / math.e
    below = np.flatnonzero(gap <= threshold)
    if gap[0] == 0 or below.shape[0] == 0 or below[0] == 0:
        return math.nan
    i = below[0]
    fraction = (gap[i - 1] - threshold) / (gap[i - 1] - gap[i])
    return float(t[i - 1] + fraction * (t[i] - t[i - 1]) - t[0])


def stationary_logit_shares(
    utility: np.ndarray, intensity: np.ndarray, noise_scale: float
) -> np.ndarray:
    """Stationary shares of the switching chain with logit acceptance and no switching cost.

    A researcher at lab i receives offers from lab j ≠ i in proportion to ``w_j`` and accepts
    with ``σ((V_j − V_i)/s)``. The chain is reversible, and detailed balance,
    ``x_i·w_j/(W − w_i)·σ((V_j − V_i)/s) = x_j·w_i/(W − w_j)·σ((V_i − V_j)/s)`` with
    ``σ(d)/σ(−d) = e^d``, gives ``x_i ∝ w_i·(W − w_i)·exp(V_i/s)``, where ``W = Σ w``: the
    logit shares weighted by recruiting intensity, corrected for never being offered a job by
    one's own lab (docs/validation.md).

    Raises:
        ValueError: where the closed form does not apply: noise 0 or below (not a logit
            chain), fewer than two labs that recruit (no chain among labs), or values that
            are not finite.
    """
    utility, intensity = np.asarray(utility, float), np.asarray(intensity, float)
    if not (np.isfinite(noise_scale) and noise_scale > 0):
        raise ValueError(f"noise_scale: expected a number > 0, got {noise_scale!r}")
    if utility.shape != intensity.shape or utility.ndim != 1:
        raise ValueError(
            f"utility and intensity: expected two lists of one value per lab, got shapes "
            f"{utility.shape} and {intensity.shape}"
        )
    if not (np.all(np.isfinite(utility)) and np.all(np.isfinite(intensity))):
        raise ValueError("utility and intensity: expected finite numbers")
    if np.any(intensity < 0) or np.count_nonzero(intensity > 0) < 2:
        raise ValueError(
            "intensity: expected values >= 0 with at least two labs that recruit (> 0): "
            f"the chain moves only among them, got {intensity.tolist()}"
        )
    with np.errstate(divide="ignore"):  # (a lab that does not recruit: share 0)
        log_weight = np.log(intensity * (intensity.sum() - intensity)) + utility / noise_scale
    weight = np.exp(log_weight - log_weight.max())
    return weight / weight.sum()


# --------------------------------------------------------------------------------------------
# The equations
# --------------------------------------------------------------------------------------------


def _is_zero(dist: Distribution) -> bool:
    return isinstance(dist, Fixed) and dist.value == 0


def _quantile(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """Values of a scenario distribution at quantiles ``u`` (as :func:`population.draw`)."""
    match dist:
        case Fixed(value=value):
            return np.full(u.shape, value, dtype=float)
        case Normal(mean=mean, sd=sd, low=low, high=high):
            values = mean + sd * ndtri(u)
            if low is not None or high is not None:
                values = np.clip(values, low, high)
            return values
        case LogNormal(median=median, sigma=sigma):
            return median * np.exp(sigma * ndtri(u))
        case Uniform(low=low, high=high):
            return low + (high - low) * u
    raise TypeError(f"unknown distribution {dist!r}")  # pragma: no cover - schema forbids it


def _mean(dist: Distribution) -> float:
    match dist:
        case Fixed(value=value):
            return float(value)
        case LogNormal(median=median, sigma=sigma):
            return float(median * math.exp(sigma**2 / 2))
        case Uniform(low=low, high=high):
            return (low + high) / 2
    grid = (np.arange(4096) + 0.5) / 4096  # midpoint rule on the quantile function
    return float(_quantile(dist, grid).mean())


def _accept(gain: np.ndarray, noise_scale: float) -> np.ndarray:
    return (gain > 0).astype(float) if noise_scale == 0 else expit(gain / noise_scale)


@dataclass
class _Rates:
    """Per-unit-time rates of the flows."""

    separation: float
    offer_employed: float
    offer_outside: float
    opportunity: float
    retirement: float


class _System:
    """The mean-field state space of a scenario and its flows."""

    def __init__(self, spec: Scenario, types: int, align: bool) -> None:
        self.spec = spec
        self.dt = spec.time.step
        self.n_steps = spec.time.n_steps
        self.labs = spec.lab_names
        self.binding: tuple[str, float] | None = None
        labs = list(spec.labs.values())
        cohorts = list(spec.cohorts.values())
        mech = spec.mechanisms
        n_labs = len(labs)
        self.n_labs = n_labs

        from scipy.stats import qmc  # imported here: scipy.stats takes ~0.3 s to import

        # Types: a scrambled Sobol sample over the random attributes of each cohort.
        dists = [
            [c.weights.pay, c.weights.mission, c.weights.stability, c.orientation] for c in cohorts
        ]
        random = any(not isinstance(d, Fixed) for row in dists for d in row)
        self.n_types = types if random else 1
        u = (
            qmc.Sobol(len(_ATTRIBUTES), scramble=True, seed=12345).random(self.n_types)
            if random
            else np.full((1, len(_ATTRIBUTES)), 0.5)
        )
        values = np.array([[_quantile(d, u[:, a]) for a, d in enumerate(row)] for row in dists])
        # values: (cohort, attribute, type)
        self.w_pay = values[:, 0] if mech.term_on("pay") else np.zeros_like(values[:, 0])
        self.w_mission = values[:, 1] if mech.term_on("mission") else np.zeros_like(values[:, 1])
        stable = mech.term_on("stability")
        self.w_stability = values[:, 2] if stable else np.zeros_like(values[:, 2])
        self.orientation = np.clip(values[:, 3], 0.0, 1.0)
        self.mean_value = np.array([_mean(c.market_value) for c in cohorts])

        # Labs.
        # Lab parameters (pay, mission, turmoil), changed by events as in the simulation.
        self.lab = LabState.from_scenario(spec)
        # (a lab of capacity 0 never has room, so it never makes offers: as if frozen, exactly,
        # and never "binding")
        self.has_room = self.lab.capacity != 0
        self.recovery = np.array(
            [
                math.log(2) / lab.recovery_half_life if lab.recovery_half_life > 0 else math.inf
                for lab in labs
            ]
        )
        self.outside_amenity = spec.outside.amenity
        self.log_ratio = math.log(spec.outside.pay_ratio)
        self.noise = spec.market.noise_scale
        self.switching = spec.market.switching_cost
        self.frozen_until = np.full(n_labs, -math.inf)

        # Events, at the times the simulation applies them (or exactly), grouped by time.
        self.align = align
        self.events: dict[float, list[Any]] = {}
        for event in spec.events:
            at = self._event_time(event.at) if align else event.at
            self.events.setdefault(at, []).append(event)
        n_epochs = 1 + sum(
            any(isinstance(e, PayChange) for e in group) for group in self.events.values()
        )
        # Pay classes: 0 = starting staff, 1 + e = hired in pay epoch e.
        self.n_classes = 1 + n_epochs
        self.epoch = 0
        self.log_pay = np.zeros((len(cohorts), n_labs, self.n_classes))
        hired_at_premium = np.array([c.hired_at_premium for c in cohorts])
        self.log_pay[:, :, 0] = np.log(self.lab.pay_level)[None, :] + np.where(
            hired_at_premium[:, None], np.log1p(self.lab.new_hire_premium)[None, :], 0.0
        )
        self.log_pay[:, :, 1] = self._new_hire_log_pay()

        # Starting state and entries.
        k = self.n_types
        self.x0 = np.zeros((len(cohorts), k, n_labs, self.n_classes))
        self.pool0 = np.zeros((len(cohorts), k))
        code = {name: j for j, name in enumerate(self.labs)}
        for c, cohort in enumerate(cohorts):
            if cohort.lab == OUTSIDE:
                self.pool0[c] += cohort.size / k
            else:
                self.x0[c, :, code[cohort.lab], 0] += cohort.size / k
        self.entry_rate = np.array([c.entry_rate for c in cohorts]) / k  # per type per year
        market, outside = spec.market, spec.outside
        # Search effort (scenario [search]): each state's offer rate × its effort.
        self.search = spec.search if spec.search.on else None
        self.rates = (
            market.separation_rate,
            market.offer_rate_employed,
            market.offer_rate_outside,
            outside.opportunity_rate,
            outside.retirement_rate,
        )

    def _event_time(self, at: float) -> float:
        # The simulation applies an event at the start of step round(at/dt) + 1 (capped).
        return min(round(at / self.dt), self.n_steps - 1) * self.dt

    # -- events --------------------------------------------------------------------------------

    def apply_events(self, time: float) -> None:
        """Apply the events scheduled at ``time`` (jumps of turmoil, mission, pay, freezes)."""
        code = {name: j for j, name in enumerate(self.labs)}
        new_epoch = False
        for event in self.events.get(time, ()):
            j = code[event.lab]
            factor, _ = self.lab.apply_event(event, j)
            self.log_pay[:, j, :] += math.log(factor)
            match event:
                case PayChange():
                    new_epoch = True
                case HiringFreeze(duration=duration):
                    self.frozen_until[j] = max(
                        self.frozen_until[j], self._freeze_end(time, duration)
                    )
        if new_epoch:
            self.epoch += 1
            self.log_pay[:, :, 1 + self.epoch] = self._new_hire_log_pay()

    def _new_hire_log_pay(self) -> np.ndarray:
        return np.log(self.lab.pay_level * (1 + self.lab.new_hire_premium))

    # -- flows -----------------------------------------------------------------------------------

    def flows(
        self, x: np.ndarray, pool: np.ndarray, turmoil: np.ndarray, time: float, r: _Rates
    ) -> dict[str, Any]:
        """Expected flows out of and into each state per year; ``"rates"``: per researcher."""
        n_labs = self.n_labs
        headcount = x.sum(axis=(0, 1, 3))
        # Capacity is not in the dynamics: where it would bind, the solution is flagged
        # (see _check_capacity) rather than approximated.
        hiring = (self.frozen_until <= time + 1e-12) & self.has_room
        weight = self.lab.recruiting_intensity * hiring
        others = weight.sum() - weight  # offers to lab i's staff come from the other labs
        with np.errstate(invalid="ignore", divide="ignore"):
            pi_lab = np.where(others[:, None] > 1e-12, weight[None, :] / others[:, None], 0.0)
            pi_pool = weight / weight.sum() if weight.sum() > 1e-12 else np.zeros(n_labs)
        np.fill_diagonal(pi_lab, 0.0)

        alignment = 1.0 - 2.0 * np.abs(self.orientation[:, :, None] - self.lab.orientation)
        lab_terms = (
            self.w_mission[:, :, None] * self.lab.mission_clarity * alignment
            - self.w_stability[:, :, None] * turmoil
            + self.lab.amenity
        )  # (cohort, type, lab)
        w_pay = self.w_pay[:, :, None]
        stay = w_pay[..., None] * self.log_pay[:, None, :, :] + lab_terms[..., None]
        new_pay = self.log_pay[:, :, 1 + self.epoch]  # (cohort, lab)
        offer = w_pay * new_pay[:, None, :] + lab_terms  # (cohort, type, lab)
        at_pool = self.w_pay * self.log_ratio + self.outside_amenity  # (cohort, type)

        # Moves between labs: (cohort, type, from lab, class, to lab).
        accept = _accept(offer[:, :, None, None, :] - stay[..., None] - self.switching, self.noise)
        taken = pi_lab[None, None, :, None, :] * accept
        if self.search is None:
            lab_move = r.offer_employed * taken  # per researcher and year
        else:
            lab_move = self._searched_offers(offer, stay, pi_lab, turmoil, r) * accept
        moves = x[..., None] * lab_move
        leave = _accept(at_pool[:, :, None, None] - stay, self.noise)
        exits = x * r.opportunity * leave
        separations = x * r.separation
        hires_from_pool = (
            pool[..., None]
            * r.offer_outside
            * pi_pool
            * _accept(offer - at_pool[..., None], self.noise)
        )
        arrivals = moves.sum(axis=(2, 3)) + hires_from_pool  # (cohort, type, lab)
        out = moves.sum(axis=-1) + exits + separations
        return {
            "out": out,
            "arrivals": arrivals,
            "to_pool": (exits + separations).sum(axis=(2, 3)),
            "from_pool": hires_from_pool.sum(axis=-1),
            "hires": arrivals.sum(axis=(0, 1)),
            "quits": moves.sum(axis=(0, 1, 3, 4)),
            "exits": exits.sum(axis=(0, 1, 3)),
            "separations": separations.sum(axis=(0, 1, 3)),
            "room": self.lab.capacity - headcount,
            # per researcher and year in each state
            "rates": {
                "lab_move": lab_move,
                "exit": r.opportunity * leave,
                "separation": np.full(leave.shape, r.separation),
                "to_pool": r.opportunity * leave + r.separation,
                "from_pool": r.offer_outside
                * pi_pool
                * _accept(offer - at_pool[..., None], self.noise),
            },
        }

    def _searched_offers(
        self,
        offer: np.ndarray,
        stay: np.ndarray,
        pi_lab: np.ndarray,
        turmoil: np.ndarray,
        r: _Rates,
    ) -> np.ndarray:
        """Offers to the employed with search effort, per (cohort, type, lab, class, to lab).

        The simulation's rule (:func:`talentsim.compiled.search.offer_effort`) on each state:
        with ``search.gap = "offer"`` the gap of an offer from lab ``j`` is its gain,
        ``offer_j − stay``; with ``"market"`` it is the mean gain ``Σ_j π(i→j)·offer_j −
        stay`` (π the offering lab's probability, 0 if no other lab hires). ``"lab"`` (the
        staff's recent offers) is refused by :func:`untreatable`; when told to go on, the
        solver uses ``"market"``, whose mean over a lab's staff it estimates. The rate per year
        of an offer from each lab is returned, π included (the last axis sums to the offer's
        rate). The steps
        mode turns these rates into a step's transitions exactly (``expm(Q dt)``), as the
        simulation's uniformization does.
        """
        search = self.search
        assert search is not None
        if search.gap in ("market", "lab"):  # ("lab": its per-researcher counterpart)
            lab_offers = np.einsum("ij,ctj->cti", pi_lab, offer)  # (cohort, type, lab)
            anyone = pi_lab.sum(axis=1) > 0  # another lab hires
            gap = np.where(anyone[None, None, :, None], lab_offers[..., None] - stay, 0.0)
            gap = gap[..., None]  # the same for every offering lab
        else:
            gap = offer[:, :, None, None, :] - stay[..., None]
        exponent = search.gap_sensitivity * gap
        exponent = exponent + search.turmoil_sensitivity * turmoil[:, None, None]
        effort = np.clip(np.exp(np.minimum(exponent, 700.0)), search.effort_min, search.effort_max)
        return r.offer_employed * effort * pi_lab[None, None, :, None, :]

    def _check_capacity(
        self, arrivals: np.ndarray, room: np.ndarray, time: float, x: np.ndarray
    ) -> None:
        """Note the first lab whose capacity binds, or comes close enough to bind in a run.

        A lab binds when its free places minus the expected arrivals fall below three standard
        deviations of its headcount (taken as √(headcount + arrivals), the Poisson scale) plus
        one place: in expectation it may be below capacity, but runs would reach it.
        """
        headcount = x.sum(axis=(0, 1, 3))
        margin = 1.0 + 3.0 * np.sqrt(headcount + arrivals)
        binds = np.flatnonzero((room - arrivals < margin) & self.has_room)
        if binds.shape[0] and self.binding is None:
            self.binding = (self.labs[int(binds[0])], time)

    # -- solvers ---------------------------------------------------------------------------------

    def _record(
        self, x: np.ndarray, pool: np.ndarray, turmoil: np.ndarray, flow: np.ndarray
    ) -> np.ndarray:
        """One output row per place: headcount, flows, mean pay, turmoil."""
        n_labs = self.n_labs
        row = np.full((n_labs + 1, 3 + len(MEAN_FIELD_FLOWS)), np.nan)
        headcount = x.sum(axis=(0, 1, 3))
        row[:n_labs, 0] = headcount
        row[n_labs, 0] = pool.sum()
        row[:, 1 : 1 + len(MEAN_FIELD_FLOWS)] = flow
        pay = np.einsum("ckjq,cjq,c->j", x, np.exp(self.log_pay), self.mean_value)
        with np.errstate(invalid="ignore", divide="ignore"):
            row[:n_labs, -2] = pay / headcount
        row[:n_labs, -1] = turmoil
        return row

    def _flow_row(self, f: dict[str, np.ndarray], retired: float, entered: float) -> np.ndarray:
        flow = np.zeros((self.n_labs + 1, len(MEAN_FIELD_FLOWS)))
        for i, name in enumerate(("hires", "quits", "exits", "separations")):
            flow[: self.n_labs, i] = f[name]
        flow[self.n_labs, 4] = entered
        flow[self.n_labs, 5] = retired
        return flow

    def generator(self, turmoil: np.ndarray, time: float) -> np.ndarray:
        """Each type's generator over places × pay classes, labs as they are now (per year).

        Shape ``(cohort, type, S, S)`` with ``S = labs × pay classes + 1`` (state
        ``i·classes + q`` is lab ``i`` in pay class ``q``; the last is the pool); hires go to
        the current pay epoch's class.
        """
        rate = self._unit_rates(turmoil, time)
        n_c, n_k, n_labs, n_q = self.x0.shape
        size = n_labs * n_q + 1
        q_matrix = np.zeros((n_c, n_k, size, size))
        target = np.arange(n_labs) * n_q + 1 + self.epoch
        for i in range(n_labs):
            for cls in range(n_q):
                s_from = i * n_q + cls
                q_matrix[:, :, s_from, target] += rate["lab_move"][:, :, i, cls, :]
                q_matrix[:, :, s_from, size - 1] += rate["to_pool"][:, :, i, cls]
        q_matrix[:, :, size - 1, target] += rate["from_pool"]
        idx = np.arange(size)
        q_matrix[:, :, idx, idx] -= q_matrix.sum(axis=-1)
        return q_matrix

    def _unit_rates(self, turmoil: np.ndarray, time: float) -> dict[str, np.ndarray]:
        """Per researcher and year, the rate of each move in each state (flows of unit masses)."""
        ones = np.ones_like(self.x0)
        flows = self.flows(ones, np.ones_like(self.pool0), turmoil, time, _Rates(*self.rates))
        rates: dict[str, np.ndarray] = flows["rates"]
        return rates

    def step_exactly(
        self, x: np.ndarray, pool: np.ndarray, turmoil: np.ndarray, time: float, dt: float
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One step as the simulation takes it: the exact transition, environment frozen.

        With the labs (pay, turmoil, hiring) as at the start of the step, each type's
        researchers move by its continuous-time generator ``Q`` (:meth:`generator`), so the
        step's transition is ``expm(Q·dt)``, and the expected number of moves of each kind is
        the expected time spent in a state, ``x·∫₀^dt expm(Q·s) ds``, times the state's rate
        of that move. Both are computed on the state vector by uniformization (Jensen 1953):
        with ``Λ`` at least every state's total rate, ``R = I + Q/Λ`` and ``v_n = x·Rⁿ``,
        ``x·expm(Q·dt) = Σ_n Pois(n; Λdt)·v_n`` and
        ``x·∫₀^dt expm(Q·s) ds = Σ_n P(N > n)·v_n / Λ``, the series cut where the Poisson tail
        is below 1e-14 (tests/test_exact_transitions.py checks it against
        :func:`scipy.linalg.expm`). Returns the new ``x`` and ``pool`` and the step's
        expected flows.
        """
        from scipy.stats import poisson  # imported here: scipy.stats takes ~0.3 s to import

        q_matrix = self.generator(turmoil, time)
        rate = self._unit_rates(turmoil, time)
        n_c, n_k, n_labs, n_q = x.shape
        size = n_labs * n_q + 1
        bound = float(-np.diagonal(q_matrix, axis1=-2, axis2=-1).min()) * 1.0001 + 1e-12
        mean = bound * dt
        stochastic = q_matrix / bound
        idx = np.arange(size)
        stochastic[:, :, idx, idx] += 1.0
        n_terms = int(poisson.isf(1e-14, mean)) + 2
        weights = poisson.pmf(np.arange(n_terms), mean)
        beyond = poisson.sf(np.arange(n_terms), mean)  # P(N > n)
        v = np.concatenate([x.reshape(n_c, n_k, -1), pool[..., None]], axis=-1)
        end = weights[0] * v
        occupancy = beyond[0] * v
        for n in range(1, n_terms):
            v = np.einsum("cks,ckst->ckt", v, stochastic)
            end += weights[n] * v
            occupancy += beyond[n] * v
        occupancy /= bound
        at_labs = occupancy[..., :-1].reshape(x.shape)
        at_pool = occupancy[..., -1]
        moves = at_labs[..., None] * rate["lab_move"]
        exits = at_labs * rate["exit"]
        separations = at_labs * rate["separation"]
        hires_from_pool = at_pool[..., None] * rate["from_pool"]
        arrivals = moves.sum(axis=(2, 3)) + hires_from_pool
        flows = {
            "hires": arrivals.sum(axis=(0, 1)),
            "quits": moves.sum(axis=(0, 1, 3, 4)),
            "exits": exits.sum(axis=(0, 1, 3)),
            "separations": separations.sum(axis=(0, 1, 3)),
        }
        return end[..., :-1].reshape(x.shape), end[..., -1], flows

    def solve_steps(self) -> pd.DataFrame:
        """Iterate the simulation's discrete steps in expectation (see :meth:`step_exactly`)."""
        dt = self.dt
        p_retirement = float(rate_to_probability(self.rates[4], dt))
        x, pool = self.x0.copy(), self.pool0.copy()
        rows = [self._record(x, pool, self.lab.turmoil, np.zeros((self.n_labs + 1, 6)))]
        times = sorted(self.events)
        for k in range(1, self.n_steps + 1):
            start = (k - 1) * dt
            while times and times[0] <= start + 1e-9:
                self.apply_events(times.pop(0))
            x_before = x
            x, pool, f = self.step_exactly(x, pool, self.lab.turmoil, start + dt / 2, dt)
            room = self.lab.capacity - x_before.sum(axis=(0, 1, 3))
            self._check_capacity(f["hires"], room, start, x_before)
            retired = pool * p_retirement
            pool = pool - retired + self.entry_rate[:, None] * dt
            self.lab.turmoil = self.lab.turmoil * self.lab.turmoil_decay
            entered = float(self.entry_rate.sum() * self.n_types * dt)
            rows.append(
                self._record(x, pool, self.lab.turmoil, self._flow_row(f, retired.sum(), entered))
            )
        return self._frame(np.array(rows))

    def solve_ode(self, rtol: float) -> pd.DataFrame:
        """Integrate the flow equations in continuous time, events as jumps."""
        from scipy.integrate import solve_ivp  # imported here: sweep workers never need it

        rates = _Rates(*self.rates)  # per-year hazards
        shape_x, shape_pool = self.x0.shape, self.pool0.shape
        n_x, n_pool = self.x0.size, self.pool0.size
        n_flow = (self.n_labs + 1) * len(MEAN_FIELD_FLOWS)
        grid = np.arange(self.n_steps + 1) * self.dt
        boundaries = sorted({0.0, *self.events, *self._freeze_ends(), grid[-1]})
        boundaries = [b for b in boundaries if 0.0 <= b <= grid[-1]]

        def unpack(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return y[:n_x].reshape(shape_x), y[n_x : n_x + n_pool].reshape(shape_pool)

        states = np.zeros((grid.shape[0], n_x + n_pool + n_flow))
        rows = np.zeros((grid.shape[0], self.n_labs + 1, 3 + len(MEAN_FIELD_FLOWS)))
        no_flow = np.zeros((self.n_labs + 1, len(MEAN_FIELD_FLOWS)))
        y = np.concatenate([self.x0.ravel(), self.pool0.ravel(), np.zeros(n_flow)])
        states[0] = y
        rows[0] = self._record(self.x0, self.pool0, self.lab.turmoil, no_flow)  # before events
        for a, b in itertools.pairwise(boundaries):
            self.apply_events(a)
            turmoil0 = self.lab.turmoil.copy()

            def turmoil_at(t: float, t0: float = a, base: np.ndarray = turmoil0) -> np.ndarray:
                return base * np.exp(-self.recovery * (t - t0))

            def rhs(t: float, y: np.ndarray, turmoil_at: Any = turmoil_at) -> np.ndarray:
                x, pool = unpack(y)
                f = self.flows(x, pool, turmoil_at(t), t, rates)
                dx = -f["out"]
                dx[:, :, :, 1 + self.epoch] += f["arrivals"]
                retire = pool * rates.retirement
                dpool = f["to_pool"] - f["from_pool"] - retire + self.entry_rate[:, None]
                flow = self._flow_row(f, retire.sum(), float(self.entry_rate.sum() * self.n_types))
                return np.concatenate([dx.ravel(), dpool.ravel(), flow.ravel()])

            # Grid points in (a, b]: a point at an event time shows the state before the
            # event, as the simulation records it (at the end of the previous step).
            inside = (grid > a + 1e-12) & (grid <= b + 1e-12)
            scale = max(1.0, float(y[: n_x + n_pool].sum()))
            sol = solve_ivp(
                rhs, (a, b), y, rtol=rtol, atol=rtol * scale, method="RK45", dense_output=True
            )
            if not sol.success:  # pragma: no cover - smooth right-hand sides
                raise MeanFieldError(f"{self.spec.name}: the ODE solver failed: {sol.message}")
            for i in np.flatnonzero(inside):
                states[i] = sol.sol(grid[i])
                x, pool = unpack(states[i])
                # recorded with this segment's pay classes (before later pay changes)
                rows[i] = self._record(x, pool, turmoil_at(grid[i]), no_flow)
                room = self.lab.capacity - x.sum(axis=(0, 1, 3))
                self._check_capacity(np.zeros(self.n_labs), room, float(grid[i]), x)
            y = sol.sol(b)
            self.lab.turmoil = turmoil_at(b)
        cumulative = states[:, n_x + n_pool :].reshape(grid.shape[0], self.n_labs + 1, -1)
        rows[:, :, 1 : 1 + len(MEAN_FIELD_FLOWS)] = np.diff(
            cumulative, axis=0, prepend=cumulative[:1]
        )
        return self._frame(rows)

    def _freeze_end(self, time: float, duration: float | None) -> float:
        """When a freeze starting at ``time`` ends.

        With events aligned to steps, as in the simulation: a whole number of steps,
        ``round(duration/dt)`` with Python's rounding (halves to even).
        """
        if duration is None:
            return math.inf
        return time + (round(duration / self.dt) * self.dt if self.align else duration)

    def _freeze_ends(self) -> list[float]:
        ends = []
        for time, group in self.events.items():
            for event in group:
                if isinstance(event, HiringFreeze) and event.duration is not None:
                    ends.append(self._freeze_end(time, event.duration))
        return ends

    def _frame(self, rows: np.ndarray) -> pd.DataFrame:
        """(step, place, column) array to a long table like RunResult.timeseries."""
        n_rows, n_places, _ = rows.shape
        places = [*self.labs, OUTSIDE]
        step = np.repeat(np.arange(n_rows), n_places)
        columns: dict[str, Any] = {
            "step": step,
            "time": step * self.dt,
            "lab": pd.Categorical(np.tile(places, n_rows), categories=places),
            "headcount": rows[:, :, 0].reshape(-1),
        }
        for i, name in enumerate(MEAN_FIELD_FLOWS):
            columns[name] = rows[:, :, 1 + i].reshape(-1)
        columns["mean_pay"] = rows[:, :, -2].reshape(-1)
        columns["turmoil"] = rows[:, :, -1].reshape(-1)
        return pd.DataFrame(columns)


def _problem_message(spec: Scenario, problems: list[str]) -> str:
    listed = "\n".join(f"  - {p}" for p in problems)
    return (
        f"{spec.name}: the mean-field equations cannot treat exactly:\n{listed}\n"
        "Switch these off for a mean-field solution, or pass strict=False (on the command "
        "line: leave out --strict) to ignore them (the answer then leaves them out)."
    )
