"""Statistics of a run, each computed as the public source that reports it defines it.

Calibration compares numbers reported about real labs with the same numbers computed on
simulated runs, so each statistic here states exactly what it counts. They read a
:class:`~talentsim.results.RunResult`'s move log (``events``), its time series and its
researchers, through :class:`RunArrays`: the columns as NumPy arrays, built once per run
(about a tenth of a millisecond on a flagship-size run) and shared by every statistic, each of
which then costs a few tens of microseconds. Every statistic also takes a ``RunResult``
directly (it then builds the arrays itself).

Times are years since the start of the run, or durations with units (``"9w"``, ``"2mo"``).
A ``window`` ``(start, end)`` keeps the moves made in steps whose time is in ``(start, end]``;
by default the whole run. A statistic that needs a time past the run's end (a two-year
retention on a one-year run) raises :class:`StatisticError` rather than returning NaN; NaN
means the statistic is undefined in this run (a share of departures when nobody left).

Kinds of move (``events["kind"]``): ``hire`` (from the outside pool into a lab), ``quit``
(from a lab to another lab), ``return`` (to one's former lab, from a lab or from the pool: a
boomerang), ``exit`` (a voluntary move from a lab to the outside: startups, academia),
``separation`` (an exogenous departure to the outside), ``entry`` and ``retirement`` (into and
out of the pool). Arrivals at a lab (its *hires* in a source's sense) are ``hire``, ``quit``
and ``return`` moves into it; departures are ``quit``, ``return``, ``exit`` and ``separation``
moves out of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from talentsim import terms
from talentsim.model import MOVE_KINDS, TalentModel
from talentsim.results import DEPARTURE_KINDS, RunResult, check_steps, move_columns
from talentsim.scenario import OUTSIDE, Scenario
from talentsim.units import parse_duration

ARRIVAL_KINDS = ("hire", "quit", "return")
"""Kinds of move that bring a researcher into a lab (its hires, returns included)."""

LAB_TO_LAB_KINDS = ("quit", "return")
"""Kinds of move from one lab to another (a return may also come from the pool)."""

KIND_CODE = {name: code for code, name in enumerate(MOVE_KINDS)}

_EPS = 1e-9

Time = float | str
"""Years since the start, or a duration with units (``"9w"``)."""

Window = tuple[Time, Time] | None


class StatisticError(ValueError):
    """A statistic cannot be computed on this run (unknown lab, run too short, ...)."""


def years(value: Time, name: str) -> float:
    """A time in years, from years or a duration with units.

    Raises:
        StatisticError: naming ``name`` if the value is neither.
    """
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise StatisticError(f"{name}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise StatisticError(f"{name}: expected years or a duration such as '9w', got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise StatisticError(f"{name}: expected a non-negative time, got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class RunArrays:
    """The columns of a run that the statistics read, as NumPy arrays (built once per run).

    Places are coded ``0 .. n_labs - 1`` for the labs (in the scenario's order), ``n_labs``
    for the outside pool and ``n_labs + 1`` for "gone" (out of the field, or not yet in it).

    Attributes:
        labs: Lab names. cohorts: Cohort names.
        dt: Step length (years). end: Time of the last step (years).
        step, time, researcher, cohort, origin, destination, kind, tenure: One entry per
            move, as in ``RunResult.events`` (codes for the categorical columns).
        previous_time: Time of the same researcher's previous move (NaN for their first).
        next_time: Time of the same researcher's next move (inf for their last).
        by_researcher: The moves in order of researcher, then step (a researcher's moves
            within a step in the order they happened): indices into the move arrays.
        gain_terms: The utility terms whose gains the moves record (``gain_<term>``);
            :attr:`gains` reads them when first asked.
        headcount: Headcount at the end of each step, shape ``(steps + 1, n_labs + 1)``.
        start: Place of each researcher at step 0; researcher_cohort: their cohort codes.
        start_previous: The lab each researcher had worked at before the run (their cohort's
            ``previous_lab``, for those there at the start; −1 for none, and for entrants).
        events: The run's move log, which the arrays were taken from (None for arrays taken
            from a model: :meth:`from_model`).
        gain_columns: For arrays taken from a model, the gains by term (``gain_<term>``:
            values), which :attr:`gains` reads instead of ``events``.
    """

    labs: tuple[str, ...]
    cohorts: tuple[str, ...]
    dt: float
    end: float
    step: np.ndarray
    time: np.ndarray
    researcher: np.ndarray
    cohort: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    kind: np.ndarray
    tenure: np.ndarray
    previous_time: np.ndarray
    next_time: np.ndarray
    by_researcher: np.ndarray
    gain_terms: tuple[str, ...]
    headcount: np.ndarray
    start: np.ndarray
    researcher_cohort: np.ndarray
    start_previous: np.ndarray
    events: pd.DataFrame | None = field(repr=False)
    gain_columns: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, run: RunResult | RunArrays) -> RunArrays:
        """The arrays of a run (``run`` itself if it already is one)."""
        if isinstance(run, RunArrays):
            return run
        scenario = run.scenario
        labs = tuple(scenario.lab_names)
        n_labs = len(labs)
        place_code = {name: code for code, name in enumerate(labs)}
        place_code[OUTSIDE] = n_labs
        ev = run.events

        cohort_names = tuple(scenario.cohorts)
        cohort_code = {name: code for code, name in enumerate(cohort_names)}
        kind = _recode(ev["kind"], KIND_CODE, -1)
        cohort = _recode(ev["cohort"], cohort_code, -1)
        step = ev["step"].to_numpy(dtype=np.int64)
        time = ev["time"].to_numpy(dtype=float)
        researcher = ev["researcher"].to_numpy(dtype=np.int64)
        previous_time, next_time, by_researcher = _neighbour_times(step, time, researcher)
        gain_terms = tuple(c.removeprefix("gain_") for c in ev.columns if c.startswith("gain_"))

        ts = run.timeseries
        n_places = n_labs + 1
        steps = len(ts) // n_places
        headcount = ts["headcount"].to_numpy(dtype=np.int64).reshape(steps, n_places)
        people = run.researchers
        researcher_cohort = _recode(people["cohort"], cohort_code, -1)
        return cls(
            labs=labs,
            cohorts=cohort_names,
            dt=float(scenario.time.step),
            end=float(ts["time"].iloc[-1]),
            step=step,
            time=time,
            researcher=researcher,
            cohort=cohort,
            origin=_recode(ev["origin"], place_code, n_labs + 1),
            destination=_recode(ev["destination"], place_code, n_labs + 1),
            kind=kind,
            tenure=ev["tenure"].to_numpy(dtype=float),
            previous_time=previous_time,
            next_time=next_time,
            by_researcher=by_researcher,
            gain_terms=gain_terms,
            headcount=headcount,
            start=_recode(people["start"], place_code, n_labs + 1),
            researcher_cohort=researcher_cohort,
            start_previous=_start_previous(scenario, researcher_cohort),
            events=ev,
        )

    @classmethod
    def from_model(cls, model: TalentModel) -> RunArrays:
        """The arrays of a model that has been stepped, without building a :class:`RunResult`.

        Equal, array for array, to ``RunArrays.of(RunResult.from_model(model))`` (the tests
        check it on every scenario), at a small fraction of the cost: no tables are built.
        The model's move log is left in place.
        """
        scenario = model.spec
        labs = tuple(scenario.lab_names)
        n_labs = len(labs)
        steps = model.steps
        columns = move_columns(model)
        if columns is None:
            empty = np.zeros(0)
            columns = {
                name: np.zeros(0, dtype=np.int64)
                for name in ("step", "researcher", "cohort", "origin", "destination", "kind")
            }
            columns.update({name: empty for name in ("tenure", "pay_before", "pay_after")})
            columns.update({f"gain_{name}": empty for name in model.term_names})
        step = columns["step"].astype(np.int64)
        time = columns["step"] * model.dt
        researcher = columns["researcher"].astype(np.int64)
        previous_time, next_time, by_researcher = _neighbour_times(step, time, researcher)
        gain_terms = tuple(model.term_names)
        pop = model.population
        n_initial = model.initial_location.shape[0]
        start = np.full(pop.size, n_labs, dtype=np.int64)  # entrants start outside
        start[:n_initial] = model.initial_location
        researcher_cohort = pop.view("cohort").astype(np.int64)
        return cls(
            labs=labs,
            cohorts=tuple(scenario.cohorts),
            dt=float(scenario.time.step),
            end=float(steps * model.dt),
            step=step,
            time=time,
            researcher=researcher,
            cohort=columns["cohort"].astype(np.int64),
            origin=columns["origin"].astype(np.int64),
            destination=columns["destination"].astype(np.int64),
            kind=columns["kind"].astype(np.int64),
            tenure=columns["tenure"].astype(float),
            previous_time=previous_time,
            next_time=next_time,
            by_researcher=by_researcher,
            gain_terms=gain_terms,
            headcount=model.headcount_history[: steps + 1].astype(np.int64),
            start=start,
            researcher_cohort=researcher_cohort,
            start_previous=_start_previous(scenario, researcher_cohort),
            events=None,
            gain_columns={t: columns[f"gain_{t}"] for t in gain_terms},
        )

    @cached_property
    def gains(self) -> np.ndarray:
        """Utility gain per term of each move (columns in the order of ``gain_terms``)."""
        if self.gain_columns is not None:
            columns = [self.gain_columns[t].astype(float) for t in self.gain_terms]
        else:
            assert self.events is not None
            columns = [self.events[f"gain_{t}"].to_numpy(dtype=float) for t in self.gain_terms]
        return np.stack(columns, axis=1) if columns else np.zeros((len(self.time), 0))

    # ---- selections -------------------------------------------------------------------------

    def lab_code(self, lab: str, name: str = "lab", *, outside: bool = False) -> int:
        """The code of a lab (or of the outside pool when ``outside``)."""
        if lab in self.labs:
            return self.labs.index(lab)
        if outside and lab == OUTSIDE:
            return len(self.labs)
        known = ", ".join([*self.labs, *([OUTSIDE] if outside else [])])
        raise StatisticError(f"{name}: no lab named {lab!r} in this run ({known})")

    def labs_mask(self, codes: np.ndarray, lab: str | None, name: str = "lab") -> np.ndarray:
        """Which of the place ``codes`` are ``lab`` (any lab when None)."""
        if lab is None:
            return codes < len(self.labs)
        return codes == self.lab_code(lab, name)

    def cohort_mask(self, codes: np.ndarray, cohorts: Sequence[str] | None) -> np.ndarray:
        """Which of the cohort ``codes`` are in ``cohorts`` (all when None)."""
        if cohorts is None:
            return np.ones(len(codes), dtype=bool)
        if isinstance(cohorts, str):
            raise StatisticError("cohorts: expected a list of cohort names, not a string")
        unknown = [c for c in cohorts if c not in self.cohorts]
        if unknown:
            known = ", ".join(self.cohorts)
            raise StatisticError(f"cohorts: no cohort named {unknown} in this run ({known})")
        wanted = np.array([self.cohorts.index(c) for c in cohorts], dtype=np.int64)
        return np.isin(codes, wanted)

    def kind_mask(self, kinds: Sequence[str]) -> np.ndarray:
        """Which moves are of one of ``kinds``."""
        if isinstance(kinds, str):
            raise StatisticError("kinds: expected a list of kinds of move, not a string")
        unknown = [k for k in kinds if k not in KIND_CODE]
        if unknown:
            raise StatisticError(f"kinds: unknown kind(s) {unknown} ({', '.join(MOVE_KINDS)})")
        return np.isin(self.kind, [KIND_CODE[k] for k in kinds])

    def reaches(self, t: float) -> bool:
        """Whether the run follows people up to time ``t`` (years; half a step past its end).

        A run's number of steps is its duration over the step, rounded, so it ends within
        half a step of its duration: a run of 52 weekly steps ends at 0.997 years, and "after
        one year" means its end. Further than that would follow people past the run.
        """
        return not t > self.end + self.dt / 2 + _EPS  # (written so, as before, for NaN)

    def within(self, value: Time, name: str) -> float:
        """A time in years that must lie within the run (:meth:`reaches`)."""
        t = years(value, name)
        if not self.reaches(t):
            raise StatisticError(
                f"{name}: {value!r} is past the end of the run ({self.end:.4g} years); "
                "run the scenario longer (time.duration)"
            )
        return t

    def window_bounds(self, window: Window, name: str = "window") -> tuple[float, float]:
        """``(start, end)`` in years, checked against the run (default: the whole run)."""
        if window is None:
            return 0.0, self.end
        if isinstance(window, str) or len(window) != 2:
            raise StatisticError(f"{name}: expected (start, end), got {window!r}")
        low = years(window[0], f"{name} start")
        high = self.within(window[1], f"{name} end")
        if high < low:
            raise StatisticError(f"{name}: ends ({window[1]!r}) before it starts ({window[0]!r})")
        return low, high

    def in_window(self, window: Window, name: str = "window") -> np.ndarray:
        """Which moves were made in ``(start, end]`` of the window."""
        low, high = self.window_bounds(window, name)
        return (self.time > low + _EPS) & (self.time <= high + _EPS)

    def departures_mask(
        self,
        lab: str | None,
        cohorts: Sequence[str] | None,
        window: Window,
        kinds: Sequence[str],
    ) -> np.ndarray:
        """Departures from ``lab`` (any lab) by ``cohorts`` in ``window`` of ``kinds``."""
        return (
            self.labs_mask(self.origin, lab)
            & self.kind_mask(kinds)
            & self.cohort_mask(self.cohort, cohorts)
            & self.in_window(window)
        )

    def arrivals_mask(self, lab: str | None, window: Window) -> np.ndarray:
        """Arrivals (hires, quits into, returns) at ``lab`` (any lab) in ``window``."""
        return (
            self.labs_mask(self.destination, lab)
            & self.kind_mask(ARRIVAL_KINDS)
            & self.in_window(window)
        )


def _start_previous(scenario: Scenario, researcher_cohort: np.ndarray) -> np.ndarray:
    """Each researcher's lab before the run: their cohort's ``previous_lab`` (−1: none).

    Researchers are numbered in the order they joined: those there at the start (the
    cohorts' sizes) first, entrants after, who have none.
    """
    code = {name: j for j, name in enumerate(scenario.lab_names)}
    cohorts = scenario.cohorts.values()
    by_cohort = np.array(
        [-1 if c.previous_lab is None else code[c.previous_lab] for c in cohorts],
        dtype=np.int64,
    )
    n_initial = sum(c.size for c in cohorts)
    previous = np.full(researcher_cohort.shape[0], -1, dtype=np.int64)
    previous[:n_initial] = by_cohort[researcher_cohort[:n_initial]]
    return previous


def _neighbour_times(
    step: np.ndarray, time: np.ndarray, researcher: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time of each move's researcher's previous move (NaN: none) and next one (inf: none).

    And the order they are found in (:attr:`RunArrays.by_researcher`).
    """
    # Order moves by researcher, then step; a researcher's moves within a step keep the
    # table's order, which is the order they happened in (lexsort is stable).
    order = np.lexsort((step, researcher))
    same = researcher[order][1:] == researcher[order][:-1]
    previous_time = np.full(len(step), np.nan)
    next_time = np.full(len(step), np.inf)
    previous_time[order[1:][same]] = time[order[:-1][same]]
    next_time[order[:-1][same]] = time[order[1:][same]]
    return previous_time, next_time, order


def run_arrays(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    *,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunArrays:
    """Run a scenario once and return only its :class:`RunArrays`: the lean path.

    The same run as :func:`talentsim.run` with the same arguments (the same moves, bit for
    bit), without the tables of a :class:`RunResult`: for calibration and any loop that
    only computes statistics, where building the tables would cost as much as the run.

    Raises:
        ValueError: if ``steps`` is not a positive whole number.
    """
    check_steps(steps)
    model = TalentModel(scenario, seed=seed, overrides=overrides, lean=True)
    check_steps(steps, model.spec)
    model.run(steps=steps)
    return RunArrays.from_model(model)


def _recode(column: pd.Series, code: dict[str, int], missing: int) -> np.ndarray:
    """The codes of a categorical column in the numbering ``code`` (``missing`` if absent)."""
    values = column.array
    lookup = np.array([code.get(str(c), missing) for c in values.categories], dtype=np.int64)
    codes = np.asarray(values.codes)
    return lookup[codes] if len(codes) else np.zeros(0, dtype=np.int64)


# ---- the statistics -------------------------------------------------------------------------


def departures(
    run: RunResult | RunArrays,
    lab: str | None = None,
    *,
    cohorts: Sequence[str] | None = None,
    window: Window = None,
    kinds: Sequence[str] = DEPARTURE_KINDS,
    max_tenure: Time | None = None,
    destination: str | None = None,
) -> float:
    """Number of departures from ``lab`` (any lab) in ``window``.

    The article's "at least eight core members left within two months" is
    ``departures(run, "MSL", cohorts=[...core cohorts...], window=(0, "2mo"))``; "two of the
    poached stars went back to their previous lab less than a month after joining" is
    ``departures(run, "MSL", cohorts=[...stars...], kinds=["return"], max_tenure="1mo")``.

    Args:
        run: The run.
        lab: The lab left (None: any lab).
        cohorts: Count only researchers of these cohorts.
        window: ``(start, end)``: moves in ``(start, end]`` (default: the whole run).
        kinds: Kinds of departure counted (default: quit, return, exit, separation).
        max_tenure: Count only departures after at most this long at the lab.
        destination: Count only departures to this lab (or ``"outside"``).
    """
    a = RunArrays.of(run)
    keep = a.departures_mask(lab, cohorts, window, kinds)
    if max_tenure is not None:
        keep &= a.tenure <= years(max_tenure, "max_tenure") + _EPS
    if destination is not None:
        keep &= a.destination == a.lab_code(destination, "destination", outside=True)
    return float(np.count_nonzero(keep))


def attrition_rate(
    run: RunResult | RunArrays,
    lab: str,
    *,
    window: Window = None,
    kinds: Sequence[str] = DEPARTURE_KINDS,
) -> float:
    """Annualised attrition of a lab's staff: departures per person-year at the lab.

    Departures from ``lab`` in ``window`` divided by the person-years spent there in the
    window (the headcount at the start of each step times the step length): the usual
    "separations over average headcount, per year" of HR statistics, measured on all staff
    (not a cohort of new hires; see :func:`new_hire_retention` for that). NaN when nobody
    was at the lab during the window.
    """
    a = RunArrays.of(run)
    code = a.lab_code(lab)
    low, high = a.window_bounds(window)
    left = np.count_nonzero(a.departures_mask(lab, None, window, kinds))
    steps = np.arange(1, a.headcount.shape[0])
    t = steps * a.dt
    in_window = (t > low + _EPS) & (t <= high + _EPS)
    exposure = a.headcount[steps[in_window] - 1, code].sum() * a.dt
    return float(left / exposure) if exposure > 0 else float("nan")


def new_hire_retention(
    run: RunResult | RunArrays,
    lab: str | None = None,
    *,
    hired: Window = None,
    after: Time = "2y",
) -> float:
    """Share of the researchers hired into ``lab`` in ``hired`` still there ``after`` later.

    SignalFire's two-year retention (State of Talent Report 2025) is of a cohort of new
    hires: people who joined a lab (from the pool, from another lab, or back from elsewhere)
    and had not left it two years after joining. Each arrival is one hire; a researcher hired
    twice in the window counts twice. A hire at time ``t`` is retained if the researcher's
    next move (necessarily out of that lab) comes after ``t + after``, or never.

    Args:
        run: The run; it must last at least ``hired``'s end plus ``after``.
        lab: The lab (None: every lab, pooled).
        hired: ``(start, end)``: arrivals in ``(start, end]`` (default: the whole run, which
            then leaves no time to follow them unless ``after`` is 0).
        after: How long after joining (default two years).

    Returns:
        The share; NaN when nobody was hired in the window.

    Raises:
        StatisticError: if the run ends before the last hire can be followed for ``after``.
    """
    a = RunArrays.of(run)
    _, high = a.window_bounds(hired, "hired")
    span = years(after, "after")
    if not a.reaches(high + span):
        raise StatisticError(
            f"hired/after: following hires up to {high:.4g} years for {span:.4g} years needs a "
            f"run of {high + span:.4g} years; this run lasts {a.end:.4g} years "
            "(run the scenario longer: time.duration)"
        )
    keep = a.arrivals_mask(lab, hired)
    n = np.count_nonzero(keep)
    if n == 0:
        return float("nan")
    stayed = a.next_time[keep] > a.time[keep] + span + _EPS
    return float(np.count_nonzero(stayed) / n)


def retention(
    run: RunResult | RunArrays,
    lab: str,
    *,
    cohorts: Sequence[str] | None = None,
    at: Time = "1y",
) -> float:
    """Share of the researchers who started the run at ``lab`` who had not left it by ``at``.

    The same as :meth:`RunResult.retention`: of starting staff (not of new hires). NaN when
    nobody (of those cohorts) started there.
    """
    a = RunArrays.of(run)
    code = a.lab_code(lab)
    t = a.within(at, "at")
    starters = (a.start == code) & a.cohort_mask(a.researcher_cohort, cohorts)
    n = np.count_nonzero(starters)
    if n == 0:
        return float("nan")
    left = a.departures_mask(lab, None, (0.0, t), DEPARTURE_KINDS)
    gone = np.unique(a.researcher[left])
    return float(1.0 - np.count_nonzero(starters[gone]) / n)


def boomerang_share(
    run: RunResult | RunArrays,
    lab: str | None = None,
    *,
    window: Window = None,
    count: Literal["return", "history"] = "return",
) -> float:
    """Share of arrivals at ``lab`` (every lab when None) that were returns to a former lab.

    LinkedIn's boomerang share (Economic Graph, 2021-2022) is of all hires (job changes): the
    share whose employer was one they had worked for before. Arrivals are hires from the pool,
    quits into the lab and returns. NaN when nobody arrived.

    Args:
        run: The run.
        lab: The lab (None: every lab, pooled).
        window: ``(start, end)``: arrivals in ``(start, end]`` (default: the whole run).
        count: Which arrivals count as boomerangs: ``"return"`` (default), those to the lab
            the researcher last left (a move of kind ``return``: A → B → A counts,
            A → B → C → A does not); ``"history"``, those to any lab the researcher had
            worked at before — earlier in the run, or before it (their cohort's
            ``previous_lab``) — as LinkedIn counts them. ``"history"`` is at least
            ``"return"``.

    Raises:
        ValueError: for another ``count``.
    """
    if count not in ("return", "history"):
        raise ValueError(f"count: expected 'return' or 'history', got {count!r}")
    a = RunArrays.of(run)
    keep = a.arrivals_mask(lab, window)
    n = np.count_nonzero(keep)
    if n == 0:
        return float("nan")
    if count == "return":
        return float(np.count_nonzero(a.kind[keep] == KIND_CODE["return"]) / n)
    arrivals = np.flatnonzero(keep)
    # Worked there before: left it earlier in the run (an arrival at a lab one is at is not
    # a move, so any earlier stay there ended with a move out), or before the run.
    left_before = ~np.isnan(_time_last_left(a, arrivals))
    from_before_run = a.start_previous[a.researcher[arrivals]] == a.destination[arrivals]
    return float(np.count_nonzero(left_before | from_before_run) / n)


def mean_time_to_return(
    run: RunResult | RunArrays, lab: str | None = None, *, window: Window = None
) -> float:
    """Mean time (years) between leaving a lab and returning to it, over the returns.

    LinkedIn's 17.3 months (2021) is the mean time between leaving an employer and being
    rehired by it, over boomerang hires. A return's leaving time is the researcher's last
    move out of the lab returned to, when it is in the run. That is not always their
    previous move: someone who left A for the pool, was hired by B and went back to A made
    a return to A (the lab they last left), and left A when they went to the pool, not when
    B hired them. For someone who started the run with a former lab (``previous_lab``) and
    returns to it in their first move, it is their arrival at the lab they return from
    (their tenure there). Other returns whose leaving is before the run (from the pool, or
    from a lab joined from the pool, by someone who started in the pool with a former lab)
    have no known leaving time and are left out. A run only sees returns that happen before
    its end, so long gaps are under-represented in short runs (right truncation). NaN when
    no return.
    """
    a = RunArrays.of(run)
    keep = (a.kind == KIND_CODE["return"]) & a.labs_mask(a.destination, lab)
    keep &= a.in_window(window)
    returns = np.flatnonzero(keep)
    left = _time_last_left(a, returns)
    first = np.isnan(a.previous_time[returns])  # (then tenure is NaN for a return from the pool)
    before_run = np.where(first, a.tenure[returns], np.nan)
    gap = np.where(np.isnan(left), before_run, a.time[returns] - left)
    gap = gap[~np.isnan(gap)]
    return float(gap.mean()) if len(gap) else float("nan")


def _time_last_left(a: RunArrays, moves: np.ndarray) -> np.ndarray:
    """For each of ``moves`` (indices), when its researcher last left the lab it goes to.

    The time of the researcher's latest earlier move out of the move's destination (in the
    order of :attr:`RunArrays.by_researcher`: by step, then the table's order); NaN when there is
    none in the run.
    """
    n = len(a.time)
    order = a.by_researcher
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    places, span = len(a.labs) + 2, n + 1
    out = np.flatnonzero(a.origin < len(a.labs))
    # one integer per move out of a lab: (researcher, lab left), then position; sorted
    codes = np.sort((a.researcher[out] * places + a.origin[out]) * span + position[out])
    wanted = (a.researcher[moves] * places + a.destination[moves]) * span + position[moves]
    before = np.searchsorted(codes, wanted) - 1  # the last code below: an earlier move...
    found = before >= 0
    found[found] = codes[before[found]] // span == wanted[found] // span  # ...out of that lab
    result = np.full(len(moves), np.nan)
    result[found] = a.time[order[codes[before[found]] % span]]
    return result


def outside_share(
    run: RunResult | RunArrays,
    lab: str | None = None,
    *,
    cohorts: Sequence[str] | None = None,
    window: Window = None,
    kinds: Sequence[str] = DEPARTURE_KINDS,
) -> float:
    """Share of the departures from ``lab`` that went to the outside pool (not to a lab).

    Exits (voluntary: startups, academia) and separations (exogenous) go to the outside; pass
    ``kinds=["quit", "return", "exit"]`` for voluntary departures only. NaN when nobody left.
    """
    a = RunArrays.of(run)
    keep = a.departures_mask(lab, cohorts, window, kinds)
    n = np.count_nonzero(keep)
    if n == 0:
        return float("nan")
    return float(np.count_nonzero(a.destination[keep] == len(a.labs)) / n)


def median_tenure_at_departure(
    run: RunResult | RunArrays,
    lab: str | None = None,
    *,
    cohorts: Sequence[str] | None = None,
    window: Window = None,
    kinds: Sequence[str] = DEPARTURE_KINDS,
) -> float:
    """Median time (years) the leavers had spent at the lab they left (NaN when nobody left).

    Tenure counts the time at the lab before the run for its starting staff.
    """
    a = RunArrays.of(run)
    keep = a.departures_mask(lab, cohorts, window, kinds)
    return float(np.median(a.tenure[keep])) if np.any(keep) else float("nan")


def exit_reason_share(
    run: RunResult | RunArrays,
    reason: str,
    lab: str | None = None,
    *,
    cohorts: Sequence[str] | None = None,
    window: Window = None,
    kinds: Sequence[str] = DEPARTURE_KINDS,
) -> float:
    """Share of the departures from ``lab`` whose main reason is ``reason``.

    The main reason is as in :meth:`RunResult.exit_reasons`: the utility term with the largest
    gain, ``idiosyncratic`` when no term favoured the move, ``exogenous`` for separations.
    NaN when nobody left.
    """
    a = RunArrays.of(run)
    known = [*a.gain_terms, *terms.OTHER_REASONS]
    if reason not in known:
        raise StatisticError(f"reason: unknown reason {reason!r} ({', '.join(known)})")
    keep = a.departures_mask(lab, cohorts, window, kinds)
    n = np.count_nonzero(keep)
    if n == 0:
        return float("nan")
    gains = a.gains[keep]
    recorded = ~np.isnan(gains).all(axis=1)
    filled = np.where(np.isnan(gains), -np.inf, gains)
    favoured = filled.max(axis=1, initial=-np.inf) > 0
    if reason == "exogenous":
        hits = ~recorded
    elif reason == "idiosyncratic":
        hits = recorded & ~favoured
    else:
        best = np.argmax(filled, axis=1) if len(filled) else np.zeros(0, np.int64)
        hits = recorded & favoured & (best == a.gain_terms.index(reason))
    return float(np.count_nonzero(hits) / n)


def _bilateral_flows(
    run: RunResult | RunArrays,
    origin: str,
    destination: str,
    window: Window,
    kinds: Sequence[str],
) -> tuple[int, int]:
    """Counts of the moves ``origin`` → ``destination`` and back (forward, reverse)."""
    a = RunArrays.of(run)
    i = a.lab_code(origin, "origin")
    j = a.lab_code(destination, "destination")
    base = a.kind_mask(kinds) & a.in_window(window)
    forward = np.count_nonzero(base & (a.origin == i) & (a.destination == j))
    reverse = np.count_nonzero(base & (a.origin == j) & (a.destination == i))
    return int(forward), int(reverse)


def flow_ratio(
    run: RunResult | RunArrays,
    origin: str,
    destination: str,
    *,
    window: Window = None,
    kinds: Sequence[str] = LAB_TO_LAB_KINDS,
) -> float:
    """Moves from ``origin`` to ``destination`` per move the other way (lab-to-lab moves).

    SignalFire (State of Talent Report 2025): engineers moved from OpenAI to Anthropic about
    8 times as often as the reverse (10.6 times from DeepMind): a ratio of counts of moves
    between two labs. inf when the reverse flow is zero and the forward one is not; NaN when
    both are zero.

    For calibration, use :func:`flow_share` instead: per-run ratios are infinite whenever the
    reverse flow is zero, which in small markets happens in many runs, and a mean over
    replicate seeds with one infinite run is infinite.
    """
    forward, reverse = _bilateral_flows(run, origin, destination, window, kinds)
    if reverse == 0:
        return float("inf") if forward else float("nan")
    return float(forward / reverse)


def flow_share(
    run: RunResult | RunArrays,
    origin: str,
    destination: str,
    *,
    window: Window = None,
    kinds: Sequence[str] = LAB_TO_LAB_KINDS,
) -> float:
    """Forward share of the moves between two labs: F / (F + R), in [0, 1].

    ``F`` counts the lab-to-lab moves from ``origin`` to ``destination``, ``R`` those the other
    way. NaN only when there is no move either way.

    The bounded form of :func:`flow_ratio` for calibration. A published ratio of counts
    ``r = F / R`` (SignalFire, State of Talent Report 2025: 10.6 from DeepMind to Anthropic,
    8.2 from OpenAI) is the share ``r / (1 + r)`` (0.914, 0.891), and a standard error of the
    ratio maps by the delta method to ``se / (1 + r) ** 2``. Per-run ratios are infinite
    whenever the reverse flow is zero, so their mean over replicate seeds is infinite as soon
    as one replicate has no reverse move; the share is then 1, finite, and the simulated
    moment stays an ordinary mean over seeds.
    """
    forward, reverse = _bilateral_flows(run, origin, destination, window, kinds)
    total = forward + reverse
    if total == 0:
        return float("nan")
    return float(forward / total)


STATISTICS: dict[str, Callable[..., float]] = {
    function.__name__: function
    for function in (
        attrition_rate,
        new_hire_retention,
        retention,
        boomerang_share,
        departures,
        outside_share,
        median_tenure_at_departure,
        exit_reason_share,
        mean_time_to_return,
        flow_ratio,
        flow_share,
    )
}
"""The statistics a targets file can name, by name."""
