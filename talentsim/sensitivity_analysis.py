"""Global sensitivity analysis of a sweep: Sobol indices and Morris elementary effects.

A sweep run with ``design="saltelli"`` or ``design="morris"`` (see :mod:`talentsim.designs`)
holds the model outputs at SALib's sample points; :func:`sensitivity` averages an output over
the replicates of each point and hands it to SALib's analysers, and returns a tidy table, one
row per (parameter, index), ready for a bar chart with error bars::

    table = ts.sweep("scenarios/msl_exodus.toml", params, design="saltelli", samples=256,
                     replicates=5, metrics=["attrition.MSL"])
    si = sensitivity(table, "attrition.MSL")
    si[si["index"] == "ST"].plot.bar(x="parameter", y="value")

Averaging over replicates gives the sensitivity of the mean output over the sweep's seeds. A
sweep runs every point on the same seeds (common random numbers), so most replicate noise is
shared between points and drops out (a parameter without effect gets a total index of 0, not
a share of noise); the indices are those of the mean over these seeds, and a sweep with
another ``root_seed`` shows how far they hold beyond them (docs/sweeps.md).

References:
    Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M. & Tarantola, S. (2010).
    Variance based sensitivity analysis of model output. Design and estimator for the total
    sensitivity index. *Computer Physics Communications* 181(2), 259–270.
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
    *Technometrics* 33(2), 161–174.
    Herman, J. & Usher, W. (2017). SALib: An open-source Python library for sensitivity
    analysis. *Journal of Open Source Software* 2(9), 97.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from talentsim.experiments import RUN_COLUMNS as _RUN_COLUMNS

METHODS = ("sobol", "morris")
"""The analyses :func:`sensitivity` knows."""

_DESIGN_FOR = {"sobol": "saltelli", "morris": "morris"}
_METHOD_FOR = {design: method for method, design in _DESIGN_FOR.items()}
_COLUMNS = ["parameter", "index", "value", "ci_low", "ci_high", "output", "method"]
_SHOW = 10  # how many missing points an error message lists


def sensitivity(
    table: pd.DataFrame,
    output: str,
    *,
    method: str | None = None,
    problem: Mapping[str, Any] | None = None,
    confidence: float = 0.95,
    num_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Sobol indices or Morris elementary effects of one output of a sweep.

    Only runs with ``status == "done"`` count; the output is averaged over the replicates of
    each design point (NaN values of done runs are ignored). SALib needs the output at every
    point of its sample, so a point without a done run is an error, never silently dropped.

    Args:
        table: A sweep table (see :func:`talentsim.sweep`): ``point``, ``status``, the
            parameter columns and the output column. ``table.attrs`` gives the design and the
            SALib problem; pandas operations may drop ``attrs``, in which case pass ``method``
            and ``problem`` (the design options are then inferred: second order from the number
            of points, the Morris levels from the steps of its trajectories, no log ranges).
        output: The metric column to analyse, e.g. ``"attrition.MSL"``.
        method: ``"sobol"`` (needs a ``saltelli`` design) or ``"morris"`` (needs a ``morris``
            design); default: the one that fits the table's design.
        problem: The SALib problem (``num_vars``, ``names``, ``bounds``); default
            ``table.attrs["problem"]``.
        confidence: Level of the confidence intervals (bootstrap, by SALib).
        num_resamples: Bootstrap resamples of the confidence intervals.
        seed: Seed of the bootstrap (the result is reproducible).

    Returns:
        One row per parameter and index: ``parameter`` (its dotted path; ``"a × b"`` for a
        second-order Sobol index), ``index`` (``S1``, ``ST``, ``S2`` for Sobol; ``mu_star``,
        ``sigma``, ``mu`` for Morris), ``value``, ``ci_low`` and ``ci_high`` (value ∓ SALib's
        half-width; NaN where SALib gives none, i.e. Morris ``sigma`` and ``mu``), ``output``
        and ``method``. Morris effects are in output units per full parameter range (per range
        of the logarithm for a log range).

    Raises:
        ValueError: if the method cannot be determined or does not fit the design, the output
            column is unknown or not numeric, the problem is missing or does not match the
            table, or some design points have no done run.
        ImportError: if SALib is not installed (``pip install 'talentsim[sa]'``).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"sensitivity: confidence must be in (0, 1), got {confidence!r}")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, int) or num_resamples < 2:
        raise ValueError(
            f"sensitivity: num_resamples must be an integer >= 2, got {num_resamples!r}"
        )
    design = _design_attrs(table)
    kind = design.get("kind") if design else None
    chosen = _choose_method(method, kind)
    prob = _problem(table, problem, design)
    _check_output(table, output)
    names: list[str] = list(prob["names"])
    d = len(names)
    options: dict[str, Any] = dict(design.get("options") or {}) if design else {}

    if chosen == "sobol":
        second_order = _second_order(options, table, d)
        per_point = d + 2 + (d if second_order else 0)
    else:
        per_point = d + 1
    expected = _expected_points(options, table, per_point, chosen)
    y = _averaged_output(table, output, expected)
    if chosen == "sobol":
        _check_saltelli_points(table, names, expected, per_point, second_order)

    try:
        if chosen == "sobol":
            from SALib.analyze import sobol as analyzer
        else:
            from SALib.analyze import morris as analyzer
    except ImportError:  # pragma: no cover - SALib is a declared extra
        raise ImportError("sensitivity analysis needs SALib: pip install 'talentsim[sa]'") from None

    if chosen == "sobol":
        if np.ptp(y) == 0:
            warnings.warn(
                f"sensitivity: {output!r} is the same at every point; Sobol indices are "
                "undefined (NaN)",
                RuntimeWarning,
                stacklevel=2,
            )
            return _sobol_frame(names, _nan_sobol(d, second_order), second_order, output)
        result = analyzer.analyze(
            copy.deepcopy(dict(prob)),
            y,
            calc_second_order=second_order,
            num_resamples=num_resamples,
            conf_level=confidence,
            # SALib's Sobol analyser treats a seed of 0 as "no seed" (``if seed:``); a
            # Generator is always honoured.
            seed=np.random.default_rng(seed),
        )
        return _sobol_frame(names, result, second_order, output)

    x = _morris_inputs(table, names, design, expected)
    if "levels" in options:
        levels = int(options["levels"])
    else:  # (no attrs: the levels from the steps of the trajectories, or 4 with a warning)
        levels = _levels_of_steps(x, np.asarray(prob["bounds"], dtype=float))
    _warn_collapsed_steps(x)
    result = analyzer.analyze(
        copy.deepcopy(dict(prob)),
        x,
        y,
        num_resamples=num_resamples,
        conf_level=confidence,
        num_levels=levels,
        seed=seed,
    )
    return _morris_frame(names, result, output)


# --------------------------------------------------------------------------------------------
# Checks and inputs
# --------------------------------------------------------------------------------------------


def _design_attrs(table: pd.DataFrame) -> dict[str, Any] | None:
    design = table.attrs.get("design")
    return design if isinstance(design, Mapping) else None  # type: ignore[return-value]


def _choose_method(method: str | None, kind: str | None) -> str:
    if method is None:
        if kind is None:
            raise ValueError(
                "sensitivity: cannot tell the method: the table has no design in its attrs "
                "(pandas operations may drop them); pass method='sobol' or 'morris' and problem="
            )
        if kind not in _METHOD_FOR:
            raise ValueError(
                f"sensitivity: the table's design is {kind!r}; sensitivity analysis needs a "
                "'saltelli' design (Sobol) or a 'morris' design (Morris)"
            )
        return _METHOD_FOR[kind]
    if method not in METHODS:
        raise ValueError(f"sensitivity: unknown method {method!r}; choose from {METHODS}")
    if kind is not None and kind != _DESIGN_FOR[method]:
        raise ValueError(
            f"sensitivity: method {method!r} needs a {_DESIGN_FOR[method]!r} design, but the "
            f"table's design is {kind!r}"
        )
    return method


def _problem(
    table: pd.DataFrame, problem: Mapping[str, Any] | None, design: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    prob = problem if problem is not None else table.attrs.get("problem")
    if not isinstance(prob, Mapping):
        raise ValueError(
            "sensitivity: no SALib problem: pass problem= (names and bounds of the design), or "
            "a table with attrs['problem'] from a saltelli or morris sweep"
        )
    names, bounds = prob.get("names"), prob.get("bounds")
    if not isinstance(names, list | tuple) or not isinstance(bounds, list | tuple):
        raise ValueError("sensitivity: the problem needs 'names' and 'bounds' lists")
    if len(names) != len(bounds) or prob.get("num_vars", len(names)) != len(names):
        raise ValueError(
            f"sensitivity: the problem has {len(names)} names, {len(bounds)} bounds and "
            f"num_vars={prob.get('num_vars')!r}; they must agree"
        )
    if design is not None and design.get("parameters"):
        paths = [p.get("path") for p in design["parameters"]]
        if list(names) != paths:
            raise ValueError(
                f"sensitivity: the problem's names {list(names)} are not the design's "
                f"parameters {paths}"
            )
    return prob


def _check_output(table: pd.DataFrame, output: str) -> None:
    if "point" not in table.columns:
        raise ValueError("sensitivity: the table has no 'point' column; is it a sweep table?")
    if output not in table.columns:
        metrics = [c for c in table.columns if c not in _RUN_COLUMNS]
        raise ValueError(
            f"sensitivity: no output column {output!r}; the table's other columns are {metrics}"
        )
    if not pd.api.types.is_numeric_dtype(table[output]):
        raise ValueError(f"sensitivity: output {output!r} is not numeric")


def _second_order(options: Mapping[str, Any], table: pd.DataFrame, d: int) -> bool:
    if "second_order" in options:
        return bool(options["second_order"])
    # No design options: infer from the number of points. A Saltelli design's base sample
    # size N is a power of 2, and N·(D+2) and N'·(2D+2) with N, N' powers of 2 never coincide,
    # since (2D+2)/(D+2) lies strictly between 1 and 2. Divisibility alone does not tell them
    # apart: with D = 2 (or 6, 14, ...) every N'·(2D+2) is also a multiple of D+2.
    count = int(table["point"].max()) + 1 if len(table) else 0
    for second, size in ((False, d + 2), (True, 2 * d + 2)):
        if count > 0 and count % size == 0 and _power_of_2(count // size):
            return second
    raise ValueError(
        f"sensitivity: {count} points fit no Saltelli design of {d} parameters "
        f"(N·{d + 2} points, or N·{2 * d + 2} with second order, N a power of 2)"
    )


def _power_of_2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _expected_points(
    options: Mapping[str, Any], table: pd.DataFrame, per_point: int, method: str
) -> int:
    samples = options.get("samples")
    if isinstance(samples, int) and not isinstance(samples, bool) and samples > 0:
        return samples * per_point
    count = int(table["point"].max()) + 1 if len(table) else 0
    if count == 0 or count % per_point:
        raise ValueError(
            f"sensitivity: {count} points fit no {_DESIGN_FOR[method]!r} design of this problem "
            f"(a multiple of {per_point} points)"
        )
    return count


def _averaged_output(table: pd.DataFrame, output: str, expected: int) -> np.ndarray:
    rows = table if "status" not in table.columns else table[table["status"] == "done"]
    means = rows.groupby("point")[output].mean()  # NaN values are skipped
    means = means[means.notna()]
    y = means.reindex(range(expected))
    missing = np.flatnonzero(y.isna().to_numpy())
    if len(missing):
        shown = ", ".join(str(p) for p in missing[:_SHOW])
        more = f", … ({len(missing) - _SHOW} more)" if len(missing) > _SHOW else ""
        raise ValueError(
            f"sensitivity: {len(missing)} of {expected} design points have no done run with a "
            f"value of {output!r} (points {shown}{more}); SALib needs the output at every "
            "point: finish the sweep (resume, retry failed runs) before analysing it"
        )
    extra = sorted(set(means.index) - set(range(expected)))
    if extra:
        raise ValueError(
            f"sensitivity: the table has points {extra[:_SHOW]} beyond the {expected} of its design"
        )
    return y.to_numpy(dtype=float)


def _check_saltelli_points(
    table: pd.DataFrame, names: list[str], expected: int, per_point: int, second_order: bool
) -> None:
    """Check that the points are SALib's Saltelli sample with the parameters in ``names`` order.

    SALib's Sobol analyser reads only the outputs and takes the k-th parameter of the problem to
    be the one that changes between rows A and AB_k of each block (A, AB_1..AB_D, [BA_1..BA_D],
    B); a table that is no Saltelli design, or a problem whose names are in another order than
    the design's, would give indices silently mislabelled or meaningless.
    """
    points = _design_points(table, names, expected)
    d = len(names)
    blocks = {
        name: np.array([_key(v) for v in points[name]], dtype=object).reshape(-1, per_point)
        for name in names
    }
    for k, name in enumerate(names):
        # AB_k is A with parameter k from B; BA_k (second order) is B with parameter k from A.
        rows = [(f"AB_{k + 1}", 1 + k, False)]
        if second_order:
            rows.append((f"BA_{k + 1}", 1 + d + k, True))
        for label, row, base_is_b in rows:
            wrong = []
            for j, other in enumerate(names):
                from_b = (j == k) != base_is_b
                source = blocks[other][:, -1 if from_b else 0]
                if not (blocks[other][:, row] == source).all():
                    wrong.append(other)
            if wrong:
                raise ValueError(
                    f"sensitivity: the table's points are not a Saltelli design with the "
                    f"parameters in the problem's order {names}: in its rows {label} (which "
                    f"should vary only {name!r}) the values of {wrong} are not where SALib "
                    "puts them; pass the problem of the design that made the table (its "
                    "names in the design's order)"
                )


def _design_points(table: pd.DataFrame, names: list[str], expected: int) -> pd.DataFrame:
    """One row per design point (indexed 0..expected − 1), with the parameter columns."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"sensitivity: the table has no parameter columns {missing}")
    return table.drop_duplicates("point").set_index("point").reindex(range(expected))


def _trajectory_steps(x: np.ndarray) -> np.ndarray:
    """The steps of Morris trajectories, shape (trajectory, step, parameter)."""
    d = x.shape[1]
    return np.diff(x.reshape(-1, d + 1, d), axis=1)


def _morris_inputs(
    table: pd.DataFrame, names: list[str], design: Mapping[str, Any] | None, expected: int
) -> np.ndarray:
    """The design points in SALib's problem space, one row per point."""
    specs = {p.get("path"): p for p in (design or {}).get("parameters", [])}
    points = _design_points(table, names, expected)
    columns = []
    for name in names:
        values = points[name]
        spec = specs.get(name, {})
        if "values" in spec:
            # A list parameter: SALib sampled [0, 1] and the design took equal-width bins, so
            # the position in the list is monotone in SALib's value (only the direction of a
            # step enters SALib's elementary effects, which divide every Δy by the same step).
            position = {_key(v): k for k, v in enumerate(spec["values"])}
            try:
                column = np.array([position[_key(v)] for v in values], dtype=float)
            except KeyError as exc:
                raise ValueError(
                    f"sensitivity: parameter {name!r} has value {exc.args[0]!r}, not in its "
                    "list of values"
                ) from None
            _warn_uneven_list_steps(column, name, len(names), len(spec["values"]))
        else:
            try:
                column = pd.to_numeric(values).to_numpy(dtype=float)
            except (TypeError, ValueError):
                raise ValueError(
                    f"sensitivity: parameter {name!r} is not numeric; Morris needs numbers"
                ) from None
            if spec.get("range", {}).get("log"):
                column = np.log(column)
        columns.append(column)
    return np.column_stack(columns)


def _levels_of_steps(x: np.ndarray, bounds: np.ndarray) -> int:
    """The Morris levels p of a design, read from the steps of its trajectories.

    Each of a trajectory's d steps moves one parameter by Δ = p / (2(p − 1)) of its range, so
    p = 2Δ / (2Δ − 1). SALib's elementary effects divide by Δ, so analysing a 6-level design
    as 4 scales every mu_star by 0.9. Where the steps do not give one Δ (a log range or a list
    read as plain numbers, a table that is no Morris design), 4 with a warning.
    """
    d = x.shape[1]
    span = bounds[:, 1] - bounds[:, 0]
    if x.shape[0] % (d + 1) == 0 and np.all(span > 0):
        steps = np.abs(_trajectory_steps(x)) / span
        moved = steps[steps > 1e-9]
        delta = float(np.median(moved)) if moved.size else math.nan
        if moved.size and np.allclose(moved, delta, rtol=1e-6) and delta > 0.5:
            p = 2 * delta / (2 * delta - 1)
            if abs(p - round(p)) < 1e-6 and round(p) >= 2:
                return round(p)
    warnings.warn(
        "sensitivity: the table has no design attrs and its steps do not give the Morris "
        "levels (log ranges or lists read as plain numbers?); 4 levels assumed: mu_star is "
        "scaled by the wrong step if the design had others",
        RuntimeWarning,
        stacklevel=4,
    )
    return 4


def _warn_uneven_list_steps(column: np.ndarray, name: str, d: int, count: int) -> None:
    """Warn when a list's Morris steps jump unequal numbers of its values.

    Each step of a trajectory moves SALib's value by the same width, and the elementary
    effects divide by it; when the list's bins do not line up with the grid levels (e.g. 3
    values on 4 levels: steps of 1 or 2 positions), effects of unequal steps are mixed, which
    shows up as spread (sigma) even for an output linear in the position.
    """
    jumps = np.abs(np.diff(column.reshape(-1, d + 1), axis=1))
    sizes = sorted({int(j) for j in jumps[jumps != 0]})
    if len(sizes) > 1:
        warnings.warn(
            f"sensitivity: the Morris steps of list parameter {name!r} ({count} values) jump "
            f"{' or '.join(map(str, sizes))} positions of its list, so its elementary effects "
            "mix unequal steps (its mu_star and sigma are not comparable with the others'); "
            "use a list of as many values as the design's levels",
            RuntimeWarning,
            stacklevel=4,
        )


def _key(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, list | dict) else value


def _warn_collapsed_steps(x: np.ndarray) -> None:
    steps = _trajectory_steps(x)
    unchanged = (steps != 0).sum(axis=2) == 0
    if unchanged.any():
        warnings.warn(
            f"sensitivity: {int(unchanged.sum())} Morris steps changed no parameter value "
            "(integer ranges or short lists can merge neighbouring levels); their elementary "
            "effects count as 0",
            RuntimeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _row(parameter: str, index: str, value: Any, half: Any, output: str, method: str) -> dict:
    value = float(value)
    half = math.nan if half is None or np.ma.is_masked(half) else float(half)
    return {
        "parameter": parameter,
        "index": index,
        "value": value,
        "ci_low": value - half,
        "ci_high": value + half,
        "output": output,
        "method": method,
    }


def _nan_sobol(d: int, second_order: bool) -> dict[str, np.ndarray]:
    result = {k: np.full(d, np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    if second_order:
        result |= {"S2": np.full((d, d), np.nan), "S2_conf": np.full((d, d), np.nan)}
    return result


def _sobol_frame(
    names: list[str], result: Mapping[str, Any], second_order: bool, output: str
) -> pd.DataFrame:
    rows = []
    for index in ("S1", "ST"):
        for j, name in enumerate(names):
            rows.append(
                _row(name, index, result[index][j], result[f"{index}_conf"][j], output, "sobol")
            )
    if second_order:
        for j, first in enumerate(names):
            for k in range(j + 1, len(names)):
                rows.append(
                    _row(
                        f"{first} × {names[k]}",
                        "S2",
                        result["S2"][j][k],
                        result["S2_conf"][j][k],
                        output,
                        "sobol",
                    )
                )
    return pd.DataFrame(rows, columns=_COLUMNS)


def _morris_frame(names: list[str], result: Mapping[str, Any], output: str) -> pd.DataFrame:
    def plain(key: str) -> np.ndarray:
        return np.ma.filled(np.ma.asarray(result[key], dtype=float), np.nan)

    mu_star, conf, sigma, mu = (plain(k) for k in ("mu_star", "mu_star_conf", "sigma", "mu"))
    rows = [_row(n, "mu_star", mu_star[j], conf[j], output, "morris") for j, n in enumerate(names)]
    rows += [_row(n, "sigma", sigma[j], None, output, "morris") for j, n in enumerate(names)]
    rows += [_row(n, "mu", mu[j], None, output, "morris") for j, n in enumerate(names)]
    return pd.DataFrame(rows, columns=_COLUMNS)
