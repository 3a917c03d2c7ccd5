"""Priors of calibration parameters: SciPy distributions in Python, tables in TOML.

In Python a parameter's prior is any frozen :mod:`scipy.stats` distribution
(``scipy.stats.norm(2.0, 0.5)``); a :class:`~talentsim.smm.Parameter` carries it in its
``prior`` field, and a parameter without one has the uniform prior over its bounds.

In a TOML file a prior is a table with ``dist`` and the distribution's keywords, or a pair of
bounds (the uniform prior over them)::

    [parameters]
    "labs.MSL.pay_level" = [1.0, 5.0]                                   # uniform
    "market.offer_rate_employed" = { dist = "loguniform", low = 0.5, high = 8 }
    "labs.Rival.mission_clarity" = { dist = "beta", a = 4, b = 2 }
    "labs.MSL.new_hire_premium" = { dist = "truncnorm", loc = 1, scale = 1, low = 0, high = 5 }

The file is data: ``dist`` names one of a fixed list of distributions (:data:`PRIORS`), each
built by its SciPy constructor from keywords checked against the list; nothing in the file
is executed or evaluated. Errors name the file, the key path and what was expected.

Values given to the scenario are plain numbers: a rate is per year, a duration in years (the
scenario's overrides convert them, see :meth:`talentsim.scenario.Scenario.with_overrides`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from talentsim.scenario import ScenarioError, read_toml
from talentsim.smm import Parameter


class PriorError(ScenarioError):
    """A prior or a parameters table is invalid; the message names the file and key path."""


@dataclass(frozen=True)
class _Family:
    """A distribution a file may name: its keywords and how to build it."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    build: Callable[..., Any]
    positive: tuple[str, ...] = ()
    ordered: bool = False  # low < high
    help: str = ""


def _uniform(low: float, high: float) -> Any:
    return scipy_stats.uniform(loc=low, scale=high - low)


def _truncnorm(loc: float, scale: float, low: float = -math.inf, high: float = math.inf) -> Any:
    return scipy_stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)


PRIORS: dict[str, _Family] = {
    "uniform": _Family(("low", "high"), (), _uniform, ordered=True, help="low, high"),
    "loguniform": _Family(
        ("low", "high"),
        (),
        lambda low, high: scipy_stats.loguniform(low, high),
        positive=("low", "high"),
        ordered=True,
        help="low, high (both > 0)",
    ),
    "norm": _Family(
        ("loc", "scale"),
        (),
        lambda loc, scale: scipy_stats.norm(loc=loc, scale=scale),
        positive=("scale",),
        help="loc (mean), scale (sd)",
    ),
    "truncnorm": _Family(
        ("loc", "scale"),
        ("low", "high"),
        _truncnorm,
        positive=("scale",),
        ordered=True,
        help="loc, scale of the normal before truncation; low, high: the truncation bounds "
        "in the parameter's own units (not SciPy's standardised a, b)",
    ),
    "lognorm": _Family(
        ("s", "scale"),
        ("loc",),
        lambda s, scale, loc=0.0: scipy_stats.lognorm(s, loc=loc, scale=scale),
        positive=("s", "scale"),
        help="s (sd of the log), scale (the median, exp of the mean of the log), loc (shift)",
    ),
    "beta": _Family(
        ("a", "b"),
        ("loc", "scale"),
        lambda a, b, loc=0.0, scale=1.0: scipy_stats.beta(a, b, loc=loc, scale=scale),
        positive=("a", "b", "scale"),
        help="a, b (shapes), loc, scale (support [loc, loc + scale], default [0, 1])",
    ),
}
"""The distributions a file may name, with SciPy's names and keywords (``truncnorm`` takes
its bounds in the parameter's units)."""

CENTRAL_MASS = 0.999
"""For a prior with unbounded support, the search bounds of its parameter (for the method of
simulated moments) are the central interval holding this much of its mass."""


def parse_prior(spec: object, where: str) -> Any:
    """A frozen SciPy distribution from a file's prior: ``[low, high]`` or ``{dist = ...}``.

    Args:
        spec: The value in the file.
        where: The file and key path, for error messages (``"fit.toml: parameters.x"``).

    Raises:
        PriorError: naming ``where`` and what was expected.
    """
    if isinstance(spec, list | tuple):
        if len(spec) != 2 or not all(_is_number(v) for v in spec):
            raise PriorError(f"{where}: expected bounds [low, high] (two numbers), got {spec!r}")
        low, high = float(spec[0]), float(spec[1])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise PriorError(f"{where}: bounds must be finite with low < high, got {spec!r}")
        return _uniform(low, high)
    if not isinstance(spec, Mapping):
        raise PriorError(
            f"{where}: expected bounds [low, high] or a table such as "
            f'{{ dist = "norm", loc = 1, scale = 0.5 }}, got {spec!r}'
        )
    name = spec.get("dist")
    if not isinstance(name, str) or name not in PRIORS:
        got = "missing" if name is None else repr(name)
        raise PriorError(f"{where}.dist: expected one of: {', '.join(PRIORS)} (got {got})")
    family = PRIORS[name]
    keywords: dict[str, float] = {}
    for key, value in spec.items():
        if key == "dist":
            continue
        if key not in family.required + family.optional:
            raise PriorError(
                f"{where}.{key}: unknown key for dist = {name!r} (expected: {family.help})"
            )
        if not _is_number(value) or not math.isfinite(value):
            raise PriorError(f"{where}.{key}: expected a finite number, got {value!r}")
        if key in family.positive and value <= 0:
            raise PriorError(f"{where}.{key}: must be > 0, got {value!r}")
        keywords[key] = float(value)
    missing = [key for key in family.required if key not in keywords]
    if missing:
        raise PriorError(
            f"{where}: dist = {name!r} needs {', '.join(missing)} (keywords: {family.help})"
        )
    if family.ordered and keywords.get("low", -math.inf) >= keywords.get("high", math.inf):
        raise PriorError(f"{where}: low must be below high, got {keywords}")
    prior = family.build(**keywords)
    with np.errstate(over="ignore", invalid="ignore"):  # (checked here, with the file's name)
        low, high = prior_bounds(prior)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise PriorError(
            f"{where}: the prior's central {CENTRAL_MASS:.1%} (the parameter's search bounds) "
            f"is not a finite range, got [{low:g}, {high:g}] from {keywords}; expected a "
            "proper prior on finite values (a smaller scale)"
        )
    return prior


def prior_from_table(table: object, *, where: str) -> Any:
    """A frozen SciPy distribution from a prior table (``{dist = ...}``) or bounds.

    The same as :func:`parse_prior` (the name ``talentsim.calibration`` reads files with).
    """
    return parse_prior(table, where)


def prior_bounds(prior: Any, mass: float = CENTRAL_MASS) -> tuple[float, float]:
    """Finite bounds of a prior.

    Its support, or its central interval of ``mass`` where the support is unbounded.
    """
    low, high = (float(v) for v in prior.support())
    tail_low, tail_high = (float(v) for v in prior.interval(mass))
    return (low if math.isfinite(low) else tail_low, high if math.isfinite(high) else tail_high)


def parameter(path: str, prior: Any) -> Parameter:
    """A :class:`Parameter` with ``prior`` and bounds from it (:func:`prior_bounds`).

    Args:
        path: The dotted path (a value for a rate is per year, for a duration in years).
        prior: A frozen SciPy distribution, or bounds ``(low, high)`` for a uniform prior.
    """
    if isinstance(prior, list | tuple):
        return Parameter(path, float(prior[0]), float(prior[1]))
    low, high = prior_bounds(prior)
    return Parameter(path, low, high, prior=prior)


def parse_parameters(table: object, where: str = "parameters") -> list[Parameter]:
    """Parameters from a file's ``[parameters]`` table: ``{dotted path: prior}``.

    Raises:
        PriorError: naming ``where``, the parameter's path and what was expected.
    """
    if not isinstance(table, Mapping) or not table:
        raise PriorError(
            f"{where}: expected a table of parameters, e.g. "
            '"labs.MSL.pay_level" = [1.0, 5.0] (a dotted path and its prior)'
        )
    found = []
    for path, spec in table.items():
        named = f'{where}."{path}"' if "." in str(path) else f"{where}.{path}"
        prior = parse_prior(spec, named)
        # (bounds stay bounds: the parameter's uniform prior is implied by them)
        found.append(parameter(str(path), list(spec) if isinstance(spec, list) else prior))
    return found


def load_parameters(path: str | os.PathLike[str], key: str = "parameters") -> list[Parameter]:
    """Parameters from the ``[parameters]`` table of a TOML file.

    Raises:
        PriorError: if the file cannot be read or the table is invalid (naming file and key).
    """
    file = Path(path)
    try:
        data = read_toml(file)
    except ScenarioError as exc:
        raise PriorError(str(exc).replace("TOML scenario file", "TOML file")) from None
    if key not in data:
        raise PriorError(f"{file}: {key}: required table is missing")
    return parse_parameters(data[key], f"{file}: {key}")


def prior_of(parameter: Parameter) -> Any:
    """The prior of a parameter: its own, or the uniform distribution over its bounds."""
    prior = getattr(parameter, "prior", None)
    return prior if prior is not None else _uniform(parameter.low, parameter.high)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = [
    "CENTRAL_MASS",
    "PRIORS",
    "PriorError",
    "load_parameters",
    "parameter",
    "parse_parameters",
    "parse_prior",
    "prior_bounds",
    "prior_from_table",
    "prior_of",
]
