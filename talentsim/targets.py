"""Calibration targets: what a run should reproduce, with its source and uncertainty.

A targets file (TOML) lists targets. Each names a statistic of a run (one of
:data:`talentsim.run_statistics.STATISTICS`, with its arguments: lab, cohorts, window, ...),
what was observed, in one of four forms, and where the number comes from:

- an estimate with its standard error: ``observed = 0.043``, ``se = 0.005``;
- a band: ``band = [0.64, 0.80]``;
- a one-sided bound: ``at_least = 8`` or ``at_most = 0.1``.

Times (in arguments and, for statistics that are times, in values) carry units (``"9w"``,
``"17.3mo"``) and are read in years. Like scenarios, a targets file is data: it is validated
(pydantic, unknown keys refused) and nothing in it is executed; errors name the file, the key
path and what was expected. In Python a target's statistic may also be any function of a
:class:`~talentsim.results.RunResult`.

:func:`evaluate_targets` runs a scenario over replicate seeds and tabulates, per target, the
simulated mean with its 95% interval beside the observed value, band or bound. See
``docs/calibration.md``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from talentsim import run_statistics, terms
from talentsim.experiments import pool_watch, release_pool, shared_pool
from talentsim.interrupts import gather
from talentsim.results import DEPARTURE_KINDS, RunResult, run
from talentsim.run_statistics import LAB_TO_LAB_KINDS, RunArrays, StatisticError
from talentsim.scenario import (
    OUTSIDE,
    Duration,
    Scenario,
    ScenarioError,
    as_scenario,
    format_validation_error,
    read_toml,
    refuse_another_kind,
)
from talentsim.seeds import seed_list
from talentsim.units import format_years, parse_duration


class TargetsError(ScenarioError):
    """A targets file or target is invalid, or cannot be evaluated on a scenario.

    The message names the file (when there is one), the key path or target, and what was
    expected. (A :class:`~talentsim.scenario.ScenarioError`, so the command line reports it
    the same way.)
    """


def _number_or_duration(value: object) -> object:
    """A value or bound: a number as is, a duration with units in years (``"17.3mo"``)."""
    if isinstance(value, bool):  # (true read as 1 and false as 0, silently)
        raise ValueError(f"expected a number or a duration with units, got {value!r}")
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:  # (a count or share written as text, "one": say both)
            raise ValueError(
                f"expected a number, or a duration with units for a statistic in years: {exc}"
            ) from None
    return value


Value = Annotated[float, BeforeValidator(_number_or_duration)]
"""An observed value, error or bound: a number, or a duration with units (read in years)."""

Window = tuple[Duration, Duration]
"""``[start, end]`` in a file: moves in ``(start, end]``, times with units."""

DepartureKind = Literal["quit", "return", "exit", "separation"]
LabToLabKind = Literal["quit", "return"]


def _all_departures() -> list[DepartureKind]:
    return ["quit", "return", "exit", "separation"]


def _lab_to_lab() -> list[LabToLabKind]:
    return ["quit", "return"]


_ARGS = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Args(BaseModel):
    """Arguments of a statistic (each statistic's own model lists the keys it takes)."""

    model_config = _ARGS

    @field_validator("window", "hired", check_fields=False)
    @classmethod
    def _ordered(cls, window: Window | None) -> Window | None:
        if window is not None and window[1] < window[0]:
            raise ValueError("the window ends before it starts")
        return window

    def needs_years(self) -> float:
        """How long a run must last for the statistic to be computed (years)."""
        values = self.model_dump()
        need = 0.0
        if values.get("window") is not None:
            need = max(need, values["window"][1])
        if "after" in values:
            hired = values.get("hired")
            need = max(need, (hired[1] if hired is not None else 0.0) + values["after"])
        if "at" in values:
            need = max(need, values["at"])
        return need

    def labs_named(self) -> dict[str, str]:
        """The lab names the arguments use, by key."""
        values = self.model_dump()
        return {
            key: values[key]
            for key in ("lab", "origin", "destination")
            if isinstance(values.get(key), str)
        }


class _Departures(_Args):
    lab: str | None = None
    cohorts: list[str] | None = None
    window: Window | None = None
    kinds: list[DepartureKind] = Field(default_factory=_all_departures)
    max_tenure: Duration | None = None
    destination: str | None = None


class _AttritionRate(_Args):
    lab: str
    window: Window | None = None
    kinds: list[DepartureKind] = Field(default_factory=_all_departures)


class _NewHireRetention(_Args):
    lab: str | None = None
    hired: Window | None = None
    after: Duration = 2.0

    @model_validator(mode="after")
    def _followable(self) -> Self:
        # without a window, hires are counted up to the end of the run, and the last ones
        # can never be followed for `after`: refused here, not after the runs
        if self.hired is None and self.after > 0:
            raise ValueError(
                "hired: required with after > 0 (hires up to the end of the run cannot be "
                'followed for after); give the window of hires, e.g. hired = ["0y", "1y"]'
            )
        return self


class _Retention(_Args):
    lab: str
    cohorts: list[str] | None = None
    at: Duration = 1.0


class _PerLab(_Args):
    lab: str | None = None
    window: Window | None = None


class _BoomerangShare(_PerLab):
    count: Literal["return", "history"] = "return"


class _DepartureShare(_Args):
    lab: str | None = None
    cohorts: list[str] | None = None
    window: Window | None = None
    kinds: list[DepartureKind] = Field(default_factory=_all_departures)


class _ExitReasonShare(_DepartureShare):
    reason: str


class _FlowRatio(_Args):
    origin: str
    destination: str
    window: Window | None = None
    kinds: list[LabToLabKind] = Field(default_factory=_lab_to_lab)

    @field_validator("destination")
    @classmethod
    def _two_labs(cls, destination: str, info: ValidationInfo) -> str:
        if destination == info.data.get("origin"):  # (no move from a lab to itself: undefined)
            raise ValueError(
                f"the same lab as origin ({destination!r}); a flow is between two labs"
            )
        return destination


ARGUMENTS: dict[str, type[_Args]] = {
    "attrition_rate": _AttritionRate,
    "new_hire_retention": _NewHireRetention,
    "retention": _Retention,
    "boomerang_share": _BoomerangShare,
    "departures": _Departures,
    "outside_share": _DepartureShare,
    "median_tenure_at_departure": _DepartureShare,
    "exit_reason_share": _ExitReasonShare,
    "mean_time_to_return": _PerLab,
    "flow_ratio": _FlowRatio,
    "flow_share": _FlowRatio,
}
"""The arguments each named statistic takes (its pydantic model)."""

assert set(ARGUMENTS) == set(run_statistics.STATISTICS)

_SHARE, _COUNT = (0.0, 1.0), (0.0, math.inf)
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "attrition_rate": _COUNT,  # (per year)
    "new_hire_retention": _SHARE,
    "retention": _SHARE,
    "boomerang_share": _SHARE,
    "departures": _COUNT,
    "outside_share": _SHARE,
    "median_tenure_at_departure": _COUNT,  # (years)
    "exit_reason_share": _SHARE,
    "mean_time_to_return": _COUNT,  # (years)
    "flow_ratio": _COUNT,
    "flow_share": _SHARE,
}
"""The values each named statistic can take: a target's figures must lie in them (a share of
6 is a percentage typed as a share; a count at least −3 is no target at all)."""

assert set(VALUE_RANGES) == set(run_statistics.STATISTICS)
assert tuple(_all_departures()) == DEPARTURE_KINDS and tuple(_lab_to_lab()) == LAB_TO_LAB_KINDS

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(BaseModel):
    """Where a target's number comes from.

    Attributes:
        citation: The publication (author, title, date).
        measures: What exactly the number measures (population, definition, period).
        url: Where to read it (optional).
        judgement: Whether the target involves a judgement of ours (an assumed standard
            error, a band widened from a point, a mapping of real labs onto the scenario's).
        note: What was judged and why (required when ``judgement`` is true).
    """

    model_config = _STRICT

    citation: str = Field(min_length=1)
    measures: str = Field(min_length=1)
    url: str | None = None
    judgement: bool = Field(default=False, strict=True)
    note: str = ""

    @model_validator(mode="after")
    def _judgement_explained(self) -> Self:
        if self.judgement and not self.note.strip():
            raise ValueError("judgement = true needs a note saying what was judged and why")
        return self


class Target(BaseModel):
    """One target: a statistic of a run and what was observed, with its source.

    Give exactly one of: ``observed`` with ``se``; ``band``; ``at_least``; ``at_most``.

    Attributes:
        name: A short identifier (letters, digits, ``_``).
        statistic: The name of a statistic in :data:`talentsim.run_statistics.STATISTICS`,
            or (in Python) a function of a :class:`RunResult` returning a number.
        args: The statistic's arguments (lab, cohorts, window, ...), checked against the
            statistic; for a function, passed to it as keyword arguments.
        observed: The observed value; se: its standard error.
        band: ``[low, high]``: the value lies in this range.
        at_least: A lower bound (a count of named departures, say). at_most: An upper bound.
        applies_to: What in the scenario the real-world figure stands for (which lab is
            "the mission-clear lab", which cohorts are "the core").
        source: Where the number comes from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    statistic: str | Callable[..., float]
    args: dict[str, Any] = Field(default_factory=dict)
    observed: Value | None = None
    se: Value | None = Field(default=None, gt=0)
    band: tuple[Value, Value] | None = None
    at_least: Value | None = None
    at_most: Value | None = None
    applies_to: str = ""
    source: Source

    _arguments: _Args | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [
            name
            for name, given in (
                ("observed", self.observed is not None),
                ("band", self.band is not None),
                ("at_least", self.at_least is not None),
                ("at_most", self.at_most is not None),
            )
            if given
        ]
        if len(forms) != 1:
            raise ValueError(
                "give exactly one of: observed (with se), band, at_least, at_most"
                + (f"; got {', '.join(forms)}" if forms else "")
            )
        if (self.observed is None) != (self.se is None):
            raise ValueError("observed and se go together (an estimate and its standard error)")
        if self.band is not None and self.band[1] < self.band[0]:
            raise ValueError(f"band: low {self.band[0]} is above high {self.band[1]}")
        if isinstance(self.statistic, str):
            model = ARGUMENTS.get(self.statistic)
            if model is None:
                raise ValueError(
                    f"statistic: unknown statistic {self.statistic!r} "
                    f"(expected one of: {', '.join(ARGUMENTS)})"
                )
            try:
                self._arguments = model.model_validate(self.args)
            except ValidationError as exc:
                lines = []
                for err in exc.errors(include_url=False):
                    key = ".".join(str(part) for part in err["loc"])
                    message = str(err["msg"]).removeprefix("Value error, ")
                    if err["type"] == "extra_forbidden":
                        message = f"unknown key (expected one of: {', '.join(model.model_fields)})"
                    elif err["type"] == "missing":
                        message = "required key is missing"
                    # (a check of several arguments names its key in the message)
                    lines.append(f"args.{key}: {message}" if key else f"args.{message}")
                raise ValueError("\n".join(lines)) from None
            self._check_range(VALUE_RANGES[self.statistic])
        return self

    def _check_range(self, allowed: tuple[float, float]) -> None:
        """Refuse figures the statistic cannot take, or a bound that always or never holds."""
        low, high = allowed
        kind = "a share (0 to 1)" if allowed == _SHARE else "never negative"
        shown = f"{self.statistic} is {kind}"
        for key, value in (
            ("observed", self.observed),
            ("band", None if self.band is None else self.band[0]),
            ("band", None if self.band is None else self.band[1]),
        ):
            if value is not None and not low <= value <= high:
                typo = allowed == _SHARE and value > 1
                hint = " (a percentage given as a share?)" if typo else ""
                raise ValueError(f"{key}: {value:g} is outside what {shown}{hint}")
        if self.at_least is not None and not low < self.at_least <= high:
            fate = "always holds" if self.at_least <= low else "can never hold"
            raise ValueError(f"at_least: {self.at_least:g} {fate}: {shown}")
        if self.at_most is not None and not low <= self.at_most < high:
            fate = "always holds" if self.at_most >= high else "can never hold"
            raise ValueError(f"at_most: {self.at_most:g} {fate}: {shown}")

    # ----------------------------------------------------------------------------------------

    @property
    def form(self) -> str:
        """``"estimate"``, ``"band"``, ``"at_least"`` or ``"at_most"``."""
        if self.observed is not None:
            return "estimate"
        if self.band is not None:
            return "band"
        return "at_least" if self.at_least is not None else "at_most"

    @property
    def bounds(self) -> tuple[float, float]:
        """The range the target allows: the band, a bound (to ±inf), or ±1.96 se."""
        if self.observed is not None and self.se is not None:
            return self.observed - 1.96 * self.se, self.observed + 1.96 * self.se
        if self.band is not None:
            return self.band
        if self.at_least is not None:
            return self.at_least, math.inf
        assert self.at_most is not None
        return -math.inf, self.at_most

    @property
    def statistic_name(self) -> str:
        """The statistic's name (a function's own name for a function)."""
        if isinstance(self.statistic, str):
            return self.statistic
        return getattr(self.statistic, "__name__", type(self.statistic).__name__)

    @property
    def arguments(self) -> dict[str, Any]:
        """The statistic's arguments as it takes them (times in years, defaults filled in)."""
        if self._arguments is None:
            return dict(self.args)
        return self._arguments.model_dump()

    def compute(self, result: RunResult | None, arrays: RunArrays | None = None) -> float:
        """The target's statistic on one run.

        Args:
            result: The run (None when ``arrays`` are given and the statistic is named: the
                lean path of :func:`target_matrix`).
            arrays: Its arrays, when already built (shared between targets).

        Raises:
            StatisticError: if the statistic cannot be computed on this run.
        """
        if isinstance(self.statistic, str):
            function = run_statistics.STATISTICS[self.statistic]
            if arrays is None:
                if result is None:
                    raise ValueError("compute: give the run's result or its arrays")
                arrays = RunArrays.of(result)
            return float(function(arrays, **self.arguments))
        if result is None:
            raise ValueError(f"target {self.name}: a function statistic needs the RunResult")
        return float(self.statistic(result, **self.args))

    def needs_years(self) -> float:
        """How long a run must last (years) for this target's statistic (0 for a function)."""
        return self._arguments.needs_years() if self._arguments is not None else 0.0

    def labs_named(self) -> dict[str, str]:
        """The lab names the statistic's arguments use, by key (none for a function)."""
        return self._arguments.labs_named() if self._arguments is not None else {}

    def describe(self) -> str:
        """The observed value, band or bound, in words (``"≥ 8"``, ``"[0.64, 0.8]"``)."""
        if self.observed is not None:
            return f"{self.observed:.4g} ± {self.se:.2g} (se)"
        if self.band is not None:
            return f"[{self.band[0]:.4g}, {self.band[1]:.4g}]"
        if self.at_least is not None:
            return f"≥ {self.at_least:.4g}"
        return f"≤ {self.at_most:.4g}"


class Targets(BaseModel):
    """A targets file: targets for one scenario, with how long to run it.

    Attributes:
        name: The file's name for the set of targets.
        description: What the targets are and where they come from.
        scenario: The name of the scenario the targets are written for (their labs and
            cohorts are that scenario's); evaluating on a scenario of another name is refused.
        run_duration: Run the scenario this long (overriding ``time.duration``), when its
            statistics need a longer run than the scenario's own (a two-year retention of
            people hired in the first year needs three years).
        targets: The targets (names unique).
    """

    model_config = _STRICT

    name: str = Field(min_length=1)
    description: str = ""
    scenario: str | None = None
    run_duration: Duration | None = None
    targets: list[Target] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[Target]) -> list[Target]:
        names = [t.name for t in targets]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"target names must be unique; repeated: {', '.join(repeated)}")
        return targets

    _source_file: str | None = PrivateAttr(default=None)

    def identity(self) -> list[Any]:
        """What the targets compare, not how they are cited.

        Per target its name, statistic, arguments and figure (observed and se, band or
        bound), then the run's duration. A fit's checkpoint and a stored ABC run record it,
        and refuse to resume with another.
        """
        return [
            [t.name, t.statistic_name, t.arguments, t.observed, t.se, t.band, t.at_least, t.at_most]
            for t in self.targets
        ] + [self.run_duration]

    @property
    def source_file(self) -> str | None:
        """The file the targets were read from (None for targets built in Python)."""
        return self._source_file

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Targets:
        """Validate targets given as a dict with the schema of the files.

        Raises:
            TargetsError: naming the file, the key path and what was expected.
        """
        where = source or "targets"
        if not isinstance(data, Mapping):
            raise TargetsError(f"{where}: expected a table of keys, got {type(data).__name__}")
        try:
            targets = cls.model_validate(dict(data))
        except ValidationError as exc:
            raise TargetsError(_format_errors(exc, where)) from None
        targets._source_file = source
        return targets

    def __getitem__(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(f"no target named {name!r} ({', '.join(t.name for t in self.targets)})")


def _format_errors(exc: ValidationError, where: str) -> str:
    """One line per problem, ``file: key.path: what was expected``; a header above several."""
    text = format_validation_error(exc, where, root=Targets)
    # (a problem found across a whole table shows the table itself: not worth repeating)
    header, *lines = (re.sub(r" \(got \{.*\)$", "", line) for line in text.split("\n"))
    if len(lines) == 1:
        return lines[0].strip()
    return "\n".join([header.replace("invalid scenario", "invalid targets file"), *lines])


def load_targets(path: str | os.PathLike[str]) -> Targets:
    """Read and validate a TOML targets file.

    Raises:
        TargetsError: if the file cannot be read, is not valid TOML, or does not match the
            schema; the message names the file, the key path and what was expected.
        TypeError: for something other than a path.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"load_targets: expected the path of a TOML targets file, got {type(path).__name__}"
        )
    path = Path(path)
    try:
        data = read_toml(path)  # (a byte-order mark, deep nesting, bad bytes: as scenarios)
    except ScenarioError as exc:
        raise TargetsError(str(exc).replace("TOML scenario file", "TOML targets file")) from None
    refuse_another_kind(path, data, "targets", TargetsError)
    return Targets.from_dict(data, source=str(path))


def as_targets(targets: Targets | str | os.PathLike[str] | Sequence[Target]) -> Targets:
    """Targets from a :class:`Targets`, a path to a TOML file, or a list of :class:`Target`."""
    if isinstance(targets, Targets):
        return targets
    if isinstance(targets, str | os.PathLike):
        return load_targets(targets)
    items = list(targets)
    if not all(isinstance(t, Target) for t in items):
        raise TypeError("targets: expected a Targets, a path to a TOML file or a list of Target")
    try:
        return Targets(name="targets", targets=items)
    except ValidationError as exc:
        raise TargetsError(_format_errors(exc, "targets")) from None


# ---- evaluation --------------------------------------------------------------------------------


def scenario_for(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """The scenario to run for ``targets``, checked against them before anything runs.

    Applies ``overrides`` and the targets' ``run_duration``, then checks that the scenario is
    the one the targets are written for, that the labs and cohorts they name exist, and that
    the run is long enough for every statistic.

    Raises:
        TargetsError: naming the targets file and the target.
    """
    base = as_scenario(scenario)  # type: ignore[arg-type]
    if overrides:
        base = base.with_overrides(overrides)
    where = targets.source_file or targets.name
    if targets.scenario is not None and targets.scenario != base.name:
        raise TargetsError(
            f"{where}: scenario: these targets are for scenario {targets.scenario!r}, "
            f"not {base.name!r}"
        )
    if targets.run_duration is not None:
        if overrides and "time.duration" in overrides:
            raise TargetsError(
                f"{where}: run_duration: these targets run the scenario "
                f"{format_years(targets.run_duration)} (their statistics' windows need it), "
                "so time.duration cannot be overridden as well; leave it out"
            )
        base = base.with_overrides(
            {"time.duration": format_years(targets.run_duration)}, source=f"{where}: run_duration"
        )
    duration = base.time.duration
    labs, cohorts = base.lab_names, list(base.cohorts)
    for index, target in enumerate(targets.targets):
        named = f"{where}: targets.{index} ({target.name})"
        for key, lab in target.labs_named().items():
            allowed = [*labs, OUTSIDE] if key == "destination" else labs
            if lab not in allowed:
                raise TargetsError(
                    f"{named}: args.{key}: no lab named {lab!r} in scenario {base.name!r} "
                    f"({', '.join(allowed)})"
                )
        named_args = target.arguments if isinstance(target.statistic, str) else {}
        unknown = [c for c in named_args.get("cohorts") or [] if c not in cohorts]
        if unknown:
            raise TargetsError(
                f"{named}: args.cohorts: no cohort named {unknown} in scenario {base.name!r} "
                f"({', '.join(cohorts)})"
            )
        reason = named_args.get("reason")
        if reason is not None and reason not in terms.reasons():
            raise TargetsError(
                f"{named}: args.reason: unknown reason {reason!r} ({', '.join(terms.reasons())})"
            )
        need = target.needs_years()
        if need > duration + 1e-9:
            raise TargetsError(
                f"{named}: {target.statistic_name} needs a run of at least {format_years(need)}, "
                f"but the scenario runs {format_years(duration)}; set run_duration in the "
                "targets file (or time.duration in the scenario)"
            )
    return base


def target_values(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    seeds: int | Sequence[int] = 20,
    *,
    root_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Each target's statistic on each replicate run: one row per seed, one column per target.

    The replicate seeds are spawned from ``root_seed`` (:func:`talentsim.seeds.seed_list`), so
    the same call gives the same values, and different parameters run on the same seeds
    (common random numbers).

    Raises:
        TargetsError: if the targets do not fit the scenario (see :func:`scenario_for`) or a
            statistic cannot be computed on a run.
    """
    chosen = as_targets(targets)
    base = scenario_for(scenario, chosen, overrides)
    where = chosen.source_file or chosen.name
    try:
        seed_values = seed_list(seeds, root_seed)
    except ValueError as exc:
        raise TargetsError(f"seeds: {exc}") from None
    values = target_matrix(base, chosen, seed_values, where=where)
    table = pd.DataFrame(values, columns=[t.name for t in chosen.targets])
    table.insert(0, "seed", seed_values)
    return table.set_index("seed")


def target_matrix(
    scenario: Scenario,
    targets: Targets,
    seeds: Sequence[int],
    *,
    overrides: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> np.ndarray:
    """Each target's statistic on each seed's run, as an array ``(seeds, targets)``: the lean path.

    When every target names a statistic of :data:`talentsim.run_statistics.STATISTICS`, each
    run goes through :func:`talentsim.run_statistics.run_arrays` (no tables are built: about a
    third of the cost of ``ts.run`` and ``RunArrays.of``); a target that is a Python function
    of a ``RunResult`` makes every run build its result. The values are those of
    :func:`target_values`, which calls this.

    Args:
        scenario: The scenario, already checked against the targets (:func:`scenario_for`).
        targets: The targets.
        seeds: The replicate seeds.
        overrides: Dotted-path overrides applied to the scenario first.
        where: How errors name the targets (default: their file or name).

    Raises:
        TargetsError: naming the target whose statistic cannot be computed on a run.
    """
    where = where or targets.source_file or targets.name
    base = scenario.with_overrides(overrides) if overrides else scenario
    lean = all(isinstance(target.statistic, str) for target in targets.targets)
    out = np.empty((len(seeds), len(targets.targets)))
    for r, seed in enumerate(seeds):
        if lean:
            result, arrays = None, run_statistics.run_arrays(base, seed=seed)
        else:
            result = run(base, seed=seed)
            arrays = RunArrays.of(result)
        for index, target in enumerate(targets.targets):
            try:
                out[r, index] = target.compute(result, arrays)
            except StatisticError as exc:
                raise TargetsError(f"{where}: targets.{index} ({target.name}): {exc}") from None
    return out


def target_matrices(
    scenario: Scenario,
    targets: Targets,
    points: Sequence[Mapping[str, Any]],
    seeds: Sequence[int],
    *,
    workers: int | None = 1,
    executor: Executor | None = None,
) -> np.ndarray:
    """:func:`target_matrix` at many parameter points: an array ``(points, seeds, targets)``.

    For a calibration's generation (a population of candidates) or a Jacobian's points: every
    point runs on the same ``seeds`` (common random numbers). With more than one worker the
    runs go to the warm shared process pool (:func:`talentsim.experiments.shared_pool`, kept
    between calls) in a few chunks of consecutive runs per worker, each task carrying the
    scenario and targets once and returning only the statistics; the values do not depend on
    the number of workers.

    Args:
        scenario: The scenario, already checked against the targets (:func:`scenario_for`).
        targets: The targets (a target that is a Python function must be picklable to run in
            other processes: a function defined at the top level of a module).
        points: One mapping of dotted-path overrides per point (``{}``: the scenario itself).
        seeds: The replicate seeds, the same at every point.
        workers: Processes (1: in this process; None: all cores).
        executor: Any ``concurrent.futures.Executor`` instead of the shared pool (a Dask
            client's ``get_executor()``, say); not shut down here.

    Raises:
        TargetsError: naming the target whose statistic cannot be computed on a run.
        ScenarioError: for a point whose overrides the scenario refuses.
        SweepError: if a worker of the shared pool died (the pool is replaced at the next
            call); a given ``executor``'s own errors are raised as they are.
    """
    runs = [(p, r) for p in range(len(points)) for r in range(len(seeds))]
    out = np.empty((len(points), len(seeds), len(targets.targets)))
    count = workers or os.cpu_count() or 1
    if executor is None and (count == 1 or len(runs) <= 1):
        for p, overrides in enumerate(points):
            out[p] = target_matrix(scenario, targets, seeds, overrides=overrides)
        return out
    pool = executor or shared_pool(count)
    size = max(1, math.ceil(len(runs) / (4 * count)))  # ~4 tasks per worker: balanced
    chunks = [runs[i : i + size] for i in range(0, len(runs), size)]
    futures = [
        pool.submit(
            _target_rows,
            scenario,
            targets,
            [(dict(points[p]), seeds[r]) for p, r in chunk],
        )
        for chunk in chunks
    ]
    try:
        watch = pool_watch(count) if executor is None else None
        for chunk, rows in zip(chunks, gather(futures, check=watch), strict=True):
            for (p, r), row in zip(chunk, rows, strict=True):
                out[p, r] = row
    except BaseException as exc:
        for future in futures:
            future.cancel()
        if executor is None:
            release_pool(exc, count, kept="the targets' runs are lost: run it again")
        raise
    return out


def _target_rows(
    scenario: Scenario, targets: Targets, runs: list[tuple[dict[str, Any], int]]
) -> np.ndarray:
    """The targets' values on each ``(overrides, seed)`` run (a task of :func:`target_matrices`).

    Consecutive runs with the same overrides share one overridden scenario.
    """
    out = np.empty((len(runs), len(targets.targets)))
    last: dict[str, Any] | None = None
    current = scenario
    for index, (overrides, seed) in enumerate(runs):
        if overrides != last:
            current = scenario.with_overrides(overrides) if overrides else scenario
            last = overrides
        out[index] = target_matrix(current, targets, [seed])[0]
    return out


def evaluate_targets(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    seeds: int | Sequence[int] = 20,
    *,
    root_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """How a scenario fares against targets, over replicate seeds: one row per target.

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        targets: A :class:`Targets`, a path to a targets file, or a list of :class:`Target`.
        seeds: A number of replicates (spawned from ``root_seed``) or explicit seeds.
        root_seed: Root of the spawned seeds.
        overrides: Dotted-path overrides applied to the scenario.

    Returns:
        A tidy DataFrame: ``target``, ``statistic``, ``args``, ``form`` (estimate, band,
        at_least, at_most), ``observed``, ``se``, ``low``, ``high`` (the range allowed:
        the band, the bound to ±inf, or observed ± 1.96 se), ``mean`` (over the seeds where
        the statistic is defined), ``ci_low``/``ci_high`` (95% t-interval of the mean,
        clipped to the values the statistic can take: :data:`VALUE_RANGES`),
        ``sd`` (across seeds), ``seeds``, ``undefined`` (seeds where it is NaN),
        ``share_inside`` (share of the defined seeds whose value lies in the range),
        ``inside`` (the mean lies in the range), ``z`` ((mean − observed) / se, for
        estimates), ``judgement`` and ``citation``.
    """
    chosen = as_targets(targets)
    values = target_values(scenario, chosen, seeds, root_seed=root_seed, overrides=overrides)
    rows = []
    for target in chosen.targets:
        rows.append(_fit_row(target, values[target.name].to_numpy(dtype=float)))
    return pd.DataFrame(rows)


def _fit_row(target: Target, values: np.ndarray) -> dict[str, Any]:
    from scipy import stats as scipy_stats  # (~0.3 s to import: not on every worker's import)

    defined = values[~np.isnan(values)]
    n = len(defined)
    low, high = target.bounds
    if n == 0:
        mean = sd = ci_low = ci_high = math.nan
    else:
        mean = float(defined.mean())  # inf when a flow ratio had no reverse flow
        sd = float(defined.std(ddof=1)) if n > 1 else math.nan
        if n > 1 and np.isfinite(sd):
            # clipped to the values the statistic can take (a share's interval from few seeds
            # would otherwise reach below 0 or above 1)
            half = float(scipy_stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
            statistic = target.statistic  # (a function's range is unknown)
            unbounded = (-math.inf, math.inf)
            least, most = VALUE_RANGES[statistic] if isinstance(statistic, str) else unbounded
            ci_low, ci_high = max(mean - half, least), min(mean + half, most)
        else:
            ci_low = ci_high = math.nan
    inside_each = (defined >= low) & (defined <= high)
    z = (
        (mean - target.observed) / target.se
        if target.observed is not None and target.se is not None
        else math.nan
    )
    return {
        "target": target.name,
        "statistic": target.statistic_name,
        "args": ", ".join(f"{k}={v}" for k, v in target.args.items()),
        "form": target.form,
        "observed": target.observed if target.observed is not None else math.nan,
        "se": target.se if target.se is not None else math.nan,
        "low": low,
        "high": high,
        "mean": mean,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "sd": sd,
        "seeds": len(values),
        "undefined": int(len(values) - n),
        "share_inside": float(inside_each.mean()) if n else math.nan,
        "inside": bool(n and low <= mean <= high),
        "z": z,
        "judgement": target.source.judgement,
        "citation": target.source.citation,
    }


def format_fit_table(table: pd.DataFrame, targets: Targets) -> str:
    """The table of :func:`evaluate_targets` as text for a terminal."""
    header = (
        f"{'target':<32}{'observed':>20}  {'simulated mean [95% CI]':<30}"
        f"{'in range':>9}{'seeds in':>10}{'z':>7}"
    )
    lines = [header, "-" * len(header)]
    for row, target in zip(table.itertuples(index=False), targets.targets, strict=True):
        if math.isnan(row.mean):
            simulated = "undefined"
        elif math.isnan(row.ci_low):
            simulated = f"{row.mean:.4g}"
        else:
            simulated = f"{row.mean:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]"
        share = "" if math.isnan(row.share_inside) else f"{row.share_inside:.0%}"
        z = "" if math.isnan(row.z) else f"{row.z:+.1f}"
        mark = "*" if row.judgement else ""
        lines.append(
            f"{target.name + mark:<32}{target.describe():>20}  {simulated:<30}"
            f"{'yes' if row.inside else 'no':>9}{share:>10}{z:>7}"
        )
    lines.append(
        "in range: the mean over seeds lies in the band or bound (or within 1.96 se of an "
        "estimate);\nseeds in: share of the seeds whose own value does; z = (mean - observed) "
        "/ se;\n* the target involves a judgement (see its source note). Times in years."
    )
    return "\n".join(lines)
