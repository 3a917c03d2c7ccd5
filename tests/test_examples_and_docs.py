"""Every example and scenario file runs; the scenario reference is current."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

import talentsim as ts
from talentsim.schema_doc import render
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*/*.py"))
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_there_are_examples_and_scenarios() -> None:
    assert EXAMPLES and SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_file_loads_and_runs(path: Path) -> None:
    scenario = ts.load_scenario(path)
    result = ts.run(scenario, seed=0)
    assert result.timeseries["step"].max() == scenario.time.n_steps
    assert len(result.events) > 0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_runs(path: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    # The contract of an example: `run.py --seeds N --out DIR` prints a table and saves the
    # first run's results to DIR; its folder has a README saying what it shows. Examples with a
    # budget (examples/fit_shipped, examples/calibrate_flagship) run their smallest one here:
    # a smoke test of the same code.
    monkeypatch.setenv("TALENTSIM_EXAMPLE_BUDGET", "tiny")
    monkeypatch.setattr(sys, "argv", [str(path), "--seeds", "2", "--out", str(tmp_path / "o")])
    runpy.run_path(str(path), run_name="__main__")
    printed = capsys.readouterr().out
    assert "seed" in printed
    assert (tmp_path / "o" / "run.json").exists()
    assert (path.parent / "README.md").exists()


def test_scenario_reference_is_current() -> None:
    written = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert written == render(), "regenerate: python -m talentsim.schema_doc > docs/scenarios.md"


def test_reference_covers_every_schema_key() -> None:
    from talentsim.schema_doc import sections

    text = render()
    for _, model, _ in sections():
        for key in model.model_fields:
            if key not in {"dist", "kind"}:
                assert f"`{key}`" in text
