"""Small public pieces: reading any scenario form, the version, the seed helpers."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import talentsim as ts
from talentsim.scenario import as_scenario
from tests.conftest import FLAGSHIP, small_scenario_dict


def test_as_scenario_reads_a_scenario_a_path_or_a_dict() -> None:
    scenario = ts.load_scenario(FLAGSHIP)
    assert as_scenario(scenario) is scenario
    assert as_scenario(FLAGSHIP) == scenario
    assert as_scenario(str(FLAGSHIP)) == scenario
    assert as_scenario(small_scenario_dict()).name == "small"
    with pytest.raises(
        ts.ScenarioError, match="expected a Scenario, a path to a TOML file or a dict"
    ):
        as_scenario(42)  # type: ignore[arg-type]
    with pytest.raises(ts.ScenarioError, match=r"nope\.toml"):
        as_scenario(Path("nope.toml"))
    with pytest.raises(TypeError, match="load_targets: expected the path of a TOML targets file"):
        ts.load_targets(None)  # type: ignore[arg-type]  (pathlib's "argument should be a str")
    # the file's text given for its path was "'name = ...\n[time]...': no such file"
    with pytest.raises(ts.ScenarioError, match=r"several lines of text, not the path .*tomllib"):
        ts.load_scenario(FLAGSHIP.read_text(encoding="utf-8"))


def test_overrides_variants_and_parameters_given_as_lists_are_named_errors() -> None:
    # each raised an AttributeError or "'list' object is not a mapping" from deep inside
    scenario = as_scenario(small_scenario_dict())
    example = r"expected a mapping of dotted key paths to values, e\.g\. .* got list"
    with pytest.raises(ts.ScenarioError, match=rf"^overrides: {example}"):
        scenario.with_overrides([1])  # type: ignore[arg-type]
    with pytest.raises(ts.ScenarioError, match=rf"^overrides: {example}"):
        ts.run(scenario, seed=1, overrides=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^variants: expected a mapping of name to overrides"):
        ts.compare(scenario, [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^parameters: give at least one scenario key"):
        ts.sweep(scenario, [1], progress=False)  # type: ignore[arg-type]


def test_the_version_is_the_installed_distributions() -> None:
    assert ts.__version__ == version("talentsim")


def test_seed_helpers_live_in_their_own_module() -> None:
    seeds = ts.seeds.spawn_seeds(7, 3)
    assert len(set(seeds)) == 3
    assert ts.seeds.seed_list(3, root_seed=7) == seeds
    assert ts.seeds.make_seed_sequence(5).entropy == 5
    first = ts.seeds.child_generator(np.random.SeedSequence(1), "setup").random()
    again = ts.seeds.child_generator(np.random.SeedSequence(1), "setup").random()
    other = ts.seeds.child_generator(np.random.SeedSequence(1), "events").random()
    assert first == again != other


@pytest.mark.parametrize("root", [-1, 1.5, True])
def test_a_root_seed_that_is_not_a_non_negative_integer_is_named(root: Any) -> None:
    # NumPy's own words ("expected non-negative integer", or a TypeError for 1.5) named no
    # argument: ts.sweep(..., root_seed=-1) said only that
    scenario = as_scenario(small_scenario_dict())
    said = re.escape(f"root_seed: expected a non-negative integer, got {root!r}")
    with pytest.raises(ValueError, match=said):
        ts.seeds.seed_list(2, root_seed=root)
    with pytest.raises(ValueError, match=said):
        ts.sweep(scenario, {"labs.A.pay_level": [1.5]}, root_seed=root, workers=1, progress=False)
    with pytest.raises(ValueError, match=rf"^compare: {said}"):
        ts.compare(scenario, {"v": {"labs.A.pay_level": 2.0}}, seeds=2, root_seed=root)


@pytest.mark.parametrize(
    ("seeds", "said"),
    [
        ("ab", "seeds must be a number of replicates or a list of seeds, got 'ab'"),
        (2.5, "seeds must be a number of replicates or a list of seeds, got 2.5"),
        ([1, "x"], "seeds must be whole numbers, got [1, 'x']"),
        ([1.5, 2], "seeds must be whole numbers, got [1.5, 2]"),
    ],
)
def test_seeds_that_are_not_whole_numbers_are_named(seeds: Any, said: str) -> None:
    # "ab" was "invalid literal for int() with base 10: 'a'"
    with pytest.raises(ValueError) as caught:
        ts.seeds.seed_list(seeds)
    assert str(caught.value) == said
    assert ts.seeds.seed_list([1.0, 2.0]) == [1, 2] and len(ts.seeds.seed_list(3.0)) == 3
