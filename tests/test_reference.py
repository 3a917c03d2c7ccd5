"""talentsim agrees with a plain Mesa implementation of its core rules (the test oracle).

``benchmarks/reference_mesa.py`` implements the core decision rules the idiomatic Mesa way (one
``step`` per agent, ``shuffle_do``). On scenarios that use only those rules, talentsim and the
reference must agree in distribution: for each output (:data:`OUTPUTS`: headcounts and the
year's flows), the means over 40 independent seeds differ by less than 3.5 standard errors of
the difference (a two-sided test at about the 0.05% level, so about 0.5% for the ten outputs
of a scenario together; both are unbiased estimates of the same expectation, so no extra
tolerance is allowed). ``test_the_comparison_catches_a_wrong_rate`` states the errors it
detects.
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


OUTPUTS = [
    *(f"headcount {p}" for p in PLACES),
    "quits from A",
    "hires",
    "separations",
    "exits to outside opportunities",
    "retirements",
    "entries",
]
"""The outputs compared: the headcounts at the end and the year's flows, summed over the labs
(quits, hires, separations and exits), out of the pool (retirements) and into it (entries)."""
LABS = ["A", "B", "C"]
FLOWS = ["hires", "separations", "exits"]  # (summary keys, summed over the labs)


def _reference_outputs(scenario: ts.Scenario, seed: int) -> list[float]:
    model = reference.ReferenceModel(scenario, seed=seed)
    counts = dict.fromkeys(OUTPUTS[len(PLACES) :], 0)
    for _ in range(scenario.time.n_steps):
        model.step()
        counts["quits from A"] += model.flows["A"]["quits"]
        for name, key in [
            ("hires", "hires"),
            ("separations", "separations"),
            ("exits to outside opportunities", "exits"),
        ]:
            counts[name] += sum(model.flows[lab][key] for lab in LABS)
        counts["retirements"] += model.retirements
        counts["entries"] += model.entries
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    return [*(float(last[f"headcount_{p}"]) for p in PLACES), *map(float, counts.values())]


def _talentsim_outputs(scenario: ts.Scenario, seed: int) -> list[float]:
    result = ts.run(scenario, seed=seed)
    summary, timeseries = result.summary(), result.timeseries
    return [
        *(float(summary[f"headcount_end.{p}"]) for p in PLACES),
        float(summary["quits.A"]),
        *(float(sum(summary[f"{kind}.{lab}"] for lab in LABS)) for kind in FLOWS),
        float(timeseries["retirements"].sum()),
        float(timeseries["entries"].sum()),
    ]


def _disagreements(ours_scenario: ts.Scenario, reference_scenario: ts.Scenario) -> list[str]:
    """The outputs whose means over 40 seeds differ by more than 3.5 standard errors."""
    seeds = range(40)
    ours = np.array([_talentsim_outputs(ours_scenario, s) for s in seeds])
    theirs = np.array([_reference_outputs(reference_scenario, 1000 + s) for s in seeds])
    assert ours[:, OUTPUTS.index("quits from A")].mean() > 1, "no quits to compare"
    se = np.sqrt(ours.var(axis=0, ddof=1) / len(ours) + theirs.var(axis=0, ddof=1) / len(theirs))
    gap = np.abs(ours.mean(axis=0) - theirs.mean(axis=0))
    return [
        f"{n}: talentsim {a:.1f} vs reference {b:.1f} (gap {g:.2f} > 3.5 SE {3.5 * e:.2f})"
        for n, a, b, g, e in zip(
            OUTPUTS, ours.mean(axis=0), theirs.mean(axis=0), gap, se, strict=True
        )
        if g > 3.5 * e
    ]


@pytest.mark.parametrize(
    ("noise", "rehire_rate"),
    [(0.5, 1.0), (0.0, 1.0), (0.5, 0.2)],
    ids=["logit", "best-response", "logit-rehire-0.2"],
)
def test_talentsim_and_the_mesa_reference_agree(noise: float, rehire_rate: float) -> None:
    scenario = _core_scenario(rehire_rate, noise_scale=noise)
    problems = _disagreements(scenario, scenario)
    assert not problems, problems


@pytest.mark.parametrize(
    ("path", "factor", "output"),
    [
        ("market.separation_rate", 1.3, "separations"),
        ("outside.retirement_rate", 1.5, "retirements"),
    ],
)
def test_the_comparison_catches_a_wrong_rate(path: str, factor: float, output: str) -> None:
    """The test's power: talentsim with one rate off by ``factor`` against the unchanged
    reference fails, on the output that rate drives.

    These are the smallest errors it detects reliably: on 5 sets of 40 seeds the largest gap
    was 4.1-7.7 SE with the separation rate 30% too high (17.6 separations a year become
    ~23; 20% was caught on 3 of the 5) and 4.3-6.9 SE with the retirement rate 50% too high
    (7.5 retirements a year become ~11; 40% was caught on 4 of the 5). Before the flows were
    compared (headcounts and quits from A only), neither 50% error was caught.
    """
    scenario = _core_scenario(1.0, noise_scale=0.5)
    section, name = path.split(".")
    wrong = scenario.with_overrides({path: factor * getattr(getattr(scenario, section), name)})
    problems = _disagreements(wrong, scenario)
    assert any(problem.startswith(f"{output}:") for problem in problems), problems


def test_the_reference_refuses_social_mechanisms() -> None:
    with pytest.raises(ValueError, match="core rules only"):
        reference.ReferenceModel(
            ts.Scenario.from_dict(small_scenario_dict(network={"degree": 4.0})), seed=0
        )
