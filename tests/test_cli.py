"""The command line: clear one-line errors with exit status 2, and complete results folders."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pytest

import talentsim
from talentsim.cli import main
from talentsim.results import RESULT_FILES

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "scenarios" / "msl_exodus.toml"
FLAGSHIP_LABS = ["MSL", "Rival", "Frontier"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_usage_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2
    assert err.startswith("error:"), err
    assert "Traceback" not in out + err
    for word in words:
        assert word in err, f"{word!r} not in stderr:\n{err}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = FLAGSHIP.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------


def test_validate_flagship(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", FLAGSHIP)
    assert code == 0
    assert err == ""
    assert str(FLAGSHIP) in out
    assert ": ok" in out
    assert "'msl_exodus'" in out
    assert "3 labs" in out
    assert "52 steps" in out


def test_validate_knows_targets_and_calibration_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each kind of file is checked as what it is (they were read as broken scenarios)
    code, out, err = _run(capsys, "validate", REPO / "targets" / "msl.toml")
    assert code == 0 and err == "", err
    assert "ok — targets file 'msl_article': 3 targets for scenario 'msl_exodus'" in out
    fit = REPO / "examples" / "calibrate_flagship" / "flagship.toml"
    code, out, err = _run(capsys, "validate", fit)
    assert code == 0 and err == "", err
    assert "ok — calibration (smm) of scenario 'msl_exodus'" in out and "2 parameters" in out
    broken = tmp_path / "fit.toml"
    text = fit.read_text(encoding="utf-8").replace("maxiter", "maxitr")
    broken.write_text(text.replace('"../../', f'"{REPO.as_posix()}/'), encoding="utf-8")
    code, out, err = _run(capsys, "validate", broken)
    _assert_usage_error(code, out, err, str(broken), "budget.maxitr", "unknown key")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("mission_clarity = 0.35", "mission_clarty = 0.35", "labs.MSL.mission_clarty"),
        ('offer_rate_employed = "6/year"', "offer_rate_employed = 6", "market.offer_rate_employed"),
        ("mission_clarity = 0.9 ", "mission_clarity = 1.5 ", "labs.Rival.mission_clarity"),
        ('lab = "Rival"\ntenure', 'lab = "Rivl"\ntenure', "cohorts.rival_staff.lab"),
        ('at = "5w"', 'at = "2y"', "events.1.at"),
        ("capacity = 60 ", "capacity = 10 ", "labs.MSL.capacity"),
    ],
    ids=["unknown-key", "rate-without-units", "out-of-range", "dangling-lab", "late-event", "cap"],
)
def test_validate_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str
) -> None:
    path = _broken_copy(tmp_path, old, new)
    code, out, err = _run(capsys, "validate", path)
    _assert_usage_error(code, out, err, str(path), key)
    assert out == ""


def test_a_scenario_warning_is_a_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a valid scenario with a doubtful setting: exit 0, and one "warning:" line naming the
    # file and the key path, without Python's file-and-line of talentsim's code
    path = _broken_copy(tmp_path, "degree = 8.0\n", 'degree = 8.0\nformation_rate = "12/year"\n')
    code, out, err = _run(capsys, "validate", path)
    assert code == 0 and ": ok" in out
    assert err.startswith(f"warning: {path}: network.formation_rate × the update interval")
    assert err.count("\n") == 1 and "scenario.py" not in err


@pytest.mark.parametrize("kind", ["missing", "folder", "invalid-toml", "not-utf8"])
def test_validate_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "scenario.toml"
    if kind == "folder":
        path.mkdir()
    elif kind == "invalid-toml":
        path.write_text("[labs.A\n", encoding="utf-8")
    elif kind == "not-utf8":
        path.write_bytes(b'name = "\xff"\n')
    code, out, err = _run(capsys, "validate", path)
    _assert_usage_error(code, out, err, str(path))
    assert out == ""


def test_validate_broken_file_end_to_end(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "pay_level = 2.5 ", 'pay_level = "lots" ')
    proc = subprocess.run(
        [sys.executable, "-m", "talentsim", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error:")
    assert str(path) in proc.stderr
    assert "labs.MSL.pay_level" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="process substitution is bash's")
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("validate <(cat {scenario})", "ok — scenario 'msl_exodus'"),
        ("validate <(cat {targets})", "ok — targets"),
        ("targets {scenario} <(cat {targets}) --seeds 2", "in range:"),
    ],
)
def test_a_file_given_as_a_pipe_is_read_once(command: str, expected: str) -> None:
    # validate reads its file to tell its kind, then loads it: a pipe read twice was empty
    # the second time, and a valid file got "labs: required key is missing".
    line = command.format(scenario=FLAGSHIP, targets=REPO / "targets" / "msl.toml")
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m talentsim {line}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout and "Traceback" not in proc.stderr


def test_validate_absurd_step_count_is_an_input_error(tmp_path: Path) -> None:
    # duration / step overflows to infinity; this must be reported, not crash.
    path = tmp_path / "absurd.toml"
    path.write_text(
        '[time]\nstep = "1e-300y"\nduration = "1e300y"\n'
        '[labs.A]\n[cohorts.c]\nlab = "A"\nsize = 1\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "talentsim", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:")
    assert "time" in proc.stderr


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


def _read_run_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def test_run_writes_results_and_prints_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "run", FLAGSHIP, "--seed", "1", "--out", out_dir)
    assert code == 0
    assert "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(RESULT_FILES)
    lines = out.splitlines()
    for lab in FLAGSHIP_LABS:
        assert any(line.startswith(lab) for line in lines), f"no table row for {lab}:\n{out}"
    assert "seed 1" in out
    assert f"results written to {out_dir}" in out
    # every column of the table is defined under it, as the glossary defines it
    header = next(line for line in lines if line.startswith("lab "))
    legend = " ".join(lines[lines.index(header) + 2 + len(FLAGSHIP_LABS) :])
    for column in ("hires", "returns", "quits", "exits", "separations", "net flow"):
        assert column in header, column
        assert f"{column}:" in legend or f"{column} =" in legend, column
    assert "attrition = share of the starting staff who left at least once" in legend
    # no staging folders left beside the results
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    events = pd.read_parquet(out_dir / "events.parquet")
    timeseries = pd.read_parquet(out_dir / "timeseries.parquet")
    researchers = pd.read_parquet(out_dir / "researchers.parquet")
    assert len(events) > 0
    assert set(timeseries["lab"].astype(str)) == {*FLAGSHIP_LABS, "outside"}
    assert timeseries["step"].max() == 52
    assert len(researchers) >= 30 + 8 + 6 + 150 + 150 + 200


def test_run_json_contents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, out, _ = _run(capsys, "run", FLAGSHIP, "--seed", "7", "--out", out_dir, "--quiet")
    assert code == 0
    assert out == ""
    document = _read_run_json(out_dir)
    assert {"seed", "scenario", "summary", "metadata"} <= document.keys()
    assert document["seed"] == 7
    assert document["scenario"] == talentsim.load_scenario(FLAGSHIP).to_dict()
    assert document["summary"]["seed"] == 7
    assert document["summary"]["steps"] == 52
    for lab in FLAGSHIP_LABS:
        assert f"attrition.{lab}" in document["summary"]
    versions = document["metadata"]["versions"]
    assert versions["talentsim"] == talentsim.__version__
    from talentsim.versions import source_digest

    assert versions["talentsim_source"] == source_digest() and len(source_digest()) == 12
    assert versions["mesa"] == mesa.__version__
    assert versions["numpy"] == np.__version__


def test_run_default_out_folder_is_results_scenario_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = _run(capsys, "run", FLAGSHIP, "--seed", "1", "--quiet")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "results" / "msl_exodus").iterdir()) == sorted(
        RESULT_FILES
    )


def test_run_refuses_non_empty_out_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("precious", encoding="utf-8")
    before = _snapshot(out_dir)
    code, out, err = _run(capsys, "run", FLAGSHIP, "--seed", "1", "--out", out_dir, "--quiet")
    _assert_usage_error(code, out, err, str(out_dir), "--force")
    assert _snapshot(out_dir) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_run_force_replaces_an_earlier_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "run.json").write_text('{"talentsim_result": 1}', encoding="utf-8")  # an earlier run
    (out_dir / "keep.txt").write_text("old", encoding="utf-8")
    code, _, err = _run(
        capsys, "run", FLAGSHIP, "--seed", "1", "--out", out_dir, "--quiet", "--force"
    )
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(RESULT_FILES)
    assert _read_run_json(out_dir)["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_replacing_write_moves_the_earlier_folder_aside_until_the_new_one_is_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the earlier folder was deleted first: a kill during that left part of it, with its
    # run.json marker, looking complete. Now it is moved aside whole; if the new one cannot
    # be put in place, it comes back; and nothing is left beside it after a replacement.
    from talentsim import results

    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"talentsim_result": 1}', encoding="utf-8")
    (out / "old.txt").write_text("old", encoding="utf-8")
    real_replace = os.replace

    def refuse_the_new(source, target):
        if Path(source).name.startswith(".out.") and ".replaced-" not in str(source):
            raise OSError("disk gone")
        real_replace(source, target)

    def write(folder: Path) -> None:
        (folder / "run.json").write_text('{"new": 1}', encoding="utf-8")

    monkeypatch.setattr(results.os, "replace", refuse_the_new)
    with pytest.raises(OSError, match="disk gone"):
        results.atomic_folder(out, write, overwrite=True, markers=("run.json",))
    assert sorted(p.name for p in out.iterdir()) == ["old.txt", "run.json"]  # back, whole
    monkeypatch.setattr(results.os, "replace", real_replace)
    (tmp_path / ".out.replaced-leftover").mkdir()  # as a kill between the renames leaves
    results.atomic_folder(out, write, overwrite=True, markers=("run.json",))
    assert [p.name for p in out.iterdir()] == ["run.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _fill_other_things(out_dir: Path) -> str:
    # a folder of other runs and a sweep store: not an earlier output
    (out_dir / "other-run").mkdir(parents=True)
    (out_dir / "other-run" / "run.json").write_text("{}", encoding="utf-8")
    (out_dir / "manifest.sqlite").write_text("a store", encoding="utf-8")
    return "manifest.sqlite"


def _fill_a_project(out_dir: Path, marker: str) -> str:
    # a project folder that happens to hold a run.json (or comparison.json) of its own
    (out_dir / "src").mkdir(parents=True)
    (out_dir / marker).write_text('{"cmd": "make"}', encoding="utf-8")
    (out_dir / "src" / "main.c").write_text("int main;", encoding="utf-8")
    return f"{marker}, which talentsim did not write"


@pytest.mark.parametrize("folder", ["other things", "a project"])
@pytest.mark.parametrize("command", ["run", "compare"])
def test_force_never_replaces_a_folder_of_other_things(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, folder: str
) -> None:
    # replacing deletes the folder: --force replaces only an earlier output of the same kind,
    # as talentsim wrote it (a folder of other runs, a sweep store, a paper, a project with a
    # file of the marker's name is refused, untouched)
    out_dir = tmp_path / "results"
    marker = "run.json" if command == "run" else "comparison.json"
    said = (
        _fill_other_things(out_dir)
        if folder == "other things"
        else _fill_a_project(out_dir, marker)
    )
    before = _snapshot(out_dir)
    extra = ["--variant", "cheap:labs.MSL.pay_level=1.5", "--seeds", "2"]
    code, out, err = _run(
        capsys, command, FLAGSHIP, *(extra if command == "compare" else ["--seed", "1"]),
        "--out", out_dir, "--quiet", "--force",
    )  # fmt: skip
    _assert_usage_error(code, out, err, str(out_dir), "--force", said)
    assert _snapshot(out_dir) == before


def test_force_never_deletes_the_scenario_file_the_command_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "run"
    talentsim.run(FLAGSHIP, seed=1, steps=2).save(out_dir)  # an earlier run's folder...
    scenario = out_dir / "my_scenario.toml"  # ...where the scenario was put
    shutil.copy(FLAGSHIP, scenario)
    code, out, err = _run(
        capsys, "run", scenario, "--seed", "1", "--steps", "2", "--out", out_dir, "--quiet",
        "--force",
    )  # fmt: skip
    _assert_usage_error(code, out, err, f"holds {scenario}", "which this command reads")
    assert scenario.read_bytes() == FLAGSHIP.read_bytes()


def test_save_overwrite_never_replaces_a_folder_of_other_things(tmp_path: Path) -> None:
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "draft.tex").write_text("precious", encoding="utf-8")
    result = talentsim.run(FLAGSHIP, seed=1, steps=2)
    with pytest.raises(FileExistsError, match=r"draft\.tex, not the results of an earlier run"):
        result.save(folder, overwrite=True)
    assert (folder / "draft.tex").read_text(encoding="utf-8") == "precious"
    result.save(folder / "run")
    result.save(folder / "run", overwrite=True)  # an earlier run's folder is replaced


@pytest.mark.parametrize(
    "where",
    ["under-a-file", "deep-under-a-file", "is-a-file", "under-an-executable-file"],
)
def test_run_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    # Tests may run as root, where permission bits do not stop writes: a path whose parent is
    # a regular file is unwritable for everyone. An executable file passes os.access(X_OK) for
    # root, so the failure then surfaces only when the results are saved.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder", encoding="utf-8")
    if where == "under-an-executable-file":
        blocker.chmod(0o755)
    out_dir = {
        "under-a-file": blocker / "results",
        "deep-under-a-file": blocker / "a" / "b",
        "is-a-file": blocker,
        "under-an-executable-file": blocker / "results",
    }[where]
    code, out, err = _run(capsys, "run", FLAGSHIP, "--seed", "1", "--out", out_dir, "--quiet")
    _assert_usage_error(code, out, err, str(out_dir))
    assert blocker.read_text(encoding="utf-8") == "not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]


def test_run_set_overrides_are_applied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, _, err = _run(
        capsys,
        "run",
        FLAGSHIP,
        "--seed",
        "1",
        "--out",
        out_dir,
        "--quiet",
        "--set",
        "labs.MSL.pay_level=2.5",
        "--set",
        "market.offer_rate_employed=0.25/month",
    )
    assert code == 0, err
    scenario = _read_run_json(out_dir)["scenario"]
    assert scenario["labs"]["MSL"]["pay_level"] == 2.5
    assert scenario["market"]["offer_rate_employed"] == "3/year"
    assert scenario["labs"]["Rival"]["pay_level"] == 1.3


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        # a variant's assignment without '=' named --set, which the user never wrote
        (
            ["compare", FLAGSHIP, "--variant", "v:noequals"],
            ["--variant v 'noequals': expected key=value"],
        ),
        # an empty address ran the sweep locally, as if --dask had not been given
        (["sweep", FLAGSHIP, "--dask", ""], ["--dask: expected an address"]),
        # which of the two wins was a guess (--resume did)
        (["calibrate", FLAGSHIP, "--resume", "--force"], ["--resume and --force", "give one"]),
    ],
    ids=["variant-without-equals", "empty-dask-address", "resume-and-force"],
)
def test_contradictory_or_empty_options_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str | Path], words: list[str]
) -> None:
    code, out, err = _run(capsys, *argv)
    _assert_usage_error(code, out, err, *words)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "labs.MSLL.pay_level=2.5"], ["labs.MSLL", "did you mean 'MSL'"]),
        (["--set", "labs.MSL.pay_levl=2.5"], ["labs.MSL.pay_levl", "did you mean 'pay_level'"]),
        (["--set", "labs.MSL.pay_level=-1"], ["labs.MSL.pay_level", "greater than 0"]),
        (["--set", "labs.MSL.pay_level"], ["--set", "expected key=value"]),
        (["--set", "=2.5"], ["--set", "expected key=value"]),
        # a space for the '=': argparse said only "unrecognized arguments: 2.5"
        (
            ["--set", "labs.MSL.pay_level", "2.5"],
            ["--set takes one KEY=VALUE", "write --set labs.MSL.pay_level=2.5"],
        ),
        (["--seed", "-1"], ["--seed", "non-negative"]),
        # a list of seeds: argparse said "invalid int value" or "unrecognized arguments"
        (["--seed", "1,2,3"], ["--seed", "one integer seed", "'1,2,3'", "--seeds N"]),
        (["--seed", "1", "2", "3"], ["--seed takes one seed", "got 1 then 2", "--seeds N"]),
        (["--seed", "x"], ["--seed", "one integer seed", "'x'"]),
        (["--steps", "0"], ["--steps", "positive"]),
    ],
    ids=[
        "set-unknown-lab",
        "set-unknown-key",
        "set-bad-value",
        "set-without-equals",
        "set-without-key",
        "set-with-a-space",
        "negative-seed",
        "seed-list",
        "seed-words",
        "seed-not-a-number",
        "zero-steps",
    ],
)
def test_run_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: list[str]
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "run", FLAGSHIP, "--out", out_dir, "--quiet", *args)
    _assert_usage_error(code, out, err, *words)
    assert not out_dir.exists()


@pytest.mark.parametrize(
    "argv",
    [["run"], ["frobnicate"], []],  # (a seed that is not an integer: test_run_bad_arguments)
    ids=["no-file", "unknown-command", "no-command"],
)
def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: talentsim" in err
    assert "Traceback" not in err


def test_run_broken_scenario_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _broken_copy(tmp_path, "turmoil = 0.3 ", "turmoil = -0.3 ")
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "run", path, "--seed", "1", "--out", out_dir)
    _assert_usage_error(code, out, err, str(path), "labs.MSL.turmoil")
    assert not out_dir.exists()


def test_same_seed_gives_identical_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = {}
    for name, seed in [("a", "3"), ("b", "3"), ("c", "4")]:
        folders[name] = tmp_path / name
        code, _, err = _run(
            capsys, "run", FLAGSHIP, "--seed", seed, "--out", folders[name], "--quiet"
        )
        assert code == 0, err
    events = {name: pd.read_parquet(folder / "events.parquet") for name, folder in folders.items()}
    assert len(events["a"]) > 0
    pd.testing.assert_frame_equal(events["a"], events["b"])
    pd.testing.assert_frame_equal(
        pd.read_parquet(folders["a"] / "timeseries.parquet"),
        pd.read_parquet(folders["b"] / "timeseries.parquet"),
    )
    assert _read_run_json(folders["a"])["summary"] == _read_run_json(folders["b"])["summary"]
    assert not events["a"].equals(events["c"]), "a different seed should give a different run"


def test_flagship_demo_end_to_end(tmp_path: Path) -> None:
    """The path `make demo` takes: the flagship scenario through the installed module."""
    out_dir = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "talentsim",
            "run",
            str(FLAGSHIP),
            "--seed",
            "1",
            "--out",
            str(out_dir),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(RESULT_FILES)
    document = _read_run_json(out_dir)
    assert document["seed"] == 1
    assert document["scenario"]["name"] == "msl_exodus"
    assert document["summary"]["steps"] == 52


def test_run_end_to_end_refuses_non_empty_out(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("precious", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "talentsim", "run", str(FLAGSHIP), "--out", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert _snapshot(out_dir) == {"keep.txt": b"precious"}


def test_viz_command_refuses_bad_input_before_serving(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "viz", tmp_path / "missing.toml")
    assert code == 2 and "no such file" in err
    code, _, err = _run(capsys, "viz", FLAGSHIP, "--port", "70000")
    assert code == 2 and "--port" in err
    code, _, err = _run(capsys, "viz", FLAGSHIP, "--seed", "-1")
    assert code == 2 and "seed" in err
    code, _, err = _run(
        capsys, "viz", FLAGSHIP, "--slider", "labs.MSL.pay_level", "--slider", "x.y"
    )
    assert code == 2 and "x.y" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# the first run after installing compiles the step's code, and says so
# --------------------------------------------------------------------------------------------


def test_kernels_cached_reads_numba_cache(tmp_path: Path) -> None:
    from talentsim import compiled

    talentsim.TalentModel(talentsim.load_scenario(FLAGSHIP), seed=0).step()
    assert compiled.kernels_cached()  # just compiled or loaded: in the cache
    empty = subprocess.run(  # a new process with an empty cache folder
        [sys.executable, "-c", "from talentsim import compiled; print(compiled.kernels_cached())"],
        capture_output=True,
        text=True,
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")},
        check=True,
    )
    assert empty.stdout.strip() == "False"


@pytest.mark.parametrize("quiet", [False, True])
def test_run_compiles_first_with_a_notice(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    quiet: bool,
) -> None:
    from talentsim import compiled, model

    made: list[int] = []
    monkeypatch.setattr(compiled, "kernels_cached", lambda: False)
    original = model.TalentModel.__init__

    def counting_init(self, *args: Any, **kwargs: Any) -> None:
        made.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(model.TalentModel, "__init__", counting_init)
    argv = ["run", FLAGSHIP, "--seed", "1", "--out", tmp_path / "out", "--steps", "3"]
    code, _, err = _run(capsys, *argv, *(["--quiet"] if quiet else []))
    assert code == 0
    assert len(made) == 2  # the compiling step's model, then the run's
    assert ("compiling talentsim's simulation code" in err) is not quiet


# --------------------------------------------------------------------------------------------
# results folders never replace the working folder
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--set", 'name=".."'],
        ["--set", 'name=""'],
        ["--set", 'name="a/b"'],
        ["--out", "fresh/.."],
        ["--out", ".", "--force"],
        ["--out", "..", "--force"],
    ],
)
def test_run_never_replaces_the_working_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    code, out, err = _run(capsys, "run", FLAGSHIP, "--seed", "1", *argv)
    _assert_usage_error(code, out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]


def test_saving_into_dot_dot_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    result = talentsim.run(FLAGSHIP, seed=1, steps=2)
    for folder in ("nothere/..", ".", str(tmp_path)):
        with pytest.raises(ValueError, match="folder of its own"):
            result.save(folder, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_a_key_given_twice_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = ["--set", "labs.MSL.pay_level=5", "--set", "labs.MSL.pay_level=6"]
    code, out, err = _run(capsys, "run", FLAGSHIP, "--out", tmp_path / "run", *twice)
    _assert_usage_error(code, out, err, "--set", "labs.MSL.pay_level", "twice")
    variants = ["--variant", "x:labs.MSL.pay_level=5", "--variant", "x:labs.MSL.pay_level=6"]
    code, out, err = _run(capsys, "compare", FLAGSHIP, "--out", tmp_path / "cmp", *variants)
    _assert_usage_error(code, out, err, "--variant x", "labs.MSL.pay_level", "twice")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cmp").exists()


def test_meanfield_marks_headcounts_above_capacity(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "meanfield", FLAGSHIP, "--lenient")
    assert code == 0
    assert "* above the lab's capacity (MSL 60)" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    starred = [row[1] for row in rows if row[1].endswith("*")]
    assert starred and all(float(value[:-1]) > 60 for value in starred)
    assert all(float(row[1].rstrip("*")) <= 60 for row in rows if not row[1].endswith("*"))


def test_set_errors_name_the_file_and_count_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "run", FLAGSHIP, "--set", "time.duration=2 weeks", "--out", tmp_path / "o"
    )
    _assert_usage_error(code, out, err, f"{FLAGSHIP} with --set", "events.1.at", "events.2.at")
    lines = err.strip().splitlines()
    assert "invalid scenario (2 problems)" in lines[0] and len(lines) == 3
    assert "overrides" not in err
    assert "(5w > duration 2w)" in err  # times in the units they read best in


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [  # `talentsim meanfield FILE | head -2`: the pipe closes under the printing, quietly;
        (BrokenPipeError(32, "Broken pipe"), 141, ""),
        # `talentsim meanfield FILE > out.txt` on a full disk: one line
        (OSError(28, "No space left on device"), 1, "cannot write to standard output (No"),
    ],
)
def test_a_standard_output_that_fails_ends_the_command_without_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: OSError,
    code: int,
    said: str,
) -> None:
    import io

    with open(tmp_path / "stdout", "w", encoding="utf-8") as handle:

        class Failing(io.StringIO):
            def write(self, text: str) -> int:
                raise failure

            def fileno(self) -> int:
                return handle.fileno()

        monkeypatch.setattr(sys, "stdout", Failing())
        assert main(["meanfield", str(FLAGSHIP)]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and said in err


@pytest.mark.parametrize("steps", ["99999999999", "5000000"])
def test_steps_cannot_bypass_the_limits_of_a_scenario_s_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, steps: str
) -> None:
    # more steps than any scenario may have, or a run too large for memory: refused first
    monkeypatch.setenv("TALENTSIM_MEMORY_LIMIT", "2GiB")  # (5,000,000 steps need ~15 GiB)
    out = tmp_path / "out"
    code, printed, err = _run(capsys, "run", FLAGSHIP, "--steps", steps, "--out", out)
    _assert_usage_error(code, printed, err, f"steps={int(steps):,}", "a run that long is refused")
    assert not out.exists()
    with pytest.raises(ValueError, match="a run that long is refused"):
        talentsim.run(FLAGSHIP, seed=1, steps=int(steps))


def test_absurd_counts_are_refused_before_they_allocate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a typo of a few digits in a count must not spawn seeds until memory runs out
    args = ["compare", FLAGSHIP, "--seeds", "100000000000", "--variant", "a:labs.MSL.pay_level=2"]
    code, out, err = _run(capsys, *args, "--out", tmp_path / "c")
    _assert_usage_error(code, out, err, "at most 1,000,000 seeds")
    assert "compare: compare" not in err and "confidence interval" not in err


@pytest.mark.parametrize("command", ["meanfield", "targets"])
def test_an_output_file_is_not_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # checked before the work: an existing file is kept unless --force; a folder is refused
    kept = tmp_path / "afile.txt"
    kept.write_text("precious", encoding="utf-8")
    args = {
        "meanfield": ["meanfield", FLAGSHIP, "--out"],
        "targets": ["targets", FLAGSHIP, REPO / "targets" / "msl.toml", "--seeds", "2", "--csv"],
    }[command]
    option = args[-1]
    code, out, err = _run(capsys, *args, kept)
    _assert_usage_error(code, out, err, f"{option} {kept}: exists", "--force")
    assert kept.read_text(encoding="utf-8") == "precious"
    code, out, err = _run(capsys, *args, tmp_path)
    _assert_usage_error(code, out, err, "is a folder")
    if command == "meanfield":  # (quick: the targets' runs are not needed to show it)
        code, out, err = _run(capsys, *args, kept, "--force")
        assert code == 0, err
        assert kept.read_text(encoding="utf-8").startswith("step,time,lab,headcount")


def test_a_table_named_parquet_is_written_as_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it was CSV text in a file named .parquet
    parquet, csv = tmp_path / "mf.parquet", tmp_path / "mf.csv"
    for path in (parquet, csv):
        code, _, err = _run(capsys, "meanfield", FLAGSHIP, "--out", path)
        assert code == 0, err
    table = pd.read_parquet(parquet)  # (the lab column a category, as the table has it)
    pd.testing.assert_frame_equal(table.astype({"lab": str}), pd.read_csv(csv), check_dtype=False)


@pytest.mark.parametrize("command", ["meanfield", "targets"])
def test_an_output_file_that_is_an_input_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # --force replaced the scenario (or targets) file the command had just read with the
    # table: `meanfield s.toml --out s.toml --force` left a CSV where the scenario was
    scenario, targets = tmp_path / "s.toml", tmp_path / "t.toml"
    shutil.copy(FLAGSHIP, scenario)
    shutil.copy(REPO / "targets" / "msl.toml", targets)
    before = {path: path.read_bytes() for path in (scenario, targets)}
    args = {
        "meanfield": [["meanfield", scenario, "--out", scenario]],
        "targets": [
            ["targets", scenario, targets, "--seeds", "2", "--csv", given]
            for given in (scenario, tmp_path / "." / "t.toml")
        ],
    }[command]
    for words in args:
        code, out, err = _run(capsys, *words, "--force")
        what = "targets" if words[-1] != scenario else "scenario"
        _assert_usage_error(code, out, err, f": is the {what} file the command reads")
    assert {path: path.read_bytes() for path in (scenario, targets)} == before


@pytest.mark.parametrize("option", ["--out", "--csv"])
def test_an_empty_path_is_an_error_not_the_default(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    args = {
        "--out": ["run", FLAGSHIP],
        "--csv": ["targets", FLAGSHIP, REPO / "targets" / "msl.toml"],
    }
    code, out, err = _run(capsys, *args[option], option, "")
    _assert_usage_error(code, out, err, f"{option}: expected a path, got an empty string")


def test_targets_with_their_own_run_length_refuse_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the targets' run_duration sets the run's length: --set time.duration would be ignored
    args = [
        "targets",
        REPO / "scenarios" / "boomerang.toml",
        REPO / "targets" / "boomerang_labs.toml",
    ]
    code, out, err = _run(capsys, *args, "--set", 'time.duration="1y"', "--seeds", "2")
    _assert_usage_error(code, out, err, "--set time.duration", "run_duration")
    from talentsim.targets import TargetsError, load_targets, scenario_for

    targets = load_targets(REPO / "targets" / "boomerang_labs.toml")
    with pytest.raises(TargetsError, match="run_duration: these targets run the scenario"):
        scenario_for(REPO / "scenarios" / "boomerang.toml", targets, {"time.duration": "1y"})


def test_creation_problem_names_what_refuses_a_path(tmp_path) -> None:
    from talentsim.paths import creation_problem

    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    assert creation_problem(tmp_path / "new" / "deeper" / "x.csv") is None
    assert creation_problem(tmp_path) is None  # an existing folder: a new entry inside
    assert creation_problem(blocker / "x.csv") == f"{blocker} is a file, not a folder"
    assert creation_problem(blocker / "sub" / "x.csv") == f"{blocker} is a file, not a folder"
    problem = creation_problem("/proc/no/such")
    assert problem is not None and problem.startswith("/proc: refuses new entries (")
