"""The benchmark scripts still run (smoke checks with their tiny ``--quick`` workloads).

Their figures are not checked here: speed is measured by the benchmarks themselves, as ratios
taken side by side, never by timed tests on a shared machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_the_speed_benchmark_runs_and_writes_its_figures(tmp_path: Path) -> None:
    done = _run("run.py", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "performance_quick.json").read_text())
    assert [row["N"] for row in figures["reference"]] == sorted(
        r["N"] for r in figures["reference"]
    )
    for row in figures["reference"]:
        assert row["talentsim_researcher_steps_per_s"] > 0 and row["ratio"] > 0
    assert figures["bare_kernel"]["ratio"] > 0
    assert figures["million"]["peak_mib"] > 0 and figures["million"]["run_s"] > 0
    assert figures["overhead"]["microseconds_per_step"] > 0
    for row in figures["living_network"]:
        assert row["ratio"] > 0 and len(row["ratio_per_repeat"]) == 3
        assert row["peak_mib_living"] > 0 and row["network_mib_living"] > 0
        whole = row["whole_runs"]
        assert whole["steps"] > 100 and whole["ratio_living_last_quarter"] > 0
    assert figures["search_effort"]["ratio"] > 0
    assert figures["search_effort"]["ratio_turmoil_only"] > 0
    assert figures["search_effort"]["ratio_lab_gap"] > 0
    whole = figures["search_effort"]["whole_runs"]
    assert {"ratio_on", "ratio_lab_gap", "ratio_turmoil_only"} <= set(whole)
    assert (tmp_path / "performance_quick.csv").stat().st_size > 0


def test_the_sweep_benchmark_runs_and_every_executor_agrees(tmp_path: Path) -> None:
    # exit status 1 would mean a variant's table differed from the serial sweep's
    done = _run("sweep_parallel.py", "--no-store", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tables identical across all" in done.stdout
    figures = json.loads((tmp_path / "sweep_parallel_quick.json").read_text())
    assert figures["tables_identical"] is True and figures["problems"] == []
    variants = {row["variant"]: row for row in figures["variants"]}
    assert {"serial", "pool", "dask"} <= set(variants)
    assert all(row["runs_per_second"] > 0 for row in variants.values())


def test_the_calibration_path_benchmark_runs_and_the_paths_agree(tmp_path: Path) -> None:
    # exit status 1 would mean the lean and full paths, or 1 and 2 workers, disagreed
    done = _run("calibration_path.py", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads((tmp_path / "calibration_path_quick.json").read_text())
    assert figures["problems"] == []
    assert {row["variant"] for row in figures["per_run"]} == {
        "yardstick",
        "summary",
        "full",
        "lean",
    }
    assert all(row["ms_median"] > 0 for row in figures["per_run"])
    assert all(row["efficiency"] > 0 for row in figures["parallel"])


def test_the_dashboard_benchmark_runs() -> None:
    done = _run("dashboard_redraw.py")
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.startswith(ROOT.name + " ")]
    median, mean, p90, rate = map(float, row.split()[1:5])
    assert 0 < median <= p90 and mean > 0
    assert rate == pytest.approx(1000 / (100 + mean), abs=0.01)  # (the default interval)


def test_the_browser_dashboard_benchmark_runs() -> None:
    from tests import browser_deps

    lacking = browser_deps.problems()
    if lacking:  # as the browser test of tests/test_viz.py: a failure where it must run (CI)
        report = pytest.fail if browser_deps.required() else pytest.skip
        report("the browser benchmark cannot run here: " + "; ".join(lacking))
    done = _run("dashboard_browser.py")
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = [line for line in done.stdout.splitlines() if ": median " in line]
    rate = float(row.split(": median ")[1].split()[0])
    assert rate > 0
