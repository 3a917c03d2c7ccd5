"""Figures of sweeps and sensitivity analyses: heatmaps, lines, headcounts per point, indices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from talentsim.plots.style import (
    OKABE_ITO,
    band,
    check_confidence,
    figure,
    finish,
    metric_unit,
    parameter_label,
    require_columns,
    styled,
    wrap_to,
)
from talentsim.units import DAYS_PER_YEAR, parse_duration, parse_rate

POINT_COLOUR = "#222222"
"""Colour of a sweep's replicate means (near black: lab colours are kept for labs)."""


@styled
def sweep_heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    outcome: str,
    *,
    percent: bool = False,
    cmap: str = "viridis",
) -> Figure:
    """Replicate means of an outcome over two swept parameters, as an annotated heatmap.

    Only done runs count. Other swept parameters, if any, are averaged over (the title says
    which). Each cell shows its mean and, with two runs or more, ``±`` the half-width of its
    95% t interval: the colour scale spans the cells' means, however close, so the title
    also says when every difference between them is within the replicates' noise (the
    spread of the means below the median half-width).

    Args:
        table: A sweep table (:func:`talentsim.sweep` or :meth:`SweepStore.table`).
        x: Parameter column on the horizontal axis (its dotted path).
        y: Parameter column on the vertical axis.
        outcome: Metric column, e.g. ``"attrition.MSL"``.
        percent: Show the outcome (a share) in percent.
        cmap: A matplotlib colour map (the default, viridis, is colour-blind safe).
    """
    _sweep_columns(table, [x, y], outcome, "sweep_heatmap")
    if x == y:
        raise ValueError("sweep_heatmap: x and y must be different parameters")
    cells = _cell_means(table, [y, x], outcome, "sweep_heatmap")
    xs = sorted(cells[x].unique(), key=_order_key)
    ys = sorted(cells[y].unique(), key=_order_key)
    if len(xs) * len(ys) > 900:
        raise ValueError(
            f"sweep_heatmap: {len(xs)} × {len(ys)} distinct values; a heatmap needs a grid "
            "design (few values per parameter); use sweep_line or a scatter plot instead"
        )
    scale = 100 if percent else 1
    cells["half_width"] = (cells["ci_high"] - cells["ci_low"]) / 2

    def on_grid(column: str) -> pd.DataFrame:  # (a row per value of y, a column per x)
        return cells.pivot(index=y, columns=x, values=column).reindex(index=ys, columns=xs)

    counts = on_grid("n")
    values = on_grid("mean").to_numpy(dtype=float) * scale
    half_widths = on_grid("half_width").to_numpy(dtype=float) * scale
    fig, ax = figure(width=0.9 * len(xs) + 3.4, height=0.55 * len(ys) + 2.2)
    ax.grid(False)
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap=cmap, aspect="auto")
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            ax.text(j, i, "no run", ha="center", va="center", color="0.4", fontsize=8)
            continue
        colour = "white" if value < middle else "black"  # viridis: dark at the low end
        text = f"{value:.3g}"
        if np.isfinite(half_widths[i, j]):
            text += f"\n±{half_widths[i, j]:.2g}"
        ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(wrap_to(parameter_label(x), fig, share=0.6, fontsize=10))
    ax.set_ylabel(wrap_to(parameter_label(y), fig, share=0.45, fontsize=10))
    unit = "%" if percent else metric_unit(outcome)
    label = (
        f"{outcome}{f' ({unit})' if unit else ''}, mean of {_range_text(counts)} runs per cell"
        " (±\xa0half-width of its 95% t interval)"
    )
    fig.colorbar(image, ax=ax, label=wrap_to(label, fig, share=0.5, fontsize=10))
    others = _other_parameters(table, [x, y])
    title = f"{outcome} over {x} × {y}"
    if others:
        title += f" (averaged over {', '.join(others)})"
    known = half_widths[np.isfinite(half_widths)]
    if finite.size > 1 and known.size and np.ptp(finite) < np.median(known):
        title += (
            f": the means differ by {np.ptp(finite):.2g} at most, within the replicates' "
            f"noise (median ± {np.median(known):.2g})"
        )
    # a figure title, wrapped to the figure's width: an axes title of long paths overflowed
    # both edges of the figure
    fig.suptitle(wrap_to(title, fig))
    return finish(fig)


@styled
def sweep_line(
    table: pd.DataFrame,
    x: str,
    outcome: str,
    *,
    confidence: float = 0.95,
    percent: bool = False,
) -> Figure:
    """Replicate means of an outcome over one swept parameter, with t confidence intervals.

    Args:
        table: A sweep table.
        x: Parameter column on the horizontal axis.
        outcome: Metric column.
        confidence: Level of the t intervals of the mean across replicates.
        percent: Show the outcome (a share) in percent.
    """
    check_confidence(confidence, "sweep_line")
    _sweep_columns(table, [x], outcome, "sweep_line")
    cells = _cell_means(table, [x], outcome, "sweep_line", confidence)
    cells = cells.iloc[sorted(range(len(cells)), key=lambda k: _order_key(cells[x].iloc[k]))]
    numeric = all(_is_number(v) for v in cells[x])
    position = cells[x].astype(float).to_numpy() if numeric else np.arange(len(cells))
    scale = 100 if percent else 1
    mean = cells["mean"].to_numpy(dtype=float) * scale
    low = cells["ci_low"].to_numpy(dtype=float) * scale
    high = cells["ci_high"].to_numpy(dtype=float) * scale
    fig, ax = figure()
    error = np.vstack([mean - low, high - mean])
    ax.errorbar(
        position,
        mean,
        yerr=error,
        color=POINT_COLOUR,  # not a lab's colour: the points are not labs
        marker="o",
        capsize=3,
        lw=1.8,
        label=f"mean, {confidence:.0%} t interval",
    )
    if not numeric:
        ax.set_xticks(position, [_tick(v) for v in cells[x]])
    ax.set_xlabel(wrap_to(parameter_label(x), fig, share=0.8, fontsize=10))
    unit = "%" if percent else metric_unit(outcome)
    ax.set_ylabel(wrap_to(outcome + (f" ({unit})" if unit else ""), fig, share=0.5, fontsize=10))
    ax.legend(loc="best")
    counts = cells.set_index(x)["n"]
    title = f"{outcome} over {x} — {_range_text(counts)} runs per point"
    others = _other_parameters(table, [x])
    if others:
        title += f" (averaged over {', '.join(others)})"
    fig.suptitle(wrap_to(title, fig))
    return finish(fig)


@styled
def sweep_headcount(
    series: pd.DataFrame,
    table: pd.DataFrame,
    lab: str,
    *,
    parameters: Sequence[str] | None = None,
    points: Sequence[int] | None = None,
    confidence: float = 0.95,
) -> Figure:
    """A lab's headcount over time at each design point of a sweep, one line per point.

    Each line is the mean across the point's replicates, with a t confidence band.

    Args:
        series: Stored time series of the sweep's runs (``SweepStore.timeseries()``: columns
            ``run_id``, ``time`` in years, ``lab`` and ``headcount``).
        table: The sweep table (``run_id``, ``point`` and the parameter columns).
        lab: The lab (or ``"outside"``).
        parameters: Parameter columns that label the lines (default: the swept parameters of
            ``table.attrs["design"]``).
        points: Design points to draw (default: all; at most eight, one colour each).
        confidence: Level of the bands.

    Raises:
        ValueError: for missing columns, an unknown lab or point, more than eight points, or
            no time series of the chosen points.
    """
    who = "sweep_headcount"
    check_confidence(confidence, who)
    require_columns(series, ["run_id", "time", "lab", "headcount"], who, "the time series")
    if parameters is None:
        design = table.attrs.get("design")
        listed = design.get("parameters") if isinstance(design, Mapping) else None
        if not listed:
            raise ValueError(f"{who}: the table names no swept parameters; give parameters=")
        parameters = [str(p.get("path")) for p in listed]
    require_columns(table, ["run_id", "point", *parameters], who, "the sweep table")
    known = set(series["lab"].astype(str))
    if lab not in known:
        raise ValueError(f"{who}: no time series of lab {lab!r}; choose from {sorted(known)}")
    chosen = list(dict.fromkeys(table["point"])) if points is None else list(points)
    missing = [p for p in chosen if p not in set(table["point"])]
    if missing:
        raise ValueError(f"{who}: no design point {missing} in the table")
    if len(chosen) > len(OKABE_ITO):
        raise ValueError(
            f"{who}: {len(chosen)} design points are too many lines for one figure; "
            f"choose at most {len(OKABE_ITO)} with points="
        )
    rows = series[series["lab"].astype(str) == lab]
    runs_of = table.groupby("point")["run_id"].apply(list)
    fig, ax = figure()
    scale, unit, drawn, counts = 1.0, "years", 0, []
    # design points in order along a sequential map (lab colours are kept for labs)
    point_colours = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(chosen), 1)))
    for k, point in enumerate(chosen):
        mine = rows[rows["run_id"].isin(set(runs_of[point]))]
        if mine.empty:
            continue
        curves = mine.pivot_table(index="run_id", columns="time", values="headcount")
        time = curves.columns.to_numpy(dtype=float)
        if time[-1] <= 2.0 + 1e-9:
            scale, unit = DAYS_PER_YEAR / 7.0, "weeks"
        values = table.loc[table["point"] == point, parameters].iloc[0]
        label = ", ".join(f"{name} = {_tick(value)}" for name, value in values.items())
        colour = point_colours[k]
        band(ax, time * scale, curves.to_numpy(dtype=float), colour, label, confidence)
        drawn += 1
        counts.append(curves.shape[0])
    if not drawn:
        raise ValueError(f"{who}: no stored time series of the chosen points")
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel(f"researchers at {lab} (headcount)")
    ax.set_ylim(bottom=0)
    ax.legend(title="design point", loc="best", fontsize="small")
    runs_text = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
    note = "one run" if max(counts) == 1 else f"band: {confidence:.0%} t interval"
    ax.set_title(f"Headcount at {lab} — mean of {runs_text} runs per point, {note}")
    return finish(fig)


@styled
def sensitivity_bars(indices: pd.DataFrame, *, output: str | None = None) -> Figure:
    """Sensitivity indices with their confidence intervals, one group of bars per parameter.

    Args:
        indices: The table of :func:`talentsim.sensitivity`: Sobol (first-order ``S1`` and
            total ``ST`` indices are drawn; second-order ``S2`` rows are left out) or Morris
            (``mu_star`` with its interval, and ``sigma``).
        output: The output to draw when the table holds several.
    """
    needed = ("parameter", "index", "value", "ci_low", "ci_high")
    require_columns(indices, needed, "sensitivity_bars", "the indices table")
    table = indices
    if "output" in table.columns:
        outputs = list(dict.fromkeys(table["output"].astype(str)))
        if output is None and len(outputs) > 1:
            raise ValueError(
                f"sensitivity_bars: the table holds several outputs {outputs}; pass output="
            )
        if output is not None:
            if output not in outputs:
                raise ValueError(f"sensitivity_bars: no output {output!r}; found {outputs}")
            table = table[table["output"] == output]
        output = output or (outputs[0] if outputs else None)
    kinds = set(table["index"])
    if {"S1", "ST"} & kinds:
        shown, method = ["S1", "ST"], "sobol"
        names = {"S1": "first order (S1)", "ST": "total (ST)"}
        xlabel = f"Sobol index (share of the variance of {output or 'the output'})"
    elif {"mu_star", "sigma"} & kinds:
        shown, method = ["mu_star", "sigma"], "morris"
        names = {"mu_star": "μ* (mean |effect|)", "sigma": "σ (spread of effects)"}
        xlabel = f"elementary effect on {output or 'the output'} per full parameter range"
    else:
        raise ValueError(
            f"sensitivity_bars: no S1/ST (Sobol) or mu_star/sigma (Morris) rows; indices {kinds}"
        )
    table = table[table["index"].isin(shown)]
    if table.empty or table["value"].isna().all():
        raise ValueError("sensitivity_bars: every index is NaN (the output never varied?)")
    parameters = list(dict.fromkeys(table["parameter"].astype(str)))
    fig, ax = figure(width=7.0, height=0.7 * len(parameters) + 1.8)
    ax.grid(axis="y", visible=False)
    height = 0.38
    base = np.arange(len(parameters))[::-1].astype(float)
    for k, index in enumerate(shown):
        rows = table[table["index"] == index].set_index("parameter").reindex(parameters)
        value = rows["value"].to_numpy(dtype=float)
        low = rows["ci_low"].to_numpy(dtype=float)
        high = rows["ci_high"].to_numpy(dtype=float)
        error = np.vstack([value - low, high - value])
        has_ci = np.isfinite(error).any()
        ax.barh(
            base + (0.5 - k) * height,
            value,
            height=height,
            color=OKABE_ITO[k],
            label=names[index],
            xerr=np.nan_to_num(error) if has_ci else None,
            capsize=3 if has_ci else 0,
        )
    ax.set_yticks(base, parameters)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(xlabel)
    name = "Sobol" if method == "sobol" else "Morris"
    title = f"{name} indices of {output} (error bars: bootstrap confidence intervals)"
    ax.set_title(wrap_to(title, fig, share=0.8))
    ax.legend(loc="lower right")
    return finish(fig)


# --------------------------------------------------------------------------------------------
# Helpers of the sweep figures
# --------------------------------------------------------------------------------------------


def _sweep_columns(table: Any, parameters: list[str], outcome: str, who: str) -> None:
    require_columns(table, [*parameters, outcome], who, "the sweep table")
    if not pd.api.types.is_numeric_dtype(table[outcome]):
        raise ValueError(f"{who}: outcome {outcome!r} is not numeric")


def _cell_means(
    table: pd.DataFrame, by: list[str], outcome: str, who: str, confidence: float = 0.95
) -> pd.DataFrame:
    from talentsim.analysis import aggregate

    cells = aggregate(table, [outcome], by=by, confidence=confidence)
    cells = cells[cells["n"] > 0]
    if cells.empty:
        raise ValueError(f"{who}: no done run has a value of {outcome!r}")
    return cells


def _other_parameters(table: pd.DataFrame, shown: list[str]) -> list[str]:
    design = table.attrs.get("design")
    parameters = design.get("parameters") if isinstance(design, Mapping) else None
    others = [str(p.get("path")) for p in parameters or [] if p.get("path") not in shown]
    return [p for p in others if p in table.columns and table[p].nunique(dropna=False) > 1]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _order_key(value: Any) -> tuple[int, float, str]:
    """Sort parameter values by size, reading units (``"4/year"``, ``"6w"``) when present."""
    if _is_number(value):
        return (0, float(value), "")
    text = str(value)
    for parse in (float, parse_rate, parse_duration):
        try:
            return (0, float(parse(text)), text)
        except (TypeError, ValueError):
            continue
    return (1, 0.0, text)


def _tick(value: Any) -> str:
    return f"{value:g}" if _is_number(value) else str(value)


def _range_text(counts: pd.DataFrame | pd.Series) -> str:
    values = np.asarray(counts, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "0"
    low, high = int(values.min()), int(values.max())
    return f"{low}" if low == high else f"{low}–{high}"
