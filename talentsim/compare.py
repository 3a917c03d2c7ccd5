"""Paired "what if" comparisons under common random numbers.

``compare(scenario, variants, seeds)`` runs the baseline scenario and each variant (a set of
dotted-path overrides) with the same seeds. Every decision draw is a keyed hash of (researcher,
step, purpose) whatever the scenario (see :mod:`talentsim.model`), so a baseline run and
a variant run with the same seed differ only through the change itself, as far as the model
allows: once people's paths diverge, their later draws are used for different choices. The
effect of a variant on a metric is the mean paired difference with a t confidence interval and
a paired t-test.

Capacity can decide an effect: a variant that makes a full lab more attractive changes who is
turned away, not who arrives. :meth:`Comparison.capacity_absorbed` finds the labs where a
variant's effect on arrivals is largely absorbed by capacity — its effect on
``blocked_by_capacity.LAB`` is significant (the confidence interval excludes 0) and at least
:data:`ABSORBED_SHARE` times its effect on ``hires.LAB`` in size — and :func:`compare` warns
about them (a :class:`CapacityWarning`), so that "no effect on hires" is not read where the cap
decided.

References:
    Law, A. M. (2015). *Simulation Modeling and Analysis*, 5th ed., §11.2 (common random
    numbers and paired-t confidence intervals).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talentsim.experiments import refuse_while_a_worker_starts
from talentsim.interrupts import gather
from talentsim.progress import Progress
from talentsim.results import (
    MetricSpec,
    atomic_folder,
    check_metrics,
    check_picklable,
    metric_values,
    read_csv_file,
    read_json_file,
    run,
)
from talentsim.scenario import Scenario, ScenarioError, as_scenario
from talentsim.seeds import seed_list

BASELINE = "baseline"
#: What marks a folder as an earlier comparison (``save(overwrite=True)`` replaces only it).
COMPARISON_MARKERS = ("comparison.json",)

ABSORBED_SHARE = 0.5
"""A variant's effect at a lab counts as absorbed by capacity when its effect on
``blocked_by_capacity.LAB`` is significant and at least this share of its effect on
``hires.LAB`` in size (comparable to it, or larger)."""


class CapacityWarning(UserWarning):
    """A comparison's effect on a lab's arrivals is largely absorbed by the lab's capacity."""


def format_p_value(p: float) -> str:
    """A p-value as people read it: never ``0``, since a t-test's p-value never is.

    ``< 1e-4`` below that, two significant digits above, ``—`` when undefined (NaN).
    """
    if p != p:
        return "—"
    if p < 1e-4:
        return "< 1e-4"
    return f"{p:.2g}"


def format_number(x: float, spec: str = ".3g") -> str:
    """``format(x, spec)`` without a negative zero (``-0``, ``-0.00``, ``+0`` → ``0``...)."""
    text = format(x, spec)
    if x == x and float(text.replace("+", "")) == 0:
        return format(0.0, spec.replace("+", ""))
    return text


def headline_metrics(scenario: Scenario) -> list[str]:
    """The metrics a comparison shows by default.

    Attrition and net flow per lab, people turned away by each lab with a capacity
    (``blocked_by_capacity.LAB``), boomerangs, early exits and moves.
    """
    labs = scenario.lab_names
    per_lab = [f"{m}.{lab}" for m in ("attrition", "net_flow") for lab in labs]
    capped = [
        f"blocked_by_capacity.{name}"
        for name, lab in scenario.labs.items()
        if lab.capacity is not None
    ]
    return [*per_lab, *capped, "boomerangs", "early_exits", "moves"]


@dataclass
class Comparison:
    """Paired runs of a baseline and its variants, and the estimated effects.

    Attributes:
        runs: One row per run: ``variant``, ``replicate``, ``seed`` and one column per metric.
        effects: One row per (variant, metric): ``baseline_mean``, ``variant_mean``,
            ``effect`` (mean paired difference, variant − baseline), ``ci_low``, ``ci_high``
            (t interval at ``confidence``), ``se`` (standard error of the effect),
            ``se_independent`` (what the standard error would be without pairing, for
            comparison), ``p_value`` (paired t-test of that row alone, not adjusted for the
            table's other rows; NaN when all differences are equal), ``p_holm`` (Holm's
            adjustment over every row of the table with a test: with many metrics and variants
            some raw p-values fall below 0.05 by chance alone; ``metrics=`` names a smaller
            family) and ``n`` (seeds).
        variants: The overrides of each variant.
        confidence: Confidence level of the intervals.
        scenario: The baseline scenario.
    """

    runs: pd.DataFrame
    effects: pd.DataFrame
    variants: dict[str, dict[str, Any]]
    confidence: float
    scenario: Scenario
    metadata: dict[str, Any] = field(default_factory=dict)

    def effect(self, variant: str, metric: str) -> pd.Series:
        """The effect row of one variant on one metric."""
        rows = self.effects[
            (self.effects["variant"] == variant) & (self.effects["metric"] == metric)
        ]
        if rows.empty:
            raise KeyError(f"no effect for variant {variant!r} and metric {metric!r}")
        return rows.iloc[0]

    def capacity_absorbed(self) -> pd.DataFrame:
        """The (variant, lab) pairs whose effect on arrivals capacity largely absorbed.

        A pair is listed when the variant's effect on ``blocked_by_capacity.LAB`` has a
        confidence interval that excludes 0 and is at least :data:`ABSORBED_SHARE` times its
        effect on ``hires.LAB`` in size. Needs both metrics among the compared ones (they are
        by default). Columns: ``variant``, ``lab``, ``hires_effect``, ``blocked_effect``,
        ``blocked_ci_low``, ``blocked_ci_high``.
        """
        rows = []
        effects = self.effects.set_index(["variant", "metric"])
        for variant in self.variants:
            for lab in self.scenario.lab_names:
                blocked_key = (variant, f"blocked_by_capacity.{lab}")
                hires_key = (variant, f"hires.{lab}")
                if blocked_key not in effects.index or hires_key not in effects.index:
                    continue
                blocked, hires = effects.loc[blocked_key], effects.loc[hires_key]
                low, high = float(blocked["ci_low"]), float(blocked["ci_high"])
                significant = low > 0 or high < 0
                size = abs(float(blocked["effect"]))
                if significant and size >= ABSORBED_SHARE * abs(float(hires["effect"])):
                    rows.append(
                        {
                            "variant": variant,
                            "lab": lab,
                            "hires_effect": float(hires["effect"]),
                            "blocked_effect": float(blocked["effect"]),
                            "blocked_ci_low": low,
                            "blocked_ci_high": high,
                        }
                    )
        columns = ["variant", "lab", "hires_effect", "blocked_effect"]
        return pd.DataFrame(rows, columns=[*columns, "blocked_ci_low", "blocked_ci_high"])

    def capacity_warnings(self) -> list[str]:
        """One sentence per row of :meth:`capacity_absorbed` (empty if none)."""
        return [
            f"variant {row.variant!r}: its effect on arrivals at {row.lab} is largely absorbed "
            f"by capacity: people turned away (blocked_by_capacity.{row.lab}) changed by "
            f"{row.blocked_effect:+.3g} against {row.hires_effect:+.3g} for hires.{row.lab}; "
            f"the cap (labs.{row.lab}.capacity) decided, so read no effect on hires as a full "
            "lab, not as no effect"
            for row in self.capacity_absorbed().itertuples()
        ]

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """The effects as people read them, numbers formatted, p-values as ``< 1e-4``.

        One row per variant (in the order given) and metric (the headline metrics by default).
        ``p`` is each row's own paired t-test; ``p (Holm)`` is adjusted for every test of
        :attr:`effects`, the rows not shown included.
        """
        shown = list(metrics) if metrics is not None else headline_metrics(self.scenario)
        rows = self.effects[self.effects["metric"].isin(shown)].copy()
        rows["_variant"] = rows["variant"].map({v: i for i, v in enumerate(self.variants)})
        rows["_metric"] = rows["metric"].map({m: i for i, m in enumerate(shown)})
        rows = rows.sort_values(["_variant", "_metric"], kind="stable")
        level = f"{self.confidence:.0%} CI"
        return pd.DataFrame(
            {
                "variant": rows["variant"].to_numpy(),
                "metric": rows["metric"].to_numpy(),
                "baseline": [format_number(x) for x in rows["baseline_mean"]],
                "variant mean": [format_number(x) for x in rows["variant_mean"]],
                "effect": [format_number(x, "+.3g") for x in rows["effect"]],
                level: [
                    f"[{format_number(lo, '+.3g')}, {format_number(hi, '+.3g')}]"
                    for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)
                ],
                "p": [format_p_value(p) for p in rows["p_value"]],
                "p (Holm)": [format_p_value(p) for p in rows["p_holm"]],
                "seeds": rows["n"].to_numpy(),
            }
        )

    def __repr__(self) -> str:
        seeds = self.runs["seed"].nunique() if "seed" in self.runs else 0
        return (
            f"Comparison(scenario={self.scenario.name!r}, variants={list(self.variants)}, "
            f"seeds={seeds}, metrics={self.effects['metric'].nunique()})"
        )

    def _repr_html_(self) -> str:
        """A notebook's view: what was compared, the headline effects, any capacity warning."""
        import html

        seeds = self.runs["seed"].nunique()
        head = (
            f"<p><b>Comparison</b> of scenario <code>{html.escape(self.scenario.name)}</code>: "
            f"{len(self.variants)} variant(s) against the baseline on {seeds} paired seeds "
            f"(common random numbers), {self.confidence:.0%} t intervals. "
            "<code>.effects</code> holds every metric; <code>.table(metrics)</code> others.</p>"
        )
        warnings_html = "".join(
            f"<p>⚠ {html.escape(message)}</p>" for message in self.capacity_warnings()
        )
        return head + self.table().to_html(index=False, escape=True) + warnings_html

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``runs.csv``, ``effects.csv`` and ``comparison.json`` (atomically).

        ``overwrite`` replaces a non-empty folder only if it holds an earlier comparison
        (``comparison.json``): replacing deletes what the folder holds.
        """
        import json

        from talentsim.results import jsonable

        def write(staging: Path) -> None:
            self.runs.to_csv(staging / "runs.csv", index=False)
            self.effects.to_csv(staging / "effects.csv", index=False)
            document = {
                "talentsim_comparison": 1,
                "confidence": self.confidence,
                "variants": self.variants,
                "scenario": self.scenario.to_dict(),
                "seeds": sorted(set(int(s) for s in self.runs["seed"])),
                "metadata": jsonable(self.metadata),
            }
            with open(staging / "comparison.json", "w", encoding="utf-8") as handle:
                json.dump(jsonable(document), handle, indent=2, allow_nan=False)

        return atomic_folder(
            folder, write, overwrite=overwrite, markers=COMPARISON_MARKERS, what="comparison"
        )

    @classmethod
    def load(cls, folder: str | Path) -> Comparison:
        """Read a folder written by :meth:`save` back into a Comparison.

        Raises:
            OSError: if a file is missing or unreadable; ValueError or KeyError: if one is
                not what :meth:`save` writes (ScenarioError, a ValueError, for its scenario).
        """
        folder = Path(folder)
        document = read_json_file(folder / "comparison.json", table_of="the comparison")
        text = {"variant": str}
        tables = {}
        for name, needed in (
            ("runs", ("variant", "replicate", "seed")),
            ("effects", ("variant", "metric", "effect", "ci_low", "ci_high")),
        ):
            table = read_csv_file(folder / f"{name}.csv", dtype=text)
            missing = [column for column in needed if column not in table.columns]
            if missing:
                raise ValueError(
                    f"{folder / f'{name}.csv'}: not a comparison's {name} table (no column "
                    f"{', '.join(missing)})"
                )
            tables[name] = table
        confidence = float(document["confidence"])
        if not 0 < confidence < 1:
            raise ValueError(
                f"{folder / 'comparison.json'}: confidence {confidence!r} is not a level in (0, 1)"
            )
        variants = dict(document["variants"])
        runs = tables["runs"]
        per_variant = runs.groupby("variant").size()
        expected = ["baseline", *variants]
        if sorted(per_variant.index) != sorted(expected) or per_variant.nunique() != 1:
            counts = ", ".join(f"{v} {per_variant.get(v, 0)}" for v in expected)
            raise ValueError(
                f"{folder / 'runs.csv'}: not every variant has the same seeds' runs ({counts}); "
                "the table was cut or changed after it was saved"
            )
        effects = tables["effects"]
        if "p_holm" not in effects and "p_value" in effects:  # (saved before 6 December 2026)
            _add_holm(effects)
        return cls(
            runs=runs,
            effects=effects,
            variants=variants,
            confidence=confidence,
            scenario=Scenario.from_dict(
                document["scenario"], source=str(folder / "comparison.json")
            ),
            metadata=document.get("metadata") or {},
        )


def _run_metrics(
    scenario: Scenario,
    overrides: Mapping[str, Any],
    seed: int,
    metrics: MetricSpec,
) -> dict[str, float]:
    return metric_values(run(scenario, seed=seed, overrides=overrides or None), metrics)


def compare(
    scenario: Scenario | str | Path | Mapping[str, Any],
    variants: Mapping[str, Mapping[str, Any]],
    seeds: int | Iterable[int] = 20,
    *,
    metrics: MetricSpec = None,
    root_seed: int = 0,
    confidence: float = 0.95,
    executor: Executor | None = None,
    progress: bool | Callable[[int], Any] = False,
) -> Comparison:
    """Run a baseline and variants on the same seeds and estimate each variant's effects.

    Args:
        scenario: The baseline: a Scenario, a TOML path or a dict.
        variants: Name → dotted-path overrides, e.g.
            ``{"no_reorgs": {"events": [], "mechanisms.random_reorganisations": False}}``.
            The name ``"baseline"`` is reserved.
        seeds: A number of replicates (their seeds are spawned from ``root_seed`` with
            ``SeedSequence.spawn`` and recorded) or an explicit list of seeds.
        metrics: Summary keys to compare (default: every numeric key of
            :meth:`RunResult.summary`), or a mapping of names to functions of a RunResult.
        root_seed: Root of the spawned seeds when ``seeds`` is a number.
        confidence: Level of the confidence intervals.
        executor: Optional ``concurrent.futures.Executor`` to run in parallel.
        progress: True for a progress bar, or a callable called with 1 after each run.

    Returns:
        A :class:`Comparison`.

    Warns:
        CapacityWarning: for each variant and lab whose effect on arrivals capacity largely
            absorbed (:meth:`Comparison.capacity_absorbed`).

    Raises:
        ScenarioError: if a variant's overrides are invalid (checked before anything runs).
        ValueError: for a bad number of seeds, a reserved variant name or a bad confidence.
    """
    refuse_while_a_worker_starts("compare")
    base = as_scenario(scenario)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not isinstance(variants, Mapping) or not all(
        isinstance(o, Mapping) for o in variants.values()
    ):
        raise TypeError(
            "variants: expected a mapping of name to overrides, e.g. {'pay': "
            f"{{'labs.MSL.pay_level': 2.0}}}}, got {type(variants).__name__}"
        )
    if BASELINE in variants:
        raise ValueError(f"the variant name {BASELINE!r} is reserved for the scenario itself")
    if not variants:
        raise ValueError("compare needs at least one variant")
    for name, overrides in variants.items():
        try:
            base.with_overrides(overrides)
        except ScenarioError as exc:
            raise ScenarioError(f"variant {name!r}: {exc}") from None
    check_metrics(base, metrics, "compare")
    if isinstance(executor, ProcessPoolExecutor):
        check_picklable(metrics, "compare", "no executor")
    try:
        chosen = seed_list(seeds, root_seed, minimum=2, why="a confidence interval needs 2 or more")
    except ValueError as exc:
        raise ValueError(f"compare: {exc}") from None
    plans: list[tuple[str, dict[str, Any]]] = [(BASELINE, {})]
    plans += [(name, dict(overrides)) for name, overrides in variants.items()]
    tasks = [(name, overrides, r, s) for name, overrides in plans for r, s in enumerate(chosen)]

    bar = Progress(progress, len(tasks), "compare")
    rows: list[dict[str, Any]] = []
    try:
        if executor is None:
            for name, overrides, replicate, seed in tasks:
                values = _run_metrics(base, overrides, seed, metrics)
                rows.append({"variant": name, "replicate": replicate, "seed": seed, **values})
                bar.advance()
        else:
            futures = [executor.submit(_run_metrics, base, o, s, metrics) for _, o, _, s in tasks]
            found = gather(futures, each=lambda _: bar.advance())
            for (name, _, replicate, seed), values in zip(tasks, found, strict=True):
                rows.append({"variant": name, "replicate": replicate, "seed": seed, **values})
    finally:
        bar.close()
    runs = pd.DataFrame(rows)
    effects = paired_effects(runs, confidence)
    from talentsim.results import run_metadata

    comparison = Comparison(
        runs=runs,
        effects=effects,
        variants={name: dict(o) for name, o in variants.items()},
        confidence=confidence,
        scenario=base,
        metadata=run_metadata(),
    )
    for message in comparison.capacity_warnings():
        warnings.warn(message, CapacityWarning, stacklevel=2)
    return comparison


def paired_effects(runs: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Effects of each variant against the baseline, paired by seed.

    Args:
        runs: Rows with ``variant``, ``seed`` and metric columns; must include the baseline.
        confidence: Level of the t intervals.
    """
    metric_columns = [c for c in runs.columns if c not in ("variant", "replicate", "seed")]
    base = runs[runs["variant"] == BASELINE].set_index("seed")
    out = []
    for variant in runs["variant"].unique():
        if variant == BASELINE:
            continue
        other = runs[runs["variant"] == variant].set_index("seed")
        seeds = base.index.intersection(other.index)
        for metric in metric_columns:
            b = base.loc[seeds, metric].to_numpy(dtype=float)
            v = other.loc[seeds, metric].to_numpy(dtype=float)
            ok = np.isfinite(b) & np.isfinite(v)
            out.append(
                {"variant": variant, "metric": metric, **_paired_stats(b[ok], v[ok], confidence)}
            )
    table = pd.DataFrame(out)
    if len(table):
        _add_holm(table)
    return table


def _add_holm(effects: pd.DataFrame) -> None:
    """Put Holm's adjustment of ``effects``' p-values beside them (column ``p_holm``)."""
    effects.insert(effects.columns.get_loc("p_value") + 1, "p_holm", holm(effects["p_value"]))


def holm(p_values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """Holm's step-down adjustment of p-values for testing them all at once.

    Rejecting where the adjusted p is at most α keeps the chance of any false rejection
    among them at most α, whatever their dependence (Holm 1979). NaN p-values (no test) stay
    NaN and are not counted among the tests.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    steps = (m - np.arange(m)) * p[order]  # (m - i) p_(i), i = 0, 1, ...
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted


def _paired_stats(b: np.ndarray, v: np.ndarray, confidence: float) -> dict[str, float]:
    from scipy import stats  # imported here: scipy.stats costs 0.4 s that sweep workers skip

    n = b.shape[0]
    nan = float("nan")
    if n == 0:
        keys = ("baseline_mean", "variant_mean", "effect", "ci_low", "ci_high", "se")
        return {**dict.fromkeys(keys, nan), "se_independent": nan, "p_value": nan, "n": 0}
    d = v - b
    effect = float(d.mean())
    if n > 1:
        se = float(d.std(ddof=1) / math.sqrt(n))
        se_ind = float(math.sqrt((b.var(ddof=1) + v.var(ddof=1)) / n))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
        # Differences that are all equal up to rounding carry no test (scipy would warn).
        spread = float(np.ptp(d))
        scale = max(1.0, float(np.abs(b).max()), float(np.abs(v).max()))
        p = float(stats.ttest_rel(v, b).pvalue) if spread > 1e-12 * scale else nan
    else:
        se = se_ind = half = p = nan
    return {
        "baseline_mean": float(b.mean()),
        "variant_mean": float(v.mean()),
        "effect": effect,
        "ci_low": effect - half,
        "ci_high": effect + half,
        "se": se,
        "se_independent": se_ind,
        "p_value": p,
        "n": n,
    }
