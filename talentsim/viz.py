"""Interactive dashboard: a Mesa SolaraViz app for one scenario.

Three ways in:

- ``talentsim viz FILE`` (or :func:`launch`) serves the dashboard for a scenario file with
  ``solara run``;
- ``dashboard(scenario_or_path)`` returns the page as a solara element, to show in Jupyter;
- ``solara run talentsim.viz`` serves :data:`Page`, reading the scenario file named in the
  environment variable ``TALENTSIM_VIZ_SCENARIO``.

The page is Mesa's :class:`~mesa.visualization.SolaraViz`: its sidebar has the play / step /
reset controls, then one slider per scenario value in :func:`controls` (pay levels, mission
clarity, reorganisation rates, preference weights), each labelled with its value and unit, and,
started from a shipped scenario, a picker of the shipped scenarios (:func:`scenario_choices`).
At the scenario's end the page says so and Step / play are disabled. A slider value reaches
the model through the same dotted-path overrides as ``talentsim run --set KEY=VALUE``
(:meth:`~talentsim.Scenario.with_overrides`) and takes effect when the model is reset.
Beside it: headcount per lab over time, the moves between places in the recent past, and a
feed of the shocks and departures so far. Everything is drawn from the model's lab-level
arrays (``headcount_history``, ``turmoil_history``, the move log), never from per-researcher
agents, so a step costs the same with or without Mesa agent objects.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import PIL.Image
import solara
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from mesa.visualization import SolaraViz
from mesa.visualization.user_param import Slider
from mesa.visualization.utils import update_counter
from pydantic import BaseModel, BeforeValidator

from talentsim._text import ascii_digits
from talentsim.model import EXIT, QUIT, RETURN, SEPARATION, SKIPPED_RAID, TalentModel
from talentsim.plots import OKABE_ITO
from talentsim.scenario import (
    OUTSIDE,
    Fixed,
    HiringFreeze,
    LeadershipChange,
    LogNormal,
    MissionPivot,
    Normal,
    PayChange,
    PoachingRaid,
    Reorganisation,
    Scenario,
    ScenarioError,
    load_scenario,
)
from talentsim.units import (
    duration_years,
    format_per_year,
    format_years,
    parse_duration,
    parse_rate,
)

SCENARIO_ENV = "TALENTSIM_VIZ_SCENARIO"
"""Environment variable naming the scenario file that :data:`Page` shows."""

SEED_ENV = "TALENTSIM_VIZ_SEED"
"""Environment variable with the seed :data:`Page` starts from (blank: fresh entropy)."""

PARAMETERS_ENV = "TALENTSIM_VIZ_PARAMETERS"
"""Environment variable with the dotted paths :data:`Page` puts on sliders, one per line
(unset or blank: the default sliders of :func:`controls`)."""

DEFAULT_SEED = 42
"""Seed of the first run; the same seed after a reset isolates the effect of a slider."""

FEED_LENGTH = 60
"""Most recent feed lines shown."""

SHIPPED_SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
"""The scenarios shipped with talentsim (``scenarios/*.toml``): started from one of them, the
page has a picker listing them all."""


def scenario_choices(path: str | Path) -> list[Path]:
    """The scenarios the page's picker offers when started from ``path``.

    The shipped scenarios (``scenarios/*.toml``, by name) when ``path`` is one of them, else
    none (no picker).
    """
    path = Path(path).resolve()
    if path.parent != SHIPPED_SCENARIOS or path.suffix != ".toml":
        return []
    return sorted(SHIPPED_SCENARIOS.glob("*.toml"))


# --------------------------------------------------------------------------------------------
# Sliders: scenario values by dotted path
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A slider for one numeric scenario value, addressed by its dotted path.

    Attributes:
        path: Dotted key path, as in ``talentsim run --set`` (``"labs.MSL.pay_level"``).
        label: Text shown beside the slider.
        value: The scenario's value (per year for a rate, in years for a duration).
        low: Smallest slider value.
        high: Largest slider value.
        step: Slider increment.
        unit: ``"rate"`` (per year), ``"duration"`` (years) or ``""`` (a plain number).
        integer: Whether the value is an integer (an integer slider).
        units: The unit as the slider's caption shows it after the value (``"per year"``,
            ``"years"``, ``"× market value"``; blank for a plain number).
    """

    path: str
    label: str
    value: float
    low: float
    high: float
    step: float
    unit: str = ""
    integer: bool = False
    units: str = ""

    def caption(self, value: float) -> str:
        """The slider's label with its value and unit: ``"MSL · pay level: 2.5 × market value"``."""
        shown = f"{round(value)}" if self.integer else f"{float(value):.4g}"
        return f"{self.label}: {shown}{' ' + self.units if self.units else ''}"

    def slider(self) -> Slider:
        """The Mesa ``Slider`` for this value."""
        if self.integer:
            bounds = (int(self.value), int(self.low), int(self.high), 1)
            return Slider(self.label, *bounds, dtype=int)
        return Slider(self.label, self.value, self.low, self.high, self.step, dtype=float)

    def override(self, value: float) -> object:
        """The slider value as the scenario file writes it (``"2.0/year"`` for a rate)."""
        if self.integer:
            return round(value)
        if self.unit == "rate":
            return format_per_year(float(value))
        if self.unit == "duration":
            return format_years(float(value))
        return float(value)


def controls(scenario: Scenario, paths: Sequence[str] | None = None) -> tuple[Control, ...]:
    """Sliders for scenario values, by dotted path.

    Args:
        scenario: The scenario whose values the sliders start from.
        paths: Dotted key paths of numeric values. Default: each lab's ``pay_level``,
            ``mission_clarity`` and ``reorg_rate``, then each cohort's weights on pay, mission
            and stability (the mean or median of a normal or log-normal weight; a uniform
            weight gets no slider).

    Returns:
        One :class:`Control` per path. A slider's range comes from the schema's bounds
        (mission clarity 0–1, positive pay levels, ...) and otherwise runs from 0 to three
        times the value (at least 3).

    Raises:
        ScenarioError: if a path does not exist or does not lead to a number.
    """
    if paths is None:
        paths = _default_paths(scenario)
    if isinstance(paths, str):  # (each of its letters would be read as a path)
        raise ScenarioError(
            f"parameters: expected a list of dotted paths, got the string {paths!r}; "
            f"write [{paths!r}]"
        )
    return tuple(_control(scenario, path) for path in paths)


def _default_paths(scenario: Scenario) -> list[str]:
    paths = [
        f"labs.{lab}.{key}"
        for lab in scenario.labs
        for key in ("pay_level", "mission_clarity", "reorg_rate")
    ]
    summary: dict[type, str] = {Fixed: "", Normal: ".mean", LogNormal: ".median"}
    for name, cohort in scenario.cohorts.items():
        if cohort.size == 0 and cohort.entry_rate == 0:
            continue
        for weight in ("pay", "mission", "stability"):
            suffix = summary.get(type(getattr(cohort.weights, weight)))
            if suffix is not None:
                paths.append(f"cohorts.{name}.weights.{weight}{suffix}")
    return paths


def _control(scenario: Scenario, path: str) -> Control:
    value, field = _locate(scenario, path)
    validators = [m.func for m in field.metadata if isinstance(m, BeforeValidator)]
    unit = "rate" if parse_rate in validators else ""
    unit = "duration" if parse_duration in validators else unit
    bounds = {
        name: float(getattr(m, name))
        for m in field.metadata
        for name in ("ge", "gt", "le", "lt")
        if getattr(m, name, None) is not None
    }
    low = bounds.get("ge", bounds.get("gt", min(0.0, value)))
    high = bounds.get("le", bounds.get("lt", max(3 * abs(value), 3.0)))
    integer = isinstance(value, int)
    step = 1.0 if integer else _slider_step(low, high, value)
    if "gt" in bounds:  # the smallest allowed value on the slider's grid
        low = round((math.floor(low / step) + 1) * step, 9)
    parts = path.split(".")
    owner, rest = (
        (parts[1], parts[2:]) if parts[0] in ("labs", "cohorts") else (parts[0], parts[1:])
    )
    what = " ".join(rest).replace("weights ", "weight on ").replace("_", " ")
    units = {"rate": "per year", "duration": "years"}.get(unit, "")
    if parts[-1] in _PAY_KEYS:
        units = "× market value"
    return Control(
        path=path,
        label=f"{owner} · {what}",
        value=float(value),
        low=low,
        high=max(round(math.ceil(high / step - 1e-9) * step, 9), value),
        step=step,
        unit=unit,
        integer=integer,
        units=units,
    )


_PAY_KEYS = ("pay_level", "pay_ratio", "new_hire_premium", "counter_offer_limit")
"""Scenario keys that are multiples of a researcher's market value."""


def _locate(scenario: Scenario, path: str) -> tuple[int | float, Any]:
    """The number at a dotted path and the pydantic field that holds it (for its bounds)."""
    node: Any = scenario
    field = None
    for part in path.split("."):
        if isinstance(node, BaseModel):
            field = type(node).model_fields.get(part)
            if field is None:
                allowed = ", ".join(type(node).model_fields)
                raise ScenarioError(
                    f"dashboard: {path}: no key {part!r} (expected one of: {allowed})"
                )
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node, field = node[part], None
        elif isinstance(node, list) and ascii_digits(part) and int(part) < len(node):
            node, field = node[int(part)], None
        else:
            known = (
                ", ".join(map(str, node))
                if isinstance(node, dict)
                else f"0 to {len(node) - 1}"
                if isinstance(node, list) and node
                else "none"
            )
            raise ScenarioError(f"dashboard: {path}: no key {part!r} (expected one of: {known})")
    if isinstance(node, Fixed):  # a bare number in the file: the override sets it again
        node, field = node.value, Fixed.model_fields["value"]
    if isinstance(node, bool) or not isinstance(node, int | float) or field is None:
        what = (
            f"{type(node).__name__}, a group of keys ({', '.join(type(node).model_fields)})"
            if isinstance(node, BaseModel)
            else f"{node!r}"
        )
        raise ScenarioError(f"dashboard: {path}: expected a number for a slider, got {what}")
    return node, field


_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)


def _slider_step(low: float, high: float, value: float) -> float:
    """The coarsest round increment with at least 20 positions that has ``value`` on its grid.

    A value off the grid would be shown rounded to it (2.5 as 2.6 on a 0.2 grid from 0.2).
    """
    best = _STEPS[0]
    for step in _STEPS:
        if step > (high - low) / 20:
            break
        if all(abs(x / step - round(x / step)) < 1e-9 for x in (value, low)):
            best = step
    return best


def _parse_seed(seed: object) -> int | None:
    """A seed from the dashboard's text box: blank means fresh entropy (recorded)."""
    text = "" if seed is None else str(seed).strip()
    if not text:
        return None
    if isinstance(seed, bool) or not ascii_digits(text):
        raise ScenarioError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(text)


class DashboardModel(TalentModel):
    """A :class:`~talentsim.TalentModel` as SolaraViz builds it: a scenario plus slider values.

    SolaraViz's reset calls ``type(model)(**params)`` with the dashboard's parameters and adds
    a ``scenario=`` keyword holding a *Mesa* scenario object, which would replace talentsim's
    scenario argument; so the talentsim scenario travels as ``spec`` and the Mesa one is
    ignored. Everything else is TalentModel unchanged.

    A reset has no way to report an error but the page itself: a seed that is not a
    non-negative integer is replaced by fresh entropy, and slider values that make the
    scenario invalid (say, a capacity below the starting headcount) are dropped, each with a
    note that the page shows.

    Args:
        spec: The talentsim scenario.
        controls: The dashboard's sliders.
        seed: Seed (an integer, its text, or blank / None for fresh entropy).
        scenario: Ignored: the Mesa scenario object SolaraViz passes on reset.
        slider_values: The dashboard's slider positions by dotted path (a dict the page's
            sliders update; read when the model is built, i.e. on reset).
        **values: Slider values by dotted path; each becomes an override of ``spec``.

    Attributes:
        changes: The slider values in force that differ from the scenario, by dotted path.
        notes: What was not applied as asked, and why.
    """

    def __init__(
        self,
        spec: Scenario,
        controls: Sequence[Control] = (),
        *,
        seed: int | str | None = None,
        scenario: object = None,
        slider_values: Any = None,
        **values: float,
    ) -> None:
        values = {**(slider_values or {}), **values}
        by_path = {control.path: control for control in controls}
        unknown = sorted(set(values) - set(by_path))
        if unknown:
            raise TypeError(f"DashboardModel: no slider for {', '.join(unknown)}")
        self.notes: list[str] = []
        try:
            seed = _parse_seed(seed)
        except ScenarioError as exc:
            self.notes.append(f"{exc}; used fresh entropy")
            seed = None
        overrides = {path: by_path[path].override(value) for path, value in values.items()}
        try:
            configured = spec.with_overrides(overrides) if overrides else spec
        except ScenarioError as exc:
            self.notes.append(f"sliders not applied, the scenario they give is invalid: {exc}")
            configured, values = spec, {}
        super().__init__(configured, seed=seed)
        self.changes: dict[str, float] = {
            path: float(value) for path, value in values.items() if value != by_path[path].value
        }


def model_params(
    scenario: Scenario,
    sliders: Sequence[Control],
    seed: int | None,
    slider_values: dict[str, float] | None = None,
) -> dict[str, Any]:
    """SolaraViz ``model_params`` for :class:`DashboardModel`: fixed scenario, sliders, seed.

    With ``slider_values`` (the dict the page's own sliders, :func:`_Sliders`, keep up to
    date) the sliders are the page's, labelled with their values; without it they are Mesa's.
    """
    params: dict[str, Any] = {
        "spec": scenario,
        "controls": tuple(sliders),
        "seed": {
            "type": "InputText",
            "value": "" if seed is None else str(seed),
            "label": "Seed (blank: fresh)",
        },
    }
    if slider_values is not None:
        return {**params, "slider_values": slider_values}
    return {**params, **{control.path: control.slider() for control in sliders}}


# --------------------------------------------------------------------------------------------
# What the panels show (plain functions of a model; usable without a browser)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedItem:
    """One line of the events feed.

    Attributes:
        step: The step it happened in (scheduled events: the step they are applied in).
        kind: An event kind (``"reorganisation"``, ``"leadership_change"``, ...),
            ``"random_reorganisation"``, ``"skipped_poaching_raid"`` (a raid due while its lab
            was frozen), or ``"moves"`` for the step's departures from labs.
        lab: The lab it concerns ("" for moves, which may concern several).
        text: What happened, in words.
    """

    step: int
    kind: str
    lab: str
    text: str


def scheduled_events(model: TalentModel) -> list[tuple[int, Any]]:
    """The scenario's scheduled events with the step each is applied in, in time order."""
    return model.schedule


def event_feed(model: TalentModel, limit: int | None = None) -> list[FeedItem]:
    """Shocks (:func:`shocks`) and departures from labs so far, newest first.

    Departures (quits, boomerang returns, exits, separations) come from the move log, one line
    per step.

    Args:
        model: The model.
        limit: Only the newest ``limit`` items. The departures are then summarised for the
            last ``4 * limit`` steps only (a step has at most one departures line) when
            those steps hold ``limit`` items or more: a redraw's cost does not grow with the
            run.
    """
    shocks_so_far = shocks(model)
    if limit is not None:
        since = model.steps - 4 * limit  # (not every step has departures)
        items = _newest_first([*shocks_so_far, *_departures(model, since=since)])
        if len(items) >= limit and items[limit - 1].step > since:  # (complete after since)
            return items[:limit]
    items = _newest_first([*shocks_so_far, *_departures(model)])
    return items if limit is None else items[:limit]


def _newest_first(items: list[FeedItem]) -> list[FeedItem]:
    return sorted(items, key=lambda item: (-item.step, item.kind == "moves"))


def shocks(model: TalentModel) -> list[FeedItem]:
    """The shocks applied so far (the model's ``shock_log``), in time order.

    Scheduled events count from the step they are applied in; random reorganisations are
    those the model drew.
    """
    items = []
    for shock in model.shock_log:
        if shock.kind == SKIPPED_RAID:
            text = f"{describe_event(shock.event)}: skipped, {shock.lab} is under a hiring freeze"
        elif shock.event is not None:
            text = describe_event(shock.event)
        else:
            text = f"random reorganisation at {shock.lab} (turmoil +{shock.severity:g})"
        items.append(FeedItem(shock.step, shock.kind, shock.lab, text))
    return items


def _departures(model: TalentModel, since: int | None = None) -> list[FeedItem]:
    """Departures from labs, one item per step (only steps after ``since`` if given)."""
    log = model.move_log()
    if not log:
        return []
    outside, names = model.place_names.index(OUTSIDE), model.place_names
    origin, kind = log["origin"], log["kind"]
    leaving = (origin >= 0) & (origin < outside) & np.isin(kind, (QUIT, RETURN, EXIT, SEPARATION))
    if since is not None:
        leaving &= log["step"] > since
    moves = np.stack([log["step"], origin, log["destination"]], axis=1)[leaving]
    pairs, which, counts = np.unique(moves, axis=0, return_inverse=True, return_counts=True)
    returns = np.bincount(which.ravel(), weights=kind[leaving] == RETURN, minlength=len(pairs))
    parts: dict[int, list[tuple[int, str]]] = {}
    for (k, o, d), count, back in zip(
        pairs, counts.tolist(), returns.astype(int).tolist(), strict=True
    ):
        note = f" ({back} boomerang{'s' * (back != 1)})" if back else ""
        parts.setdefault(int(k), []).append((-count, f"{names[o]} → {names[d]} ×{count}{note}"))
    return [
        FeedItem(k, "moves", "", "departures: " + ", ".join(text for _, text in sorted(texts)))
        for k, texts in parts.items()
    ]


def describe_event(event: Any) -> str:
    """A scheduled event in words."""
    lab = event.lab
    match event:
        case Reorganisation(severity=severity):
            return f"reorganisation at {lab} (turmoil +{severity:g})"
        case LeadershipChange(severity=severity):
            return f"leadership change at {lab} (turmoil +{severity:g}{_restated(event)})"
        case MissionPivot():
            restated = _restated(event).lstrip(", ")
            return f"mission pivot at {lab}" + (f" ({restated})" if restated else "")
        case PayChange(pay_level=level, new_hire_premium=premium, applies_to=who):
            changes = (
                [f"pay level → {level:g} for {who.replace('_', ' ')}"] if level is not None else []
            )
            changes += [f"new-hire premium → {premium:g}"] if premium is not None else []
            return f"pay change at {lab} ({'; '.join(changes)})"
        case PoachingRaid(target=target, offers=offers, premium=premium):
            terms = "" if premium is None else f" at a premium of {premium:g}"
            first = ", alumni first" if event.former_staff_first else ""
            return f"poaching raid: {lab} sends {offers} offers to {target}'s staff{terms}{first}"
        case HiringFreeze(duration=duration):
            until = "until the end" if duration is None else f"for {duration * 52.18:.0f} weeks"
            return f"hiring freeze at {lab} {until}"
    return f"{event.kind} at {lab}"


def _restated(event: LeadershipChange | MissionPivot) -> str:
    parts = []
    if event.mission_clarity is not None:
        parts.append(f"mission clarity → {event.mission_clarity:g}")
    if event.orientation is not None:
        parts.append(f"orientation → {event.orientation:g}")
    return "".join(f", {part}" for part in parts)


def recent_flows(model: TalentModel, window: int) -> np.ndarray:
    """Moves between places in the last ``window`` steps: ``[origin, destination]`` counts.

    Places are the labs then the outside pool (``model.place_names``); entries into and
    retirements from the field are left out.
    """
    places = len(model.place_names)
    log = model.move_log()
    counts = np.zeros((places, places), dtype=np.int64)
    if not log:
        return counts
    origin, destination = log["origin"], log["destination"]
    keep = (log["step"] > model.steps - window) & (origin >= 0) & (destination >= 0)
    np.add.at(counts, (origin[keep], destination[keep]), 1)
    return counts


def _time_axis(model: TalentModel) -> tuple[float, str]:
    """Steps → display time: weeks for runs up to two years, else years."""
    if model.n_steps * model.dt <= 2.0:
        return model.dt * 365.25 / 7, "weeks"
    return model.dt, "years"


def _when(model: TalentModel, step: int) -> str:
    """The end of a step in display time: ``"week 3"``, ``"year 1.5"``."""
    per_step, unit = _time_axis(model)
    return f"{unit[:-1]} {step * per_step:.3g}"


def _step_label(model: TalentModel, step: int, at_start: bool = False) -> str:
    """``"step 3 (week 3)"``, dated by the end of the step.

    A shock applied at the start of its step is dated by the start instead, the time the
    headcount chart draws it at.
    """
    return f"step {step} ({_when(model, step - 1 if at_start else step)})"


CHART_SIZE = (10.0, 3.6)
"""Size of each chart in inches at :data:`CHART_DPI`: 1000 × 360 px, drawn across the page's
width (one chart a row) and scaled to it by the browser."""

CHART_DPI = 100

CHART_FONT: dict[Any, Any] = {
    "font.size": 13,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "axes.labelsize": 13,
    "axes.titlesize": 14,
    "legend.fontsize": 13,
}
"""Font sizes (points) of the charts: 13 pt at 100 dpi is 18 px on a 1000 px chart, still
9 px or more on a chart scaled down to 500 px (a narrow window)."""

NARROWEST_CHART = 500
"""The narrowest width (px) the charts' text is sized for: at least 9 px there."""


def headcount_png(model: TalentModel) -> bytes:
    """Headcount per lab over time so far, on the run's full time axis, as a PNG."""
    chart, frame = _headcount_chart(model)
    return chart.png(frame)


def headcount_figure(model: TalentModel) -> Figure:
    """The figure of :func:`headcount_png` (updated to the model's step)."""
    return _headcount_chart(model)[0].fig


class _Chart:
    """A figure redrawn by blitting: drawn in full only when its frame changes.

    The frame is everything but the ``changing`` artists (axes, ticks, labels, legend, lines
    that stay put); a full draw renders it with those artists hidden and keeps a copy of the
    pixels. A redraw with the same frame restores that copy and draws only the ``changing``
    artists over it, at a fraction of a full draw's cost and with the same pixels, provided
    no artist of the frame lies above them (put such artists, the spines over a heatmap,
    among the ``changing`` ones). The figure itself stays complete: ``savefig`` draws every
    artist.

    Args:
        fig: The figure (given an Agg canvas here).
        changing: The artists that change from one redraw to the next, in drawing order.
    """

    def __init__(self, fig: Figure, changing: Sequence[Artist]):
        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)
        self.changing = list(changing)
        self.frame: object = None
        self.background: Any = None

    def png(self, frame: object) -> bytes:
        """The figure as a PNG; ``frame`` identifies the frame (a change means a full draw)."""
        if self.background is None or frame != self.frame:
            for artist in self.changing:
                artist.set_visible(False)
            try:
                self.canvas.draw()
            finally:
                for artist in self.changing:
                    artist.set_visible(True)
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            self.frame = frame
        else:
            self.canvas.restore_region(self.background)
        for artist in self.changing:
            self.fig.draw_artist(artist)
        width, height = self.canvas.get_width_height(physical=True)
        rgba = PIL.Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba())
        buffer = io.BytesIO()
        # Opaque (the figure's face is white) and lightly compressed: a chart a step, and
        # zlib's default level costs ~7 ms a chart.
        rgba.convert("RGB").save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


_HEADCOUNT_CHARTS: weakref.WeakKeyDictionary[TalentModel, tuple[_Chart, list[Line2D], int]] = (
    weakref.WeakKeyDictionary()
)
"""Each model's headcount chart, its lines and how many shock lines it has: a redraw updates
the lines' data and blits them over the frame instead of building and drawing the axes again."""


def _new_headcount_chart(names: Sequence[str], unit: str) -> tuple[_Chart, list[Line2D]]:
    """A headcount chart with no data yet (made under :data:`CHART_FONT`)."""
    fig = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
    # Fixed margins (legend to the right): a constrained layout costs ~30 ms a frame.
    fig.subplots_adjust(left=0.08, right=0.82, bottom=0.17, top=0.9)
    ax = fig.subplots()
    # (zorder 3: above the shocks' lines, in a full draw as in a blitted one)
    lines = [
        ax.plot([], [], color=_colour(j), label=name, linewidth=2, zorder=3)[0]
        for j, name in enumerate(names)
    ]
    ax.tick_params(labelsize=CHART_FONT["xtick.labelsize"])  # (also outside CHART_FONT)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("researchers")
    ax.set_title("Headcount per lab (dotted: shocks)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _Chart(fig, lines), lines


def _headcount_chart(model: TalentModel) -> tuple[_Chart, object]:
    """The model's headcount chart, updated to its step, and the key of its frame."""
    per_step, unit = _time_axis(model)
    names, now = model.lab_state.names, model.steps
    if model not in _HEADCOUNT_CHARTS:
        # Fonts are fixed as the artists are made: a redraw needs no rc_context (which costs
        # ~6 ms under solara's server, whose rcParams are per session).
        with matplotlib.rc_context(CHART_FONT):
            _HEADCOUNT_CHARTS[model] = (*_new_headcount_chart(names, unit), 0)
    chart, lines, drawn = _HEADCOUNT_CHARTS[model]
    ax = chart.fig.axes[0]
    time = np.arange(now + 1) * per_step
    counts = model.headcount_history[: now + 1, : len(names)]
    for j, line in enumerate(lines):
        line.set_data(time, counts[:, j])
    new_shocks = shocks(model)[drawn:]
    for item in new_shocks:
        x = (item.step - 1) * per_step
        ax.axvline(x, color=_colour(names.index(item.lab)), linestyle=":", linewidth=1)
    drawn += len(new_shocks)
    _HEADCOUNT_CHARTS[model] = (chart, lines, drawn)
    right = max(model.n_steps, now) * per_step
    top = _round_up(1.05 * float(counts.max()))
    ax.set_xlim(0, right)
    ax.set_ylim(0, top)
    return chart, (right, top, drawn)


def _round_up(value: float) -> float:
    """``value`` rounded up to a multiple of a quarter of its power of ten (at least 1).

    The headcount chart's top: it moves in steps (310 → 325), not with every new maximum,
    so that most redraws keep their frame.
    """
    if value <= 1:
        return 1.0
    quarter = 10 ** math.floor(math.log10(value)) / 4
    return math.ceil(value / quarter - 1e-9) * quarter


def flows_png(model: TalentModel, window: int) -> bytes:
    """The recent moves between places (:func:`recent_flows`) as a heatmap PNG."""
    chart, frame = _flows_chart(model, window)
    return chart.png(frame)


def flows_figure(model: TalentModel, window: int) -> Figure:
    """The figure of :func:`flows_png` (updated to the model's step)."""
    return _flows_chart(model, window)[0].fig


_FLOWS_CHARTS: weakref.WeakKeyDictionary[
    TalentModel, dict[int, tuple[_Chart, QuadMesh, list[Text]]]
] = weakref.WeakKeyDictionary()
"""Each model's flows charts by window: a redraw updates the heatmap, its counts and the
title, and blits them over the frame."""


def _new_flows_chart(
    names: Sequence[str], counts: np.ndarray
) -> tuple[_Chart, QuadMesh, list[Text]]:
    """A flows chart for ``names`` (made under :data:`CHART_FONT`)."""
    width, height = CHART_SIZE
    fig = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
    longest = max(map(len, names))
    fig.subplots_adjust(
        left=min(0.45, (0.6 + 0.11 * longest) / width),
        bottom=0.2 if len(names) <= 8 else min(0.5, (0.6 + 0.08 * longest) / height),
        right=0.97,
        top=0.88,
    )
    ax = fig.subplots()
    # A mesh of cells, not imshow: an image is resampled to the screen at every draw
    # (~5 ms a frame), a mesh of a few quads is drawn as it is.
    edges = np.arange(len(names) + 1) - 0.5
    mesh = ax.pcolormesh(edges, edges, counts, cmap="Blues", vmin=0, vmax=1)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(edges[-1], edges[0])  # (the first place at the top, as a table reads)
    texts = []
    if len(names) <= 12:  # a count in each cell (no colour bar needed)
        texts = [
            ax.text(d, o, "", ha="center", va="center") for (o, d), _ in np.ndenumerate(counts)
        ]
    if len(names) <= 8:  # (wide cells: the names fit level)
        ax.set_xticks(range(len(names)), names)
    else:
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.tick_params(labelsize=CHART_FONT["xtick.labelsize"])  # (also outside CHART_FONT)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    # y given: no automatic placement, which would misplace a title hidden while the
    # frame is drawn (the title changes with the step, so it is drawn over the frame)
    ax.set_title(" ", y=1.0)
    # (the spines are drawn over the heatmap, as in a full draw)
    chart = _Chart(fig, [mesh, *ax.spines.values(), ax.title, *texts])
    return chart, mesh, texts


def _flows_chart(model: TalentModel, window: int) -> tuple[_Chart, object]:
    """The model's flows chart for ``window``, updated to its step, and the key of its frame."""
    per_step, unit = _time_axis(model)
    counts = recent_flows(model, window)
    names = model.place_names
    charts = _FLOWS_CHARTS.setdefault(model, {})
    if window not in charts:
        with matplotlib.rc_context(CHART_FONT):  # (as for the headcount chart)
            charts[window] = _new_flows_chart(names, counts)
    chart, mesh, texts = charts[window]
    top = max(1, int(counts.max()))
    mesh.set_array(counts)
    mesh.set_clim(0, top)
    for text, count in zip(texts, counts.ravel().tolist(), strict=True):
        text.set_text(str(count) if count else "")
        text.set_color("white" if count > 0.6 * top else "black")
    span = min(window, model.steps) * per_step
    chart.fig.axes[0].title.set_text(f"Researchers who moved in the last {span:.3g} {unit}")
    return chart, None


def _colour(lab: int) -> str:
    """Lab ``lab``'s colour, the same as in :mod:`talentsim.plots` (Okabe–Ito)."""
    return OKABE_ITO[lab % len(OKABE_ITO)]


def status_html(model: TalentModel) -> str:
    """The run's position, each lab's state now and the sliders in force, as HTML."""
    labs, counts = model.lab_state, model.headcounts()
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{counts[j]}</td><td>{labs.pay_level[j]:.3g}</td>"
        f"<td>{labs.mission_clarity[j]:.3g}</td><td>{model.spec.labs[name].reorg_rate:.3g}</td>"
        f"<td>{labs.turmoil[j]:.2f}</td></tr>"
        for j, name in enumerate(labs.names)
    )
    changes, notes = getattr(model, "changes", {}), getattr(model, "notes", [])
    changed = ", ".join(f"{html.escape(path)} = {value:g}" for path, value in changes.items())
    when = _when(model, model.steps)
    end = (
        '<p class="talentsim-end" style="font-weight: bold; color: #0072B2">'
        f"End of the scenario: the run has reached step {model.steps} of {model.n_steps} "
        f"({when}). Step and ▶ are disabled; press Reset to run it again.</p>"
        if model.steps >= model.n_steps
        else ""
    )
    return (
        f'<p class="talentsim-step">Step {model.steps} of {model.n_steps} · {when} · '
        f"seed {model.seed}</p>{end}"
        '<table class="talentsim-labs" style="width: 100%; text-align: left">'
        "<tr><th>lab</th><th>headcount</th><th>pay level</th><th>mission clarity</th>"
        f"<th>reorgs per year</th><th>turmoil</th></tr>{rows}</table>"
        f"<p>outside pool: {counts[labs.n]} · changed from the file: {changed or 'nothing'}</p>"
        + "".join(f'<p style="color: #D55E00">{html.escape(note)}</p>' for note in notes)
    )


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


@solara.component
def _Sliders(sliders: tuple[Control, ...], values: dict[str, float]) -> None:
    """One slider per scenario value in the sidebar, its label showing its value and unit.

    Mesa's own sliders have fixed labels; these write their positions into ``values``, which
    :class:`DashboardModel` reads when Reset builds the next model.
    """
    positions = solara.use_reactive(dict(values))
    with solara.Sidebar(), solara.Card("Scenario values (applied on Reset)"):
        for control in sliders:

            def move(value: float, path: str = control.path) -> None:
                values[path] = value
                positions.value = {**positions.value, path: value}

            position = positions.value[control.path]
            if control.integer:
                solara.SliderInt(
                    control.caption(position),
                    value=int(position),
                    on_value=move,
                    min=int(control.low),
                    max=int(control.high),
                    step=1,
                )
            else:
                solara.SliderFloat(
                    control.caption(position),
                    value=float(position),
                    on_value=move,
                    min=control.low,
                    max=control.high,
                    step=control.step,
                )


@solara.component
def _Panels(model: TalentModel, window: int) -> None:
    """The main area: status, charts and feed, re-rendered after every step.

    Mesa's controller bumps ``update_counter`` after a step, and each component that reads it
    gets a render pass of its own, which reconciles the whole page (~6 ms on the flagship's,
    whatever changed): one reader here, whose children re-render because their ``steps``
    argument changed, costs one pass instead of three.
    """
    update_counter.get()
    _Status(model, model.steps)
    _Charts(model, window, model.steps)
    _Feed(model, model.steps)


@solara.component
def _Status(model: TalentModel, steps: int) -> None:
    with solara.Card("Now"):
        solara.HTML(
            tag="div", unsafe_innerHTML=status_html(model), attributes={"data-testid": "status"}
        )


@solara.component
def _Charts(model: TalentModel, window: int, steps: int) -> None:
    headcounts = solara.use_memo(lambda: headcount_png(model), [model, steps])
    flows = solara.use_memo(lambda: flows_png(model, window), [model, steps, window])
    # One chart a row, each across the page's width (their text is sized for that).
    with solara.Card("Headcount"):
        solara.Image(headcounts, width="100%", classes=["talentsim-headcount"])
    with solara.Card("Flows"):
        solara.Image(flows, width="100%", classes=["talentsim-flows"])


@solara.component
def _Feed(model: TalentModel, steps: int) -> None:
    items = event_feed(model, limit=FEED_LENGTH)
    coming = [(s, e) for s, e in scheduled_events(model) if s > model.steps][:3]
    lines = [
        f"<li><b>{_step_label(model, i.step, i.kind != 'moves')}</b> {html.escape(i.text)}</li>"
        for i in items
    ]
    upcoming = [
        f"<li>{_step_label(model, s, True)} {html.escape(describe_event(e))}</li>"
        for s, e in coming
    ]
    body = "<ul>" + "".join(lines or ["<li>nothing yet: press Step or ▶</li>"]) + "</ul>"
    if upcoming:
        body += "<p><b>Coming up</b></p><ul>" + "".join(upcoming) + "</ul>"
    with solara.Card("Events"):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=body,
            style="max-height: 22em; overflow-y: auto",
            attributes={"data-testid": "events"},
        )


@solara.component
def TalentDashboard(
    scenario: Scenario,
    sliders: tuple[Control, ...],
    seed: int | None = DEFAULT_SEED,
    flow_window: int = 13,
    play_interval: int = 100,
) -> None:
    """The dashboard component; build it with :func:`dashboard`."""
    first = solara.use_memo(lambda: DashboardModel(scenario, sliders, seed=seed), [])
    model: solara.Reactive[DashboardModel] = solara.use_reactive(first)
    values = solara.use_memo(lambda: {c.path: c.value for c in sliders}, [])
    params = solara.use_memo(lambda: model_params(scenario, sliders, seed, values), [])
    # Mesa's plot components sit in a draggable grid that needs Vue 2 (it stays blank with
    # ipyvue 3, mesa issue #3806); the panels below are laid out by solara alone.
    SolaraViz(
        model,
        components=[],
        model_params=params,
        name=f"talentsim · {scenario.name}",
        play_interval=play_interval,
    )
    _Sliders(sliders, values)
    _Panels(model.value, flow_window)


def dashboard(
    scenario: Scenario | str | Path,
    *,
    seed: int | None = DEFAULT_SEED,
    parameters: Sequence[str] | None = None,
    flow_window: float | str = 0.25,
    play_interval: int = 100,
) -> Any:
    """The dashboard for a scenario, as a solara element (display it in Jupyter).

    Args:
        scenario: A :class:`~talentsim.Scenario` or the path of a TOML scenario file.
        seed: Seed of the first run; the seed box in the sidebar changes it on reset. None
            draws fresh entropy (shown on the page, so the run can be replayed).
        parameters: Dotted paths of the values to put on sliders (see :func:`controls`).
        flow_window: Length of the recent past the flows panel counts moves over: years, or a
            duration with units (``"8w"``).
        play_interval: Milliseconds between steps while playing.

    Returns:
        The page element (it renders Mesa's ``SolaraViz``).

    Raises:
        ScenarioError: if the file cannot be read or is invalid, or a path is not a number.
    """
    return TalentDashboard(*_prepare(scenario, seed, parameters, flow_window), play_interval)


def _prepare(
    scenario: Scenario | str | Path,
    seed: int | str | None,
    parameters: Sequence[str] | None,
    flow_window: float | str,
) -> tuple[Scenario, tuple[Control, ...], int | None, int]:
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    try:  # (years, or a duration with units, as elsewhere: "8w")
        years = duration_years(flow_window)
    except ValueError as exc:
        raise ScenarioError(f"flow_window: {exc}") from None
    if not years > 0:
        raise ScenarioError(
            f"flow_window: expected a positive duration such as '8w' or years, got {flow_window!r}"
        )
    window = max(1, round(years / spec.time.step))
    return spec, controls(spec, parameters), _parse_seed(seed), window


@solara.component
def Page() -> None:
    """The dashboard for the file in ``$TALENTSIM_VIZ_SCENARIO`` (``solara run talentsim.viz``)."""
    started = os.environ.get(SCENARIO_ENV, "")
    seed_text = os.environ.get(SEED_ENV, str(DEFAULT_SEED))
    parameters_text = os.environ.get(PARAMETERS_ENV, "")
    choices = solara.use_memo(lambda: scenario_choices(started) if started else [], [started])
    picked = solara.use_reactive("")  # a shipped scenario's name, chosen in the picker
    by_name = {choice.stem: choice for choice in choices}
    path = str(by_name[picked.value]) if picked.value in by_name else started

    def prepare() -> Any:
        if not path:
            return ScenarioError(
                f"no scenario: set {SCENARIO_ENV} to a scenario file, or run `talentsim viz FILE`"
            )
        paths = _parameter_paths(parameters_text)
        try:
            return _prepare(path, seed_text, paths, 0.25)
        except ScenarioError as exc:
            if path == started or paths is None:
                return exc
        # another shipped scenario may lack the slider paths chosen for the first: defaults
        try:
            return _prepare(path, seed_text, None, 0.25)
        except ScenarioError as exc:
            return exc

    prepared = solara.use_memo(prepare, [path, seed_text, parameters_text])
    if choices:
        with solara.Sidebar(), solara.Card("Scenario"):
            solara.Select(
                "Scenario (shipped)",
                values=list(by_name),
                value=Path(path).stem,
                on_value=picked.set,
            )
    if isinstance(prepared, ScenarioError):
        solara.Error(f"error: {prepared}")
    else:
        TalentDashboard(*prepared).key(path)


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


def server_command(
    host: str = "127.0.0.1", port: int = 8765, *, open_browser: bool = False
) -> list[str]:
    """The ``solara run`` command that serves :data:`Page` (production mode, no reloader)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "talentsim.viz",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--open" if open_browser else "--no-open",
    ]


def _parameter_paths(text: str) -> list[str] | None:
    """The slider paths of :data:`PARAMETERS_ENV` (None: the defaults)."""
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    return paths or None


def server_environment(
    path: str | Path,
    seed: int | None = DEFAULT_SEED,
    parameters: Sequence[str] | None = None,
) -> dict[str, str]:
    """The environment for :func:`server_command`: this one plus the scenario, seed, sliders."""
    env = dict(os.environ)
    env[SCENARIO_ENV] = str(Path(path).resolve())
    env[SEED_ENV] = "" if seed is None else str(seed)
    env[PARAMETERS_ENV] = "\n".join(parameters or ())
    # solara reports usage to an analytics service by default; a local research tool should not.
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    # ...nor warn about iframe cookies on every http page it serves on 127.0.0.1.
    env.setdefault("PYTHONWARNINGS", "ignore:Cookies with samesite=none require https")
    return env


def launch(
    path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = False,
    *,
    seed: int | None = DEFAULT_SEED,
    parameters: Sequence[str] | None = None,
) -> int:
    """Serve the dashboard for a scenario file until interrupted (Ctrl-C).

    The file is checked first, so a bad file fails at once with the scenario loader's message,
    before any server starts. The server is ``solara run talentsim.viz`` in a child process.

    Args:
        path: The TOML scenario file.
        host: Interface to listen on (default: this machine only).
        port: Port (0: any free port; solara prints the address).
        open_browser: Open the page in the default browser.
        seed: Seed of the first run (None: fresh entropy).
        parameters: Dotted paths of the values to put on sliders (see :func:`controls`;
            default: each lab's pay level, mission clarity and reorganisation rate, and each
            cohort's weights on pay, mission and stability).

    Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the server and everything it started (it runs
    in a process group of its own) before this returns.

    Returns:
        The exit status: 0 after Ctrl-C, 128 + the signal's number after SIGTERM or SIGHUP
        (143, 129), else the server's own status.

    Raises:
        ScenarioError: if the file is missing or invalid, the seed is negative, a slider path
            does not lead to a number, or the port cannot be used; the message says which.
    """
    controls(load_scenario(path), parameters)
    _parse_seed(seed)
    _check_port(host, port)
    with _signals_stop_the_server():
        # The server gets a process group of its own, so that stopping it stops everything
        # it started, and a terminal's Ctrl-C reaches this process only (which then stops it).
        process = subprocess.Popen(
            server_command(host, port, open_browser=open_browser),
            env=server_environment(path, seed, parameters),
            start_new_session=True,
        )
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 0
        except _StopSignal as stop:
            return 128 + stop.signum  # as a shell reports a process ended by that signal
        finally:
            _stop_server(process)


class _StopSignal(Exception):
    """SIGTERM or SIGHUP arrived while the dashboard was being served."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_stop_the_server() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`_StopSignal`.

    SIGINT already raises KeyboardInterrupt; with these, :func:`launch` stops its server
    before it exits whichever signal ends it. (Python's default for SIGTERM ends the process
    at once, leaving the server running.) Handlers can only be set from the main thread;
    elsewhere the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _StopSignal(signum)

    names = ("SIGTERM", "SIGHUP")
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, stop) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_server(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop the server and its process group if it still runs: SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    requests: list[Callable[[], None]] = [process.terminate, process.kill]
    if hasattr(os, "killpg"):  # (not on Windows, which has no process groups)
        # start_new_session: the server leads its own group
        requests = [
            partial(_signal_group, process.pid, s) for s in (signal.SIGTERM, signal.SIGKILL)
        ]
    for request in requests:
        request()
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # (the group has already gone)
        os.killpg(group, signum)


def _check_port(host: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise ScenarioError(f"--port: expected 0–65535, got {port}")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ScenarioError(
            f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another port with --port"
        ) from None


__all__ = [
    "DEFAULT_SEED",
    "SCENARIO_ENV",
    "SEED_ENV",
    "Control",
    "DashboardModel",
    "FeedItem",
    "Page",
    "TalentDashboard",
    "controls",
    "dashboard",
    "event_feed",
    "launch",
    "model_params",
    "recent_flows",
    "scenario_choices",
    "scheduled_events",
    "server_command",
    "server_environment",
    "shocks",
]
