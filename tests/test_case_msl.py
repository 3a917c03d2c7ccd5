"""The flagship's six facts (docs/case-msl.md), across seeds with paired counterfactuals.

The facts, their statistics and their one-sided tests at the 1% level are defined once, in
``examples/msl_exodus/facts.py``; this test runs them on 20 paired seeds (and, marked slow, on
100 other seeds) and requires every fact to hold.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from tests.conftest import ROOT


def _facts_module():
    spec = importlib.util.spec_from_file_location(
        "msl_facts", ROOT / "examples/msl_exodus/facts.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FACTS = _facts_module()


def _check(seeds: int, root_seed: int) -> pd.DataFrame:
    comparison = FACTS.run_comparison(seeds, root_seed=root_seed)
    assert comparison.runs["seed"].nunique() == seeds
    table = FACTS.evaluate(comparison)
    assert list(table.index) == ["1", "2", "3a", "3b", "4", "5", "6"]
    failing = table[~table["holds"]]
    assert failing.empty, f"facts that do not hold:\n{failing.to_string()}"
    return table


def test_the_six_facts_hold_over_20_seeds() -> None:
    table = _check(20, root_seed=0)
    # The estimates are in the range the case describes, not just significant.
    assert table.loc["1", "estimate"] >= 8  # core researchers lost in 8 weeks (mean)
    assert table.loc["5", "estimate"] < 0.5  # pay×2 retention gain / no-reorg retention gain


@pytest.mark.slow
def test_the_six_facts_hold_over_100_other_seeds() -> None:
    _check(100, root_seed=2026)
