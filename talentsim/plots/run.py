"""Figures of single runs and of replicates: headcount, retention, moves, survival, exits.

References:
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *Journal of the American Statistical Association* 53(282), 457–481.
    Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure Time
    Data*, 2nd ed., §1.4 (the log-log confidence interval of the survival function).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from talentsim import terms
from talentsim.plots.style import (
    CAPTION_SIZE,
    OKABE_ITO,
    OUTSIDE_COLOUR,
    TOL_BRIGHT,
    Results,
    Variants,
    band,
    check_confidence,
    figure,
    finish,
    lab_colour,
    require_columns,
    styled,
    text_colour_on,
    time_unit,
    wrap_to,
)
from talentsim.results import DEPARTURE_KINDS, RunResult
from talentsim.scenario import OUTSIDE, Scenario
from talentsim.units import duration_years

ARRIVAL_KINDS = ("hire", "quit", "return")
"""Kinds of move that bring a researcher into a lab (its destination)."""


# --------------------------------------------------------------------------------------------
# Time series across replicates
# --------------------------------------------------------------------------------------------


@styled
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
    check_confidence(confidence, "headcount")
    scenario = runs[0].scenario
    places = _labs(scenario, labs, "headcount") + ([OUTSIDE] if include_outside else [])
    scale, unit = time_unit(scenario)
    time = _step_times(runs, "headcount") * scale
    fig, ax = figure()
    for place in places:
        curves = np.vstack([_place_series(r, place, "headcount") for r in runs])
        band(ax, time, curves, lab_colour(scenario, place), place, confidence)
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel("researchers (headcount)")
    ax.set_xlim(time[0], time[-1])
    ax.set_ylim(bottom=0)
    ax.legend(title="lab", loc="best")
    ax.set_title(f"Headcount per lab — {_band_note(len(runs), confidence)}")
    return finish(fig)


@styled
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
    check_confidence(confidence, "retention")
    scenario = _first(variants).scenario
    _labs(scenario, [lab], "retention")
    chosen = _cohorts(scenario, cohorts, "retention")
    scale, unit = time_unit(scenario)
    fig, ax = figure()
    n_runs, n_staff = 0, set()
    for k, (name, runs) in enumerate(variants.items()):
        time = _step_times(runs, "retention") * scale
        curves = []
        for run in runs:
            curve, staff = _retention_curve(run, lab, chosen)
            curves.append(curve)
            n_staff.add(staff)
        colour = lab_colour(scenario, lab) if len(variants) == 1 else OKABE_ITO[k % 8]
        band(ax, time, 100 * np.vstack(curves), colour, name or lab, confidence, (0, 100))
        n_runs = max(n_runs, len(runs))
    if n_staff == {0}:
        raise ValueError(f"retention: nobody of cohorts {chosen} started at lab {lab!r}")
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel(f"never left {lab} (% of its starting staff)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.legend(loc="best")
    who = "" if cohorts is None else f" ({', '.join(chosen)})"
    title = f"Retention of {lab}'s starting staff{who} — {_band_note(n_runs, confidence)}"
    ax.set_title(wrap_to(title, fig))
    return finish(fig)


@styled
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
    check_confidence(confidence, "offer_acceptance")
    scenario = _first(variants).scenario
    _labs(scenario, [lab], "offer_acceptance")
    length = _years(window, "offer_acceptance", "window")
    if not length > 0:
        raise ValueError(f"offer_acceptance: window: expected a positive duration, got {window!r}")
    steps = max(1, round(length / scenario.time.step))
    scale, unit = time_unit(scenario)
    fig, ax = figure()
    n_runs = 0
    for k, (name, runs) in enumerate(variants.items()):
        time = _step_times(runs, "offer_acceptance") * scale
        curves = np.vstack([_acceptance_curve(r, lab, steps) for r in runs])
        colour = lab_colour(scenario, lab) if len(variants) == 1 else OKABE_ITO[k % 8]
        band(ax, time, 100 * curves, colour, name or lab, confidence, (0, 100))
        n_runs = max(n_runs, len(runs))
    span = f"{steps * scenario.time.step * scale:.3g}-{unit.removesuffix('s')}"
    ax.set_xlabel(f"time since the start of the run ({unit})")
    ax.set_ylabel(f"{lab}'s offers accepted (%), {span} window")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(loc="best")
    ax.set_title(f"Offer acceptance at {lab} — {_band_note(n_runs, confidence)}")
    return finish(fig)


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
    # (the last step's time, or the duration it rounds: "1y" of 52 weekly steps is the run)
    length = float(runs[0].timeseries["time"].max()) + scenario.time.step / 2
    low = _within_run(start, length, "start") if start is not None else -math.inf
    high = _within_run(end, length, "end") if end is not None else math.inf
    if high <= low:
        raise ValueError(f"flows: the period must have end > start, got ({start}, {end}]")
    labs = scenario.lab_names
    rows = [*labs, OUTSIDE, ENTERED]
    columns = [*labs, OUTSIDE, LEFT_FIELD]
    total = pd.DataFrame(0.0, index=rows, columns=columns)
    for run in runs:
        ev = require_columns(run.events, ("time", "origin", "destination"), "flows", "events")
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


@styled
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
    fig, ax = figure(width=1.1 * n_columns + 2.6, height=0.6 * n_rows + 1.8)
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
    return finish(fig)


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
    right-censored. The lab's starting staff had served their cohort's ``tenure`` before
    the run: their spells are observed from that tenure on (``entry``), which the
    Kaplan–Meier estimate on the tenure clock corrects for as left truncation (delayed
    entry; :func:`kaplan_meier`).

    Args:
        results: One run or replicate runs.
        labs: Keep spells at these labs (default: all).
        cohorts: Keep spells of researchers of these cohorts (default: all).

    Returns:
        One row per spell: ``run`` (position in ``results``), ``seed``, ``researcher``,
        ``cohort``, ``lab``, ``start`` (years since the start of the run), ``entry``
        (tenure at the lab when the run first saw the spell: the cohort's tenure for
        starting staff, 0 for arrivals), ``duration`` (years at the lab during the run; the
        tenure at the end is ``entry + duration``) and ``left`` (True if the departure was
        observed, False if censored).
    """
    runs = _runs(results, "tenure_spells")
    scenario = runs[0].scenario
    chosen_labs = _labs(scenario, labs, "tenure_spells")
    chosen_cohorts = _cohorts(scenario, cohorts, "tenure_spells")
    frames = [_spells(run, chosen_labs).assign(run=k, seed=run.seed) for k, run in enumerate(runs)]
    spells = pd.concat(frames, ignore_index=True)
    spells = spells[spells["cohort"].isin(chosen_cohorts)]
    columns = ["run", "seed", "researcher", "cohort", "lab", "start", "entry", "duration"]
    columns += ["left"]
    return spells[columns].reset_index(drop=True)


def kaplan_meier(
    durations: Sequence[float] | np.ndarray,
    left: Sequence[bool] | np.ndarray,
    *,
    entry: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The Kaplan–Meier survival function of right-censored, left-truncated durations.

    The product-limit estimate ``S(t) = Π_{t_i ≤ t} (1 − d_i / n_i)`` over the observed
    exit times ``t_i``, ``d_i`` exits at ``t_i`` out of the ``n_i`` at risk: those who
    entered the risk set before ``t_i`` (``entry < t_i``) and had not left or been censored
    before it (``duration ≥ t_i``); those entering at ``t_i`` join after its exits (at the
    earliest entry time, those entering then are at risk), as in lifelines' estimate (its
    ``event_table``'s ``at_risk`` counts them; ``n_i`` is that less the ``entrance``). With
    ``entry`` (delayed entry: a researcher who started
    the run with 4 years at the lab joins the risk set at 4 years) this is the estimator of
    Kalbfleisch & Prentice (2002, §1.4) and lifelines' ``KaplanMeierFitter(entry=...)``,
    which ``tests/test_plots.py`` checks it against. The interval is the log-log
    (Kalbfleisch–Prentice) interval of Greenwood's variance ``Σ d_i / (n_i (n_i − d_i))``,
    which stays inside [0, 1]; it is NaN where undefined (survival 0 or 1).

    Args:
        durations: Time of each exit or censoring, on the clock that starts at the spell's
            origin (e.g. arrival at the lab).
        left: True where the end of the spell was observed, False where it was censored.
        entry: When each spell entered observation on the same clock (default: 0, i.e. all
            observed from their origin).
        confidence: Level of the pointwise interval.

    Returns:
        One row per distinct duration, after a first row at time 0 with survival 1 (unless
        some durations are 0): ``time``, ``survival`` (the probability of lasting longer than
        ``time``), ``ci_low``, ``ci_high`` and ``at_risk`` (``n_i``).

    Raises:
        ValueError: for no durations, negative or non-finite ones, an entry after its
            duration, or lengths that differ.
    """
    from scipy import stats

    check_confidence(confidence, "kaplan_meier")
    time = np.asarray(durations, dtype=float)
    observed = np.asarray(left, dtype=bool)
    start = np.zeros_like(time) if entry is None else np.asarray(entry, dtype=float)
    if time.ndim != 1 or time.shape != observed.shape or start.shape != time.shape:
        raise ValueError(
            "kaplan_meier: durations, left and entry must be 1-d and of the same length"
        )
    if time.size == 0:
        raise ValueError("kaplan_meier: no durations")
    if not (np.isfinite(time).all() and np.isfinite(start).all()) or (start < 0).any():
        raise ValueError("kaplan_meier: durations and entries must be finite and non-negative")
    if (time < start).any():
        raise ValueError("kaplan_meier: an entry is later than its duration")
    times = np.unique(time)  # every distinct time: exits and censorings
    # n_i: entered before t_i (L < t ≤ T: those entering at t_i join after its exits) and
    # still there at t_i; at the earliest entry, those entering then count (as in lifelines,
    # whose first period's entrants come before its deaths). d_i: exits at t_i.
    entries = np.sort(start)
    entered = np.where(
        times == entries[0],
        np.searchsorted(entries, times, side="right"),
        np.searchsorted(entries, times, side="left"),
    )
    at_risk = entered - np.searchsorted(np.sort(time), times, side="left")
    ended = np.sort(time[observed])
    deaths = np.searchsorted(ended, times, side="right") - np.searchsorted(ended, times, "left")
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(np.where(at_risk > 0, 1.0 - deaths / at_risk, 1.0))
        greenwood = np.cumsum(np.where(deaths > 0, deaths / (at_risk * (at_risk - deaths)), 0.0))
        sigma = np.sqrt(greenwood) / np.abs(np.log(survival))
        z = stats.norm.ppf(0.5 + confidence / 2)
        low = survival ** np.exp(z * sigma)
        high = survival ** np.exp(-z * sigma)
    undefined = (survival <= 0) | (survival >= 1) | ~np.isfinite(sigma)
    low[undefined], high[undefined] = np.nan, np.nan
    table = pd.DataFrame(
        {"time": times, "survival": survival, "ci_low": low, "ci_high": high, "at_risk": at_risk}
    )
    if times[0] > 0:  # the curve starts at 1 at time 0
        first = {"time": 0.0, "survival": 1.0, "ci_low": np.nan, "ci_high": np.nan}
        first["at_risk"] = int((start <= 0).sum())
        table = pd.concat([pd.DataFrame([first]), table], ignore_index=True)
    return table.astype({"at_risk": np.int64})


@styled
def tenure_survival(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    cohorts: Sequence[str] | None = None,
    by_cohort: bool = True,
    confidence: float = 0.95,
    min_spells: int = 5,
) -> Figure:
    """Kaplan–Meier survival of tenure at a lab, by lab and cohort, with confidence bands.

    Spells are those of :func:`tenure_spells`, pooled over the runs given, on the tenure
    clock: time at the lab since arrival, including what the starting staff had served
    before the run (they enter the risk set at that tenure: left truncation, corrected by
    :func:`kaplan_meier`'s ``entry``); spells still running at the end are censored. Under
    each panel, the number at risk of each curve at the axis' ticks. A group with fewer than
    ``min_spells`` spells is not drawn as a curve (a cohort of one is a step, not an
    estimate); the figure's note names it.

    Args:
        results: One run or replicate runs.
        labs: Labs to draw (default: every lab with a spell).
        cohorts: Cohorts to draw (default: all).
        by_cohort: One panel per lab with one curve per cohort (True), or one panel with one
            curve per lab, cohorts pooled (False).
        confidence: Level of the pointwise bands.
        min_spells: Fewest spells a curve needs to be drawn (at least 1).
    """
    check_confidence(confidence, "tenure_survival")
    if min_spells < 1:
        raise ValueError(f"tenure_survival: min_spells must be at least 1, got {min_spells}")
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
    width = max(6.5, 3.6 * ncols + 0.6)
    most_curves = max(
        spells.groupby("lab")["cohort"].nunique().max() if by_cohort else len(shown), 1
    )
    height = (3.0 + 0.16 * most_curves) * nrows + 1.4
    fig, axes = figure(width=width, height=height, nrows=nrows, ncols=ncols)
    flat = np.atleast_1d(axes).ravel()
    names = list(scenario.cohorts)
    handles: dict[str, Any] = {}
    too_few: list[str] = []
    gaps: list[str] = []
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
        drawn = []
        for name, group, colour, style in groups:
            if len(group) < min_spells:
                where = "" if panel is None else f" at {panel}"
                too_few.append(f"{name}{where} (n = {len(group)})")
                continue
            entry = group["entry"].to_numpy(dtype=float)
            exit_ = entry + group["duration"].to_numpy(dtype=float)
            left = group["left"].to_numpy(dtype=bool)
            label = f"{name} (n = {len(group)})" if panel is None else name
            parts = _risk_set_parts(entry, exit_)
            if len(parts) > 1:
                where = "" if panel is None else f" at {panel}"
                restarts = ", ".join(f"{entry[part].min() * scale:.3g}" for part in parts[1:])
                gaps.append(f"{name}{where} at {restarts} {unit}")
            for number, part in enumerate(parts):
                curve = kaplan_meier(
                    exit_[part], left[part], entry=entry[part], confidence=confidence
                )
                if number:  # after a gap: from the first entry on, conditional on it
                    start = float(entry[part].min())
                    curve = curve[curve["time"] >= start]
                    first = {"time": start, "survival": 1.0, "ci_low": np.nan, "ci_high": np.nan}
                    curve = pd.concat([pd.DataFrame([first]), curve], ignore_index=True)
                end = float(exit_[part].max()) * scale
                x = np.append(curve["time"].to_numpy() * scale, end)
                y = np.append(curve["survival"].to_numpy(), curve["survival"].iloc[-1]) * 100
                low = np.append(curve["ci_low"].to_numpy(), curve["ci_low"].iloc[-1]) * 100
                high = np.append(curve["ci_high"].to_numpy(), curve["ci_high"].iloc[-1]) * 100
                shown_as = label if number == 0 else f"_{label}"  # (one legend entry a group)
                ax.step(x, y, where="post", color=colour, linestyle=style, lw=1.8, label=shown_as)
                ax.fill_between(x, low, high, step="post", color=colour, alpha=0.18, lw=0)
                handles.setdefault(label, ax.lines[-1])
            drawn.append((name, colour, entry, exit_))
        ax.set_ylim(0, 102)
        ax.set_xlim(left=0)
        ax.set_title("all labs" if panel is None else f"at {panel}")
        ax.set_xlabel(f"tenure at the lab ({unit})")
        ax.set_ylabel("still at the lab (%)")
        _at_risk_rows(ax, drawn, scale)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    if by_cohort and handles:
        # One legend for all panels: a cohort has the same colour everywhere.
        fig.legend(
            handles=list(handles.values()),
            title="cohort",
            loc="outside right center",  # (the caption is under the panels)
            frameon=False,
        )
    elif handles:
        flat[0].legend(loc="best", title="lab (spells)")
    runs_note = "one run" if len(runs) == 1 else f"{len(runs)} runs pooled"
    by = " by cohort" if by_cohort else ""
    fig.suptitle(wrap_to(f"Tenure at the lab{by} (Kaplan–Meier, {runs_note})", fig))
    # How it was estimated, and what is left out, in a caption under the panels.
    caption = (
        "Delayed entry for the starting staff (at their tenure when the run began); spells "
        f"still running at the end are censored. Bands: {confidence:.0%} log-log intervals; "
        "under each panel, the numbers at risk."
    )
    if too_few:
        caption += f" Not drawn, fewer than {min_spells} spells: " + ", ".join(too_few) + "."
    if gaps:
        caption += (
            " Where nobody is at risk for a while (spells that began in the run, then the "
            "starting staff from their tenure), the curve restarts at 100%: from there on it "
            "is survival given that tenure, since the gap is not identified. Restarts: "
            + ", ".join(gaps)
            + "."
        )
    fig.supxlabel(wrap_to(caption, fig, fontsize=CAPTION_SIZE), fontsize=CAPTION_SIZE)
    return finish(fig)


def _risk_set_parts(entry: np.ndarray, exit_: np.ndarray) -> list[np.ndarray]:
    """The spells split where the risk set empties (:func:`_risk_set_gap`), as masks, in order.

    Every spell of a part has ended when the next part's first spell enters.
    """
    parts = []
    remaining = np.ones(entry.shape[0], dtype=bool)
    while remaining.any():
        cut = _risk_set_gap(entry[remaining], exit_[remaining])
        part = remaining & (entry <= cut)
        parts.append(part)
        remaining &= ~part
    return parts


def _risk_set_gap(entry: np.ndarray, exit_: np.ndarray) -> float:
    """The first time after which nobody is at risk while later spells are still to come.

    Past such a gap the product-limit estimate multiplies on as if the empty stretch had no
    exits, which no data support: the survival there is not identified. ``exit_.max()`` if
    the risk set never empties before the last exit.
    """
    points = np.unique(np.concatenate([entry, exit_]))
    entered = np.searchsorted(np.sort(entry), points, side="right")
    gone = np.searchsorted(np.sort(exit_), points, side="right")
    empty = (entered - gone == 0) & (points < exit_.max())
    return float(points[np.argmax(empty)]) if empty.any() else float(exit_.max())


def _at_risk_rows(ax: Any, drawn: list[tuple[str, Any, np.ndarray, np.ndarray]], scale: float):
    """Under ``ax``, a row per curve: how many are at risk at each of the x-axis' ticks.

    At risk at tenure ``t``: entered observation at or before ``t`` and not yet gone
    (``entry ≤ t ≤ exit``), as the Kaplan–Meier estimate counts them.
    """
    if not drawn:
        return
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks)
    transform = ax.get_xaxis_transform()  # x in data, y in axes fractions
    # Offsets in points below the axes (under the tick labels and the x label), so that the
    # constrained layout makes room for them as it does for the labels.
    below = 36.0
    for row, (_name, colour, entry, exit_) in enumerate(drawn):
        for tick in ticks:
            t = tick / scale
            count = int(((entry <= t) & (exit_ >= t)).sum())
            ax.annotate(
                str(count),
                xy=(tick, 0.0),
                xycoords=transform,
                xytext=(0.0, -below - 9.0 * row),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=7,
                color=colour,
            )
    ax.annotate(
        "at risk",
        xy=(0.0, 0.0),
        xycoords="axes fraction",
        xytext=(-8.0, -below),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=7,
    )


# --------------------------------------------------------------------------------------------
# Exit reasons
# --------------------------------------------------------------------------------------------


@styled
def exit_reasons(
    results: Results,
    *,
    labs: Sequence[str] | None = None,
    cohorts: Sequence[str] | None = None,
    share: bool = True,
) -> Figure:
    """Departures by main reason, one stacked bar per lab and cohort, counts annotated.

    The main reason of a departure is the utility term with the largest gain (see
    :meth:`RunResult.exit_reasons`); counts are summed over the runs given. Bars show shares
    (or counts); each segment wide enough to hold it is labelled with its count, and each bar
    with its group's number of departures.

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
    fig, ax = figure(width=7.0, height=0.45 * len(values) + 2.2)
    ax.grid(axis="y", visible=False)
    positions = np.arange(len(values))[::-1]
    left = np.zeros(len(values))
    width = 100.0 if share else float(totals.max())
    for reason in columns:
        colour = reason_colour.get(reason, OUTSIDE_COLOUR)
        ax.barh(
            positions,
            values[reason],
            left=left,
            color=colour,
            label=reason_label.get(reason, reason),
            edgecolor="white",
            linewidth=0.5,
        )
        # each segment's count, where the segment is wide enough to hold it
        for y, x0, size, n in zip(
            positions, left, values[reason].to_numpy(), counts[reason].to_numpy(), strict=True
        ):
            if n > 0 and size >= 0.06 * width:
                ax.text(
                    x0 + size / 2,
                    y,
                    f"{n:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=text_colour_on(colour),
                )
        left += values[reason].to_numpy()
    several_labs = len({lab for lab, _ in values.index}) > 1
    labels = [
        (f"{lab} · " if several_labs else "") + f"{cohort} (n = {totals[(lab, cohort)]:.0f})"
        for lab, cohort in values.index
    ]
    ax.set_yticks(positions, labels)
    pooled = "" if len(runs) == 1 else f", {len(runs)} runs pooled"
    # (wrapped to the panel, which long cohort names push right: centred under it, the label
    # of pooled runs reached past the figure's edge)
    if share:
        ax.set_xlim(0, 100)
        label = f"share of departures by main reason (%{pooled}; numbers: counts)"
    else:
        label = f"departures by main reason (count{pooled})"
    ax.set_xlabel(wrap_to(label, ax.figure, share=0.55, fontsize=11))
    where = "their lab" if several_labs else values.index[0][0]
    ax.set_title(f"Why researchers left {where}")
    fig.legend(
        title="main reason", ncols=min(5, len(columns)), loc="outside lower center", frameon=False
    )
    return finish(fig)


# --------------------------------------------------------------------------------------------
# Helpers of the run figures
# --------------------------------------------------------------------------------------------


def _cohort_style(index: int) -> tuple[str, str]:
    styles = ("-", "--", ":", "-.")
    return TOL_BRIGHT[index % len(TOL_BRIGHT)], styles[(index // len(TOL_BRIGHT)) % len(styles)]


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


def _within_run(value: str | float, length: float, name: str) -> float:
    """A time of :func:`flow_matrix`'s period in years, refused outside the run's 0..length."""
    years = _years(value, "flows", name)
    inside = 0 <= years < length if name == "start" else 0 < years <= length
    if not inside:
        raise ValueError(
            f"flows: {name}: {value!r} is outside the run (0 to {length:.3g} years; "
            f"{'the start may be 0, ' if name == 'start' else ''}times in years or with units)"
        )
    return years


def _years(value: str | float, who: str, name: str) -> float:
    try:
        return duration_years(value)
    except ValueError as exc:
        raise ValueError(f"{who}: {name}: {exc}") from None


def _step_times(runs: list[RunResult], who: str) -> np.ndarray:
    """Times (years) of the steps, the same in every run."""
    times = []
    for run in runs:
        ts = require_columns(run.timeseries, ("step", "time", "lab"), who, "the time series")
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
    ev = require_columns(
        run.events,
        ("time", "researcher", "origin", "destination", "kind"),
        "tenure_spells",
        "the events table",
    )
    people = require_columns(
        run.researchers, ("researcher", "cohort", "start"), "tenure_spells", "the researchers"
    )
    end_of_run = float(run.timeseries["time"].max())
    tenure = {name: float(cohort.tenure) for name, cohort in run.scenario.cohorts.items()}
    starters = people[people["start"].astype(str).isin(labs)]
    arrivals = ev[ev["kind"].isin(ARRIVAL_KINDS) & ev["destination"].astype(str).isin(labs)]
    begins = pd.concat(
        [
            pd.DataFrame(
                {
                    "researcher": starters["researcher"].to_numpy(),
                    "lab": starters["start"].astype(str).to_numpy(),
                    "start": 0.0,
                    # starting staff arrive with their cohort's tenure: observed from there
                    "entry": starters["cohort"].astype(str).map(tenure).to_numpy(dtype=float),
                }
            ),
            pd.DataFrame(
                {
                    "researcher": arrivals["researcher"].to_numpy(),
                    "lab": arrivals["destination"].astype(str).to_numpy(),
                    "start": arrivals["time"].to_numpy(dtype=float),
                    "entry": 0.0,
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
