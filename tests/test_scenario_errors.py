"""Every way a scenario can be wrong ends in one ScenarioError naming file, key and expectation."""

import copy
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talentsim.scenario import Scenario, ScenarioError, UnknownKeyError, load_scenario
from talentsim.units import parse_duration, parse_rate

FLAGSHIP = Path(__file__).resolve().parent.parent / "scenarios" / "msl_exodus.toml"
FLAGSHIP_DICT: dict[str, Any] = tomllib.loads(FLAGSHIP.read_text(encoding="utf-8"))

# A small valid scenario; every broken file below is one textual mutation of it.
BASE = """\
name = "mini"

[time]
step = "1w"
duration = "1y"

[market]
offer_rate_employed = "3/year"
switching_cost = 0.5

[labs.Alpha]
pay_level = 1.5
mission_clarity = 0.5
capacity = 20

[labs.Bravo]
pay_level = 1.0
recovery_half_life = "2mo"

[cohorts.staff]
size = 10
lab = "Alpha"
tenure = "1y"
market_value = { dist = "lognormal", median = 1.0, sigma = 0.3 }
orientation = { dist = "uniform", low = 0.2, high = 0.8 }

[cohorts.pool]
size = 5
lab = "outside"

[[events]]
kind = "reorganisation"
lab = "Alpha"
at = "4w"
severity = 1.0
"""

# (id, text to replace, replacement, key path in the message, words about what was expected)
TEXT_MUTATIONS = [
    (
        "unknown-top-level-key",
        'name = "mini"\n',
        'name = "mini"\ncolour = "red"\n',
        "colour",
        ["unknown key", "expected one of", "labs", "cohorts"],
    ),
    (
        "unknown-lab-key-with-suggestion",
        "mission_clarity = 0.5",
        "mission_clarty = 0.5",
        "labs.Alpha.mission_clarty",
        ["unknown key", "did you mean 'mission_clarity'", "expected one of", "pay_level"],
    ),
    (
        "unknown-event-key",
        "severity = 1.0",
        "severity = 1.0\nmagnitude = 2.0",
        "events.0.magnitude",
        ["unknown key", "expected one of", "severity"],
    ),
    (
        "string-where-number-expected",
        "pay_level = 1.5",
        'pay_level = "high"',
        "labs.Alpha.pay_level",
        ["valid number", "'high'"],
    ),
    (
        # TOML booleans are not numbers; pydantic's lax mode would silently read true as 1.0.
        "boolean-where-number-expected",
        "pay_level = 1.5",
        "pay_level = true",
        "labs.Alpha.pay_level",
        ["number"],
    ),
    (
        "negative-integer",
        "size = 5",
        "size = -5",
        "cohorts.pool.size",
        ["greater than or equal to 0"],
    ),
    (
        "missing-required-key",
        'lab = "outside"\n',
        "",
        "cohorts.pool.lab",
        ["required key is missing"],
    ),
    (
        "negative-rate",
        '"3/year"',
        '"-3/year"',
        "market.offer_rate_employed",
        ["non-negative", "-3/year"],
    ),
    (
        "rate-without-units",
        'offer_rate_employed = "3/year"',
        "offer_rate_employed = 3",
        "market.offer_rate_employed",
        ["rate with units", "4/year"],
    ),
    (
        "rate-with-unknown-unit",
        '"3/year"',
        '"3/fortnight"',
        "market.offer_rate_employed",
        ["rate with units", "3/fortnight"],
    ),
    (
        "duration-with-bad-unit",
        'duration = "1y"',
        'duration = "1 fortnight"',
        "time.duration",
        ["duration with units", "fortnight"],
    ),
    (
        "negative-duration",
        'tenure = "1y"',
        'tenure = "-1y"',
        "cohorts.staff.tenure",
        ["non-negative"],
    ),
    (
        "step-longer-than-run",
        'step = "1w"',
        'step = "2y"',
        "time.step",
        ["must not exceed time.duration"],
    ),
    (
        "absurd-step-count",
        'step = "1w"',
        'step = "1e-300y"',
        "time",
        ["at most"],
    ),
    (
        "mission-clarity-out-of-range",
        "mission_clarity = 0.5",
        "mission_clarity = 1.5",
        "labs.Alpha.mission_clarity",
        ["less than or equal to 1", "1.5"],
    ),
    (
        "cohort-at-missing-lab",
        'lab = "Alpha"\ntenure',
        'lab = "Alpah"\ntenure',
        "cohorts.staff.lab",
        ["no lab named 'Alpah'", "known: Alpha, Bravo", "did you mean 'Alpha'"],
    ),
    (
        "cohort-previous-lab-missing",
        'tenure = "1y"',
        'tenure = "1y"\nprevious_lab = "Zulu"',
        "cohorts.staff.previous_lab",
        ["no lab named 'Zulu'"],
    ),
    (
        "event-at-missing-lab",
        'lab = "Alpha"\nat',
        'lab = "Bravoo"\nat',
        "events.0.lab",
        ["no lab named 'Bravoo'", "did you mean 'Bravo'"],
    ),
    (
        "event-after-end-of-run",
        'at = "4w"',
        'at = "2y"',
        "events.0.at",
        ["after the end of the run"],
    ),
    (
        "unknown-event-kind",
        'kind = "reorganisation"',
        'kind = "merger"',
        "events.0",
        ["unknown kind", "reorganisation", "hiring_freeze"],
    ),
    (
        "unknown-distribution",
        'market_value = { dist = "lognormal", median = 1.0, sigma = 0.3 }',
        'market_value = { dist = "gamma", shape = 2.0 }',
        "cohorts.staff.market_value",
        ["unknown kind", "lognormal", "uniform"],
    ),
    (
        "lognormal-negative-median",
        "median = 1.0",
        "median = -1.0",
        "cohorts.staff.market_value.median",
        ["greater than 0"],
    ),
    (
        "uniform-low-above-high",
        "low = 0.2, high = 0.8",
        "low = 0.8, high = 0.2",
        "cohorts.staff.orientation",
        ["must not exceed high"],
    ),
    (
        "capacity-below-starting-headcount",
        "capacity = 20",
        "capacity = 5",
        "labs.Alpha.capacity",
        ["below the 10 researchers"],
    ),
    (
        "lab-named-outside",
        "[labs.Bravo]",
        "[labs.outside]",
        "labs.outside",
        ["lab name", "'outside'"],
    ),
    (
        # `re.match(...$)` lets a trailing newline through; the name rule must reject it.
        "lab-name-with-trailing-newline",
        "[labs.Bravo]",
        '[labs."Bravo\\n"]',
        "labs.'Bravo\\n'",  # quoted, so that the newline shows
        ["lab name"],
    ),
    (
        "weight-normal-without-lower-bound",
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n',
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n'
        'weights = { pay = { dist = "normal", mean = 1.0, sd = 0.5 } }\n',
        "cohorts.staff.weights.pay",
        ["must be non-negative", "normal distribution can draw negative", "low = 0", "lognormal"],
    ),
    (
        "weight-uniform-below-zero",
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n',
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n'
        'weights = { mission = { dist = "uniform", low = -0.5, high = 1.0 } }\n',
        "cohorts.staff.weights.mission",
        ["must be non-negative", "uniform distribution can draw negative", "low >= 0"],
    ),
    (
        "weight-fixed-negative",
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n',
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n'
        "weights = { stability = -1.0 }\n",
        "cohorts.staff.weights.stability",
        ["must be non-negative", "it is negative", "a value >= 0"],
    ),
    (
        "weight-normal-clipped-below-zero",
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n',
        'orientation = { dist = "uniform", low = 0.2, high = 0.8 }\n'
        'weights = { fairness = { dist = "normal", mean = 1.0, sd = 0.5, low = -0.1 } }\n',
        "cohorts.staff.weights.fairness",
        ["must be non-negative", "low = 0"],
    ),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _assert_scenario_error(path: Path, key: str | None, words: list[str]) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert type(info.value) is ScenarioError
    message = str(info.value)
    assert str(path) in message
    if key is not None:
        assert key in message
    for word in words:
        assert word in message, f"{word!r} not in message:\n{message}"
    return message


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, BASE))
    assert scenario.lab_names == ["Alpha", "Bravo"]
    assert scenario.market.offer_rate_employed == 3.0
    assert scenario.time.n_steps == 52
    assert scenario.cohorts["staff"].size == 10


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [case[1:] for case in TEXT_MUTATIONS],
    ids=[case[0] for case in TEXT_MUTATIONS],
)
def test_broken_scenario_file(
    tmp_path: Path, old: str, new: str, key: str, words: list[str]
) -> None:
    assert BASE.count(old) == 1, "the mutation must hit exactly one place of the base file"
    path = _write(tmp_path, BASE.replace(old, new))
    message = _assert_scenario_error(path, key, words)
    assert "invalid scenario" in message.splitlines()[0]


def _invalid_toml(tmp_path: Path) -> Path:
    return _write(tmp_path, BASE.replace("[labs.Bravo]", "[labs.Bravo"))


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_bytes(BASE.replace('"mini"', '"m\xefni"').encode("latin-1"))
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "does_not_exist.toml"


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.toml"
    path.mkdir()
    return path


def _empty(tmp_path: Path) -> Path:
    return _write(tmp_path, "")


@pytest.mark.parametrize(
    ("make", "key", "words"),
    [
        (_invalid_toml, None, ["not valid TOML", "line"]),
        (_not_utf8, None, ["not UTF-8"]),
        (_missing, None, ["no such file"]),
        (_folder, None, ["folder", "TOML scenario file"]),
        (_empty, "labs", ["required key is missing"]),
    ],
    ids=["invalid-toml", "not-utf8", "missing-file", "folder", "empty-file"],
)
def test_unreadable_scenario_file(tmp_path: Path, make: Any, key: str | None, words: list[str]):
    path = make(tmp_path)
    _assert_scenario_error(path, key, words)


@pytest.mark.parametrize(
    "weight",
    [
        '{ dist = "lognormal", median = 1.0, sigma = 2.0 }',
        '{ dist = "normal", mean = 1.0, sd = 0.5, low = 0.0 }',
        '{ dist = "normal", mean = 0.5, sd = 0.0 }',
        '{ dist = "uniform", low = 0.0, high = 2.0 }',
        "0.0",
    ],
    ids=["lognormal", "normal-low-0", "normal-sd-0", "uniform-low-0", "fixed-0"],
)
def test_weights_that_cannot_be_negative_are_accepted(tmp_path: Path, weight: str) -> None:
    text = BASE.replace('lab = "Alpha"\n', f'lab = "Alpha"\nweights = {{ pay = {weight} }}\n', 1)
    scenario = load_scenario(_write(tmp_path, text))
    assert scenario.cohorts["staff"].weights.pay.dist in {"lognormal", "normal", "uniform", "fixed"}


def test_a_term_may_allow_negative_weights() -> None:
    """The refusal follows the registry: a term declared ``non_negative=False`` takes any sign."""
    import dataclasses

    from talentsim import terms
    from tests.test_terms import CRUNCH

    data = tomllib.loads(BASE)
    data["cohorts"]["staff"]["weights"] = {"crunch": -1.0}
    with terms.registered(dataclasses.replace(CRUNCH, non_negative=False)):
        assert Scenario.from_dict(data).cohorts["staff"].weights.crunch.value == -1.0
    with terms.registered(CRUNCH), pytest.raises(ScenarioError, match=r"weights\.crunch"):
        Scenario.from_dict(data)


def test_every_built_in_weight_must_be_non_negative() -> None:
    from talentsim import terms

    assert all(term.non_negative for term in terms.weighted())


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace("mission_clarity = 0.5", "mission_clarity = 1.5").replace(
        '"3/year"', '"3/fortnight"'
    )
    message = _assert_scenario_error(
        _write(tmp_path, text), "labs.Alpha.mission_clarity", ["market.offer_rate_employed"]
    )
    assert "(2 problems)" in message.splitlines()[0]


def test_unknown_labs_are_reported_beside_invalid_values(tmp_path: Path) -> None:
    # The checks across the scenario (references to labs) run only once every field is
    # valid: a mistyped value used to hide an unknown lab until it was fixed.
    text = (
        BASE.replace('"3/year"', '"3/fortnight"')
        .replace('lab = "Alpha"\ntenure', 'lab = "Alpah"\ntenure')
        .replace('lab = "Alpha"\nat', 'lab = "Zulu"\nat')
    )
    message = _assert_scenario_error(
        _write(tmp_path, text),
        "market.offer_rate_employed",
        ["cohorts.staff.lab: no lab named 'Alpah'", "did you mean 'Alpha'", "events.0.lab"],
    )
    assert "(3 problems)" in message.splitlines()[0]
    # once the values are valid, the model's own checks say the same, once each
    fixed = _assert_scenario_error(
        _write(tmp_path, text.replace('"3/fortnight"', '"3/year"')),
        "cohorts.staff.lab",
        ["no lab named 'Alpah'", "events.0.lab: no lab named 'Zulu'"],
    )
    assert "(2 problems)" in fixed.splitlines()[0]


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ScenarioError, match="here: expected a table"):
        Scenario.from_dict(["labs"], source="here")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Overrides and round trip
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flagship() -> Scenario:
    return load_scenario(FLAGSHIP)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"labs.MSLL.pay_level": 2.0}, ["labs.MSLL", "did you mean 'MSL'"]),
        ({"labs.MSL.pay_levle": 2.0}, ["labs.MSL.pay_levle", "did you mean 'pay_level'"]),
        ({"markt.noise_scale": 1.0}, ["markt", "did you mean 'market'"]),
        ({"labs.MSL.pay_level": -1.0}, ["labs.MSL.pay_level", "greater than 0"]),
        ({"labs.MSL.pay_level": "lots"}, ["labs.MSL.pay_level", "valid number"]),
        # (from Python a plain number is a rate per year: see tests/test_lenient_overrides.py)
        ({"market.offer_rate_employed": -3}, ["market.offer_rate_employed", "non-negative rate"]),
        ({"labs.MSL.capacity": 70.5}, ["labs.MSL.capacity", "whole number"]),
        ({"events.5.severity": 2.0}, ["events.5", "an index from 0 to 2"]),
        ({"events.first.severity": 2.0}, ["events.first", "an index from 0 to 2"]),
        ({"events.7": {"kind": "reorganisation"}}, ["events.7", "an index from 0 to 2"]),
        # (str.isdigit accepts these, int() does not: a ValueError's traceback before)
        ({"events.².severity": 2.0}, ["events.²", "an index from 0 to 2"]),
        ({"events.１": {"kind": "reorganisation"}}, ["events.１", "an index from 0 to 2"]),
        ({"name.first": "x"}, ["name.first", "value, not a table"]),
        # a number that is no distribution has nothing under it: it was shown as the internal
        # {'dist': 'fixed', 'value': 2.5, 'x': 2}
        ({"labs.MSL.pay_level.x": 2}, ["labs.MSL.pay_level is a value, not a table", "no 'x'"]),
        ({"labs..pay_level": 2.0}, ["not a dotted key path"]),
        ({"": 2.0}, ["not a dotted key path"]),
    ],
    ids=[
        "unknown-lab",
        "unknown-key",
        "unknown-section",
        "out-of-range-value",
        "wrong-type-value",
        "negative-plain-rate",
        "non-integral-integer",
        "index-out-of-range",
        "index-not-a-number",
        "last-index-out-of-range",
        "index-superscript-digit",
        "last-index-full-width-digit",
        "path-through-a-value",
        "path-through-a-number",
        "empty-path-part",
        "empty-path",
    ],
)
def test_bad_override(flagship: Scenario, overrides: dict[str, Any], words: list[str]) -> None:
    before = flagship.to_dict()
    with pytest.raises(ScenarioError) as info:
        flagship.with_overrides(overrides)
    assert type(info.value) in (ScenarioError, UnknownKeyError)  # (a path it lacks: the latter)
    message = str(info.value)
    assert message.startswith("overrides")
    for word in words:
        assert word in message, f"{word!r} not in message:\n{message}"
    assert flagship.to_dict() == before


@pytest.mark.parametrize(
    ("path", "value", "attribute", "expected"),
    [
        ("labs.MSL.pay_level", 3.5, lambda s: s.labs["MSL"].pay_level, 3.5),
        ("market.offer_rate_employed", "0.25/month", lambda s: s.market.offer_rate_employed, 3.0),
        ("time.duration", "2y", lambda s: s.time.duration, 2.0),
        ("events.1.severity", 3.0, lambda s: s.events[1].severity, 3.0),
        ("cohorts.rival_staff.size", 100, lambda s: s.cohorts["rival_staff"].size, 100),
        (
            "cohorts.msl_veterans.weights.pay.value",
            2.0,
            lambda s: s.cohorts["msl_veterans"].weights.pay.value,
            2.0,
        ),
    ],
    ids=["lab-pay", "rate-with-units", "duration", "event", "cohort-size", "fixed-weight"],
)
def test_valid_override_changes_exactly_that_value(
    flagship: Scenario, path: str, value: Any, attribute: Any, expected: float
) -> None:
    before = flagship.to_dict()
    changed = flagship.with_overrides({path: value})
    assert attribute(changed) == pytest.approx(expected, rel=1e-12)
    old, new = _flatten(before), _flatten(changed.to_dict())
    assert old.keys() == new.keys()
    assert {key for key in old if old[key] != new[key]} == {path}
    assert flagship.to_dict() == before, "with_overrides must not modify the original"


def test_override_cannot_add_a_key_to_a_fixed_weight(flagship: Scenario) -> None:
    # weights.pay is a bare number in the file (a fixed distribution), which has no sigma.
    with pytest.raises(ScenarioError, match=r"cohorts\.msl_veterans\.weights\.pay"):
        flagship.with_overrides({"cohorts.msl_veterans.weights.pay.sigma": 0.5})


def test_flagship_round_trips_through_dict(flagship: Scenario) -> None:
    document = flagship.to_dict()
    assert json.loads(json.dumps(document)) == document
    again = Scenario.from_dict(document)
    assert again == flagship
    assert again.to_dict() == document
    assert flagship.market.offer_rate_employed == 6.0
    assert flagship.time.step == pytest.approx(7 / 365.25)


# --------------------------------------------------------------------------------------------
# Property tests: malformed documents never escape as anything but ScenarioError
# --------------------------------------------------------------------------------------------

UNIT_TEXTS = st.sampled_from(
    [
        "-3/year",
        "3/fortnight",
        "1e400y",
        "1e-400y",
        "nan/year",
        "inf y",
        "0y",
        "6w",
        "4/year",
        "outside",
        "MSL",
        "lognormal",
        "reorganisation",
        "",
    ]
)
LEAVES = st.one_of(
    st.text(max_size=12),
    UNIT_TEXTS,
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["dist", "kind", "lab", "labs", "value", "at", "size", "outside", "MSL"]),
)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)
    ),
    max_leaves=8,
)


def _entries(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a nested document."""
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            found.extend(_entries(value))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            found.extend(_entries(value))
    return found


def _containers(node: Any) -> list[Any]:
    found = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found.extend(_containers(child))
    return found


@st.composite
def mutated_flagship(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(FLAGSHIP_DICT)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        operation = draw(st.sampled_from(["delete", "insert", "replace"]))
        if operation == "insert":
            container = draw(st.sampled_from(_containers(document)))
            if isinstance(container, dict):
                container[draw(KEYS)] = draw(VALUES)
            else:
                container.append(draw(VALUES))
            continue
        entries = _entries(document)
        if not entries:
            continue
        container, key = draw(st.sampled_from(entries))
        if operation == "delete":
            del container[key]
        else:
            container[key] = draw(VALUES)
    return document


def _check_from_dict(document: Any) -> None:
    try:
        scenario = Scenario.from_dict(document, source="fuzz")
    except ScenarioError as exc:
        assert type(exc) in (ScenarioError, UnknownKeyError)
        assert str(exc).startswith("fuzz")
        return
    assert isinstance(scenario, Scenario)
    assert Scenario.from_dict(scenario.to_dict()) == scenario


@settings(max_examples=150, deadline=None)
@given(document=mutated_flagship())
def test_mutated_flagship_gives_scenario_or_scenario_error(document: dict[str, Any]) -> None:
    _check_from_dict(document)


@settings(max_examples=150, deadline=None)
@given(
    document=st.one_of(
        st.dictionaries(
            st.one_of(KEYS, st.sampled_from(list(Scenario.model_fields))), VALUES, max_size=6
        ),
        VALUES,
    )
)
def test_random_document_gives_scenario_or_scenario_error(document: Any) -> None:
    _check_from_dict(document)


FLAGSHIP_PATHS = sorted(_flatten(FLAGSHIP_DICT))


@settings(max_examples=100, deadline=None)
@given(
    path=st.one_of(
        st.sampled_from(FLAGSHIP_PATHS),
        st.sampled_from(FLAGSHIP_PATHS).map(lambda p: p + ".extra"),
        st.text(max_size=20),
    ),
    value=VALUES,
)
def test_random_override_gives_scenario_or_scenario_error(path: str, value: Any) -> None:
    scenario = Scenario.from_dict(FLAGSHIP_DICT)
    try:
        changed = scenario.with_overrides({path: value})
    except ScenarioError as exc:
        assert type(exc) in (ScenarioError, UnknownKeyError)
        assert str(exc).startswith("overrides")
        return
    assert isinstance(changed, Scenario)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(min_value=0, max_value=len(BASE)),
    length=st.integers(min_value=0, max_value=8),
    junk=st.one_of(st.text(max_size=8), st.binary(max_size=8)),
)
def test_corrupted_file_gives_scenario_or_scenario_error(
    tmp_path_factory: pytest.TempPathFactory, start: int, length: int, junk: str | bytes
) -> None:
    raw = BASE.encode("utf-8")
    patch = junk if isinstance(junk, bytes) else junk.encode("utf-8")
    path = tmp_path_factory.mktemp("corrupt") / "scenario.toml"
    path.write_bytes(raw[:start] + patch + raw[start + length :])
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        assert type(exc) in (ScenarioError, UnknownKeyError)
        assert str(path) in str(exc)
        return
    assert isinstance(scenario, Scenario)


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_year"),
    [
        ("4/year", 4.0),
        ("0.5/month", 6.0),
        ("1/week", 365.25 / 7),
        ("2/d", 730.5),
        (" 4 / yr ", 4.0),
        ("1e1/y", 10.0),
        ("0/year", 0.0),
        (0, 0.0),
    ],
)
def test_parse_rate(text: object, per_year: float) -> None:
    assert parse_rate(text) == pytest.approx(per_year, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("6w", 6 * 7 / 365.25),
        ("2mo", 2 / 12),
        ("1y", 1.0),
        ("3d", 3 / 365.25),
        ("2 months", 2 / 12),
        ("1.5years", 1.5),
        (".5Y", 0.5),
        ("0d", 0.0),
        (0, 0.0),
    ],
)
def test_parse_duration(text: object, years: float) -> None:
    assert parse_duration(text) == pytest.approx(years, rel=1e-12)


BAD_RATES = [
    "-3/year",
    "-0.5/month",
    "nan/year",
    "inf/year",
    "-inf/year",
    "1e400/year",
    True,
    False,
    3,
    3.0,
    float("nan"),
    "3",
    "3/",
    "/year",
    "3/fortnight",
    "3 year",
    "",
    None,
    [3, "year"],
]
BAD_DURATIONS = [
    "-6w",
    "-1y",
    "nan y",
    "infy",
    "1e400y",
    True,
    False,
    6,
    1.5,
    float("inf"),
    "6",
    "6 fortnights",
    "6/w",
    "w",
    "",
    None,
]


@pytest.mark.parametrize("text", BAD_RATES, ids=repr)
def test_parse_rate_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


@pytest.mark.parametrize("text", BAD_DURATIONS, ids=repr)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("unit", ["d", "w", "mo", "y"])
def test_rate_and_duration_units_are_inverse(unit: str) -> None:
    # One event per unit of time happens once in one unit of time.
    assert parse_rate(f"1/{unit}") * parse_duration(f"1{unit}") == pytest.approx(1.0)
    assert math.isfinite(parse_rate(f"1e300/{unit}"))


def test_numpy_scalars_are_accepted_as_overrides() -> None:
    import numpy as np

    base = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "msl_exodus.toml")
    changed = base.with_overrides(
        {"cohorts.msl_veterans.size": np.int64(20), "labs.MSL.pay_level": np.float64(3.5)}
    )
    assert changed.cohorts["msl_veterans"].size == 20
    assert isinstance(changed.cohorts["msl_veterans"].size, int)
    assert changed.labs["MSL"].pay_level == 3.5


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_durations_and_rates_are_written_back_exactly(value: float) -> None:
    from talentsim.units import format_per_year, format_years

    assert parse_duration(format_years(value)) == value
    assert parse_rate(format_per_year(value)) == value


def test_durations_and_rates_are_written_in_readable_units() -> None:
    from talentsim.units import format_per_year, format_years

    assert [format_years(parse_duration(t)) for t in ("1w", "13w", "2y", "3d")] == [
        "1w",
        "13w",
        "2y",
        "3d",
    ]
    assert format_years(parse_duration("6mo")) == "0.5y"
    assert format_per_year(parse_rate("4/year")) == "4/year"
    assert format_per_year(parse_rate("2/week")) == "2/week"


def test_a_store_written_before_a_change_of_unit_format_still_resumes(tmp_path: Path) -> None:
    """Stored scenarios written with durations in years ("0.0191...y") are the same sweep."""
    import talentsim as ts
    from talentsim.store import SweepStore

    base = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "msl_exodus.toml")
    spec = {"scenario": base.to_dict(), "replicates": 2}
    old = json.loads(json.dumps(spec))
    old["scenario"]["time"]["step"] = f"{base.time.step!r}y"  # how earlier versions wrote it
    SweepStore.create(tmp_path / "store", old, resume=False).close()
    with pytest.raises(ts.store.StoreError, match="already holds this sweep"):
        SweepStore.create(tmp_path / "store", spec, resume=False)
    SweepStore.create(tmp_path / "store", spec, resume=True).close()


def test_an_index_into_an_empty_list_says_the_list_is_empty() -> None:
    scenario = load_scenario(FLAGSHIP.parent / "boomerang.toml")
    assert not scenario.events
    with pytest.raises(ScenarioError, match=r"events\.0 — the list is empty"):
        scenario.with_overrides({"events.0.severity": 1.0})
