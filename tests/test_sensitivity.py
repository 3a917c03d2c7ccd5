"""Sensitivity analysis (Sobol, Morris) and replicate aggregation of sweep tables.

Most tables here are built without running the model: the design's points go through a known
function and the table gets the columns and ``attrs`` that ``talentsim.sweep`` gives it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import talentsim as ts
from talentsim.analysis import aggregate
from talentsim.designs import Design, make_design
from talentsim.sensitivity_analysis import sensitivity

FLAGSHIP = Path(__file__).resolve().parent.parent / "scenarios" / "msl_exodus.toml"
RUN_COLUMNS = ["run_id", "point", "replicate", "seed", "status", "error"]

# Ishigami function, a = 7, b = 0.1, x uniform on [-π, π]^3 (Ishigami & Homma 1990; the
# analytic variances are in Saltelli et al. 2008, Global Sensitivity Analysis, §4.4).
A, B = 7.0, 0.1
V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
V = V1 + V2 + V13
S1_TRUE = np.array([V1 / V, V2 / V, 0.0])
ST_TRUE = np.array([(V1 + V13) / V, V2 / V, V13 / V])
S13_TRUE = V13 / V

# At N = 1024 SALib's bootstrap half-widths (95 %) of these indices are 0.03-0.09, i.e.
# standard errors of 0.015-0.045; the quasi-random Saltelli sample does better than that
# (observed errors < 0.015). A tolerance of 0.05 is therefore > 1 standard error of the worst
# index and a few of the typical one, yet far below the gaps between the indices (0.13 or more),
# so a swapped, mis-ordered or mis-averaged output fails it.
SOBOL_TOL = 0.05


def ishigami(points: pd.DataFrame) -> np.ndarray:
    x = points[["x1", "x2", "x3"]].to_numpy(dtype=float)
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_design(samples: int = 1024, second_order: bool = False) -> Design:
    ranges = {f"x{i}": {"low": -math.pi, "high": math.pi} for i in (1, 2, 3)}
    return make_design(ranges, "saltelli", samples=samples, second_order=second_order)


def make_table(
    design: Design,
    outputs: dict[str, np.ndarray],
    replicates: int = 1,
    noise: Callable[[int], np.ndarray] | None = None,
) -> pd.DataFrame:
    """A sweep table as ``ts.sweep`` returns it: one row per (point, replicate)."""
    count = len(design)
    point = np.repeat(np.arange(count), replicates)
    replicate = np.tile(np.arange(replicates), count)
    table = pd.DataFrame(
        {
            "run_id": [f"run{k}" for k in range(count * replicates)],
            "point": point,
            "replicate": replicate,
            "seed": replicate.astype("int64") + 100,
            "status": "done",
            "error": None,
        }
    )
    table = pd.concat([table, design.points.iloc[point].reset_index(drop=True)], axis=1)
    for name, values in outputs.items():
        column = np.repeat(np.asarray(values, dtype=float), replicates)
        if noise is not None:
            column = column + noise(replicates)[replicate] * np.repeat(
                np.random.default_rng(1).normal(0, 1, count), replicates
            )
        table[name] = column
    table.attrs = {"store": None, "design": design.describe(), "problem": design.problem}
    return table


def values(result: pd.DataFrame, index: str) -> np.ndarray:
    return result[result["index"] == index]["value"].to_numpy()


# --------------------------------------------------------------------------------------------
# Sobol
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ishigami_table() -> pd.DataFrame:
    design = ishigami_design()
    return make_table(design, {"y": ishigami(design.points)})


def test_sobol_recovers_the_ishigami_indices(ishigami_table: pd.DataFrame) -> None:
    result = sensitivity(ishigami_table, "y")
    assert list(result.columns) == [
        "parameter",
        "index",
        "value",
        "ci_low",
        "ci_high",
        "output",
        "method",
    ]
    assert list(result["parameter"]) == ["x1", "x2", "x3"] * 2
    assert list(result["index"]) == ["S1"] * 3 + ["ST"] * 3
    assert set(result["output"]) == {"y"} and set(result["method"]) == {"sobol"}
    np.testing.assert_allclose(values(result, "S1"), S1_TRUE, atol=SOBOL_TOL)
    np.testing.assert_allclose(values(result, "ST"), ST_TRUE, atol=SOBOL_TOL)
    # The intervals are value ∓ half-width and cover the analytic answer.
    truth = np.r_[S1_TRUE, ST_TRUE]
    assert np.allclose(result["value"] - result["ci_low"], result["ci_high"] - result["value"])
    assert (result["ci_high"] - result["ci_low"] > 0).all()
    assert ((result["ci_low"] <= truth) & (truth <= result["ci_high"])).all()


def test_sobol_second_order_indices() -> None:
    design = ishigami_design(second_order=True)
    assert design.options["second_order"] is True
    result = sensitivity(make_table(design, {"y": ishigami(design.points)}), "y")
    s2 = result[result["index"] == "S2"].set_index("parameter")["value"]
    assert list(s2.index) == ["x1 × x2", "x1 × x3", "x2 × x3"]
    np.testing.assert_allclose(s2.to_numpy(), [0.0, S13_TRUE, 0.0], atol=SOBOL_TOL)
    np.testing.assert_allclose(values(result, "S1"), S1_TRUE, atol=SOBOL_TOL)
    np.testing.assert_allclose(values(result, "ST"), ST_TRUE, atol=SOBOL_TOL)


def test_sobol_confidence_intervals_are_reproducible_and_follow_the_level(
    ishigami_table: pd.DataFrame,
) -> None:
    # The default seed (0) is honoured too: SALib's Sobol analyser would treat 0 as no seed.
    pd.testing.assert_frame_equal(
        sensitivity(ishigami_table, "y"), sensitivity(ishigami_table, "y")
    )
    first = sensitivity(ishigami_table, "y", seed=3)
    pd.testing.assert_frame_equal(first, sensitivity(ishigami_table, "y", seed=3))
    assert not np.allclose(first["ci_low"], sensitivity(ishigami_table, "y", seed=4)["ci_low"])
    narrow = sensitivity(ishigami_table, "y", seed=3, confidence=0.5)
    np.testing.assert_array_equal(narrow["value"], first["value"])
    assert ((narrow["ci_high"] - narrow["ci_low"]) < (first["ci_high"] - first["ci_low"])).all()


def test_identical_replicates_give_the_single_replicate_answer(
    ishigami_table: pd.DataFrame,
) -> None:
    design = ishigami_design()
    doubled = make_table(design, {"y": ishigami(design.points)}, replicates=2)
    assert len(doubled) == 2 * len(ishigami_table)
    pd.testing.assert_frame_equal(sensitivity(doubled, "y"), sensitivity(ishigami_table, "y"))


def test_replicate_noise_is_averaged_out(ishigami_table: pd.DataFrame) -> None:
    # Replicate 0 gets +e_i, replicate 1 gets -e_i (e_i ~ N(0, 3) per point, as large as the
    # signal): the replicate mean is the noiseless output, so the indices are too.
    design = ishigami_design()
    noisy = make_table(
        design,
        {"y": ishigami(design.points)},
        replicates=2,
        noise=lambda r: np.array([3.0, -3.0])[:r],
    )
    expected = sensitivity(ishigami_table, "y")
    result = sensitivity(noisy, "y")
    np.testing.assert_allclose(result["value"], expected["value"], atol=1e-9)
    # Control: one replicate alone is far off, so the check above can fail.
    alone = noisy[noisy["replicate"] == 0].copy()
    alone.attrs = dict(noisy.attrs)
    off = sensitivity(alone, "y")
    assert np.abs(off["value"] - expected["value"]).max() > 0.1


def test_failed_replicates_are_ignored(ishigami_table: pd.DataFrame) -> None:
    design = ishigami_design()
    table = make_table(design, {"y": ishigami(design.points)}, replicates=2)
    broken = table["replicate"] == 1
    table.loc[broken, "status"] = "failed"
    table.loc[broken, "error"] = "RuntimeError: boom"
    table.loc[broken, "y"] = 1e6  # must never be read
    pd.testing.assert_frame_equal(sensitivity(table, "y"), sensitivity(ishigami_table, "y"))


def test_missing_points_are_an_error_naming_them() -> None:
    design = ishigami_design(samples=8)
    table = make_table(design, {"y": ishigami(design.points)}, replicates=2)
    table.loc[table["point"] == 3, "status"] = "failed"
    table.loc[table["point"] == 7, "status"] = "pending"
    table.loc[(table["point"] == 9) & (table["replicate"] == 0), "status"] = "failed"
    with pytest.raises(ValueError, match=r"2 of 40 design points .*points 3, 7\)"):
        sensitivity(table, "y")
    # A table missing rows (e.g. one shard of a sweep) is caught the same way.
    shard = table[table["point"] % 2 == 0].copy()
    shard.attrs = dict(table.attrs)
    with pytest.raises(ValueError, match=r"20 of 40 design points .*points 1, 3, 5"):
        sensitivity(shard, "y", method="sobol")
    # A done run whose output is NaN counts as missing too.
    table["status"] = "done"
    table.loc[table["point"] == 12, "y"] = np.nan
    with pytest.raises(ValueError, match=r"1 of 40 design points .*points 12\)"):
        sensitivity(table, "y")


def test_method_must_fit_the_design(ishigami_table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"'morris' needs a 'morris' design.*'saltelli'"):
        sensitivity(ishigami_table, "y", method="morris")
    with pytest.raises(ValueError, match="unknown method 'fast'"):
        sensitivity(ishigami_table, "y", method="fast")

    morris = make_design({"x1": {"low": 0, "high": 1}}, "morris", samples=4)
    morris_table = make_table(morris, {"y": morris.points["x1"].to_numpy()})
    with pytest.raises(ValueError, match=r"'sobol' needs a 'saltelli' design.*'morris'"):
        sensitivity(morris_table, "y", method="sobol")

    lhs = make_design({"x1": {"low": 0, "high": 1}}, "lhs", samples=8)
    lhs_table = make_table(lhs, {"y": lhs.points["x1"].to_numpy()})
    with pytest.raises(ValueError, match="design is 'lhs'"):
        sensitivity(lhs_table, "y")
    with pytest.raises(ValueError, match=r"'sobol' needs a 'saltelli' design.*'lhs'"):
        sensitivity(lhs_table, "y", method="sobol")


def test_tables_without_attrs_need_method_and_problem(ishigami_table: pd.DataFrame) -> None:
    bare = ishigami_table.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="cannot tell the method"):
        sensitivity(bare, "y")
    with pytest.raises(ValueError, match="no SALib problem"):
        sensitivity(bare, "y", method="sobol")
    # With both given, the answer is the same as from the attrs (second order inferred).
    result = sensitivity(bare, "y", method="sobol", problem=ishigami_table.attrs["problem"])
    pd.testing.assert_frame_equal(result, sensitivity(ishigami_table, "y"))

    design = ishigami_design(samples=64, second_order=True)
    bare = make_table(design, {"y": ishigami(design.points)})
    bare.attrs = {}
    result = sensitivity(bare, "y", method="sobol", problem=design.problem)
    assert (result["index"] == "S2").sum() == 3


def test_second_order_is_inferred_for_two_parameters_without_attrs() -> None:
    # With D = 2 every second-order size N'·6 is also a multiple of D + 2 = 4 (1536 = 384·4),
    # so divisibility alone took this design for a first-order one of N = 384 and gave
    # S1 ≈ (0.07, 0.55), ST ≈ (0.34, 1.09) for y = x1 + 2·x2 (truth 0.2, 0.8), silently.
    ranges = {name: {"low": 0.0, "high": 1.0} for name in ("x1", "x2")}
    design = make_design(ranges, "saltelli", samples=256, second_order=True)
    x = design.points.to_numpy(dtype=float)
    table = make_table(design, {"y": x[:, 0] + 2 * x[:, 1]})
    bare = table.copy()
    bare.attrs = {}
    result = sensitivity(bare, "y", method="sobol", problem=design.problem)
    pd.testing.assert_frame_equal(result, sensitivity(table, "y"))
    assert list(result["index"]) == ["S1", "S1", "ST", "ST", "S2"]
    np.testing.assert_allclose(values(result, "S1"), [0.2, 0.8], atol=0.01)
    np.testing.assert_allclose(values(result, "ST"), [0.2, 0.8], atol=0.01)


def test_sobol_refuses_a_problem_in_another_order_than_the_design() -> None:
    # SALib reads only the outputs: the k-th name of the problem is taken to be the parameter
    # that changes between rows A and AB_k. A problem with the design's names in another order
    # (e.g. written by hand for a table that lost its attrs) swapped the labels silently.
    design = ishigami_design(samples=64)
    table = make_table(design, {"y": ishigami(design.points)})
    bare = table.copy()
    bare.attrs = {}
    assert design.problem is not None
    order = [1, 0, 2]
    swapped = {
        "num_vars": 3,
        "names": [design.problem["names"][k] for k in order],
        "bounds": [design.problem["bounds"][k] for k in order],
    }
    with pytest.raises(ValueError, match=r"not a Saltelli design .*\['x2', 'x1', 'x3'\]"):
        sensitivity(bare, "y", method="sobol", problem=swapped)
    # Nor is a table of another design analysed as if it were one (here an LHS of the size).
    lhs = make_design(
        {name: {"low": 0.0, "high": 1.0} for name in ("x1", "x2", "x3")}, "lhs", samples=len(design)
    )
    lhs_table = make_table(lhs, {"y": lhs.points["x1"].to_numpy()})
    lhs_table.attrs = {}
    with pytest.raises(ValueError, match="not a Saltelli design"):
        sensitivity(lhs_table, "y", method="sobol", problem=design.problem)
    bare = bare.drop(columns=["x3"])
    with pytest.raises(ValueError, match=r"no parameter columns \['x3'\]"):
        sensitivity(bare, "y", method="sobol", problem=design.problem)


def test_unknown_or_non_numeric_output(ishigami_table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"no output column 'attrition\.MSL'.*'y'"):
        sensitivity(ishigami_table, "attrition.MSL")
    with pytest.raises(ValueError, match="'status' is not numeric"):
        sensitivity(ishigami_table, "status")


def test_constant_output_warns_and_gives_nan(ishigami_table: pd.DataFrame) -> None:
    table = ishigami_table.assign(flat=1.0)
    with pytest.warns(RuntimeWarning, match="same at every point"):
        result = sensitivity(table, "flat")
    assert len(result) == 6 and result["value"].isna().all()


# --------------------------------------------------------------------------------------------
# Morris
# --------------------------------------------------------------------------------------------

LINEAR_RANGES = {
    "x1": {"low": 0.0, "high": 2.0},
    "x2": {"low": -1.0, "high": 3.0},
    "x3": {"low": 10.0, "high": 20.0},
    "x4": {"low": 1.0, "high": 100.0, "log": True},
}


@pytest.mark.parametrize("levels", [4, 6, 8])
def test_morris_levels_are_read_from_the_steps_without_attrs(levels: int) -> None:
    # Assumed 4 before: a 6-level design's mu_star came out 0.9 times too small, silently.
    ranges = {k: v for k, v in LINEAR_RANGES.items() if k != "x4"}  # (x4: a log range)
    design = make_design(ranges, "morris", samples=10, levels=levels)
    x = design.points
    table = make_table(design, {"y": (3 * x["x1"] + 1 * x["x2"]).to_numpy()})
    bare = table.copy()
    bare.attrs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = sensitivity(bare, "y", method="morris", problem=design.problem)
    pd.testing.assert_frame_equal(result, sensitivity(table, "y"))
    np.testing.assert_allclose(values(result, "mu_star"), [6.0, 4.0, 0.0], atol=1e-12)
    # a log range read as plain numbers has no one step: 4 levels assumed, with a warning
    design = make_design(LINEAR_RANGES, "morris", samples=10, levels=levels)
    table = make_table(design, {"y": design.points["x1"].to_numpy()})
    table.attrs = {}
    with pytest.warns(RuntimeWarning, match="4 levels assumed"):
        sensitivity(table, "y", method="morris", problem=design.problem)


@pytest.mark.parametrize("levels", [4, 6])
def test_morris_linear_effects_are_exact(levels: int) -> None:
    # SALib's elementary effect is Δy / Δ with Δ = p / (2(p - 1)) the step on the unit cube
    # (p levels), i.e. the change of y per *whole range* of the parameter: for y = c·x on
    # [low, high] a step moves x by Δ·(high - low), so every effect is c·(high - low) and
    # mu_star = |c|·(high - low), sigma = 0. A log range is sampled in log space, so
    # y = 2·ln(x4) has effect 2·(ln 100 - ln 1). With the wrong number of levels Δ is wrong
    # and mu_star is off by a factor (e.g. 0.9 for 6 levels analysed as 4).
    design = make_design(LINEAR_RANGES, "morris", samples=10, levels=levels)
    x = design.points
    y = 3 * x["x1"] + 1 * x["x2"] + 0 * x["x3"] + 2 * np.log(x["x4"])
    table = make_table(design, {"y": y.to_numpy()}, replicates=2)
    result = sensitivity(table, "y")
    assert set(result["method"]) == {"morris"}
    expected = [3 * 2.0, 1 * 4.0, 0.0, 2 * math.log(100.0)]
    np.testing.assert_allclose(values(result, "mu_star"), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(values(result, "mu"), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(values(result, "sigma"), 0.0, atol=1e-12)
    star = result[result["index"] == "mu_star"]
    np.testing.assert_allclose(star["ci_low"], expected, atol=1e-12)
    np.testing.assert_allclose(star["ci_high"], expected, atol=1e-12)
    assert result[result["index"] != "mu_star"][["ci_low", "ci_high"]].isna().all().all()


@pytest.mark.parametrize("levels", [4, 6])
def test_morris_effects_over_an_integer_range_use_its_actual_integer_steps(levels: int) -> None:
    # y = 3·n for an integer n on [2, 2 + 5·(levels-1)]: every step moves n by a whole number
    # of integers, the step the effects divide by, so mu_star = 3·(high - low) exactly
    # (rounding a 4-level grid of [0, 10] gave steps of 3 and 4 for a nominal 3.33).
    high = 2 + 5 * (levels - 1)
    params = {"n": {"low": 2, "high": high, "integer": True}, "x": {"low": 0.0, "high": 1.0}}
    design = make_design(params, "morris", samples=12, levels=levels, seed=5)
    y = 3 * design.points["n"].to_numpy() + design.points["x"].to_numpy()
    result = sensitivity(make_table(design, {"y": y}), "y")
    np.testing.assert_allclose(values(result, "mu_star"), [3 * (high - 2), 1.0], rtol=1e-12)
    np.testing.assert_allclose(values(result, "sigma"), 0.0, atol=1e-9)


def test_morris_inputs_are_salibs_sample_in_problem_space() -> None:
    # Only the direction of each step enters the (unscaled) effects, so check the inputs
    # handed to SALib directly: the design's values, in log space for a log range, are SALib's
    # own sample.
    from SALib.sample import morris as morris_sample

    from talentsim.sensitivity_analysis import _morris_inputs

    design = make_design(LINEAR_RANGES, "morris", samples=10, seed=3)
    table = make_table(design, {"y": np.zeros(len(design))}, replicates=2)
    assert design.problem is not None
    x = _morris_inputs(table, list(design.problem["names"]), design.describe(), len(design))
    problem = {k: design.problem[k] for k in ("num_vars", "names", "bounds")}
    expected = morris_sample.sample(problem, 10, num_levels=4, seed=3)
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-12)


def test_morris_sign_and_interaction() -> None:
    # y = -4·x1 on [0, 1]: mu = -4, mu_star = 4. y += x2·x3 on [0, 1]²: effects vary with the
    # other factor, so sigma > 0 for x2 and x3.
    ranges = {name: {"low": 0.0, "high": 1.0} for name in ("x1", "x2", "x3")}
    design = make_design(ranges, "morris", samples=20)
    x = design.points
    y = -4 * x["x1"] + 5 * x["x2"] * x["x3"]
    result = sensitivity(make_table(design, {"y": y.to_numpy()}), "y").set_index(
        ["parameter", "index"]
    )["value"]
    assert result["x1", "mu"] == pytest.approx(-4.0)
    assert result["x1", "mu_star"] == pytest.approx(4.0)
    assert result["x1", "sigma"] == pytest.approx(0.0, abs=1e-12)
    assert result["x2", "sigma"] > 0.5 and result["x3", "sigma"] > 0.5


def test_morris_with_a_list_parameter() -> None:
    # A list is sampled on [0, 1] in equal-width bins; with 4 values and 4 levels each level is
    # one value, so y = rate (1..4 per year) has effect 3 (the whole range of the list).
    rates = ["1/year", "2/year", "3/year", "4/year"]
    design = make_design({"rate": rates, "x": {"low": 0.0, "high": 1.0}}, "morris", samples=8)
    y = design.points["rate"].map({r: k + 1.0 for k, r in enumerate(rates)}) + design.points["x"]
    result = sensitivity(make_table(design, {"y": y.to_numpy()}), "y")
    np.testing.assert_allclose(values(result, "mu_star"), [3.0, 1.0], rtol=1e-12)


def test_morris_warns_when_a_list_steps_unevenly() -> None:
    # 3 values on 4 levels: the bins put the levels at positions 0, 1, 2, 2, so a step jumps 1
    # or 2 positions while SALib divides both by the same width. An output linear in the
    # position (y = position) then gets effects 1.5 and 3: sigma 0.76, as if the list
    # interacted with something, and mu_star 2.25 on no fixed scale. That must not pass
    # silently; a list of as many values as levels steps evenly and does not warn.
    rates = ["1/year", "2/year", "4/year"]
    design = make_design({"rate": rates, "x": {"low": 0.0, "high": 1.0}}, "morris", samples=40)
    position = design.points["rate"].map({r: float(k) for k, r in enumerate(rates)})
    table = make_table(design, {"y": (position + design.points["x"]).to_numpy()})
    with pytest.warns(RuntimeWarning, match=r"'rate' \(3 values\) jump 1 or 2 positions"):
        result = sensitivity(table, "y")
    assert values(result, "sigma")[0] > 0.5  # the spurious spread the warning is about
    even = make_design(
        {"rate": [*rates, "8/year"], "x": {"low": 0.0, "high": 1.0}}, "morris", samples=40
    )
    position = even.points["rate"].map({r: float(k) for k, r in enumerate([*rates, "8/year"])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = sensitivity(make_table(even, {"y": position.to_numpy()}), "y")
    np.testing.assert_allclose(values(result, "sigma"), 0.0, atol=1e-12)


def test_morris_warns_when_a_step_changes_nothing() -> None:
    design = make_design({"only": ["a"], "x": {"low": 0.0, "high": 1.0}}, "morris", samples=4)
    table = make_table(design, {"y": design.points["x"].to_numpy()})
    with pytest.warns(RuntimeWarning, match="4 Morris steps changed no parameter"):
        result = sensitivity(table, "y")
    np.testing.assert_allclose(values(result, "mu_star"), [0.0, 1.0], atol=1e-12)


# --------------------------------------------------------------------------------------------
# aggregate
# --------------------------------------------------------------------------------------------


def grid_table() -> pd.DataFrame:
    """Three points of a grid on ``pay``; point 2 has one done run and one failed one."""
    design = make_design({"pay": [1.0, 2.0, 3.0]}, "grid")
    rows = []
    data = {0: [0.1, 0.4, 0.2, 0.5], 1: [1.0, 1.5, 0.7, 1.1], 2: [2.0]}
    for point, ys in data.items():
        for replicate, y in enumerate(ys):
            rows.append(
                {
                    "run_id": f"{point}-{replicate}",
                    "point": point,
                    "replicate": replicate,
                    "seed": replicate,
                    "status": "done",
                    "error": None,
                    "pay": design.points["pay"][point],
                    "attrition": y,
                    "headcount": 10.0 * y,
                }
            )
    rows.append({**rows[-1], "run_id": "2-1", "replicate": 1, "status": "failed"})
    rows[-1] |= {"error": "boom", "attrition": np.nan, "headcount": np.nan}
    table = pd.DataFrame(rows)
    table.attrs = {"store": None, "design": design.describe(), "problem": None}
    return table


def test_aggregate_t_interval_matches_a_hand_computation() -> None:
    table = grid_table()
    result = aggregate(table)
    assert list(result.columns) == [
        "pay",
        "metric",
        "mean",
        "sd",
        "n",
        "ci_low",
        "ci_high",
        "failed",
    ]
    # Default metrics: the numeric non-run, non-parameter columns, in table order.
    assert list(result["metric"]) == ["attrition", "headcount"] * 3
    assert list(result["pay"]) == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    row = result[(result["pay"] == 2.0) & (result["metric"] == "attrition")].iloc[0]
    ys = np.array([1.0, 1.5, 0.7, 1.1])
    mean, sd = ys.mean(), ys.std(ddof=1)
    half = stats.t.ppf(0.975, df=3) * sd / math.sqrt(4)
    assert row["n"] == 4 and row["failed"] == 0
    assert row["mean"] == pytest.approx(mean, rel=1e-12)
    assert row["sd"] == pytest.approx(sd, rel=1e-12)
    assert row["ci_low"] == pytest.approx(mean - half, rel=1e-12)
    assert row["ci_high"] == pytest.approx(mean + half, rel=1e-12)
    at90 = aggregate(table, "attrition", confidence=0.9).set_index("pay").loc[2.0]
    half90 = stats.t.ppf(0.95, df=3) * sd / 2
    assert at90["ci_high"] - at90["ci_low"] == pytest.approx(2 * half90, rel=1e-12)


@pytest.mark.parametrize("method", ["t", "bootstrap", "percentile"])
def test_aggregate_single_run_groups_and_failed_counts(method: str) -> None:
    result = aggregate(grid_table(), ["attrition"], method=method).set_index("pay")
    single = result.loc[3.0]
    assert single["n"] == 1 and single["mean"] == 2.0 and single["failed"] == 1
    assert math.isnan(single["sd"])
    assert math.isnan(single["ci_low"]) and math.isnan(single["ci_high"])
    assert result.loc[1.0, "failed"] == 0 and result.loc[1.0, "n"] == 4
    assert result.loc[1.0, "ci_low"] < result.loc[1.0, "mean"] < result.loc[1.0, "ci_high"]


def test_aggregate_groups_with_only_failed_runs() -> None:
    table = grid_table()
    table.loc[table["point"] == 2, "status"] = "failed"
    row = aggregate(table, "attrition", by="point").set_index("point").loc[2]
    assert row["n"] == 0 and row["failed"] == 2
    assert row[["mean", "sd", "ci_low", "ci_high"]].isna().all()


def test_aggregate_bootstrap_is_seeded_and_contains_the_mean() -> None:
    rng = np.random.default_rng(7)
    design = make_design({"pay": [1.0, 2.0]}, "grid")
    ys = rng.lognormal(0, 1, size=(2, 30))
    table = make_table(design, {"y": np.zeros(2)}, replicates=30)
    table["y"] = ys.ravel()
    first = aggregate(table, "y", method="bootstrap", seed=5, n_resamples=999)
    again = aggregate(table, "y", method="bootstrap", seed=5, n_resamples=999)
    other = aggregate(table, "y", method="bootstrap", seed=6, n_resamples=999)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"], other["ci_low"])
    assert ((first["ci_low"] < first["mean"]) & (first["mean"] < first["ci_high"])).all()
    np.testing.assert_allclose(first["mean"], ys.mean(axis=1), rtol=1e-12)
    # The interval is scipy's BCa (resp. percentile) bootstrap with default_rng(seed).
    for method, kind in (("bootstrap", "BCa"), ("percentile", "percentile")):
        got = aggregate(table, "y", method=method, seed=5, n_resamples=999)
        for k in range(2):
            want = stats.bootstrap(
                (ys[k],),
                np.mean,
                n_resamples=999,
                method=kind,
                rng=np.random.default_rng(5),
            ).confidence_interval
            assert got["ci_low"][k] == pytest.approx(want.low, rel=1e-12)
            assert got["ci_high"][k] == pytest.approx(want.high, rel=1e-12)


def test_aggregate_equal_values_give_a_zero_width_interval() -> None:
    table = grid_table()
    table.loc[table["point"] == 0, "attrition"] = 0.3
    for method in ("t", "bootstrap"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no degenerate-data warning from scipy (but the
            # few replicates' one, which this small table is meant to give)
            warnings.filterwarnings("ignore", "aggregate: bootstrap intervals of groups")
            row = aggregate(table, "attrition", method=method).set_index("pay").loc[1.0]
        assert row["ci_low"] == row["ci_high"] == pytest.approx(0.3)


def test_aggregate_needs_by_without_attrs_and_checks_columns() -> None:
    table = grid_table()
    bare = table.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="pass by="):
        aggregate(bare)
    pd.testing.assert_frame_equal(aggregate(bare, by="pay"), aggregate(table))
    with pytest.raises(ValueError, match=r"no columns \['wage'\]"):
        aggregate(table, by="wage")
    with pytest.raises(ValueError, match=r"no metric columns \['tenure'\] \(the table's"):
        aggregate(table, "tenure")
    with pytest.raises(ValueError, match=r"\['atrition'\]; did you mean 'attrition'\?"):
        aggregate(table, "atrition")
    with pytest.raises(ValueError, match="not numeric"):
        aggregate(table, "status")
    with pytest.raises(ValueError, match="unknown method"):
        aggregate(table, method="jackknife")


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def test_sensitivity_and_aggregate_of_a_real_sweep() -> None:
    params = {
        "labs.MSL.pay_level": {"low": 1.5, "high": 5.0},
        "cohorts.msl_veterans.weights.stability": {"low": 0.5, "high": 2.0},
    }
    table = ts.sweep(
        FLAGSHIP,
        params,
        design="saltelli",
        samples=4,
        replicates=2,
        metrics=["attrition.MSL"],
        workers=1,
        progress=False,
    )
    assert len(table) == 4 * (2 + 2) * 2
    assert (table["status"] == "done").all()
    result = sensitivity(table, "attrition.MSL", num_resamples=100)
    assert set(result["index"]) == {"S1", "ST"}
    assert sorted(set(result["parameter"])) == sorted(params)
    assert np.isfinite(result["value"]).all()
    summary = aggregate(table, "attrition.MSL")
    assert len(summary) == 16 and (summary["n"] == 2).all()
    assert list(summary.columns[:2]) == list(params)


def test_aggregate_bootstrap_of_few_replicates_warns_it_under_covers() -> None:
    design = make_design({"pay": [1.0, 2.0]}, "grid")
    table = make_table(design, {"y": np.zeros(2)}, replicates=5)
    table["y"] = np.random.default_rng(3).normal(size=len(table))
    with pytest.warns(UserWarning, match="groups with 5 to 5 replicates cover far less than 95%"):
        aggregate(table, "y", method="percentile", n_resamples=199)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aggregate(table, "y")  # the t interval holds its level at any n
