"""The term registry: one entry and one kernel add a utility term everywhere it belongs.

The worked example of ``docs/contributing.md``: a toy term, registered here only, reaches the
scenario schema, the compiled step, the events, the exit reasons and a figure's legend, and the
mean-field solver and the Mesa reference refuse it by name. Nothing else is edited.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

import talentsim as ts
from talentsim import terms
from talentsim.compiled.compat import helper
from talentsim.mean_field import MeanFieldError
from talentsim.store import StoreError
from tests.conftest import small_scenario_dict, talentsim_cli

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
LAB_DISLIKE = 0.4  # the toy term's size at a lab, per unit of weight


@helper
def crunch_term(w, i, j, pay, peer_share, researchers, labs, outside_amenity):  # pragma: no cover
    """``−w_crunch·0.4`` at any lab: a dislike of lab life that the outside pool does not have."""
    return -w * LAB_DISLIKE


CRUNCH = terms.Term(
    "crunch",
    "Crunch time at labs: a dislike of lab life that the outside pool does not have.",
    "−w_crunch·0.4 at a lab",
    crunch_term,
    weight="Weight on crunch time.",
    label="crunch time",
    colour="#000000",
)


@pytest.fixture
def crunch() -> Iterator[terms.Term]:
    with terms.registered(CRUNCH) as term:
        yield term


def test_the_built_in_terms_are_in_utility_order() -> None:
    assert terms.names() == (
        "pay",
        "mission",
        "stability",
        "peers",
        "fairness",
        "attachment",
        "reputation",
        "amenity",
    )
    assert terms.gain_columns()[0] == "gain_pay"
    assert terms.reasons()[-2:] == ["idiosyncratic", "exogenous"]
    assert set(terms.reason_colours()) == set(terms.reasons())


def test_a_registered_term_reaches_the_schema(crunch: terms.Term) -> None:
    data = small_scenario_dict()
    data["cohorts"]["a_staff"]["weights"] = {"crunch": {"dist": "uniform", "low": 1, "high": 2}}
    scenario = ts.Scenario.from_dict(data)
    assert scenario.cohorts["a_staff"].weights.crunch.high == 2
    assert scenario.cohorts["c_staff"].weights.crunch.value == 1.0  # the default weight
    assert scenario.mechanisms.crunch is True
    off = scenario.with_overrides({"mechanisms.crunch": False})
    assert not off.mechanisms.term_on("crunch")
    from talentsim.schema_doc import render

    assert "| `crunch` | −w_crunch·0.4 at a lab |" in render()
    with pytest.raises(ts.ScenarioError, match=r"weights\.crunchy"):
        ts.Scenario.from_dict(
            small_scenario_dict(cohorts={"x": {"size": 1, "lab": "A", "weights": {"crunchy": 1}}})
        )


def test_a_registered_term_reaches_the_step_events_and_exit_reasons(
    crunch: terms.Term,
) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    result = ts.run(scenario, seed=3)
    events = result.events
    assert events.columns[-1] == "gain_crunch"
    exits = events[events["kind"] == "exit"]
    assert len(exits) > 0
    weight = result.researchers.set_index("researcher")["w_crunch"]
    # lab → outside: the term is −0.4·w at the lab and absent outside
    np.testing.assert_allclose(
        exits["gain_crunch"].to_numpy(), LAB_DISLIKE * weight[exits["researcher"]].to_numpy()
    )
    hires = events[(events["kind"] == "hire")]
    np.testing.assert_allclose(
        hires["gain_crunch"], -LAB_DISLIKE * weight[hires["researcher"]].to_numpy()
    )
    reasons = result.exit_reasons()
    assert "crunch" in set(reasons["reason"].astype(str))
    assert reasons.loc[reasons["reason"] == "crunch", "count"].sum() > 0
    # switched off, it contributes nothing
    quiet = ts.run(scenario.with_overrides({"mechanisms.crunch": False}), seed=3)
    assert (quiet.events["gain_crunch"].fillna(0) == 0).all()


def test_a_registered_term_reaches_a_figure_legend(crunch: terms.Term) -> None:
    from talentsim import plots

    result = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=3)
    figure = plots.exit_reasons(result)
    legend = [
        text.get_text()
        for ax in figure.axes
        if ax.get_legend()
        for text in ax.get_legend().get_texts()
    ]
    legend += [text.get_text() for legend_ in figure.legends for text in legend_.get_texts()]
    assert "crunch time" in legend


def test_consumers_that_cannot_treat_a_term_refuse_it_by_name(crunch: terms.Term) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    with pytest.raises(MeanFieldError, match="term 'crunch'"):
        ts.meanfield(scenario)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from reference_mesa import ReferenceModel
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    core: dict[str, object] = {
        f"mechanisms.{name}": False
        for name in ("peers", "fairness", "reputation", "counter_offers")
    }
    core["events"] = []
    with pytest.raises(terms.UnsupportedTermError, match="term 'crunch'"):
        ReferenceModel(scenario.with_overrides(core), seed=0)
    ReferenceModel(scenario.with_overrides({**core, "mechanisms.crunch": False}), seed=0)


def test_unregistering_restores_the_schema_and_the_step() -> None:
    before = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=1).events
    with terms.registered(CRUNCH):
        pass
    assert "crunch" not in terms.names()
    with pytest.raises(ts.ScenarioError, match=r"mechanisms\.crunch"):
        ts.Scenario.from_dict(small_scenario_dict(mechanisms={"crunch": False}))
    after = ts.run(ts.Scenario.from_dict(small_scenario_dict()), seed=1).events
    assert "gain_crunch" not in after.columns
    assert before.equals(after)


def test_the_registry_refuses_bad_terms() -> None:
    with pytest.raises(ValueError, match="registered already"):
        terms.register(terms.get("pay"))
    with pytest.raises(ValueError, match="lower-case"):
        terms.Term("Bad Name", "", "", crunch_term)
    with pytest.raises(TypeError, match="compiled function"):
        terms.Term("plain", "", "", lambda *args: 0.0)
    with pytest.raises(ValueError, match="built-in"):
        terms.unregister("pay")
    with pytest.raises(KeyError, match="the terms are pay, mission"):
        terms.get("nope")


def test_the_fingerprint_follows_the_registry(crunch: terms.Term) -> None:
    with_crunch = terms.fingerprint()
    terms.unregister("crunch")
    try:
        assert terms.fingerprint() != with_crunch
    finally:
        terms.register(CRUNCH)
    assert terms.fingerprint() == with_crunch


def test_the_registry_refuses_a_kernel_of_another_signature_and_reserved_names() -> None:
    @helper
    def five(w, i, j, pay, researchers):  # pragma: no cover - never compiled
        return w

    with pytest.raises(TypeError, match=r"term 'five': its kernel takes \(w, i, j, pay, research"):
        terms.Term("five", "", "", five)
    for name in terms.OTHER_SWITCHES:  # one key would switch both the term and the mechanism
        with pytest.raises(ValueError, match=rf"switch of \[mechanisms\] of its own.*{name}"):
            terms.register(terms.Term(name, "", "", crunch_term))
        assert name not in terms.names()
    # the mean-field solver has equations for the built-in terms only: a new term claiming
    # exact treatment would be left out of them silently
    exact = terms.Term("exact", "", "", crunch_term, meanfield=None)
    with pytest.raises(ValueError, match=r"meanfield=None.*equations have only amenity, mission"):
        terms.register(exact)
    assert "exact" not in terms.names()


KERNELS = """
import numpy as np
from talentsim.compiled.compat import helper

SCALE = {scale}


@helper
def level():
    return {level}


@helper
def kernel(w, i, j, pay, peer_share, researchers, labs, outside_amenity):
    return w * SCALE * level()


def per_lab(values):
    table = np.asarray(values, dtype=np.float64)

    @helper
    def by_lab(w, i, j, pay, peer_share, researchers, labs, outside_amenity):
        return w * table[j]

    return by_lab
"""


def _kernel_module(folder: Path, scale: float, level: float, name: str = "kernels") -> Any:
    """Module ``name`` of ``KERNELS`` with these values, from a file in its own ``folder``."""
    import importlib.util

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(KERNELS.format(scale=scale, level=level), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_kernel_digest_sees_its_constants_callees_and_closures(tmp_path: Path) -> None:
    # what Numba freezes into the compiled step: a module constant, a compiled function it
    # calls, a closure's values. A digest of the kernel's own source alone missed all three,
    # so the step compiled for the old values was reused (on disk, or in the same process).
    # (Each variant is module "kernels" of its own folder: the same module, other values.)
    digest = terms.kernel_digest
    base = digest(_kernel_module(tmp_path / "a", 0.5, 1.0).kernel)
    assert digest(_kernel_module(tmp_path / "b", 0.5, 1.0).kernel) == base
    assert digest(_kernel_module(tmp_path / "scaled", 5.0, 1.0).kernel) != base
    assert digest(_kernel_module(tmp_path / "levels", 0.5, 3.0).kernel) != base
    # the same source in another module is another step: a step loaded from the disk cache
    # finds the functions it calls by module (it failed to import the first one's module)
    assert digest(_kernel_module(tmp_path / "c", 0.5, 1.0, name="other").kernel) != base
    module = _kernel_module(tmp_path / "factory", 0.5, 1.0)
    first, second = module.per_lab([1.0, 0.0]), module.per_lab([0.0, 3.0])
    assert digest(first) != digest(second)
    assert digest(module.per_lab([1.0, 0.0])) == digest(first)
    # and the registry's fingerprint, which keys the compiled step, follows them
    prints = []
    for kernel in (first, second):
        with terms.registered(terms.Term("remote", "", "", kernel)):
            prints.append(terms.fingerprint())
    assert prints[0] != prints[1]


def test_a_scenario_validated_under_other_terms_is_refused_by_the_model(crunch) -> None:
    # loaded with the term, run without it (or, in a worker that did not register it): its
    # crunch weights would be ignored in silence
    with_crunch = ts.Scenario.from_dict(small_scenario_dict())
    terms.unregister("crunch")
    try:
        with pytest.raises(ts.ScenarioError, match=r"other utility terms \(pay, .*, crunch; this"):
            ts.TalentModel(with_crunch, seed=1)
        without = ts.Scenario.from_dict(small_scenario_dict())
    finally:
        terms.register(CRUNCH)
    # loaded before the term was registered: refused too, rather than an AttributeError
    with pytest.raises(ts.ScenarioError, match=r"register custom terms .* before loading"):
        ts.TalentModel(without, seed=1)
    ts.TalentModel(ts.Scenario.from_dict(small_scenario_dict()), seed=1)  # loaded again: runs


def test_a_sweep_s_workers_without_the_term_fail_its_runs_saying_why(crunch) -> None:
    # spawned workers import talentsim, not this test module, so they lack the term: their
    # runs used to finish without it, as if its weights were 0, with status "done"
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    table = ts.sweep(
        scenario, {"labs.A.pay_level": [1.0, 1.2]}, replicates=1, workers=2, progress=False
    )
    assert (table["status"] == "failed").all()
    assert table["error"].str.contains("other utility terms").all()
    assert table["error"].str.contains("must import the module that registers them").all()


@helper
def harsher_crunch(
    w, i, j, pay, peer_share, researchers, labs, outside_amenity
):  # pragma: no cover
    """``−w_crunch·4`` at any lab: the same term, another kernel."""
    return -w * 10 * LAB_DISLIKE


def test_a_sweep_store_resumes_only_with_the_same_custom_terms(crunch, tmp_path: Path) -> None:
    # a store half done with one kernel and resumed with another mixed two models' runs
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    kwargs: dict[str, Any] = {"replicates": 1, "workers": 1, "progress": False}
    store = tmp_path / "store"
    ts.sweep(scenario, {"labs.A.pay_level": [1.0]}, store=store, **kwargs)
    stored = ts.SweepStore(store).meta("spec")["terms"]
    assert stored == {"names": ["crunch"], "digest": terms.custom_fingerprint()}
    terms.unregister("crunch")
    harsher = terms.Term("crunch", "", "", harsher_crunch)
    try:
        with terms.registered(harsher):
            again = ts.Scenario.from_dict(small_scenario_dict())
            with pytest.raises(StoreError, match=r"terms\.digest differs"):
                ts.sweep(again, {"labs.A.pay_level": [1.0]}, store=store, resume=True, **kwargs)
    finally:
        terms.register(CRUNCH)


TABLE = {"a": 1.0}  # a Python dict: Numba cannot type it in compiled code


@helper
def dict_term(w, i, j, pay, peer_share, researchers, labs, outside_amenity):  # pragma: no cover
    """Reads a Python dict: registered fine, but the step cannot compile it."""
    return w * TABLE["a"]


def test_a_kernel_numba_cannot_compile_is_named_not_a_numba_traceback(caplog) -> None:
    bad = terms.Term("dictterm", "", "", dict_term)
    from talentsim import compiled

    ts.run(ts.Scenario.from_dict(small_scenario_dict(events=[])), seed=1)  # (built-ins cached)
    assert compiled.kernels_cached()
    with terms.registered(bad), caplog.at_level(logging.INFO, logger="talentsim"):
        # another set of terms is not cached because the built-ins are (they share an index)
        assert not compiled.kernels_cached()
        scenario = ts.Scenario.from_dict(small_scenario_dict(events=[]))
        with pytest.raises(terms.TermCompileError) as caught:
            ts.run(scenario, seed=1)
    # the compile was announced (at INFO, on the "talentsim" logger) before it started
    announced = [r.getMessage() for r in caplog.records if r.name == "talentsim"]
    assert any(
        line.startswith("compiling talentsim's decide for the utility terms ")
        and line.split(" (once")[0].endswith(", dictterm")
        for line in announced
    ), announced
    message = str(caught.value)
    assert message.startswith("the step does not compile with the utility term 'dictterm'")
    assert "(kernel dict_term)" in message and "Numba said: " in message
    assert "\x1b[" not in message  # (no terminal colours)


def test_a_run_whose_step_is_compiled_announces_no_compile(caplog) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict(events=[]))
    ts.run(scenario, seed=1)  # (compiles here if nothing has yet: announced or not)
    with caplog.at_level(logging.INFO, logger="talentsim"):
        ts.run(scenario, seed=2)
    assert not [r for r in caplog.records if r.getMessage().startswith("compiling")]


def test_a_term_s_key_without_its_term_says_to_register_it() -> None:
    data = small_scenario_dict(mechanisms={"remote": False})
    data["cohorts"]["a_staff"]["weights"] = {"remote": 1.0}
    with pytest.raises(ts.ScenarioError) as caught:
        ts.Scenario.from_dict(data, source="remote.toml")
    lines = sorted(line.strip() for line in str(caught.value).splitlines()[1:])
    keys = ("cohorts.a_staff.weights.remote", "mechanisms.remote")
    assert len(lines) == len(keys)
    for line, key in zip(lines, keys, strict=True):
        assert line.startswith(f"remote.toml: {key}: unknown key; if it is a utility term of")


@pytest.mark.slow  # (a new module's kernel: the workers compile its step, about a minute)
def test_the_command_line_imports_a_module_of_terms_in_itself_and_its_workers(
    crunch: terms.Term, tmp_path: Path
) -> None:
    # `talentsim --import MODULE`: a scenario that sets a term of one's own runs from the
    # command line, and a sweep's spawned workers import the module too (without it, each
    # run failed: the workers lacked the term)
    import subprocess

    write_module_of_terms(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return talentsim_cli(*args, cwd=tmp_path, timeout=900)

    refused = cli("validate", "s.toml")
    assert refused.returncode == 2 and "register it (talentsim.terms.register)" in refused.stderr
    missing = cli("--import", "no_such_terms", "validate", "s.toml")
    assert missing.returncode == 2
    assert "error: --import: module 'no_such_terms': ModuleNotFoundError" in missing.stderr
    assert cli("--import", "my_terms", "validate", "s.toml").returncode == 0
    swept = cli("--import", "my_terms", "sweep", "sweep.toml", "--workers", "2", "--quiet")
    assert swept.returncode == 0, swept.stderr
    table = ts.SweepStore(store_of(tmp_path)).runs()
    assert (table["status"] == "done").all() and len(table) == 4


def write_module_of_terms(folder: Path) -> None:
    """In ``folder``: ``my_terms.py`` (registers the crunch term), ``s.toml`` (a scenario
    that weighs it) and ``sweep.toml`` (4 runs of it), for ``talentsim --import my_terms``."""
    import inspect

    source = inspect.getsource(crunch_term)
    (folder / "my_terms.py").write_text(
        "from talentsim import terms\nfrom talentsim.compiled.compat import helper\n\n"
        f"LAB_DISLIKE = {LAB_DISLIKE}\n\n\n{source}\n\n"
        'terms.register(terms.Term("crunch", "Crunch time.", "-w·0.4", crunch_term))\n',
        encoding="utf-8",
    )
    data = small_scenario_dict(time={"step": "1w", "duration": "8w"}, events=[])
    data["cohorts"]["a_staff"]["weights"] = {"crunch": 2.0}
    with contextlib.ExitStack() as stack:  # (the scenario needs the term to be written)
        if "crunch" not in terms.names():
            stack.enter_context(terms.registered(CRUNCH))
        toml = ts.Scenario.from_dict(data).to_toml()
    (folder / "s.toml").write_text(toml, encoding="utf-8")
    (folder / "sweep.toml").write_text(
        '[sweep]\nscenario = "s.toml"\nreplicates = 2\nmetrics = ["moves"]\n'
        '[sweep.parameters]\n"labs.A.pay_level" = [1.0, 1.5]\n',
        encoding="utf-8",
    )


def store_of(folder: Path) -> Path:
    """The one sweep store a sweep file in ``folder`` wrote (its default folder)."""
    (store,) = [p.parent for p in folder.rglob("manifest.sqlite")]
    return store
