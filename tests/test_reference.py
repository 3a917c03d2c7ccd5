"""talentsim agrees with a plain Mesa implementation of its core rules (the test oracle).

``benchmarks/reference_mesa.py`` implements the core decision rules the idiomatic Mesa way (one
``step`` per agent, ``shuffle_do``). On scenarios that use only those rules, talentsim and the
reference must agree in distribution: for each output, the means over independent seeds differ
by less than 3.5 standard errors of the difference (a two-sided test at about the 0.05% level;
both are unbiased estimates of the same expectation, so no extra tolerance is allowed).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import talentsim as ts
from tests.conftest import ROOT, small_scenario_dict

_spec = importlib.util.spec_from_file_location(
    "reference_mesa", ROOT / "benchmarks" / "reference_mesa.py"
)
assert _spec is not None and _spec.loader is not None
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

CORE_ONLY = {"peers": False, "fairness": False, "reputation": False, "counter_offers": False}
PLACES = ["A", "B", "C", "outside"]


def _core_scenario(rehire_rate: float = 1.0, **market) -> ts.Scenario:
    data = small_scenario_dict(mechanisms=CORE_ONLY)
    data["events"] = [e for e in data["events"] if e["kind"] == "reorganisation"]
    data["market"].update(market)
    for lab in data["labs"].values():
        lab["rehire_rate"] = rehire_rate
    return ts.Scenario.from_dict(data)


def _reference_outputs(scenario: ts.Scenario, seed: int) -> list[float]:
    model = reference.ReferenceModel(scenario, seed=seed)
    quits = 0
    for _ in range(scenario.time.n_steps):
        model.step()
        quits += model.flows["A"]["quits"]
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    return [*(float(last[f"headcount_{p}"]) for p in PLACES), float(quits)]


def _talentsim_outputs(scenario: ts.Scenario, seed: int) -> list[float]:
    summary = ts.run(scenario, seed=seed).summary()
    return [*(float(summary[f"headcount_end.{p}"]) for p in PLACES), float(summary["quits.A"])]


@pytest.mark.parametrize(
    ("noise", "rehire_rate"),
    [(0.5, 1.0), (0.0, 1.0), (0.5, 0.2)],
    ids=["logit", "best-response", "logit-rehire-0.2"],
)
def test_talentsim_and_the_mesa_reference_agree(noise: float, rehire_rate: float) -> None:
    scenario = _core_scenario(rehire_rate, noise_scale=noise)
    seeds = range(40)
    ours = np.array([_talentsim_outputs(scenario, s) for s in seeds])
    theirs = np.array([_reference_outputs(scenario, 1000 + s) for s in seeds])
    se = np.sqrt(ours.var(axis=0, ddof=1) / len(ours) + theirs.var(axis=0, ddof=1) / len(theirs))
    gap = np.abs(ours.mean(axis=0) - theirs.mean(axis=0))
    names = [*(f"headcount {p}" for p in PLACES), "quits from A"]
    problems = [
        f"{n}: talentsim {a:.1f} vs reference {b:.1f} (gap {g:.2f} > 3.5 SE {3.5 * e:.2f})"
        for n, a, b, g, e in zip(
            names, ours.mean(axis=0), theirs.mean(axis=0), gap, se, strict=True
        )
        if g > 3.5 * e
    ]
    assert not problems, problems
    assert ours[:, -1].mean() > 1, "the comparison must involve actual quits"


def test_the_reference_refuses_social_mechanisms() -> None:
    with pytest.raises(ValueError, match="core rules only"):
        reference.ReferenceModel(
            ts.Scenario.from_dict(small_scenario_dict(network={"degree": 4.0})), seed=0
        )
