"""The case-study figures of docs/case-msl.md, regenerated from the flagship scenario.

Runs the flagship and three counterfactuals (no reorganisations, doubled pay, no reputation)
on the same spawned seeds and draws: the retention of MSL's core with 95% confidence bands,
why people left MSL (exit-interview attribution by cohort), headcount per lab, and the share
of MSL's offers accepted.

Usage: python examples/msl_exodus/figures.py [--seeds N] [--out DIR] [--figures DIR]
(default figures folder: docs/figures, or DIR/figures when --out is given)
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

import talentsim as ts
from talentsim.model import spawn_seeds

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "msl_exodus.toml"
CORE = ["msl_veterans", "stars_from_rival", "stars_from_frontier"]
WEEK = 7 / 365.25
# Okabe–Ito colour-blind-safe palette.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
VARIANTS = {
    "as it happened": {},
    "no reorganisations": {"events": [], "mechanisms.random_reorganisations": False},
    "MSL pay doubled": {"labs.MSL.pay_level": 5.0},
    "no reputation effect": {"mechanisms.reputation": False},
}


def core_retention_curve(result: ts.RunResult) -> np.ndarray:
    """Share of MSL's starting core who have never left, at the end of each step."""
    people = result.researchers
    core = people[(people["start"] == "MSL") & people["cohort"].isin(CORE)]["researcher"]
    left = result.departures("MSL", cohorts=CORE)
    first_exit = left[left["researcher"].isin(core)].groupby("researcher")["step"].min()
    steps = int(result.timeseries["step"].max())
    gone = np.bincount(first_exit.to_numpy(dtype=np.int64), minlength=steps + 1).cumsum()
    return 1.0 - gone / len(core)


def acceptance_curve(result: ts.RunResult, window: int = 4) -> np.ndarray:
    """Share of MSL's offers accepted, over a moving window of ``window`` steps."""
    msl = result.timeseries[result.timeseries["lab"] == "MSL"]
    offers = msl["offers"].rolling(window, min_periods=1).sum().to_numpy()
    accepted = msl["acceptances"].rolling(window, min_periods=1).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(offers > 0, accepted / offers, np.nan)


def mean_band(curves: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Mean across replicates (rows) with a t confidence band."""
    n = np.sum(np.isfinite(curves), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps where no seed has a value
        mean = np.nanmean(curves, axis=0)
        se = np.nanstd(curves, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * se
    return mean, mean - half, mean + half


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the replicates, draw the figures, print a table of end-of-run means."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="replicates per variant (20)")
    parser.add_argument("--out", default=None, help="save the first baseline run here")
    parser.add_argument("--figures", default=None, help="folder for the PNG figures")
    args = parser.parse_args(argv)
    figures = Path(
        args.figures or (Path(args.out) / "figures" if args.out else ROOT / "docs/figures")
    )
    figures.mkdir(parents=True, exist_ok=True)

    scenario = ts.load_scenario(SCENARIO)
    seeds = spawn_seeds(0, args.seeds)
    retention: dict[str, np.ndarray] = {}
    acceptance: dict[str, np.ndarray] = {}
    first: dict[str, ts.RunResult] = {}
    for name, overrides in VARIANTS.items():
        results = [ts.run(scenario, seed=seed, overrides=overrides) for seed in seeds]
        first[name] = results[0]
        retention[name] = np.array([core_retention_curve(r) for r in results])
        acceptance[name] = np.array([acceptance_curve(r) for r in results])
        if name == "as it happened":
            reasons = pd.concat([r.exit_reasons(by=("lab", "cohort")) for r in results])
            headcounts = pd.concat([r.timeseries.assign(seed=r.seed) for r in results])
    if args.out:
        first["as it happened"].save(args.out, overwrite=True)
    figures.mkdir(parents=True, exist_ok=True)  # after saving: a save replaces its folder

    weeks = np.arange(retention["as it happened"].shape[1]) * scenario.time.step * 52.1775
    _plot_bands(
        weeks,
        retention,
        "Share of MSL's starting core still there",
        figures / "msl_core_retention.png",
        ["as it happened", "no reorganisations", "MSL pay doubled"],
        percent=True,
    )
    _plot_bands(
        weeks,
        acceptance,
        "MSL offers accepted, 4-week window",
        figures / "msl_offer_acceptance.png",
        ["as it happened", "no reputation effect"],
        percent=True,
    )
    _plot_reasons(reasons, figures / "msl_exit_reasons.png")
    _plot_headcounts(headcounts, scenario, figures / "msl_headcounts.png")

    table = pd.DataFrame(
        {
            "core retained at 8 weeks": {k: v[:, 8].mean() for k, v in retention.items()},
            "core retained at 26 weeks": {k: v[:, 26].mean() for k, v in retention.items()},
            "core retained at 1 year": {k: v[:, -1].mean() for k, v in retention.items()},
        }
    )
    table.index.name = f"variant (mean of {args.seeds} seeds)"
    print(table.round(3).to_string())
    print(f"figures written to {figures}/")
    return table


def _plot_bands(weeks, curves, ylabel, path, names, percent=False) -> None:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for colour, name in zip(COLOURS, names, strict=False):
        mean, low, high = mean_band(curves[name])
        scale = 100 if percent else 1
        ax.plot(weeks, mean * scale, color=colour, label=name, lw=2)
        ax.fill_between(weeks, low * scale, high * scale, color=colour, alpha=0.2, lw=0)
    ax.set_xlabel("weeks since MSL was formed")
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    ax.axvspan(0, 8, color="0.9", zorder=0, label="first two months")
    ax.legend(frameon=False)
    ax.set_xlim(0, weeks[-1])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_reasons(reasons: pd.DataFrame, path: Path) -> None:
    msl = reasons[(reasons["lab"] == "MSL") & reasons["cohort"].isin(CORE)]
    counts = msl.groupby(["cohort", "reason"], observed=True)["count"].sum().unstack("reason")
    counts = counts.loc[CORE]
    shares = counts.div(counts.sum(axis=1), axis=0).fillna(0.0) * 100
    shares = shares.loc[:, shares.sum(axis=0) > 0]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    left = np.zeros(len(shares))
    for colour, reason in zip(COLOURS, shares.columns, strict=False):
        ax.barh(shares.index, shares[reason], left=left, color=colour, label=str(reason))
        left += shares[reason].to_numpy()
    totals = counts.sum(axis=1)
    ax.set_yticks(range(len(shares)))
    ax.set_yticklabels([f"{c.replace('_', ' ')}\n(n = {int(totals[c])})" for c in shares.index])
    ax.set_xlabel("share of departures from MSL by main reason (%), all seeds")
    ax.set_xlim(0, 100)
    ax.legend(ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_headcounts(headcounts: pd.DataFrame, scenario: ts.Scenario, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for colour, lab in zip(COLOURS, scenario.lab_names, strict=False):
        rows = headcounts[headcounts["lab"] == lab]
        curves = rows.pivot(index="seed", columns="step", values="headcount").to_numpy(float)
        mean, low, high = mean_band(curves)
        weeks = np.arange(curves.shape[1]) * scenario.time.step * 52.1775
        ax.plot(weeks, mean, color=colour, lw=2, label=lab)
        ax.fill_between(weeks, low, high, color=colour, alpha=0.2, lw=0)
    ax.set_xlabel("weeks since MSL was formed")
    ax.set_ylabel("researchers (headcount)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
