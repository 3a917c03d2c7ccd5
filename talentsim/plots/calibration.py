"""Figures of calibrations: the fit per target, the search's trace, the posterior.

Each function takes the tables a :class:`talentsim.CalibrationResult` gives (and
``CalibrationResult.save`` writes as CSV), so a report can draw them from a results folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from talentsim.plots.style import (
    OKABE_ITO,
    OUTSIDE_COLOUR,
    figure,
    finish,
    require_columns,
    styled,
)

MAX_TARGET_PANELS = 12
"""Most targets :func:`calibration_fit` draws at once."""

MAX_PAIRS = 6
"""Most parameters :func:`posterior_pairs` draws (a 6 × 6 grid)."""

ALLOWED = "#cfe3f3"
"""The colour of a target's allowed range."""


@styled
def calibration_fit(fit: pd.DataFrame) -> Figure:
    """Each target's allowed range beside the simulated value and its interval.

    One panel per target (each on its own scale): the range the target allows (its band,
    its bound, or observed ± 1.96 se) shaded, the observed value as a dashed line, and the
    simulated mean at the estimate (or the posterior predictive mean) with its interval.

    Args:
        fit: The fit table (:meth:`talentsim.CalibrationResult.fit_table`).
    """
    require_columns(
        fit,
        ("target", "observed", "low", "high", "simulated", "interval_low", "interval_high"),
        "calibration_fit",
        "the fit table",
    )
    if fit.empty:
        raise ValueError("calibration_fit: the fit table has no targets")
    shown = fit.head(MAX_TARGET_PANELS)
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = figure(width=3.3 * ncols + 0.6, height=1.55 * nrows + 0.8, nrows=nrows, ncols=ncols)
    flat = np.atleast_1d(axes).ravel()
    for ax, row in zip(flat, shown.itertuples(index=False), strict=False):
        values = [row.simulated, row.interval_low, row.interval_high, row.observed]
        finite = [float(v) for v in values if np.isfinite(v)]
        finite += [float(v) for v in (row.low, row.high) if np.isfinite(v)]
        if not finite:
            finite = [0.0, 1.0]
        span = max(finite) - min(finite) or max(abs(max(finite)), 1.0)
        left, right = min(finite) - 0.25 * span, max(finite) + 0.25 * span
        low = row.low if np.isfinite(row.low) else left
        high = row.high if np.isfinite(row.high) else right
        ax.axvspan(low, high, color=ALLOWED, label="allowed range")
        if np.isfinite(row.observed):
            ax.axvline(row.observed, color="0.3", lw=1, linestyle="--", label="observed")
        if np.isfinite(row.simulated):
            error = None
            if np.isfinite(row.interval_low) and np.isfinite(row.interval_high):
                error = [[row.simulated - row.interval_low], [row.interval_high - row.simulated]]
            inside = bool(getattr(row, "inside", True))
            colour = OKABE_ITO[2] if inside else OKABE_ITO[3]  # bluish green, vermillion
            ax.errorbar([row.simulated], [0], xerr=error, color=colour, marker="o", capsize=4)
        ax.set_xlim(left, right)
        ax.set_yticks([0], ["simulated"])
        ax.set_ylim(-1, 1)
        ax.set_xlabel(str(getattr(row, "statistic", "value")), fontsize=9)
        ax.set_title(str(row.target), fontsize=10)
    for ax in flat[len(shown) :]:
        ax.set_visible(False)
    interval = str(fit["interval"].iloc[0]) if "interval" in fit.columns else "interval"
    note = f" (first {MAX_TARGET_PANELS} of {len(fit)})" if len(fit) > len(shown) else ""
    fig.suptitle(
        f"Fit per target{note}: allowed range (shaded), observed (dashed), simulated with "
        f"{interval} (green: mean inside, red: outside)",
        fontsize=10,
    )
    return finish(fig)


@styled
def calibration_trace(trace: pd.DataFrame, parameters: Sequence[str]) -> Figure:
    """SMM: every candidate the search simulated, in order, and its objective.

    One panel per parameter (its value at each evaluation, coloured by the objective Q on a
    log scale) and a last panel with the best Q so far.

    Args:
        trace: :attr:`talentsim.CalibrationResult.trace` of an SMM fit.
        parameters: The parameters' paths.
    """
    require_columns(
        trace, ("evaluation", *parameters, "objective"), "calibration_trace", "the trace"
    )
    if trace.empty:
        raise ValueError("calibration_trace: no candidate was simulated")
    n = len(parameters) + 1
    fig, axes = figure(width=6.5, height=1.6 * n + 0.6, nrows=n, ncols=1, sharex=True)
    flat = np.atleast_1d(axes).ravel()
    objective = trace["objective"].to_numpy(dtype=float)
    shade = np.log10(np.where(np.isfinite(objective) & (objective > 0), objective, np.nan))
    undefined = ~np.isfinite(shade)
    for ax, name in zip(flat, parameters, strict=False):
        points = ax.scatter(
            trace["evaluation"][~undefined],
            trace[name][~undefined],
            c=shade[~undefined],
            cmap="viridis_r",
            s=10,
            lw=0,
        )
        if undefined.any():  # (a target undefined there: Q is the penalty, not a number)
            ax.scatter(
                trace["evaluation"][undefined],
                trace[name][undefined],
                marker="x",
                color=OUTSIDE_COLOUR,
                s=12,
                lw=0.8,
                label="a target undefined",
            )
            ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel(name.rsplit(".", 1)[-1])
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_xlabel("candidate", fontsize=8)
    best = np.fmin.accumulate(np.where(np.isfinite(objective), objective, np.inf))
    flat[-1].plot(trace["evaluation"], best, color=OKABE_ITO[0], lw=2)
    flat[-1].set_yscale("log")
    flat[-1].set_ylabel("best Q so far")
    flat[-1].set_xlabel("candidate (in the order simulated)")
    if len(parameters):
        fig.colorbar(points, ax=flat[:-1].tolist(), label="log10 Q")
    fig.suptitle(
        "Search trace: every candidate simulated (the search, its polish, then the Jacobian's "
        "points)",
        fontsize=10,
    )
    return finish(fig)


def _weights(posterior: pd.DataFrame) -> np.ndarray:
    weights = posterior["weight"].to_numpy(dtype=float)
    return weights / weights.sum()


@styled
def posterior_marginals(
    posterior: pd.DataFrame,
    parameters: Sequence[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    estimates: Mapping[str, float] | None = None,
) -> Figure:
    """ABC: each parameter's weighted posterior (histogram) over its prior range.

    Args:
        posterior: The weighted sample (a column per parameter and ``weight``).
        parameters: The parameters' paths.
        bounds: Each parameter's prior range (the x axis spans it).
        estimates: Point estimates to mark (posterior means).
    """
    require_columns(posterior, (*parameters, "weight"), "posterior_marginals", "the posterior")
    if posterior.empty:
        raise ValueError("posterior_marginals: the posterior is empty")
    ncols = min(3, len(parameters))
    nrows = math.ceil(len(parameters) / ncols)
    fig, axes = figure(width=3.2 * ncols + 0.6, height=2.3 * nrows + 0.6, nrows=nrows, ncols=ncols)
    flat = np.atleast_1d(axes).ravel()
    weights = _weights(posterior)
    for ax, name in zip(flat, parameters, strict=False):
        values = posterior[name].to_numpy(dtype=float)
        span = (bounds or {}).get(name, (float(values.min()), float(values.max())))
        edges = np.linspace(span[0], span[1], 31) if span[1] > span[0] else 30
        ax.hist(values, bins=edges, weights=weights, color=OKABE_ITO[1], alpha=0.8, density=True)
        if estimates and name in estimates:
            ax.axvline(estimates[name], color="0.2", lw=1.2, linestyle="--")
        if bounds and name in bounds:
            ax.set_xlim(*bounds[name])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(name.rsplit(".", 1)[-1])
        ax.set_ylabel("posterior density")
    for ax in flat[len(parameters) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Posterior marginals ({len(posterior)} weighted particles; x axis: prior range; "
        "dashed: posterior mean)",
        fontsize=10,
    )
    return finish(fig)


@styled
def posterior_pairs(posterior: pd.DataFrame, parameters: Sequence[str]) -> Figure:
    """ABC: the posterior's pairwise scatter (dot size by weight) and marginals.

    Args:
        posterior: The weighted sample (a column per parameter and ``weight``).
        parameters: The parameters' paths (at most 6 are drawn).
    """
    require_columns(posterior, (*parameters, "weight"), "posterior_pairs", "the posterior")
    shown = list(parameters)[:MAX_PAIRS]
    if len(shown) < 2:
        raise ValueError("posterior_pairs: needs at least two parameters")
    k = len(shown)
    fig, axes = figure(width=1.9 * k + 0.6, height=1.9 * k + 0.6, nrows=k, ncols=k)
    weights = _weights(posterior)
    size = 4 + 60 * weights / weights.max()
    for i, row_name in enumerate(shown):
        for j, column_name in enumerate(shown):
            ax = axes[i][j]
            if i == j:
                ax.hist(
                    posterior[row_name], bins=25, weights=weights, color=OKABE_ITO[1], alpha=0.8
                )
            elif i > j:
                ax.scatter(
                    posterior[column_name],
                    posterior[row_name],
                    s=size,
                    alpha=0.4,
                    color=OKABE_ITO[4],
                    lw=0,
                )
            else:
                ax.set_visible(False)
            ax.set_xlabel(column_name.rsplit(".", 1)[-1], fontsize=7)
            ax.set_ylabel("weight" if i == j else row_name.rsplit(".", 1)[-1], fontsize=7)
    fig.suptitle("Posterior pairs (dot size: weight)", fontsize=10)
    return finish(fig)


__all__ = [
    "MAX_PAIRS",
    "MAX_TARGET_PANELS",
    "calibration_fit",
    "calibration_trace",
    "posterior_marginals",
    "posterior_pairs",
]
