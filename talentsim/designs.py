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
    """A parameter range.

    Values always lie in ``[low, high]``, and a grid (or Morris) design hits both ends
    exactly. An integer range (``integer=True``, integral ``low`` and ``high``) takes the
    integers ``low, low+1, ..., high``: in sampled designs each of them is equally likely (a
    log integer range: uniform in log space over ``[low, high + 1)``, so integer ``k`` has
    probability proportional to ``log((k+1)/k)``), and a grid takes distinct integers.

    Attributes:
        low: Lower bound.
        high: Upper bound (> low).
        unit: Appended to each value when it is put in the scenario, e.g. ``"/year"``, ``"w"``.
        log: Sample uniformly in log space (needs ``low > 0``).
        integer: Integer values (``low`` and ``high`` must be integers).
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
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise DesignError(
                f"an integer range needs integer low and high, got [{self.low}, {self.high}]"
            )
        if self.integer and max(abs(self.low), abs(self.high)) >= 2**53:
            raise DesignError(
                f"an integer range must lie within ±2**53, got [{self.low}, {self.high}]"
            )

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range (uniformly; in log space for a log range).

        An integer range is cut into one equal-probability bin per integer, so that a uniform
        ``u`` makes every integer equally likely (a log range: uniform over ``[low, high+1)``
        in log space, then rounded down).
        """
        u = np.asarray(u, dtype=float)
        if not self.integer:
            return self._continuous(u)
        low, high = float(self.low), float(self.high)
        if self.log:
            spread = np.exp(np.log(low) + u * (np.log(high + 1.0) - np.log(low)))
            return np.clip(np.floor(spread), low, high)
        count = high - low + 1.0
        return low + np.minimum(np.floor(u * count), count - 1.0)

    def on_grid(self, u: np.ndarray) -> np.ndarray:
        """Map the levels of a grid (points of [0, 1]) onto the range, ends exactly.

        An integer range takes the nearest integer (half up); the caller checks that distinct
        levels stay distinct.
        """
        u = np.asarray(u, dtype=float)
        values = self._continuous(u)
        return np.floor(values + 0.5) if self.integer else values

    def grid(self, levels: int) -> list[float]:
        """``levels`` evenly spaced values (in log space for a log range), ends included.

        Raises:
            DesignError: if an integer range cannot give ``levels`` distinct integers.
        """
        values = [v.item() for v in self.on_grid(np.linspace(0.0, 1.0, levels))]
        if len(set(values)) < levels:
            count = int(self.high - self.low) + 1
            raise DesignError(
                f"levels = {levels} would repeat integers of the integer range "
                f"[{int(self.low)}, {int(self.high)}] ({count} integers"
                + (", spaced evenly in log space" if self.log else "")
                + "); use fewer levels, or a list of the values"
            )
        return values

    def _continuous(self, u: np.ndarray) -> np.ndarray:
        low, high = float(self.low), float(self.high)
        values = low * (high / low) ** u if self.log else low + u * (high - low)
        # (exp(log(8)) is 7.999999999999998): ends exact, and nothing outside [low, high].
        values = np.where(u <= 0.0, low, np.where(u >= 1.0, high, values))
        return np.clip(values, low, high)

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

    def from_unit(self, u: np.ndarray, *, grid: bool = False) -> list[Any]:
        """Map points of [0, 1] onto this parameter's values.

        With ``grid``, ``u`` are the levels of a grid (a Morris design): a range maps them
        with :meth:`Range.on_grid` (ends exact, integers nearest).
        """
        if self.range is not None:
            mapped = self.range.on_grid(u) if grid else self.range.from_unit(u)
            return [v.item() for v in mapped]
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
        # (each value from its own column: a row of mixed columns would be one dtype, turning
        # a list of whole numbers swept beside a real-valued parameter into floats)
        return {
            p.path: p.value_for(_plain(self.points[p.path].iat[point])) for p in self.parameters
        }

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


def design_size(
    params: Mapping[str, Any] | list[Parameter],
    design: str = "grid",
    *,
    samples: int | None = None,
    second_order: bool = False,
) -> int:
    """The number of points a design will have, computed without building it.

    Raises:
        DesignError: for an unknown design or a bad parameter spec (as :func:`make_design`).
    """
    if isinstance(params, list) and all(isinstance(p, Parameter) for p in params):
        parameters: list[Parameter] = params
    else:  # (a mapping; anything else is refused there, with an example)
        parameters = parse_parameters(params)  # type: ignore[arg-type]
    d = len(parameters)
    if design == "grid":
        size = 1
        for p in parameters:
            if p.values is not None:
                size *= len(p.values)
            elif p.range is not None and p.range.levels is not None:
                size *= p.range.levels
            else:
                raise DesignError(
                    f"parameters.{p.path}: a grid needs a list of values, or a range with levels"
                )
        return size
    if design not in DESIGNS:
        raise DesignError(f"design: unknown design {design!r}; choose from {', '.join(DESIGNS)}")
    if samples is None or isinstance(samples, bool) or samples < 1:
        raise DesignError(f"samples: design {design!r} needs samples >= 1 (got {samples!r})")
    if design == "saltelli":
        return samples * (2 * d + 2 if second_order else d + 2)
    if design == "morris":
        return samples * (d + 1)
    return samples


def make_design(
    params: Mapping[str, Any],
    design: str = "grid",
    *,
    samples: int | None = None,
    seed: int = 0,
    second_order: bool = False,
    levels: int | None = None,
) -> Design:
    """Build the points of an experiment.

    Args:
        params: Scenario key → list of values or range (see the module docstring).
        design: One of :data:`DESIGNS`.
        samples: Points for ``lhs``/``sobol``/``halton`` (a power of 2 for ``sobol``); the base
            sample size N for ``saltelli`` (a power of 2; N·(D+2) points, N·(2D+2) with
            ``second_order``) and the number of trajectories for ``morris`` (N·(D+1) points).
            A grid takes none (its size is the product of its lists and levels).
        seed: Seed of the sampler (the design is reproducible); a grid, which draws
            nothing, refuses any but 0.
        second_order: Saltelli design for second-order Sobol indices (``saltelli`` only).
        levels: Grid levels of the Morris design (``morris`` only; default 4). An integer
            range in a Morris design must be linear, ``levels`` even and ``high - low`` a
            multiple of ``levels - 1``, so that every value is an integer on the grid and
            every step of a trajectory is the same number of integers (the step the
            elementary effects divide by).

    The size is known before anything is built: :func:`design_size`.

    Raises:
        DesignError: for an unknown design, a bad parameter spec or sample size, or an option
            the design would ignore.
    """
    parameters = parse_parameters(params)
    _check_options(parameters, design, samples, second_order, levels)
    if design == "grid" and seed != 0:  # (a silent no-op otherwise; sweep files say so too)
        raise DesignError(
            f"design_seed: a grid design draws nothing, got seed {seed!r}; remove it, or "
            "choose a sampled design (lhs, sobol, halton, saltelli, morris)"
        )
    options: dict[str, Any] = {"seed": seed}
    if design == "grid":
        return _grid(parameters)
    assert samples is not None  # (checked above)
    options["samples"] = samples
    d = len(parameters)
    rng = np.random.default_rng(seed)
    problem = None
    grid_levels = False
    if design in ("lhs", "sobol", "halton"):
        from scipy.stats import qmc

        if design == "sobol" and samples & (samples - 1):
            raise DesignError(f"samples: design 'sobol' needs a power of 2, got {samples}")
        sampler = {
            "lhs": lambda: qmc.LatinHypercube(d, rng=rng),
            "sobol": lambda: qmc.Sobol(d, scramble=True, rng=rng),
            "halton": lambda: qmc.Halton(d, scramble=True, rng=rng),
        }[design]()
        unit = sampler.random(samples)
    else:
        if design == "saltelli" and samples & (samples - 1):
            raise DesignError(f"samples: design 'saltelli' needs a power of 2, got {samples}")
        morris_levels = 4 if levels is None else levels
        problem = {
            "num_vars": d,
            "names": [p.path for p in parameters],
            "bounds": [p.range.bounds if p.range else [0.0, 1.0] for p in parameters],
        }
        unit = _salib_unit_sample(problem, design, samples, seed, second_order, morris_levels)
        options.update({"second_order": second_order, "levels": morris_levels})
        grid_levels = design == "morris"  # trajectories step along each range's grid
    columns = {p.path: p.from_unit(unit[:, k], grid=grid_levels) for k, p in enumerate(parameters)}
    return Design(design, parameters, pd.DataFrame(columns), problem, options)


def _check_options(
    parameters: list[Parameter],
    design: str,
    samples: int | None,
    second_order: bool,
    levels: int | None,
) -> None:
    """Refuse options the design would ignore, and Morris steps that would not be exact."""
    if design not in DESIGNS:
        raise DesignError(f"design: unknown design {design!r}; choose from {', '.join(DESIGNS)}")
    if design == "grid" and samples is not None:
        raise DesignError(
            "samples: a grid design takes no samples (its size is the product of its lists "
            "and levels); remove samples, or choose a sampled design (lhs, sobol, ...)"
        )
    if design != "morris" and levels is not None:
        raise DesignError(
            f"levels: only a morris design takes levels, not {design!r} (a range's grid "
            "levels go in the range: {low = .., high = .., levels = ..}); remove it"
        )
    if design != "saltelli" and second_order:
        raise DesignError(f"second_order: only a saltelli design takes it, not {design!r}")
    if design != "grid":
        for p in parameters:
            if p.range is not None and p.range.levels is not None:
                raise DesignError(
                    f"parameters.{p.path}.levels: a range's levels give a grid's values; a "
                    f"{design!r} design samples the whole range; remove levels"
                )
    if levels is not None and (isinstance(levels, bool) or levels < 2):
        raise DesignError(f"levels: a morris design needs levels >= 2, got {levels!r}")
    design_size(parameters, design, samples=samples, second_order=second_order)
    if design == "morris":
        steps = (4 if levels is None else levels) - 1
        if steps % 2 == 0:  # (SALib itself only warns that its sample "may be biased")
            raise DesignError(
                f"levels: a morris design needs an even number of levels (with {steps + 1}, "
                f"SALib's step of {steps + 1}/{2 * steps} of the range falls between levels "
                "and its sample is biased); use "
                f"{steps + 2} levels"
            )
        for p in parameters:
            r = p.range
            if r is None or not r.integer:
                continue
            if r.log:
                raise DesignError(
                    f"parameters.{p.path}: a morris design cannot step evenly along a log "
                    "integer range (rounding makes its steps unequal); use a linear integer "
                    "range or a continuous log range"
                )
            if (r.high - r.low) % steps:
                raise DesignError(
                    f"parameters.{p.path}: a morris design with levels = {steps + 1} steps "
                    f"the integer range [{int(r.low)}, {int(r.high)}] in {steps} equal parts, "
                    f"which needs high - low to be a multiple of {steps}; change the range or "
                    "the levels"
                )


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
            try:
                axes.append(p.range.grid(p.range.levels))
            except DesignError as exc:
                raise DesignError(f"parameters.{p.path}: {exc}") from None
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
