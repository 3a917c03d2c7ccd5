"""Malformed scenario files through the command line: a clean error or a clean run, never a crash.

The generator mutates the shipped scenario files (scenarios/*.toml) the way a user or a script
might break them: values of the wrong kind or absurd size at real key paths, deleted and
unknown keys, renamed labs and cohorts, and damaged text (a byte-order mark, deep nesting,
truncation, stray bytes). Each file goes through ``talentsim validate`` and, when that says
ok, ``talentsim run --steps 2``, in-process through :func:`talentsim.cli.main`. The claims:

- no exception escapes ``main`` (an exit through ``SystemExit`` is not a crash);
- every error names the file;
- a file that validates runs (exit status 0).

The run's memory limit is lowered (``TALENTSIM_MEMORY_LIMIT``) so that whatever validates also
runs in moments here; the fast budget runs in the default suite, a larger one under the slow
mark.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talentsim.cli import main

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml"))
DOCUMENTS = {path.name: tomllib.loads(path.read_text(encoding="utf-8")) for path in SCENARIOS}

# What the fuzzed runs may use: small, so that anything validated runs in moments.
FUZZ_MEMORY_LIMIT = "256MiB"


# --------------------------------------------------------------------------------------------
# Writing a document back as TOML (inline tables)
# --------------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """One TOML value: inline tables and arrays, every string and key quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(value))


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\\x7f' else c for c in text)
    return '"' + "".join(escaped) + '"'


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(str(k))} = {toml_value(v)}\n" for k, v in document.items())


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

NASTY_NUMBERS = st.sampled_from(
    [
        0,
        -1,
        1,
        3,
        2**31,
        2**63 - 1,
        -(2**63),
        10**9,
        10**12,
        10**30,
        0.0,
        -0.0,
        5e-324,
        1e-300,
        1e-9,
        0.5,
        1.0,
        1e9,
        1e12,
        1e308,
        math.inf,
        -math.inf,
        math.nan,
    ]
)
NASTY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\x01",
        "a\nb",
        "٣/year",
        "٣w",
        "3/year",
        "1e9/year",
        "1e12/year",
        "1e308/year",
        "5e-324/year",
        "1e-300w",
        "1e308y",
        "3",
        "6w",
        "2mo",
        "Zürich AI",
        "outside",
        "fixed",
        "lognormal",
        "x" * 300,
    ]
)
LEAVES = st.one_of(NASTY_NUMBERS, NASTY_STRINGS, st.booleans(), st.integers(), st.floats())
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.one_of(
    st.sampled_from(["", " ", "\x07bell", "tab\there", "Zürich AI", "Ωmega", "a.b", "outside"]),
    st.text(max_size=8),
)
# Sizes that are valid as values but may be too large to run.
SIZES = {
    "size": st.sampled_from([0, 1, 10**6, 10**9, 10**30, 2**63 - 1]),
    "entry_rate": st.sampled_from(["0/year", "1e6/year", "1e9/year", "1e12/year", "1e300/year"]),
    "former_colleague_ties": st.sampled_from([1, 10**6, 2**31, 2**63 - 1, 10**30]),
    "degree": st.sampled_from([1.0, 1e6, 1e9, 1e300]),
    "capacity": st.sampled_from([0, 10**9, 10**30]),
    "offers": st.sampled_from([1, 10**9, 2**63 - 1]),
    "pay_level": st.sampled_from([5e-324, 1e-300, 1e-9, 1e300, 1e308]),
    "pay_ratio": st.sampled_from([5e-324, 1e-300, 1e300]),
    "new_hire_premium": st.sampled_from([1e300, 1e308]),
    "return_premium": st.sampled_from([1e300, 1e308]),
    "counter_offer_limit": st.sampled_from([1e300, 1e308]),
    "median": st.sampled_from([5e-324, 1e-300, 1e300]),
    "value": st.sampled_from([5e-324, 1e-300, 1e300, 1e308]),
}


def _entries(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a nested document."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        found.append((node, key))
        if isinstance(value, dict | list):
            found.extend(_entries(value, (*path, key)))
    return found


def _rename(document: dict[str, Any], table: str, old: str, new: str, references: bool) -> None:
    """Rename a lab or cohort; with ``references``, also where the document refers to it."""
    entries = document.get(table)
    if not isinstance(entries, dict) or old not in entries:
        return
    document[table] = {new if k == old else k: v for k, v in entries.items()}
    if not references or table != "labs":
        return
    cohorts, events = document.get("cohorts"), document.get("events")
    parts = [
        *(cohorts.values() if isinstance(cohorts, dict) else []),
        *(events if isinstance(events, list) else []),
    ]
    for part in parts:
        for key in ("lab", "previous_lab", "target"):
            if isinstance(part, dict) and part.get(key) == old:
                part[key] = new


@st.composite
def mutated_document(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped scenario with one to three mutations of its values and names."""
    document = copy.deepcopy(DOCUMENTS[draw(st.sampled_from(sorted(DOCUMENTS)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        # (sizes and names most often: most other mutations are refused at once)
        operation = draw(
            st.sampled_from(
                ["size", "size", "size", "rename", "rename", "replace", "delete", "insert"]
            )
        )
        entries = _entries(document)
        if operation == "rename":
            table = draw(st.sampled_from(["labs", "cohorts"]))
            table_now = document.get(table)
            if not isinstance(table_now, dict) or not table_now:
                continue
            _rename(
                document,
                table,
                draw(st.sampled_from(sorted(table_now))),
                draw(NAMES),
                references=draw(st.booleans()),
            )
        elif operation == "size":
            sized = [(c, k) for c, k in entries if isinstance(k, str) and k in SIZES]
            if sized:
                container, key = draw(st.sampled_from(sized))
                container[key] = draw(SIZES[key])
        elif operation == "insert":
            tables = [document] + [c[k] for c, k in entries if isinstance(c[k], dict)]
            draw(st.sampled_from(tables))[draw(st.text(max_size=8))] = draw(VALUES)
        elif entries:
            container, key = draw(st.sampled_from(entries))
            if operation == "delete":
                del container[key]
            else:
                container[key] = draw(VALUES)
    return document


def _damage(text: str, how: str, where: int) -> bytes:
    raw = text.encode("utf-8")
    where = where % (len(raw) + 1)
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "deep-array":
        return raw + b"\ndeep = " + b"[" * 5000 + b"]" * 5000 + b"\n"
    if how == "deep-table":
        return raw + b"\ndeep = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n"
    if how == "deep-dotted":
        return b"name." + b".".join([b"x"] * 2000) + b" = 1\n" + raw.replace(b"\nname =", b"\n#")
    if how == "truncate":
        return raw[:where]
    return raw[:where] + b"\x00\xff\x07[" + raw[where:]


DAMAGE = st.sampled_from(["bom", "deep-array", "deep-table", "deep-dotted", "truncate", "junk"])


# --------------------------------------------------------------------------------------------
# Running files through the command line
# --------------------------------------------------------------------------------------------


def _cli(args: list[str]) -> tuple[int, str]:
    """Run ``talentsim ARGS`` in-process: the exit status and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(args)
        except SystemExit as exc:  # a clean exit, e.g. argparse's
            status = exc.code if isinstance(exc.code, int) else 2
    return status, err.getvalue()


def check_file(path: Path, out: Path) -> None:
    """validate, then run if it validated: clean errors naming the file, or a run."""
    status, message = _cli(["validate", str(path)])
    if status != 0:
        assert status == 2, message
        assert str(path) in message, message
        assert "Traceback" not in message, message
        return
    status, message = _cli(
        ["run", str(path), "--steps", "2", "--seed", "1", "--quiet", "--force", "--out", str(out)]
    )
    assert status == 0, f"validated, but the run failed ({status}):\n{message}"


@pytest.fixture
def small_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALENTSIM_MEMORY_LIMIT", FUZZ_MEMORY_LIMIT)


def _fuzz_mutations(tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "scenario.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    check_file(path, folder / "out")


def _fuzz_damage(tmp_path_factory: pytest.TempPathFactory, name: str, how: str, where: int):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "scenario.toml"
    path.write_bytes(_damage((SCENARIOS[0].parent / name).read_text("utf-8"), how, where))
    check_file(path, folder / "out")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def _mutation_test(examples: int) -> Any:
    @fuzz(examples)
    @given(document=mutated_document())
    def test(
        small_memory_limit: None,
        tmp_path_factory: pytest.TempPathFactory,
        document: dict[str, Any],
    ) -> None:
        _fuzz_mutations(tmp_path_factory, document)

    return test


def _damage_test(examples: int) -> Any:
    @fuzz(examples)
    @given(name=st.sampled_from(sorted(DOCUMENTS)), how=DAMAGE, where=st.integers(0, 10**6))
    def test(
        small_memory_limit: None,
        tmp_path_factory: pytest.TempPathFactory,
        name: str,
        how: str,
        where: int,
    ) -> None:
        _fuzz_damage(tmp_path_factory, name, how, where)

    return test


# A few seconds in the default run; a larger budget under the slow mark.
test_mutated_scenario_files_fail_cleanly_or_run = _mutation_test(40)
test_damaged_scenario_files_fail_cleanly_or_run = _damage_test(12)
test_many_mutated_scenario_files_fail_cleanly_or_run = pytest.mark.slow(_mutation_test(600))
test_many_damaged_scenario_files_fail_cleanly_or_run = pytest.mark.slow(_damage_test(150))


# --------------------------------------------------------------------------------------------
# Each kind of input found to crash or to pass validation and fail later, named
# --------------------------------------------------------------------------------------------

BOOMERANG = DOCUMENTS["boomerang.toml"]


def _write_document(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    return path


def _refused(path: Path, *words: str) -> str:
    """``talentsim validate`` refuses the file with status 2, naming it and saying ``words``."""
    status, message = _cli(["validate", str(path)])
    assert status == 2, message
    assert message.startswith(f"error: {path}"), message
    for word in words:
        assert word in message, f"{word!r} not in:\n{message}"
    return message


def _changed(**cohort_pool: Any) -> dict[str, Any]:
    document = copy.deepcopy(BOOMERANG)
    document["cohorts"]["pool"].update(cohort_pool)
    return document


@pytest.mark.parametrize(
    "tail",
    [
        b"deep = " + b"[" * 5000 + b"]" * 5000,
        b"deep = " + b"{a = " * 3000 + b"1" + b"}" * 3000,
    ],
    ids=["arrays", "inline-tables"],
)
def test_deeply_nested_toml_is_refused_by_name(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "deep.toml"
    path.write_bytes(SCENARIOS[0].read_bytes() + b"\n" + tail + b"\n")
    _refused(path, "nested too deeply")


def test_a_file_without_end_or_too_large_is_refused_not_read_until_memory_runs_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /dev/zero given as a scenario was read whole: memory ran out, then a MemoryError
    # traceback (or the system killed the process)
    from talentsim import scenario as scenario_module
    from talentsim.scenario import ScenarioError, load_scenario

    if Path("/dev/zero").exists():
        _refused(Path("/dev/zero"), "larger than 67,108,864 bytes, expected a TOML file")
    monkeypatch.setattr(scenario_module, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "large.toml"
    path.write_bytes(SCENARIOS[0].read_bytes() + b"#" * 1000)
    with pytest.raises(ScenarioError, match=r"large\.toml: larger than 1,000 bytes"):
        load_scenario(path)


def test_dotted_keys_thousands_deep_get_a_short_message(tmp_path: Path) -> None:
    path = tmp_path / "dotted.toml"
    text = (SCENARIOS[0].parent / "boomerang.toml").read_text(encoding="utf-8")
    path.write_text(
        "name." + ".".join(["x"] * 2000) + " = 1\n" + text.replace('\nname = "', "\n# "),
        encoding="utf-8",
    )
    message = _refused(path, "name.x.x.x.x.x...", "nested more than")
    assert len(message) < 400, message


def test_a_deep_value_in_a_message_is_shown_short(tmp_path: Path) -> None:
    document = copy.deepcopy(BOOMERANG)
    deep: Any = 1
    for _ in range(9):  # (within the nesting the loader allows)
        deep = {"x": deep}
    document["time"]["duration"] = deep
    message = _refused(_write_document(tmp_path, document), "time.duration", "(got {'x': ")
    assert len(message.splitlines()[1]) < 300, message


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    original = SCENARIOS[0].parent / "boomerang.toml"
    path.write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
    status, message = _cli(["validate", str(path)])
    assert status == 0, message
    from talentsim.scenario import load_scenario

    assert load_scenario(path) == load_scenario(original)


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("size", 10**9, "cohorts.pool.size"),
        ("entry_rate", "1e9/year", "cohorts.pool.entry_rate"),
        ("entry_rate", "1e12/year", "cohorts.pool.entry_rate"),
    ],
)
def test_a_run_too_large_for_memory_is_refused_with_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: Any, path: str
) -> None:
    monkeypatch.delenv("TALENTSIM_MEMORY_LIMIT", raising=False)
    message = _refused(
        _write_document(tmp_path, _changed(**{key: value})),
        path,
        "a run would need about",
        "TiB of memory",
        "half of this machine's memory",
        "TALENTSIM_MEMORY_LIMIT",
    )
    assert "1e+09 researchers" in message or "1e+12 researchers" in message, message


def test_a_network_too_large_for_memory_names_the_degree(tmp_path: Path) -> None:
    document = copy.deepcopy(BOOMERANG)
    document["network"]["degree"] = 1e9
    _refused(_write_document(tmp_path, document), "network.degree", "colleague ties")


def test_the_memory_limit_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_document(tmp_path, _changed(entry_rate="1e9/year"))
    monkeypatch.setenv("TALENTSIM_MEMORY_LIMIT", "100TiB")
    assert _cli(["validate", str(path)])[0] == 0  # (validated only: it would need 1.1 TiB)
    monkeypatch.setenv("TALENTSIM_MEMORY_LIMIT", "1MiB")
    _refused(SCENARIOS[0], "TALENTSIM_MEMORY_LIMIT=1MiB", "1 MiB")
    monkeypatch.setenv("TALENTSIM_MEMORY_LIMIT", "lots")
    _refused(SCENARIOS[0], "TALENTSIM_MEMORY_LIMIT", "expected a size such as '64GiB'")


def test_the_default_memory_limit_is_half_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from talentsim.limits import machine_memory, memory_limit, parse_memory_size

    monkeypatch.delenv("TALENTSIM_MEMORY_LIMIT", raising=False)
    total = machine_memory()
    assert total is not None and total > 0
    assert memory_limit() == (total // 2, "half of this machine's memory")
    assert parse_memory_size("2GiB") == 2 * 1024**3
    assert parse_memory_size("500MB") == 500 * 1000**2
    assert parse_memory_size("12345") == 12345


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"market.offer_rate_employed": "1e9/year"}, "market.offer_rate_employed"),
        ({"market.offer_rate_outside": "1e6/year"}, "market.offer_rate_outside"),
        ({"outside.opportunity_rate": "100/day"}, "outside.opportunity_rate"),
        ({"market.separation_rate": "1e5/year"}, "market.separation_rate"),
        # search effort multiplies the employed offer rate: 2000/year × 20 over a week
        (
            {"market.offer_rate_employed": "2000/year", "search.effort_max": 20.0,
             "search.turmoil_sensitivity": 1.0},
            "market.offer_rate_employed",
        ),
    ],
)  # fmt: skip
def test_rates_beyond_exact_step_draws_are_refused(
    tmp_path: Path, changes: dict[str, Any], path: str
) -> None:
    # A step draws each researcher's events by inverting a Poisson law, exact only while
    # exp(-mean) is a float and the count under its guard; beyond, runs went silently wrong
    # (1e9/year ran, with every count stuck at the guard's 10,000).
    document = copy.deepcopy(BOOMERANG)
    for key, value in changes.items():
        table, name = key.split(".")
        document.setdefault(table, {})[name] = value
    message = _refused(
        _write_document(tmp_path, document),
        path,
        "candidate events a step on average",
        "at most 500",
        "time.step",
    )
    if "search.effort_max" in changes:
        assert "× search.effort_max" in message, message


def test_rates_just_within_exact_step_draws_validate(tmp_path: Path) -> None:
    document = copy.deepcopy(BOOMERANG)
    document["market"]["offer_rate_employed"] = "20000/year"  # ~383 candidate events a week
    path = _write_document(tmp_path, document)
    status, message = _cli(["validate", str(path)])
    assert status == 0, message


def test_step_draws_are_poisson_up_to_the_limit() -> None:
    # The inversion in screen_events at the largest mean allowed: the counts' mean and
    # variance are the Poisson law's (1e5 rows: each within 5 standard errors).
    import numpy as np

    from talentsim.compiled import screen_events
    from talentsim.limits import MAX_EVENTS_PER_STEP

    n, mean = 100_000, MAX_EVENTS_PER_STEP
    location = np.zeros(n, np.int64)
    buffers = (np.empty(n, np.int64), np.empty(n, np.int64))
    n_rows, total = screen_events(location, 1, mean, np.uint64(12345), buffers)
    counts = buffers[1][:n_rows]
    assert n_rows == n and total == counts.sum()
    assert counts.max() < 10_000
    assert abs(counts.mean() - mean) < 5 * np.sqrt(mean / n)
    # the variance of the sample variance of a Poisson law: (mean + 2 mean^2 (n/(n-1))) / n
    assert abs(counts.var(ddof=1) - mean) < 5 * np.sqrt((mean + 2 * mean**2) / n)


@pytest.mark.parametrize(
    ("cohort", "path"),
    [
        ({"size": 10**30}, "cohorts.pool.size"),
        ({"former_colleague_ties": 2**63 - 1}, "cohorts.pool.former_colleague_ties"),
        ({"former_colleague_ties": 10**30}, "cohorts.pool.former_colleague_ties"),
    ],
)
def test_integers_beyond_any_run_are_refused(
    tmp_path: Path, cohort: dict[str, Any], path: str
) -> None:
    document = _changed(**cohort)
    document["cohorts"]["pool"]["previous_lab"] = "Home"
    _refused(_write_document(tmp_path, document), path, "must be at most 2,147,483,647")


def test_ties_that_would_overflow_are_refused_by_the_estimate(tmp_path: Path) -> None:
    # within the integer bound, but 10^11 ties: the NumPy sum that crashed is never reached
    document = copy.deepcopy(BOOMERANG)
    document["cohorts"]["poached"]["former_colleague_ties"] = 2**31 - 1
    _refused(_write_document(tmp_path, document), "cohorts.poached.former_colleague_ties")


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("labs.Home", "pay_level", 5e-324),
        ("labs.Home", "pay_level", 1e300),
        ("outside", "pay_ratio", 5e-324),
        ("labs.Home", "new_hire_premium", 1e308),
        ("labs.Home", "return_premium", 1e300),  # (accepted until 5 December 2026: pay inf)
        ("labs.Home", "counter_offer_limit", 1e308),
        ("cohorts.pool", "market_value", 1e300),
        ("cohorts.pool", "market_value", {"dist": "lognormal", "median": 1.0, "sigma": 100.0}),
    ],
)
def test_pay_at_the_edge_of_floating_point_is_refused(
    tmp_path: Path, where: str, key: str, value: Any
) -> None:
    document = copy.deepcopy(BOOMERANG)
    table = document
    for part in where.split("."):
        table = table.setdefault(part, {})
    table[key] = value
    _refused(_write_document(tmp_path, document), f"{where}.{key}")


@pytest.mark.parametrize(
    ("where", "key"),
    [("labs.Home", "turmoil"), ("labs.Home", "reorg_severity"), ("events.0", "severity")],
)
def test_turmoil_that_could_overflow_is_refused(tmp_path: Path, where: str, key: str) -> None:
    # two shocks of 1e308 made turmoil infinite; a stability weight of 0 times it is NaN, and
    # the lab was never accepted again, silently
    document = copy.deepcopy(BOOMERANG)
    document["events"] = [{"kind": "reorganisation", "lab": "Home", "at": "1w"}]
    table: Any = document
    for part in where.split("."):
        table = table[int(part)] if part.isdigit() else table.setdefault(part, {})
    table[key] = 1e308
    _refused(_write_document(tmp_path, document), f"{where}.{key}")


def test_pay_at_the_edges_of_the_allowed_range_stays_finite() -> None:
    import numpy as np

    import talentsim as ts

    document = copy.deepcopy(BOOMERANG)
    document["labs"]["Poacher"].update(pay_level=1e6, new_hire_premium=1e6, counter_offer_limit=1e6)
    document["labs"]["Poacher"]["counter_offer_probability"] = 1.0
    document["labs"]["Home"]["pay_level"] = 1e-6
    document["labs"]["Home"]["return_premium"] = 1e6  # (returners to Home: the top premium)
    document["outside"]["pay_ratio"] = 1e-6
    document["cohorts"]["pool"]["market_value"] = 1e100
    document["cohorts"]["home_staff"]["market_value"] = {
        "dist": "lognormal",
        "median": 1e-6,
        "sigma": 5.0,
    }
    result = ts.run(ts.Scenario.from_dict(document), seed=3, steps=8)
    moves = result.events
    assert len(moves) > 0
    for column in ("pay_before", "pay_after"):
        pay = moves[column].dropna().to_numpy()
        assert np.isfinite(pay).all() and (pay > 0).all(), column


@pytest.mark.parametrize(
    ("cohort", "key", "text"),
    [
        ("pool", "entry_rate", "٣/year"),
        ("pool", "entry_rate", "３/year"),
        ("pool", "entry_rate", "1٫5/year"),
        ("home_staff", "tenure", "٣w"),
    ],
)
def test_rates_and_durations_need_ascii_digits(
    tmp_path: Path, cohort: str, key: str, text: str
) -> None:
    document = copy.deepcopy(BOOMERANG)
    document["cohorts"][cohort][key] = text
    _refused(_write_document(tmp_path, document), f"cohorts.{cohort}.{key}", "expected a")


@pytest.mark.parametrize("name", ["", " ", "\t", "a\x07b", " staff", "staff ", "a.b", "x" * 65])
def test_blank_or_odd_cohort_names_are_refused(tmp_path: Path, name: str) -> None:
    document = copy.deepcopy(BOOMERANG)
    _rename(document, "cohorts", "pool", name, references=True)
    _refused(_write_document(tmp_path, document), "a cohort name must be printable")


@pytest.mark.parametrize(
    "name", ["", " ", "\x07", "Home ", " Home", "Ho  me", "Ho.me", "9lab", "_lab", "x" * 65]
)
def test_blank_or_odd_lab_names_are_refused(tmp_path: Path, name: str) -> None:
    document = copy.deepcopy(BOOMERANG)
    _rename(document, "labs", "Home", name, references=True)
    _refused(_write_document(tmp_path, document), "a lab name must start with a letter")


def test_lab_names_may_be_in_any_alphabet(tmp_path: Path) -> None:
    document = copy.deepcopy(BOOMERANG)
    _rename(document, "labs", "Home", "Zürich AI", references=True)
    _rename(document, "labs", "Other", "Лаборатория-2", references=True)
    path = _write_document(tmp_path, document)
    out = tmp_path / "out"
    status, message = _cli(["validate", str(path)])
    assert status == 0, message
    args = ["run", str(path), "--steps", "3", "--seed", "1", "--quiet", "--out", str(out)]
    status, message = _cli([*args, "--set", "labs.Zürich AI.pay_level=2.0"])
    assert status == 0, message
    import talentsim as ts

    result = ts.RunResult.load(out)
    assert result.scenario.labs["Zürich AI"].pay_level == 2.0
    assert set(result.timeseries["lab"]) >= {"Zürich AI", "Лаборатория-2"}


def test_a_lab_nobody_starts_at_has_no_attrition_and_says_why(tmp_path: Path) -> None:
    document = copy.deepcopy(BOOMERANG)
    for cohort in document["cohorts"].values():
        if cohort["lab"] == "Other":
            cohort["size"] = 0
    path = _write_document(tmp_path, document)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(
            ["run", str(path), "--steps", "3", "--seed", "1", "--out", str(tmp_path / "o")]
        )
    assert status == 0
    table = out.getvalue()
    assert "nan" not in table, table
    assert "no attrition (—) at Other: nobody started there" in table, table


def test_a_set_value_nested_too_deeply_is_an_error(tmp_path: Path) -> None:
    deep = "[" * 3000 + "]" * 3000
    status, message = _cli(
        ["run", str(SCENARIOS[0]), "--out", str(tmp_path / "o"), "--set", f"name={deep}"]
    )
    assert status == 2
    assert "--set name: the value nests arrays or tables too deeply" in message, message


_MEASURE = """
import copy, gc, json, sys
import talentsim as ts
from talentsim.limits import run_size

def status(key):
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith(key + ":"))
    return int(line.split()[1]) * 1024

document = json.loads(sys.argv[1])
tiny = copy.deepcopy(document)
tiny["cohorts"] = {"staff": {"size": 10, "lab": "A"}}
ts.run(ts.Scenario.from_dict(tiny), seed=1).summary()  # compiles and loads all the code
gc.collect()
scenario = ts.Scenario.from_dict(document)
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # resets the peak (VmHWM) to the memory in use now
ts.run(scenario, seed=1).summary()
print(json.dumps({"estimate": run_size(scenario).memory, "used": status("VmHWM") - before}))
"""


def _measured_run(document: dict[str, Any]) -> dict[str, float]:
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(document)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures peak memory through Linux's /proc"
)
@pytest.mark.parametrize(
    ("size", "entry_rate", "degree"),
    [(200_000, "0/year", 0.0), (50_000, "0/year", 30.0), (0, "150000/year", 0.0)],
)
def test_the_memory_estimate_covers_a_measured_run(
    size: int, entry_rate: str, degree: float
) -> None:
    """Peak memory of a whole run (child process) is within the estimate, and not far below.

    The memory a run uses is its peak less the memory in use before it, after a run of ten
    researchers has loaded the libraries and the compiled code (Linux's VmHWM, reset first).
    """
    document: dict[str, Any] = {
        "name": "measured",
        "time": {"step": "1w", "duration": "1y"},
        "network": {"degree": degree},
        "labs": {"A": {"pay_level": 1.2}, "B": {}, "C": {"pay_level": 0.9}},
        "cohorts": {
            "staff": {"size": size, "lab": "A"},
            "pool": {"size": 0, "lab": "outside", "entry_rate": entry_rate},
        },
    }
    measured = _measured_run(document)
    used = measured["used"]
    assert used <= measured["estimate"] <= 6 * used, (used, measured)


@pytest.mark.parametrize(
    ("rates", "search"),
    [
        ({}, {}),  # search effort off: the cap is 1
        ({}, {"gap_sensitivity": 1.0, "effort_max": 3.0}),
        ({}, {"turmoil_sensitivity": 0.5, "effort_max": 7.0}),
        ({"offer_rate_outside": "40/year"}, {"gap_sensitivity": 0.5}),  # the pool's rate binds
        ({"separation_rate": "5/year", "offer_rate_employed": "0.5/year"}, {"effort_max": 20.0}),
        ({"offer_rate_employed": "12/year"}, {"gap_sensitivity": 2.0, "effort_min": 0.5}),
    ],
)
def test_validation_limit_uses_the_steps_own_bounding_rate(
    rates: dict[str, Any], search: dict[str, Any]
) -> None:
    # The limit on a step's events (talentsim.limits) and the step's draws
    # (talentsim.compiled.decisions) each write Λ: they must agree, or validation would pass
    # a scenario whose steps draw more events than the limit it states.
    import talentsim as ts
    from talentsim import limits
    from talentsim.compiled import decisions, records
    from tests.conftest import small_scenario_dict

    data = small_scenario_dict()
    data["market"] = {**data["market"], **rates}
    data["search"] = search
    scenario = ts.Scenario.from_dict(data)
    model = ts.TalentModel(scenario, seed=1)
    market = records.Market(*model._market)
    expected = limits.bounding_rate(scenario)
    assert decisions.bounding_rate(market) == pytest.approx(expected, rel=1e-12)
    assert expected > 0
