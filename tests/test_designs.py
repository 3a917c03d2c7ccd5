"""Experimental designs: grids, quasi-random samples and SALib's schemes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import qmc

import talentsim as ts
from talentsim.designs import DesignError, Range, design_size, make_design


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
        ({"a": {"low": 0.5, "high": 3, "integer": True}}, "lhs", 4, "integer low and high"),
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
        "integer-bounds",
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


# --------------------------------------------------------------------------------------------
# Designs are exactly what they claim (property tests over random ranges, scales and sizes)
# --------------------------------------------------------------------------------------------

SAMPLED = ("lhs", "sobol", "halton", "saltelli", "morris")


@st.composite
def continuous_ranges(draw: st.DrawFn) -> dict:
    log = draw(st.booleans())
    exponent = draw(st.integers(-6, 6))
    low = draw(st.floats(0.01, 1000.0)) * 10.0**exponent if log else draw(st.floats(-1e6, 1e6))
    width = draw(st.floats(1e-3, 1e4)) * max(abs(low), 1.0)
    return {"low": low, "high": low + width, "log": log}


@st.composite
def integer_ranges(draw: st.DrawFn) -> dict:
    log = draw(st.booleans())
    low = draw(st.integers(1, 500)) if log else draw(st.integers(-500, 500))
    return {"low": low, "high": low + draw(st.integers(1, 40)), "log": log, "integer": True}


def _size_for(design: str, samples: int) -> int:
    return 2 ** max(1, samples.bit_length() - 1) if design in ("sobol", "saltelli") else samples


@settings(max_examples=60, deadline=None)
@given(spec=continuous_ranges(), levels=st.integers(2, 30))
def test_a_grid_hits_both_ends_exactly_and_stays_inside(spec: dict, levels: int) -> None:
    values = make_design({"a": {**spec, "levels": levels}}).points["a"].tolist()
    assert values[0] == spec["low"] and values[-1] == spec["high"]
    assert all(spec["low"] <= v <= spec["high"] for v in values)
    assert values == sorted(values)


def test_a_log_range_starting_at_8_starts_at_8() -> None:
    # exp(log(8)) is 7.999999999999998: the value the issue found below the range.
    assert math.exp(math.log(8.0)) != 8.0
    grid = make_design({"a": {"low": 8, "high": 64, "log": True, "levels": 4}})
    np.testing.assert_allclose(grid.points["a"], [8.0, 16.0, 32.0, 64.0], rtol=1e-15)
    assert grid.points["a"].iloc[0] == 8.0 and grid.points["a"].iloc[-1] == 64.0
    morris = make_design({"a": {"low": 8, "high": 64, "log": True}}, "morris", samples=6)
    assert morris.points["a"].min() == 8.0 and morris.points["a"].max() == 64.0


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(continuous_ranges() | integer_ranges(), min_size=1, max_size=3),
    design=st.sampled_from(SAMPLED),
    samples=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_sampled_value_lies_in_its_range(specs, design, samples, seed) -> None:
    params = {f"p{k}": spec for k, spec in enumerate(specs)}
    if design == "morris":  # integer ranges step evenly: 4 levels, 3 equal steps
        params = {
            k: ({**v, "high": v["low"] + 3 * (v["high"] - v["low"]), "log": False}
                if v.get("integer") else v)
            for k, v in params.items()
        }  # fmt: skip
    n = _size_for(design, samples)
    points = make_design(params, design, samples=n, seed=seed).points
    assert len(points) == design_size(params, design, samples=n)
    for name, spec in params.items():
        column = points[name]
        assert column.between(spec["low"], spec["high"]).all(), (name, spec, column.tolist())
        if spec.get("integer"):
            assert (column == np.floor(column)).all()


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(-100, 100),
    count=st.integers(1, 30),
    per_integer=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_latin_hypercube_takes_every_integer_equally_often(low, count, per_integer, seed):
    # count integers, count·k strata: each integer's bin holds exactly k strata, hence k points
    # (rounding half to even gave the two end integers half the weight of the others).
    spec = {"low": low, "high": low + count - 1, "integer": True}
    if count == 1:
        with pytest.raises(DesignError, match="low < high"):
            make_design({"a": spec}, "lhs", samples=per_integer)
        return
    points = make_design({"a": spec}, "lhs", samples=count * per_integer, seed=seed).points
    counts = points["a"].value_counts()
    assert sorted(counts.index) == list(range(low, low + count))
    assert (counts == per_integer).all(), counts.to_dict()


@settings(max_examples=30, deadline=None)
@given(
    low=st.integers(-100, 100),
    power=st.integers(1, 4),
    extra=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_sobol_design_takes_every_integer_equally_often(low, power, extra, seed) -> None:
    # A scrambled Sobol sequence of 2^m points puts 2^(m-a) points in each interval
    # [j/2^a, (j+1)/2^a): 2^a integers are each taken equally often.
    count, samples = 2**power, 2 ** (power + extra)
    spec = {"low": low, "high": low + count - 1, "integer": True}
    points = make_design({"a": spec}, "sobol", samples=samples, seed=seed).points
    counts = points["a"].value_counts()
    assert len(counts) == count and (counts == samples // count).all(), counts.to_dict()


@settings(max_examples=30, deadline=None)
@given(low=st.integers(1, 50), count=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
def test_a_log_integer_range_is_uniform_in_log_space(low, count, seed) -> None:
    # Integer k stands for [k, k+1) on the log scale: its share is log((k+1)/k) / log((high+1)
    # /low); a Latin hypercube of n points gets within 2 of n times that share.
    high, n = low + count - 1, 400
    spec = {"low": low, "high": high, "integer": True, "log": True}
    column = make_design({"a": spec}, "lhs", samples=n, seed=seed).points["a"]
    total = math.log((high + 1) / low)
    for k in range(low, high + 1):
        expected = n * math.log((k + 1) / k) / total
        assert abs(int((column == k).sum()) - expected) <= 2, (k, expected)


@settings(max_examples=60, deadline=None)
@given(spec=integer_ranges(), levels=st.integers(2, 45))
def test_an_integer_grid_hits_distinct_integers_or_says_why_not(spec, levels) -> None:
    try:
        values = make_design({"a": {**spec, "levels": levels}}).points["a"].tolist()
    except DesignError as exc:
        assert "would repeat integers" in str(exc) and "parameters.a" in str(exc)
        assert spec["log"] or levels > spec["high"] - spec["low"] + 1
        return
    assert values[0] == spec["low"] and values[-1] == spec["high"]
    assert len(set(values)) == levels and values == sorted(values)
    assert all(v == int(v) for v in values)


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(-50, 50),
    step=st.integers(1, 7),
    levels=st.sampled_from([2, 4, 6, 8]),
    trajectories=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_morris_steps_along_integers_by_whole_equal_steps(low, step, levels, trajectories, seed):
    high = low + step * (levels - 1)
    params = {"n": {"low": low, "high": high, "integer": True}, "x": {"low": 0, "high": 1}}
    design = make_design(params, "morris", samples=trajectories, levels=levels, seed=seed)
    n = design.points["n"].to_numpy().reshape(trajectories, 3)
    assert set(np.unique(n)) <= set(range(low, high + 1, step))
    # every move of n in a trajectory is the step SALib's effects divide by: Δ·(high - low)
    delta = levels / (2 * (levels - 1))
    moves = np.diff(n, axis=1)
    assert set(np.abs(moves[moves != 0])) == {round(delta * (high - low))}


def test_morris_refuses_integer_ranges_it_cannot_step_evenly() -> None:
    with pytest.raises(DesignError, match=r"parameters\.n: .*multiple of 3"):
        make_design({"n": {"low": 0, "high": 10, "integer": True}}, "morris", samples=2)
    with pytest.raises(DesignError, match=r"levels: a morris design needs an even number"):
        make_design({"n": {"low": 0, "high": 10, "integer": True}}, "morris", samples=2, levels=3)
    # over a continuous range too (SALib warned its sample "may be biased" and went on)
    with pytest.raises(DesignError, match=r"levels: .*even number of levels .*use 6 levels"):
        make_design({"a": {"low": 0.0, "high": 1.0}}, "morris", samples=2, levels=5)
    with pytest.raises(DesignError, match=r"parameters\.n: .*log integer"):
        make_design(
            {"n": {"low": 1, "high": 10, "integer": True, "log": True}}, "morris", samples=2
        )


@settings(max_examples=60, deadline=None)
@given(
    specs=st.lists(
        st.lists(st.integers(), min_size=1, max_size=5) | continuous_ranges(),
        min_size=1,
        max_size=4,
    ),
    design=st.sampled_from(("grid", *SAMPLED)),
    samples=st.integers(1, 20),
    second_order=st.booleans(),
    levels=st.integers(2, 5),
)
def test_design_size_is_the_size_of_the_design(specs, design, samples, second_order, levels):
    params = {
        f"p{k}": ({**spec, "levels": levels} if design == "grid" else spec)
        if isinstance(spec, dict) else spec
        for k, spec in enumerate(specs)
    }  # fmt: skip
    options = {
        "samples": None if design == "grid" else _size_for(design, samples),
        "second_order": second_order and design == "saltelli",
    }
    expected = design_size(params, design, **options)
    assert len(make_design(params, design, **options)) == expected


@pytest.mark.parametrize(
    ("params", "design", "options", "message"),
    [
        ({"a": [1, 2]}, "grid", {"samples": 8}, "samples: a grid design takes no samples"),
        ({"a": [1, 2]}, "grid", {"seed": 3}, "design_seed: a grid design draws nothing"),
        ({"a": [1, 2]}, "lhs", {"samples": 8, "levels": 4}, "levels: only a morris design"),
        ({"a": [1, 2]}, "lhs", {"samples": 8, "second_order": True}, "second_order: only"),
        (
            {"a": {"low": 0, "high": 1, "levels": 3}},
            "lhs",
            {"samples": 8},
            r"parameters\.a\.levels: .*samples the whole range",
        ),
    ],
    ids=[
        "samples-on-grid",
        "seed-on-grid",
        "levels-on-lhs",
        "second-order-on-lhs",
        "range-levels-on-lhs",
    ],
)
def test_options_a_design_would_ignore_are_errors(params, design, options, message) -> None:
    with pytest.raises(DesignError, match=message):
        make_design(params, design, **options)


def test_the_size_of_a_huge_design_is_known_without_building_it() -> None:
    params = {f"p{k}": list(range(100)) for k in range(6)}  # 10^12 grid points
    assert design_size(params) == 100**6
    assert design_size({"a": {"low": 0, "high": 1}}, "saltelli", samples=2**40) == 3 * 2**40
