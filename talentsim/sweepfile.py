"""Sweeps declared in TOML: a ``[sweep]`` table in a scenario file, or a file of its own.

A separate sweep file names its scenario (a path relative to the sweep file)::

    [sweep]
    scenario = "../scenarios/msl_exodus.toml"
    design = "grid"
    replicates = 20
    metrics = ["attrition.MSL", "net_flow.Rival"]
    store = "results/phase"            # relative to where talentsim runs
    overrides = { events = [] }        # the same in every run

    [sweep.parameters]
    "labs.MSL.pay_level" = [1.5, 2.5, 3.5, 5.0]
    "labs.MSL.reorg_rate" = { low = 0, high = 8, unit = "/year", levels = 5 }

A scenario file may carry the same ``[sweep]`` table (without ``scenario``): the rest of the
file is the scenario. Like scenarios, sweep files are data: nothing in them is executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from talentsim.designs import DESIGNS
from talentsim.scenario import (
    Scenario,
    ScenarioError,
    explain_error,
    flatten_key_paths,
    format_validation_error,
    load_scenario,
    read_toml,
    referenced_file,
)

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class RangeSpec(BaseModel):
    """A continuous range of a parameter (see :class:`talentsim.designs.Range`)."""

    model_config = _STRICT
    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound.")
    unit: str = Field(default="", description="Appended to each value, e.g. '/year'.")
    log: bool = Field(default=False, description="Sample in log space.")
    integer: bool = Field(default=False, description="Round to integers.")
    levels: int | None = Field(default=None, ge=2, description="Grid levels.")


class SweepSpec(BaseModel):
    """The ``[sweep]`` table."""

    model_config = _STRICT
    scenario: str | None = Field(
        default=None, description="Scenario file, relative to this file (separate files only)."
    )
    parameters: dict[str, list[Any] | RangeSpec] = Field(
        description="Scenario key → list of values or range table (nested tables allowed)."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Scenario keys set to the same value in every run (dotted paths).",
    )
    design: Literal["grid", "lhs", "sobol", "halton", "saltelli", "morris"] = "grid"
    samples: int | None = Field(default=None, ge=1, description="Size of a sampled design.")
    design_seed: int = Field(default=0, ge=0, description="Seed of the design's sampler.")
    second_order: bool = Field(default=False, description="Saltelli: second-order indices.")
    levels: int | None = Field(default=None, ge=2, description="Morris: grid levels (4).")
    replicates: int = Field(default=1, ge=1, description="Runs per point.")
    root_seed: int = Field(default=0, ge=0, description="Root of the replicate seeds.")
    metrics: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Summary keys to keep (leave out for every numeric one).",
    )
    timeseries: bool = Field(default=True, description="Store each run's time series.")
    store: str | None = Field(
        default=None,
        description="Store folder, relative to where the command runs "
        "(default: results/SCENARIO-sweep, SCENARIO the scenario's name; not empty).",
    )
    chunk_runs: int = Field(default=50, ge=1, description="Runs per stored chunk.")

    @field_validator("parameters", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        """Nested tables (``[sweep.parameters.labs.MSL] pay_level = [1, 5]``) as dotted paths."""
        if not isinstance(value, Mapping):
            return value
        expected = "a list of values or a range table {low, high, ...}"
        flat = flatten_key_paths(
            value,
            is_value=lambda node: bool(set(node) & set(RangeSpec.model_fields)),
            expected=expected,
        )
        for path, spec in flat.items():  # (else pydantic names both union members' classes)
            if not isinstance(spec, list | Mapping):
                raise ValueError(f"{path}: expected {expected}, got {spec!r}")
            if isinstance(spec, Mapping):  # (one problem, with its key: not one per member)
                _check_range(path, spec)
        return flat

    @field_validator("store")
    @classmethod
    def _a_store_is_named(cls, value: str | None) -> str | None:
        """``store = ""`` would silently mean "not given" (as ``--store ""`` would): refused."""
        if value == "":
            raise ValueError(
                "expected a folder, got an empty string; leave store out for the default "
                "results/SCENARIO-sweep"
            )
        return value

    @model_validator(mode="after")
    def _swept_or_fixed(self) -> SweepSpec:
        """A path both swept and overridden: the parameter silently won; refused instead."""
        both = [
            f"{fixed} (overrides) and {swept} (parameters)"
            for swept in self.parameters
            for fixed in self.overrides
            if swept == fixed or swept.startswith(f"{fixed}.") or fixed.startswith(f"{swept}.")
        ]
        if both:
            raise ValueError(
                f"overrides: {'; '.join(both)} set the same key; a key is either swept or fixed: "
                "remove it from one of them"
            )
        return self

    @model_validator(mode="after")
    def _seed_needs_a_sampler(self) -> SweepSpec:
        """A design seed given to a grid would be a silent no-op: refused, as other options."""
        if self.design == "grid" and "design_seed" in self.model_fields_set:
            raise ValueError(
                "design_seed: a grid design draws nothing; remove design_seed, or choose a "
                "sampled design (lhs, sobol, halton, saltelli, morris)"
            )
        return self

    def store_folder(self, scenario: Scenario) -> Path:
        """The store ``talentsim sweep`` uses without ``--store`` (and ``validate`` checks).

        ``store``, or the default ``results/SCENARIO-sweep`` (SCENARIO the scenario's name).
        """
        return Path(self.store) if self.store else Path("results") / f"{scenario.name}-sweep"

    def design_options(self) -> dict[str, Any]:
        """The design and run options, as :func:`talentsim.experiments.sweep` takes them."""
        return {
            "replicates": self.replicates,
            "design": self.design,
            "samples": self.samples,
            "design_seed": self.design_seed,
            "second_order": self.second_order,
            "levels": self.levels,
            "metrics": self.metrics,
        }

    def parameter_specs(self) -> dict[str, Any]:
        """Parameters in the form :func:`talentsim.designs.make_design` takes."""
        return {
            path: spec.model_dump(exclude_defaults=True) if isinstance(spec, RangeSpec) else spec
            for path, spec in self.parameters.items()
        }


def _check_range(path: str, spec: Mapping[str, Any]) -> None:
    """Refuse a range table that is not one, naming the key inside it."""
    try:
        RangeSpec.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join([path, *(str(part) for part in error["loc"])])
        message = explain_error(error, RangeSpec)
        raise ValueError(f"{where}: {message} (got {dict(spec)!r})") from None


class _SweepDocument(BaseModel):
    model_config = _STRICT
    sweep: SweepSpec


def load_sweep_file(path: str | Path) -> tuple[Scenario, SweepSpec]:
    """Read a sweep file (or a scenario file with a ``[sweep]`` table).

    Raises:
        ScenarioError: naming the file, the key path and what was expected.
    """
    path = Path(path)
    data = read_toml(path)  # (a byte-order mark, deep nesting and bad bytes handled there)
    if "sweep" not in data:
        raise ScenarioError(f"{path}: no [sweep] table; see docs/sweeps.md for the format")
    sweep_part = {"sweep": data.pop("sweep")}
    try:
        spec = _SweepDocument.model_validate(sweep_part).sweep
    except ValidationError as exc:
        raise ScenarioError(
            format_validation_error(exc, str(path), _SweepDocument, what="sweep file")
        ) from None
    if data:  # the rest of the file is the scenario
        if spec.scenario is not None and not set(data) & set(Scenario.model_fields):
            unknown = ", ".join(sorted(data))  # (no scenario here: a stray table or a typo)
            raise ScenarioError(
                f"{path}: {unknown}: unknown key at the top level (a sweep file holds a [sweep] "
                "table only)"
            )
        if spec.scenario is not None:
            raise ScenarioError(
                f"{path}: sweep.scenario: a scenario file with a [sweep] table is its own "
                "scenario; remove sweep.scenario (or move [sweep] to a file of its own)"
            )
        scenario = Scenario.from_dict(data, source=str(path))
    else:
        if spec.scenario is None:
            raise ScenarioError(
                f"{path}: sweep.scenario: required in a sweep file of its own (the scenario "
                "file, relative to this one)"
            )
        scenario = load_scenario(
            referenced_file(path, "sweep.scenario", spec.scenario, kind="sweep")
        )
    if spec.overrides:
        try:
            scenario = scenario.with_overrides(
                spec.overrides, source=f"{path}: sweep.overrides", lenient=False
            )
        except ScenarioError as exc:
            text = str(exc)  # (named by the source already, or a message of its own)
            raise ScenarioError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    if spec.design != "grid" and spec.samples is None:
        raise ScenarioError(f"{path}: sweep.samples: design {spec.design!r} needs samples")
    assert spec.design in DESIGNS
    return scenario, spec
