"""Fit the shipped scenarios to public figures, then measure the flagship's thesis.

A reproducible pipeline on talentsim's public API (``talentsim.smm.smm``,
``evaluate_targets``, ``target_values``, ``run``, ``compare``), meant to be re-run whenever the
model changes. For each shipped scenario it:

1. evaluates the scenario as shipped against the public figures for its labs without shocks
   (targets/labs_without_shocks.toml for the flagship, targets/<scenario>_labs.toml for the
   others);
2. screens the candidate parameters for identification: a numerical Jacobian of the targets'
   simulated means on common seeds, scaled to "target errors moved over the parameter's
   range"; a column-pivoted QR keeps, in order of independent influence, the parameters that
   move the targets by at least one error each (at most one fewer than the targets, so the
   J-test keeps a degree of freedom); the others stay at their shipped values and are reported
   as fixed;
3. fits the kept parameters by the method of simulated moments and evaluates the fitted
   scenario on fresh seeds (the fit table);
4. writes the fitted scenario as a TOML file whose comments record the provenance of every
   fitted number.

For the flagship it then measures, with the fitted parameters, the article's counts
(targets/msl.toml) as probabilities across seeds and across the SMM confidence set, MSL's
first-year loss and its refilling as predictions, which fitted parameter moved the first-year
loss, the "money isn't enough" retention ratio over a range of the core cohorts' pay weight (a
figure), and the exit-reason mix of MSL's core leavers beside the article's three causes.

Budgets (``--budget``; the environment variable TALENTSIM_EXAMPLE_BUDGET sets the default,
which the test suite sets to ``tiny``):
  tiny     a smoke test of every step on msl_exodus and reorg_shock: numbers meaningless;
  default  a quick look: 2.5-5 minutes of wall time on 2 workers; its optimum is not the
           large budget's (docs/fit-sensitivity.md), so it is not what is published;
  large    the published numbers (since 5 December 2026): more replicates, generations and
           seeds; 11.5-19.7 minutes of wall time on 2 workers on a quiet machine.

Usage:
  python examples/fit_shipped/fit.py [--budget default] [--workers 2] [--out DIR] [--publish]
      [--scenarios msl_exodus,boomerang,...] [--seeds N] [--boomerang-window START,END]
      [--keep PATH,...] [--weighting diagonal|efficient]

``--out DIR`` (default results/fit_shipped) receives the report (report.md, results.json), the
fitted scenarios, the figure and the first fitted flagship run (run.json). ``--publish`` also
copies the fitted scenarios to scenarios/fitted/, the figure to docs/figures/ and the report to
docs/fit-report.md; it needs ``--budget large``, the budget the docs quote. ``--seeds N`` sets
the number of seeds of the predictions (default from the budget). ``--boomerang-window
START,END`` (e.g. ``1y,3y``), a sensitivity analysis that cannot be published: every
boomerang-share target counts only the arrivals in that window of the run
(docs/fit-sensitivity.md; docs/case-msl.md, "How robust the fit is"). ``--keep PATH,...`` (with
one scenario; not publishable either) fits these candidates whatever the screen keeps.
``--weighting efficient`` (not publishable either) fits by two-step efficient GMM instead of
the targets' diagonal weighting (``smm(weighting="efficient")``): a robustness check of the
estimates and of the J-test against the weighting (docs/case-msl.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from scipy import stats

import talentsim as ts
from talentsim.cli import output_folder, positive_integer, run_script
from talentsim.scenario import read_toml
from talentsim.smm import Parameter, SMMResult, smm
from talentsim.targets import Targets, load_targets, target_values

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
TARGETS = ROOT / "targets"
YEAR = 1.0
WEEK = 7 / 365.25
STARS = ["stars_from_rival", "stars_from_frontier"]
#: ``--boomerang-window START,END``: every boomerang-share target counts only the arrivals in
#: this window (a sensitivity analysis; set before the workers fork, so they see it too).
BOOMERANG_WINDOW: list[str] | None = None
#: ``--keep PATH,...``: fit these candidates whatever the screen says (a sensitivity analysis:
#: it separates a change of targets from a change of the parameters the screen keeps).
KEEP: list[str] | None = None
#: ``--weighting``: the SMM weighting, ``"diagonal"`` (published) or ``"efficient"`` (two-step:
#: a robustness check of the estimates and the J-test against the weighting).
WEIGHTING = "diagonal"
CORE = ["msl_veterans", *STARS]
NO_REORGANISATIONS = {"events": [], "mechanisms.random_reorganisations": False}
ARTICLE_CAUSES = {
    "stability": "reorganisations and leadership changes (instability)",
    "mission": "a mission that serves products",
    "fairness": "culture clash over pay (fairness)",
}


# ---- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How much simulation each step of the pipeline gets."""

    replicates: int  # R: runs per parameter vector in the SMM (common seeds)
    maxiter: int  # differential evolution's generations
    popsize: int  # its population per parameter
    polish_maxiter: int  # Nelder-Mead iterations after it (0: no polish)
    screen_seeds: int  # seeds of the identification screen
    eval_seeds: int  # fresh seeds of the fit tables (before and after)
    predict_seeds: int  # seeds of the flagship's predictions at the estimate
    draws: int  # parameter vectors drawn from the SMM confidence set
    draw_seeds: int  # seeds per drawn vector
    comparison_seeds: int  # paired seeds per pay weight of the retention comparison
    pay_weights: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


#: The budget of the published numbers (docs/fit-report.md, docs/case-msl.md,
#: docs/calibration.md, scenarios/fitted/): --publish refuses any other.
PUBLISHED_BUDGET = "large"

BUDGETS = {
    "tiny": Budget(2, 1, 1, 0, 2, 2, 3, 2, 2, 3, (0.5, 1.0)),
    "default": Budget(8, 6, 4, 30, 8, 20, 40, 30, 4, 16),
    "large": Budget(16, 20, 6, 120, 16, 40, 200, 100, 10, 40),
}


# ---- what is fitted -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A parameter the targets might identify, with the reason for its bounds."""

    parameter: Parameter
    why: str


def _market_candidates(attachment: bool) -> list[Candidate]:
    found = [
        Candidate(
            Parameter("market.offer_rate_employed", 1.0, 12.0, unit="/year"),
            "from one approach a year to one a month: the range reported for researchers at "
            "top labs in 2025, from ordinary to frenzied",
        ),
        Candidate(
            Parameter("market.switching_cost", 0.5, 3.0),
            "moving costs from a 65% to a twenty-fold pay gain (log-pay 0.5 to 3): unvested "
            "equity, relocation, ramp-up",
        ),
        Candidate(
            Parameter("market.noise_scale", 0.2, 1.5),
            "idiosyncratic reasons from a fifth to 1.5 log-pay units",
        ),
    ]
    if attachment:
        found.append(
            Candidate(
                Parameter("market.attachment_half_life", 0.1, 3.0, unit="y"),
                "attachment to a former lab halving in five weeks to three years",
            )
        )
    return found


def _attachment_weight(cohort: str) -> Candidate:
    return Candidate(
        Parameter(f"cohorts.{cohort}.weights.attachment", 0.0, 4.0),
        "no pull of a former lab (0) to twice the poached stars' shipped weight (4)",
    )


def _mission_clarity(lab: str) -> Candidate:
    return Candidate(
        Parameter(f"labs.{lab}.mission_clarity", 0.5, 1.0),
        "a lab the figures single out for its mission: at least halfway clear, at most fully",
    )


def _amenity(lab: str) -> Candidate:
    return Candidate(
        Parameter(f"labs.{lab}.amenity", 0.0, 1.0),
        "non-pay appeal worth up to a 2.7-fold pay rise (log-pay 1) for everyone",
    )


def _rehire_rate(lab: str) -> Candidate:
    return Candidate(
        Parameter(f"labs.{lab}.rehire_rate", 0.0, 1.0),
        "a lab courting its former staff from not at all to as often as anyone: a reduced-form "
        "correction for representing a market of many employers by a few named labs",
    )


@dataclass(frozen=True)
class Spec:
    """A scenario, its public targets, and the candidate parameters."""

    scenario: str
    targets: str
    candidates: tuple[Candidate, ...]


SPECS = {
    "msl_exodus": Spec(
        "msl_exodus",
        "labs_without_shocks",
        (
            *_market_candidates(attachment=True),
            _attachment_weight("rival_staff"),
            _attachment_weight("frontier_staff"),
            _mission_clarity("Rival"),
            _amenity("Rival"),
            _rehire_rate("Rival"),
            _rehire_rate("Frontier"),
        ),
    ),
    "mission_vs_money": Spec(
        "mission_vs_money",
        "mission_vs_money_labs",
        (
            *_market_candidates(attachment=False),
            _amenity("Mission"),
            _rehire_rate("Money"),
            _rehire_rate("Mission"),
        ),
    ),
    "boomerang": Spec(
        "boomerang",
        "boomerang_labs",
        (
            *_market_candidates(attachment=True),
            _attachment_weight("home_staff"),
            _attachment_weight("other_staff"),
            _rehire_rate("Home"),
            _rehire_rate("Other"),
        ),
    ),
    "reorg_shock": Spec(
        "reorg_shock",
        "reorg_shock_labs",
        (*_market_candidates(attachment=False), _rehire_rate("Steady")),
    ),
    "pay_compression": Spec(
        "pay_compression",
        "pay_compression_labs",
        (*_market_candidates(attachment=False), _rehire_rate("Rival")),
    ),
}


# ---- helpers ------------------------------------------------------------------------------------


def current_value(scenario: ts.Scenario, path: str) -> float:
    """The value of a dotted path in a scenario (a fixed weight's value)."""
    node: Any = scenario
    for part in path.split("."):
        node = node[part] if isinstance(node, Mapping) else getattr(node, part)
    if getattr(node, "dist", None) == "fixed":
        node = node.value
    if node is None:
        return 0.0
    return float(node)


def rounded(x: float) -> float:
    """A fitted value as written into a scenario file (4 significant digits)."""
    return float(f"{x:.4g}")


def overrides_of(parameters: Sequence[Parameter], values: Sequence[float]) -> dict[str, Any]:
    return {p.path: p.value(rounded(v)) for p, v in zip(parameters, values, strict=True)}


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of the mean (NaN-free values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(values.mean())
    if n < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a binomial proportion."""
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def fmt(x: float, digits: int = 3) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{digits}g}"


# ---- identification screen ----------------------------------------------------------------------


def screen(
    scenario: ts.Scenario,
    targets: ts.Targets,
    candidates: Sequence[Candidate],
    seeds: int,
    step: float = 0.1,
) -> tuple[list[Candidate], pd.DataFrame]:
    """Which candidates the targets identify, by a scaled Jacobian at the shipped values.

    Column i of the scaled Jacobian is the change of each target's simulated mean, per unit of
    the parameter times its range, divided by the target's error: how many errors the target
    moves over the parameter's whole range (linearised at the shipped value). A column-pivoted
    QR orders the parameters by the influence each adds independently of those before it; a
    parameter is kept when that influence (|R_kk|) is at least 1 error, and at most
    (targets - 1) are kept.
    """
    from talentsim.smm import conditional_means, moment_targets

    _, sigma = moment_targets(targets)
    x0 = {c.parameter.path: current_value(scenario, c.parameter.path) for c in candidates}

    def means(overrides: dict[str, Any]) -> np.ndarray:
        values = target_values(scenario, targets, seeds, root_seed=0, overrides=overrides)
        # (the mean over the seeds that define each statistic, as smm's moments: one seed
        # without a return made the whole column NaN and dropped the parameter)
        return conditional_means(values[[t.name for t in targets.targets]].to_numpy(dtype=float))

    columns, rows = [], []
    for c in candidates:
        p = c.parameter
        at = min(max(x0[p.path], p.low), p.high)
        h = step * (p.high - p.low)
        up, down = min(at + h, p.high), max(at - h, p.low)
        diff = (means({p.path: p.value(up)}) - means({p.path: p.value(down)})) / (up - down)
        scaled = diff * (p.high - p.low) / sigma
        columns.append(scaled)
        rows.append({"parameter": p.path, "shipped": x0[p.path], "low": p.low, "high": p.high})
    matrix = np.column_stack(columns)
    finite = np.all(np.isfinite(matrix), axis=0)
    usable = np.where(finite, matrix, 0.0)
    _, r, pivot = scipy.linalg.qr(usable, pivoting=True, mode="economic")
    # (NaN, shown "—", past the QR's rank: a parameter there is not measured by it)
    influence = np.full(len(candidates), np.nan)
    for k, i in enumerate(pivot[: min(r.shape)]):
        influence[i] = abs(r[k, k])
    order = {int(i): k for k, i in enumerate(pivot)}
    limit = len(targets.targets) - 1
    kept_indices = [
        int(i) for i in pivot if finite[i] and influence[i] >= 1.0 and order[int(i)] < limit
    ]
    table = pd.DataFrame(rows)
    table["norm"] = np.linalg.norm(usable, axis=0)
    table["independent_influence"] = influence
    table["qr_order"] = [order[i] for i in range(len(candidates))]
    table["identified"] = [i in kept_indices for i in range(len(candidates))]
    table["note"] = [
        "kept"
        if i in kept_indices
        else (
            "moment undefined at a step"
            if not finite[i]
            else "past the QR's rank: no independent direction of the targets left for it"
            if np.isnan(influence[i])
            else "moves the targets by less than one error, independently of those kept"
            if influence[i] < 1.0
            else "would leave no degree of freedom for the J-test"
        )
        for i in range(len(candidates))
    ]
    for k, name in enumerate(t.name for t in targets.targets):
        table[f"d[{name}]"] = matrix[k]
    kept = [candidates[i] for i in sorted(kept_indices, key=lambda i: order[i])]
    if KEEP is not None:
        kept = [c for path in KEEP for c in candidates if c.parameter.path == path]
        table["note"] = [
            f"{'kept' if c in kept else 'not kept'} (--keep; the screen: {note})"
            for c, note in zip(candidates, table["note"], strict=True)
        ]
    return kept, table


# ---- one scenario -------------------------------------------------------------------------------


def covariance(result: SMMResult) -> tuple[np.ndarray, str]:
    """The SMM covariance and a note naming the moments smm left out of it, if any.

    A statistic can be undefined on some runs (NaN: a share of moves when there is none; a
    ratio of flows is infinite when the reverse flow is zero, which is why the shipped targets
    use ``flow_share``), so a moment's derivative or simulated covariance can be undefined;
    :func:`talentsim.smm.smm` then computes the standard errors and the J-test from the other
    moments (``left_out``).
    """
    if not result.left_out:
        return result.covariance, ""
    return result.covariance, (
        "standard errors and J-test from the moments with a finite Jacobian and covariance "
        f"(left out: {', '.join(result.left_out)}; J's degrees of freedom count the others)"
    )


def wald_intervals(
    result: SMMResult, parameters: Sequence[Parameter], level: float = 0.95
) -> tuple[pd.DataFrame, str]:
    """Estimate, SE and Wald interval per parameter, from :func:`covariance`.

    With the columns of :meth:`talentsim.CalibrationResult.intervals` and ``diagnostics``:
    ``within_bounds`` (the interval lies within the parameter's search bounds; one reaching
    past them says the normal approximation is poor there, not that those values are
    plausible) and ``at_bound`` (the estimate lies within 1% of the range from a bound).
    """
    cov, note = covariance(result)
    se = np.sqrt(np.diag(cov))
    z = float(stats.norm.ppf(0.5 + level / 2))
    estimate = np.asarray(result.estimate, dtype=float)
    low, high = estimate - z * se, estimate + z * se
    table = pd.DataFrame(
        {
            "estimate": estimate,
            "se": se,
            "low": low,
            "high": high,
            "within_bounds": [
                p.contains(a, b) for p, a, b in zip(parameters, low, high, strict=True)
            ],
            "at_bound": [p.at_bound(x) for p, x in zip(parameters, estimate, strict=True)],
        },
        index=pd.Index(result.parameters, name="parameter"),
    )
    return table, note


def fit_table(scenario: ts.Scenario, targets: ts.Targets, seeds: int) -> pd.DataFrame:
    """Evaluate a scenario against targets on fresh seeds (root seed 1, not the fit's)."""
    table = ts.evaluate_targets(scenario, targets, seeds=seeds, root_seed=1)
    columns = ["target", "form", "observed", "low", "high", "mean", "ci_low", "ci_high"]
    return table[[*columns, "share_inside", "inside", "undefined"]]


@dataclass
class Fit:
    """What the pipeline found for one scenario."""

    scenario: str
    targets: str
    screen: pd.DataFrame
    kept: list[str]
    fixed: list[str]
    smm: SMMResult | None
    intervals: pd.DataFrame | None
    before: pd.DataFrame
    after: pd.DataFrame | None
    bounds_why: dict[str, str]
    bounds: dict[str, tuple[float, float]]
    seconds: float
    covariance_note: str = ""


def scenario_targets(name: str) -> Targets:
    """The targets file ``targets/<name>.toml``, with :data:`BOOMERANG_WINDOW` applied."""
    path = TARGETS / f"{name}.toml"
    if BOOMERANG_WINDOW is None:
        return load_targets(path)
    data = read_toml(path)
    for target in data["targets"]:
        if target["statistic"] == "boomerang_share":
            target["args"] = {**target.get("args", {}), "window": list(BOOMERANG_WINDOW)}
            target["applies_to"] = f"arrivals from {BOOMERANG_WINDOW[0]} to {BOOMERANG_WINDOW[1]}"
    return Targets.from_dict(data, source=f"{path} ({targets_note()})")


def targets_note() -> str:
    """How the targets differ from their file: '' or the boomerang shares' window."""
    if BOOMERANG_WINDOW is None:
        return ""
    start, end = BOOMERANG_WINDOW
    return f"boomerang shares over arrivals from {start} to {end} only"


def targets_label(fit: Fit) -> str:
    """``targets/<name>.toml``, and how the pipeline changed them, if it did."""
    note = targets_note()
    return f"targets/{fit.targets}.toml" + (f", {note}" if note else "")


class Progress(dict):
    """The SMM's cache of simulated parameter vectors, saying every ``every`` new ones how many.

    A fit at the large budget runs for many minutes in a worker process; this is its progress
    on standard output (a line, not a bar: several workers write to the same stream).
    """

    def __init__(self, name: str, started: float, every: int = 100) -> None:
        super().__init__()
        self.name, self.started, self.every = name, started, every

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) % self.every == 0:
            say(self.name, f"{len(self)} parameter vectors simulated", self.started)


def say(name: str, what: str, started: float) -> None:
    """One progress line of a scenario's fit, with the minutes since it started."""
    print(f"  {name}: {what} ({(time.perf_counter() - started) / 60:.1f} min)", flush=True)


def fit_scenario(name: str, budget: Budget) -> Fit:
    """Screen, fit and evaluate one scenario (run in a worker process)."""
    started = time.perf_counter()
    spec = SPECS[name]
    scenario = ts.load_scenario(SCENARIOS / f"{spec.scenario}.toml")
    targets = scenario_targets(spec.targets)
    before = fit_table(scenario, targets, budget.eval_seeds)
    say(name, "evaluated as shipped", started)
    kept, screened = screen(scenario, targets, spec.candidates, budget.screen_seeds)
    say(name, f"screened: {len(kept)} of {len(spec.candidates)} candidates kept", started)
    fixed = [c.parameter.path for c in spec.candidates if c not in kept]
    result = intervals = after = None
    covariance_note = ""
    if kept:
        parameters = [c.parameter for c in kept]
        result = smm(
            scenario,
            targets,
            parameters,
            replicates=budget.replicates,
            maxiter=budget.maxiter,
            popsize=budget.popsize,
            polish=budget.polish_maxiter > 0,
            polish_maxiter=max(budget.polish_maxiter, 1),
            cache=Progress(name, started),
            weighting=WEIGHTING,
        )
        say(name, f"fitted: J = {fmt(result.j_statistic)} on {result.j_df} df", started)
        intervals, covariance_note = wald_intervals(result, parameters)
        fitted = scenario.with_overrides(
            overrides_of(parameters, result.estimate), source="fitted parameters"
        )
        after = fit_table(fitted, targets, budget.eval_seeds)
    return Fit(
        scenario=name,
        targets=spec.targets,
        screen=screened,
        kept=[c.parameter.path for c in kept],
        fixed=fixed,
        smm=result,
        intervals=intervals,
        before=before,
        after=after,
        bounds_why={c.parameter.path: c.why for c in spec.candidates},
        bounds={c.parameter.path: (c.parameter.low, c.parameter.high) for c in spec.candidates},
        seconds=time.perf_counter() - started,
        covariance_note=covariance_note,
    )


def fitted_parameters(fit: Fit) -> list[Parameter]:
    """The fitted Parameters, in the order of the SMM estimate."""
    assert fit.smm is not None
    by_path = {c.parameter.path: c.parameter for c in SPECS[fit.scenario].candidates}
    return [by_path[path] for path in fit.smm.parameters]


# ---- the fitted scenario file -------------------------------------------------------------------


def _section_span(lines: list[str], header: str) -> tuple[int, int]:
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{header}]"), None)
    if start is None:
        raise ValueError(f"no [{header}] table in the scenario file")
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^\s*\[", lines[i])), len(lines)
    )
    return start, end


def _write_value(lines: list[str], path: str, text: str, note: str) -> None:
    """Set a dotted path's value in a scenario file's lines, keeping its comments."""
    parts = path.split(".")
    if parts[0] == "market":
        header, key, inner = "market", parts[1], None
    elif parts[0] in ("labs", "cohorts") and len(parts) == 3:
        header, key, inner = f"{parts[0]}.{parts[1]}", parts[2], None
    elif parts[0] == "cohorts" and parts[2] == "weights" and len(parts) == 4:
        header, key, inner = f"cohorts.{parts[1]}", "weights", parts[3]
    else:
        raise ValueError(f"cannot write {path} into a scenario file")
    start, end = _section_span(lines, header)
    pattern = re.compile(rf"^(\s*){re.escape(key)}\s*=\s*")
    where = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
    if inner is None:
        line = f"{key} = {text}"
        if where is None:
            lines.insert(start + 1, f"{line}   # {note}")
            _mark_default_reasoning(lines, start + 2, end + 1, key)
        else:
            body, _, comment = lines[where].partition("#")
            shipped = pattern.sub("", body).strip()
            lines[where] = f"{line}   # {note}" + (
                f"; shipped comment: {comment.strip()}" if comment.strip() else ""
            )
            _mark_shipped_reasoning(lines, where, f"{key} = {shipped}")
        return
    if where is None:
        lines.insert(start + 1, f"weights = {{ {inner} = {text} }}   # {note}")
        return
    body, _, comment = lines[where].partition("#")
    entry = re.compile(rf"(\b{re.escape(inner)}\s*=\s*)([^,}}]+)")
    found = entry.search(body)
    if found:
        body = entry.sub(lambda m: f"{m.group(1)}{text} ", body, count=1)
    else:
        body = body.replace("{", f"{{ {inner} = {text},", 1)
    lines[where] = body.rstrip() + f"   # {note}" + (f"; {comment.strip()}" if comment else "")
    if found:
        _mark_shipped_reasoning(lines, where, f"weights.{inner} = {found.group(2).strip()}")


def _mark_default_reasoning(lines: list[str], start: int, end: int, key: str) -> None:
    """Say that a comment about an unset key (left at its default) is about the shipped file.

    A shipped file may explain why it leaves a key at its default ("rehire_rate is left at its
    default, 1"); once the key is fitted and written at the top of its table, that comment
    would contradict the value. A line after each comment block in ``lines[start:end]`` that
    names the key says so.
    """
    word = re.compile(rf"\b{re.escape(key)}\b")
    i = start
    while i < end:
        if not lines[i].lstrip().startswith("#"):
            i += 1
            continue
        block_end = i
        while block_end < end and lines[block_end].lstrip().startswith("#"):
            block_end += 1
        if any(word.search(lines[j]) for j in range(i, block_end)):
            lines.insert(
                block_end,
                f"# (The comment above is about the shipped file, which leaves {key} at its "
                "default; the value at the top of this table is fitted to the targets.)",
            )
            end += 1
            block_end += 1
        i = block_end


def _mark_shipped_reasoning(lines: list[str], where: int, shipped: str) -> None:
    """Say that the comment block above a fitted key argued for its shipped value.

    The shipped file's comments explain the hand-set number ("6/year because ..."); left as
    they are above a fitted value, they would read as the reason for the new number.
    """
    if where > 0 and lines[where - 1].lstrip().startswith("#"):
        indent = lines[where][: len(lines[where]) - len(lines[where].lstrip())]
        lines.insert(
            where,
            f"{indent}# (The comment above argues for the shipped value, {shipped}; the value "
            "below is fitted to the targets.)",
        )


def write_fitted(fit: Fit, destination: Path, provenance: Mapping[str, str]) -> Path:
    """Write the fitted scenario: the shipped file with the estimates and their provenance."""
    assert fit.smm is not None and fit.intervals is not None
    source = SCENARIOS / f"{fit.scenario}.toml"
    lines = source.read_text(encoding="utf-8").splitlines()
    parameters = fitted_parameters(fit)
    for p in parameters:
        row = fit.intervals.loc[p.path]
        value = p.value(rounded(row["estimate"]))
        text = f'"{value}"' if isinstance(value, str) else repr(value)
        note = (
            f"fitted (SMM): {rounded(row['estimate'])} ± {rounded(row['se'])} (SE), 95% "
            f"[{rounded(row['low'])}, {rounded(row['high'])}], bounds [{p.low}, {p.high}]"
        )
        _write_value(lines, p.path, text, note)
    header = [
        f"# FITTED: {fit.scenario} with parameters estimated by the method of simulated moments.",
        f"# Generated by examples/fit_shipped/fit.py on {provenance['date']} (talentsim "
        f"{provenance['version']}, commit {provenance['commit']}, budget {provenance['budget']}).",
        f"# Targets: {targets_label(fit)} (public figures; see each target's source).",
        f"# SMM: R = {fit.smm.replicates} common replicate seeds, {fit.smm.evaluations} parameter "
        f"vectors simulated{'' if fit.smm.weighting == 'diagonal' else ', efficient weighting'}; "
        f"J = {fmt(fit.smm.j_statistic)} on {fit.smm.j_df} df (p = {fmt(fit.smm.j_pvalue)}).",
        "# Fitted (estimate ± SE, 95% Wald interval):",
    ]
    for path, row in fit.intervals.iterrows():
        header.append(
            f"#   {path} = {rounded(row['estimate'])} ± {rounded(row['se'])} "
            f"[{rounded(row['low'])}, {rounded(row['high'])}]"
        )
    if fit.fixed:
        header.append("# Not identified by the targets, left at their shipped values (fixed):")
        header.extend(f"#   {path}" for path in fit.fixed)
    header.append("# Everything else is as shipped (scenarios/" + fit.scenario + ".toml).")
    header.append("")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    # The file must load to exactly the fitted scenario.
    written = ts.load_scenario(destination)
    expected = ts.load_scenario(source).with_overrides(
        overrides_of(parameters, [fit.intervals.loc[p.path, "estimate"] for p in parameters])
    )
    for p in parameters:
        got, want = current_value(written, p.path), current_value(expected, p.path)
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            raise RuntimeError(f"{destination}: {p.path} reads {got}, expected {want}")
    return destination


# ---- the flagship's predictions -----------------------------------------------------------------


def core_retention_26w(result: ts.RunResult) -> float:
    """Share of MSL's starting core still there (never left) after 26 weeks."""
    return result.retention("MSL", cohorts=CORE, at=26 * WEEK)


def core_loss_1y(result: ts.RunResult) -> float:
    """Share of MSL's starting core who left within the year."""
    return 1.0 - result.retention("MSL", cohorts=CORE, at=YEAR)


def msl_arrivals(result: ts.RunResult) -> float:
    """Arrivals at MSL over the year (from the pool, from labs and returns)."""
    return float(result.summary()["hires.MSL"])


def msl_from_pool(result: ts.RunResult) -> float:
    """Arrivals at MSL from the outside pool over the year."""
    events = result.events
    return float(((events["destination"] == "MSL") & (events["origin"] == "outside")).sum())


def msl_fill(result: ts.RunResult) -> float:
    """MSL's headcount at the end of the year over its capacity."""
    summary = result.summary()
    return float(summary["headcount_end.MSL"]) / float(result.scenario.labs["MSL"].capacity)


PREDICTIONS: dict[str, Callable[[ts.RunResult], float]] = {
    "core_loss_1y": core_loss_1y,
    "msl_arrivals_1y": msl_arrivals,
    "msl_from_pool_1y": msl_from_pool,
    "msl_fill_1y": msl_fill,
}


def run_predictions(scenario: ts.Scenario, seeds: Sequence[int], facts: ts.Targets) -> pd.DataFrame:
    """Per seed: the article's counts and the predictions, on the one-year scenario."""
    rows = []
    for seed in seeds:
        result = ts.run(scenario, seed=seed)
        from talentsim.run_statistics import RunArrays

        arrays = RunArrays.of(result)
        row: dict[str, float] = {"seed": seed}
        for target in facts.targets:
            row[target.name] = float(target.compute(result, arrays))
        for name, function in PREDICTIONS.items():
            row[name] = function(result)
        reasons = result.exit_reasons(by=("lab", "cohort"))
        core = reasons[(reasons["lab"] == "MSL") & reasons["cohort"].isin(CORE)]
        for reason, count in core.groupby("reason", observed=True)["count"].sum().items():
            row[f"reason:{reason}"] = float(count)
        rows.append(row)
    return pd.DataFrame(rows).fillna(0.0)


def fact_holds(values: pd.DataFrame, facts: ts.Targets) -> pd.DataFrame:
    """Per run, whether each of the article's facts holds (value at least its bound)."""
    out = pd.DataFrame(index=values.index)
    for target in facts.targets:
        assert target.at_least is not None
        out[target.name] = values[target.name] >= target.at_least
    out["all three"] = out.all(axis=1)
    return out


def probability_table(holds: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for label, table in holds.items():
        for fact in table.columns:
            k, n = int(table[fact].sum()), len(table)
            low, high = wilson(k, n)
            rows.append(
                {
                    "where": label,
                    "fact": fact,
                    "runs": n,
                    "probability": k / n,
                    "low": low,
                    "high": high,
                }
            )
    return pd.DataFrame(rows)


def prediction_table(values: Mapping[str, pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    rows = []
    for label, table in values.items():
        for column in columns:
            data = table[column].to_numpy(dtype=float)
            m, lo, hi = mean_ci(data)
            rows.append(
                {
                    "where": label,
                    "statistic": column,
                    "mean": m,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p2.5": float(np.percentile(data, 2.5)),
                    "p97.5": float(np.percentile(data, 97.5)),
                }
            )
    return pd.DataFrame(rows)


def draw_confidence_set(fit: Fit, draws: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Parameter vectors from the asymptotic normal of the SMM estimate, clipped to bounds."""
    assert fit.smm is not None
    ordered = fitted_parameters(fit)
    cov, _ = covariance(fit.smm)
    if not np.all(np.isfinite(cov)):
        return []
    samples = rng.multivariate_normal(fit.smm.estimate, cov, size=draws, check_valid="ignore")
    lows = np.array([p.low for p in ordered])
    highs = np.array([p.high for p in ordered])
    samples = np.clip(samples, lows, highs)
    return [overrides_of(ordered, sample) for sample in samples]


def verdict(low: float, high: float, bound: float) -> str:
    """Whether "below ``bound``" holds given a 95% interval: yes, no, or undecided.

    "yes" only if the whole interval is below the bound, "no" if none of it is, "undecided"
    if it straddles the bound or is not defined (a point estimate below the bound with an
    interval that crosses it is not evidence that the fact holds).
    """
    if high < bound:
        return "yes"
    if low >= bound:
        return "no"
    return "undecided"


def retention_ratio_curve(
    scenario: ts.Scenario,
    weights: Sequence[float],
    seeds: int,
    executor: Executor | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The "money isn't enough" ratio over the core cohorts' pay weight.

    For each weight, the core's retention at 26 weeks gained by doubling MSL's pay, over the
    gain from removing the reorganisations (docs/case-msl.md, fact 5), on common seeds; the
    95% interval of the ratio is a paired bootstrap over seeds; ``holds`` is
    :func:`verdict` of that interval against 0.5.
    """
    rows = []
    pay = scenario.labs["MSL"].pay_level
    for w in weights:
        base = scenario.with_overrides({f"cohorts.{c}.weights.pay": w for c in CORE})
        comparison = ts.compare(
            base,
            {"pay_x2": {"labs.MSL.pay_level": 2 * pay}, "no_reorganisations": NO_REORGANISATIONS},
            seeds=seeds,
            metrics={"core_retention_26w": core_retention_26w},
            executor=executor,
        )
        runs = comparison.runs.pivot(index="seed", columns="variant", values="core_retention_26w")
        pay_gain = (runs["pay_x2"] - runs["baseline"]).to_numpy()
        reorg_gain = (runs["no_reorganisations"] - runs["baseline"]).to_numpy()
        ratio = pay_gain.mean() / reorg_gain.mean()
        n = len(pay_gain)
        boot = []
        for _ in range(2000):
            pick = rng.integers(0, n, n)
            denominator = reorg_gain[pick].mean()
            boot.append(pay_gain[pick].mean() / denominator if denominator else np.nan)
        low, high = np.nanpercentile(boot, [2.5, 97.5])
        rows.append(
            {
                "pay_weight": w,
                "pay_x2_gain": pay_gain.mean(),
                "no_reorg_gain": reorg_gain.mean(),
                "ratio": ratio,
                "low": low,
                "high": high,
                "holds": verdict(low, high, 0.5),
            }
        )
    return pd.DataFrame(rows)


def plot_ratio(curves: Mapping[str, pd.DataFrame], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for (label, curve), marker in zip(curves.items(), ("o", "s"), strict=False):
        axis.errorbar(
            curve["pay_weight"],
            curve["ratio"],
            yerr=[curve["ratio"] - curve["low"], curve["high"] - curve["ratio"]],
            marker=marker,
            capsize=3,
            label=label,
        )
    axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.text(axis.get_xlim()[0], 0.52, "fact 5 holds below 0.5", color="grey", fontsize=8)
    axis.set_xlabel("pay weight of MSL's core cohorts (veterans and poached stars)")
    axis.set_ylabel("retention gain: pay ×2 / no reorganisations")
    axis.set_title("Money isn't enough? Core retention at 26 weeks", fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def first_year_loss_drivers(
    shipped: ts.Scenario, fitted_overrides: Mapping[str, Any], seeds: int, executor: Executor | None
) -> pd.DataFrame:
    """Which fitted parameter moved MSL's first-year core loss (one at a time, common seeds)."""
    variants: dict[str, dict[str, Any]] = {
        f"only {path}": {path: value} for path, value in fitted_overrides.items()
    }
    variants["all fitted"] = dict(fitted_overrides)
    comparison = ts.compare(
        shipped,
        variants,
        seeds=seeds,
        metrics={"core_loss_1y": core_loss_1y},
        executor=executor,
    )
    effects = comparison.effects
    table = effects[effects["metric"] == "core_loss_1y"].copy()
    keep = [
        c
        for c in ("variant", "baseline", "variant_mean", "effect", "ci_low", "ci_high")
        if c in table
    ]
    return table[keep] if keep else table


# ---- the run ----------------------------------------------------------------------------------


def provenance(budget_name: str) -> dict[str, str]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += "+changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": ts.__version__,
        "commit": commit,
        "budget": budget_name,
    }


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency)."""

    def cell(x: Any) -> str:
        if isinstance(x, bool | np.bool_):
            return "yes" if x else "no"
        if isinstance(x, float | np.floating):
            return "—" if math.isnan(x) else fmt(float(x), digits)  # (a band has no value)
        return str(x)

    columns = list(table.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def describe_fit(fit: Fit) -> str:
    out = [f"## {fit.scenario} ({targets_label(fit)})", ""]
    out.append(f"Pipeline time for this scenario: {fit.seconds:.0f} s.")
    out.append("")
    out.append("### Identification screen (scaled Jacobian at the shipped values)")
    out.append("")
    columns = ["parameter", "shipped", "low", "high", "norm", "independent_influence", "note"]
    out.append(markdown(fit.screen[columns]))
    out.append("")
    out.append(
        "Bounds: "
        + "; ".join(
            f"`{p}` [{lo:g}, {hi:g}]: {fit.bounds_why[p]}" for p, (lo, hi) in fit.bounds.items()
        )
    )
    out.append("")
    out.append("### Before the fit (as shipped; fresh seeds)")
    out.append("")
    out.append(markdown(fit.before))
    out.append("")
    if fit.smm is None or fit.intervals is None or fit.after is None:
        out.append("No parameter identified: nothing fitted.")
        return "\n".join(out)
    out.append("### Estimates (95% Wald intervals)")
    out.append("")
    out.append(markdown(fit.intervals.reset_index(), 4))
    out.append("")
    flagged = fit.intervals[~fit.intervals["within_bounds"] | fit.intervals["at_bound"]]
    if len(flagged):
        out.append(
            "Not a range of plausible values where `within_bounds` is False or `at_bound` is "
            "True (" + ", ".join(flagged.index) + "): the estimate sits at or near a search "
            "bound, or the parameter is weakly identified, and the normal approximation "
            "behind the Wald interval is poor there; read the interval's side away from the "
            "bound, and the standard error as 'not pinned down at the estimate'."
        )
        out.append("")
    out.append(
        f"J = {fmt(fit.smm.j_statistic)} on {fit.smm.j_df} df, p = {fmt(fit.smm.j_pvalue)} "
        f"(R = {fit.smm.replicates}, {fit.smm.evaluations} parameter vectors, "
        f"{fit.smm.weighting} weighting). Fixed (not "
        f"identified): {', '.join(fit.fixed) or 'none'}."
        + (f" Note: {fit.covariance_note}." if fit.covariance_note else "")
    )
    out.append("")
    out.append("### After the fit (fresh seeds)")
    out.append("")
    out.append(markdown(fit.after))
    out.append("")
    return "\n".join(out)


def flagship_story(
    fit: Fit, budget: Budget, executor: Executor | None, out: Path, predict_seeds: int
) -> tuple[str, dict[str, Any], Path | None]:
    """The flagship's facts, predictions, drivers, ratio curve and exit reasons."""
    assert fit.smm is not None
    shipped = ts.load_scenario(SCENARIOS / "msl_exodus.toml")
    facts = load_targets(TARGETS / "msl.toml")
    fitted_overrides = overrides_of(fitted_parameters(fit), list(fit.smm.estimate))
    fitted = shipped.with_overrides(fitted_overrides, source="fitted parameters")
    rng = np.random.default_rng(2026)
    seeds = ts.seeds.seed_list(predict_seeds, 7)
    values = {
        "shipped": run_predictions(shipped, seeds, facts),
        "fitted": run_predictions(fitted, seeds, facts),
    }
    draws = draw_confidence_set(fit, budget.draws, rng)
    per_draw = []
    for j, overrides in enumerate(draws):
        scenario = shipped.with_overrides(overrides, source="draw from the SMM confidence set")
        table = run_predictions(scenario, ts.seeds.seed_list(budget.draw_seeds, 1000 + j), facts)
        table["draw"] = j
        per_draw.append(table)
    if per_draw:
        values["confidence set"] = pd.concat(per_draw, ignore_index=True).fillna(0.0)
    holds = {label: fact_holds(table, facts) for label, table in values.items()}
    probabilities = probability_table(holds)
    if per_draw:
        by_draw = holds["confidence set"].groupby(values["confidence set"]["draw"]).mean()
        spread = (
            "Across the confidence set, the probability per drawn parameter vector that all "
            f"three facts hold ranges from {fmt(by_draw['all three'].min())} to "
            f"{fmt(by_draw['all three'].max())} (median {fmt(by_draw['all three'].median())})."
        )
    else:
        spread = "No confidence set: the estimate has no finite covariance."
    statistics = [t.name for t in facts.targets] + list(PREDICTIONS)
    predictions = prediction_table(values, statistics)
    reason_columns = sorted(
        {c for table in values.values() for c in table if c.startswith("reason:")}
    )
    reasons = pd.DataFrame(
        {
            label: [table.get(c, pd.Series(0.0)).sum() for c in reason_columns]
            for label, table in values.items()
        },
        index=[c.removeprefix("reason:") for c in reason_columns],
    )
    shares = reasons / reasons.sum()
    shares["article's cause"] = [ARTICLE_CAUSES.get(r, "") for r in shares.index]
    shares = shares.sort_values("fitted", ascending=False)
    drivers = first_year_loss_drivers(shipped, fitted_overrides, budget.comparison_seeds, executor)
    curves = {
        "fitted": retention_ratio_curve(
            fitted, budget.pay_weights, budget.comparison_seeds, executor, rng
        ),
        "shipped": retention_ratio_curve(
            shipped, budget.pay_weights, budget.comparison_seeds, executor, rng
        ),
    }
    figure = plot_ratio(curves, out / FIGURE)
    text = [
        "## The flagship's thesis, measured",
        "",
        f"Runs of one year (the scenario's own duration). 'shipped' and 'fitted': {predict_seeds} "
        f"seeds each (the same seeds); 'confidence set': {budget.draws} parameter vectors drawn "
        f"from the asymptotic normal of the SMM estimate (clipped to the bounds), "
        f"{budget.draw_seeds} seeds each. Probabilities with 95% Wilson intervals.",
        "",
        "### The article's facts (targets/msl.toml) as probabilities",
        "",
        markdown(probabilities),
        "",
        spread,
        "",
        "### Predictions (not fitted): counts, MSL's first-year loss and refilling",
        "",
        "mean with its 95% t-interval; p2.5-p97.5: the spread of single runs.",
        "",
        markdown(predictions),
        "",
        "### What moved the first-year core loss (one fitted parameter at a time, common seeds)",
        "",
        markdown(drivers.reset_index(drop=True)),
        "",
        "### 'Money isn't enough' over the core's pay weight (fact 5 of docs/case-msl.md)",
        "",
        "Ratio of the core's retention at 26 weeks gained by doubling MSL's pay to that gained "
        "by removing the reorganisations; 95% paired-bootstrap intervals; fact 5 needs < 0.5 "
        "(holds: yes if the whole interval is below 0.5, undecided if it straddles 0.5).",
        "",
        "fitted:",
        "",
        markdown(curves["fitted"]),
        "",
        "shipped:",
        "",
        markdown(curves["shipped"]),
        "",
        f"![ratio over pay weight]({figure.name})",
        "",
        "### Why MSL's core left (main reason, share of departures over the year, pooled)",
        "",
        markdown(shares.reset_index(names="reason")),
        "",
    ]
    numbers = {
        "probabilities": probabilities.to_dict(orient="records"),
        "predictions": predictions.to_dict(orient="records"),
        "drivers": drivers.to_dict(orient="records"),
        "ratio_fitted": curves["fitted"].to_dict(orient="records"),
        "ratio_shipped": curves["shipped"].to_dict(orient="records"),
        "reasons": shares.reset_index(names="reason").to_dict(orient="records"),
    }
    return "\n".join(text), numbers, figure


FIGURE = "msl_fitted_pay_weight.png"


def publish(out: Path) -> None:
    """Copy a pipeline's output into the repository: scenarios/fitted/, docs/.

    A run stopped before its end (the fits run in parallel) left the sections of the fits it
    finished in ``out/sections``; the published report is then assembled from them and says
    it is partial.
    """
    fitted = SCENARIOS / "fitted"
    fitted.mkdir(exist_ok=True)
    for path in sorted((out / "fitted").glob("*.toml")):
        shutil.copyfile(path, fitted / path.name)
    if (out / "results.json").exists():
        shutil.copyfile(out / "results.json", fitted / "fit_results.json")
    if (out / "report.md").exists():
        report = (out / "report.md").read_text(encoding="utf-8")
    else:
        done = [name for name in SPECS if (out / "sections" / f"{name}.md").exists()]
        parts = [
            "# Fitted shipped scenarios: the pipeline's report (partial)",
            "",
            "Assembled from the sections the run finished (`fit.py --publish-only`); not "
            f"finished: {', '.join(n for n in SPECS if n not in done) or 'none'}.",
            "",
        ]
        for name in done:
            parts.append((out / "sections" / f"{name}.md").read_text(encoding="utf-8"))
            story = out / "sections" / f"{name}_story.md"
            if story.exists():
                parts.append(story.read_text(encoding="utf-8"))
        report = "\n".join(parts) + "\n"
    if (out / FIGURE).exists():
        shutil.copyfile(out / FIGURE, ROOT / "docs" / "figures" / FIGURE)
        report = report.replace(f"]({FIGURE})", f"](figures/{FIGURE})")
    (ROOT / "docs" / "fit-report.md").write_text(report, encoding="utf-8")
    print(f"published: {fitted}/, docs/fit-report.md, docs/figures/{FIGURE}")


def main(argv: list[str] | None = None) -> dict[str, Fit]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_budget = os.environ.get("TALENTSIM_EXAMPLE_BUDGET", "default")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default=default_budget)
    parser.add_argument(
        "--workers",
        type=positive_integer,
        default=None,
        help="worker processes (default: 2; 1 for tiny)",
    )
    parser.add_argument("--out", type=output_folder, default=str(ROOT / "results" / "fit_shipped"))
    parser.add_argument(
        "--seeds", type=positive_integer, default=None, help="seeds of the flagship's predictions"
    )
    parser.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated (default: all; with the tiny budget, msl_exodus and reorg_shock)",
    )
    parser.add_argument(
        "--publish", action="store_true", help="copy results into scenarios/fitted, docs/"
    )
    parser.add_argument(
        "--publish-only",
        action="store_true",
        help="publish the results already in --out, without running anything",
    )
    parser.add_argument(
        "--boomerang-window",
        default=None,
        metavar="START,END",
        help="a sensitivity analysis: boomerang-share targets count only arrivals in this "
        "window of the run, e.g. 1y,3y (not publishable)",
    )
    parser.add_argument(
        "--keep",
        default=None,
        metavar="PATH,...",
        help="a sensitivity analysis: fit these candidate parameters whatever the "
        "identification screen keeps (one scenario; not publishable)",
    )
    parser.add_argument(
        "--weighting",
        choices=["diagonal", "efficient"],
        default="diagonal",
        help="the SMM weighting (diagonal, published); efficient: two-step GMM, a robustness "
        "check (not publishable)",
    )
    args = parser.parse_args(argv)
    if args.keep is not None:
        global KEEP
        KEEP = [part.strip() for part in args.keep.split(",") if part.strip()]
        if args.publish or args.publish_only:
            parser.error("--keep is a sensitivity analysis: it cannot be published")
        only = [n.strip() for n in (args.scenarios or "").split(",") if n.strip()]
        if len(only) != 1 or only[0] not in SPECS:
            parser.error("--keep needs one scenario: --scenarios NAME")
        paths = [c.parameter.path for c in SPECS[only[0]].candidates]
        unknown = [path for path in KEEP if path not in paths]
        if unknown or not KEEP:
            parser.error(f"--keep: {unknown or 'nothing'} not among the candidates {paths}")
    if args.weighting != "diagonal" and (args.publish or args.publish_only):
        parser.error("--weighting efficient is a robustness check: it cannot be published")
    global WEIGHTING
    WEIGHTING = args.weighting
    if args.boomerang_window is not None:
        window = [part.strip() for part in args.boomerang_window.split(",")]
        if len(window) != 2 or not all(window):
            parser.error(f"--boomerang-window: expected START,END such as 1y,3y, got {window}")
        if args.publish or args.publish_only:
            parser.error("--boomerang-window is a sensitivity analysis: it cannot be published")
        global BOOMERANG_WINDOW
        BOOMERANG_WINDOW = window
    if args.budget not in BUDGETS:
        parser.error(f"unknown budget {args.budget!r} (TALENTSIM_EXAMPLE_BUDGET?)")
    if args.publish and args.budget != PUBLISHED_BUDGET:
        parser.error(
            f"--publish: the published numbers are of the {PUBLISHED_BUDGET!r} budget (the docs "
            f"quote them); a {args.budget!r} fit is a quick look: write it to --out and read "
            f"its report, or add --budget {PUBLISHED_BUDGET}"
        )
    if args.publish_only:
        found = Path(args.out) / "results.json"
        budget_run = json.loads(found.read_text("utf-8")).get("budget") if found.exists() else None
        if budget_run is not None and budget_run != asdict(BUDGETS[PUBLISHED_BUDGET]):
            parser.error(
                f"--publish-only: {found} is not of the {PUBLISHED_BUDGET!r} budget that the "
                "published numbers are of"
            )
    budget = BUDGETS[args.budget]
    chosen = args.scenarios or (
        "msl_exodus,reorg_shock" if args.budget == "tiny" else ",".join(SPECS)
    )
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SPECS)}")
    for name in names if BOOMERANG_WINDOW is not None else ():
        scenario_targets(SPECS[name].targets)  # (a bad window: an error before any work)
    workers = args.workers or (1 if args.budget == "tiny" else 2)
    predict_seeds = args.seeds if args.seeds is not None else budget.predict_seeds
    out = Path(args.out)
    if args.publish_only:
        publish(out)
        return {}
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    where = provenance(args.budget)
    print(f"fit_shipped: budget {args.budget} {asdict(budget)}, {workers} worker(s)")

    fits: dict[str, Fit] = {}
    sections: dict[str, str] = {}
    numbers: dict[str, Any] = {}
    (out / "sections").mkdir(exist_ok=True)

    def record(fit: Fit) -> None:
        """Write a finished fit's section, fitted scenario and numbers at once."""
        fits[fit.scenario] = fit
        sections[fit.scenario] = describe_fit(fit)
        print(sections[fit.scenario], flush=True)
        (out / "sections" / f"{fit.scenario}.md").write_text(sections[fit.scenario], "utf-8")
        if fit.smm is not None:
            write_fitted(fit, out / "fitted" / f"{fit.scenario}_fitted.toml", where)
        numbers[fit.scenario] = {
            "kept": fit.kept,
            "fixed": fit.fixed,
            "estimates": None
            if fit.intervals is None
            else fit.intervals.reset_index().to_dict(orient="records"),
            "covariance_note": fit.covariance_note,
            "j": None if fit.smm is None else [fit.smm.j_statistic, fit.smm.j_df, fit.smm.j_pvalue],
            "before": fit.before.to_dict(orient="records"),
            "after": None if fit.after is None else fit.after.to_dict(orient="records"),
            "seconds": fit.seconds,
        }

    def story(fit: Fit) -> None:
        """The flagship's story, in this process (serial), as soon as its fit is done."""
        if fit.scenario != "msl_exodus" or fit.smm is None:
            return
        text, found, _ = flagship_story(fit, budget, None, out, predict_seeds)
        sections["msl_exodus:story"] = text
        (out / "sections" / "msl_exodus_story.md").write_text(text, "utf-8")
        print(text, flush=True)
        numbers["msl_exodus"]["story"] = found

    if workers == 1:
        for name in names:
            record(fit_scenario(name, budget))
            story(fits[name])
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            futures = [pool.submit(fit_scenario, name, budget) for name in names]
            for future in as_completed(futures):
                record(future.result())
                story(fits[future.result().scenario])
    # The first run of the fitted flagship (or of the first scenario fitted) goes to --out.
    first_name = "msl_exodus" if "msl_exodus" in fits else names[0]
    first_fit = fits[first_name]
    first_scenario = ts.load_scenario(SCENARIOS / f"{first_name}.toml")
    if first_fit.smm is not None:
        first_scenario = first_scenario.with_overrides(
            overrides_of(fitted_parameters(first_fit), list(first_fit.smm.estimate))
        )
    first_seed = ts.seeds.seed_list(1, 7)[0]
    with tempfile.TemporaryDirectory() as folder:
        saved = ts.run(first_scenario, seed=first_seed).save(Path(folder) / "run")
        shutil.copytree(saved, out, dirs_exist_ok=True)
    print(f"first {first_name} run (fitted) saved to {out} (seed {first_seed})")
    ordered = []
    for name in names:
        ordered.append(sections[name])
        if name == "msl_exodus" and "msl_exodus:story" in sections:
            ordered.append(sections["msl_exodus:story"])
    elapsed = time.perf_counter() - started
    head = [
        "# Fitted shipped scenarios: the pipeline's report",
        "",
        f"Generated by `python examples/fit_shipped/fit.py --budget {args.budget}"
        + (f" --scenarios {args.scenarios}" if args.scenarios else "")
        + (f" --boomerang-window {args.boomerang_window}" if args.boomerang_window else "")
        + (f" --keep {args.keep}" if args.keep else "")
        + (f" --weighting {args.weighting}" if args.weighting != "diagonal" else "")
        + f"` on "
        f"{where['date']} (talentsim {where['version']}, commit {where['commit']}); "
        f"{workers} worker process(es); {elapsed / 60:.1f} minutes in all. Budget: "
        f"{asdict(budget)}.",
        "",
    ]
    report = "\n".join(head + ordered) + "\n"
    (out / "report.md").write_text(report, encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps(
            {"provenance": where, "budget": asdict(budget), "minutes": elapsed / 60, **numbers},
            default=float,
            indent=1,
        ),
        encoding="utf-8",
    )
    if args.publish:
        publish(out)
    print(f"done in {elapsed / 60:.1f} minutes; report: {out / 'report.md'}")
    return fits


if __name__ == "__main__":
    raise SystemExit(run_script(main))
