"""Experimental designs: grids, quasi-random samples and SALib's schemes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

import talentsim as ts
from talentsim.designs import DesignError, Range, make_design


def test_grid_is_the_full_factorial_in_order() -> None:
    design = make_design({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(design) == 6
    assert design.points.values.tolist() == [
        [1, "x"], [1, "y"], [1, "z"], [2, "x"], [2, "y"], [2, "z"]
    ]  # fmt: skip
    assert design.overrides(4) == {"a": 2, "b": "y"}


def test_a_range_with_levels_is_evenly_spaced_and_carries_its_unit() -> None:
    design = make_design({"rate": {"low": 0, "high": 8, "unit": "/year", "levels": 5}})
    assert design.points["rate"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert design.overrides(1) == {"rate": "2.0/year"}
    with pytest.raises(DesignError, match="a grid needs a list of values, or a range with levels"):
        make_design({"rate": {"low": 0, "high": 8}})


@pytest.mark.parametrize("kind", ["lhs", "sobol", "halton"])
def test_quasi_random_designs_fill_the_ranges_reproducibly(kind: str) -> None:
    params = {
        "a": Range(1.0, 3.0),
        "b": {"low": 0.1, "high": 10.0, "log": True},
        "c": {"low": 0, "high": 9, "integer": True},
        "d": ["p", "q"],
    }
    design = make_design(params, kind, samples=64, seed=3)
    again = make_design(params, kind, samples=64, seed=3)
    other = make_design(params, kind, samples=64, seed=4)
    assert design.points.equals(again.points)
    assert not design.points.equals(other.points)
    points = design.points
    assert points["a"].between(1, 3).all() and points["b"].between(0.1, 10).all()
    assert (points["c"] == points["c"].round()).all() and set(points["d"]) == {"p", "q"}
    # A log range is uniform in log space: about half the points fall below the geometric middle
    # (binomial: 64 draws, a stratified design keeps it within ±12 of 32 easily).
    assert abs(int((points["b"] < 1.0).sum()) - 32) <= 12


def test_latin_hypercube_puts_one_point_in_each_stratum() -> None:
    design = make_design(
        {"a": {"low": 0, "high": 1}, "b": {"low": 0, "high": 1}}, "lhs", samples=16
    )
    for column in ("a", "b"):
        strata = np.floor(design.points[column].to_numpy() * 16).astype(int)
        assert sorted(strata) == list(range(16))
    assert qmc.discrepancy(design.points.to_numpy()) < 0.05


def test_salib_designs_have_the_documented_sizes() -> None:
    params = {"a": {"low": 0, "high": 1}, "b": {"low": 0, "high": 2}, "c": {"low": 1, "high": 5}}
    assert len(make_design(params, "saltelli", samples=8)) == 8 * (3 + 2)
    assert len(make_design(params, "saltelli", samples=8, second_order=True)) == 8 * (2 * 3 + 2)
    morris = make_design(params, "morris", samples=5, levels=4)
    assert len(morris) == 5 * (3 + 1)
    assert morris.problem is not None and morris.problem["names"] == ["a", "b", "c"]
    # Morris points sit on the 4-level grid of each range
    levels = np.linspace(0, 2, 4)
    assert np.isin(morris.points["b"].round(12), levels.round(12)).all()


@pytest.mark.parametrize(
    ("params", "design", "samples", "message"),
    [
        ({}, "grid", None, "at least one scenario key"),
        ({"a": []}, "grid", None, "list of values is empty"),
        ({"a": 3}, "grid", None, "expected a list of values or a range"),
        ({"a": {"low": 2, "high": 1}}, "lhs", 4, "low < high"),
        ({"a": {"low": 0, "high": 1, "log": True}}, "lhs", 4, "log range needs low > 0"),
        ({"a": {"low": 0, "hi": 1}}, "lhs", 4, "a range is a table with low and high"),
        ({"a": [1, 2]}, "factorial", None, "unknown design 'factorial'"),
        ({"a": [1, 2]}, "lhs", None, "needs samples"),
        ({"a": {"low": 0, "high": 1}}, "sobol", 10, "power of 2"),
        ({"a": {"low": 0, "high": 1}}, "saltelli", 12, "power of 2"),
    ],
    ids=[
        "empty",
        "no-values",
        "scalar",
        "order",
        "log",
        "keys",
        "design",
        "samples",
        "sobol-n",
        "sa-n",
    ],
)
def test_bad_designs_are_clear_errors(params, design, samples, message) -> None:
    with pytest.raises(DesignError, match=message):
        make_design(params, design, samples=samples)


def test_design_descriptions_are_json_ready() -> None:
    import json

    design = make_design(
        {"a": [1, "x"], "b": {"low": 1, "high": 2, "unit": "w"}}, "lhs", samples=4, seed=1
    )
    text = json.dumps(design.describe())
    assert '"unit": "w"' in text and '"kind": "lhs"' in text
    assert ts.make_design is make_design
