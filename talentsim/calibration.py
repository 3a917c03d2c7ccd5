"""Calibration in one call: :func:`calibrate`, :class:`CalibrationResult` and calibration files.

:func:`calibrate` fits scenario parameters to a targets file by the method of simulated moments
(:func:`talentsim.smm.smm`) or by approximate Bayesian computation
(:func:`talentsim.approximate_bayes.abc_smc`), and wraps what either estimator found in a
:class:`CalibrationResult`: point estimates and intervals, the posterior (ABC), a fit table
(each target beside its simulated value at the estimate, or its posterior predictive),
diagnostics, which parameters the targets identify, and :meth:`CalibrationResult.to_scenario`,
which writes the fitted scenario with the provenance of every fitted number in its comments.

Before fitting, :func:`screen` checks which parameters the targets can identify at all (a
local sensitivity of the targets to each parameter, in units of the targets' errors); with
``fix_unidentified=True`` (the default) a parameter the targets do not move is not estimated:
it keeps the scenario's value, and the result, the fitted scenario's comments and the report
say so.

A calibration file (TOML, for ``talentsim calibrate FILE``) names the scenario, the targets,
the parameters (dotted path → bounds ``[low, high]`` or a prior table ``{dist = ...}``), the
method, the budget and the seed; it is validated like a scenario (unknown keys refused, errors
naming the file and the key path) and nothing in it is executed. See ``docs/calibration.md``.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from scipy import stats as scipy_stats

from talentsim._text import ascii_digits
from talentsim.hashing import fingerprint
from talentsim.scenario import (
    Scenario,
    ScenarioError,
    UnknownKeyError,
    as_scenario,
    flatten_key_paths,
    format_validation_error,
    names_a_field,
    read_toml,
    referenced_file,
    refuse_another_kind,
    takes_whole_numbers,
)
from talentsim.seeds import seed_list, spawn_seeds
from talentsim.smm import Parameter, SMMResult, conditional_means, moment_targets, smm
from talentsim.targets import (
    VALUE_RANGES,
    Target,
    Targets,
    TargetsError,
    as_targets,
    evaluate_targets,
    scenario_for,
    target_values,
)
from talentsim.units import parse_duration, parse_rate
from talentsim.versions import __version__

METHODS = ("smm", "abc")
"""The estimators :func:`calibrate` dispatches to."""

SENSITIVITY_THRESHOLD = 1.0
"""A parameter is not identified when sweeping it across its bounds moves the targets, all
together, by less than this many of their standard errors (linearised; see :func:`screen`)."""

SCREENING_POINTS = (0.25, 0.75)
"""Where in its range :func:`screen` sets each parameter, as shares of the range."""

WIDTH_RATIO_THRESHOLD = 0.9
"""ABC: a parameter is not identified when its posterior is at least this wide (standard
deviation) compared with its prior."""

FEW_PARTICLES = 50
"""An ABC posterior with an effective size below this is flagged (``diagnostics["few_particles"]``
and a line of :meth:`CalibrationResult.format`): a weighted mean over it has a Monte Carlo
standard error of more than 1/√50 ≈ 0.14 posterior standard deviations, so another ABC seed
can move its estimates and intervals visibly."""

CHECKPOINT_FILE = "checkpoint.jsonl"
"""The SMM checkpoint in a calibration's output folder (one line per simulated candidate)."""

CALIBRATION_FILE = "calibration.json"
"""What marks a folder as holding a finished calibration (written last by ``save``)."""

RESULT_FILES = (
    "estimates.csv",
    "posterior.csv",
    "trace.csv",
    "fit.csv",
    "identification.csv",
    "screening.csv",
    "scenario.toml",
    "original_scenario.toml",
    CALIBRATION_FILE,
)
"""The files :meth:`CalibrationResult.save` writes (``posterior.csv``: ABC; ``screening.csv``:
when the screening ran)."""

CALIBRATION_MARKERS = (CALIBRATION_FILE, CHECKPOINT_FILE, "abc.sqlite")
"""What marks a folder as an earlier (or interrupted) calibration's: ``--force`` replaces only
such a folder."""


def check_output_folder(folder: str | os.PathLike[str]) -> None:
    """Refuse, before a fit, a folder where :meth:`CalibrationResult.save` could not write.

    Raises:
        NotADirectoryError: if ``folder`` is a file. IsADirectoryError: if one of the
            result's file names there is taken by a folder.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(out))
    taken = [name for name in RESULT_FILES if (out / name).is_dir()]
    if taken:
        raise IsADirectoryError(
            errno.EISDIR, "a folder where the calibration writes a file", str(out / taken[0])
        )


class CalibrationWarning(UserWarning):
    """Something in a calibration file that the chosen method does not use (it goes on)."""


class CalibrationError(ScenarioError):
    """A calibration cannot be set up or read: the message names the file and key path.

    (A :class:`~talentsim.scenario.ScenarioError`, so the command line reports it the same
    way: one line, exit status 2, no traceback.)
    """


# ---- parameters --------------------------------------------------------------------------------


def scenario_value(scenario: Scenario, path: str) -> tuple[float | None, str]:
    """The scenario's current value at a dotted path, in the units :class:`Parameter` writes.

    Returns:
        ``(value, unit)``: the value as a number (a rate per year, a duration in years, or a
        plain number; None when the path holds no number, e.g. a distribution) and the unit
        the scenario writes it with (``"/year"``, ``"y"`` or ``""``).

    Raises:
        CalibrationError: if the path does not exist in the scenario.
    """
    node: Any = scenario.to_dict()
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and ascii_digits(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return None, ""  # (a path with a default value, absent from to_dict: a number)
    if isinstance(node, Mapping) and node.get("dist") == "fixed":
        node = node.get("value")  # (a weight or trait every researcher shares: its number)
    if isinstance(node, bool):
        return None, ""
    if isinstance(node, int | float):
        return float(node), ""
    if isinstance(node, str):
        if "/" in node:
            return parse_rate(node), "/year"
        try:
            return parse_duration(node), "y"
        except ValueError:
            return None, ""
    return None, ""


def as_parameters(
    scenario: Scenario,
    parameters: Mapping[str, Any] | Sequence[Parameter],
    *,
    source: str = "parameters",
    screened: bool = False,
) -> list[Parameter]:
    """:class:`Parameter` objects from what a user hands :func:`calibrate`.

    Args:
        scenario: The scenario (its values tell each parameter's unit: a rate is written per
            year, a duration in years).
        parameters: :class:`Parameter` objects, or a mapping of dotted path to bounds
            ``(low, high)``, to a frozen ``scipy.stats`` distribution (a prior; its bounds are
            its support, or its central 99.9% when unbounded), to a prior table
            ``{dist = ...}`` as a calibration file writes it, or to a :class:`Parameter`.
        source: Where the parameters come from, as errors name it.
        screened: Whether the fit screens them first (:func:`screen`), which runs a prior's
            parameter at :data:`SCREENING_POINTS` of its range: they are checked too.

    Raises:
        CalibrationError: for an unknown path, malformed bounds, or bounds (a prior's
            screening points) where the scenario refuses the value, naming the path.
    """
    if not isinstance(parameters, Mapping):
        chosen = list(parameters)
        if not chosen or not all(isinstance(p, Parameter) for p in chosen):
            raise CalibrationError(
                f"{source}: expected Parameter objects or a mapping of dotted path to bounds "
                "or a prior"
            )
    else:
        if not parameters:
            raise CalibrationError(f"{source}: give at least one parameter to estimate")
        chosen = [
            _parameter(scenario, str(path), spec, source) for path, spec in parameters.items()
        ]
    paths = [p.path for p in chosen]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise CalibrationError(f"{source}: {', '.join(repeated)} given twice")
    for parameter in chosen:  # fail now, naming the path, if the scenario refuses it
        middle = (parameter.low + parameter.high) / 2
        try:
            scenario.with_overrides({parameter.path: parameter.value(middle)}, source=source)
        except ScenarioError as exc:
            raise CalibrationError(_refused_bound(scenario, parameter, source, exc)) from None
        _refuse_part_of_range(scenario, parameter, source, screened=screened)
        _refuse_whole_numbers(scenario, parameter, source)
    return chosen


def _refuse_part_of_range(
    scenario: Scenario, parameter: Parameter, source: str, *, screened: bool
) -> None:
    """Refuse a range the scenario accepts at its middle but not everywhere the fit runs it.

    Bounds ``[low, high]`` are the search's range: SMM clips its candidates to them, and a
    refused candidate stops the fit, so each bound must be a value the scenario takes (``[-1,
    2]`` for a pay level, which must be positive, is refused here, not halfway through the
    fit). A prior's bounds are its support, which may end where the scenario refuses a value
    (a log-normal at 0: ABC rejects such a particle), but the screening (``screened``) runs
    it at :data:`SCREENING_POINTS` of the range, which must be taken.
    """
    span = parameter.high - parameter.low
    if parameter.prior is None:
        points = {"low bound": parameter.low, "high bound": parameter.high}
    elif screened:
        points = {
            f"the screening's point at {share:.0%} of its range": parameter.low + share * span
            for share in SCREENING_POINTS
        }
    else:
        return
    for name, value in points.items():
        try:
            scenario.with_overrides({parameter.path: parameter.value(value)}, source=source)
        except ScenarioError as exc:
            where = f"{source}.{parameter.path}: bounds [{parameter.low:g}, {parameter.high:g}]"
            if parameter.prior is None:
                raise CalibrationError(f"{where}: the {name} is out of range: {exc}") from None
            raise CalibrationError(
                f"{where} (the prior's): {name}, {value:g}, is out of range (narrow the "
                f"prior, or set fix_unidentified = false): {exc}"
            ) from None


def _refused_bound(
    scenario: Scenario, parameter: Parameter, source: str, refusal: ScenarioError
) -> str:
    """The message for bounds the scenario refuses: which bound, and why.

    The bounds are tried at their middle first (a value the search proposes); when that is
    refused, a bound is blamed only if the other one is accepted (then it is out of the
    field's range); a path the scenario does not have (an unknown key, a lab that does not
    exist) is refused with the scenario's own message, as ``--set`` refuses it; when both
    bounds are refused too, the field refuses every value given (a switch, say).
    """
    if isinstance(refusal, UnknownKeyError) or not names_a_field(scenario, parameter.path):
        return str(refusal)  # (a path that is not there: no value would do)
    refused: dict[str, str] = {}
    for name, bound in (("low", parameter.low), ("high", parameter.high)):
        if not math.isfinite(bound):
            continue
        try:
            scenario.with_overrides({parameter.path: parameter.value(bound)}, source=source)
        except ScenarioError as exc:
            refused[name] = str(exc)
    if len(refused) == 1:
        ((name, why),) = refused.items()
        return (
            f"{source}.{parameter.path}: bounds [{parameter.low:g}, {parameter.high:g}]: "
            f"the {name} bound is out of range: {why}"
        )
    if refused:  # (the field refuses every value given: the scenario's lines say why)
        lines = str(refusal).split("\n")
        details = lines[1:] or ["  " + lines[0]]  # (below a header, or the one line it is)
        return "\n".join(
            [
                f"{source}: {parameter.path}: cannot be estimated: the scenario refuses it at "
                "both bounds and between them",
                *details,
            ]
        )
    return f"{refusal} (at the middle of the bounds, {(parameter.low + parameter.high) / 2:g})"


def _refuse_whole_numbers(scenario: Scenario, parameter: Parameter, source: str) -> None:
    """Refuse a parameter whose field takes whole numbers (a capacity, a cohort's size).

    Calibration proposes continuous values, and the scenario refuses a fraction there, so
    every candidate would be refused (SMM's penalty everywhere; ABC rejecting every
    particle) instead of an error.
    """
    if takes_whole_numbers(scenario, parameter.path):
        raise CalibrationError(
            f"{source}.{parameter.path}: takes whole numbers, and calibration estimates "
            "continuous values (every candidate with a fraction would be refused); fix "
            "it in the scenario, or compare whole values with a sweep (an integer range)"
        )


def _parameter(scenario: Scenario, path: str, spec: Any, source: str) -> Parameter:
    where = f"{source}.{path}"
    if isinstance(spec, Parameter):
        if spec.path != path:
            raise CalibrationError(f"{where}: the Parameter's path is {spec.path!r}")
        return spec
    _, unit = scenario_value(scenario, path)
    prior = None
    if isinstance(spec, Mapping):
        prior = _prior_from_table(dict(spec), where)
    elif hasattr(spec, "rvs") and hasattr(spec, "ppf"):
        prior = spec
    if prior is not None:  # (its support, or its central 99.9%: as priors.parameter)
        low, high = importlib.import_module("talentsim.priors").prior_bounds(prior)
    else:
        try:
            low, high = (float(v) for v in spec)
        except (TypeError, ValueError):
            raise CalibrationError(
                f"{where}: expected bounds [low, high] or a prior, got {spec!r}"
            ) from None
    try:
        return Parameter(path, low, high, unit, prior=prior)
    except ValueError as exc:
        raise CalibrationError(f"{where}: {str(exc).removeprefix(path + ': ')}") from None


def _prior_from_table(table: dict[str, Any], where: str) -> Any:
    """A prior table ``{dist = ...}`` as a frozen distribution, read by :mod:`talentsim.priors`.

    (``talentsim.priors`` needs only NumPy and SciPy, so prior tables load in every
    installation; ABC itself needs pyabc, checked when the method is chosen.)
    """
    from talentsim import priors

    try:
        return priors.prior_from_table(table, where=where)
    except (ValueError, TypeError, KeyError) as exc:
        text = str(exc)
        raise CalibrationError(text if text.startswith(where) else f"{where}: {text}") from None


def _prior_sd(parameter: Parameter) -> float:
    prior = getattr(parameter, "prior", None)
    if prior is not None:
        return float(prior.std())
    return (parameter.high - parameter.low) / math.sqrt(12)  # uniform on the bounds


def _prior_text(parameter: Parameter) -> str:
    prior = getattr(parameter, "prior", None)
    if prior is None:
        return f"uniform on [{parameter.low:.6g}, {parameter.high:.6g}]"
    name = getattr(getattr(prior, "dist", None), "name", "prior")
    args = ", ".join(f"{a:.6g}" for a in getattr(prior, "args", ()))
    kwds = ", ".join(f"{k}={v:.6g}" for k, v in getattr(prior, "kwds", {}).items())
    return f"{name}({', '.join(x for x in (args, kwds) if x)})"


# ---- identification before the fit -------------------------------------------------------------


def _target_scale(targets: Targets, values: pd.DataFrame) -> np.ndarray:
    """Each target's error σ: its se or band (as the estimator reads it), else the spread.

    A one-sided bound has no error of its own: its scale is the statistic's spread across
    replicates.
    """
    scales = []
    for target in targets.targets:
        if target.observed is not None and target.se is not None:
            scales.append(target.se)
        elif target.band is not None and target.band[1] > target.band[0]:
            scales.append((target.band[1] - target.band[0]) / (2 * 1.96))
        else:
            spread = float(np.nanstd(values[target.name].to_numpy(dtype=float), ddof=1))
            scales.append(spread if math.isfinite(spread) and spread > 0 else math.nan)
    return np.asarray(scales, dtype=float)


def screen(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    parameters: Sequence[Parameter],
    *,
    replicates: int = 4,
    root_seed: int = 0,
    threshold: float = SENSITIVITY_THRESHOLD,
) -> pd.DataFrame:
    """Which parameters the targets can identify: their local sensitivity before any fit.

    Each parameter is moved from 25% to 75% of its range (:data:`SCREENING_POINTS`; the
    others at the middle of theirs),
    on the same replicate seeds (common random numbers), and the change of every target's
    mean is divided by the target's error σ (its se; a band as a 95% interval; for a one-sided
    bound, the spread of the statistic across replicates). The parameter's **sensitivity** is
    the length of that vector, doubled: how far, in standard errors, the targets move when the
    parameter sweeps its whole range (linearised). Below ``threshold`` the targets do not
    identify it.

    Returns:
        One row per parameter (index: the path): ``sensitivity``, ``identified``, and per
        target the scaled change (columns ``d_<target>``).
    """
    chosen = as_targets(targets)
    base = as_scenario(scenario)  # type: ignore[arg-type]
    seeds = seed_list(replicates, root_seed, minimum=2)
    middle = {p.path: (p.low + p.high) / 2 for p in parameters}

    def means(values: Mapping[str, float]) -> tuple[np.ndarray, pd.DataFrame]:
        overrides = {p.path: p.value(values[p.path]) for p in parameters}
        table = target_values(base, chosen, seeds, overrides=overrides)
        return table.mean().to_numpy(dtype=float), table

    centre, centre_values = means(middle)
    del centre
    sigma = _target_scale(chosen, centre_values)
    rows = []
    for parameter in parameters:
        span = parameter.high - parameter.low
        down, up = (
            means({**middle, parameter.path: parameter.low + share * span})[0]
            for share in SCREENING_POINTS
        )
        change = (up - down) / sigma * 2  # (over the whole range, linearised)
        change = np.where(np.isfinite(change), change, 0.0)
        sensitivity = float(np.sqrt(np.sum(change**2)))
        row: dict[str, Any] = {"parameter": parameter.path, "sensitivity": sensitivity}
        row["identified"] = sensitivity >= threshold
        row.update({f"d_{t.name}": float(c) for t, c in zip(chosen.targets, change, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")


# ---- the SMM checkpoint ------------------------------------------------------------------------


class MomentsLog(MutableMapping[tuple[float, ...], np.ndarray]):
    """The SMM moments of every candidate simulated, in order, optionally kept on disk.

    Handed to :func:`~talentsim.smm.smm` as its cache: each new candidate's
    per-replicate moments are recorded (and, with a ``path``, appended to a JSON-lines file
    and flushed), so the fit's trace is known and an interrupted fit restarted with the same
    file finds every candidate it had simulated already. Differential evolution with a fixed
    seed proposes the same candidates again, so the restart replays them for free. The file is
    data (JSON), never unpickled; its first line is a fingerprint of the calibration, and a
    file written for another calibration is refused.

    Args:
        path: The file (None: in memory only).
        fingerprint: What the candidates were simulated for (scenario, targets, parameters,
            seeds).
        resume: Read the candidates already in ``path`` (otherwise it must not exist).
        on_new: Called after each newly simulated candidate (a progress bar).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        fingerprint: str = "",
        resume: bool = False,
        on_new: Callable[[], Any] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.fingerprint = fingerprint
        self.entries: dict[tuple[float, ...], np.ndarray] = {}
        self.order: list[tuple[float, ...]] = []
        self.resumed = 0
        self.on_new = on_new
        if self.path is None:
            return
        if self.path.exists():
            if not resume:
                raise CalibrationError(f"{self.path}: a checkpoint exists; pass --resume to use it")
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as handle:
                handle.write(
                    json.dumps({"checkpoint": "talentsim smm", "fingerprint": fingerprint})
                )
                handle.write("\n")

    def _read(self) -> None:
        assert self.path is not None
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:  # (a folder, a binary file)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CalibrationError(
                f"{self.path}: not a readable SMM checkpoint ({why}); remove it or choose "
                "another --out"
            ) from None
        if text and not text.endswith("\n"):
            # the last line of a killed fit, cut short: dropped from the file too, or the
            # next candidate's line would be glued onto it and lost with it
            with open(self.path, "r+b") as handle:
                handle.truncate(len(text[: text.rfind("\n") + 1].encode("utf-8")))
                os.fsync(handle.fileno())
        lines = text.split("\n")
        try:
            header = json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            header = {}
        if not isinstance(header, dict) or header.get("checkpoint") != "talentsim smm":
            raise CalibrationError(f"{self.path}: not a talentsim SMM checkpoint")
        if header.get("fingerprint") != self.fingerprint:
            raise CalibrationError(
                f"{self.path}: this checkpoint was written for another calibration (the "
                "scenario, targets, parameters or budget changed); remove it or choose another "
                "--out"
            )
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                key = tuple(float(x) for x in entry["theta"])
                values = np.asarray(entry["values"], dtype=float)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # (the last line of a killed fit may be cut short)
            if key not in self.entries:
                self.entries[key] = values
                self.order.append(key)
        self.resumed = len(self.order)

    def __getitem__(self, key: tuple[float, ...]) -> np.ndarray:
        return self.entries[key]

    def __setitem__(self, key: tuple[float, ...], value: np.ndarray) -> None:
        if key not in self.entries:
            self.order.append(key)
        self.entries[key] = value
        if self.path is not None:
            line = json.dumps({"theta": list(key), "values": np.asarray(value).tolist()})
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if self.on_new is not None:
            self.on_new()

    def __delitem__(self, key: tuple[float, ...]) -> None:
        del self.entries[key]
        self.order.remove(key)

    def __iter__(self) -> Iterator[tuple[float, ...]]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.entries)


# ---- the result --------------------------------------------------------------------------------


class CalibrationResult:
    """What a calibration found, whichever estimator found it.

    Args:
        fit: An :class:`~talentsim.smm.SMMResult` or an ABC result (with ``posterior``,
            a DataFrame of one column per parameter path and ``weight``; ``generations``;
            ``n_simulations``; ``history``).
        scenario: The scenario fitted (as the user gave it: without the targets'
            ``run_duration``).
        targets: The targets.
        parameters: The parameters estimated.
        seed: The root seed of the calibration (replicate seeds, search, sampler).
        fixed: Parameters not estimated (path → the value kept), with ``fixed_reason``.
        screening: The table of :func:`screen`, when it ran.
        scenario_file: Where the scenario was read from.
        targets_file: Where the targets were read from.
        trace: SMM: the candidates simulated, in order (a :class:`MomentsLog`).
        created: When the fit finished (ISO 8601, UTC; default: now).

    Attributes:
        method: ``"smm"`` or ``"abc"``.
    """

    def __init__(
        self,
        fit: Any,
        *,
        scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
        targets: Targets | str | os.PathLike[str] | Sequence[Target],
        parameters: Sequence[Parameter],
        seed: int = 0,
        fixed: Mapping[str, float] | None = None,
        fixed_reason: str = "",
        screening: pd.DataFrame | None = None,
        scenario_file: str | None = None,
        targets_file: str | None = None,
        trace: MomentsLog | None = None,
        created: str | None = None,
    ) -> None:
        self.fit: Any = fit
        self.method: str = "smm" if isinstance(fit, SMMResult) else str(fit.method)
        if self.method not in METHODS:
            raise ValueError(f"fit: unknown method {self.method!r} (expected smm or abc)")
        self.scenario = as_scenario(scenario)  # type: ignore[arg-type]
        self.targets = as_targets(targets)
        self.parameters = list(parameters)
        self.seed = int(seed)
        self.fixed = dict(fixed or {})
        self.fixed_reason = fixed_reason
        self.screening = screening
        self.scenario_file = scenario_file
        self.targets_file = targets_file or self.targets.source_file
        self._trace = trace
        self.created = created or datetime.now(UTC).isoformat(timespec="seconds")
        self.version = __version__
        self._fit_tables: dict[tuple[float, int], pd.DataFrame] = {}
        names = [p.path for p in self.parameters]
        if self.method == "abc":
            missing = [n for n in names if n not in fit.posterior.columns]
            if missing or "weight" not in fit.posterior.columns:
                raise ValueError(
                    f"fit.posterior: expected columns {names} and weight; missing "
                    f"{missing or ['weight']}"
                )

    # ---- estimates --------------------------------------------------------------------------

    @property
    def parameter_names(self) -> list[str]:
        """The dotted paths of the parameters estimated."""
        return [p.path for p in self.parameters]

    @property
    def posterior(self) -> pd.DataFrame | None:
        """ABC: the weighted posterior sample; None for SMM.

        One column per parameter and ``weight`` (normalised to sum to 1).
        """
        if self.method != "abc":
            return None
        table = self.fit.posterior[[*self.parameter_names, "weight"]].copy()
        table["weight"] = table["weight"] / table["weight"].sum()
        return table

    @property
    def estimates(self) -> pd.Series:
        """Point estimates by path: the SMM estimate, or the posterior mean (ABC)."""
        if self.method == "smm":
            values = np.asarray(self.fit.estimate, dtype=float)
        else:
            posterior = self.posterior
            assert posterior is not None
            weights = posterior["weight"].to_numpy()
            values = np.array(
                [np.sum(posterior[n].to_numpy() * weights) for n in self.parameter_names]
            )
        return pd.Series(
            values, index=pd.Index(self.parameter_names, name="parameter"), name="estimate"
        )

    def intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Per parameter: ``estimate``, ``low``, ``high`` and how they were made.

        SMM: Wald intervals ``estimate ± z·se`` (columns also ``se``, and ``within_bounds``:
        whether the interval lies within the parameter's search bounds; one that reaches past
        them, or past what the field allows, is a sign that the normal approximation is poor
        there (an estimate near a bound, or a weakly identified parameter), not a range of
        plausible values). ABC:
        equal-tailed weighted posterior quantiles (columns also ``median`` and ``sd``).
        """
        if not 0 < level < 1:
            raise ValueError(f"level: expected a number between 0 and 1, got {level}")
        if self.method == "smm":
            table = self.fit.confidence_intervals(level)
            by_path = {p.path: p for p in self.parameters}
            table["within_bounds"] = [
                str(row.Index) not in by_path or by_path[str(row.Index)].contains(row.low, row.high)
                for row in table.itertuples()
            ]
            table["kind"] = f"{level:.0%} Wald (SMM)"
            return table
        posterior = self.posterior
        assert posterior is not None
        weights = posterior["weight"].to_numpy()
        rows = []
        for name in self.parameter_names:
            values = posterior[name].to_numpy(dtype=float)
            mean = float(np.sum(values * weights))
            low, median, high = weighted_quantiles(
                values, weights, [(1 - level) / 2, 0.5, (1 + level) / 2]
            )
            sd = float(np.sqrt(np.sum(weights * (values - mean) ** 2)))
            rows.append(
                {
                    "parameter": name,
                    "estimate": mean,
                    "median": median,
                    "sd": sd,
                    "low": low,
                    "high": high,
                }
            )
        table = pd.DataFrame(rows).set_index("parameter")
        table["kind"] = f"{level:.0%} posterior (ABC)"
        return table

    def overrides(self) -> dict[str, float | str]:
        """The fitted values as scenario overrides (a fixed parameter keeps the scenario's)."""
        values: dict[str, float | str] = {}
        for parameter, value in zip(self.parameters, self.estimates, strict=True):
            values[parameter.path] = parameter.value(float(value))
        return values

    @property
    def fitted_scenario(self) -> Scenario:
        """The scenario with the fitted values (its own duration, not the targets')."""
        return self.scenario.with_overrides(self.overrides(), source="calibration estimates")

    # ---- fit --------------------------------------------------------------------------------

    @property
    def table(self) -> pd.DataFrame:
        """The fit table at default settings (see :meth:`fit_table`)."""
        return self.fit_table()

    def fit_table(self, level: float = 0.95, draws: int = 50) -> pd.DataFrame:
        """Each target beside what the fitted model produces.

        SMM: the simulated mean over the fit's R replicate seeds at the estimate, with the
        t-interval of that mean. ABC: the posterior predictive: ``draws`` parameter vectors
        drawn from the posterior (by weight), one run each on seeds spawned from the
        calibration's seed; the mean and the equal-tailed ``level`` interval of the target's
        values.

        Returns:
            One row per target: ``target``, ``statistic``, ``form``, ``observed``, ``se``,
            ``low``/``high`` (the range the target allows), ``simulated``,
            ``interval_low``/``interval_high``, ``interval`` (what the interval is),
            ``share_inside`` (share of the runs whose own value is in range), ``inside``
            (the simulated mean is in range), ``z`` and ``citation``.
        """
        key = (level, draws)
        if key not in self._fit_tables:
            self._fit_tables[key] = (
                self._smm_fit_table(level)
                if self.method == "smm"
                else self._predictive(level, draws)
            )
        return self._fit_tables[key].copy()

    def _smm_fit_table(self, level: float) -> pd.DataFrame:
        table = evaluate_targets(
            self.scenario, self.targets, seeds=list(self.fit.seeds), overrides=self.overrides()
        )
        n = table["seeds"] - table["undefined"]
        # The standard error of the mean from the runs' sd, not from the width of the table's
        # 95% interval: that is clipped to the values the statistic can take, so a share near
        # 1 gave a lower end too high (until 5 December 2026). Clipped the same way here.
        half = table["sd"] / np.sqrt(np.maximum(n, 1))
        z = scipy_stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        unbounded = (-math.inf, math.inf)
        least, most = np.array(
            [
                VALUE_RANGES[t.statistic] if isinstance(t.statistic, str) else unbounded
                for t in self.targets.targets
            ]
        ).T
        out = table[["target", "statistic", "form", "observed", "se", "low", "high"]].copy()
        out["simulated"] = table["mean"]
        out["interval_low"] = np.maximum(table["mean"] - z * half, least)
        out["interval_high"] = np.minimum(table["mean"] + z * half, most)
        out["interval"] = f"{level:.0%} CI of the mean over {len(self.fit.seeds)} replicates"
        out["share_inside"] = table["share_inside"]
        out["inside"] = table["inside"]
        out["z"] = table["z"]
        out["citation"] = table["citation"]
        return out

    def _predictive(self, level: float, draws: int) -> pd.DataFrame:
        values = self.posterior_predictive(draws)
        rows = []
        for target in self.targets.targets:
            column = values[target.name].to_numpy(dtype=float)
            defined = column[~np.isnan(column)]
            low, high = target.bounds
            if len(defined):
                mean = float(defined.mean())
                q_low, q_high = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
            else:
                mean = q_low = q_high = math.nan
            rows.append(
                {
                    "target": target.name,
                    "statistic": target.statistic_name,
                    "form": target.form,
                    "observed": target.observed if target.observed is not None else math.nan,
                    "se": target.se if target.se is not None else math.nan,
                    "low": low,
                    "high": high,
                    "simulated": mean,
                    "interval_low": float(q_low),
                    "interval_high": float(q_high),
                    "interval": f"{level:.0%} posterior predictive ({len(column)} draws)",
                    "share_inside": float(np.mean((defined >= low) & (defined <= high)))
                    if len(defined)
                    else math.nan,
                    "inside": bool(len(defined) and low <= mean <= high),
                    "z": (mean - target.observed) / target.se
                    if target.observed is not None and target.se is not None
                    else math.nan,
                    "citation": target.source.citation,
                }
            )
        return pd.DataFrame(rows)

    def posterior_predictive(self, draws: int = 50) -> pd.DataFrame:
        """ABC: the targets' statistics on ``draws`` runs, each at a posterior draw.

        Returns:
            One row per draw: the parameter values, ``seed`` and one column per target.
        """
        posterior = self.posterior
        if posterior is None:
            raise ValueError("posterior_predictive: an SMM fit has no posterior")
        if draws < 1:
            raise ValueError(f"draws: expected a positive number, got {draws}")
        rng = np.random.default_rng(self.seed)
        weights = posterior["weight"].to_numpy(dtype=float)
        picked = rng.choice(len(posterior), size=draws, p=weights / weights.sum())
        seeds = spawn_seeds(self.seed + 1, draws)
        rows = []
        for index, seed in zip(picked, seeds, strict=True):
            theta = {p.path: float(posterior[p.path].iloc[index]) for p in self.parameters}
            overrides = {p.path: p.value(theta[p.path]) for p in self.parameters}
            values = target_values(self.scenario, self.targets, [seed], overrides=overrides)
            rows.append({**theta, "seed": seed, **values.iloc[0].to_dict()})
        return pd.DataFrame(rows)

    # ---- diagnostics ------------------------------------------------------------------------

    @property
    def diagnostics(self) -> dict[str, Any]:
        """How the fit went.

        SMM: ``objective`` (Q at the estimate), the J-test (``j_statistic``, ``j_df``,
        ``j_pvalue``; NaN without over-identification), ``replicates``, ``evaluations``
        (candidates simulated), ``at_bound`` (parameters whose estimate lies within 1% of the
        range from a bound: the optimum may lie outside), ``left_out`` (targets left out of the
        standard errors and the J-test, undefined at the estimate), ``held`` (parameters on a
        bound with the criterion falling past it: the J-test counts them as fixed) and the
        optimiser's own
        report where the estimator gives one (``converged``, ``message``). ABC: ``n_simulations``,
        ``generations`` (the estimator's table: thresholds ε and effective sample sizes per
        generation), ``final_epsilon``, ``final_ess``, ``posterior_size``, ``posterior_ess``
        (the effective size of the posterior's weights, ``1 / Σw²``) and ``few_particles``
        (``posterior_ess`` below :data:`FEW_PARTICLES`).
        """
        out: dict[str, Any] = {"method": self.method}
        if self.method == "smm":
            fit = self.fit
            out.update(
                objective=float(fit.objective),
                j_statistic=float(fit.j_statistic),
                j_df=int(fit.j_df),
                j_pvalue=float(fit.j_pvalue),
                replicates=int(fit.replicates),
                evaluations=int(fit.evaluations),
            )
            for name in ("converged", "message", "weighting", "nit", "left_out", "held"):
                if hasattr(fit, name):
                    out[name] = getattr(fit, name)
            out["at_bound"] = [
                parameter.path
                for parameter, value in zip(self.parameters, fit.estimate, strict=True)
                if parameter.at_bound(value)
            ]
            return out
        fit = self.fit
        generations = getattr(fit, "generations", None)
        out["n_simulations"] = int(getattr(fit, "n_simulations", 0))
        out["posterior_size"] = len(fit.posterior)
        weights = self.posterior["weight"].to_numpy()  # type: ignore[index]
        out["posterior_ess"] = float(1 / np.sum(weights**2))
        out["few_particles"] = out["posterior_ess"] < FEW_PARTICLES
        if isinstance(generations, pd.DataFrame) and len(generations):
            out["generations"] = generations
            last = generations.iloc[-1]
            for key, pattern in (("final_epsilon", "eps"), ("final_ess", "ess")):
                column = next((c for c in generations.columns if pattern in str(c).lower()), None)
                if column is not None:
                    out[key] = float(last[column])
        for name in ("history", "run_id"):
            if hasattr(fit, name):
                out[name] = getattr(fit, name)
        return out

    @property
    def trace(self) -> pd.DataFrame:
        """SMM: every candidate simulated, in order; ABC: the generations table.

        SMM columns: ``evaluation``, one per parameter, ``objective`` (Q with the diagonal
        weights from the targets' errors).
        """
        if self.method == "abc":
            generations = getattr(self.fit, "generations", None)
            return generations.copy() if isinstance(generations, pd.DataFrame) else pd.DataFrame()
        columns = ["evaluation", *self.parameter_names, "objective"]
        if self._trace is None or not len(self._trace):
            return pd.DataFrame(columns=columns)
        observed, sigma = moment_targets(self.targets)
        rows = []
        for index, key in enumerate(self._trace):
            g = conditional_means(np.asarray(self._trace[key])) - observed  # (as the fit)
            q = float(np.sum((g / sigma) ** 2)) if np.all(np.isfinite(g)) else math.nan
            rows.append([index, *key, q])
        return pd.DataFrame(rows, columns=columns)

    def identification(
        self,
        threshold: float = SENSITIVITY_THRESHOLD,
        width_ratio: float = WIDTH_RATIO_THRESHOLD,
    ) -> pd.DataFrame:
        """Which parameters the targets identify.

        SMM: from the Jacobian ``G`` at the estimate, scaled by the targets' errors and the
        parameters' ranges (``S = diag(1/σ) G diag(high − low)``, σ the targets' own errors
        whatever weighting the fit used): per parameter its
        ``sensitivity`` (the norm of its column of S: how many standard errors the targets
        move, together, when the parameter sweeps its range, linearised) and ``se_share``
        (its standard error as a share of its range); ``identified`` when the sensitivity
        reaches ``threshold`` and the parameter is not in a direction S cannot see (its
        ``collinear`` flag: a loading above 0.3 on a singular vector whose singular value is
        below 10⁻⁶ of the largest). The singular values and rank of S are in ``attrs``.

        ABC: per parameter the posterior and prior standard deviations and their
        ``width_ratio``; ``identified`` when the posterior is narrower than ``width_ratio``
        of the prior.

        Parameters fixed before the fit (not identified at the screening) are listed with
        ``identified`` False and a note.
        """
        rows: list[dict[str, Any]] = []
        attrs: dict[str, Any] = {}
        if self.method == "smm":
            _, sigma = moment_targets(self.targets)
            ranges = np.array([p.high - p.low for p in self.parameters])
            scaled = np.asarray(self.fit.jacobian, dtype=float) / sigma[:, None] * ranges[None, :]
            scaled = np.where(np.isfinite(scaled), scaled, 0.0)
            _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
            tolerance = 1e-6 * (singular[0] if len(singular) and singular[0] > 0 else 1.0)
            null = vt[singular <= tolerance] if len(singular) else np.empty((0, len(ranges)))
            if scaled.shape[0] < scaled.shape[1]:  # fewer moments than parameters
                null = np.vstack([null, np.linalg.svd(scaled)[2][scaled.shape[0] :]])
            attrs = {
                "singular_values": singular.tolist(),
                "rank": int(np.sum(singular > tolerance)),
                "parameters": len(self.parameters),
                "condition_number": float(singular[0] / singular[-1])
                if len(singular) and singular[-1] > 0
                else math.inf,
            }
            for i, parameter in enumerate(self.parameters):
                sensitivity = float(np.linalg.norm(scaled[:, i]))
                collinear = bool(len(null) and np.max(np.abs(null[:, i])) > 0.3)
                identified = sensitivity >= threshold and not collinear
                note = ""
                if sensitivity < threshold:
                    note = (
                        f"the targets move by {sensitivity:.2g} standard errors over its range "
                        f"(< {threshold:g})"
                    )
                elif collinear:
                    note = "only a combination with other parameters is identified"
                rows.append(
                    {
                        "parameter": parameter.path,
                        "sensitivity": sensitivity,
                        "se_share": float(self.fit.se[i]) / ranges[i],
                        "collinear": collinear,
                        "identified": identified,
                        "note": note,
                    }
                )
        else:
            table = self.intervals()
            for parameter in self.parameters:
                posterior_sd = float(table.loc[parameter.path, "sd"])
                prior_sd = _prior_sd(parameter)
                ratio = posterior_sd / prior_sd if prior_sd > 0 else math.nan
                identified = bool(ratio < width_ratio)
                rows.append(
                    {
                        "parameter": parameter.path,
                        "prior_sd": prior_sd,
                        "posterior_sd": posterior_sd,
                        "width_ratio": ratio,
                        "identified": identified,
                        "note": ""
                        if identified
                        else f"the posterior is {ratio:.0%} as wide as the prior "
                        f"(≥ {width_ratio:.0%})",
                    }
                )
        for path, value in self.fixed.items():
            rows.append(
                {
                    "parameter": path,
                    "identified": False,
                    "note": f"fixed at {_kept(value)}, not estimated: {self.fixed_reason}",
                }
            )
        result = pd.DataFrame(rows).set_index("parameter")
        result.attrs.update(attrs)
        return result

    # ---- the fitted scenario ----------------------------------------------------------------

    def provenance(self, path: str) -> list[str]:
        """The comment lines recording where a fitted (or fixed) value comes from."""
        targets = self.targets_file or self.targets.name
        when = self.created[:10]
        if path in self.fixed:
            return [
                f"not estimated by the calibration of {when} (talentsim {self.version}): "
                f"{self.fixed_reason}; kept at {_kept(self.fixed[path])}"
            ]
        index = self.parameter_names.index(path)
        parameter = self.parameters[index]
        row = self.intervals().iloc[index]
        bounds = f"bounds [{parameter.low:.6g}, {parameter.high:.6g}]"
        if self.method == "smm":
            fit = self.fit
            what = (
                f"estimate {row['estimate']:.6g} ± {row['se']:.3g} (se), 95% interval "
                f"[{row['low']:.6g}, {row['high']:.6g}]; {bounds}; {fit.replicates} replicates "
                f"per candidate (common random numbers), J-test p = {fit.j_pvalue:.3g}"
            )
        else:
            what = (
                f"posterior mean {row['estimate']:.6g} (median {row['median']:.6g}), 95% "
                f"posterior interval [{row['low']:.6g}, {row['high']:.6g}]; prior "
                f"{_prior_text(parameter)}; {self.diagnostics['n_simulations']} simulations"
            )
        return [
            f"fitted by talentsim {self.version} ({self.method.upper()}) on {when} to {targets}, "
            f"seed {self.seed}:",
            f"  {what}",
        ]

    def to_scenario(self, path: str | os.PathLike[str] | None = None) -> Scenario:
        """The fitted scenario; with ``path``, also written there as TOML.

        The file is the scenario with the fitted values, written by ``tomli-w``; a comment
        above each fitted key records its provenance (method, targets file, estimate ± se or
        posterior interval, date, talentsim version, seed), and the header lists them all.
        :func:`talentsim.load_scenario` reads it back equal to the returned scenario.
        """
        scenario = self.fitted_scenario
        if path is None:
            return scenario
        text = self.scenario_text(scenario)
        target = Path(path)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CalibrationError(f"{target}: cannot write ({exc.strerror or exc})") from None
        return scenario

    def scenario_text(self, scenario: Scenario | None = None) -> str:
        """The text :meth:`to_scenario` writes."""
        scenario = scenario or self.fitted_scenario
        origin = self.scenario_file or f"scenario {self.scenario.name!r}"
        header = [
            f"Calibrated scenario: {origin} fitted to {self.targets_file or self.targets.name} "
            f"by {self.method.upper()} on {self.created} (talentsim {self.version}, seed "
            f"{self.seed}).",
        ]
        if self.targets.run_duration is not None:
            header.append(
                f"The targets were computed on runs of {self.targets.run_duration:.6g} years "
                "(the targets file's run_duration); this file keeps the scenario's own duration."
            )
        header.append("Fitted values (each also commented where it is set below):")
        for path in [*self.parameter_names, *self.fixed]:
            header.append(f"  {path}:")
            header.extend(f"    {line}" for line in self.provenance(path))
        header.append("The scenario")
        body = scenario.to_toml(header="\n# ".join(header))
        return _insert_comments(
            body, {p: self.provenance(p) for p in [*self.parameter_names, *self.fixed]}
        )

    # ---- files ------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str], *, draws: int = 50) -> Path:
        """Write the result into ``folder``.

        Files: ``calibration.json`` (what was fitted, how, the diagnostics),
        ``estimates.csv`` (estimates and intervals), ``posterior.csv`` (ABC), ``trace.csv``,
        ``fit.csv``, ``identification.csv``, ``screening.csv`` (when the screening ran),
        ``scenario.toml`` (the fitted scenario, see :meth:`to_scenario`) and
        ``original_scenario.toml`` (the scenario as given).

        The files are written beside each other in a hidden folder inside ``folder`` first,
        then moved into place with ``calibration.json`` (what marks the folder as a
        calibration) last; an earlier result's marker is removed before the first move. So a
        save that fails leaves either the earlier result whole or a folder without the marker,
        never a mixture passed off as complete. Files of an earlier result that this one does
        not write (``posterior.csv``, ``screening.csv``) are removed.

        Returns:
            The folder.

        Raises:
            OSError: if the folder cannot be written, or a file's name there is taken by a
                folder.
        """
        out = Path(folder)
        check_output_folder(out)
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=out))
        try:
            self._write_files(staging, draws)
            marker = out / CALIBRATION_FILE
            marker.unlink(missing_ok=True)
            for name in RESULT_FILES:
                if name == CALIBRATION_FILE:
                    continue
                if (staging / name).exists():
                    os.replace(staging / name, out / name)
                else:
                    (out / name).unlink(missing_ok=True)
            os.replace(staging / CALIBRATION_FILE, marker)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return out

    def _write_files(self, out: Path, draws: int) -> None:
        """Write the result's files (:data:`RESULT_FILES`) into ``out``."""
        self.intervals().to_csv(out / "estimates.csv")
        if self.posterior is not None:
            self.posterior.to_csv(out / "posterior.csv", index=False)
        self.trace.to_csv(out / "trace.csv", index=False)
        self.fit_table(draws=draws).to_csv(out / "fit.csv", index=False)
        identification = self.identification()
        identification.to_csv(out / "identification.csv")
        if self.screening is not None:
            self.screening.to_csv(out / "screening.csv")
        self.to_scenario(out / "scenario.toml")
        diagnostics = {k: v for k, v in self.diagnostics.items() if k != "generations"}
        metadata = {
            "kind": "talentsim calibration",
            "method": self.method,
            "scenario": self.scenario.name,
            "scenario_file": self.scenario_file,
            "targets": self.targets.name,
            "targets_file": self.targets_file,
            "parameters": [
                {
                    "path": p.path,
                    "low": p.low,
                    "high": p.high,
                    "unit": p.unit,
                    "prior": _prior_text(p),
                }
                for p in self.parameters
            ],
            "fixed": self.fixed,
            "fixed_reason": self.fixed_reason,
            "seed": self.seed,
            "created": self.created,
            "versions": {"talentsim": self.version},
            "diagnostics": diagnostics,
            "identification": identification.attrs,
        }
        (out / "calibration.json").write_text(
            json.dumps(metadata, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        # (the scenario as given, to rebuild the result and to rerun the fit)
        (out / "original_scenario.toml").write_text(
            self.scenario.to_toml(
                header=f"Scenario as calibrated ({self.scenario_file or 'given'})"
            ),
            encoding="utf-8",
        )

    def format(self, draws: int = 50) -> str:
        """Estimates, fit table, diagnostics and identification as text for a terminal."""
        lines = [
            f"calibration of scenario {self.scenario.name!r} to "
            f"{self.targets_file or self.targets.name} "
            f"by {self.method.upper()} (seed {self.seed})",
            "",
        ]
        table = self.intervals()
        header = f"{'parameter':<40}{'estimate':>12}  {table['kind'].iloc[0] + ' interval':<34}"
        lines += [header, "-" * len(header)]
        for name, row in table.iterrows():
            extra = f" ± {row['se']:.3g}" if "se" in row else ""
            if not row.get("within_bounds", True):
                extra += " (past the bounds)"
            lines.append(
                f"{name!s:<40}{row['estimate']:>12.5g}  "
                f"[{row['low']:.5g}, {row['high']:.5g}]{extra}"
            )
        if "within_bounds" in table and not table["within_bounds"].all():
            lines.append(
                "(past the bounds: the Wald interval reaches past the search bounds, where its "
                "normal approximation is poor: an estimate near a bound, or a parameter weakly "
                "identified; see the identification below)"
            )
        for path, value in self.fixed.items():
            lines.append(f"{path:<40}{_kept(value):>12}  fixed: {self.fixed_reason}")
        fit = self.fit_table(draws=draws)
        lines += [
            "",
            f"{'target':<32}{'observed':>22}  {'simulated [interval]':<30}{'in range':>9}",
        ]
        lines.append("-" * 95)
        for row, target in zip(fit.itertuples(index=False), self.targets.targets, strict=True):
            simulated = (
                "undefined"
                if math.isnan(row.simulated)
                else f"{row.simulated:.4g} [{row.interval_low:.4g}, {row.interval_high:.4g}]"
            )
            lines.append(
                f"{target.name:<32}{target.describe():>22}  {simulated:<30}"
                f"{'yes' if row.inside else 'no':>9}"
            )
        lines.append(f"interval: {fit['interval'].iloc[0]}")
        diagnostics = self.diagnostics
        lines.append("")
        if self.method == "smm":
            j = (
                f"J = {diagnostics['j_statistic']:.3g} on {diagnostics['j_df']} df, "
                f"p = {diagnostics['j_pvalue']:.3g}"
                if diagnostics["j_df"] > 0
                else "no J-test (as many parameters as targets)"
            )
            lines.append(
                f"Q = {diagnostics['objective']:.4g}; {j}; {diagnostics['evaluations']} candidates "
                f"× {diagnostics['replicates']} replicates"
            )
            if not np.all(np.isfinite(self.fit.se)):
                lines.append(
                    "standard errors undefined: the Jacobian of the moments is singular or "
                    "undefined at the estimate (targets undefined or flat there; more "
                    "replicates or a wider step may help)"
                )
            if diagnostics["at_bound"]:
                lines.append(f"at a bound (widen it?): {', '.join(diagnostics['at_bound'])}")
            if diagnostics.get("held"):
                lines.append(
                    "held at a bound, the criterion falling past it (the J-test counts it as "
                    f"fixed): {', '.join(diagnostics['held'])}"
                )
            if diagnostics.get("left_out"):
                lines.append(
                    "left out of the standard errors and the J-test (undefined at the "
                    f"estimate): {', '.join(diagnostics['left_out'])}"
                )
        else:
            lines.append(
                f"{diagnostics['n_simulations']} simulations; posterior of "
                f"{diagnostics['posterior_size']} particles (effective size "
                f"{diagnostics['posterior_ess']:.0f})"
                + (
                    f"; final ε = {diagnostics['final_epsilon']:.3g}"
                    if "final_epsilon" in diagnostics
                    else ""
                )
            )
            if diagnostics["few_particles"]:
                ess = diagnostics["posterior_ess"]
                lines.append(
                    f"few effective particles ({ess:.0f}, below {FEW_PARTICLES}): a posterior "
                    f"mean's Monte Carlo error is about {1 / math.sqrt(ess):.2f} posterior "
                    "standard deviations; run again with another seed (or a larger population) "
                    "to see how much the estimates and intervals move"
                )
        identification = self.identification()
        unidentified = identification[~identification["identified"].astype(bool)]
        if len(unidentified):
            lines.append("not identified by these targets:")
            lines.extend(f"  {name}: {row['note']}" for name, row in unidentified.iterrows())
        else:
            lines.append("every parameter is identified by these targets")
        return "\n".join(lines)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.estimates.items())
        return f"<CalibrationResult {self.method} of {self.scenario.name!r}: {values}>"


def _kept(value: float) -> str:
    """A fixed parameter's value in words."""
    return f"{value:.6g}" if math.isfinite(value) else "the scenario's own distribution"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def weighted_quantiles(
    values: np.ndarray, weights: np.ndarray, levels: Sequence[float]
) -> list[float]:
    """Quantiles of a weighted sample.

    The inverse of its weighted empirical CDF, interpolated at the midpoint of each sample's
    weight.
    """
    order = np.argsort(values)
    sorted_values, sorted_weights = values[order], weights[order] / np.sum(weights)
    cumulative = np.cumsum(sorted_weights) - sorted_weights / 2
    return [float(np.interp(level, cumulative, sorted_values)) for level in levels]


# ---- inserting comments into TOML text -----------------------------------------------------------


_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'


def _split_key(text: str) -> list[str]:
    parts = re.findall(rf"\s*({_KEY})\s*(?:\.|$)", text.strip())
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _insert_comments(text: str, comments: Mapping[str, list[str]]) -> str:
    """Put each path's comment lines above the line that sets it.

    Tables and arrays of tables are followed as ``tomli-w`` writes them; a path set elsewhere
    (in an inline table) keeps only the header's record.
    """
    lines = text.split("\n")
    out: list[str] = []
    table: list[str] = []
    arrays: dict[str, int] = {}
    for line in lines:
        stripped = line.strip()
        array = re.fullmatch(r"\[\[(.+)\]\]", stripped)
        single = re.fullmatch(r"\[(.+)\]", stripped) if not array else None
        if array:
            name = ".".join(_split_key(array.group(1)))
            arrays[name] = arrays.get(name, -1) + 1
            table = [*_split_key(array.group(1)), str(arrays[name])]
        elif single:
            table = _split_key(single.group(1))
        if array or single:  # (a value written as a table: a distribution {dist = ...})
            if ".".join(table) in comments:
                out.extend(f"# {c}" for c in comments[".".join(table)])
        else:
            match = re.match(rf"({_KEY}(?:\s*\.\s*{_KEY})*)\s*=", stripped)
            if match and not stripped.startswith("#"):
                path = ".".join([*table, *_split_key(match.group(1))])
                if path in comments:
                    out.extend(f"# {c}" for c in comments[path])
        out.append(line)
    return "\n".join(out)


# ---- the dispatcher ----------------------------------------------------------------------------


_POSITIONAL = ("scenario", "targets", "parameters")
_SEED_NAMES = ("seed", "root_seed", "random_seed")
# a calibration file's [budget] names for ABC → abc_smc's options of the same meaning
_ABC_FILE_NAMES = {
    "population": "population_size",
    "max_simulations": "max_simulations",
    "generations": "max_generations",
}


def _options_for(
    function: Callable[..., Any], wanted: Mapping[str, Any], method: str
) -> dict[str, Any]:
    """``wanted``, checked against the function's options (one it lacks is an error)."""
    accepted = inspect.signature(function).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in wanted if k not in accepted and not takes_any]
    if unknown:
        renamed = [
            k for k in unknown if _ABC_FILE_NAMES.get(k, k) != k and _ABC_FILE_NAMES[k] in accepted
        ]
        hint = (
            f"; in Python the [budget] names {' and '.join(renamed)} of a calibration file are "
            f"{' and '.join(_ABC_FILE_NAMES[k] for k in renamed)}"
            if renamed
            else ""
        )
        raise CalibrationError(
            f"{', '.join(unknown)}: not an option of method {method!r} "
            f"(it takes: {', '.join(k for k in accepted if k not in _POSITIONAL)}){hint}"
        )
    return dict(wanted)


def calibrate(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    targets: Targets | str | os.PathLike[str] | Sequence[Target],
    parameters: Mapping[str, Any] | Sequence[Parameter] | None = None,
    *,
    method: Literal["smm", "abc"] = "smm",
    params: Mapping[str, Any] | Sequence[Parameter] | None = None,
    seed: int = 0,
    replicates: int | None = None,
    fix_unidentified: bool = True,
    screening_replicates: int = 4,
    threshold: float = SENSITIVITY_THRESHOLD,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | Callable[[int], Any] = False,
    **options: Any,
) -> CalibrationResult:
    """Fit scenario parameters to targets, by simulated moments or ABC-SMC, in one call.

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        targets: A :class:`~talentsim.targets.Targets`, a path to a targets file, or a list of
            targets. SMM needs estimates (observed ± se) or bands; ABC also takes bounds.
        parameters: What to estimate: a mapping of dotted path to bounds ``(low, high)`` or a
            ``scipy.stats`` prior (or a prior table ``{dist = ...}``), or
            :class:`~talentsim.smm.Parameter` objects.
        params: Another name for ``parameters`` (as in the design's examples).
        method: ``"smm"`` (:func:`talentsim.smm.smm`) or ``"abc"``
            (:func:`talentsim.approximate_bayes.abc_smc`).
        seed: Root seed of everything random in the fit (replicate seeds, the optimiser, the
            sampler): the same call gives the same result.
        replicates: Runs per parameter vector: SMM, per candidate, the same seeds for every
            candidate (default 10); ABC, per particle, their statistics averaged (default the
            estimator's, 1).
        fix_unidentified: Screen the parameters first (:func:`screen`) and do not estimate
            those the targets do not move: they keep the scenario's value, and the result
            says so.
        screening_replicates: Replicates of the screening.
        threshold: The screening's sensitivity threshold (standard errors over the range).
        checkpoint: SMM: a file keeping every candidate's moments (see :class:`MomentsLog`).
        resume: Continue from ``checkpoint`` (SMM) or from the estimator's database (ABC).
        progress: True for a progress bar on standard error (one step per SMM candidate), or
            a callable called with 1 after each.
        **options: Passed to the estimator (SMM: ``maxiter``, ``popsize``, ``polish``, ...;
            ABC: the population size, simulation budget, database, Dask address, ...).

    Returns:
        A :class:`CalibrationResult`.

    Raises:
        CalibrationError: for an unknown method, parameter path or option, or when the
            screening finds that the targets identify none of the parameters.
        TargetsError: for targets that do not fit the scenario or the method.
    """
    if method not in METHODS:
        raise CalibrationError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if parameters is not None and params is not None:
        raise CalibrationError("give parameters or params, not both")
    given = parameters if parameters is not None else params
    if given is None:
        raise CalibrationError("parameters: give the parameters to estimate")
    abc_smc: Callable[..., Any] | None = None
    if method == "abc":
        try:
            abc_smc = importlib.import_module("talentsim.approximate_bayes").abc_smc
        except ImportError:
            raise CalibrationError(
                "method 'abc' needs talentsim.approximate_bayes and pyabc: pip install "
                "'talentsim[calibrate]'"
            ) from None
    scenario_file = str(scenario) if isinstance(scenario, str | os.PathLike) else None
    base = as_scenario(scenario)  # type: ignore[arg-type]
    chosen_targets = as_targets(targets)
    scenario_for(base, chosen_targets)  # (the targets fit the scenario: checked before any run)
    if method == "smm":
        moment_targets(chosen_targets)  # (one-sided bounds refused, by name, before any run)
    chosen = as_parameters(base, given, screened=fix_unidentified)
    fixed: dict[str, float] = {}
    fixed_reason = ""
    screening = None
    if fix_unidentified:
        screening = screen(
            base,
            chosen_targets,
            chosen,
            replicates=screening_replicates,
            root_seed=seed,
            threshold=threshold,
        )
        dropped = [p for p in chosen if not bool(screening.loc[p.path, "identified"])]
        if len(dropped) == len(chosen):
            raise CalibrationError(
                "the targets identify none of the parameters (screening: "
                + ", ".join(
                    f"{p.path} moves them {screening.loc[p.path, 'sensitivity']:.2g} se"
                    for p in chosen
                )
                + f", threshold {threshold:g}); choose other parameters or targets, or pass "
                "fix_unidentified=False (in a calibration file: fix_unidentified = false)"
            )
        fixed_reason = (
            f"the targets do not identify it (screening: moving it over its bounds moves the "
            f"targets by less than {threshold:g} standard errors)"
        )
        for parameter in dropped:
            current, _ = scenario_value(base, parameter.path)
            # (the scenario's own value; NaN for one it holds as a distribution)
            fixed[parameter.path] = current if current is not None else math.nan
        chosen = [p for p in chosen if p not in dropped]
    fitted_base = base  # (a fixed parameter keeps the scenario's value: nothing to override)
    bar = None
    tick: Callable[[], Any] | None = None
    if callable(progress):
        callback = progress

        def tick() -> None:
            callback(1)

    elif progress and method == "smm":  # (ABC: the sampler shows its own progress)
        import sys

        from tqdm import tqdm

        bar = tqdm(unit="candidate", desc=f"calibrate ({method})", file=sys.stderr)
        tick = bar.update
    try:
        if method == "smm":
            options = _options_for(smm, options, method)
            replicates = 10 if replicates is None else replicates
            seeds = seed_list(replicates, seed, minimum=2)
            digest = fingerprint(
                {
                    "scenario": fitted_base.to_dict(),
                    "targets": chosen_targets.identity(),
                    "parameters": [[p.path, p.low, p.high, p.unit] for p in chosen],
                    "seeds": seeds,
                    "options": options,
                }
            )
            log = MomentsLog(checkpoint, fingerprint=digest, resume=resume, on_new=tick)
            options.setdefault("optimizer_seed", seed)
            fit = smm(
                fitted_base,
                chosen_targets,
                chosen,
                replicates=replicates,
                root_seed=seed,
                cache=log,
                **options,
            )
            trace: MomentsLog | None = log
        else:
            assert abc_smc is not None
            accepted = inspect.signature(abc_smc).parameters
            seed_name = next((n for n in _SEED_NAMES if n in accepted), None)
            if seed_name is None:
                raise CalibrationError(
                    "method 'abc': the ABC estimator takes no seed option; a calibration must "
                    "be reproducible"
                )
            extra: dict[str, Any] = {seed_name: seed, "progress": progress}
            if resume:
                extra["resume"] = True
            if replicates is not None:
                if "replicates" not in accepted:
                    raise CalibrationError(
                        "replicates: the ABC estimator takes no replicates option"
                    )
                extra["replicates"] = replicates
            options = {**{k: v for k, v in extra.items() if k in accepted}, **options}
            options = _options_for(abc_smc, options, method)
            fit = abc_smc(fitted_base, chosen_targets, chosen, **options)
            trace = None
    finally:
        if bar is not None:
            bar.close()
    return CalibrationResult(
        fit,
        scenario=base,
        targets=chosen_targets,
        parameters=chosen,
        seed=seed,
        fixed=fixed,
        fixed_reason=fixed_reason,
        screening=screening,
        scenario_file=scenario_file,
        targets_file=chosen_targets.source_file,
        trace=trace,
    )


# ---- calibration files -------------------------------------------------------------------------


class Budget(BaseModel):
    """How much simulation a calibration may spend.

    Attributes:
        replicates: Runs per parameter vector: SMM, per candidate (common random numbers;
            default 10); ABC, per particle, only if given (the estimator's default is 1).
        maxiter, popsize: SMM: differential evolution's generations and population per
            parameter. polish: SMM: refine with Nelder–Mead.
        population: ABC: particles per generation. max_simulations: ABC: stop after this many
            simulations. generations: ABC: at most this many generations.
        screening_replicates: Replicates of the identification screening.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # (upper bounds far above any fit's, so that a typo of a few digits is refused before it
    # allocates what no machine has)
    replicates: int = Field(default=10, ge=1, le=10_000)  # (SMM: at least 2, budget_problem)
    maxiter: int = Field(default=30, ge=1, le=100_000)
    popsize: int = Field(default=8, ge=2, le=10_000)
    polish: bool = Field(default=True, strict=True)
    population: int | None = Field(default=None, ge=2, le=1_000_000)
    max_simulations: int | None = Field(default=None, ge=1, le=10**10)
    generations: int | None = Field(default=None, ge=1, le=100_000)
    screening_replicates: int = Field(default=4, ge=2, le=10_000)


class CalibrationFile(BaseModel):
    """A calibration file: what to fit to what, how, with which budget and seed.

    Attributes:
        scenario: The scenario file (relative to the calibration file).
        targets: The targets file (relative to the calibration file).
        method: ``"smm"`` or ``"abc"``.
        seed: Root seed of everything random.
        parameters: Dotted path → bounds ``[low, high]`` or a prior table ``{dist = ...}``.
            Quote dotted paths (``"labs.MSL.pay_level" = [1, 5]``), or nest them as tables.
        fix_unidentified: Do not estimate parameters the targets do not identify.
        budget: See :class:`Budget`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    scenario: str = Field(min_length=1)
    targets: str = Field(min_length=1)
    method: Literal["smm", "abc"] = "smm"
    seed: int = Field(default=0, ge=0)
    description: str = ""
    fix_unidentified: bool = Field(default=True, strict=True)
    parameters: dict[str, tuple[float, float] | dict[str, Any]] = Field(min_length=1)
    budget: Budget = Field(default_factory=Budget)

    @field_validator("parameters", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        """Nested tables (``[parameters.labs.MSL] pay_level = [1, 5]``) as dotted paths."""
        if not isinstance(value, Mapping):
            return value
        if not value:
            raise ValueError(
                'give at least one parameter to estimate: "dotted.path" = [low, high], or a '
                "prior table"
            )
        return flatten_key_paths(
            value,
            is_value=lambda node: "dist" in node,
            expected="bounds [low, high] or a prior table",
        )

    @field_validator("parameters")
    @classmethod
    def _priors_have_dist(
        cls, value: dict[str, tuple[float, float] | dict[str, Any]]
    ) -> dict[str, tuple[float, float] | dict[str, Any]]:
        for path, spec in value.items():
            if isinstance(spec, tuple) and not spec[0] < spec[1]:
                raise ValueError(f"{path}: bounds [low, high] need low < high, got {list(spec)}")
        return value


def load_calibration(path: str | os.PathLike[str]) -> tuple[CalibrationFile, Path, Path]:
    """Read and validate a calibration file.

    Returns:
        The file's contents, and the scenario and targets paths resolved against its folder.

    Raises:
        CalibrationError: if the file cannot be read or does not match the schema, or names
            a scenario or targets file that does not exist; the message names the file and the
            key path.
    """
    file = Path(path)
    try:
        data = read_toml(file)
    except ScenarioError as exc:
        raise CalibrationError(
            str(exc).replace("TOML scenario file", "TOML calibration file")
        ) from None
    refuse_another_kind(file, data, "calibration", CalibrationError)
    try:
        spec = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        text = format_validation_error(
            exc, str(file), root=CalibrationFile, what="calibration file"
        )
        _, *lines = text.split("\n")
        if len(lines) == 1:
            raise CalibrationError(lines[0].strip()) from None
        raise CalibrationError(text) from None
    resolved = [
        _shown_path(
            referenced_file(
                file, key, getattr(spec, key), kind="calibration", error=CalibrationError
            )
        )
        for key in ("scenario", "targets")
    ]
    return spec, resolved[0], resolved[1]


def _shown_path(path: Path) -> Path:
    """``path`` normalised, relative to the working folder when it lies under it."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        return absolute.relative_to(Path.cwd())
    except ValueError:
        return absolute


def _abc_database_option() -> str | None:
    """The name of the ABC estimator's database option (None when it is not installed)."""
    try:
        abc = importlib.import_module("talentsim.approximate_bayes")
    except ImportError:
        return None
    accepted = inspect.signature(abc.abc_smc).parameters
    return next((n for n in ("db", "database", "db_path", "history") if n in accepted), None)


def _warn_unused_budget(
    path: str | os.PathLike[str], budget: Budget, names: tuple[str, ...], method: str
) -> None:
    """Warn of budget settings given in the file that ``method`` does not use.

    A file may carry the budgets of both methods, so that ``--method`` can pick one.
    """
    unused = [name for name in names if name in budget.model_fields_set]
    if unused:
        keys = ", ".join(f"budget.{name}" for name in unused)
        warnings.warn(
            f"{path}: {keys}: not used by method {method} (the other method's budget)",
            CalibrationWarning,
            stacklevel=3,
        )


class CalibrationInputs(NamedTuple):
    """A calibration file as :func:`read_calibration` reads it, with what it names."""

    spec: CalibrationFile
    scenario_path: Path
    targets_path: Path
    scenario: Scenario
    targets: Targets
    parameters: list[Parameter]


def read_calibration(path: str | os.PathLike[str]) -> CalibrationInputs:
    """A calibration file with what it names, every check made before anything runs.

    Returns:
        The file's contents, the scenario and targets paths, the scenario, the targets and the
        parameters (checked against the scenario).

    Raises:
        CalibrationError: naming the file and the key path for anything wrong in it.
        TargetsError: for targets that do not fit the scenario (a lab or cohort it does not
            have, a run too short), naming the targets file and the target.
    """
    from talentsim.scenario import load_scenario
    from talentsim.targets import load_targets

    spec, scenario_path, targets_path = load_calibration(path)
    scenario = load_scenario(scenario_path)
    targets = load_targets(targets_path)
    scenario_for(scenario, targets)  # (as calibrate checks them: talentsim validate too)
    try:
        parameters = as_parameters(
            scenario,
            spec.parameters,
            source=f"{path}: parameters",
            screened=spec.fix_unidentified,
        )
    except CalibrationError as exc:
        text = str(exc)
        raise CalibrationError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    return CalibrationInputs(spec, scenario_path, targets_path, scenario, targets, parameters)


def budget_problem(
    method: str, budget: Any, options: Mapping[str, Any] | None = None
) -> str | None:
    """Why a fit by ``method`` with this ``[budget]`` (and estimator ``options``) cannot run.

    SMM needs at least 2 replicates (its weighting estimates the moments' variance across
    them); ABC needs a stopping rule: ``budget.generations``, ``budget.max_simulations`` or
    an option ``max_generations``, ``max_simulations`` or ``min_epsilon``. None if it can.
    """
    if method == "smm" and budget.replicates < 2:
        return (
            f"budget.replicates: method smm needs at least 2 (got {budget.replicates}): its "
            "weighting estimates the moments' variance across replicates"
        )
    stops = {"max_generations", "max_simulations", "min_epsilon"} & set(options or {})
    unbounded = budget.generations is None and budget.max_simulations is None and not stops
    if method == "abc" and unbounded:
        return (
            "budget: method abc needs a stopping rule: budget.generations (e.g. 8) or "
            "budget.max_simulations (an ABC-SMC run has no natural end: its tolerance keeps "
            "falling)"
        )
    return None


def calibrate_file(
    path: str | os.PathLike[str],
    *,
    method: Literal["smm", "abc"] | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | Callable[[int], Any] = False,
    inputs: CalibrationInputs | None = None,
    **options: Any,
) -> CalibrationResult:
    """Run the calibration a file describes (what ``talentsim calibrate FILE`` does).

    Args:
        path: The calibration file.
        method: Overrides the file's method.
        out: The output folder: the SMM checkpoint (and the ABC database) live there, so
            ``resume`` continues an interrupted fit.
        resume: Continue from what ``out`` holds.
        progress: A progress bar (True) or callback.
        inputs: The file as :func:`read_calibration` read it already, so that it is read
            once (the command line checks it before it compiles the step); None: read here.
        **options: More options for the estimator (an ABC Dask address, workers...).

    Raises:
        CalibrationError: naming the file and the key path for anything wrong in it.
    """
    read = read_calibration(path) if inputs is None else inputs
    spec, scenario_path, targets_path, scenario, targets, parameters = read
    chosen = method or spec.method
    budget = spec.budget
    problem = budget_problem(chosen, budget, options)
    if problem:
        raise CalibrationError(f"{path}: {problem}")
    estimator: dict[str, Any] = {}
    if chosen == "smm":
        _warn_unused_budget(path, budget, ("population", "max_simulations", "generations"), "smm")
        estimator.update(maxiter=budget.maxiter, popsize=budget.popsize, polish=budget.polish)
        checkpoint = Path(out) / CHECKPOINT_FILE if out is not None else None
    else:
        _warn_unused_budget(path, budget, ("maxiter", "popsize", "polish"), "abc")
        for key, name in _ABC_FILE_NAMES.items():
            given = getattr(budget, key)
            if given is not None:
                estimator[name] = given
        checkpoint = None
        database = _abc_database_option()
        if out is not None and database is not None:
            estimator[database] = str(Path(out) / "abc.sqlite")
    estimator.update(options)
    try:
        result = calibrate(
            scenario,
            targets,
            parameters,
            method=chosen,
            seed=spec.seed,
            # (ABC: only if the file gives it; otherwise the estimator's default, 1)
            replicates=(
                budget.replicates
                if chosen == "smm" or "replicates" in budget.model_fields_set
                else None
            ),
            fix_unidentified=spec.fix_unidentified,
            screening_replicates=budget.screening_replicates,
            checkpoint=checkpoint,
            resume=resume,
            progress=progress,
            **estimator,
        )
    except TargetsError as exc:
        text = str(exc)
        raise CalibrationError(
            text if str(targets_path) in text else f"{targets_path}: {text}"
        ) from None
    except CalibrationError as exc:  # (found while fitting: the file is named too)
        text = str(exc)
        raise CalibrationError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    result.scenario_file = str(scenario_path)
    result.targets_file = str(targets_path)
    return result


__all__ = [
    "CHECKPOINT_FILE",
    "METHODS",
    "Budget",
    "CalibrationError",
    "CalibrationFile",
    "CalibrationInputs",
    "CalibrationResult",
    "CalibrationWarning",
    "MomentsLog",
    "as_parameters",
    "calibrate",
    "calibrate_file",
    "load_calibration",
    "read_calibration",
    "scenario_value",
    "screen",
    "weighted_quantiles",
]
