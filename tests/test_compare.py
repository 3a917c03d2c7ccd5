"""Paired comparisons (``ts.compare``, ``talentsim compare``) and exit-interview attribution."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import talentsim as ts
from talentsim import terms
from talentsim.cli import main
from talentsim.compare import format_number, format_p_value
from talentsim.results import main_reasons
from tests.conftest import FLAGSHIP, small_scenario_dict

VARIANTS = {
    "richer_a": {"labs.A.pay_level": 3.0},
    "no_switching_cost": {"market.switching_cost": 0},
}


@pytest.fixture(scope="module")
def comparison() -> ts.Comparison:
    return ts.compare(
        ts.Scenario.from_dict(small_scenario_dict()),
        VARIANTS,
        seeds=6,
        metrics=["quits.A", "attrition.A", "boomerangs"],
    )


def test_runs_table_has_every_variant_and_seed(comparison: ts.Comparison) -> None:
    runs = comparison.runs
    assert list(runs["variant"].unique()) == ["baseline", *VARIANTS]
    seeds = runs.groupby("variant")["seed"].apply(tuple)
    assert len(set(seeds)) == 1, "every variant runs on the same seeds"
    assert len(set(seeds.iloc[0])) == 6


def test_effects_are_paired_t_statistics(comparison: ts.Comparison) -> None:
    runs = comparison.runs
    for variant in VARIANTS:
        for metric in ("quits.A", "attrition.A", "boomerangs"):
            b = runs[runs["variant"] == "baseline"].set_index("seed")[metric]
            v = runs[runs["variant"] == variant].set_index("seed").loc[b.index, metric]
            d = (v - b).to_numpy()
            row = comparison.effect(variant, metric)
            half = stats.t.ppf(0.975, 5) * d.std(ddof=1) / np.sqrt(6)
            assert row["effect"] == pytest.approx(d.mean())
            assert row["ci_low"] == pytest.approx(d.mean() - half)
            assert row["ci_high"] == pytest.approx(d.mean() + half)
            assert row["p_value"] == pytest.approx(stats.ttest_rel(v, b).pvalue)
            assert row["n"] == 6


def test_each_run_replays_from_its_recorded_seed(comparison: ts.Comparison) -> None:
    row = comparison.runs[comparison.runs["variant"] == "richer_a"].iloc[2]
    replay = ts.run(
        ts.Scenario.from_dict(small_scenario_dict()),
        seed=int(row["seed"]),
        overrides=VARIANTS["richer_a"],
    )
    assert replay.summary()["quits.A"] == row["quits.A"]


def test_an_executor_gives_the_same_result(comparison: ts.Comparison) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = ts.compare(
            ts.Scenario.from_dict(small_scenario_dict()),
            VARIANTS,
            seeds=6,
            metrics=["quits.A", "attrition.A", "boomerangs"],
            executor=pool,
        )
    pd.testing.assert_frame_equal(parallel.runs, comparison.runs)


def test_metric_functions_and_progress() -> None:
    ticks: list[int] = []
    result = ts.compare(
        ts.Scenario.from_dict(small_scenario_dict()),
        {"richer_a": {"labs.A.pay_level": 3.0}},
        seeds=[1, 2, 3],
        metrics={"a_at_end": lambda r: r.summary()["headcount_end.A"]},
        progress=ticks.append,
    )
    assert len(ticks) == 6
    assert list(result.runs["seed"].unique()) == [1, 2, 3]
    assert set(result.effects["metric"]) == {"a_at_end"}


def test_metric_functions_with_a_process_pool_fail_first() -> None:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1) as pool, pytest.raises(ValueError, match="no executor"):
        ts.compare(
            ts.Scenario.from_dict(small_scenario_dict()),
            {"richer_a": {"labs.A.pay_level": 3.0}},
            seeds=2,
            metrics={"a_at_end": lambda r: r.summary()["headcount_end.A"]},
            executor=pool,
        )


@pytest.mark.parametrize(
    ("variants", "seeds", "metrics", "message"),
    [
        ({"baseline": {}}, 3, None, "reserved"),
        ({}, 3, None, "at least one variant"),
        ({"v": {"labs.Z.pay_level": 2.0}}, 3, None, "variant 'v'"),
        ({"v": {"labs.A.pay_level": -1}}, 3, None, "greater than 0"),
        ({"v": {"labs.A.pay_level": 2.0}}, 1, None, "at least 2 seeds"),
        ({"v": {"labs.A.pay_level": 2.0}}, [4, 4], None, "distinct"),
        ({"v": {"labs.A.pay_level": 2.0}}, 3, ["attrition.Z"], "unknown metric"),
        ({"v": {"labs.A.pay_level": 2.0}}, 3, "attrition.A", "not a string"),
    ],
    ids=["reserved", "none", "bad-path", "bad-value", "one-seed", "dup-seeds", "metric", "str"],
)
def test_bad_comparisons_fail_before_running(variants, seeds, metrics, message) -> None:
    with pytest.raises(ValueError, match=message):
        ts.compare(
            ts.Scenario.from_dict(small_scenario_dict()), variants, seeds=seeds, metrics=metrics
        )


def test_comparison_saves_readable_files(comparison: ts.Comparison, tmp_path: Path) -> None:
    out = comparison.save(tmp_path / "cmp")
    effects = pd.read_csv(out / "effects.csv")
    assert len(effects) == len(comparison.effects)
    document = json.loads((out / "comparison.json").read_text())
    assert document["variants"] == {k: dict(v) for k, v in VARIANTS.items()}
    assert len(document["seeds"]) == 6
    with pytest.raises(FileExistsError):
        comparison.save(tmp_path / "cmp")
    loaded = ts.Comparison.load(out)
    pd.testing.assert_frame_equal(loaded.runs, comparison.runs, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.effects, comparison.effects, check_dtype=False)
    assert loaded.variants == comparison.variants
    assert loaded.confidence == comparison.confidence
    assert loaded.scenario.to_dict() == comparison.scenario.to_dict()
    # a comparison saved before p_holm gets it computed on reading (its table shows it)
    effects.drop(columns="p_holm").to_csv(out / "effects.csv", index=False)
    earlier = ts.Comparison.load(out)
    np.testing.assert_allclose(earlier.effects["p_holm"], comparison.effects["p_holm"])
    assert "p (Holm)" in earlier.table().columns
    effects.to_csv(out / "effects.csv", index=False)
    # a cut runs table (the baseline's first rows only) and a confidence of 5 were read and
    # reported as "2 seeds, no variant runs" and "500%"
    runs = pd.read_csv(out / "runs.csv")
    runs.head(2).to_csv(out / "runs.csv", index=False)
    with pytest.raises(ValueError, match=r"runs\.csv: not every variant has the same seeds"):
        ts.Comparison.load(out)
    runs.to_csv(out / "runs.csv", index=False)
    ts.Comparison.load(out)
    (out / "comparison.json").write_text(json.dumps({**document, "confidence": 5}))
    with pytest.raises(ValueError, match=r"confidence 5\.0 is not a level in \(0, 1\)"):
        ts.Comparison.load(out)
    (out / "runs.csv").unlink()
    with pytest.raises(FileNotFoundError):
        ts.Comparison.load(out)


# --------------------------------------------------------------------------------------------
# Exit reasons
# --------------------------------------------------------------------------------------------


def test_main_reason_is_the_largest_gain() -> None:
    gains = {f"gain_{t}": [0.0, np.nan] for t in terms.names()}
    gains["gain_fairness"] = [0.7, np.nan]
    gains["gain_pay"] = [-1.0, np.nan]
    gains["gain_stability"] = [0.5, np.nan]
    assert list(main_reasons(pd.DataFrame(gains))) == ["fairness", "exogenous"]
    against = {f"gain_{t}": [-0.1] for t in terms.names()}  # made on the logit noise alone
    assert list(main_reasons(pd.DataFrame(against))) == ["idiosyncratic"]


@pytest.fixture(scope="module")
def flagship_run() -> ts.RunResult:
    return ts.run(FLAGSHIP, seed=5)


def test_exit_reasons_account_for_every_departure(flagship_run: ts.RunResult) -> None:
    table = flagship_run.exit_reasons()
    assert set(table["reason"].astype(str)) == {*terms.names(), "idiosyncratic", "exogenous"}
    groups = table.groupby(["lab", "cohort"], observed=True)
    sums = groups["count"].sum()
    departures = groups["departures"].first()
    assert (sums == departures).all()
    assert np.allclose(groups["share"].sum()[departures > 0], 1.0)
    assert sums.sum() == len(flagship_run.departures())
    msl = table[table["lab"] == "MSL"]
    assert msl["count"].sum() > 0


def test_exit_reasons_by_lab_only_and_overall(flagship_run: ts.RunResult) -> None:
    by_lab = flagship_run.exit_reasons(by=("lab",))
    assert list(by_lab.columns) == ["lab", "reason", "count", "departures", "share", "mean_gain"]
    overall = flagship_run.exit_reasons(by=())
    assert overall["count"].sum() == len(flagship_run.departures())
    assert (overall["lab"] == "all labs").all()  # it says that it pools the labs
    by_cohort = flagship_run.exit_reasons(by=("cohort",))
    assert list(by_cohort.columns[:2]) == ["lab", "cohort"] and set(by_cohort["lab"]) == {
        "all labs"
    }
    assert by_cohort["count"].sum() == len(flagship_run.departures())
    with pytest.raises(ValueError, match="cannot group by"):
        flagship_run.exit_reasons(by=("destination",))


def test_result_helpers_check_their_arguments(flagship_run: ts.RunResult) -> None:
    with pytest.raises(KeyError, match="no lab named 'MLS'"):
        flagship_run.retention("MLS")
    with pytest.raises(KeyError, match="no cohort named"):
        flagship_run.departures("MSL", cohorts=["veterans"])
    with pytest.raises(TypeError, match="list of cohort names"):
        flagship_run.departures("MSL", cohorts="msl_veterans")
    assert 0.0 <= flagship_run.retention("MSL", cohorts=["msl_veterans"], at=0.5) <= 1.0
    assert 0.0 <= flagship_run.offer_acceptance("MSL", 0.0, 0.1) <= 1.0


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_compare_prints_effects_and_writes_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    code, printed, err = _cli(
        capsys,
        "compare",
        FLAGSHIP,
        "--variant",
        "no_reorgs:events=[]",
        "--variant",
        "no_reorgs:mechanisms.random_reorganisations=false",
        "--seeds",
        "3",
        "--metric",
        "attrition.MSL",
        "--out",
        out,
    )
    assert code == 0, err
    assert "no_reorgs" in printed and "attrition.MSL" in printed and "95% CI" in printed
    assert sorted(p.name for p in out.iterdir()) == ["comparison.json", "effects.csv", "runs.csv"]
    document = json.loads((out / "comparison.json").read_text())
    assert document["variants"]["no_reorgs"] == {
        "events": [],
        "mechanisms.random_reorganisations": False,
    }


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--variant", "nocolon"], ["--variant", "NAME:KEY=VALUE"]),
        (["--variant", "v:labs.MSL.pay_levl=3"], ["msl_exodus.toml", "--variant v", "pay_level"]),
        (["--variant", "v:labs.MSL.pay_level=3", "--metric", "nope"], ["unknown metric"]),
        (
            ["--variant", "v:labs.MSL.pay_level=3", "--metric", "atrition.MSL"],
            ["did you mean 'attrition.MSL'", "attrition.LAB", "LAB one of MSL, Rival, Frontier"],
        ),
        (["--variant", "v:labs.MSL.pay_level=3", "--seeds", "1"], ["--seeds"]),
        ([], ["at least one --variant"]),
    ],
    ids=["syntax", "bad-key", "bad-metric", "close-metric", "one-seed", "no-variant"],
)
def test_cli_compare_errors_are_clear(tmp_path: Path, capsys, args, words) -> None:
    out = tmp_path / "cmp"
    code, printed, err = _cli(capsys, "compare", FLAGSHIP, *args, "--out", out)
    assert code == 2
    assert err.startswith("error:") and "Traceback" not in printed + err
    for word in words:
        assert word in err, err
    assert not out.exists()


def test_replicates_spawn_recorded_seeds_and_save_the_first(tmp_path: Path) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    results = list(ts.replicates(scenario, 3, root_seed=4, save_first=tmp_path / "first"))
    seeds = [r.seed for r in results]
    assert seeds == ts.seeds.spawn_seeds(4, 3) and len(set(seeds)) == 3
    assert ts.RunResult.load(tmp_path / "first").seed == seeds[0]
    assert [r.seed for r in ts.replicates(scenario, [7, 9])] == [7, 9]
    with pytest.raises(ValueError, match="distinct"):
        list(ts.replicates(scenario, [7, 7]))


# --------------------------------------------------------------------------------------------
# Capacity, visible
# --------------------------------------------------------------------------------------------


def _full_c() -> ts.Scenario:
    """The small market with C nearly full (room for 2 of its 40): recruiting harder there
    fills no more places, it only turns more people away."""
    data = small_scenario_dict()
    data["labs"]["C"]["capacity"] = 42
    return ts.Scenario.from_dict(data)


CAPPED_VARIANTS = {
    "c_recruits": {"labs.C.recruiting_intensity": 4.0},
    "richer_b": {"labs.B.pay_level": 2.0},
}


@pytest.fixture(scope="module")
def capped() -> tuple[ts.Comparison, list[str]]:
    with pytest.warns(ts.CapacityWarning) as caught:
        comparison = ts.compare(_full_c(), CAPPED_VARIANTS, seeds=6)
    return comparison, [str(w.message) for w in caught if w.category is ts.CapacityWarning]


def test_compare_warns_when_capacity_absorbs_an_effect(
    capped: tuple[ts.Comparison, list[str]],
) -> None:
    comparison, warned = capped
    absorbed = comparison.capacity_absorbed()
    # Recruiting harder at a full lab changes who it turns away far more than who it hires.
    assert ("c_recruits", "C") in set(zip(absorbed["variant"], absorbed["lab"], strict=True))
    row = absorbed[(absorbed["variant"] == "c_recruits") & (absorbed["lab"] == "C")].iloc[0]
    assert row["blocked_effect"] > 0 and row["blocked_ci_low"] > 0
    assert abs(row["blocked_effect"]) >= 0.5 * abs(row["hires_effect"])
    # B has no capacity: it never turns anyone away, so nothing there is absorbed.
    assert "B" not in set(absorbed["lab"])
    assert warned == comparison.capacity_warnings()
    assert any("c_recruits" in text and "blocked_by_capacity.C" in text for text in warned)
    effect = comparison.effect("c_recruits", "blocked_by_capacity.C")
    assert effect["effect"] == row["blocked_effect"]


def test_capacity_warnings_survive_saving(
    capped: tuple[ts.Comparison, list[str]], tmp_path: Path
) -> None:
    comparison, _ = capped
    comparison.save(tmp_path / "cmp")
    loaded = ts.Comparison.load(tmp_path / "cmp")
    assert loaded.capacity_warnings() == comparison.capacity_warnings()


def test_headline_metrics_show_who_capped_labs_turn_away() -> None:
    from talentsim.compare import headline_metrics

    shown = headline_metrics(_full_c())
    assert {"blocked_by_capacity.A", "blocked_by_capacity.C"} <= set(shown)
    assert "blocked_by_capacity.B" not in shown  # B has no capacity


def test_cli_compare_prints_the_capacity_warning(tmp_path: Path, capsys) -> None:
    path = tmp_path / "full_c.toml"
    path.write_text(_full_c().to_toml(), encoding="utf-8")
    code, printed, err = _cli(
        capsys,
        "compare",
        path,
        "--variant",
        "c_recruits:labs.C.recruiting_intensity=4",
        "--seeds",
        "4",
        "--out",
        tmp_path / "cmp",
    )
    assert code == 0, err
    assert "blocked_by_capacity.C" in printed
    assert "warning: variant 'c_recruits'" in printed and "absorbed by capacity" in printed


def test_the_report_of_a_comparison_shows_the_capacity_warning(
    capped: tuple[ts.Comparison, list[str]], tmp_path: Path
) -> None:
    from talentsim import report

    comparison, _ = capped
    path = report.write_report(comparison.save(tmp_path / "cmp"))
    document = path.read_text(encoding="utf-8")
    assert "Warning: effects on arrivals absorbed by capacity" in document
    assert "c_recruits" in document and "blocked_by_capacity.C" in document


def test_the_report_of_a_run_counts_who_each_lab_turned_away(tmp_path: Path) -> None:
    from talentsim import report

    result = ts.run(_full_c(), seed=1)
    assert result.summary()["blocked_by_capacity.C"] > 0
    assert (
        result.lab_table().loc["C", "blocked_by_capacity"]
        == (result.summary()["blocked_by_capacity.C"])
    )
    document = report.write_report(result.save(tmp_path / "run")).read_text(encoding="utf-8")
    assert "blocked_by_capacity" in document


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0, "< 1e-4"), (3e-9, "< 1e-4"), (1e-4, "0.0001"), (0.0312, "0.031"), (float("nan"), "—")],
)
def test_p_values_read_as_people_read_them(p: float, text: str) -> None:
    assert format_p_value(p) == text


@pytest.mark.parametrize(
    ("x", "spec", "text"),
    [
        (-0.0, ".3g", "0"),
        (-0.0, "+.3g", "0"),
        (0.0, "+.3g", "0"),
        (-1e-5, ".3g", "-1e-05"),
        (-0.0004, ".2f", "0.00"),
        (0.25, "+.3g", "+0.25"),
        (float("nan"), ".3g", "nan"),
    ],
)
def test_numbers_never_print_a_negative_zero(x: float, spec: str, text: str) -> None:
    assert format_number(x, spec) == text


def test_cli_compare_lists_variants_in_the_order_given(tmp_path: Path, capsys) -> None:
    variants = ["zz_first:labs.MSL.pay_level=3.0", "aa_second:labs.MSL.pay_level=2.0"]
    code, printed, err = _cli(
        capsys,
        "compare",
        FLAGSHIP,
        *[arg for v in variants for arg in ("--variant", v)],
        "--seeds",
        "2",
        "--out",
        tmp_path / "cmp",
    )
    assert code == 0, err
    rows = [line.split()[0] for line in printed.splitlines() if line.startswith(("zz_", "aa_"))]
    assert rows and rows.index("aa_second") > rows.index("zz_first")
    assert rows[: rows.count("zz_first")] == ["zz_first"] * rows.count("zz_first")
    for line in printed.splitlines():
        if line.startswith(("zz_", "aa_")):
            assert not any(field in ("-0", "+0", "0", "-0.0") for field in line.split()[-1:])


def test_results_and_comparisons_render_readably_in_a_notebook(
    comparison: ts.Comparison, flagship_run: ts.RunResult
) -> None:
    page = comparison._repr_html_()
    assert page.startswith("<p><b>Comparison</b>") and "<table" in page
    table = comparison.table()
    assert list(table["variant"].unique()) == list(comparison.variants)
    assert not any(p == "0" for p in table["p"]) and not table["effect"].isin(["-0", "+0"]).any()
    assert "Comparison(scenario=" in repr(comparison) and "DataFrame" not in repr(comparison)
    run_page = flagship_run._repr_html_()
    assert "<table" in run_page and "MSL" in run_page and "%" in run_page


def test_holm_adjustment_is_the_step_down_rule() -> None:
    from talentsim.compare import holm

    # Holm (1979): sorted p_(i) times (m - i + 1), made monotone, capped at 1; NaN not a test
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.005, 0.5])
    expected = np.array([0.04, np.nan, 0.09, 0.09, 0.025, 0.5])
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12)
    assert np.isnan(holm([np.nan])).all() and holm([]).shape == (0,)


def test_holm_column_keeps_false_alarms_rare_where_raw_p_values_do_not() -> None:
    # No variant has any effect on 20 independent metrics: per-row p-values fall below 0.05
    # somewhere in most tables, Holm's in at most about 5% of them. 200 tables; under
    # Binomial(200, 0.05) 20 or more false alarms has probability 0.004.
    from talentsim.compare import paired_effects

    rng = np.random.default_rng(11)
    n, m = 12, 20
    metrics = [f"m{j}" for j in range(m)]
    raw = adjusted = 0
    for _ in range(200):
        base = rng.normal(size=(n, m))
        frames = [
            pd.DataFrame(values, columns=metrics).assign(variant=name, seed=range(n))
            for name, values in (("baseline", base), ("v", base + rng.normal(size=(n, m))))
        ]
        effects = paired_effects(pd.concat(frames))
        raw += bool((effects["p_value"] < 0.05).any())
        adjusted += bool((effects["p_holm"] < 0.05).any())
    assert raw > 100
    assert adjusted < 20


@pytest.mark.parametrize(
    ("metrics", "said"),
    [
        (lambda result: 1.0, "compare: metrics: a function needs a name"),
        ({"x": 3}, "compare: metrics: x: expected a function of a run"),
        ({"x": lambda result: "abc"}, "metric 'x': expected a number from its function, got 'abc'"),
    ],
    ids=["unnamed-function", "not-a-function", "not-a-number"],
)
def test_metrics_of_the_wrong_kind_are_named(metrics: Any, said: str) -> None:
    # they were "'function' object is not iterable" and "could not convert string to float"
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError) as caught:
        ts.compare(scenario, VARIANTS, seeds=2, metrics=metrics, executor=executor)
    assert said in str(caught.value)
