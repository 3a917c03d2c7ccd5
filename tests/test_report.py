"""talentsim.report and ``talentsim report``: complete reports of runs, comparisons and sweep
stores, written all at once; clear errors for anything else."""

from __future__ import annotations

import base64
import errno
import html
import json
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

import talentsim as ts
from talentsim import report
from tests.conftest import FLAGSHIP, ROOT, small_scenario_dict
from tests.test_cli import _assert_usage_error as _assert_error
from tests.test_cli import _run as _cli

SECTIONS = ("summary", "figures", "seeds", "scenario", "provenance")


@pytest.fixture(scope="module")
def scenario() -> ts.Scenario:
    return ts.Scenario.from_dict(small_scenario_dict())


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory, scenario: ts.Scenario) -> Path:
    folder = tmp_path_factory.mktemp("run") / "results"
    ts.run(scenario, seed=7).save(folder)
    return folder


@pytest.fixture(scope="module")
def comparison_folder(tmp_path_factory: pytest.TempPathFactory, scenario: ts.Scenario) -> Path:
    short = scenario.with_overrides({"time.duration": "26w", "events": []})
    comparison = ts.compare(
        short,
        {"no_reorgs": {"labs.A.reorg_rate": 0}, "pay": {"labs.A.pay_level": 4.0}},
        seeds=3,
        metrics=["attrition.A", "net_flow.B", "boomerangs", "moves"],
    )
    return comparison.save(tmp_path_factory.mktemp("compare") / "results")


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory, scenario: ts.Scenario) -> Path:
    store = tmp_path_factory.mktemp("sweep") / "store"
    ts.sweep(
        scenario.with_overrides({"time.duration": "12w", "events": []}),
        {"labs.A.pay_level": [1.0, 3.0], "labs.A.reorg_rate": ["0/year", "6/year"]},
        replicates=2,
        metrics=["attrition.A", "net_flow.B"],
        store=store,
        workers=1,
        progress=False,
    )
    return store


def _sections(document: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', document)


def _check_complete(path: Path) -> str:
    """The report is a self-contained page whose embedded figures are the PNGs beside it."""
    assert path.name == "report.html"
    document = path.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    for section in SECTIONS:
        assert section in _sections(document)
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', document)
    pngs = sorted(path.parent.glob("*.png"))
    assert len(embedded) == len(pngs) > 0
    assert {base64.b64decode(data) for data in embedded} == {p.read_bytes() for p in pngs}
    assert all(p.stat().st_size > 5_000 for p in pngs)
    assert "was not drawn" not in document
    assert f"talentsim {ts.__version__}" in document
    assert 'src="http' not in document and "<script" not in document  # nothing to fetch
    return document


def test_report_of_a_run(run_folder: Path, tmp_path: Path, scenario: ts.Scenario) -> None:
    path = report.write_report(run_folder, tmp_path / "report")
    document = _check_complete(path)
    assert {p.stem for p in path.parent.glob("*.png")} == {
        "headcount",
        "flows",
        "tenure_survival",
        "exit_reasons",
    }
    for heading in ("Per lab", "Moves by kind", "Departures by main reason"):
        assert heading in document
    assert "talentsim run scenario.toml --seed 7" in document
    # The resolved scenario beside the report replays the run exactly.
    written = ts.load_scenario(path.parent / "scenario.toml")
    assert written.to_dict() == scenario.to_dict()
    rerun = ts.run(written, seed=7).summary()
    assert rerun == ts.RunResult.load(run_folder).summary()


def test_report_of_a_comparison(comparison_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = report.write_report(comparison_folder)
    assert path == comparison_folder / "report" / "report.html"
    document = _check_complete(path)
    assert [p.name for p in path.parent.glob("*.png")] == ["effects.png"]
    for text in ("Effects on headline metrics", "no_reorgs", "pay", "attrition.A", "95% t"):
        assert text in document
    saved = report.load_comparison(comparison_folder)
    # The rerun recipe in the report reproduces the comparison exactly.
    recipe = re.search(r"To rerun:</p><pre>(.*?)</pre>", document, re.DOTALL)
    assert recipe is not None
    *setup, call = html.unescape(recipe.group(1)).strip().splitlines()
    namespace: dict[str, object] = {}
    monkeypatch.chdir(path.parent)
    exec("\n".join(setup), namespace)
    again = eval(call, namespace)
    for metric in ("attrition.A", "net_flow.B", "boomerangs", "moves"):
        for variant in ("no_reorgs", "pay"):
            assert again.effect(variant, metric)["effect"] == pytest.approx(
                saved.effect(variant, metric)["effect"], rel=1e-12, abs=1e-12
            )


def test_report_of_a_sweep_store(sweep_folder: Path, tmp_path: Path) -> None:
    path = report.write_report(sweep_folder, tmp_path / "sweep-report", progress=True)
    document = _check_complete(path)
    assert {p.stem for p in path.parent.glob("*.png")} == {
        "heatmap_attrition_A",
        "heatmap_net_flow_B",
        *(f"headcount_{lab}" for lab in ("A", "B", "C")),  # from the stored time series
    }
    for text in ("Runs by status", "Replicate means per point", "labs.A.reorg_rate", "6/year"):
        assert text in document
    table = ts.SweepStore(sweep_folder).table()
    for seed in table["seed"].unique():
        assert str(seed) in document


def test_report_of_a_sensitivity_sweep(tmp_path: Path, scenario: ts.Scenario) -> None:
    store = tmp_path / "store"
    ts.sweep(
        scenario.with_overrides({"time.duration": "8w", "events": []}),
        {"labs.A.pay_level": {"low": 1.0, "high": 3.0}, "labs.B.mission_clarity": [0.2, 0.9]},
        design="saltelli",
        samples=4,
        metrics=["attrition.A"],
        store=store,
        workers=1,
        progress=False,
    )
    document = _check_complete(report.write_report(store))
    assert "Sensitivity indices" in document
    assert "sensitivity_attrition_A.png" in document


def test_a_figure_the_data_cannot_make_is_replaced_by_a_note(
    tmp_path: Path, scenario: ts.Scenario
) -> None:
    # Nobody leaves in a single step without offers: no exit reasons to draw.
    calm = scenario.with_overrides(
        {
            "market.offer_rate_employed": "0/year",
            "market.separation_rate": "0/year",
            "outside.opportunity_rate": "0/year",
            "events": [],
        }
    )
    folder = ts.run(calm, seed=1, steps=2).save(tmp_path / "calm")
    document = report.write_report(folder).read_text(encoding="utf-8")
    assert "(exit_reasons) was not drawn: exit_reasons: no departures" in document
    assert "headcount.png" in document


def test_scenario_toml_round_trips_every_scenario_file() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        scenario = ts.load_scenario(path)
        text = scenario.to_toml(header="round trip")
        assert text.startswith(f"# round trip (written by talentsim {ts.__version__})")
        again = ts.Scenario.from_dict(tomllib.loads(text))
        assert again == scenario, path.name
        assert list(again.labs) == list(scenario.labs)  # lab order sets the random draws
        assert list(again.cohorts) == list(scenario.cohorts)
        assert report.scenario_toml(scenario) == scenario.to_toml()


def test_an_interrupted_report_leaves_the_previous_one(
    run_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    first = report.write_report(run_folder, out).read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ts.plots, "exit_reasons", broken)
    with pytest.raises(KeyboardInterrupt):
        report.write_report(run_folder, out)
    assert (out / "report.html").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_cli_report_writes_and_says_where(
    comparison_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp-report"
    code, printed, err = _cli(capsys, "report", comparison_folder, "--out", out)
    assert code == 0, err
    assert str(out / "report.html") in printed
    _check_complete(out / "report.html")
    # Writing it again replaces the previous report without --force.
    code, _, err = _cli(capsys, "report", comparison_folder, "--out", out, "--quiet")
    assert code == 0, err


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_cli_report_of_a_folder_that_is_no_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder = tmp_path / "things"
    if kind == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello", encoding="utf-8")
    elif kind == "file":
        folder.write_text("hello", encoding="utf-8")
    code, out, err = _cli(capsys, "report", folder)
    _assert_error(code, out, err, str(folder), "run.json", "comparison.json", "manifest.sqlite")
    if kind == "empty":
        assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_cli_report_of_an_incomplete_run_folder(
    run_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "incomplete"
    shutil.copytree(run_folder, folder)
    (folder / "events.parquet").unlink()
    code, out, err = _cli(capsys, "report", folder)
    _assert_error(code, out, err, str(folder), "missing file", "events.parquet")
    assert not (folder / "report").exists()


def test_cli_report_refuses_to_replace_other_files_or_the_results(
    run_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "paper.tex").write_text("draft", encoding="utf-8")
    code, out, err = _cli(capsys, "report", run_folder, "--out", busy)
    _assert_error(code, out, err, str(busy), "holds paper.tex, not only an earlier report")
    assert [p.name for p in busy.iterdir()] == ["paper.tex"]
    code, out, err = _cli(capsys, "report", run_folder, "--out", busy, "--force")
    _assert_error(code, out, err, str(busy), "not the results of an earlier report")
    assert [p.name for p in busy.iterdir()] == ["paper.tex"]
    # a file of one's own named report.html beside others is not a report: it replaced the
    # whole folder, without --force
    (busy / "report.html").write_text("<html>mine</html>", encoding="utf-8")
    code, out, err = _cli(capsys, "report", run_folder, "--out", busy)
    _assert_error(code, out, err, "holds paper.tex, not only an earlier report")
    assert sorted(p.name for p in busy.iterdir()) == ["paper.tex", "report.html"]
    before = sorted(p.name for p in run_folder.iterdir())
    for target in (run_folder, run_folder.parent):
        code, out, err = _cli(capsys, "report", run_folder, "--out", target, "--force")
        _assert_error(code, out, err, "would replace the results folder")
    assert sorted(p.name for p in run_folder.iterdir()) == before


def test_cli_report_unwritable_output(
    run_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tests may run as root, where permission bits do not stop writes: write under a file.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder", encoding="utf-8")
    code, out, err = _cli(capsys, "report", run_folder, "--out", blocker / "report")
    _assert_error(code, out, err, str(blocker / "report"), "is a file")
    assert blocker.read_text(encoding="utf-8") == "not a folder"

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(report, "atomic_folder", full_disk)
    code, out, err = _cli(capsys, "report", run_folder, "--out", tmp_path / "report")
    _assert_error(code, out, err, str(tmp_path / "report"), "No space left on device")


def test_cli_run_with_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, printed, err = _cli(
        capsys, "run", FLAGSHIP, "--seed", "3", "--steps", "10", "--out", out, "--report"
    )
    assert code == 0, err
    assert f"report written to {out / 'report' / 'report.html'}" in printed
    document = _check_complete(out / "report" / "report.html")
    assert "seed 3" in document
    assert (out / "run.json").is_file()
    # a run cut short by --steps: the rerun line says so, and reproduces it
    assert "talentsim run scenario.toml --seed 3 --steps 10" in document
    written = ts.load_scenario(out / "report" / "scenario.toml")
    assert ts.run(written, seed=3, steps=10).summary() == ts.RunResult.load(out).summary()


def test_file_names_of_names_that_differ_only_outside_ascii_differ() -> None:
    from talentsim.report import _slug

    assert _slug("attrition.MSL") == "attrition_MSL"  # (ASCII names keep their stems)
    first, second = _slug("Équipe"), _slug("Èquipe")
    assert first != second and first.isascii() and second.isascii()
    assert first.startswith("quipe_") and _slug("Équipe") == first  # (stable)


def test_a_comparison_with_a_malformed_table_is_refused_by_name(
    comparison_folder: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(comparison_folder, broken)
    (broken / "runs.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(report.ReportError, match=r"runs\.csv: not a comparison's runs table"):
        report.write_report(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _copy_with_run_json(run_folder: Path, copy: Path, edit: Any) -> Path:
    """A copy of ``run_folder`` at ``copy`` whose run.json document ``edit`` changed in place."""
    shutil.copytree(run_folder, copy)
    document = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    edit(document)
    (copy / "run.json").write_text(json.dumps(document), encoding="utf-8")
    return copy


def test_a_run_folder_with_a_damaged_run_json_is_refused_with_the_problem(
    run_folder: Path, tmp_path: Path
) -> None:
    broken = _copy_with_run_json(
        run_folder, tmp_path / "broken", lambda d: d["scenario"]["labs"]["A"].update(pay_level=-1)
    )
    with pytest.raises(report.ReportError, match=r"labs\.A\.pay_level: input should be greater"):
        report.write_report(broken, tmp_path / "out")
    (broken / "run.json").write_text("[]", encoding="utf-8")
    with pytest.raises(report.ReportError, match="not what talentsim writes there"):
        report.write_report(broken, tmp_path / "out")
    # the library's own error is a ValueError naming the file and what is wrong
    for text, said in (("[]", "a list, not a table"), ('{"seed": 1}', "no key 'scenario'")):
        (broken / "run.json").write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(f"{broken / 'run.json'}: not what")) as e:
            ts.RunResult.load(broken)
        assert said in str(e.value)
    fine = json.loads((run_folder / "run.json").read_text(encoding="utf-8"))
    (broken / "run.json").write_text(json.dumps({**fine, "seed": "7"}), encoding="utf-8")
    with pytest.raises(ValueError, match="seed '7', not a whole number"):
        ts.RunResult.load(broken)


def test_results_of_a_newer_format_are_refused(run_folder: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(run_folder, newer)
    document = json.loads((newer / "run.json").read_text(encoding="utf-8"))
    document["talentsim_result"] = 99
    (newer / "run.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(report.ReportError, match="format 99, newer than this talentsim"):
        report.write_report(newer, tmp_path / "out")


def test_results_saved_before_a_flow_was_recorded_are_refused_with_a_rerun_hint(
    run_folder: Path, tmp_path: Path
) -> None:
    """A results folder from before ``blocked_by_capacity`` existed: its count is unknown."""
    import pandas as pd

    older = tmp_path / "older"
    shutil.copytree(run_folder, older)
    table = pd.read_parquet(older / "timeseries.parquet")
    table.drop(columns="blocked_by_capacity").to_parquet(older / "timeseries.parquet")
    with pytest.raises(ValueError, match="no column blocked_by_capacity; these results were"):
        ts.RunResult.load(older)
    with pytest.raises(report.ReportError, match=r"run the scenario again \(it is in .*run\.json"):
        report.write_report(older, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_damaged_results_table_is_named_not_a_key_error(
    run_folder: Path, tmp_path: Path, capsys
) -> None:
    # an events table without a column loaded, then report failed with a bare KeyError; a
    # truncated table said "<Buffer>", not which file
    import pandas as pd

    from talentsim.cli import main

    damaged = tmp_path / "damaged"
    shutil.copytree(run_folder, damaged)
    events = pd.read_parquet(damaged / "events.parquet")
    events.drop(columns="tenure").to_parquet(damaged / "events.parquet")
    assert main(["report", str(damaged), "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{damaged / 'events.parquet'}: no column tenure" in err and "Traceback" not in err
    truncated = tmp_path / "truncated"
    shutil.copytree(run_folder, truncated)
    data = (truncated / "timeseries.parquet").read_bytes()
    (truncated / "timeseries.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"timeseries\.parquet: not readable Parquet"):
        ts.RunResult.load(truncated)


def test_a_results_file_cut_short_or_not_utf8_is_named(
    run_folder: Path, comparison_folder: Path, tmp_path: Path
) -> None:
    # a JSON or CSV file of a results folder cut short (a full disk, a copy stopped) or not
    # text: the message was the parser's alone ("Unterminated string starting at: line 4
    # column 3", "No columns to parse from file", "'utf-8' codec can't decode byte 0xff"),
    # naming no file; RunResult.load and Comparison.load raised it as JSONDecodeError,
    # EmptyDataError or UnicodeDecodeError
    cases = [
        (run_folder, "run.json", lambda data: data[: len(data) // 2], "not readable JSON"),
        (run_folder, "run.json", lambda data: b"\xff" + data, "not readable JSON"),
        (comparison_folder, "comparison.json", lambda data: data[:30], "not readable JSON"),
        (comparison_folder, "runs.csv", lambda data: b"", "not a readable CSV table"),
        (comparison_folder, "effects.csv", lambda data: data + b"\xff\xfe", "not a readable CSV"),
    ]
    for number, (source, name, damage, said) in enumerate(cases):
        broken = tmp_path / f"broken{number}"
        shutil.copytree(source, broken)
        (broken / name).write_bytes(damage((broken / name).read_bytes()))
        load = ts.RunResult.load if name == "run.json" else ts.Comparison.load
        with pytest.raises(ValueError, match=re.escape(f"{broken / name}: {said}")):
            load(broken)
        with pytest.raises(report.ReportError, match=re.escape(f"{broken / name}: {said}")):
            report.write_report(broken, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    # a calibration's folder: its calibration.json cut short, or not a table
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for text, said in (('{"method": "sm', "not readable JSON"), ("[1]", "expected a table")):
        (calibration / "calibration.json").write_text(text, encoding="utf-8")
        with pytest.raises(report.ReportError) as refused:
            report.write_report(calibration, tmp_path / "out")
        assert f"{calibration / 'calibration.json'}: {said}" in str(refused.value)


def test_a_run_folder_whose_files_do_not_fit_together_is_named(
    run_folder: Path, tmp_path: Path
) -> None:
    # each file readable, but run.json's metadata not a table: an AttributeError from deep in
    # the page; now one message naming the folder
    odd = _copy_with_run_json(run_folder, tmp_path / "odd", lambda d: d.update(metadata=3))
    with pytest.raises(report.ReportError, match=r"odd: the run's files do not fit together"):
        report.write_report(odd, tmp_path / "out")
    assert not (tmp_path / "out").exists()
