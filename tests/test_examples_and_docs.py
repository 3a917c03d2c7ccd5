"""Every example and scenario file runs; the scenario reference is current."""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
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
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(path), run_name="__main__")
    assert ended.value.code == 0
    printed = capsys.readouterr().out
    assert "seed" in printed
    assert (tmp_path / "o" / "run.json").exists()
    assert (path.parent / "README.md").exists()
    if path.parent.name == "ema_workbench":
        _check_scenario_discovery(tmp_path / "o" / "scenario_discovery.json", printed)


def _check_scenario_discovery(written: Path, printed: str) -> None:
    """examples/ema_workbench: PRIM's boxes agree with the experiments they come from.

    Every box of the peeling trajectory is recomputed from the experiments the example wrote:
    its limits lie within the sampled ranges, and its experiments inside, coverage, density
    and mass are those of the experiments within its limits; the box reported (or none) is
    the one the example's rule picks.
    """
    document = json.loads(written.read_text(encoding="utf-8"))
    found = document["scenario_discovery"]
    table = pd.DataFrame(document["experiments"])
    names = list(document["uncertainties"])
    x = table[names]
    outcome = table[found["outcome"]].to_numpy()
    assert found["threshold"] == float(np.median(outcome))
    of_interest = outcome > found["threshold"]
    k, n = int(of_interest.sum()), len(table)
    assert (found["experiments"], found["cases_of_interest"]) == (n, k)
    assert "scenario discovery (PRIM)" in printed
    if k == 0:
        assert found["box"] is None and found["note"] in printed
        return
    trajectory = found["trajectory"]
    assert trajectory and [box["index"] for box in trajectory] == list(range(len(trajectory)))
    for box in trajectory:
        inside = np.ones(n, dtype=bool)
        for name, (_, low, high) in document["uncertainties"].items():
            lo, hi = box["limits"][name]["min"], box["limits"][name]["max"]
            assert low <= x[name].min() <= lo <= hi <= x[name].max() <= high, (box["index"], name)
            inside &= (x[name] >= lo).to_numpy() & (x[name] <= hi).to_numpy()
        assert box["inside"] == inside.sum() > 0
        assert box["of_interest_inside"] == of_interest[inside].sum()
        assert 0 <= box["coverage"] <= 1 and 0 <= box["density"] <= 1
        assert box["density"] == pytest.approx(of_interest[inside].mean(), abs=1e-12)
        assert box["coverage"] == pytest.approx(of_interest[inside].sum() / k, abs=1e-12)
        assert box["mass"] == pytest.approx(inside.mean(), abs=1e-12)
        for name, limits in box["restricted"].items():  # (the limits narrower than sampled)
            assert (limits["min"], limits["max"]) == tuple(box["limits"][name].values())
            assert limits["min"] > x[name].min() or limits["max"] < x[name].max()
    assert trajectory[0]["coverage"] == 1 and trajectory[0]["density"] == k / n
    rule = found["settings"]
    eligible = [
        box
        for box in trajectory
        if box["restricted"]
        and box["density"] >= rule["density_at_least"]
        and box["inside"] >= rule["experiments_at_least"]
    ]
    if found["box"] is None:
        assert not eligible and found["note"] in printed
    else:
        chosen = trajectory[found["box"]]
        assert chosen in eligible
        assert chosen["coverage"] == max(box["coverage"] for box in eligible)
        assert f"coverage {chosen['coverage']:.2f}" in printed
        assert f"density {chosen['density']:.2f}" in printed


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


@pytest.mark.parametrize(
    ("example", "arguments", "said"),
    [
        ("boomerang/run.py", ["--seeds", "0"], "--seeds: expected a positive integer, got 0"),
        ("boomerang/run.py", ["--out", "/proc/nope"], "/proc/nope: cannot be written (/proc"),
        ("paper_sweep/run.py", ["--workers", "0"], "--workers: expected a positive integer"),
        ("msl_exodus/facts.py", ["--seeds", "1"], "error: compare: need at least 2 seeds"),
        ("reorg_shock/run.py", ["--seeds", "1", "--out", "{held}"], "holds notes.txt"),
        # refused before the fit, not after 17 minutes of it
        ("abc_thesis/run.py", ["--out", "{held}"], "holds notes.txt, not the results of an"),
    ],
    ids=[
        "zero-seeds",
        "unwritable-out",
        "zero-workers",
        "one-seed-to-compare",
        "foreign-out",
        "foreign-out-before-the-work",
    ],
)
def test_examples_refuse_bad_input_with_one_line_and_status_2(
    example: str, arguments: list[str], said: str, tmp_path: Path
) -> None:
    """As the commands do: no traceback, exit status 2, and nothing written."""
    import subprocess

    held = tmp_path / "held"
    held.mkdir()
    (held / "notes.txt").write_text("mine", encoding="utf-8")
    arguments = [a.replace("{held}", str(held)) for a in arguments]
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TALENTSIM_EXAMPLE_BUDGET": "tiny"},
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # refused before any work (the ABC example printed its fit first)
    assert sorted(p.name for p in held.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["held"]  # nothing else written


def test_run_script_turns_errors_into_one_line(capsys) -> None:
    from talentsim.cli import run_script

    def refuses() -> None:
        raise ts.ScenarioError("scenario.toml: labs.X: no such lab")

    def cannot_read() -> None:
        raise FileNotFoundError(2, "No such file or directory", "missing.toml")

    assert run_script(refuses) == 2
    assert capsys.readouterr().err == "error: scenario.toml: labs.X: no such lab\n"
    assert run_script(cannot_read) == 2
    assert capsys.readouterr().err == "error: missing.toml: No such file or directory\n"
    assert run_script(lambda: 3) == 3
    assert run_script(lambda: None) == 0


DOC_PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*/README.md")),
]


def python_blocks(page: Path) -> str:
    """A page's ```python blocks (list items' indented ones too), in order, as one source."""
    import re
    import textwrap

    fence = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)
    return "\n".join(textwrap.dedent(m.group(2)) for m in fence.finditer(page.read_text()))


@pytest.mark.parametrize(
    "page", [p for p in DOC_PAGES if python_blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_a_pages_python_defines_every_name_it_uses(page: Path) -> None:
    # a reader runs a page's snippets in order: each must parse, and use only names the page's
    # earlier snippets (or imports) define (ruff's F821 over the page's blocks as one module)
    import ast
    import subprocess

    source = python_blocks(page)
    ast.parse(source, filename=str(page))
    pytest.importorskip("ruff")
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F821"]
    found = subprocess.run(
        [*ruff, "--output-format", "concise", "--stdin-filename", f"{page.stem}.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr


def test_doc_snippets_write_to_folders_of_their_own() -> None:
    # two snippets that write the same store or database with different designs make the
    # second fail ("holds a different sweep", "exists"): each output is named once
    import ast

    written: dict[str, list[str]] = {}
    for page in DOC_PAGES:
        for node in ast.walk(ast.parse(python_blocks(page))):
            if (
                isinstance(node, ast.keyword)
                and node.arg in ("store", "db", "checkpoint")
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                written.setdefault(node.value.value, []).append(page.name)
    assert written, "no snippet writes a store: the check looks at nothing"
    assert {out: pages for out, pages in written.items() if len(pages) > 1} == {}
