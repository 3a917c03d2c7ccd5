"""Figures of paired comparisons: the effects of variants against a baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from talentsim.compare import headline_metrics as compare_headline_metrics
from talentsim.plots.style import (
    OKABE_ITO,
    figure,
    finish,
    metric_title,
    metric_unit,
    require_columns,
    styled,
    wrap_to,
)
from talentsim.scenario import Scenario

if TYPE_CHECKING:
    from talentsim.compare import Comparison

MAX_PANELS = 12
"""Most metrics :func:`comparison_effects` draws at once."""


def headline_metrics(scenario: Scenario) -> list[str]:
    """The metrics a comparison shows by default (:func:`talentsim.compare.headline_metrics`)."""
    return compare_headline_metrics(scenario)


@styled
def comparison_effects(
    comparison: Comparison,
    *,
    metrics: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
) -> Figure:
    """Paired effects of each variant on each metric, with their t confidence intervals.

    One panel per metric (each on its own scale), one row per variant: the mean paired
    difference (variant − baseline, same seeds) and its interval at the comparison's level.

    Args:
        comparison: A :class:`talentsim.Comparison` (from :func:`talentsim.compare`).
        metrics: Metrics to draw (default: :func:`headline_metrics` that the comparison has,
            else its metrics; at most 12).
        variants: Variants to draw (default: all).
    """
    effects = getattr(comparison, "effects", None)
    if not isinstance(effects, pd.DataFrame):
        raise ValueError(
            "comparison_effects: expected a talentsim Comparison (from ts.compare), got "
            f"{type(comparison).__name__}"
        )
    require_columns(
        effects,
        ("variant", "metric", "effect", "ci_low", "ci_high"),
        "comparison_effects",
        "the effects table",
    )
    if effects.empty:
        raise ValueError("comparison_effects: the comparison has no effects")
    known = list(dict.fromkeys(effects["metric"].astype(str)))
    if metrics is None:
        chosen = [m for m in headline_metrics(comparison.scenario) if m in known] or known
        truncated = len(chosen) > MAX_PANELS
        chosen = chosen[:MAX_PANELS]
    else:
        chosen = list(metrics)
        truncated = False
        unknown = [m for m in chosen if m not in known]
        if unknown:
            raise ValueError(f"comparison_effects: no metric {unknown}; the comparison has {known}")
        if not chosen:
            raise ValueError("comparison_effects: metrics is empty")
    all_variants = list(dict.fromkeys(effects["variant"].astype(str)))
    shown = all_variants if variants is None else list(variants)
    unknown = [v for v in shown if v not in all_variants]
    if unknown or not shown:
        raise ValueError(
            f"comparison_effects: no variant {unknown}; the comparison has {all_variants}"
        )
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig, axes = figure(
        width=3.4 * ncols + 1.2,
        height=(0.35 * len(shown) + 1.3) * nrows + 0.6,
        nrows=nrows,
        ncols=ncols,
        sharey=True,
    )
    flat = np.atleast_1d(axes).ravel()
    rows = np.arange(len(shown))[::-1]
    for ax, metric in zip(flat, chosen, strict=False):
        part = effects[effects["metric"] == metric].set_index("variant").reindex(shown)
        ax.axvline(0, color="0.3", lw=0.8, linestyle="--")
        for row, variant, colour in zip(rows, shown, OKABE_ITO * 4, strict=False):
            effect, low, high = part.loc[variant, ["effect", "ci_low", "ci_high"]].astype(float)
            error = None
            if np.isfinite(low) and np.isfinite(high):
                error = [[effect - low], [high - effect]]
            ax.errorbar([effect], [row], xerr=error, color=colour, marker="o", capsize=3, lw=1.8)
        ax.set_yticks(rows, shown)
        ax.set_ylim(-0.6, len(shown) - 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # narrow panels: ticks that do not touch
        ax.set_title(wrap_to(metric_title(metric), fig, share=1.0 / ncols, fontsize=10))
        unit = metric_unit(metric)
        ax.set_xlabel("effect: variant − baseline" + (f" ({unit})" if unit else ""))
        ax.grid(axis="y", visible=False)
    for ax in flat[len(chosen) :]:
        ax.set_visible(False)
    n = int(effects["n"].max()) if "n" in effects.columns and len(effects) else 0
    level = getattr(comparison, "confidence", 0.95)
    note = f" (first {MAX_PANELS} of {len(known)} metrics)" if truncated else ""
    fig.suptitle(
        f"Paired effects against the baseline, {n} common seeds, {level:.0%} t intervals{note}"
    )
    return finish(fig)
