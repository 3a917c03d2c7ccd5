"""talentsim: agent-based simulation of talent markets.

Researchers (Mesa agents over a structure of NumPy arrays) weigh pay, mission clarity,
stability and reorganisation shocks across competing labs, and stay, move, return to a former
lab, or leave the field.

Example:
    >>> import talentsim as ts
    >>> sc = ts.load_scenario("scenarios/msl_exodus.toml")  # doctest: +SKIP
    >>> res = ts.run(sc, seed=42)  # doctest: +SKIP
    >>> res.summary()["attrition.MSL"]  # doctest: +SKIP
"""

import sys
from typing import TYPE_CHECKING

if sys.version_info < (3, 12):  # noqa: UP036  # pragma: no cover - before 3.12-only imports
    raise ImportError(
        "talentsim needs Python >= 3.12, but this is Python "
        + ".".join(str(part) for part in sys.version_info[:3])
        + "; install Python 3.12 (e.g. 'pyenv install 3.12')."
    )

from talentsim import run_statistics, seeds, terms
from talentsim.analysis import aggregate
from talentsim.compare import CapacityWarning, Comparison, compare
from talentsim.designs import Range, make_design
from talentsim.experiments import sweep
from talentsim.mean_field import MeanFieldError, MeanFieldResult, meanfield
from talentsim.model import Lab, Researcher, TalentModel
from talentsim.results import RunResult, replicates, run
from talentsim.scenario import Scenario, ScenarioError, ScenarioWarning, load_scenario
from talentsim.sensitivity_analysis import sensitivity
from talentsim.store import SweepStore
from talentsim.targets import Source, Target, Targets, TargetsError, evaluate_targets, load_targets
from talentsim.versions import __version__

if TYPE_CHECKING:  # (loaded on first use: see _LAZY_NAMES)
    from talentsim.calibration import CalibrationResult, calibrate

_LAZY_MODULES = ("plots", "report")
"""Submodules loaded on first use (``ts.plots``): they import matplotlib, which runs need not."""

_LAZY_NAMES = {"CalibrationResult": "calibration", "calibrate": "calibration"}
"""Names loaded from their module on first use (calibration imports scipy's optimisers, which
a run, or a sweep's worker, need not)."""


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"talentsim.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"talentsim.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'talentsim' has no attribute {name!r}")


__all__ = [
    "CalibrationResult",
    "CapacityWarning",
    "Comparison",
    "Lab",
    "MeanFieldError",
    "MeanFieldResult",
    "Range",
    "Researcher",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ScenarioWarning",
    "Source",
    "SweepStore",
    "TalentModel",
    "Target",
    "Targets",
    "TargetsError",
    "__version__",
    "aggregate",
    "calibrate",
    "compare",
    "evaluate_targets",
    "load_scenario",
    "load_targets",
    "make_design",
    "meanfield",
    "plots",
    "replicates",
    "report",
    "run",
    "run_statistics",
    "seeds",
    "sensitivity",
    "sweep",
    "terms",
]
