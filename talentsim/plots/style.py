"""The shared style of talentsim's figures: palettes, sizes, and helpers every family uses.

Colours are colour-blind safe: lab ``j`` of a scenario is drawn in ``OKABE_ITO[j % 8]``, the
outside pool in :data:`OUTSIDE_COLOUR`, cohorts in Paul Tol's 'bright' palette. Figures are
drawn inside :data:`STYLE` (the :func:`styled` decorator) and built without pyplot
(:func:`figure`); :func:`finish` sets the tick labels' size. The input checks here raise
:class:`ValueError` naming the function (``who``) and what was expected.

References:
    Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
    presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import functools
import math
import textwrap
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from talentsim.glossary import COUNTS, SHARES
from talentsim.results import RunResult
from talentsim.scenario import OUTSIDE, Scenario
from talentsim.units import DAYS_PER_YEAR

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: faint on white paper)
)
"""The Okabe–Ito palette: lab ``j`` of a scenario is drawn in ``OKABE_ITO[j % 8]``."""

OUTSIDE_COLOUR = "#7F7F7F"
"""Colour of the outside pool (startups, academia, between jobs)."""

TOL_BRIGHT = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")
"""Paul Tol's colour-blind-safe 'bright' palette, for cohorts (so they never look like labs)."""


STYLE: dict[Any, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
"""matplotlib settings used while a figure is drawn: sizes readable at print width."""

TICK_SIZE = 9

CAPTION_SIZE = 8.5
"""Font size of a figure's caption: how it was estimated and what it leaves out."""


Results = RunResult | Iterable[RunResult]
Variants = Results | Mapping[str, Results]


def styled[**P](draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw inside :data:`STYLE` (rcParams are read when artists are created)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


SHARE_METRICS = tuple(sorted(SHARES))
COUNT_METRICS = tuple(sorted(COUNTS | {"net_flow"}))


def metric_unit(metric: str) -> str:
    """The unit of a summary metric, for axis labels (empty when unknown)."""
    kind = metric.split(".", 1)[0]
    if kind in SHARE_METRICS:
        return "share"
    if kind in COUNT_METRICS:
        return "researchers" if kind.startswith(("headcount", "net_flow")) else "count"
    return ""


def parameter_unit(path: str) -> str:
    """The unit of a swept scenario parameter (a dotted path), for axis labels.

    Read from the schema: rates are per year and durations in years as the sweep wrote them,
    pay levels multiples of market value, 0–1 quantities say so, weights are utility weights;
    empty when the schema does not say.
    """
    from pydantic import BaseModel

    from talentsim.scenario import Scenario

    parts = path.split(".")
    model: Any = Scenario
    description = ""
    index = 0
    while index < len(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None or parts[index] not in fields:
            return ""
        info = fields[parts[index]]
        description = info.description or ""
        annotation = info.annotation
        index += 1
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is dict and len(args) == 2:  # labs.NAME, cohorts.NAME
            index += 1
            annotation = args[1]
        if parts[0] == "cohorts" and index < len(parts) and parts[index - 1] == "weights":
            return "utility weight"
        models = [a for a in (annotation, *typing.get_args(annotation)) if _is_model(a)]
        model = models[0] if models else None
        if model is None or not issubclass(model, BaseModel):
            break
    if "Unit: rate" in description:
        return "per year"
    if "Unit: duration" in description:
        return "duration"
    if "multiple of market value" in description:
        return "× market value"
    if "0–1" in description or "0 product, 1" in description:
        return "0–1"
    if "fraction" in description:
        return "fraction"
    return ""


def _is_model(annotation: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def parameter_label(path: str) -> str:
    """A swept parameter's axis label: its path and, when known, its unit."""
    unit = parameter_unit(path)
    return f"{path} ({unit})" if unit else path


def wrap_to(text: str, fig: Figure, *, share: float = 1.0, fontsize: float = 12.0) -> str:
    """Wrap ``text`` to ``share`` of its figure's width, for text of ``fontsize`` points.

    A character is taken as 0.6 em wide (generous for DejaVu Sans), so the wrapped lines fit
    at any resolution the figure is saved at.
    """
    per_inch = 72.0 / (0.6 * fontsize)
    width = max(20, int(fig.get_figwidth() * share * per_inch))
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


METRIC_WORDS: dict[str, str] = {
    "attrition": "attrition of the starting staff",
    "early_attrition": "early attrition (13 weeks)",
    "early_exits": "departures within 13 weeks",
    "net_flow": "net flow",
    "blocked_by_capacity": "turned away (full)",
    "headcount_start": "headcount at the start",
    "headcount_end": "headcount at the end",
    "offer_acceptance": "offers accepted (share)",
    "counter_offers": "counter-offers",
    "counter_retained": "kept by counter-offers",
    "boomerangs": "boomerangs (returns)",
    "population_end": "researchers at the end",
}
"""Plain words for the summary metrics' families, for panel titles (see docs/glossary.md)."""


def metric_title(metric: str) -> str:
    """A summary metric in words, e.g. ``"attrition.MSL"`` → ``"MSL: attrition of the ..."``.

    Families without plain words keep their key with underscores as spaces; the lab, if
    any, leads, so panels of one lab read together.
    """
    family, dot, lab = metric.partition(".")
    words = METRIC_WORDS.get(family, family.replace("_", " "))
    return f"{lab}: {words}" if dot else words


def time_unit(scenario: Scenario) -> tuple[float, str]:
    """The unit time axes use: weeks for runs up to two years, else years.

    Returns:
        ``(factor, name)``: multiply times in years by ``factor`` to get ``name``.
    """
    if scenario.time.duration <= 2.0 + 1e-9:
        return DAYS_PER_YEAR / 7.0, "weeks"
    return 1.0, "years"


def lab_colour(scenario: Scenario, lab: str) -> str:
    """The colour of a lab (by its place in the scenario's labs), or of the outside pool."""
    if lab == OUTSIDE:
        return OUTSIDE_COLOUR
    return OKABE_ITO[scenario.lab_names.index(lab) % len(OKABE_ITO)]


def text_colour_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (by its relative luminance)."""
    from matplotlib.colors import to_rgb

    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"


def figure(
    width: float = 6.5, height: float = 4.0, nrows: int = 1, ncols: int = 1, **kwargs: Any
) -> tuple[Figure, Any]:
    """A figure of ``width`` × ``height`` inches (constrained layout, no pyplot) and its axes."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=nrows * ncols == 1, **kwargs)
    return fig, axes


def finish(fig: Figure) -> Figure:
    """Set the tick labels of every panel to :data:`TICK_SIZE`; returns ``fig``."""
    for ax in fig.axes:
        # Tick labels are created when the figure is drawn, after the style context is gone.
        ax.tick_params(labelsize=TICK_SIZE)
    return fig


def band(
    ax: Axes,
    x: np.ndarray,
    curves: np.ndarray,
    colour: str,
    label: str,
    confidence: float,
    bounds: tuple[float, float] = (0.0, math.inf),
) -> None:
    """The mean curve and its t band, the band clipped to the values the quantity can take."""
    mean, low, high = mean_band(curves, confidence)
    ax.plot(x, mean, color=colour, lw=2, label=label)
    if curves.shape[0] > 1:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        ax.fill_between(x, low, high, color=colour, alpha=0.2, lw=0)


def mean_band(curves: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, ...]:
    """Mean across replicates (rows) and a Student t interval of the mean, per column.

    NaN values are left out of their column; a column with fewer than two values has no
    interval (NaN).

    Returns:
        ``(mean, low, high)``.
    """
    from scipy import stats

    values = np.asarray(curves, dtype=float)
    n = np.sum(np.isfinite(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns where no run has a value
        mean = np.nanmean(values, axis=0)
        se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
        half = stats.t.ppf(0.5 + confidence / 2, np.where(n > 1, n - 1, np.nan)) * se
    return mean, mean - half, mean + half


def check_confidence(confidence: float, who: str) -> None:
    """Refuse a confidence level outside (0, 1), naming the function ``who``."""
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ValueError(f"{who}: confidence must be between 0 and 1, got {confidence!r}")


def require_columns(frame: Any, needed: Iterable[str], who: str, what: str) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with the ``needed`` columns, else a ValueError."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{who}: expected {what} as a pandas DataFrame, got {type(frame).__name__}"
        )
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{who}: {what} has no column {missing[0]!r}; its columns are {list(frame.columns)}"
        )
    return frame
