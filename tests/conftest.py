"""Shared fixtures: paths and small scenarios."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import talentsim as ts

ROOT = Path(__file__).resolve().parent.parent


def talentsim_cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m talentsim ARGS`` in a new process run in ``cwd``, this tree first on the path."""
    return subprocess.run(
        [sys.executable, "-m", "talentsim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
    )


def child_processes(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # (gone meanwhile)
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def process_running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def still_running_after(pids: list[int], seconds: float = 15.0) -> list[int]:
    """Those of ``pids`` still running after waiting up to ``seconds`` for all to end."""
    deadline = time.monotonic() + seconds
    while any(map(process_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if process_running(pid)]


FLAGSHIP = ROOT / "scenarios" / "msl_exodus.toml"


def small_scenario_dict(**changes: Any) -> dict[str, Any]:
    """A small three-lab scenario with every issue-2 mechanism on."""
    data: dict[str, Any] = {
        "name": "small",
        "time": {"step": "1w", "duration": "1y"},
        "market": {
            "offer_rate_employed": "4/year",
            "offer_rate_outside": "3/year",
            "separation_rate": "0.1/year",
            "noise_scale": 0.5,
            "switching_cost": 0.5,
        },
        "outside": {"opportunity_rate": "1/year", "retirement_rate": "0.2/year"},
        "labs": {
            "A": {"pay_level": 2.0, "mission_clarity": 0.3, "reorg_rate": "2/year", "capacity": 80},
            "B": {"pay_level": 1.2, "mission_clarity": 0.9, "orientation": 0.8},
            "C": {"pay_level": 1.0, "new_hire_premium": 0.2, "capacity": 70},
        },
        "cohorts": {
            "a_staff": {"size": 50, "lab": "A", "tenure": "2y"},
            "stars": {
                "size": 10,
                "lab": "A",
                "previous_lab": "B",
                "attachment": 0.8,
                "hired_at_premium": True,
                "market_value": {"dist": "lognormal", "median": 2.0, "sigma": 0.3},
                "orientation": {"dist": "uniform", "low": 0.5, "high": 1.0},
            },
            "b_staff": {
                "size": 60,
                "lab": "B",
                "weights": {"pay": {"dist": "normal", "mean": 1.0, "sd": 0.2, "low": 0.0}},
            },
            "c_staff": {"size": 40, "lab": "C"},
            "pool": {"size": 40, "lab": "outside", "entry_rate": "30/year"},
        },
        "events": [
            {"kind": "reorganisation", "lab": "A", "at": "3w", "severity": 1.5},
            {
                "kind": "pay_change",
                "lab": "C",
                "at": "10w",
                "pay_level": 1.5,
                "applies_to": "everyone",
            },
            {"kind": "hiring_freeze", "lab": "B", "at": "20w", "duration": "8w"},
            {"kind": "mission_pivot", "lab": "A", "at": "30w", "mission_clarity": 0.8},
        ],
    }
    data.update(changes)
    return data


@pytest.fixture
def small() -> ts.Scenario:
    return ts.Scenario.from_dict(small_scenario_dict())


@pytest.fixture(scope="session")
def flagship() -> ts.Scenario:
    return ts.load_scenario(FLAGSHIP)
