"""The user-facing calibration chain: ts.calibrate, CalibrationResult, calibration files and
``talentsim calibrate`` (fast: tiny markets and budgets)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import talentsim as ts
from talentsim.calibration import (
    CHECKPOINT_FILE,
    FEW_PARTICLES,
    CalibrationError,
    CalibrationResult,
    MomentsLog,
    as_parameters,
    load_calibration,
    weighted_quantiles,
)
from talentsim.cli import main
from talentsim.smm import Parameter, smm
from talentsim.targets import Target, target_values
from tests.conftest import (
    child_processes,
    small_scenario_dict,
    still_running_after,
    talentsim_cli,
)
from tests.test_smm import SOURCE, TINY, separation_rate, twice_separation_rate

TARGETS = [
    Target(name="m1", statistic=separation_rate, observed=0.3, se=0.1, source=SOURCE),
    Target(name="m2", statistic=twice_separation_rate, observed=0.8, se=0.2, source=SOURCE),
]
# By hand (tests/test_smm.py): θ̂ = 0.35, se = sqrt(1.25 / 200) with R = 4.
BOUNDS = {"market.separation_rate": (0.05, 1.0), "labs.A.pay_level": (0.5, 3.0)}
SEARCH = {"maxiter": 3, "popsize": 4, "replicates": 4}


@pytest.fixture(scope="module")
def screened() -> CalibrationResult:
    """pay_level moves no target: the screening fixes it at the scenario's value."""
    return ts.calibrate(TINY, TARGETS, BOUNDS, **SEARCH)


def test_calibrate_fixes_a_parameter_no_target_depends_on(screened: CalibrationResult) -> None:
    assert screened.method == "smm"
    assert screened.parameter_names == ["market.separation_rate"]
    assert screened.fixed == {"labs.A.pay_level": 1.0}  # the scenario's (default) value
    assert "do not identify it" in screened.fixed_reason
    assert screened.estimates["market.separation_rate"] == pytest.approx(0.35, abs=1e-3)
    assert screened.screening is not None
    assert screened.screening.loc["labs.A.pay_level", "sensitivity"] == 0.0
    assert screened.screening.loc["market.separation_rate", "sensitivity"] > 1.0
    table = screened.identification()
    assert bool(table.loc["market.separation_rate", "identified"])
    assert not bool(table.loc["labs.A.pay_level", "identified"])
    assert "fixed at 1" in table.loc["labs.A.pay_level", "note"]
    assert "not identified by these targets:\n  labs.A.pay_level" in screened.format()


def test_identification_flags_a_parameter_no_target_depends_on() -> None:
    fit = ts.calibrate(
        TINY, TARGETS, BOUNDS, fix_unidentified=False, maxiter=2, popsize=3, replicates=2
    )
    assert fit.fixed == {} and fit.screening is None
    table = fit.identification()
    # m = (θ, 2θ) over a range of 0.95 with σ = (0.1, 0.2): sqrt(9.5² + 9.5²) standard errors
    assert table.loc["market.separation_rate", "sensitivity"] == pytest.approx(
        math.hypot(9.5, 9.5), rel=1e-3
    )
    assert table.loc["labs.A.pay_level", "sensitivity"] == 0.0
    assert not bool(table.loc["labs.A.pay_level", "identified"])
    assert "0 standard errors" in table.loc["labs.A.pay_level", "note"]
    assert bool(table.loc["market.separation_rate", "identified"])
    assert table.attrs["rank"] == 1 and table.attrs["parameters"] == 2


def test_a_calibration_whose_targets_identify_nothing_is_refused() -> None:
    with pytest.raises(CalibrationError, match="identify none of the parameters"):
        ts.calibrate(TINY, TARGETS, {"labs.A.pay_level": (0.5, 3.0)}, **SEARCH)


def test_estimates_intervals_and_fit_table_of_an_smm_fit(screened: CalibrationResult) -> None:
    intervals = screened.intervals(0.95)
    se = math.sqrt(1 / 200)  # deterministic moments: Ω = diag(σ²), no simulation-noise term
    row = intervals.loc["market.separation_rate"]
    assert row["se"] == pytest.approx(se, rel=1e-3)
    assert row["low"] == pytest.approx(0.35 - 1.959964 * se, rel=1e-3)
    assert screened.posterior is None
    fit = screened.fit_table()
    assert list(fit["target"]) == ["m1", "m2"]
    # deterministic moments: the simulated means are m(θ̂) and their intervals have no width
    assert fit["simulated"].to_numpy() == pytest.approx([0.35, 0.70], abs=2e-3)
    assert fit["interval_low"].to_numpy() == pytest.approx(fit["simulated"].to_numpy())
    assert list(fit["inside"]) == [True, True]  # 0.35 ∈ 0.3 ± 0.196, 0.70 ∈ 0.8 ± 0.392
    assert fit["z"].to_numpy() == pytest.approx([0.5, -0.5], abs=0.02)
    assert "4 replicates" in fit["interval"].iloc[0]
    diagnostics = screened.diagnostics
    assert diagnostics["j_df"] == 1 and diagnostics["at_bound"] == []
    assert diagnostics["objective"] == pytest.approx(0.5, rel=1e-2)
    trace = screened.trace
    assert len(trace) == diagnostics["evaluations"]
    assert trace["objective"].min() == pytest.approx(0.5, rel=1e-2)


def test_to_scenario_round_trips_with_provenance_comments(
    screened: CalibrationResult, tmp_path: Path
) -> None:
    path = tmp_path / "fitted.toml"
    fitted = screened.to_scenario(path)
    loaded = ts.load_scenario(path)
    assert loaded == fitted
    assert loaded.to_dict() == fitted.to_dict()
    assert loaded.market.separation_rate == pytest.approx(screened.estimates.iloc[0], rel=1e-12)
    assert loaded.labs["A"].pay_level == 1.0
    lines = path.read_text(encoding="utf-8").split("\n")
    where = next(i for i, line in enumerate(lines) if line.startswith("separation_rate ="))
    comment = "\n".join(lines[where - 2 : where])
    assert comment.startswith("# fitted by talentsim ")
    assert "(SMM)" in comment and "seed 0" in comment and screened.created[:10] in comment
    assert re.search(r"estimate 0\.35\d* ± 0\.0707 \(se\), 95% interval \[0\.21", comment)
    where = next(i for i, line in enumerate(lines) if line.startswith("pay_level ="))
    assert lines[where - 1].startswith("# not estimated by the calibration")
    assert lines[0].startswith("# Calibrated scenario: scenario 'tiny' fitted to targets by SMM")


def test_a_fitted_weight_written_as_a_table_gets_its_comment(
    screened: CalibrationResult, tmp_path: Path
) -> None:
    # A cohort weight is a distribution table in the file ([cohorts.a.weights.pay]); a fitted
    # one is {dist = "fixed", value = ...}, and its comment goes above the table's header.
    weight = Parameter("cohorts.a.weights.pay", 0.0, 2.0)
    result = CalibrationResult(
        screened.fit,
        scenario=TINY,
        targets=TARGETS,
        parameters=[weight],
        seed=0,
    )
    path = tmp_path / "weight.toml"
    fitted = result.to_scenario(path)
    assert ts.load_scenario(path) == fitted
    assert fitted.to_dict()["cohorts"]["a"]["weights"]["pay"] == {
        "dist": "fixed",
        "value": pytest.approx(0.35, abs=1e-3),  # (the SMM fit's estimate, reused)
    }
    lines = path.read_text(encoding="utf-8").split("\n")
    where = lines.index("[cohorts.a.weights.pay]")
    assert lines[where - 2].startswith("# fitted by talentsim")


@dataclass
class HandBuiltABC:
    """What the ABC estimator returns (talentsim.approximate_bayes.ABCResult), by hand."""

    posterior: pd.DataFrame
    parameters: list[str]
    targets: Any
    generations: pd.DataFrame
    n_simulations: int
    history: str = "abc.sqlite"
    run_id: int = 1
    method: str = "abc"
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def abc_fit() -> CalibrationResult:
    rng = np.random.default_rng(5)
    n = 600
    posterior = pd.DataFrame(
        {
            # a narrow posterior: values 0.2, 0.4, 0.6 weighted 1:2:1 (mean 0.4, sd 0.1414)
            "market.separation_rate": np.tile([0.2, 0.4, 0.6], n // 3),
            # as wide as its uniform prior on [0.5, 3]: the targets say nothing about it
            "labs.A.pay_level": rng.uniform(0.5, 3.0, n),
            "weight": np.tile([1.0, 2.0, 1.0], n // 3),
        }
    )
    generations = pd.DataFrame({"t": [0, 1, 2], "epsilon": [5.0, 2.0, 0.7], "ess": [600, 410, 380]})
    parameters = [
        Parameter("market.separation_rate", 0.05, 1.0, unit="/year"),
        Parameter("labs.A.pay_level", 0.5, 3.0),
    ]
    fit = HandBuiltABC(posterior, [p.path for p in parameters], TARGETS, generations, 1800)
    return CalibrationResult(fit, scenario=TINY, targets=TARGETS, parameters=parameters, seed=3)


def test_an_abc_result_gives_posterior_estimates_intervals_and_identification(
    abc_fit: CalibrationResult,
) -> None:
    assert abc_fit.method == "abc"
    posterior = abc_fit.posterior
    assert posterior is not None and posterior["weight"].sum() == pytest.approx(1.0)
    assert abc_fit.estimates["market.separation_rate"] == pytest.approx(0.4)
    intervals = abc_fit.intervals(0.5)
    row = intervals.loc["market.separation_rate"]
    assert row["median"] == pytest.approx(0.4)
    assert row["sd"] == pytest.approx(math.sqrt(0.02))
    assert 0.2 <= row["low"] < 0.4 < row["high"] <= 0.6
    table = abc_fit.identification()
    prior_sd = 0.95 / math.sqrt(12)
    assert table.loc["market.separation_rate", "width_ratio"] == pytest.approx(
        math.sqrt(0.02) / prior_sd
    )
    assert bool(table.loc["market.separation_rate", "identified"])
    # a uniform sample of the prior: width ratio 1 up to sampling error (600 draws: ± ~5%)
    assert table.loc["labs.A.pay_level", "width_ratio"] == pytest.approx(1.0, abs=0.1)
    assert not bool(table.loc["labs.A.pay_level", "identified"])
    diagnostics = abc_fit.diagnostics
    assert diagnostics["final_epsilon"] == 0.7 and diagnostics["final_ess"] == 380
    assert diagnostics["n_simulations"] == 1800
    assert list(abc_fit.trace["epsilon"]) == [5.0, 2.0, 0.7]


def test_an_abc_posterior_on_few_effective_particles_is_flagged(
    abc_fit: CalibrationResult,
) -> None:
    # the fixture's weights 1:2:1 over 600 particles: effective size 533, not flagged
    assert abc_fit.diagnostics["posterior_ess"] == pytest.approx(1 / (200 * 6 / 800**2))
    assert not abc_fit.diagnostics["few_particles"]
    assert "few effective particles" not in abc_fit.format()
    # one particle carries most of the weight: effective size 1 / (0.8² + 19·(0.2/19)²) ≈ 1.6
    posterior = pd.DataFrame(
        {
            "market.separation_rate": np.linspace(0.2, 0.6, 20),
            "labs.A.pay_level": np.linspace(0.5, 3.0, 20),
            "weight": [0.8] + [0.2 / 19] * 19,
        }
    )
    lopsided = CalibrationResult(
        HandBuiltABC(posterior, abc_fit.fit.parameters, TARGETS, abc_fit.fit.generations, 60),
        scenario=TINY,
        targets=TARGETS,
        parameters=abc_fit.parameters,
        seed=3,
    )
    ess = 1 / (0.8**2 + 19 * (0.2 / 19) ** 2)
    assert lopsided.diagnostics["posterior_ess"] == pytest.approx(ess)
    assert lopsided.diagnostics["few_particles"]
    text = lopsided.format()
    assert f"few effective particles (2, below {FEW_PARTICLES})" in text
    assert f"about {1 / math.sqrt(ess):.2f} posterior standard deviations" in text


def test_an_abc_fit_table_is_the_posterior_predictive(abc_fit: CalibrationResult) -> None:
    fit = abc_fit.fit_table(draws=100)
    # m1 = θ at each draw: its predictive mean is the posterior mean 0.4 up to the sampling
    # error of 100 draws (sd 0.141 / sqrt(100) = 0.014; tolerance 4 of those)
    m1 = fit.set_index("target").loc["m1"]
    assert m1["simulated"] == pytest.approx(0.4, abs=0.06)
    assert m1["interval_low"] == pytest.approx(0.2) and m1["interval_high"] == pytest.approx(0.6)
    assert fit.set_index("target").loc["m2", "simulated"] == pytest.approx(0.8, abs=0.12)
    assert "posterior predictive (100 draws)" in fit["interval"].iloc[0]
    again = abc_fit.posterior_predictive(5)
    assert again.equals(abc_fit.posterior_predictive(5))  # seeded by the calibration's seed


def test_an_abc_fitted_scenario_records_the_posterior(
    abc_fit: CalibrationResult, tmp_path: Path
) -> None:
    path = tmp_path / "abc.toml"
    fitted = abc_fit.to_scenario(path)
    assert ts.load_scenario(path) == fitted
    text = path.read_text(encoding="utf-8")
    assert "fitted by talentsim" in text and "(ABC)" in text
    assert "posterior mean 0.4 (median 0.4), 95% posterior interval [0.2" in text
    assert "prior uniform on [0.05, 1]" in text and "1800 simulations" in text


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ('{"kind": "talentsim calibration"}', "calibration.json: missing 'method'"),
        ('{"x": 1}', "calibration.json: not a calibration talentsim wrote"),
    ],
)
def test_a_report_of_a_gutted_calibration_json_is_refused(
    abc_fit: CalibrationResult, tmp_path: Path, document: str, said: str
) -> None:
    # it gave a report of "method ?", "scenario file None", "root seed None", exit 0
    from talentsim.report import ReportError, write_report

    folder = abc_fit.save(tmp_path / "abc", draws=10)
    (folder / "calibration.json").write_text(document, encoding="utf-8")
    with pytest.raises(ReportError, match="cannot read the calibration") as caught:
        write_report(folder)
    assert said in str(caught.value)
    assert not (folder / "report").exists()


def test_an_abc_calibration_folder_gets_a_report_with_the_posterior(
    abc_fit: CalibrationResult, tmp_path: Path
) -> None:
    from talentsim.report import detect, write_report

    folder = abc_fit.save(tmp_path / "abc", draws=10)
    posterior = pd.read_csv(folder / "posterior.csv")
    assert list(posterior.columns) == [*abc_fit.parameter_names, "weight"]
    assert detect(folder) == "calibration"
    html = write_report(folder).read_text(encoding="utf-8")
    for name in ("fit", "marginals", "pairs"):
        assert f'id="figure-{name}"' in html and (folder / "report" / f"{name}.png").is_file()
    assert "was not drawn" not in html
    assert "posterior predictive check" in html
    assert "Not identified by these targets: labs.A.pay_level" in html


def test_calibrate_dispatches_abc_to_the_estimator_and_wraps_its_result(
    monkeypatch: pytest.MonkeyPatch, abc_fit: CalibrationResult
) -> None:
    # The ABC estimator is its own module (talentsim.approximate_bayes); here a stand-in
    # with its interface records what the dispatcher hands it.
    import types

    calls: list[dict[str, Any]] = []

    def abc_smc(
        scenario: ts.Scenario,
        targets: ts.Targets,
        parameters: list[Parameter],
        *,
        seed: int = 0,
        population: int = 100,
        resume: bool = False,
    ) -> HandBuiltABC:
        calls.append(
            {"scenario": scenario, "parameters": [p.path for p in parameters], "seed": seed}
            | {"population": population, "resume": resume, "targets": targets}
        )
        return abc_fit.fit

    module = types.ModuleType("talentsim.approximate_bayes")
    module.abc_smc = abc_smc  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "talentsim.approximate_bayes", module)
    fit = ts.calibrate(
        TINY,
        TARGETS,
        {"market.separation_rate": (0.05, 1.0), "labs.A.pay_level": (0.5, 3.0)},
        method="abc",
        seed=7,
        population=50,
        fix_unidentified=False,
    )
    (call,) = calls
    assert call["seed"] == 7 and call["population"] == 50 and call["resume"] is False
    assert call["parameters"] == ["market.separation_rate", "labs.A.pay_level"]
    assert call["scenario"].name == "tiny" and [t.name for t in call["targets"].targets] == [
        "m1",
        "m2",
    ]
    assert fit.method == "abc" and fit.seed == 7
    assert fit.estimates["market.separation_rate"] == pytest.approx(0.4)
    with pytest.raises(CalibrationError, match="generations: not an option of method 'abc'"):
        ts.calibrate(
            TINY,
            TARGETS,
            {"market.separation_rate": (0.05, 1.0)},
            method="abc",
            generations=3,
            fix_unidentified=False,
        )


def test_abc_option_under_a_calibration_files_name_says_its_python_name() -> None:
    pytest.importorskip("pyabc")
    file_names = {"population": 10, "generations": 1}  # a calibration file's [budget] keys
    with pytest.raises(CalibrationError) as caught:
        ts.calibrate(
            TINY, TARGETS, {"market.separation_rate": (0.05, 1.0)}, method="abc", **file_names
        )
    message = str(caught.value)
    assert message.startswith("population, generations: not an option of method 'abc'")
    assert message.endswith(
        "in Python the [budget] names population and generations of a calibration file are "
        "population_size and max_generations"
    )


def test_calibrate_takes_the_design_contracts_keywords() -> None:
    # docs: ts.calibrate(sc, params={...}, targets=..., method=...); fit.table
    fit = ts.calibrate(
        TINY,
        params={"market.separation_rate": (0.05, 1.0)},
        targets=TARGETS,
        method="smm",
        maxiter=1,
        popsize=3,
        replicates=2,
        polish=False,
    )
    assert list(fit.table["target"]) == ["m1", "m2"]
    with pytest.raises(CalibrationError, match="method: expected one of smm, abc"):
        ts.calibrate(TINY, TARGETS, {"market.separation_rate": (0.05, 1.0)}, method="mle")  # type: ignore[arg-type]
    with pytest.raises(CalibrationError, match="maxiterations: not an option of method 'smm'"):
        ts.calibrate(TINY, TARGETS, {"market.separation_rate": (0.05, 1.0)}, maxiterations=3)
    with pytest.raises(CalibrationError, match=r"market\.nope"):
        ts.calibrate(TINY, TARGETS, {"market.nope": (0.05, 1.0)})


def test_an_abc_result_without_the_parameters_columns_is_refused() -> None:
    fit = HandBuiltABC(
        pd.DataFrame({"x": [1.0], "weight": [1.0]}), ["x"], TARGETS, pd.DataFrame(), 1
    )
    with pytest.raises(ValueError, match=r"missing \['market.separation_rate'\]"):
        CalibrationResult(
            fit,
            scenario=TINY,
            targets=TARGETS,
            parameters=[Parameter("market.separation_rate", 0.05, 1.0, unit="/year")],
        )


def test_weighted_quantiles_match_numpy_for_equal_weights() -> None:
    # (with equal weights the midpoint rule is Hazen's definition, numpy's method "hazen")
    values = np.random.default_rng(0).normal(size=1001)
    levels = [0.025, 0.5, 0.975]
    found = weighted_quantiles(values, np.ones_like(values), levels)
    assert found == pytest.approx(np.quantile(values, levels, method="hazen"), rel=1e-12)
    # a level below the first midpoint is the smallest value (no extrapolation)
    assert weighted_quantiles(np.array([1.0, 2.0]), np.array([1.0, 3.0]), [0.1]) == [1.0]


def test_the_moments_log_resumes_and_refuses_another_calibration(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.jsonl"
    log = MomentsLog(path, fingerprint="a")
    log[(0.1, 0.2)] = np.array([[1.0, math.nan]])
    log[(0.3, 0.4)] = np.array([[2.0, 3.0]])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"theta": [0.5, 0.6], "val')  # a line cut short by a kill
    again = MomentsLog(path, fingerprint="a", resume=True)
    assert list(again) == [(0.1, 0.2), (0.3, 0.4)] and again.resumed == 2
    assert np.isnan(again[(0.1, 0.2)][0, 1]) and again[(0.3, 0.4)][0, 1] == 3.0
    # the cut line is dropped from the file, so the next candidate is not glued onto it (and
    # lost with it at the next resume)
    again[(0.7, 0.8)] = np.array([[4.0, 5.0]])
    third = MomentsLog(path, fingerprint="a", resume=True)
    assert list(third) == [(0.1, 0.2), (0.3, 0.4), (0.7, 0.8)]
    with pytest.raises(CalibrationError, match="written for another calibration"):
        MomentsLog(path, fingerprint="b", resume=True)
    with pytest.raises(CalibrationError, match="pass --resume"):
        MomentsLog(path, fingerprint="a")
    # a checkpoint that is binary, or a folder: named, not a UnicodeDecodeError
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(CalibrationError, match="not a readable SMM checkpoint"):
        MomentsLog(path, fingerprint="a", resume=True)
    path.unlink()
    path.mkdir()
    with pytest.raises(CalibrationError, match="not a readable SMM checkpoint"):
        MomentsLog(path, fingerprint="a", resume=True)


# ---- calibration files and the command line ---------------------------------------------------

TARGETS_TOML = """
name = "small_targets"
scenario = "small"

[[targets]]
name = "attrition_a"
statistic = "attrition_rate"
args = { lab = "A" }
observed = 0.35
se = 0.05
[targets.source]
citation = "synthetic"
measures = "a number to fit"

[[targets]]
name = "attrition_b"
statistic = "attrition_rate"
args = { lab = "B" }
band = [0.1, 0.4]
source = { citation = "synthetic", measures = "a number to fit" }
"""

CALIBRATION_TOML = """
scenario = "small.toml"
targets = "targets.toml"
method = "smm"
seed = 1

[parameters]
"market.separation_rate" = [0.02, 0.6]

[budget]
replicates = 2
maxiter = 1
popsize = 3
polish = false
screening_replicates = 2
"""


@pytest.fixture
def calibration_file(tmp_path: Path) -> Path:
    scenario = ts.Scenario.from_dict(small_scenario_dict(time={"step": "1mo", "duration": "1y"}))
    (tmp_path / "small.toml").write_text(scenario.to_toml(), encoding="utf-8")
    (tmp_path / "targets.toml").write_text(TARGETS_TOML, encoding="utf-8")
    path = tmp_path / "fit.toml"
    path.write_text(CALIBRATION_TOML, encoding="utf-8")
    return path


_cli = talentsim_cli


def test_the_command_line_calibrates_reports_and_resumes(
    calibration_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = _cli("calibrate", str(calibration_file), "--out", str(out), "--report", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "market.separation_rate" in done.stdout and "attrition_a" in done.stdout
    assert "95% CI of the mean over 2 replicates" in done.stdout
    for name in ("estimates.csv", "fit.csv", "identification.csv", "trace.csv", "scenario.toml"):
        assert (out / name).is_file(), name
    metadata = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert metadata["method"] == "smm" and metadata["seed"] == 1
    trace = pd.read_csv(out / "trace.csv")
    fitted = ts.load_scenario(out / "scenario.toml")
    estimate = pd.read_csv(out / "estimates.csv", index_col="parameter")["estimate"].iloc[0]
    assert fitted.market.separation_rate == pytest.approx(estimate, rel=1e-12)
    assert "# fitted by talentsim" in (out / "scenario.toml").read_text(encoding="utf-8")
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Calibration of scenario &#x27;small&#x27; (SMM)" in html
    assert "Fit per target" in html and 'id="figure-trace"' in html
    assert "was not drawn" not in html

    # A fit killed half-way: the checkpoint keeps the first candidates (and a cut line);
    # --resume simulates only the rest and finds the same estimate.
    checkpoint = (out / "checkpoint.jsonl").read_text(encoding="utf-8").split("\n")
    candidates = [line for line in checkpoint[1:] if line]
    kept = checkpoint[: 1 + len(candidates) // 2]
    (out / "checkpoint.jsonl").write_text("\n".join(kept) + '\n{"theta": [0.1', encoding="utf-8")
    again = _cli("calibrate", str(calibration_file), "--out", str(out), "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = pd.read_csv(out / "estimates.csv", index_col="parameter")["estimate"].iloc[0]
    assert resumed == estimate
    # ... and reports the same fit: its trace and the count of candidates evaluated (those
    # read from the checkpoint included)
    pd.testing.assert_frame_equal(pd.read_csv(out / "trace.csv"), trace)
    again_metadata = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert again_metadata["diagnostics"]["evaluations"] == metadata["diagnostics"]["evaluations"]
    lines = [x for x in (out / "checkpoint.jsonl").read_text(encoding="utf-8").split("\n")[1:]]
    assert len([x for x in lines if x.startswith('{"theta"') and x.endswith("}")]) == len(
        candidates
    )

    # Without --resume, a non-empty folder is refused.
    assert main(["calibrate", str(calibration_file), "--out", str(out)]) == 2


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_an_interrupt_inside_compiled_code_ends_as_an_interrupt(
    calibration_file: Path, tmp_path: Path, capsys, monkeypatch, signal_name: str
) -> None:
    # A signal handler's exception raised inside a callback from compiled code (numba loading
    # a compiled function) reaches Python as a SystemError caused by it: seen once in 16 runs
    # of the test below, a traceback where the interrupt's message was due.
    from talentsim import calibration, cli

    interrupt = cli.Terminated() if signal_name == "SIGTERM" else KeyboardInterrupt()

    def interrupted(*args: Any, **kwargs: Any) -> None:
        try:
            raise interrupt
        except KeyboardInterrupt as exc:
            raise SystemError("_numba_unpickle returned a result with an exception set") from exc

    monkeypatch.setattr(calibration, "calibrate_file", interrupted)
    out = tmp_path / "out"
    status = main(["calibrate", str(calibration_file), "--out", str(out), "--quiet"])
    assert status == (143 if signal_name == "SIGTERM" else 130)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "rerun with --resume to continue" in err

    # ... and a SystemError of another cause is not taken for one
    def failed(*args: Any, **kwargs: Any) -> None:
        raise SystemError("another failure")

    monkeypatch.setattr(calibration, "calibrate_file", failed)
    with pytest.raises(SystemError):
        main(["calibrate", str(calibration_file), "--out", str(tmp_path / "other"), "--quiet"])


def test_the_command_line_reads_the_calibration_file_once(
    calibration_file: Path, tmp_path: Path, monkeypatch
) -> None:
    # (it used to read it, and its scenario and targets, twice: to check them before the
    # compile, then again to fit; an edit in between made the fit differ from what was checked)
    from talentsim import calibration

    reads: list[str] = []
    read = calibration.read_calibration

    def counted(path: Any) -> Any:
        reads.append(str(path))
        return read(path)

    monkeypatch.setattr(calibration, "read_calibration", counted)
    out = tmp_path / "out"
    assert main(["calibrate", str(calibration_file), "--out", str(out), "--quiet"]) == 0
    assert reads == [str(calibration_file)]
    assert (out / "calibration.json").is_file()


def test_a_fit_whose_worker_died_ends_with_one_error_line(
    calibration_file: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    # (abc_smc's SweepError when a worker of the shared pool dies: tests/test_approximate_bayes)
    from talentsim import calibration
    from talentsim.experiments import SweepError

    def died(*args: Any, **kwargs: Any) -> None:
        raise SweepError("a worker process died (...); rerun with resume=True (--resume)")

    monkeypatch.setattr(calibration, "calibrate_file", died)
    status = main(["calibrate", str(calibration_file), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "error: a worker process died (...); rerun with resume=True (--resume)"
    ]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("method", ["smm", "abc"])
def test_a_fit_stopped_by_sigterm_keeps_what_it_simulated_and_says_how_to_resume(
    calibration_file: Path, tmp_path: Path, method: str
) -> None:
    # SIGTERM (timeout, SLURM) to a running fit: Ctrl-C's way out, status 143, the checkpoint
    # whole (SMM: each candidate's line complete), ABC's workers stopped, the command saying
    # how to continue; no traceback, no calibration.json (not passed off as a finished fit).
    text = calibration_file.read_text(encoding="utf-8").replace("maxiter = 1", "maxiter = 400")
    if method == "abc":
        text = text.replace('method = "smm"', 'method = "abc"').replace("maxiter = 400\n", "")
        text = text.replace("popsize = 3\npolish = false\n", "generations = 400\npopulation = 50\n")
    calibration_file.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "talentsim", "calibrate", str(calibration_file)]
    options = ["--workers", "2"] if method == "abc" else []
    process = subprocess.Popen(
        [*command, "--out", str(out), "--quiet", *options],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # (the signal goes to the fit alone, not to its workers)
    )
    checkpoint = out / (CHECKPOINT_FILE if method == "smm" else "abc.sqlite")
    workers: list[int] = []
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            written = checkpoint.is_file() and method == "smm"
            if written and checkpoint.read_text(encoding="utf-8").count("\n") > 3:
                break
            if method == "abc" and checkpoint.is_file() and len(child_processes(process.pid)) >= 2:
                time.sleep(2)  # (the workers at work)
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the fit ended first: {process.communicate()}"
        workers = child_processes(process.pid)
        seen = checkpoint.read_text(encoding="utf-8").count("\n") - 1 if method == "smm" else 0
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert not still_running_after(workers), "workers left behind"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert f"terminated (SIGTERM): what was simulated is kept in {out}/" in err
    assert "rerun with --resume to continue" in err
    assert not (out / "calibration.json").exists()
    if method == "smm":
        lines = checkpoint.read_text(encoding="utf-8").split("\n")
        assert lines[-1] == ""  # (the last candidate's line finished)
        candidates = [json.loads(line) for line in lines[1:-1]]
        assert len(candidates) >= seen and all("theta" in line for line in candidates)
    else:
        assert len(workers) >= 2, workers
        assert checkpoint.is_file()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("fit.toml", 'scenario = "small.toml"', 'scenario = "nope.toml"'),
            "scenario: no such file",
        ),
        (
            ("fit.toml", '"market.separation_rate"', '"market.separation_rat"'),
            "market.separation_rat",
        ),
        (("fit.toml", "maxiter = 1", "maxiter = 1\nmaxitr = 3"), "budget.maxitr"),
        (("fit.toml", 'targets = "targets.toml"', 'targets = "."'), "targets: '.' is a folder"),
        (("fit.toml", "popsize = 3", "popsize = 100000000000"), "budget.popsize"),
        (
            ("fit.toml", "[0.02, 0.6]", "[0.02, 0.6]\nmarket.separation_rate = [0.1, 0.5]"),
            "market.separation_rate: given twice",
        ),
        (("fit.toml", '"market.separation_rate" = [0.02, 0.6]', "market = {}"), "empty table"),
        (("fit.toml", '"market.separation_rate" = [0.02, 0.6]', ""), "give at least one parameter"),
        (
            (
                "fit.toml",
                '"market.separation_rate" = [0.02, 0.6]',
                '"market.switching_cost" = [-5.0, 3.0]',
            ),
            "bounds [-5, 3]: the low bound is out of range",
        ),
        (
            ("fit.toml", '"market.separation_rate"', '"market.separaton_rate"'),
            "parameters: market.separaton_rate: unknown key",
        ),
        (  # a lab that is not there: said as --set says it, not "cannot be estimated"
            ("fit.toml", '"market.separation_rate"', '"labs.Z.pay_level"'),
            "parameters: labs.Z.pay_level: no key 'labs.Z' in the scenario",
        ),
        (  # a switch takes no number: the field refuses every value given
            ("fit.toml", '"market.separation_rate"', '"mechanisms.peers"'),
            "parameters: mechanisms.peers: cannot be estimated: the scenario refuses it",
        ),
        (("fit.toml", "replicates = 2", "replicates = 100000000000"), "budget.replicates"),
        (
            ("fit.toml", "\nreplicates = 2", "\nreplicates = 1"),
            "budget.replicates: method smm needs at least 2 (got 1)",
        ),
        (("fit.toml", "polish = false", 'polish = "no"'), "budget.polish"),
        (("fit.toml", "seed = 1", 'seed = 1\nfix_unidentified = "yes"'), "fix_unidentified"),
        (("fit.toml", "[0.02, 0.6]", "[0.6, 0.02]"), "low < high"),
        (("fit.toml", 'method = "smm"', 'method = "mcmc"'), "method"),
        (("targets.toml", "observed = 0.35\nse = 0.05", "at_least = 0.35"), "not a moment"),
    ],
)
def test_bad_calibration_input_is_one_clear_line_and_no_traceback(
    calibration_file: Path,
    tmp_path: Path,
    change: tuple[str, str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, old, new = change
    path = tmp_path / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    # (in process: main() is what the console script runs; the subprocess tests above and
    # below check that nothing else prints a traceback)
    status = main(["calibrate", str(calibration_file), "--out", str(tmp_path / "o")])
    stderr = capsys.readouterr().err
    assert status == 2
    assert stderr.startswith("error: ") and message in stderr
    assert str(tmp_path) in stderr or name in stderr


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("labs.Nowhere.pay_level", "no key 'labs.Nowhere' in the scenario"),
        ("market.switching_cots", "unknown key; did you mean 'switching_cost'?"),
    ],
)
def test_a_parameter_path_that_does_not_exist_is_blamed_not_its_bounds(
    path: str, said: str
) -> None:
    small = ts.Scenario.from_dict(small_scenario_dict())
    with pytest.raises(CalibrationError) as refused:
        as_parameters(small, {path: (0.25, 3.0)})
    assert said in str(refused.value)
    assert "out of range" not in str(refused.value)  # (it said the low bound was)


def test_a_parameter_that_takes_whole_numbers_is_refused() -> None:
    # every candidate with a fraction would be refused by the scenario: say so at once
    small = ts.Scenario.from_dict(small_scenario_dict())
    lab = next(iter(small.labs))
    with pytest.raises(CalibrationError, match=rf"labs\.{lab}\.capacity: takes whole numbers"):
        as_parameters(small, {f"labs.{lab}.capacity": (500, 900)})
    assert as_parameters(small, {"market.separation_rate": (0.02, 0.6)})  # a real number


def test_bounds_reaching_values_the_scenario_refuses_are_refused_before_any_run() -> None:
    # [-0.1, 0.6] for a rate: accepted at its middle, refused at its low bound, which SMM's
    # candidates reach (clipped to the bounds) and the screening neared (at 25%, a negative
    # rate): the fit stopped there with "overrides: ... (got -0.0325)", naming no file or
    # bound; now refused at once, naming the bound
    small = ts.Scenario.from_dict(small_scenario_dict())
    with pytest.raises(CalibrationError) as refused:
        as_parameters(small, {"market.separation_rate": (-0.1, 0.6)})
    assert "market.separation_rate: bounds [-0.1, 0.6]: the low bound is out of range" in str(
        refused.value
    )
    # a prior's bounds are its support: ABC rejects a particle the scenario refuses, but the
    # screening runs the parameter at 25% and 75% of them, which must be taken
    lab = next(iter(small.labs))
    wide = {f"labs.{lab}.pay_level": stats.norm(0.5, 1.0)}
    with pytest.raises(CalibrationError, match="the screening's point at 25% of its range"):
        as_parameters(small, wide, screened=True)
    assert as_parameters(small, wide)  # (not screened: ABC alone, which rejects such particles)
    # a log-normal prior's support starts at 0, where a pay level is refused: not screened there
    assert as_parameters(small, {f"labs.{lab}.pay_level": stats.lognorm(0.5)}, screened=True)


def test_validate_checks_a_calibration_file_as_calibrate_does(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each said "ok", and `talentsim calibrate` then refused the file (or stopped mid-fit)
    targets = tmp_path / "targets.toml"
    original = targets.read_text(encoding="utf-8")
    for old, new, said in (
        ('lab = "B"', 'lab = "Nowhere"', "args.lab: no lab named 'Nowhere' in scenario 'small'"),
        ('scenario = "small"', 'scenario = "other"', "these targets are for scenario 'other'"),
        ("band = [0.1, 0.4]", "at_least = 0.1", "a one-sided bound (at_least) is not a moment"),
    ):
        targets.write_text(original.replace(old, new), encoding="utf-8")
        assert main(["validate", str(calibration_file)]) == 2, new
        err = capsys.readouterr().err
        assert err.startswith(f"error: {targets}: ") and said in err, err
    targets.write_text(original, encoding="utf-8")
    text = calibration_file.read_text(encoding="utf-8")
    calibration_file.write_text(text.replace("[0.02, 0.6]", "[-0.1, 0.6]"), encoding="utf-8")
    assert main(["validate", str(calibration_file)]) == 2
    err = capsys.readouterr().err
    assert f"error: {calibration_file}: parameters.market.separation_rate: bounds" in err
    assert "the low bound is out of range" in err


def test_the_command_line_refuses_a_missing_file_and_an_unwritable_out(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    unwritable = _cli(
        "calibrate", str(calibration_file), "--out", str(blocker / "out"), cwd=tmp_path
    )
    assert unwritable.returncode == 2 and "--out" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    assert main(["calibrate", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: no such file" in capsys.readouterr().err
    out = str(tmp_path / "o")
    assert main(["calibrate", str(calibration_file), "--workers", "2", "--out", out]) == 2
    assert "--workers: the SMM estimator" in capsys.readouterr().err


def test_a_calibration_file_reads_nested_parameters_and_resolves_paths(
    calibration_file: Path,
) -> None:
    text = calibration_file.read_text(encoding="utf-8").replace(
        '"market.separation_rate" = [0.02, 0.6]', "market.separation_rate = [0.02, 0.6]"
    )
    calibration_file.write_text(text, encoding="utf-8")
    spec, scenario, targets = load_calibration(calibration_file)
    assert spec.parameters == {"market.separation_rate": (0.02, 0.6)}
    assert scenario.name == "small.toml" and scenario.is_file() and targets.is_file()
    assert spec.budget.replicates == 2 and spec.seed == 1


def test_abc_resume_without_a_database_is_a_clear_error(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyabc")
    text = calibration_file.read_text(encoding="utf-8")
    calibration_file.write_text(text.replace("popsize = 3", "popsize = 3\ngenerations = 2"))
    out = tmp_path / "fresh"
    args = ["calibrate", str(calibration_file), "--method", "abc", "--out", str(out), "--resume"]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: --resume: " in err and "Traceback" not in err
    assert "no ABC database to resume; leave out --resume to start a new fit" in err
    # a file there that is no ABC database (garbage, an empty one, a folder): a line, not
    # SQLAlchemy's or pyabc's traceback
    for damage in ("garbage", "empty", "folder"):
        out.mkdir(exist_ok=True)
        database = out / "abc.sqlite"
        if database.is_dir():
            database.rmdir()
        database.unlink(missing_ok=True)
        if damage == "folder":
            database.mkdir()
        else:
            database.write_bytes(b"not a database" * 10 if damage == "garbage" else b"")
        assert main([*args, "--quiet", "--workers", "1"]) == 2, damage
        err = capsys.readouterr().err
        assert "error: " in err and "Traceback" not in err, err
        if damage == "folder":  # (no file abc.sqlite: the folder holds no calibration)
            assert f"--out {out}: holds abc.sqlite, not the results of an earlier" in err
        else:
            assert f"error: {database}: not an ABC database talentsim can resume" in err or (
                f"error: {database}: holds no ABC run to resume" in err
            ), err


def test_abc_from_a_file_needs_a_stopping_rule_and_names_unused_settings(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the file's budget is SMM's: --method abc would run without end, so it is refused
    pytest.importorskip("pyabc")
    args = ["calibrate", str(calibration_file), "--method", "abc", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "budget: method abc needs a stopping rule: budget.generations" in err
    assert not (tmp_path / "a").exists()  # (a refused fit leaves no empty folder)
    # and validate, which checks a file as calibrate would, refuses such a file of method abc
    # (it said "ok")
    abc_file = tmp_path / "abc.toml"
    text = calibration_file.read_text(encoding="utf-8")
    abc_file.write_text(text.replace('method = "smm"', 'method = "abc"'), encoding="utf-8")
    assert 'method = "abc"' in abc_file.read_text(encoding="utf-8")
    assert main(["validate", str(abc_file)]) == 2
    err = capsys.readouterr().err
    assert f"error: {abc_file}: budget: method abc needs a stopping rule" in err
    # with one, it runs; the SMM settings are named as unused, and --quiet is quiet
    text = calibration_file.read_text(encoding="utf-8")
    calibration_file.write_text(
        text.replace("popsize = 3", "popsize = 3\npopulation = 6\ngenerations = 1")
    )
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: " + str(calibration_file) + ": budget.maxiter, budget.popsize, budget.polish: "
        "not used by method abc" in err
    )
    assert "ABC INFO" not in err and "Traceback" not in err
    assert (tmp_path / "b" / "posterior.csv").is_file()


def test_the_trace_reads_undefined_replicates_as_the_fit_does() -> None:
    """trace.csv's objective is Q as the fit minimised it: a statistic undefined on one
    replicate is its mean over the others (it was NaN for every candidate)."""
    from tests.test_smm import undefined_on_one_seed

    targets = [TARGETS[0].model_copy(update={"statistic": undefined_on_one_seed}), TARGETS[1]]
    result = ts.calibrate(
        TINY,
        targets,
        {"market.separation_rate": (0.05, 1.0)},
        maxiter=2,
        popsize=4,
        replicates=2,
        seed=0,
    )
    objective = result.trace["objective"]
    assert objective.notna().all()
    # the hand-solved problem: θ̂ = 0.35, Q(θ̂) = 0.25 + 0.25
    assert result.diagnostics["objective"] == pytest.approx(0.5, rel=1e-2)
    assert objective.min() == pytest.approx(result.diagnostics["objective"], rel=1e-9)


def test_a_prior_gives_the_same_bounds_whichever_way_it_comes_in() -> None:
    from scipy import stats

    from talentsim.calibration import _parameter
    from talentsim.priors import parameter

    scenario = ts.Scenario.from_dict(TINY)
    prior = stats.norm(0.5, 0.1)
    expected = parameter("market.separation_rate", prior)
    for spec in (prior, {"dist": "norm", "loc": 0.5, "scale": 0.1}):
        found = _parameter(scenario, "market.separation_rate", spec, "parameters")
        assert (found.low, found.high) == pytest.approx((expected.low, expected.high), rel=1e-12)
    assert (expected.low, expected.high) == pytest.approx(prior.interval(0.999), rel=1e-12)


def test_abc_gets_the_replicates_it_is_given() -> None:
    """``replicates`` reached SMM only; ABC silently ran one run per particle."""
    import talentsim.approximate_bayes as approximate_bayes

    pytest.importorskip("pyabc")
    import functools

    seen: dict[str, Any] = {}
    original = approximate_bayes.abc_smc

    @functools.wraps(original)  # (its signature: the options calibrate may pass)
    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise RuntimeError("stop here")

    approximate_bayes.abc_smc = spy
    try:
        for given, expected in ((5, 5), (None, "absent")):
            seen.clear()
            with pytest.raises(RuntimeError, match="stop here"):
                ts.calibrate(
                    TINY, TARGETS, {"market.separation_rate": (0.05, 1.0)}, method="abc",
                    replicates=given, fix_unidentified=False,
                )  # fmt: skip
            assert seen.get("replicates", "absent") == expected
    finally:
        approximate_bayes.abc_smc = original


def test_a_save_that_fails_leaves_the_earlier_result_whole(
    screened: CalibrationResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "fit"
    screened.save(out)
    # an earlier, other fit's files: a save that fails half-way must not overwrite any
    (out / "estimates.csv").write_text("an earlier fit's estimates\n", encoding="utf-8")
    (out / "trace.csv").write_text("an earlier fit's trace\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "posterior.csv").write_text("left by an earlier ABC fit\n", encoding="utf-8")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CalibrationResult, "fit_table", broken)
    with pytest.raises(OSError, match="No space left"):
        screened.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "posterior.csv"} == before
    monkeypatch.undo()
    screened.save(out)  # a whole save: what this result does not write is gone
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    assert (out / "estimates.csv").read_bytes() != before["estimates.csv"]
    (out / "fit.csv").unlink()
    (out / "fit.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="a folder where the calibration writes a file"):
        screened.save(out)
    assert (out / "calibration.json").read_bytes() == before["calibration.json"]


def test_resume_into_a_folder_it_cannot_save_to_is_refused_before_the_fit(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    (out / "fit.csv").mkdir(parents=True)
    (out / "calibration.json").write_text(
        '{"kind": "talentsim calibration"}', encoding="utf-8"
    )  # (an earlier fit's folder)
    assert main(["calibrate", str(calibration_file), "--out", str(out), "--resume"]) == 2
    said = capsys.readouterr().err
    assert "fit.csv: a folder where the calibration writes a file" in said
    assert sorted(p.name for p in out.iterdir()) == ["calibration.json", "fit.csv"]  # no fit


def test_resume_into_a_folder_of_other_things_is_refused(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --resume skipped the check that --force makes: it wrote the fit over a project's own
    # scenario.toml and fit.csv
    out = tmp_path / "project"
    out.mkdir()
    (out / "scenario.toml").write_text("# my scenario\n", encoding="utf-8")
    (out / "fit.csv").write_text("mine\n", encoding="utf-8")
    assert main(["calibrate", str(calibration_file), "--out", str(out), "--resume"]) == 2
    said = capsys.readouterr().err
    assert (
        f"error: --out {out}: holds fit.csv, scenario.toml, not the results of an earlier" in said
    )
    assert (out / "scenario.toml").read_text(encoding="utf-8") == "# my scenario\n"


def test_a_wald_interval_past_the_search_bounds_is_flagged() -> None:
    # θ̂ = 0.35 with se 0.07 (the hand-solved problem) in a box [0.3, 0.4]: the 95% interval
    # [0.21, 0.49] reaches past both bounds
    narrow = ts.calibrate(TINY, TARGETS, {"market.separation_rate": (0.3, 0.4)}, **SEARCH)
    assert not narrow.intervals()["within_bounds"].iloc[0]
    assert "(past the bounds)" in narrow.format()
    wide = ts.calibrate(TINY, TARGETS, {"market.separation_rate": (0.05, 1.0)}, **SEARCH)
    assert wide.intervals()["within_bounds"].iloc[0]
    assert "past the bounds" not in wide.format()


def test_the_smm_fit_table_interval_is_the_t_interval_of_the_mean_even_near_a_share_s_end() -> None:
    # A retention near 1 on few seeds: its t-interval reaches past 1 and is cut there. The
    # fit table's interval is mean ± t·sd/√n, cut to [0, 1]; until 5 December 2026 it took
    # the half-width from the cut 95% interval, so its lower end was too high (0.889 for
    # 0.802 here) and its 99% interval too narrow and past 1.
    targets = [
        Target(
            name="kept",
            statistic="retention",
            args={"lab": "A", "at": "1mo"},
            observed=0.9,
            se=0.05,
            source=SOURCE,
        )
    ]
    rate = Parameter("market.separation_rate", 0.05, 3.0, unit="/year")
    budget = {"maxiter": 2, "popsize": 4, "polish_maxiter": 20, "se_replicates": 10}
    fit = smm(TINY, targets, [rate], replicates=6, root_seed=3, **budget)
    result = CalibrationResult(fit, scenario=TINY, targets=targets, parameters=[rate])
    values = target_values(TINY, targets, list(fit.seeds), overrides=result.overrides())
    runs = values["kept"].to_numpy(dtype=float)
    mean, sem = runs.mean(), runs.std(ddof=1) / math.sqrt(len(runs))
    for level in (0.95, 0.99):
        half = float(stats.t.ppf(0.5 + level / 2, len(runs) - 1)) * sem
        assert mean + half > 1  # (the case in question: the interval is cut at 1)
        row = result.fit_table(level).iloc[0]
        assert row["simulated"] == pytest.approx(mean)
        assert row["interval_low"] == pytest.approx(mean - half)
        assert row["interval_high"] == 1.0
