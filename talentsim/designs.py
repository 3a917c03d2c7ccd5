"""Experimental designs: which parameter values a sweep runs.

Parameters are scenario keys by dotted path. Each takes either a list of values or a range:

- a list (``[1.5, 2.5, 3.5]``, ``["1/year", "4/year"]``) — the values themselves;
- a range, a table ``{low = 0, high = 6, unit = "/year", log = false, integer = false}`` (or a
  :class:`Range`) — a continuous interval; ``unit`` is appended to each value (rates and
  durations need units in scenarios), ``log`` samples uniformly in log space.

Designs:

- ``"grid"``: the full factorial of the lists (a range needs ``levels``: evenly spaced values);
- ``"lhs"``, ``"sobol"``, ``"halton"``: ``samples`` points of a Latin hypercube or a scrambled
  Sobol or Halton sequence on the unit cube (``scipy.stats.qmc``), mapped onto the ranges (and
  onto lists by equal-width bins);
- ``"saltelli"`` and ``"morris"``: the sampling schemes of SALib for Sobol and Morris
  sensitivity analysis (see :mod:`talentsim.sensitivity_analysis`).

References:
    Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Design and
    estimator for the total sensitivity index. *Computer Physics Communications* 181, 259–270.
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
    *Technometrics* 33(2), 161–174.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DESIGNS = ("grid", "lhs", "sobol", "halton", "saltelli", "morris")
"""Names of the designs :func:`make_design` knows."""


class DesignError(ValueError):
    """A sweep's parameters or design are invalid; the message says which and why."""


@dataclass(frozen=True)
class Range:
    """A continuous parameter range.

    Attributes:
        low: Lower bound.
        high: Upper bound (> low).
        unit: Appended to each value when it is put in the scenario, e.g. ``"/year"``, ``"w"``.
        log: Sample uniformly in log space (needs ``low > 0``).
        integer: Round values to integers.
        levels: Number of evenly spaced values in a grid design.
    """

    low: float
    high: float
    unit: str = ""
    log: bool = False
    integer: bool = False
    levels: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high <= self.low:
            raise DesignError(f"a range needs finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise DesignError(f"a log range needs low > 0, got {self.low}")
        if self.levels is not None and self.levels < 2:
            raise DesignError(f"a range's levels must be at least 2, got {self.levels}")

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range."""
        if self.log:
            values = np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        else:
            values = self.low + u * (self.high - self.low)
        return np.round(values) if self.integer else values

    @property
    def bounds(self) -> list[float]:
        """Bounds in the space SALib samples (log space for a log range)."""
        if self.log:
            return [math.log(self.low), math.log(self.high)]
        return [float(self.low), float(self.high)]


@dataclass(frozen=True)
class Parameter:
    """One swept scenario key: its values (a list) or its range."""

    path: str
    values: tuple[Any, ...] | None = None
    range: Range | None = None

    def value_for(self, raw: Any) -> Any:
        """The value to put in the scenario for a design value (the unit appended)."""
        if self.range is None:
            return raw
        number = int(raw) if self.range.integer else float(raw)
        return f"{number}{self.range.unit}" if self.range.unit else number

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map points of [0, 1] onto this parameter's values."""
        if self.range is not None:
            return [v.item() for v in self.range.from_unit(u)]
        assert self.values is not None
        index = np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)
        return [self.values[i] for i in index]


@dataclass
class Design:
    """The points of an experiment.

    Attributes:
        kind: The design's name (see :data:`DESIGNS`).
        parameters: The swept parameters, in column order.
        points: One row per point, one column per parameter path (design values, without
            units).
        problem: The SALib problem (names, bounds) for ``saltelli`` and ``morris`` designs.
        options: Design options (samples, seed, second order, levels).
    """

    kind: str
    parameters: list[Parameter]
    points: pd.DataFrame
    problem: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.points)

    def overrides(self, point: int) -> dict[str, Any]:
        """The scenario overrides of one point (units appended)."""
        row = self.points.iloc[point]
        return {p.path: p.value_for(_plain(row[p.path])) for p in self.parameters}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (stored with a sweep, compared on resume)."""
        return {
            "kind": self.kind,
            "options": self.options,
            "parameters": [_describe_parameter(p) for p in self.parameters],
        }


def parse_parameters(params: Mapping[str, Any]) -> list[Parameter]:
    """Turn ``{path: list | range}`` into parameters, with clear errors."""
    if not isinstance(params, Mapping) or not params:
        raise DesignError(
            "parameters: give at least one scenario key to vary, e.g. "
            "{'labs.MSL.pay_level': [1.5, 2.5]}"
        )
    out = []
    for path, spec in params.items():
        if not isinstance(path, str) or not path:
            raise DesignError(f"parameters: {path!r} is not a dotted key path")
        if isinstance(spec, Range):
            out.append(Parameter(path, range=spec))
        elif isinstance(spec, Mapping):
            allowed = {"low", "high", "unit", "log", "integer", "levels"}
            unknown = set(spec) - allowed
            if unknown or not {"low", "high"} <= set(spec):
                raise DesignError(
                    f"parameters.{path}: a range is a table with low and high (and optionally "
                    f"unit, log, integer, levels); got keys {sorted(spec)}"
                )
            try:
                out.append(Parameter(path, range=Range(**spec)))
            except TypeError as exc:
                raise DesignError(f"parameters.{path}: {exc}") from None
            except DesignError as exc:
                raise DesignError(f"parameters.{path}: {exc}") from None
        elif isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
            if len(spec) == 0:
                raise DesignError(f"parameters.{path}: the list of values is empty")
            out.append(Parameter(path, values=tuple(spec)))
        else:
            raise DesignError(
                f"parameters.{path}: expected a list of values or a range table "
                f"{{low = .., high = ..}}, got {spec!r}"
            )
    return out


def make_design(
    params: Mapping[str, Any],
    design: str = "grid",
    *,
    samples: int | None = None,
    seed: int = 0,
    second_order: bool = False,
    levels: int = 4,
) -> Design:
    """Build the points of an experiment.

    Args:
        params: Scenario key → list of values or range (see the module docstring).
        design: One of :data:`DESIGNS`.
        samples: Points for ``lhs``/``sobol``/``halton`` (a power of 2 for ``sobol``); the base
            sample size N for ``saltelli`` (a power of 2; N·(D+2) points, N·(2D+2) with
            ``second_order``) and the number of trajectories for ``morris`` (N·(D+1) points).
        seed: Seed of the sampler (the design is reproducible).
        second_order: Saltelli design for second-order Sobol indices.
        levels: Grid levels of the Morris design.

    Raises:
        DesignError: for an unknown design, a bad parameter spec or sample size.
    """
    parameters = parse_parameters(params)
    options: dict[str, Any] = {"seed": seed}
    if design == "grid":
        return _grid(parameters)
    if design not in DESIGNS:
        raise DesignError(f"design: unknown design {design!r}; choose from {', '.join(DESIGNS)}")
    if samples is None or isinstance(samples, bool) or samples < 1:
        raise DesignError(f"design {design!r} needs samples >= 1 (got {samples!r})")
    options["samples"] = samples
    d = len(parameters)
    rng = np.random.default_rng(seed)
    problem = None
    if design in ("lhs", "sobol", "halton"):
        from scipy.stats import qmc

        if design == "sobol" and samples & (samples - 1):
            raise DesignError(f"design 'sobol': samples must be a power of 2, got {samples}")
        sampler = {
            "lhs": lambda: qmc.LatinHypercube(d, rng=rng),
            "sobol": lambda: qmc.Sobol(d, scramble=True, rng=rng),
            "halton": lambda: qmc.Halton(d, scramble=True, rng=rng),
        }[design]()
        unit = sampler.random(samples)
    else:
        if design == "saltelli" and samples & (samples - 1):
            raise DesignError(f"design 'saltelli': samples must be a power of 2, got {samples}")
        problem = {
            "num_vars": d,
            "names": [p.path for p in parameters],
            "bounds": [p.range.bounds if p.range else [0.0, 1.0] for p in parameters],
        }
        unit = _salib_unit_sample(problem, design, samples, seed, second_order, levels)
        options.update({"second_order": second_order, "levels": levels})
    columns = {p.path: p.from_unit(unit[:, k]) for k, p in enumerate(parameters)}
    return Design(design, parameters, pd.DataFrame(columns), problem, options)


def _salib_unit_sample(
    problem: dict[str, Any],
    design: str,
    samples: int,
    seed: int,
    second_order: bool,
    levels: int,
) -> np.ndarray:
    """Draw SALib's sample and map it back to [0, 1] per parameter."""
    try:
        from SALib.sample import morris as morris_sample
        from SALib.sample import sobol as sobol_sample
    except ImportError:  # pragma: no cover - SALib is a declared extra
        raise DesignError(f"design {design!r} needs SALib: pip install 'talentsim[sa]'") from None
    given = dict(problem)  # SALib adds keys to the problem it is given
    if design == "saltelli":
        x = sobol_sample.sample(given, samples, calc_second_order=second_order, seed=seed)
    else:
        x = morris_sample.sample(given, samples, num_levels=levels, seed=seed)
    # Back to the unit cube; for a log range the bounds are in log space, and
    # Range.from_unit maps back through exp.
    bounds = np.asarray(problem["bounds"], dtype=float)
    return np.clip((x - bounds[:, 0]) / (bounds[:, 1] - bounds[:, 0]), 0.0, 1.0)


def _grid(parameters: list[Parameter]) -> Design:
    axes = []
    for p in parameters:
        if p.values is not None:
            axes.append(list(p.values))
        elif p.range is not None and p.range.levels is not None:
            axes.append(p.from_unit(np.linspace(0.0, 1.0, p.range.levels)))
        else:
            raise DesignError(
                f"parameters.{p.path}: a grid needs a list of values, or a range with levels"
            )
    rows = list(itertools.product(*axes))
    points = pd.DataFrame(rows, columns=[p.path for p in parameters])
    return Design("grid", parameters, points, None, {})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _describe_parameter(p: Parameter) -> dict[str, Any]:
    if p.range is not None:
        r = p.range
        spec: dict[str, Any] = {"low": r.low, "high": r.high}
        spec |= {k: v for k, v in (("unit", r.unit), ("log", r.log), ("integer", r.integer)) if v}
        if r.levels is not None:
            spec["levels"] = r.levels
        return {"path": p.path, "range": spec}
    return {"path": p.path, "values": [_plain(v) for v in p.values or ()]}
