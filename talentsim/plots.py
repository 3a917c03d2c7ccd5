"""Figures for papers: functions that take results and return matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing is
shown, no backend is chosen and no global state changes; save it with
``fig.savefig("headcount.png", dpi=300)`` or show it in a notebook. Each figure labels its
axes with units, states the number of runs and the confidence level of its bands, and uses the
Okabe–Ito colour-blind-safe palette, one fixed colour per lab (by its place in the scenario's
list of labs)::

    import talentsim as ts
    from talentsim import plots

    runs = list(ts.replicates("scenarios/msl_exodus.toml", 20))
    plots.headcount(runs).savefig("headcount.png", dpi=300)
    plots.tenure_survival(runs, labs=["MSL"]).savefig("survival.png", dpi=300)

=============================  ====================================================
Function                       Draws
=============================  ====================================================
:func:`headcount`              headcount per lab over time, t bands over replicates
:func:`retention`              share of a lab's starting staff still there, per variant
:func:`offer_acceptance`       share of a lab's offers accepted (moving window), per variant
:func:`flows`                  moves between labs, the pool and the field (a flow matrix)
:func:`tenure_survival`        Kaplan–Meier survival of spells at a lab, by lab and cohort
:func:`exit_reasons`           departures by main reason, by lab and cohort (stacked bars)
:func:`sweep_heatmap`          two swept parameters → replicate means of an outcome
:func:`sweep_line`             one swept parameter → replicate means with t intervals
:func:`sweep_headcount`        a lab's headcount over time at each point of a sweep
:func:`sensitivity_bars`       Sobol (S1, ST) or Morris (μ*, σ) indices with intervals
:func:`comparison_effects`     paired effects of variants with t intervals
=============================  ====================================================

Bad input (an unknown lab or column, no data) raises :class:`ValueError` naming the function
and what was expected.

References:
    Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
    presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *Journal of the American Statistical Association* 53(282), 457–481.
    Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure Time
    Data*, 2nd ed., §1.4 (the log-log confidence interval of the survival function).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from talentsim import terms
from talentsim.results import DEPARTURE_KINDS, LAB_FLOWS, RunResult
from talentsim.scenario import OUTSIDE, Scenario
from talentsim.units import DAYS_PER_YEAR, parse_duration, parse_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from talentsim.compare import Comparison

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

ARRIVAL_KINDS = ("hire", "quit", "return")
"""Kinds of move that bring a researcher into a lab (its destination)."""

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
MAX_PANELS = 12
"""Most metrics :func:`comparison_effects` draws at once."""

Results = RunResult | Iterable[RunResult]
Variants = Results | Mapping[str, Results]


def _styled[**P](draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw inside :data:`STYLE` (rcParams are read when artists are created)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------
# Time series across replicates
# --------------------------------------------------------------------------------------------


@_styled
def headcount(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    include_outside: bool = False,
    confidence: float = 0.95,
) -> Figure:
    """Headcount per lab over time: the mean across replicates with a t confidence band.

    Args:
        results: One run, or replicate runs of the same scenario (same labs and steps).
        labs: Labs to draw (default: all, in scenario order).
        include_outside: Also draw the outside pool.
        confidence: Level of the band: a Student t interval of the mean across runs at each
            step (no band for a single run).

    Raises:
        ValueError: for no runs, runs of different scenarios or lengths, or an unknown lab.
    """
    runs = _runs(results, "headcount")
    _check_confidence(confidence, "headcount")
    scenario = runs[0].scenario
    places = _labs(scenario, labs, "headcount") + ([OUTSIDE] if include_outside else [])
    scale, unit = time_unit(scenario)
    time = _step_times(runs, "headcount") * scale
    fig, ax = _figure()
    for place in places:
        curves = np.vstack([_place_series(r, place, "headcount") for r in runs])
        _band(ax, time, curves, lab_colour(scenario, place), place, confidence)
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel("researchers (headcount)")
    ax.set_xlim(time[0], time[-1])
    ax.set_ylim(bottom=0)
    ax.legend(title="lab", loc="best")
    ax.set_title(f"Headcount per lab — {_band_note(len(runs), confidence)}")
    return _finish(fig)


@_styled
def retention(
    results: Variants,
    lab: str,
    *,
    cohorts: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> Figure:
    """Share of a lab's starting staff who have never left it, over time, per variant.

    Args:
        results: Runs (one curve), or a mapping of variant names to runs (one curve each,
            e.g. ``{"baseline": runs, "no reorganisations": other_runs}``).
        lab: The lab whose starting staff are followed.
        cohorts: Follow only starters of these cohorts.
        confidence: Level of the t band of the mean across runs.
    """
    variants = _variants(results, "retention")
    _check_confidence(confidence, "retention")
    scenario = _first(variants).scenario
    _labs(scenario, [lab], "retention")
    chosen = _cohorts(scenario, cohorts, "retention")
    scale, unit = time_unit(scenario)
    fig, ax = _figure()
    n_runs, n_staff = 0, set()
    for k, (name, runs) in enumerate(variants.items()):
        time = _step_times(runs, "retention") * scale
        curves = []
        for run in runs:
            curve, staff = _retention_curve(run, lab, chosen)
            curves.append(curve)
            n_staff.add(staff)
        colour = lab_colour(scenario, lab) if len(variants) == 1 else OKABE_ITO[k % 8]
        _band(ax, time, 100 * np.vstack(curves), colour, name or lab, confidence, (0, 100))
        n_runs = max(n_runs, len(runs))
    if n_staff == {0}:
        raise ValueError(f"retention: nobody of cohorts {chosen} started at lab {lab!r}")
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel(f"still at {lab} (% of its starting staff)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.legend(loc="best")
    who = "" if cohorts is None else f" ({', '.join(chosen)})"
    title = f"Retention of {lab}'s starting staff{who} — {_band_note(n_runs, confidence)}"
    ax.set_title(_wrap(title, fig))
    return _finish(fig)


@_styled
def offer_acceptance(
    results: Variants,
    lab: str,
    *,
    window: str | float = "4w",
    confidence: float = 0.95,
) -> Figure:
    """Share of a lab's offers that were accepted, over a moving window, per variant.

    Args:
        results: Runs, or a mapping of variant names to runs.
        lab: The lab making the offers.
        window: Length of the moving window: a duration with units (``"4w"``) or years.
        confidence: Level of the t band of the mean across runs (steps where a run's lab made
            no offers in the window are left out of that step's mean).
    """
    variants = _variants(results, "offer_acceptance")
    _check_confidence(confidence, "offer_acceptance")
    scenario = _first(variants).scenario
    _labs(scenario, [lab], "offer_acceptance")
    length = _years(window, "offer_acceptance", "window")
    steps = max(1, round(length / scenario.time.step))
    scale, unit = time_unit(scenario)
    fig, ax = _figure()
    n_runs = 0
    for k, (name, runs) in enumerate(variants.items()):
        time = _step_times(runs, "offer_acceptance") * scale
        curves = np.vstack([_acceptance_curve(r, lab, steps) for r in runs])
        colour = lab_colour(scenario, lab) if len(variants) == 1 else OKABE_ITO[k % 8]
        _band(ax, time, 100 * curves, colour, name or lab, confidence, (0, 100))
        n_runs = max(n_runs, len(runs))
    span = f"{steps * scenario.time.step * scale:.3g}-{unit.removesuffix('s')}"
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel(f"{lab}'s offers accepted (%), {span} window")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(loc="best")
    ax.set_title(f"Offer acceptance at {lab} — {_band_note(n_runs, confidence)}")
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Moves
# --------------------------------------------------------------------------------------------

ENTERED, LEFT_FIELD = "entered the field", "left the field"


def flow_matrix(
    results: Results,
    *,
    start: str | float | None = None,
    end: str | float | None = None,
) -> pd.DataFrame:
    """Moves from place to place in the period ``(start, end]``, mean per run.

    Rows are origins, columns destinations: the labs, ``outside`` (the pool), and the field's
    boundary: ``entered the field`` (row: new entrants arriving in the pool) and
    ``left the field`` (column: retirements from the pool). Rows and columns of the boundary
    and the pool are dropped when they hold no move. A lab never moves to itself: its
    diagonal cell is NaN.

    Args:
        results: One run or replicate runs.
        start: Start of the period (exclusive): a duration with units (``"8w"``) or years;
            default: the start of the run.
        end: End of the period (inclusive); default: the end of the run.
    """
    runs = _runs(results, "flows")
    scenario = runs[0].scenario
    low = _years(start, "flows", "start") if start is not None else -math.inf
    high = _years(end, "flows", "end") if end is not None else math.inf
    if high <= low:
        raise ValueError(f"flows: the period must have end > start, got ({start}, {end}]")
    labs = scenario.lab_names
    rows = [*labs, OUTSIDE, ENTERED]
    columns = [*labs, OUTSIDE, LEFT_FIELD]
    total = pd.DataFrame(0.0, index=rows, columns=columns)
    for run in runs:
        ev = _columns(run.events, ("time", "origin", "destination"), "flows", "events")
        period = ev[(ev["time"] > low + 1e-9) & (ev["time"] <= high + 1e-9)]
        origin = period["origin"].astype(str).replace({"gone": ENTERED})
        destination = period["destination"].astype(str).replace({"gone": LEFT_FIELD})
        counts = pd.crosstab(origin, destination)
        total = total.add(counts.reindex(index=rows, columns=columns, fill_value=0), fill_value=0)
    mean = total / len(runs)
    keep_rows = [r for r in rows if r in labs or mean.loc[r].sum() > 0]
    keep_columns = [c for c in columns if c in labs or mean[c].sum() > 0]
    mean = mean.loc[keep_rows, keep_columns]
    for lab in labs:
        mean.loc[lab, lab] = np.nan
    mean.index.name, mean.columns.name = "from", "to"
    return mean


@_styled
def flows(
    results: Results,
    *,
    start: str | float | None = None,
    end: str | float | None = None,
) -> Figure:
    """Moves between labs, the outside pool and the field in a period, as an annotated matrix.

    Each cell is the number of moves from its row to its column in ``(start, end]`` (the mean
    per run over replicates); see :func:`flow_matrix` for the rows and columns.

    Args:
        results: One run or replicate runs.
        start: Start of the period (exclusive), e.g. ``"0w"``; default: the start of the run.
        end: End of the period (inclusive), e.g. ``"8w"``; default: the end of the run.
    """
    runs = _runs(results, "flows")  # once: results may be a generator
    matrix = flow_matrix(runs, start=start, end=end)
    scenario = runs[0].scenario
    scale, unit = time_unit(scenario)
    first = 0.0 if start is None else _years(start, "flows", "start")
    last = float(runs[0].timeseries["time"].max()) if end is None else _years(end, "flows", "end")
    values = matrix.to_numpy(dtype=float)
    n_rows, n_columns = values.shape
    fig, ax = _figure(width=1.1 * n_columns + 2.6, height=0.6 * n_rows + 1.8)
    ax.grid(False)
    peak = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="Blues", vmin=0, vmax=max(peak, 1.0), aspect="auto"
    )
    one = len(runs) == 1
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            ax.text(j, i, "–", ha="center", va="center", color="0.5")
            continue
        text = f"{value:.0f}" if one else f"{value:.1f}"
        dark = value > 0.6 * max(peak, 1.0)
        ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(n_columns), [str(c) for c in matrix.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [str(r) for r in matrix.index])
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    what = "moves" if one else f"moves per run (mean of {len(runs)} runs)"
    fig.colorbar(image, ax=ax, label=what)
    ax.set_title(
        f"Moves, {unit} {first * scale:.3g}–{last * scale:.3g} — "
        + ("one run" if one else f"mean of {len(runs)} runs")
    )
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Survival of spells at a lab
# --------------------------------------------------------------------------------------------


def tenure_spells(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    cohorts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every spell a researcher spent at a lab during the run(s), with its length.

    A spell starts when the researcher arrives at the lab (a hire, a move from another lab, a
    return) or, for the lab's starting staff, at the start of the run; it ends when they leave
    (a quit, return, exit or separation). A spell still running at the end of the run is
    right-censored. Time already served before the run is not counted, so every spell is
    observed from its start and the Kaplan–Meier estimate needs no correction for left
    truncation.

    Args:
        results: One run or replicate runs.
        labs: Keep spells at these labs (default: all).
        cohorts: Keep spells of researchers of these cohorts (default: all).

    Returns:
        One row per spell: ``run`` (position in ``results``), ``seed``, ``researcher``,
        ``cohort``, ``lab``, ``start`` (years since the start of the run), ``duration``
        (years) and ``left`` (True if the departure was observed, False if censored).
    """
    runs = _runs(results, "tenure_spells")
    scenario = runs[0].scenario
    chosen_labs = _labs(scenario, labs, "tenure_spells")
    chosen_cohorts = _cohorts(scenario, cohorts, "tenure_spells")
    frames = [_spells(run, chosen_labs).assign(run=k, seed=run.seed) for k, run in enumerate(runs)]
    spells = pd.concat(frames, ignore_index=True)
    spells = spells[spells["cohort"].isin(chosen_cohorts)]
    columns = ["run", "seed", "researcher", "cohort", "lab", "start", "duration", "left"]
    return spells[columns].reset_index(drop=True)


def kaplan_meier(
    durations: Sequence[float] | np.ndarray,
    left: Sequence[bool] | np.ndarray,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The Kaplan–Meier survival function of right-censored durations, with its interval.

    Computed by :func:`scipy.stats.ecdf` on :class:`scipy.stats.CensoredData`; the interval
    is the log-log (Kalbfleisch–Prentice) interval of Greenwood's variance, which stays inside
    [0, 1]; it is NaN where it is undefined (survival 0 or 1).

    Args:
        durations: Length of each spell (any unit).
        left: True where the end of the spell was observed, False where it was censored.
        confidence: Level of the pointwise interval.

    Returns:
        One row per distinct duration, after a first row at time 0 with survival 1: ``time``,
        ``survival`` (the probability of lasting longer than ``time``), ``ci_low``,
        ``ci_high``.

    Raises:
        ValueError: for no durations, negative or non-finite ones, or lengths that differ.
    """
    from scipy import stats

    _check_confidence(confidence, "kaplan_meier")
    time = np.asarray(durations, dtype=float)
    observed = np.asarray(left, dtype=bool)
    if time.ndim != 1 or time.shape != observed.shape:
        raise ValueError("kaplan_meier: durations and left must be 1-d and of the same length")
    if time.size == 0:
        raise ValueError("kaplan_meier: no durations")
    if not np.isfinite(time).all() or (time < 0).any():
        raise ValueError("kaplan_meier: durations must be finite and non-negative")
    data = stats.CensoredData(uncensored=time[observed], right=time[~observed])
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # The log-log interval is undefined where the estimate is 0 or 1; scipy warns.
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = sf.confidence_interval(confidence_level=confidence, method="log-log")
    return pd.DataFrame(
        {
            "time": np.concatenate([[0.0], sf.quantiles]),
            "survival": np.concatenate([[1.0], sf.probabilities]),
            "ci_low": np.concatenate([[np.nan], interval.low.probabilities]),
            "ci_high": np.concatenate([[np.nan], interval.high.probabilities]),
        }
    )


@_styled
def tenure_survival(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    cohorts: Sequence[str] | None = None,
    by_cohort: bool = True,
    confidence: float = 0.95,
) -> Figure:
    """Kaplan–Meier survival of time at a lab, by lab and cohort, with confidence bands.

    Spells are those of :func:`tenure_spells` (time at the lab counted from arrival, or from
    the start of the run for starting staff; spells still running at the end are censored),
    pooled over the runs given. Each curve is :func:`kaplan_meier` with its log-log interval.

    Args:
        results: One run or replicate runs.
        labs: Labs to draw (default: every lab with a spell).
        cohorts: Cohorts to draw (default: all).
        by_cohort: One panel per lab with one curve per cohort (True), or one panel with one
            curve per lab, cohorts pooled (False).
        confidence: Level of the pointwise bands.
    """
    _check_confidence(confidence, "tenure_survival")
    runs = _runs(results, "tenure_survival")
    scenario = runs[0].scenario
    spells = tenure_spells(runs, labs=labs, cohorts=cohorts)
    # A spell that began as the run ended was never at risk: it carries no information.
    spells = spells[(spells["duration"] > 0) | spells["left"]]
    if spells.empty:
        raise ValueError(
            f"tenure_survival: no spells at labs {_labs(scenario, labs, 'tenure_survival')} "
            "for the cohorts chosen"
        )
    shown = [lab for lab in _labs(scenario, labs, "tenure_survival") if lab in set(spells["lab"])]
    scale, unit = time_unit(scenario)
    panels = shown if by_cohort else [None]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width, height = max(6.5, 3.6 * ncols + 0.6), 3.0 * nrows + 1.2
    fig, axes = _figure(width=width, height=height, nrows=nrows, ncols=ncols)
    flat = np.atleast_1d(axes).ravel()
    names = list(scenario.cohorts)
    handles: dict[str, Any] = {}
    for ax, panel in zip(flat, panels, strict=False):
        if panel is None:
            groups = [
                (lab, spells[spells["lab"] == lab], lab_colour(scenario, lab), "-") for lab in shown
            ]
        else:
            here = spells[spells["lab"] == panel]
            groups = [
                (c, here[here["cohort"] == c], *_cohort_style(names.index(c)))
                for c in names
                if (here["cohort"] == c).any()
            ]
        for name, group, colour, style in groups:
            curve = kaplan_meier(group["duration"], group["left"], confidence=confidence)
            end = float(group["duration"].max()) * scale
            x = np.append(curve["time"].to_numpy() * scale, end)
            y = np.append(curve["survival"].to_numpy(), curve["survival"].iloc[-1]) * 100
            low = np.append(curve["ci_low"].to_numpy(), curve["ci_low"].iloc[-1]) * 100
            high = np.append(curve["ci_high"].to_numpy(), curve["ci_high"].iloc[-1]) * 100
            label = f"{name} (n = {len(group)})" if panel is None else name
            ax.step(x, y, where="post", color=colour, linestyle=style, lw=1.8, label=label)
            ax.fill_between(x, low, high, step="post", color=colour, alpha=0.18, lw=0)
            handles.setdefault(label, ax.lines[-1])
        ax.set_ylim(0, 102)
        ax.set_xlim(left=0)
        ax.set_title("all labs" if panel is None else f"at {panel}")
        ax.set_xlabel(f"time at the lab ({unit})")
        ax.set_ylabel("still at the lab (%)")
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    if by_cohort:
        # One legend for all panels: a cohort has the same colour everywhere.
        fig.legend(
            handles=list(handles.values()),
            title="cohort",
            ncols=max(1, min(len(handles), int(width // 2.2))),
            loc="outside lower center",
            frameon=False,
        )
    else:
        flat[0].legend(loc="best", title="lab (spells)")
    runs_note = "one run" if len(runs) == 1 else f"{len(runs)} runs pooled"
    title = (
        f"Time at the lab (Kaplan–Meier, right-censored at the end of the run; {runs_note}; "
        f"bands: {confidence:.0%} log-log intervals)"
    )
    fig.suptitle(_wrap(title, fig))
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Exit reasons
# --------------------------------------------------------------------------------------------


@_styled
def exit_reasons(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    cohorts: Sequence[str] | None = None,
    share: bool = True,
) -> Figure:
    """Departures by main reason, one stacked bar per lab and cohort.

    The main reason of a departure is the utility term with the largest gain (see
    :meth:`RunResult.exit_reasons`); counts are summed over the runs given.

    Args:
        results: One run or replicate runs.
        labs: Labs left (default: all).
        cohorts: Cohorts (default: all).
        share: Bars in percent of each group's departures (True) or in counts (False).
    """
    runs = _runs(results, "exit_reasons")
    scenario = runs[0].scenario
    chosen_labs = _labs(scenario, labs, "exit_reasons")
    chosen_cohorts = _cohorts(scenario, cohorts, "exit_reasons")
    tables = [run.exit_reasons(by=("lab", "cohort")) for run in runs]
    reasons = pd.concat(tables, ignore_index=True)
    reasons["lab"] = reasons["lab"].astype(str)
    reasons["cohort"] = reasons["cohort"].astype(str)
    reasons["reason"] = reasons["reason"].astype(str)
    reasons = reasons[reasons["lab"].isin(chosen_labs) & reasons["cohort"].isin(chosen_cohorts)]
    counts = reasons.pivot_table(
        index=["lab", "cohort"], columns="reason", values="count", aggfunc="sum", fill_value=0
    )
    order = [
        (lab, cohort)
        for lab in chosen_labs
        for cohort in chosen_cohorts
        if (lab, cohort) in counts.index
    ]
    counts = counts.reindex(order)
    counts = counts[counts.sum(axis=1) > 0]
    if counts.empty:
        raise ValueError(
            f"exit_reasons: no departures from labs {chosen_labs} by cohorts {chosen_cohorts}"
        )
    reason_colour, reason_label = terms.reason_colours(), terms.reason_labels()
    # registry order; a reason the registry no longer knows is shown too, never skipped
    present = [str(r) for r in counts.columns]
    reason_order = [*reason_colour, *(r for r in present if r not in reason_colour)]
    columns = [r for r in reason_order if r in present and counts[r].sum() > 0]
    counts = counts[columns]
    totals = counts.sum(axis=1)
    values = counts.div(totals, axis=0) * 100 if share else counts.astype(float)
    fig, ax = _figure(width=7.0, height=0.45 * len(values) + 2.2)
    ax.grid(axis="y", visible=False)
    positions = np.arange(len(values))[::-1]
    left = np.zeros(len(values))
    for reason in columns:
        ax.barh(
            positions,
            values[reason],
            left=left,
            color=reason_colour.get(reason, OUTSIDE_COLOUR),
            label=reason_label.get(reason, reason),
            edgecolor="white",
            linewidth=0.5,
        )
        left += values[reason].to_numpy()
    several_labs = len({lab for lab, _ in values.index}) > 1
    labels = [
        (f"{lab} · " if several_labs else "") + f"{cohort} (n = {totals[(lab, cohort)]:.0f})"
        for lab, cohort in values.index
    ]
    ax.set_yticks(positions, labels)
    pooled = "" if len(runs) == 1 else f", {len(runs)} runs pooled"
    if share:
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"share of departures by main reason (%{pooled})")
    else:
        ax.set_xlabel(f"departures by main reason (count{pooled})")
    where = "their lab" if several_labs else values.index[0][0]
    ax.set_title(f"Why researchers left {where}")
    fig.legend(
        title="main reason", ncols=min(5, len(columns)), loc="outside lower center", frameon=False
    )
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Sweeps and sensitivity
# --------------------------------------------------------------------------------------------


@_styled
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
    which).

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
    grid = cells.pivot(index=y, columns=x, values="mean").reindex(index=ys, columns=xs)
    counts = cells.pivot(index=y, columns=x, values="n").reindex(index=ys, columns=xs)
    values = grid.to_numpy(dtype=float) * (100 if percent else 1)
    fig, ax = _figure(width=0.9 * len(xs) + 3.4, height=0.55 * len(ys) + 2.2)
    ax.grid(False)
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap=cmap, aspect="auto")
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            ax.text(j, i, "no run", ha="center", va="center", color="0.4", fontsize=8)
            continue
        colour = "white" if value < middle else "black"  # viridis: dark at the low end
        ax.text(j, i, f"{value:.3g}", ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    label = f"{outcome}{' (%)' if percent else ''}, mean of {_range_text(counts)} runs per cell"
    fig.colorbar(image, ax=ax, label=label)
    others = _other_parameters(table, [x, y])
    title = f"{outcome} over {x} × {y}"
    if others:
        title += f"\n(averaged over {', '.join(others)})"
    ax.set_title(title)
    return _finish(fig)


@_styled
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
    _check_confidence(confidence, "sweep_line")
    _sweep_columns(table, [x], outcome, "sweep_line")
    cells = _cell_means(table, [x], outcome, "sweep_line", confidence)
    cells = cells.iloc[sorted(range(len(cells)), key=lambda k: _order_key(cells[x].iloc[k]))]
    numeric = all(_is_number(v) for v in cells[x])
    position = cells[x].astype(float).to_numpy() if numeric else np.arange(len(cells))
    scale = 100 if percent else 1
    mean = cells["mean"].to_numpy(dtype=float) * scale
    low = cells["ci_low"].to_numpy(dtype=float) * scale
    high = cells["ci_high"].to_numpy(dtype=float) * scale
    fig, ax = _figure()
    error = np.vstack([mean - low, high - mean])
    ax.errorbar(
        position,
        mean,
        yerr=error,
        color=OKABE_ITO[0],
        marker="o",
        capsize=3,
        lw=1.8,
        label=f"mean, {confidence:.0%} t interval",
    )
    if not numeric:
        ax.set_xticks(position, [_tick(v) for v in cells[x]])
    ax.set_xlabel(x)
    ax.set_ylabel(outcome + (" (%)" if percent else ""))
    ax.legend(loc="best")
    counts = cells.set_index(x)["n"]
    title = f"{outcome} over {x} — {_range_text(counts)} runs per point"
    others = _other_parameters(table, [x])
    if others:
        title += f"\n(averaged over {', '.join(others)})"
    ax.set_title(title)
    return _finish(fig)


@_styled
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
    _check_confidence(confidence, who)
    _columns(series, ["run_id", "time", "lab", "headcount"], who, "the time series")
    if parameters is None:
        design = table.attrs.get("design")
        listed = design.get("parameters") if isinstance(design, Mapping) else None
        if not listed:
            raise ValueError(f"{who}: the table names no swept parameters; give parameters=")
        parameters = [str(p.get("path")) for p in listed]
    _columns(table, ["run_id", "point", *parameters], who, "the sweep table")
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
    fig, ax = _figure()
    scale, unit, drawn, counts = 1.0, "years", 0, []
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
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        _band(ax, time * scale, curves.to_numpy(dtype=float), colour, label, confidence)
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
    return _finish(fig)


@_styled
def sensitivity_bars(indices: pd.DataFrame, *, output: str | None = None) -> Figure:
    """Sensitivity indices with their confidence intervals, one group of bars per parameter.

    Args:
        indices: The table of :func:`talentsim.sensitivity`: Sobol (first-order ``S1`` and
            total ``ST`` indices are drawn; second-order ``S2`` rows are left out) or Morris
            (``mu_star`` with its interval, and ``sigma``).
        output: The output to draw when the table holds several.
    """
    needed = ("parameter", "index", "value", "ci_low", "ci_high")
    _columns(indices, needed, "sensitivity_bars", "the indices table")
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
    fig, ax = _figure(width=7.0, height=0.7 * len(parameters) + 1.8)
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
    ax.set_title(f"{name} indices of {output} (error bars: bootstrap confidence intervals)")
    ax.legend(loc="lower right")
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Paired comparisons
# --------------------------------------------------------------------------------------------


def headline_metrics(scenario: Scenario) -> list[str]:
    """The metrics a comparison shows by default (:func:`talentsim.compare.headline_metrics`)."""
    from talentsim.compare import headline_metrics as headline

    return headline(scenario)


@_styled
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
    _columns(
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
    fig, axes = _figure(
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
        ax.set_title(metric)
        unit = _metric_unit(metric)
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
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


SHARE_METRICS = ("attrition", "early_attrition", "offer_acceptance", "retention")
COUNT_METRICS = (
    *LAB_FLOWS,
    "headcount_start",
    "headcount_end",
    "net_flow",
    "early_exits",
    "moves",
    "boomerangs",
    "population_end",
)


def _metric_unit(metric: str) -> str:
    """The unit of a summary metric, for axis labels (empty when unknown)."""
    kind = metric.split(".", 1)[0]
    if kind in SHARE_METRICS:
        return "share"
    if kind in COUNT_METRICS:
        return "researchers" if kind.startswith(("headcount", "net_flow")) else "count"
    return ""


def _wrap(text: str, fig: Figure) -> str:
    """Wrap a title to the width of its figure."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=max(40, int(fig.get_figwidth() * 13))))


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


def _cohort_style(index: int) -> tuple[str, str]:
    styles = ("-", "--", ":", "-.")
    return TOL_BRIGHT[index % len(TOL_BRIGHT)], styles[(index // len(TOL_BRIGHT)) % len(styles)]


def _figure(
    width: float = 6.5, height: float = 4.0, nrows: int = 1, ncols: int = 1, **kwargs: Any
) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=nrows * ncols == 1, **kwargs)
    return fig, axes


def _finish(fig: Figure) -> Figure:
    for ax in fig.axes:
        # Tick labels are created when the figure is drawn, after the style context is gone.
        ax.tick_params(labelsize=TICK_SIZE)
    return fig


def _band(
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


def _band_note(n_runs: int, confidence: float) -> str:
    if n_runs == 1:
        return "one run"
    return f"mean of {n_runs} runs, band: {confidence:.0%} t interval"


def _runs(results: Any, who: str) -> list[RunResult]:
    if isinstance(results, RunResult):
        return [results]
    if isinstance(results, Mapping | str | pd.DataFrame) or not isinstance(results, Iterable):
        raise ValueError(
            f"{who}: expected a RunResult or a list of them, got {type(results).__name__}"
        )
    runs = list(results)
    if not runs:
        raise ValueError(f"{who}: no results to plot (the list is empty)")
    wrong = [type(r).__name__ for r in runs if not isinstance(r, RunResult)]
    if wrong:
        raise ValueError(f"{who}: expected RunResult objects, got a {wrong[0]}")
    labs = runs[0].scenario.lab_names
    for run in runs[1:]:
        if run.scenario.lab_names != labs:
            raise ValueError(
                f"{who}: the runs come from scenarios with different labs ({labs} and "
                f"{run.scenario.lab_names}); plot them separately"
            )
    return runs


def _variants(results: Any, who: str) -> dict[str, list[RunResult]]:
    if isinstance(results, Mapping):
        if not results:
            raise ValueError(f"{who}: no variants to plot (the mapping is empty)")
        variants = {
            str(name): _runs(runs, f"{who}: variant {name!r}") for name, runs in results.items()
        }
        first = _first(variants).scenario.lab_names
        for name, runs in variants.items():
            if runs[0].scenario.lab_names != first:
                raise ValueError(f"{who}: variant {name!r} has other labs than the first")
        return variants
    return {"": _runs(results, who)}


def _first(variants: Mapping[str, list[RunResult]]) -> RunResult:
    return next(iter(variants.values()))[0]


def _labs(scenario: Scenario, labs: Sequence[str] | None, who: str) -> list[str]:
    return _chosen(scenario, scenario.lab_names, labs, "lab", who)


def _cohorts(scenario: Scenario, cohorts: Sequence[str] | None, who: str) -> list[str]:
    return _chosen(scenario, list(scenario.cohorts), cohorts, "cohort", who)


def _chosen(
    scenario: Scenario, known: list[str], chosen: Sequence[str] | None, what: str, who: str
) -> list[str]:
    """The labs or cohorts chosen (all by default), each checked against the scenario's."""
    if chosen is None:
        return list(known)
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"{who}: unknown {what} {unknown[0]!r}; the scenario {scenario.name!r} has "
            f"{what}s {', '.join(known)}"
        )
    if not names:
        raise ValueError(f"{who}: {what}s is empty")
    return names


def _check_confidence(confidence: float, who: str) -> None:
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ValueError(f"{who}: confidence must be between 0 and 1, got {confidence!r}")


def _years(value: str | float, who: str, name: str) -> float:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{who}: {name}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{who}: {name}: expected a duration such as '8w' or years, got {value!r}")
    return float(value)


def _columns(frame: Any, needed: Iterable[str], who: str, what: str) -> pd.DataFrame:
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


def _step_times(runs: list[RunResult], who: str) -> np.ndarray:
    """Times (years) of the steps, the same in every run."""
    times = []
    for run in runs:
        ts = _columns(run.timeseries, ("step", "time", "lab"), who, "the time series")
        times.append(np.sort(ts["time"].unique()))
    lengths = {t.shape[0] for t in times}
    if len(lengths) > 1:
        raise ValueError(f"{who}: the runs have different numbers of steps {sorted(lengths)}")
    if next(iter(lengths)) == 0:
        raise ValueError(f"{who}: the runs have no time steps")
    return times[0]


def _place_series(run: RunResult, place: str, column: str) -> np.ndarray:
    ts = run.timeseries
    rows = ts[ts["lab"] == place].sort_values("step")
    return rows[column].to_numpy(dtype=float)


def _retention_curve(run: RunResult, lab: str, cohorts: list[str]) -> tuple[np.ndarray, int]:
    """Share of the starters of ``lab`` (of ``cohorts``) who have not left, at each step."""
    people = run.researchers
    staff = people.loc[
        (people["start"] == lab) & people["cohort"].isin(cohorts), "researcher"
    ].to_numpy()
    steps = int(run.timeseries["step"].max())
    if staff.size == 0:
        return np.full(steps + 1, np.nan), 0
    left = run.departures(lab)
    first = left[left["researcher"].isin(staff)].groupby("researcher")["step"].min()
    gone = np.bincount(first.to_numpy(dtype=np.int64), minlength=steps + 1)[: steps + 1]
    return 1.0 - gone.cumsum() / staff.size, int(staff.size)


def _acceptance_curve(run: RunResult, lab: str, window: int) -> np.ndarray:
    rows = run.timeseries[run.timeseries["lab"] == lab].sort_values("step")
    offers = rows["offers"].rolling(window, min_periods=1).sum().to_numpy(dtype=float)
    accepted = rows["acceptances"].rolling(window, min_periods=1).sum().to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(offers > 0, accepted / offers, np.nan)


def _spells(run: RunResult, labs: list[str]) -> pd.DataFrame:
    """Spells at ``labs`` in one run (see :func:`tenure_spells`), without run columns."""
    ev = _columns(
        run.events,
        ("time", "researcher", "origin", "destination", "kind"),
        "tenure_spells",
        "the events table",
    )
    people = _columns(
        run.researchers, ("researcher", "cohort", "start"), "tenure_spells", "the researchers"
    )
    end_of_run = float(run.timeseries["time"].max())
    starters = people[people["start"].astype(str).isin(labs)]
    arrivals = ev[ev["kind"].isin(ARRIVAL_KINDS) & ev["destination"].astype(str).isin(labs)]
    begins = pd.concat(
        [
            pd.DataFrame(
                {
                    "researcher": starters["researcher"].to_numpy(),
                    "lab": starters["start"].astype(str).to_numpy(),
                    "start": 0.0,
                }
            ),
            pd.DataFrame(
                {
                    "researcher": arrivals["researcher"].to_numpy(),
                    "lab": arrivals["destination"].astype(str).to_numpy(),
                    "start": arrivals["time"].to_numpy(dtype=float),
                }
            ),
        ],
        ignore_index=True,
    )
    leaving = ev[ev["kind"].isin(DEPARTURE_KINDS) & ev["origin"].astype(str).isin(labs)]
    ends = pd.DataFrame(
        {
            "researcher": leaving["researcher"].to_numpy(),
            "lab": leaving["origin"].astype(str).to_numpy(),
            "end": leaving["time"].to_numpy(dtype=float),
        }
    )
    # At one lab a researcher's arrivals and departures alternate in time: the k-th spell
    # starts at the k-th arrival and ends at the k-th departure (or is censored).
    keys = ["researcher", "lab"]
    begins = begins.sort_values([*keys, "start"], kind="stable")
    begins["k"] = begins.groupby(keys).cumcount()
    ends = ends.sort_values([*keys, "end"], kind="stable")
    ends["k"] = ends.groupby(keys).cumcount()
    spells = begins.merge(ends, on=[*keys, "k"], how="left")
    spells["left"] = spells["end"].notna()
    spells["duration"] = spells["end"].fillna(end_of_run) - spells["start"]
    cohort = people.set_index("researcher")["cohort"].astype(str)
    spells["cohort"] = spells["researcher"].map(cohort)
    return spells.drop(columns=["k", "end"])


def _sweep_columns(table: Any, parameters: list[str], outcome: str, who: str) -> None:
    _columns(table, [*parameters, outcome], who, "the sweep table")
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
