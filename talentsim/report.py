"""Self-contained HTML reports of results folders: ``talentsim report RESULTS_DIR``.

:func:`write_report` reads the folder written by ``talentsim run`` (``run.json`` and Parquet
tables), ``talentsim compare`` (``comparison.json``, ``runs.csv``, ``effects.csv``) or a
sweep store (``manifest.sqlite``), and writes a report folder::

    report/
      report.html     figures embedded as PNG, summary tables, seeds, provenance
      scenario.toml   the resolved scenario: rerun it with the seeds listed in the report
      *.png           every figure, for papers and slides

The report folder is filled all at once (see :func:`talentsim.results.atomic_folder`): an
interrupted report never leaves a folder that looks complete. A figure that cannot be drawn
from the data (say, exit reasons of a run in which nobody left) is replaced by a note saying
why; the rest of the report is written.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talentsim.paths import creation_problem
from talentsim.results import (
    RunResult,
    atomic_folder,
    not_replaceable,
    read_csv_file,
    read_json_file,
    unsafe_results_folder,
)
from talentsim.scenario import Scenario
from talentsim.store import MANIFEST
from talentsim.versions import __version__

REPORT_FILE = "report.html"
SCENARIO_FILE = "scenario.toml"
KINDS = ("run", "comparison", "sweep", "calibration")
"""The kinds of results folder a report can be written for."""

DPI = 150
MAX_FIGURE_LABS = 4
"""Labs whose headcount over time a sweep's page draws (from its stored time series, when
the sweep has at most eight design points)."""

MAX_FIGURE_METRICS = 6
"""Most metrics of a sweep drawn as figures (all are in the tables)."""
MAX_ROWS = 200
"""Most rows of a table shown in the report (the rest are in the results folder)."""

CALIBRATION_FILE = "calibration.json"
"""What marks the output folder of ``talentsim calibrate``."""

_EXPECTED = (
    "expected the output folder of 'talentsim run' (with run.json), 'talentsim compare' "
    f"(with comparison.json), 'talentsim calibrate' (with {CALIBRATION_FILE}) or a sweep store "
    f"(with {MANIFEST})"
)


class ReportError(ValueError):
    """A report cannot be written: the message names the folder and what was expected."""


@dataclass
class _Figure:
    name: str
    caption: str
    draw: Callable[[], Any]


@dataclass
class _Drawn:
    entry: _Figure
    png: str | None = None
    error: str | None = None
    width: float = 0.0


@dataclass
class _Page:
    """What a report shows, before figures are drawn."""

    kind: str
    title: str
    scenario: Scenario
    what: str
    provenance: list[tuple[str, str]]
    seeds: list[tuple[str, str]]
    tables: list[tuple[str, pd.DataFrame | str]] = field(default_factory=list)
    details: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[_Figure] = field(default_factory=list)
    rerun: str = ""
    notes: list[str] = field(default_factory=list)
    versions: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def detect(folder: str | Path) -> str:
    """Which kind of results folder ``folder`` is: one of :data:`KINDS`.

    Raises:
        ReportError: if the folder does not exist or holds none of them.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ReportError(f"{folder}: no such folder; {_EXPECTED}")
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder; {_EXPECTED}")
    if (folder / "run.json").is_file():
        return "run"
    if (folder / "comparison.json").is_file():
        return "comparison"
    if (folder / MANIFEST).is_file():
        return "sweep"
    if (folder / CALIBRATION_FILE).is_file():
        return "calibration"
    raise ReportError(f"{folder}: not a talentsim results folder; {_EXPECTED}")


def write_report(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write the HTML report (and its PNG figures) of a results folder.

    Args:
        folder: The output folder of ``talentsim run``, ``talentsim compare``, ``talentsim
            calibrate`` or a sweep store.
        out: The report folder (default: ``FOLDER/report``). A previous report there is
            replaced; any other non-empty folder only with ``overwrite``.
        overwrite: Replace a non-empty ``out`` that does not hold a report.
        progress: Show a progress bar (one step per figure) on standard error.

    Returns:
        The path of ``report.html``.

    Raises:
        ReportError: if the folder is not a results folder or cannot be read, or the report
            cannot be written there (the message says why).
    """
    source = Path(folder)
    kind = detect(source)
    target = Path(out) if out is not None else source / "report"
    _check_target(source, target, overwrite)
    pages = {
        "run": _run_page,
        "comparison": _comparison_page,
        "sweep": _sweep_page,
        "calibration": _calibration_page,
    }
    try:
        page = pages[kind](source)
    except ReportError:
        raise
    except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
        # (files each readable, but not together what talentsim writes: a table of another
        # run, metadata of another shape, labs the scenario does not have)
        raise ReportError(
            f"{source}: the {kind}'s files do not fit together as talentsim writes them "
            f"({type(exc).__name__}: {exc}); it was changed or damaged after it was saved: "
            "run it again"
        ) from None
    page.provenance[:0] = [
        ("results folder", str(source)),
        ("kind", page.what),
        ("scenario", page.scenario.name),
    ]

    def write(staging: Path) -> None:
        images = _draw(page.figures, staging, progress)
        document = _html(page, images)
        (staging / SCENARIO_FILE).write_text(
            scenario_toml(page.scenario, header=f"Resolved scenario of {source}"),
            encoding="utf-8",
        )
        with open(staging / REPORT_FILE, "w", encoding="utf-8") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())

    try:
        atomic_folder(target, write, overwrite=True, markers=(REPORT_FILE,))
    except OSError as exc:
        raise ReportError(
            f"{target}: cannot write the report ({exc.strerror or exc}); choose another --out"
        ) from None
    return target / REPORT_FILE


def load_comparison(folder: str | Path) -> Any:
    """:meth:`talentsim.Comparison.load`, with a :class:`ReportError` for a bad folder."""
    from talentsim.compare import Comparison

    try:
        return Comparison.load(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{folder}: cannot read the comparison ({_reason(exc)})") from None


def scenario_toml(scenario: Scenario, *, header: str | None = None) -> str:
    """The scenario as a TOML file that :func:`talentsim.load_scenario` reads back unchanged.

    Rates and durations are written with their units (per year, in years), as
    :meth:`Scenario.to_dict` gives them.
    """
    return scenario.to_toml(header=header)


# --------------------------------------------------------------------------------------------
# The three kinds of page
# --------------------------------------------------------------------------------------------


def _run_page(folder: Path) -> _Page:
    from talentsim import plots

    try:
        result = RunResult.load(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{folder}: cannot read the run's results ({_reason(exc)})") from None
    scenario = result.scenario
    summary = result.summary()
    lab_table = result.lab_table()
    lab_table["attrition"] = lab_table["attrition"].map(_percent)
    overall = pd.DataFrame(
        {
            "value": [
                summary["steps"],
                f"{summary['years']:.3g}",
                summary["moves"],
                summary["boomerangs"],
                summary["early_exits"],
                summary["population_end"],
            ]
        },
        index=pd.Index(
            [
                "steps",
                "years",
                "moves between places",
                "boomerang returns",
                "early exits (tenure < 13 weeks)",
                "researchers at the end",
            ],
            name="",
        ),
    )
    kinds = result.events["kind"].astype(str).value_counts().rename("moves").to_frame()
    kinds.index.name = "kind of move"
    reasons = result.exit_reasons(by=("lab",))
    reason_table = reasons.pivot_table(
        index="lab", columns="reason", values="count", aggfunc="sum", observed=False
    )
    reason_table = reason_table.loc[:, reason_table.sum(axis=0) > 0]
    reason_table.columns = [str(c) for c in reason_table.columns]
    versions = result.metadata.get("versions", {})
    page = _Page(
        kind="run",
        title=f"Run of scenario {scenario.name!r}, seed {result.seed}",
        scenario=scenario,
        what="one run (talentsim run)",
        provenance=[
            ("description", scenario.description or "—"),
            ("seed", str(result.seed)),
            ("steps", _steps_text(summary, scenario)),
        ],
        seeds=[("run", str(result.seed))],
        rerun=f"talentsim run {SCENARIO_FILE} --seed {result.seed}"
        + (f" --steps {summary['steps']}" if summary["steps"] != scenario.time.n_steps else ""),
        versions=versions,
    )
    page.tables = [
        ("Per lab", lab_table),
        ("Overall", overall),
        ("Moves by kind", kinds),
        ("Departures by main reason (exit-interview attribution)", reason_table),
    ]
    page.figures = [
        _Figure(
            "headcount",
            "Headcount per lab and in the outside pool at the end of each step.",
            lambda: plots.headcount(result, include_outside=True),
        ),
        _Figure(
            "flows",
            "Moves between labs, the outside pool and the field over the whole run (row: "
            "from, column: to).",
            lambda: plots.flows(result),
        ),
        _Figure(
            "tenure_survival",
            "Time at each lab by cohort: Kaplan–Meier estimates, counted from arrival (or from "
            "the start of the run for starting staff), right-censored at the end of the run, "
            "with 95% log-log pointwise intervals.",
            lambda: plots.tenure_survival(result),
        ),
        _Figure(
            "exit_reasons",
            "Departures by main reason (the utility term with the largest gain), by lab and "
            "cohort.",
            lambda: plots.exit_reasons(result),
        ),
    ]
    return page


def _comparison_page(folder: Path) -> _Page:
    from talentsim import plots

    comparison = load_comparison(folder)
    scenario = comparison.scenario
    effects = comparison.effects
    seeds = sorted({int(s) for s in comparison.runs["seed"]})
    by_seed = comparison.runs[["replicate", "seed"]].drop_duplicates().sort_values("replicate")
    headline = [m for m in plots.headline_metrics(scenario) if m in set(effects["metric"])]
    shown = effects[effects["metric"].isin(headline)] if headline else effects
    variants = pd.DataFrame(
        {
            "overrides": [
                json.dumps(overrides, sort_keys=True) for overrides in comparison.variants.values()
            ]
        },
        index=pd.Index(list(comparison.variants), name="variant"),
    )
    metric_columns = [
        c for c in comparison.runs.columns if c not in ("variant", "replicate", "seed")
    ]
    means = comparison.runs.groupby("variant", sort=False)[metric_columns].mean().T
    means.index.name = "metric (mean over seeds)"
    level = f"{comparison.confidence:.0%}"
    versions = (comparison.metadata or {}).get("versions", {})
    page = _Page(
        kind="comparison",
        title=f"Comparison of variants of scenario {scenario.name!r}",
        scenario=scenario,
        what="paired comparison under common random numbers (talentsim compare)",
        provenance=[
            ("variants", ", ".join(comparison.variants)),
            ("seeds", f"{len(seeds)} shared by the baseline and every variant"),
            ("confidence", f"{level} t intervals of the mean paired difference"),
        ],
        seeds=[(str(row.replicate), str(row.seed)) for row in by_seed.itertuples()],
        rerun=(
            "import talentsim as ts\n\n"
            f"variants = {comparison.variants!r}\n"
            f"seeds = {[int(s) for s in by_seed['seed']]}  # in replicate order\n"
            f"ts.compare(ts.load_scenario({SCENARIO_FILE!r}), variants, seeds=seeds)"
        ),
        versions=versions,
    )
    page.tables = [
        ("Variants (overrides of the baseline)", variants),
        (
            f"Effects on headline metrics (variant − baseline, {level} t intervals)",
            comparison.table(list(dict.fromkeys(shown["metric"]))),
        ),
    ]
    absorbed = comparison.capacity_absorbed()
    if not absorbed.empty:
        page.tables.insert(
            0,
            (
                "Warning: effects on arrivals absorbed by capacity (the variant changed who a "
                "full lab turned away, blocked_by_capacity, at least half as much as its hires)",
                absorbed,
            ),
        )
    page.details = [("Means per variant", means)]
    if headline and len(shown) < len(effects):
        page.details.append(
            ("All effects", comparison.table(list(dict.fromkeys(effects["metric"]))))
        )
    page.figures = [
        _Figure(
            "effects",
            f"Paired effects of each variant against the baseline on the same seeds, with "
            f"{level} t intervals; the dashed line is no effect.",
            lambda: plots.comparison_effects(comparison),
        )
    ]
    return page


def _sweep_page(folder: Path) -> _Page:
    import sqlite3

    from talentsim import plots
    from talentsim.store import StoreError, SweepStore

    try:
        store = SweepStore(folder)
        spec = store.meta("spec") or {}
        table = store.table()
        versions = store.meta("versions") or {}
        scenario = Scenario.from_dict(spec["scenario"], source=str(folder / MANIFEST))
        few_points = table["point"].nunique() <= len(plots.OKABE_ITO)
        series = store.timeseries() if spec.get("timeseries") and few_points else None
        store.close()
    except (StoreError, sqlite3.Error, OSError, ValueError, KeyError) as exc:
        raise ReportError(f"{folder}: cannot read the sweep store ({_reason(exc)})") from None
    design = spec.get("design") or {}
    kind = str(design.get("kind", "grid"))
    parameters = [str(p.get("path")) for p in design.get("parameters", [])]
    metrics = _sweep_metrics(table, parameters, spec.get("metrics"))
    status = table["status"].value_counts().reindex(["done", "failed", "pending"], fill_value=0)
    status_table = status.rename("runs").to_frame()
    status_table.index.name = "status"
    seeds = table[["replicate", "seed"]].drop_duplicates().sort_values("replicate")
    page = _Page(
        kind="sweep",
        title=f"Sweep of scenario {scenario.name!r}",
        scenario=scenario,
        what=f"parameter sweep, {kind} design (talentsim sweep)",
        provenance=[
            ("parameters", ", ".join(parameters)),
            ("design", json.dumps(design.get("options", {}), sort_keys=True)),
            ("points", str(int(table["point"].nunique()))),
            ("replicates per point", str(spec.get("replicates", "?"))),
            ("root seed", str(spec.get("root_seed", "?"))),
            ("runs", ", ".join(f"{n} {s}" for s, n in status.items())),
        ],
        seeds=[(str(row.replicate), str(row.seed)) for row in seeds.itertuples()],
        rerun=(
            f"talentsim run {SCENARIO_FILE} --seed SEED --set PARAMETER=VALUE ...  "
            "# any run of the table"
        ),
        versions=versions,
    )
    if scenario.lab_names == sorted(scenario.lab_names) and list(scenario.cohorts) == sorted(
        scenario.cohorts
    ):
        # The store keeps the scenario as JSON with sorted keys; the order of labs and cohorts
        # sets the random draws, so the stored copy may not replay the runs' seeds.
        page.notes.append(
            "The sweep store keeps the scenario with its keys sorted, so its labs and cohorts "
            "may be in another order than in the original file; since that order sets the "
            "random draws, replay a run with the original scenario file and the run's seed "
            "and parameters."
        )
    page.tables = [("Runs by status", status_table)]
    failed = table[table["status"] == "failed"]
    if len(failed):
        page.tables.append(
            ("Failed runs", failed[["run_id", "point", "replicate", "seed", "error"]])
        )
    figure_metrics = metrics[:MAX_FIGURE_METRICS]
    if kind in ("saltelli", "morris"):
        _add_sensitivity(page, table, figure_metrics)
    elif metrics and (table["status"] == "done").any():
        cells = _cell_table(table, parameters, metrics)
        page.tables.append(("Replicate means per point (95% t intervals)", cells))
        if kind == "grid" and len(parameters) >= 2:
            x, y = parameters[0], parameters[1]
            for metric in figure_metrics:
                page.figures.append(
                    _Figure(
                        f"heatmap_{_slug(metric)}",
                        f"{metric}: mean over the replicates of each cell of {x} × {y}.",
                        _bind(plots.sweep_heatmap, table, x, y, metric),
                    )
                )
        elif parameters:
            x = parameters[0]
            for metric in figure_metrics:
                page.figures.append(
                    _Figure(
                        f"line_{_slug(metric)}",
                        f"{metric} over {x}: replicate means with 95% t intervals.",
                        _bind(plots.sweep_line, table, x, metric),
                    )
                )
    if series is not None and "headcount" in series.columns:
        for lab in scenario.lab_names[:MAX_FIGURE_LABS]:
            page.figures.append(
                _Figure(
                    f"headcount_{_slug(lab)}",
                    f"Headcount at {lab} over time at each design point: the mean across the "
                    "point's replicates, with 95% t bands (from the stored time series).",
                    partial(plots.sweep_headcount, series, table, lab, parameters=parameters),
                )
            )
    return page


def _check_calibration_metadata(metadata: Any, path: Path) -> None:
    """Refuse a ``calibration.json`` that is not what talentsim writes (a report of it lies).

    Raises:
        ValueError: naming the file and what it lacks.
    """
    if not isinstance(metadata, dict) or metadata.get("kind") != "talentsim calibration":
        raise ValueError(
            f"{path}: not a calibration talentsim wrote (no kind 'talentsim calibration')"
        )
    lacking = [
        key
        for key in ("method", "scenario_file", "targets_file", "parameters", "seed", "created")
        if key not in metadata
    ]
    if lacking:
        raise ValueError(f"{path}: missing {', '.join(map(repr, lacking))}")
    if metadata["method"] not in ("smm", "abc") or not isinstance(metadata["parameters"], list):
        raise ValueError(f"{path}: method and parameters are not what talentsim writes there")


def _calibration_page(folder: Path) -> _Page:
    from talentsim import plots
    from talentsim.scenario import ScenarioError, load_scenario

    try:
        metadata = read_json_file(folder / CALIBRATION_FILE, table_of="the calibration")
        scenario = load_scenario(folder / SCENARIO_FILE)
        estimates = read_csv_file(folder / "estimates.csv", index_col="parameter")
        fit = read_csv_file(folder / "fit.csv")
        identification = read_csv_file(folder / "identification.csv", index_col="parameter")
        trace = read_csv_file(folder / "trace.csv")
        posterior = (
            read_csv_file(folder / "posterior.csv")
            if (folder / "posterior.csv").is_file()
            else None
        )
        _check_calibration_metadata(metadata, folder / CALIBRATION_FILE)
    except (OSError, ValueError, KeyError, ScenarioError) as exc:
        raise ReportError(f"{folder}: cannot read the calibration ({_reason(exc)})") from None
    method = str(metadata.get("method", "?"))
    names = [str(p["path"]) for p in metadata.get("parameters", [])]
    diagnostics = metadata.get("diagnostics", {})
    fixed = metadata.get("fixed", {})
    provenance = [
        ("method", {"smm": "simulated moments (SMM)", "abc": "ABC-SMC"}.get(method, method)),
        ("scenario file", str(metadata.get("scenario_file"))),
        ("targets file", f"{metadata.get('targets_file')} ({metadata.get('targets')})"),
        ("parameters", ", ".join(names)),
        ("root seed", str(metadata.get("seed"))),
        ("fitted", str(metadata.get("created"))),
    ]
    if fixed:
        provenance.append(
            (
                "fixed, not estimated",
                "; ".join(
                    f"{k} = {v:.6g}" if np.isfinite(v) else f"{k}: the scenario's own distribution"
                    for k, v in fixed.items()
                )
                + f" ({metadata.get('fixed_reason', '')})",
            )
        )
    shown = {
        k: v for k, v in diagnostics.items() if not isinstance(v, dict | list) or k == "at_bound"
    }
    diagnostics_table = pd.DataFrame(
        {"value": [", ".join(v) if isinstance(v, list) else v for v in shown.values()]},
        index=pd.Index(list(shown), name="diagnostic"),
    )
    columns = [
        c for c in ("target", "form", "observed", "se", "low", "high", "simulated") if c in fit
    ]
    columns += [
        c for c in ("interval_low", "interval_high", "share_inside", "inside", "z") if c in fit
    ]
    interval = str(fit["interval"].iloc[0]) if "interval" in fit and len(fit) else ""
    page = _Page(
        kind="calibration",
        title=f"Calibration of scenario {scenario.name!r} ({method.upper()})",
        scenario=scenario,
        what="calibration to targets (talentsim calibrate)",
        provenance=provenance,
        seeds=[("root", str(metadata.get("seed")))],
        rerun=(
            "import talentsim as ts\n\n"
            f"# the fitted scenario (this report's {SCENARIO_FILE}), with provenance comments\n"
            f"fitted = ts.load_scenario({SCENARIO_FILE!r})\n"
            "# or refit: talentsim calibrate CALIBRATION_FILE (same seed, same result)"
        ),
        versions=metadata.get("versions", {}),
    )
    page.tables = [
        ("Estimates", estimates),
        (f"Fit per target ({interval})", fit[columns]),
        ("Identification: which parameters the targets identify", identification),
        ("Diagnostics", diagnostics_table),
    ]
    unidentified = [
        str(name) for name, row in identification.iterrows() if not bool(row["identified"])
    ]
    if unidentified:
        page.notes.append(
            "Not identified by these targets: " + ", ".join(unidentified) + " (see the "
            "identification table; a parameter fixed before the fit kept its scenario value)."
        )
    page.figures = [
        _Figure(
            "fit",
            "Fit per target: the range each target allows (shaded), the observed value "
            f"(dashed) and the simulated value with its {interval or 'interval'}"
            + (" (the posterior predictive check)" if method == "abc" else "")
            + ".",
            _bind(plots.calibration_fit, fit),
        )
    ]
    if method == "smm":
        page.figures.append(
            _Figure(
                "trace",
                "Every candidate the search simulated, in order (colour: the objective Q, log "
                "scale), and the best Q so far.",
                _bind(plots.calibration_trace, trace, names),
            )
        )
        page.details = [("Search trace (every candidate)", trace)]
    elif posterior is not None:
        bounds = {
            str(p["path"]): (float(p["low"]), float(p["high"])) for p in metadata["parameters"]
        }
        means = {str(name): float(row["estimate"]) for name, row in estimates.iterrows()}
        page.figures.append(
            _Figure(
                "marginals",
                "Posterior marginals over each parameter's prior range (dashed: posterior mean).",
                _bind(plots.posterior_marginals, posterior, names, bounds, means),
            )
        )
        page.figures.append(
            _Figure(
                "pairs",
                "Posterior pairs: the weighted particles (dot size: weight).",
                _bind(plots.posterior_pairs, posterior, names),
            )
        )
        page.details = [("Generations", trace), ("Posterior sample", posterior)]
    return page


def _add_sensitivity(page: _Page, table: pd.DataFrame, metrics: list[str]) -> None:
    from talentsim import plots
    from talentsim.sensitivity_analysis import sensitivity

    frames, notes = [], []
    for metric in metrics:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                indices = sensitivity(table, metric)
        except (ValueError, ImportError) as exc:
            notes.append(f"{metric}: {exc}")
            continue
        frames.append(indices)
        page.figures.append(
            _Figure(
                f"sensitivity_{_slug(metric)}",
                f"Sensitivity indices of {metric} (replicate means per design point), with "
                "bootstrap confidence intervals.",
                _bind(plots.sensitivity_bars, indices),
            )
        )
    if frames:
        page.tables.append(("Sensitivity indices", pd.concat(frames, ignore_index=True)))
    if notes:
        page.tables.append(("Sensitivity analyses not done", "\n".join(notes)))


def _sweep_metrics(
    table: pd.DataFrame, parameters: list[str], stored: list[str] | None
) -> list[str]:
    from talentsim.experiments import RUN_COLUMNS

    if stored:
        candidates = [m for m in stored if m in table.columns]
    else:
        skip = {*RUN_COLUMNS, *parameters}
        candidates = [
            str(c)
            for c in table.columns
            if c not in skip and pd.api.types.is_numeric_dtype(table[c])
        ]
    # Headline metrics first, so that the figures show them when there are many.
    order = ("attrition.", "net_flow.", "early_attrition.", "boomerangs", "early_exits")
    return sorted(
        candidates,
        key=lambda m: next((k for k, p in enumerate(order) if m.startswith(p)), len(order)),
    )


def _cell_table(table: pd.DataFrame, parameters: list[str], metrics: list[str]) -> pd.DataFrame:
    from talentsim.analysis import aggregate

    by = parameters if parameters else ["point"]
    if table[by].drop_duplicates().shape[0] < table["point"].nunique():
        by = ["point", *parameters]  # repeated parameter values: keep design points apart
    cells = aggregate(table, metrics, by=by)
    cells["value"] = [
        _interval_text(m, lo, hi)
        for m, lo, hi in zip(cells["mean"], cells["ci_low"], cells["ci_high"], strict=True)
    ]
    wide = cells.pivot_table(
        index=by, columns="metric", values="value", aggfunc="first", sort=False
    )
    count = cells.groupby(by, sort=False)["n"].max().rename("runs")
    wide = wide.join(count)
    return wide[[*[m for m in metrics if m in wide.columns], "runs"]]


# --------------------------------------------------------------------------------------------
# Drawing and writing
# --------------------------------------------------------------------------------------------


def _draw(figures: list[_Figure], staging: Path, progress: bool) -> list[_Drawn]:
    """Draw each figure and save it as ``staging/NAME.png``."""
    from tqdm import tqdm

    drawn = []
    with tqdm(
        total=len(figures), disable=not progress, unit="figure", desc="report", file=sys.stderr
    ) as bar:
        for entry in figures:
            try:
                figure = entry.draw()
            except ValueError as exc:  # the data cannot make this figure: say why instead
                drawn.append(_Drawn(entry, error=str(exc)))
            else:
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png", dpi=DPI)
                data = buffer.getvalue()
                (staging / f"{entry.name}.png").write_bytes(data)
                png = base64.b64encode(data).decode("ascii")
                # Shown at its size in print (the saved PNG is cropped to its content).
                width = _png_width(data) / DPI
                drawn.append(_Drawn(entry, png=png, width=width))
            bar.update(1)
    return drawn


_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 62rem;
       margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc;
     padding-bottom: .2rem; margin-top: 2.2rem; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #d0d0d0; padding: .25rem .55rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
table.meta td { text-align: left; }
figure { margin: 1.2rem 0 2rem; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #333; margin-top: .3rem; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .82rem; }
.note { color: #8a3b00; } .small { font-size: .85rem; color: #555; }
@media print { body { max-width: none; } figure { break-inside: avoid; } }
"""


def _html(page: _Page, images: list[_Drawn]) -> str:
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(page.title)} — talentsim report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(page.title)}</h1>",
        f'<p class="small">talentsim report ({esc(page.kind)}), written {created} by talentsim '
        f"{esc(__version__)}.</p>",
        '<nav class="small">Contents: <a href="#summary">Summary</a> · '
        '<a href="#figures">Figures</a> · <a href="#seeds">Seeds</a> · '
        '<a href="#scenario">Resolved scenario</a> · <a href="#provenance">Provenance</a></nav>',
        '<section id="summary"><h2>Summary</h2>',
        _meta_table(page.provenance),
    ]
    for heading, table in page.tables:
        parts.append(f"<h3>{esc(heading)}</h3>")
        if isinstance(table, str):
            parts.append(f'<pre class="note">{esc(table)}</pre>')
        else:
            parts.append(_table_html(table))
    parts.append("</section>")
    parts.append('<section id="figures"><h2>Figures</h2>')
    if not images:
        parts.append("<p>No figures for this results folder.</p>")
    for k, item in enumerate(images, start=1):
        name = esc(item.entry.name)
        if item.png is None:
            parts.append(
                f'<p class="note" id="figure-{name}">Figure {k} ({name}) was not drawn: '
                f"{esc(item.error or '')}</p>"
            )
            continue
        parts.append(
            f'<figure id="figure-{name}"><img alt="{name}" style="width: {item.width:.2f}in" '
            f'src="data:image/png;base64,{item.png}"><figcaption><b>Figure {k}.</b> '
            f'{esc(item.entry.caption)} <span class="small">({name}.png)</span></figcaption>'
            "</figure>"
        )
    parts.append("</section>")
    if page.details:
        parts.append('<section id="tables"><h2>More tables</h2>')
        for heading, table in page.details:
            parts.append(
                f"<details><summary>{esc(heading)}</summary>{_table_html(table)}</details>"
            )
        parts.append("</section>")
    parts.append('<section id="seeds"><h2>Seeds</h2>')
    parts.append(
        "<p>Every run is reproduced exactly by its scenario and seed. To rerun:</p>"
        f"<pre>{esc(page.rerun)}</pre>"
    )
    parts.extend(f'<p class="note">{esc(note)}</p>' for note in page.notes)
    parts.append(_meta_table(page.seeds, ("replicate", "seed")))
    parts.append("</section>")
    parts.append(
        '<section id="scenario"><h2>Resolved scenario</h2>'
        f"<p>Saved beside this report as <code>{SCENARIO_FILE}</code>.</p>"
        f"<pre>{esc(scenario_toml(page.scenario))}</pre></section>"
    )
    version_rows = [("talentsim (this report)", __version__)]
    version_rows += [(f"{name} (results)", str(v)) for name, v in page.versions.items()]
    parts.append(
        '<section id="provenance"><h2>Provenance</h2>' + _meta_table(version_rows) + "</section>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _meta_table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    esc = html.escape
    head = f"<tr><th>{esc(header[0])}</th><th>{esc(header[1])}</th></tr>" if header else ""
    body = "".join(f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="meta">{head}{body}</table>'


def _table_html(table: pd.DataFrame) -> str:
    note = ""
    if len(table) > MAX_ROWS:
        note = (
            f'<p class="small">First {MAX_ROWS} of {len(table)} rows; the results folder has '
            "them all.</p>"
        )
        table = table.head(MAX_ROWS)
    if not (isinstance(table.index, pd.RangeIndex) and table.index.name is None):
        table = table.reset_index()  # index names as ordinary column headers
    return table.to_html(na_rep="—", float_format=_number, border=0, index=False) + note


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _check_target(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse targets that would destroy results, and fail early on unwritable ones."""
    problem = unsafe_results_folder(target)
    if problem:
        raise ReportError(f"--out {target}: {problem}")
    resolved_source, resolved_target = source.resolve(), target.resolve()
    if resolved_target == resolved_source or resolved_target in resolved_source.parents:
        raise ReportError(
            f"--out {target}: the report folder would replace the results folder {source}; "
            "choose a folder inside it or elsewhere"
        )
    if target.exists() and not target.is_dir():
        raise ReportError(f"--out {target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        others = sorted(
            entry.name
            for entry in target.iterdir()
            if not (
                entry.is_file()
                and (entry.name in (REPORT_FILE, SCENARIO_FILE) or entry.suffix == ".png")
            )
        )
        earlier = not others and (target / REPORT_FILE).is_file()
        if not earlier and not overwrite:  # (an earlier report alone is replaced: it is ours)
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ReportError(
                f"--out {target}: folder holds {shown or 'no report.html'}, not only an earlier "
                "report; replacing it deletes all it holds: choose another folder (or, if it "
                "is an earlier report's folder, pass --force)"
            )
        problem = None if earlier else not_replaceable(target, (REPORT_FILE,), "report")
        if problem:
            raise ReportError(f"--out {target}: {problem}")
    problem = creation_problem(target)
    if problem is not None:
        raise ReportError(f"--out {target}: cannot be created ({problem})")


def _bind(draw: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: draw(*args)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"missing file {exc.filename or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    if isinstance(exc, TypeError):  # (a file of the wrong shape: e.g. a list for a table)
        return f"not what talentsim writes there ({exc})"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # (a header such as "invalid scenario (1 problem)" is followed by the problems)
    return "; ".join(lines[:4]) if lines else type(exc).__name__


def _slug(text: str) -> str:
    """An ASCII file-name stem for a metric or lab name.

    Names with characters outside ASCII (``"Équipe"``) get a short hash of the name appended,
    so that two names differing only there (``"Équipe"``, ``"Èquipe"``) do not share a file.
    """
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "metric"
    if not text.isascii():
        slug += "_" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return slug


def _steps_text(summary: Mapping[str, Any], scenario: Scenario) -> str:
    from talentsim.units import DAYS_PER_YEAR

    days = scenario.time.step * DAYS_PER_YEAR
    return f"{summary['steps']} steps of {days:.3g} days ({summary['years']:.3g} years)"


def _percent(value: float) -> str:
    return "—" if value != value else f"{value:.0%}"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _interval_text(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "—"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def _png_width(data: bytes) -> int:
    """Width in pixels of a PNG image (from its IHDR chunk)."""
    return int.from_bytes(data[16:20], "big")
