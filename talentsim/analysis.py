"""Summaries of a sweep across replicates: means with confidence intervals, per design point.

:func:`aggregate` turns a sweep table (one row per run, see :func:`talentsim.sweep`) into a
tidy long table, one row per (group, metric), with the mean, standard deviation, number of runs
and a confidence interval of the mean — the shape seaborn and matplotlib take directly::

    summary = aggregate(table, ["attrition.MSL"])
    sns.lineplot(summary, x="labs.MSL.pay_level", y="mean")
    plt.fill_between(summary["labs.MSL.pay_level"], summary["ci_low"], summary["ci_high"])

References:
    Law, A. M. (2015). *Simulation Modeling and Analysis*, 5th ed., §9.4 (confidence intervals
    for the mean of independent replications).
    Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 13–14
    (percentile and BCa intervals).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from talentsim.experiments import RUN_COLUMNS as _RUN_COLUMNS

CI_METHODS = ("t", "bootstrap", "bca", "percentile")
"""Interval methods of :func:`aggregate`: ``bootstrap`` is BCa."""

_STATS = ["mean", "sd", "n", "ci_low", "ci_high", "failed"]


def aggregate(
    table: pd.DataFrame,
    metrics: str | Sequence[str] | None = None,
    *,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    method: str = "t",
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, spread and a confidence interval of each metric across the replicates of a group.

    Only runs with ``status == "done"`` (and a non-NaN value of the metric) enter the
    statistics; failed runs are counted per group. Groups appear in the order of the table
    (design order for a sweep), metrics in the order given.

    Args:
        table: A sweep table (see :func:`talentsim.sweep`).
        metrics: Metric columns to summarise; default: every numeric column that is neither a
            run column (``run_id``, ``point``, ``replicate``, ``seed``, ...), a parameter nor
            in ``by``.
        by: Columns to group by; default: the swept parameters (from
            ``table.attrs["design"]``; required when the table has no ``attrs``, which pandas
            operations may drop). ``by="point"`` groups by design point.
        confidence: Level of the intervals.
        method: ``"t"`` (Student t interval of the mean), ``"bootstrap"`` or ``"bca"``
            (bias-corrected and accelerated bootstrap, :func:`scipy.stats.bootstrap`) or
            ``"percentile"`` (percentile bootstrap).
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap; each (group, metric) starts from
            ``np.random.default_rng(seed)``, so an interval depends only on its own runs.

    Returns:
        One row per (group, metric): the ``by`` columns, ``metric``, ``mean``, ``sd`` (sample
        standard deviation), ``n`` (runs), ``ci_low``, ``ci_high`` and ``failed`` (failed runs
        of the group). The interval is NaN when ``n < 2``; it has zero width when all values
        are equal. A t interval is symmetric, so for a bounded metric (a share such as
        ``attrition.LAB`` near 0 or 1, few replicates) it can reach past the bound: cut it
        there (the mean cannot lie beyond), as ``talentsim sweep`` does when it prints. A
        percentile bootstrap stays within the values' range but needs many replicates: with
        fewer than 10 in a group bootstrap intervals cover far less than stated (a nominal
        95% one about 74% at 3 replicates, 83% at 5; at 2 it is the two values' range), so
        they warn then.

    Raises:
        ValueError: for unknown or non-numeric columns, no ``by`` without a design, or a bad
            method, confidence or number of resamples.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"aggregate: confidence must be in (0, 1), got {confidence!r}")
    if method not in CI_METHODS:
        raise ValueError(f"aggregate: unknown method {method!r}; choose from {CI_METHODS}")
    if method != "t" and (
        isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 2
    ):
        raise ValueError(f"aggregate: n_resamples must be an integer >= 2, got {n_resamples!r}")
    keys = _by_columns(table, by)
    names = _metric_columns(table, metrics, keys)

    group = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    labels = table.loc[~pd.Series(group).duplicated().to_numpy(), keys].reset_index(drop=True)
    count = len(labels)
    status = table["status"].to_numpy() if "status" in table.columns else None
    done = np.ones(len(table), bool) if status is None else status == "done"
    failed = np.zeros(count, int)
    if status is not None:
        np.add.at(failed, group[status == "failed"], 1)

    frames = []
    for name in names:
        values = table[name].to_numpy(dtype=float)
        use = done & ~np.isnan(values)
        frame = labels.copy()
        frame["metric"] = name
        if method == "t":
            frame[["mean", "sd", "n", "ci_low", "ci_high"]] = _t_intervals(
                values[use], group[use], count, confidence
            )
        else:
            kind = "percentile" if method == "percentile" else "BCa"
            frame[["mean", "sd", "n", "ci_low", "ci_high"]] = _bootstrap_intervals(
                values[use], group[use], count, confidence, kind, n_resamples, seed
            )
        frame["n"] = frame["n"].astype(int)
        frame["failed"] = failed
        frame["_group"] = np.arange(count)
        frames.append(frame)
    columns = [*keys, "metric", *_STATS]
    if not frames:
        return pd.DataFrame(columns=columns)
    long = pd.concat(frames, ignore_index=True)
    long = long.sort_values("_group", kind="stable").reset_index(drop=True)
    return long[columns]


def _by_columns(table: pd.DataFrame, by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        design = table.attrs.get("design")
        parameters = design.get("parameters") if isinstance(design, dict) else None
        if not parameters:
            raise ValueError(
                "aggregate: the table has no design in its attrs (pandas operations may drop "
                "them); pass by=, e.g. by='point' or a list of parameter columns"
            )
        keys = [str(p["path"]) for p in parameters]
    else:
        keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in table.columns]
    if unknown:
        raise ValueError(f"aggregate: no columns {unknown} to group by")
    if not keys:
        raise ValueError("aggregate: by needs at least one column")
    return keys


def _metric_columns(
    table: pd.DataFrame, metrics: str | Sequence[str] | None, keys: list[str]
) -> list[str]:
    if metrics is None:
        design = table.attrs.get("design")
        parameters = design.get("parameters") if isinstance(design, dict) else None
        skip = {*_RUN_COLUMNS, *keys, *(str(p["path"]) for p in parameters or [])}
        return [
            str(c)
            for c in table.columns
            if c not in skip and pd.api.types.is_numeric_dtype(table[c])
        ]
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in table.columns]
    if unknown:
        skip = {*_RUN_COLUMNS, *keys}
        numeric = [
            str(c)
            for c in table.columns
            if c not in skip and pd.api.types.is_numeric_dtype(table[c])
        ]
        near = difflib.get_close_matches(str(unknown[0]), numeric, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        shown = ", ".join(numeric[:12]) + (", ..." if len(numeric) > 12 else "")
        raise ValueError(
            f"aggregate: no metric columns {unknown}{hint} (the table's numeric columns: {shown})"
        )
    not_numeric = [m for m in names if not pd.api.types.is_numeric_dtype(table[m])]
    if not_numeric:
        raise ValueError(f"aggregate: metric columns {not_numeric} are not numeric")
    return names


def _moments(values: np.ndarray, group: np.ndarray, count: int) -> tuple[np.ndarray, ...]:
    n = np.bincount(group, minlength=count).astype(float)
    total = np.bincount(group, weights=values, minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        squares = np.bincount(group, weights=(values - mean[group]) ** 2, minlength=count)
        sd = np.sqrt(squares / (n - 1))
    sd[n < 2] = np.nan
    return mean, sd, n


def _t_intervals(
    values: np.ndarray, group: np.ndarray, count: int, confidence: float
) -> np.ndarray:
    from scipy import stats  # imported here: scipy.stats costs 0.4 s that sweep workers skip

    mean, sd, n = _moments(values, group, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(n >= 2, n - 1, np.nan)
        half = stats.t.ppf(0.5 + confidence / 2, df) * sd / np.sqrt(n)
    return np.column_stack([mean, sd, n, mean - half, mean + half])


def _bootstrap_intervals(
    values: np.ndarray,
    group: np.ndarray,
    count: int,
    confidence: float,
    kind: str,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    from scipy import stats

    mean, sd, n = _moments(values, group, count)
    low = np.full(count, np.nan)
    high = np.full(count, np.nan)
    few = n[(n >= 2) & (n < 10)]
    if len(few):
        warnings.warn(
            f"aggregate: bootstrap intervals of groups with {int(few.min())} to "
            f"{int(few.max())} replicates cover far less than {confidence:.0%} (below 10 "
            "replicates a percentile bootstrap's 95% covers about 74% at 3, 83% at 5); use "
            "method='t' or more replicates",
            UserWarning,
            stacklevel=3,
        )
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(count + 1))
    for g in range(count):
        if n[g] < 2:
            continue
        sample = values[order[starts[g] : starts[g + 1]]]
        if np.ptp(sample) == 0:
            low[g] = high[g] = sample[0]
            continue
        with warnings.catch_warnings():
            # BCa on very few distinct values can be degenerate: scipy warns and gives NaN.
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            result = stats.bootstrap(
                (sample,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method=kind,
                vectorized=True,
                rng=np.random.default_rng(seed),
            )
        low[g], high[g] = result.confidence_interval
    return np.column_stack([mean, sd, n, low, high])
