"""talentsim.plots: every figure draws from small inputs, numbers behind them are right, and
bad input gets a clear error from talentsim, not a traceback from inside matplotlib."""

from __future__ import annotations

import importlib
import inspect
import math
import os
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

import talentsim as ts
from talentsim import plots
from talentsim.compare import Comparison, paired_effects
from talentsim.validation import Check
from tests.conftest import small_scenario_dict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEEK = 7 / 365.25


@pytest.fixture(scope="module")
def scenario() -> ts.Scenario:
    return ts.Scenario.from_dict(small_scenario_dict())


@pytest.fixture(scope="module")
def runs(scenario: ts.Scenario) -> list[ts.RunResult]:
    return list(ts.replicates(scenario, 3))


@pytest.fixture(scope="module")
def variant_runs(scenario: ts.Scenario) -> list[ts.RunResult]:
    return list(ts.replicates(scenario, 3, overrides={"labs.A.pay_level": 3.0}))


def _sweep_table() -> pd.DataFrame:
    """A grid sweep table by hand: 2 pay levels × 3 reorganisation rates × 2 replicates."""
    rows = []
    point = 0
    for pay in (1.5, 3.0):
        for rate in ("0/year", "4/year", "12/year"):
            for replicate in (0, 1):
                value = pay / 10 + float(rate.split("/")[0]) / 100 + replicate / 100
                rows.append(
                    {
                        "run_id": f"r{point}{replicate}",
                        "point": point,
                        "replicate": replicate,
                        "seed": 100 + replicate,
                        "status": "done",
                        "error": None,
                        "labs.A.pay_level": pay,
                        "labs.A.reorg_rate": rate,
                        "attrition.A": value,
                    }
                )
            point += 1
    # A failed run must not count in any mean.
    rows.append({**rows[0], "run_id": "bad", "status": "failed", "attrition.A": 99.0})
    return pd.DataFrame(rows)


def _sweep_series(
    runs: list[ts.RunResult], variant_runs: list[ts.RunResult]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stored time series and the sweep table of a two-point sweep, from replicate runs."""
    rows, frames = [], []
    for point, (pay, group) in enumerate(((1.0, runs), (3.0, variant_runs))):
        for replicate, result in enumerate(group):
            run_id = f"p{point}r{replicate}"
            rows.append({"run_id": run_id, "point": point, "labs.A.pay_level": pay})
            frames.append(result.timeseries.assign(run_id=run_id))
    table = pd.DataFrame(rows)
    table.attrs["design"] = {"parameters": [{"path": "labs.A.pay_level"}]}
    return pd.concat(frames, ignore_index=True), table


def _sobol_table() -> pd.DataFrame:
    rows = []
    for index, values in (("S1", (0.5, 0.2)), ("ST", (0.7, 0.3))):
        for parameter, value in zip(("labs.A.pay_level", "labs.A.reorg_rate"), values, strict=True):
            rows.append(
                {
                    "parameter": parameter,
                    "index": index,
                    "value": value,
                    "ci_low": value - 0.1,
                    "ci_high": value + 0.1,
                    "output": "attrition.A",
                    "method": "sobol",
                }
            )
    return pd.DataFrame(rows)


def _comparison(scenario: ts.Scenario) -> Comparison:
    rng = np.random.default_rng(1)
    rows = []
    for variant, shift in (("baseline", 0.0), ("no_reorgs", -0.2), ("double_pay", -0.05)):
        for replicate in range(5):
            rows.append(
                {
                    "variant": variant,
                    "replicate": replicate,
                    "seed": replicate,
                    "attrition.A": 0.5 + shift + rng.normal(0, 0.01),
                    "net_flow.B": 10 + 20 * shift + rng.normal(0, 1),
                    "boomerangs": 3 + replicate,
                }
            )
    runs = pd.DataFrame(rows)
    return Comparison(
        runs=runs,
        effects=paired_effects(runs, 0.95),
        variants={"no_reorgs": {"events": []}, "double_pay": {"labs.A.pay_level": 4.0}},
        confidence=0.95,
        scenario=scenario,
    )


FIGURES: dict[str, Callable[[Any], Figure]] = {
    "headcount": lambda f: plots.headcount(f["runs"], include_outside=True),
    "headcount:one-run": lambda f: plots.headcount(f["runs"][0], labs=["A"]),
    "retention": lambda f: plots.retention(
        {"baseline": f["runs"], "pay x3": f["variant_runs"]}, "A", cohorts=["a_staff"]
    ),
    "offer_acceptance": lambda f: plots.offer_acceptance(f["runs"], "A", window="6w"),
    "flows": lambda f: plots.flows(f["runs"], start="4w", end="12w"),
    "tenure_survival": lambda f: plots.tenure_survival(f["runs"]),
    "tenure_survival:by-lab": lambda f: plots.tenure_survival(f["runs"][0], by_cohort=False),
    "exit_reasons": lambda f: plots.exit_reasons(f["runs"], labs=["A", "B"]),
    "exit_reasons:counts": lambda f: plots.exit_reasons(f["runs"][0], share=False),
    "sweep_heatmap": lambda f: plots.sweep_heatmap(
        f["sweep"], "labs.A.pay_level", "labs.A.reorg_rate", "attrition.A", percent=True
    ),
    "sweep_line": lambda f: plots.sweep_line(f["sweep"], "labs.A.reorg_rate", "attrition.A"),
    "sweep_headcount": lambda f: plots.sweep_headcount(*f["sweep_series"], "A"),
    "sensitivity_bars": lambda f: plots.sensitivity_bars(f["sobol"]),
    "comparison_effects": lambda f: plots.comparison_effects(f["comparison"]),
    "calibration_fit": lambda f: plots.calibration_fit(f["calibration"]["fit"]),
    "calibration_trace": lambda f: plots.calibration_trace(
        f["calibration"]["trace"], ["market.separation_rate", "labs.A.pay_level"]
    ),
    "posterior_marginals": lambda f: plots.posterior_marginals(
        f["calibration"]["posterior"],
        ["market.separation_rate", "labs.A.pay_level"],
        {"market.separation_rate": (0.0, 1.0), "labs.A.pay_level": (0.5, 3.0)},
    ),
    "posterior_pairs": lambda f: plots.posterior_pairs(
        f["calibration"]["posterior"], ["market.separation_rate", "labs.A.pay_level"]
    ),
}


def _calibration_tables() -> dict[str, pd.DataFrame]:
    """Made-up tables in the shapes a CalibrationResult gives (fit table, trace, posterior)."""
    rng = np.random.default_rng(4)
    fit = pd.DataFrame(
        {
            "target": ["retention", "boomerangs", "flow", "count"],
            "statistic": ["new_hire_retention", "boomerang_share", "flow_ratio", "departures"],
            "observed": [np.nan, np.nan, 10.6, np.nan],
            "low": [0.64, 0.02, 4.7, 8.0],
            "high": [0.80, 0.06, 16.5, np.inf],
            "simulated": [0.70, 0.10, 6.0, 12.0],
            "interval_low": [0.66, 0.08, 3.0, 9.0],
            "interval_high": [0.74, 0.12, 9.0, 15.0],
            "inside": [True, False, True, True],
            "interval": "95% CI of the mean over 10 replicates",
        }
    )
    n = 60
    trace = pd.DataFrame(
        {
            "evaluation": np.arange(n),
            "market.separation_rate": rng.uniform(0, 1, n),
            "labs.A.pay_level": rng.uniform(0.5, 3, n),
            "objective": np.where(np.arange(n) % 17 == 5, np.nan, rng.lognormal(1, 1, n)),
        }
    )
    posterior = pd.DataFrame(
        {
            "market.separation_rate": rng.normal(0.4, 0.1, 300),
            "labs.A.pay_level": rng.uniform(0.5, 3, 300),
            "weight": rng.uniform(0.5, 1.5, 300),
        }
    )
    return {"fit": fit, "trace": trace, "posterior": posterior}


@pytest.fixture(scope="module")
def inputs(
    runs: list[ts.RunResult], variant_runs: list[ts.RunResult], scenario: ts.Scenario
) -> dict[str, Any]:
    return {
        "runs": runs,
        "variant_runs": variant_runs,
        "sweep": _sweep_table(),
        "sweep_series": _sweep_series(runs, variant_runs),
        "sobol": _sobol_table(),
        "comparison": _comparison(scenario),
        "calibration": _calibration_tables(),
    }


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_draws_and_saves_a_png(
    name: str, inputs: dict[str, Any], tmp_path: Path
) -> None:
    figure = FIGURES[name](inputs)
    assert isinstance(figure, Figure)
    path = tmp_path / "figure.png"
    figure.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5_000
    visible = [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert visible

    def labelled_y(ax: Any) -> bool:
        return bool(ax.get_ylabel() or any(t.get_text() for t in ax.get_yticklabels()))

    for ax in visible:  # readable in print: every panel says what its axes show
        assert ax.get_xlabel()
        assert any(labelled_y(other) for other in ax.get_shared_y_axes().get_siblings(ax))
    assert any(ax.get_title() for ax in visible) or figure.get_suptitle()


def _validation_check(details: dict[str, Any]) -> Check:
    return Check(
        name="probe", passed=True, statistic=0.0, threshold=1.0, tolerance="", details=details
    )


def _validation_inputs() -> dict[str, Any]:
    """Made-up details of the validation checks, in the shapes talentsim.validation gives."""
    rng = np.random.default_rng(2)
    time = np.linspace(0, 3, 40)
    expected = np.column_stack([100 - 10 * time, 80 + 5 * time, 60 + 3 * time, 20 + 2 * time])
    shares = np.array([0.4, 0.3, 0.2, 0.1])
    return {
        "shares": _validation_check(
            {
                "theory": shares,
                "meanfield": shares,
                "simulation": shares + 0.01,
                "se": np.full(4, 0.005),
                "replicates": 4,
            }
        ),
        "trajectories": _validation_check(
            {
                "time": time,
                "expected": expected,
                "mean": expected + rng.normal(0, 1, expected.shape),
                "se": np.ones_like(expected),
            }
        ),
        "convergence": [("1d", 1 / 365.25, 1e-4), ("1w", 7 / 365.25, 7e-4)],
        "relaxation": _validation_check(
            {"time": time, "mean": 100 - 5 * time, "mf": 100 - 5 * time, "tau_meanfield": 0.4}
        ),
    }


VALIDATION_FIGURES: dict[str, Callable[[Any], Figure]] = {
    "validation_shares": lambda v: plots.validation_shares(v["shares"], ["L0", "L1", "L2", "L3"]),
    "validation_trajectories": lambda v: plots.validation_trajectories(
        v["trajectories"], ["A", "B", "C", "outside"]
    ),
    "validation_convergence": lambda v: plots.validation_convergence(v["convergence"]),
    "validation_relaxation": lambda v: plots.validation_relaxation(v["relaxation"]),
}


@pytest.mark.parametrize("name", list(VALIDATION_FIGURES))
def test_every_validation_figure_draws_and_saves_a_png(name: str, tmp_path: Path) -> None:
    # docs/validation.md shows them as examples/validate.py drew them (its shares figure has
    # lab names on the x axis and no label), so they are checked apart from FIGURES.
    figure = VALIDATION_FIGURES[name](_validation_inputs())
    path = tmp_path / "figure.png"
    figure.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5_000
    (ax,) = figure.axes
    assert ax.get_title() and ax.get_ylabel() and ax.get_legend() is not None


def test_every_public_figure_function_is_exercised() -> None:
    # The figures live in the package's modules (plots.run, plots.sweep, ...), each re-exported
    # by talentsim.plots. plots.style holds the shared helpers: its finish() returns the
    # figure it is given and draws nothing.
    names = [info.name for info in pkgutil.iter_modules(plots.__path__, f"{plots.__name__}.")]
    modules = [importlib.import_module(name) for name in names if name != plots.style.__name__]
    assert {m.__name__.rpartition(".")[2] for m in modules} >= {"run", "sweep", "comparison"}
    drawing = {
        name: function
        for module in [plots, *modules]
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__.startswith(f"{plots.__name__}.")
        and function.__module__ != plots.style.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation in ("Figure", Figure)
    }
    assert all(getattr(plots, name, None) is function for name, function in drawing.items())
    assert set(drawing) == {name.partition(":")[0] for name in [*FIGURES, *VALIDATION_FIGURES]}


def test_labs_keep_their_okabe_ito_colour(runs: list[ts.RunResult]) -> None:
    figure = plots.headcount(runs, labs=["C", "A"])
    colours = {line.get_label(): line.get_color() for line in figure.axes[0].lines}
    assert colours == {"C": plots.OKABE_ITO[2], "A": plots.OKABE_ITO[0]}


def test_headcount_line_is_the_mean_and_the_band_a_t_interval(runs: list[ts.RunResult]) -> None:
    figure = plots.headcount(runs, labs=["A"], confidence=0.9)
    ax = figure.axes[0]
    curves = np.vstack(
        [r.timeseries[r.timeseries["lab"] == "A"]["headcount"].to_numpy(float) for r in runs]
    )
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.mean(axis=0))
    np.testing.assert_allclose(ax.lines[0].get_xdata()[-1], 52, atol=0.3)  # weeks
    assert "90% t interval" in ax.get_title() and "3 runs" in ax.get_title()
    assert ax.get_xlabel().endswith("(weeks)")
    _, low, high = plots.mean_band(curves, 0.9)
    step = 20
    expected = stats.t.interval(
        0.9, 2, loc=curves[:, step].mean(), scale=stats.sem(curves[:, step])
    )
    np.testing.assert_allclose([low[step], high[step]], expected)


def test_long_runs_are_drawn_in_years() -> None:
    scenario = ts.Scenario.from_dict(
        small_scenario_dict(time={"step": "1mo", "duration": "3y"}, events=[])
    )
    figure = plots.headcount(ts.run(scenario, seed=1))
    assert figure.axes[0].get_xlabel().endswith("(years)")


def test_flow_matrix_counts_every_move(runs: list[ts.RunResult]) -> None:
    run = runs[0]
    matrix = plots.flow_matrix(run)
    summary = run.summary()
    for lab in "ABC":
        assert matrix.loc[lab].sum() == len(run.departures(lab))
        assert math.isnan(matrix.loc[lab, lab])
        # Arrivals minus departures is the change of headcount.
        change = summary[f"headcount_end.{lab}"] - summary[f"headcount_start.{lab}"]
        assert matrix[lab].sum() - matrix.loc[lab].sum() == change
    assert np.nansum(matrix.to_numpy(dtype=float)) == len(run.events)
    assert matrix.loc["entered the field", "outside"] == (run.events["kind"] == "entry").sum()
    # The mean over runs is the sum over runs divided by their number.
    total = sum(plots.flow_matrix(r).fillna(0) for r in runs)
    pd.testing.assert_frame_equal(plots.flow_matrix(runs).fillna(0), total / 3)


def test_a_generator_of_runs_is_read_once(runs: list[ts.RunResult]) -> None:
    for draw in (plots.flows, plots.tenure_survival, plots.exit_reasons, plots.headcount):
        figure = draw(run for run in runs)
        ax = figure.axes[0]
        words = " ".join((ax.get_title() + ax.get_xlabel() + figure.get_suptitle()).split())
        assert "3 runs" in words  # (titles are wrapped to the figure's width)


def test_flows_period_keeps_only_moves_in_it(runs: list[ts.RunResult]) -> None:
    run = runs[0]
    matrix = plots.flow_matrix(run, start="4w", end=8 * WEEK)
    events = run.events[(run.events["time"] > 4 * WEEK + 1e-9) & (run.events["time"] <= 8 * WEEK)]
    assert np.nansum(matrix.to_numpy(dtype=float)) == len(events)


def test_exit_reason_bars_add_up(runs: list[ts.RunResult]) -> None:
    figure = plots.exit_reasons(runs[0], labs=["A"], share=False)
    ax = figure.axes[0]
    widths = sum(np.array([p.get_width() for p in c.patches]) for c in ax.containers)
    reasons = runs[0].exit_reasons(by=("lab", "cohort"))
    per_cohort = reasons[reasons["lab"] == "A"].groupby("cohort", observed=True)["count"].sum()
    assert sorted(widths) == sorted(per_cohort[per_cohort > 0].to_numpy())
    shares = plots.exit_reasons(runs[0], labs=["A"])
    ax = shares.axes[0]
    widths = sum(np.array([p.get_width() for p in c.patches]) for c in ax.containers)
    np.testing.assert_allclose(widths, 100)


def test_sweep_heatmap_shows_replicate_means_of_done_runs() -> None:
    table = _sweep_table()
    figure = plots.sweep_heatmap(table, "labs.A.pay_level", "labs.A.reorg_rate", "attrition.A")
    ax = figure.axes[0]
    shown = sorted(float(t.get_text().split("\n")[0]) for t in ax.texts)
    done = table[table["status"] == "done"]
    means = done.groupby(["labs.A.pay_level", "labs.A.reorg_rate"])["attrition.A"].mean()
    np.testing.assert_allclose(shown, sorted(float(f"{m:.3g}") for m in means))
    # each mean's noise beside it: two replicates 0.01 apart, a t interval's half-width of
    # t(0.975, 1) × sd / √2 = 12.71 × 0.00707 / 1.414 = 0.0635
    assert {t.get_text().split("\n")[1] for t in ax.texts} == {"±0.064"}
    assert "half-width of its 95% t interval" in figure.axes[1].get_ylabel().replace("\n", " ")
    # the means differ far beyond it: no word of noise in the title
    assert "noise" not in figure.texts[0].get_text()
    # Rates are ordered by size, not as strings ("12/year" after "4/year").
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0/year", "4/year", "12/year"]


def test_sweep_heatmap_says_when_its_colours_show_only_noise() -> None:
    # the colour scale spans the means however close: cells 0.001 apart with replicates 0.1
    # apart look as different as a real effect, so the title says what the intervals say
    table = _sweep_table()
    done = table["status"] == "done"
    table.loc[done, "attrition.A"] = 0.5 + table.loc[done, "point"] / 1000
    table.loc[done, "attrition.A"] += table.loc[done, "replicate"] / 10
    figure = plots.sweep_heatmap(table, "labs.A.pay_level", "labs.A.reorg_rate", "attrition.A")
    title = figure.texts[0].get_text().replace("\n", " ")
    assert "differ by 0.005 at most, within the replicates' noise (median ± 0.64)" in title


def test_sweep_headcount_draws_each_point_s_replicate_mean(
    runs: list[ts.RunResult], variant_runs: list[ts.RunResult]
) -> None:
    series, table = _sweep_series(runs, variant_runs)
    ax = plots.sweep_headcount(series, table, "A", confidence=0.9).axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "labs.A.pay_level = 1",
        "labs.A.pay_level = 3",
    ]
    for line, group in zip(ax.lines, (runs, variant_runs), strict=True):
        curves = [r.timeseries[r.timeseries["lab"] == "A"]["headcount"] for r in group]
        np.testing.assert_allclose(line.get_ydata(), np.mean(curves, axis=0))
    assert "3 runs per point" in ax.get_title() and "90% t interval" in ax.get_title()
    assert ax.get_xlabel().endswith("(weeks)")
    one = plots.sweep_headcount(series, table, "A", points=[1]).axes[0]
    assert [line.get_label() for line in one.lines] == ["labs.A.pay_level = 3"]


def test_kaplan_meier_matches_a_hand_computation() -> None:
    # Durations 1, 1+, 2, 2, 3, 4, 5+ (+: censored). At risk and deaths at each time:
    # t=1: 7 at risk, 1 death; t=2: 5, 2; t=3: 3, 1; t=4: 2, 1.
    durations = [1, 1, 2, 2, 3, 4, 5]
    left = [True, False, True, True, True, True, False]
    table = plots.kaplan_meier(durations, left, confidence=0.95)
    expected = {0: 1.0, 1: 6 / 7, 2: 18 / 35, 3: 12 / 35, 4: 6 / 35, 5: 6 / 35}
    got = dict(zip(table["time"], table["survival"], strict=True))
    assert got.keys() == expected.keys()
    for time, value in expected.items():
        assert got[time] == pytest.approx(value, rel=1e-12)
    # The log-log interval of Greenwood's variance at t = 2.
    s = 18 / 35
    variance = 1 / (7 * 6) + 2 / (5 * 3)
    z = stats.norm.ppf(0.975)
    sigma = math.sqrt(variance) / abs(math.log(s))
    row = table[table["time"] == 2].iloc[0]
    assert row["ci_low"] == pytest.approx(s ** math.exp(z * sigma), rel=1e-9)
    assert row["ci_high"] == pytest.approx(s ** math.exp(-z * sigma), rel=1e-9)


def _hand_run(scenario: ts.Scenario) -> ts.RunResult:
    """Seven spells at lab A, by hand, in weekly steps over five weeks.

    Researchers 0–3 and 5 start at A; 4 starts outside. 0 quits to B in week 1, 1 exits in
    week 2, 2 is separated in week 2, 3 stays (censored at 5), 4 is hired in week 1 and
    leaves in week 5 (4 weeks), 5 quits to C in week 3 and returns in week 4 (censored after
    1 week). Spells: 1, 2, 2, 5+, 4, 3, 1+ — the example of the test above.
    """
    moves = [
        (1, 0, "A", "B", "quit"),
        (1, 4, "outside", "A", "hire"),
        (2, 1, "A", "outside", "exit"),
        (2, 2, "A", "outside", "separation"),
        (3, 5, "A", "C", "quit"),
        (4, 5, "C", "A", "return"),
        (5, 4, "A", "B", "quit"),
    ]
    places = [*scenario.lab_names, "outside", "gone"]
    events = pd.DataFrame(
        {
            "step": [m[0] for m in moves],
            "time": [m[0] * WEEK for m in moves],
            "researcher": [m[1] for m in moves],
            "cohort": pd.Categorical(["a_staff"] * len(moves), categories=list(scenario.cohorts)),
            "origin": pd.Categorical([m[2] for m in moves], categories=places),
            "destination": pd.Categorical([m[3] for m in moves], categories=places),
            "kind": [m[4] for m in moves],
        }
    )
    researchers = pd.DataFrame(
        {
            "researcher": range(6),
            "cohort": ["a_staff"] * 4 + ["pool", "a_staff"],
            "start": ["A", "A", "A", "A", "outside", "A"],
        }
    )
    steps = np.repeat(np.arange(6), 4)
    timeseries = pd.DataFrame(
        {"step": steps, "time": steps * WEEK, "lab": ["A", "B", "C", "outside"] * 6}
    )
    return ts.RunResult(scenario, 0, timeseries, events, researchers)


def test_tenure_survival_draws_the_kaplan_meier_of_the_run_records(scenario: ts.Scenario) -> None:
    # Starting staff without prior tenure, so the tenure clock is the run's clock here (the
    # delayed entry of starting tenure is tested below).
    run = _hand_run(scenario.with_overrides({"cohorts.a_staff.tenure": "0w"}))
    spells = plots.tenure_spells(run, labs=["A"])
    weeks = sorted(zip((spells["duration"] / WEEK).round(9), spells["left"], strict=True))
    assert weeks == [(1, False), (1, True), (2, True), (2, True), (3, True), (4, True), (5, False)]
    figure = plots.tenure_survival(run, labs=["A"], by_cohort=False)
    line = figure.axes[0].lines[0]
    drawn = dict(zip(np.round(line.get_xdata(), 9), line.get_ydata(), strict=False))
    for week, value in {0: 1.0, 1: 6 / 7, 2: 18 / 35, 3: 12 / 35, 4: 6 / 35, 5: 6 / 35}.items():
        assert drawn[week] == pytest.approx(100 * value)
    # Researcher 4 (pool) spent 4 weeks at A, then arrived at B as the run ended.
    pool = plots.tenure_spells(run, cohorts=["pool"])
    assert pool[["lab", "left"]].values.tolist() == [["A", True], ["B", False]]
    assert pool["duration"].tolist() == pytest.approx([4 * WEEK, 0])


def test_kaplan_meier_with_everyone_censored_stays_at_one() -> None:
    table = plots.kaplan_meier([1.0, 2.0, 3.0], [False, False, False])
    assert (table["survival"] == 1.0).all()


def test_plots_leave_the_matplotlib_backend_alone(tmp_path: Path) -> None:
    # Importing and drawing must not select a backend or import pyplot.
    code = (
        "import sys, matplotlib\n"
        "from talentsim import plots\n"
        "import pandas as pd\n"
        "table = pd.DataFrame({'parameter': ['a'], 'index': ['S1'], 'value': [0.5],"
        " 'ci_low': [0.4], 'ci_high': [0.6]})\n"
        "plots.sensitivity_bars(table).savefig(sys.argv[1])\n"
        "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "figure.png")],
        env={**os.environ, "MPLBACKEND": "svg"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# Bad input: one clear ValueError from talentsim
# --------------------------------------------------------------------------------------------


BAD_INPUTS: list[tuple[str, Callable[[Any], Any], list[str]]] = [
    ("unknown lab", lambda f: plots.headcount(f["runs"], labs=["Z"]), ["'Z'", "A, B, C"]),
    ("retention lab", lambda f: plots.retention(f["runs"], "MSL"), ["'MSL'", "A, B, C"]),
    ("unknown cohort", lambda f: plots.exit_reasons(f["runs"], cohorts=["x"]), ["'x'", "pool"]),
    ("empty list", lambda f: plots.headcount([]), ["headcount", "empty"]),
    ("not results", lambda f: plots.flows(["a"]), ["flows", "RunResult"]),
    ("a table", lambda f: plots.tenure_survival(f["sweep"]), ["RunResult", "DataFrame"]),
    ("confidence", lambda f: plots.headcount(f["runs"], confidence=95), ["confidence", "95"]),
    ("period", lambda f: plots.flows(f["runs"], start="8w", end="4w"), ["end > start"]),
    ("duration", lambda f: plots.flows(f["runs"], end="8"), ["end", "units"]),
    (
        "missing column",
        lambda f: plots.sweep_heatmap(f["sweep"], "labs.A.pay_level", "x", "attrition.A"),
        ["sweep_heatmap", "'x'", "columns"],
    ),
    (
        "same axis",
        lambda f: plots.sweep_heatmap(f["sweep"], "point", "point", "attrition.A"),
        ["different"],
    ),
    (
        "sweep_headcount lab",
        lambda f: plots.sweep_headcount(*f["sweep_series"], "Z"),
        ["sweep_headcount", "'Z'", "'A'"],
    ),
    (
        "sweep_headcount points",
        lambda f: plots.sweep_headcount(*f["sweep_series"], "A", points=[7]),
        ["no design point [7]"],
    ),
    (
        "sweep_headcount parameters",
        lambda f: plots.sweep_headcount(f["sweep_series"][0], f["sweep"], "A"),
        ["no swept parameters", "parameters="],
    ),
    (
        "text outcome",
        lambda f: plots.sweep_line(f["sweep"], "labs.A.pay_level", "status"),
        ["not numeric"],
    ),
    (
        "no done run",
        lambda f: plots.sweep_line(
            f["sweep"].assign(status="failed"), "labs.A.pay_level", "attrition.A"
        ),
        ["no done run"],
    ),
    (
        "two outputs",
        lambda f: plots.sensitivity_bars(
            pd.concat([f["sobol"], f["sobol"].assign(output="other")])
        ),
        ["several outputs", "output="],
    ),
    (
        "not indices",
        lambda f: plots.sensitivity_bars(f["sweep"]),
        ["sensitivity_bars", "'parameter'"],
    ),
    (
        "unknown metric",
        lambda f: plots.comparison_effects(f["comparison"], metrics=["attrition.Z"]),
        ["attrition.Z", "attrition.A"],
    ),
    (
        "not a comparison",
        lambda f: plots.comparison_effects(f["sweep"]),
        ["expected a talentsim Comparison"],
    ),
    ("no durations", lambda f: plots.kaplan_meier([], []), ["kaplan_meier", "no durations"]),
]


@pytest.mark.parametrize(("case", "call", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_a_clear_error(
    inputs: dict[str, Any], case: str, call: Callable[[Any], Any], words: list[str]
) -> None:
    with pytest.raises(ValueError) as caught:
        call(inputs)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    # Raised by talentsim's own checks, not from deep inside matplotlib or pandas.
    assert Path(caught.traceback[-1].path).is_relative_to(Path(ts.__file__).parent)


def test_runs_of_different_scenarios_are_refused(runs: list[ts.RunResult]) -> None:
    two_labs = small_scenario_dict(
        labs={"A": {}, "D": {}}, cohorts={"x": {"size": 5, "lab": "A"}}, events=[]
    )
    other = ts.Scenario.from_dict(two_labs)
    with pytest.raises(ValueError, match="different labs"):
        plots.headcount([runs[0], ts.run(other, seed=1, steps=3)])


def test_kaplan_meier_with_delayed_entry_matches_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(7)
    n = 400
    # 40% start with tenure; entries and exits on a grid, so some entrants come in at the
    # time of others' exits (the delayed entry of starting staff whose tenure is a whole
    # number of steps): they join the risk set after those exits
    entry = np.where(rng.random(n) < 0.4, np.round(rng.uniform(0, 4, n), 1), 0.0)
    exit_ = entry + rng.exponential(2.0, n)
    censor = entry + rng.uniform(0, 3, n)
    left = exit_ <= censor
    durations = np.round(np.minimum(exit_, censor), 1)  # ties, as weekly steps make
    durations = np.maximum(durations, entry)
    assert np.isin(entry[entry > 0], durations[left]).sum() > 20  # entries tied with exits
    table = plots.kaplan_meier(durations, left, entry=entry, confidence=0.95)
    fitter = lifelines.KaplanMeierFitter().fit(durations, left, entry=entry, alpha=0.05)
    times = table["time"].to_numpy()[1:]
    expected = fitter.survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(table["survival"].to_numpy()[1:], expected, rtol=1e-10)
    events = fitter.event_table.loc[times]
    entering = np.where(times == entry.min(), 0, events["entrance"].to_numpy())
    np.testing.assert_array_equal(table["at_risk"].to_numpy()[1:], events["at_risk"] - entering)
    bounds = fitter.confidence_interval_survival_function_.loc[times].to_numpy()
    inside = np.isfinite(table["ci_low"].to_numpy()[1:])
    np.testing.assert_allclose(table["ci_low"].to_numpy()[1:][inside], bounds[inside, 0], rtol=1e-6)
    np.testing.assert_allclose(
        table["ci_high"].to_numpy()[1:][inside], bounds[inside, 1], rtol=1e-6
    )


def test_tenure_survival_counts_starting_tenure_and_skips_tiny_groups(
    scenario: ts.Scenario,
) -> None:
    tenured = scenario.with_overrides({"cohorts.a_staff.tenure": "2y"})
    run = ts.run(tenured, seed=3)
    spells = plots.tenure_spells(run, labs=["A"], cohorts=["a_staff"])
    starters = spells[spells["start"] == 0]
    assert (starters["entry"] == 2.0).all() and (
        spells.loc[spells["start"] > 0, "entry"] == 0
    ).all()
    figure = plots.tenure_survival(run, labs=["A"], by_cohort=False)
    line = figure.axes[0].lines[0]
    assert line.get_xdata()[1:].min() > 0  # exits are at tenures beyond the starting 2 years
    assert any(text.get_text() == "at risk" for text in figure.axes[0].texts)
    few = plots.tenure_survival(run, labs=["A"], min_spells=10**6)
    assert not few.axes[0].lines and "Not drawn" in few.get_supxlabel()  # (the caption)


def test_exit_reason_bars_are_shares_labelled_with_their_counts(runs) -> None:
    figure = plots.exit_reasons(runs[0])
    ax = figure.axes[0]
    reasons = runs[0].exit_reasons(by=("lab", "cohort"))
    counts = {int(n) for n in reasons["count"] if n > 0}
    labelled = [int(text.get_text()) for text in ax.texts]
    assert labelled and set(labelled) <= counts  # each label is a segment's count
    assert ax.get_xlim() == (0, 100) and "numbers: counts" in ax.get_xlabel()
    assert plots.text_colour_on("#000000") == "white" and plots.text_colour_on("#FFFFFF") == "black"


def _clipped_texts(figure: Figure) -> list[str]:
    """What of ``figure`` reaches outside it once drawn: a panel with its ticks, labels and
    title (the panel's tight box, which counts only the ticks drawn), or a figure-level text
    (title, legends, notes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox

    def outside(extent: Any) -> bool:
        return (
            extent.x0 < box.x0 - 1
            or extent.x1 > box.x1 + 1
            or extent.y0 < box.y0 - 1
            or extent.y1 > box.y1 + 1
        )

    clipped = []
    for ax in figure.axes:
        if ax.get_visible() and outside(ax.get_tightbbox(renderer)):
            clipped.append(f"panel {ax.get_title() or ax.get_label()!r}")
    texts = [*figure.texts, *figure.legends]
    if figure._suptitle is not None:
        texts.append(figure._suptitle)
    for artist in texts:
        if artist.get_visible() and outside(artist.get_window_extent(renderer)):
            clipped.append(repr(getattr(artist, "get_text", lambda: "legend")()))
    return clipped


def _long_names(table: pd.DataFrame) -> pd.DataFrame:
    """The sweep table with the long paths a real sweep has (they overflowed the titles)."""
    names = {
        "labs.A.pay_level": "cohorts.a_staff_with_a_long_name.weights.pay",
        "labs.A.reorg_rate": "labs.A_lab_with_a_long_name.reorg_rate",
        "attrition.A": "early_attrition.A_lab_with_a_long_name",
    }
    renamed = table.rename(columns=names)
    renamed.attrs["design"] = {"parameters": [{"path": names[k]} for k in list(names)[:2]]}
    return renamed


LONG_NAMED: dict[str, Callable[[Any], Figure]] = {
    "sweep_heatmap:long-names": lambda f: plots.sweep_heatmap(
        _long_names(f["sweep"]),
        "cohorts.a_staff_with_a_long_name.weights.pay",
        "labs.A_lab_with_a_long_name.reorg_rate",
        "early_attrition.A_lab_with_a_long_name",
        percent=True,
    ),
    "sweep_line:long-names": lambda f: plots.sweep_line(
        _long_names(f["sweep"]),
        "labs.A_lab_with_a_long_name.reorg_rate",
        "early_attrition.A_lab_with_a_long_name",
    ),
}


@pytest.mark.parametrize("name", [*FIGURES, *LONG_NAMED])
@pytest.mark.parametrize("dpi", [60, 100, 200])
def test_no_figure_clips_its_text(name: str, dpi: int, inputs: dict[str, Any]) -> None:
    figure = {**FIGURES, **LONG_NAMED}[name](inputs)
    figure.set_dpi(dpi)
    clipped = _clipped_texts(figure)
    assert not clipped, f"{name} at {dpi} dpi: outside the figure: {clipped}"


def test_swept_parameters_are_labelled_with_their_units() -> None:
    assert plots.parameter_label("labs.MSL.reorg_rate") == "labs.MSL.reorg_rate (per year)"
    assert plots.parameter_label("labs.MSL.pay_level") == "labs.MSL.pay_level (× market value)"
    assert (
        plots.parameter_label("cohorts.x.weights.pay") == "cohorts.x.weights.pay (utility weight)"
    )
    assert plots.parameter_label("market.attachment_half_life").endswith("(duration)")
    assert plots.parameter_label("no.such.path") == "no.such.path"


def test_the_clipping_check_sees_clipped_text() -> None:
    figure = Figure(figsize=(3, 2))
    ax = figure.subplots()
    ax.set_title("a title far too long to fit in a figure this narrow, clipped at both edges")
    assert _clipped_texts(figure)


def test_tenure_survival_restarts_where_nobody_is_at_risk(scenario: ts.Scenario) -> None:
    # Hires enter at tenure 0 and are censored within the year; the starting staff enter at
    # 5 years: between the two nobody is at risk, and the product-limit estimate across that
    # gap is not identified. So the pooled curve is drawn in two parts, the second from 100%
    # at 5 years (survival given that tenure), and the note says so.
    tenured = scenario.with_overrides({"cohorts.a_staff.tenure": "5y"})
    run = ts.run(tenured, seed=3)
    spells = plots.tenure_spells(run, labs=["A"])
    late = spells["entry"] >= 5.0
    assert late.any() and (~late).any()
    figure = plots.tenure_survival(run, labs=["A"], by_cohort=False)
    scale, _ = plots.time_unit(tenured)
    early, later = figure.axes[0].lines[:2]
    assert max(early.get_xdata()) < 5.0 * scale  # the first part ends before the gap
    assert min(later.get_xdata()) == pytest.approx(5.0 * scale)
    assert later.get_ydata()[0] == 100.0
    assert "restarts at 100%" in figure.get_supxlabel()
    from talentsim.plots.run import _risk_set_gap, _risk_set_parts

    entry, exit_ = np.array([0.0, 0.0, 5.0]), np.array([0.5, 0.8, 6.0])
    assert _risk_set_gap(entry, exit_) == 0.8
    assert [list(part) for part in _risk_set_parts(entry, exit_)] == [
        [True, True, False],
        [False, False, True],
    ]
    assert _risk_set_gap(np.array([0.0, 0.5]), np.array([0.5, 0.9])) == 0.9  # (hand-over)


@pytest.mark.parametrize(
    "period",
    [{"start": "60w"}, {"end": -2}, {"end": "5y"}, {"start": -1, "end": "8w"}],
    ids=["start-after-the-run", "end-negative", "end-after-the-run", "start-negative"],
)
def test_a_flow_period_outside_the_run_is_refused(runs, period: dict[str, Any]) -> None:
    # (it drew an all-zero matrix titled, e.g., "weeks 60–52")
    with pytest.raises(ValueError, match=r"flows: (start|end): .* is outside the run \(0 to"):
        plots.flows(runs[0], **period)
    assert plots.flow_matrix(runs[0], end="1y").to_numpy(dtype=float)[0, 1] >= 0  # the run


@pytest.mark.parametrize("window", [-1, 0, "0w"])
def test_an_acceptance_window_must_be_positive(runs, window: Any) -> None:
    with pytest.raises(ValueError, match="offer_acceptance: window: expected a positive"):
        plots.offer_acceptance(runs[0], runs[0].scenario.lab_names[0], window=window)
