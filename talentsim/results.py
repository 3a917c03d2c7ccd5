"""Results of a run: tidy tables, headline metrics, and saving them.

``RunResult.timeseries`` has one row per (step, place), where a place is a lab or
``"outside"`` (the pool); ``RunResult.events`` has one row per move. Both are long, tidy
pandas DataFrames that plot directly.
"""

from __future__ import annotations

import ctypes
import glob
import json
import numbers
import os
import pickle
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talentsim import terms
from talentsim.model import FLOWS, MOVE_KINDS, TalentModel
from talentsim.scenario import OUTSIDE, Scenario, ScenarioError, as_scenario
from talentsim.units import parse_duration
from talentsim.versions import __version__, source_digest

EARLY_EXIT_YEARS = 0.25
"""Departures with tenure below this (about 13 weeks) count as early exits."""

LAB_FLOWS = (
    "hires",
    "quits",
    "returns",
    "exits",
    "separations",
    "offers",
    "acceptances",
    "counter_offers",
    "counter_retained",
    "blocked_by_capacity",
)
"""Flows summed per lab in :meth:`RunResult.summary`."""

DEPARTURE_KINDS = ("quit", "return", "exit", "separation")
"""Kinds of move that take a researcher out of a lab."""

RESULT_FILES = ("timeseries.parquet", "events.parquet", "researchers.parquet", "run.json")
#: The format of a results folder's ``run.json`` (``talentsim_result``); a newer one is refused.
RESULT_FORMAT = 1
#: What marks a folder as an earlier run's results (``save(overwrite=True)`` replaces only it).
RUN_MARKERS = ("run.json",)


@dataclass(repr=False)
class RunResult:
    """What one run produced.

    Attributes:
        scenario: The resolved scenario that was run (overrides applied).
        seed: The seed (or recorded entropy) that reproduces the run exactly.
        timeseries: One row per (step, place): ``step``, ``time`` (years), ``lab``,
            ``headcount`` (end of step), flows during the step (``hires``, ``quits``,
            ``returns``, ``exits``, ``separations``, for ``outside`` ``entries`` and
            ``retirements``; ``offers`` made by the lab, ``acceptances`` of them by the
            researchers, ``counter_offers`` made and ``counter_retained``,
            ``blocked_by_capacity``: acceptances the lab turned away because it was full),
            and the lab's state
            at the end of the step: ``mean_pay``, ``turmoil`` and ``reputation`` (recent
            attrition).
        events: One row per move: ``step``, ``time``, ``researcher``, ``cohort``, ``origin``,
            ``destination``, ``kind``, ``tenure`` (years at the origin, for departures from a
            lab: the move's ``time`` less the ``time`` of the arrival there, or for the
            starting staff the move's ``time`` plus their cohort's tenure), ``pay_before``,
            ``pay_after``, and ``gain_<term>``: the utility gain of the destination over the
            origin per term (pay, mission, stability, peers, fairness,
            attachment, reputation, amenity), for choices (NaN for separations, entries and
            retirements). :meth:`exit_reasons` summarises them.
        researchers: One row per researcher who was ever in the run: ``researcher``,
            ``cohort``, ``start`` (place at step 0, ``outside`` for entrants),
            ``entered_step``, ``market_value``, ``orientation`` and the weights ``w_*``.
        metadata: Versions of the software that produced the result.
    """

    scenario: Scenario
    seed: int
    timeseries: pd.DataFrame
    events: pd.DataFrame
    researchers: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: TalentModel, *, release: bool = False) -> RunResult:
        """Collect the tables of a model that has been stepped.

        Each table is built column by column into arrays of its final size, without
        intermediate copies of the whole table.

        Args:
            model: The model.
            release: Hand the model's move log over to the result step by step (see
                :meth:`TalentModel.move_log_by_step`), so that the moves are never held twice:
                the peak memory stays near the model's own. For a model that is not used
                again (:func:`run` does this); its ``move_log()`` raises afterwards.
        """
        steps = model.steps
        places = model.place_names
        n_labs = model.lab_state.n
        n_places = len(places)
        step_index = np.repeat(np.arange(steps + 1), n_places)
        columns: dict[str, Any] = {
            "step": step_index,
            "time": step_index * model.dt,
            "lab": pd.Categorical(np.tile(places, steps + 1), categories=places),
            "headcount": model.headcount_history[: steps + 1].reshape(-1),
        }
        for f, name in enumerate(FLOWS):
            columns[name] = model.flow_history[: steps + 1, f, :].reshape(-1)
        pay = np.full((steps + 1, n_places), np.nan)
        pay[:, :n_labs] = model.pay_history[: steps + 1]
        turmoil = np.full((steps + 1, n_places), np.nan)
        turmoil[:, :n_labs] = model.turmoil_history[: steps + 1]
        reputation = np.full((steps + 1, n_places), np.nan)
        reputation[:, :n_labs] = model.reputation_history[: steps + 1]
        columns["mean_pay"] = pay.reshape(-1)
        columns["turmoil"] = turmoil.reshape(-1)
        columns["reputation"] = reputation.reshape(-1)
        timeseries = pd.DataFrame(columns)

        events = _events_table(model, release=release)
        pop = model.population
        n_initial = model.initial_location.shape[0]
        start = np.full(pop.size, model.lab_state.outside, dtype=np.int64)
        start[:n_initial] = model.initial_location
        entered = np.zeros(pop.size, dtype=np.int64)
        entries = (events["kind"] == "entry").to_numpy()
        entered[events["researcher"].to_numpy()[entries]] = events["step"].to_numpy()[entries]
        researchers = pd.DataFrame(
            {
                "researcher": np.arange(pop.size, dtype=np.int64),
                "cohort": pd.Categorical.from_codes(pop.view("cohort"), model.cohort_names),
                "start": pd.Categorical.from_codes(start, places),
                "entered_step": entered,
                "market_value": pop.view("market_value").copy(),
                "orientation": pop.view("orientation").copy(),
                **{  # in the order they are drawn
                    f"w_{name}": pop.view(f"w_{name}").copy() for name in pop.draw_order
                },
            }
        )
        return cls(
            scenario=model.spec,
            seed=model.seed,
            timeseries=timeseries,
            events=events,
            researchers=researchers,
            metadata=run_metadata(),
        )

    def __repr__(self) -> str:
        steps = int(self.timeseries["step"].max()) if len(self.timeseries) else 0
        return (
            f"RunResult(scenario={self.scenario.name!r}, seed={self.seed}, steps={steps}, "
            f"labs={self.scenario.lab_names}, events={len(self.events)})"
        )

    def _repr_html_(self) -> str:
        """A notebook's view: the run's identity and its per-lab table."""
        import html

        steps = int(self.timeseries["step"].max()) if len(self.timeseries) else 0
        years = float(self.timeseries["time"].max()) if len(self.timeseries) else 0.0
        head = (
            f"<p><b>RunResult</b> of scenario <code>{html.escape(self.scenario.name)}</code>, "
            f"seed {self.seed}: {steps} steps ({years:.3g} years), {len(self.events)} events, "
            f"{len(self.researchers)} researchers. Tables: <code>.timeseries</code>, "
            "<code>.events</code>, <code>.researchers</code>; metrics: "
            "<code>.summary()</code>; words: <code>talentsim glossary</code>.</p>"
        )
        table = self.lab_table()
        table["attrition"] = [f"{x:.1%}" if x == x else "—" for x in table["attrition"]]
        return head + table.to_html(escape=True)

    # ----------------------------------------------------------------------------------------

    def summary(self) -> dict[str, float | int | str]:
        """Headline metrics as a flat dict (keys like ``"attrition.MSL"``), ready for a table.

        Per lab: ``headcount_start``, ``headcount_end``, ``hires``, ``quits``, ``returns``
        (boomerang arrivals), ``exits``, ``separations``, ``offers`` (made by the lab),
        ``acceptances`` (offers accepted by the researcher), ``offer_acceptance`` (their
        ratio), ``counter_offers`` (made by the lab), ``counter_retained`` (researchers they
        kept), ``blocked_by_capacity`` (researchers who accepted an offer from the lab, were
        not kept by a counter-offer, and were turned away because the lab was full),
        ``net_flow`` (hires − quits − exits − separations), ``attrition`` (share of
        the starting staff who left at least once; NaN for a lab nobody started at, as when
        its cohorts have size 0), ``early_attrition`` (share of the starting staff who left
        within the first 13 weeks; NaN likewise), ``early_exits`` (departures with tenure
        under 13 weeks). Overall: ``moves``, ``boomerangs``, ``early_exits``,
        ``population_end``, ``steps``, ``years``, ``seed``.
        """
        ts, ev = self.timeseries, self.events
        labs = self.scenario.lab_names
        step = ts["step"].to_numpy()
        last_step = int(step.max())
        out: dict[str, float | int | str] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "steps": last_step,
            "years": float(ts["time"].max()),
        }
        # Computed on arrays (as the same quantities through pandas cost 4× the run itself);
        # tests/test_fast_path.py checks every key against the former pandas implementation.
        places = list(ts["lab"].cat.categories)
        place = _codes(ts["lab"], places)
        n_places = len(places)
        headcount = ts["headcount"].to_numpy()
        first = _by_code(place[step == 0], headcount[step == 0], n_places)
        last = _by_code(place[step == last_step], headcount[step == last_step], n_places)
        later = step > 0
        totals = {
            flow: _by_code(place[later], ts[flow].to_numpy()[later], n_places) for flow in FLOWS
        }
        kind = _codes(ev["kind"], list(MOVE_KINDS))
        origin = _codes(ev["origin"], places)
        tenure = ev["tenure"].to_numpy()
        researcher = ev["researcher"].to_numpy()
        time = ev["time"].to_numpy()
        leaving = np.isin(kind, [MOVE_KINDS.index(k) for k in DEPARTURE_KINDS])
        lab_codes = [places.index(lab) for lab in labs]
        departing = leaving & np.isin(origin, lab_codes)
        early = tenure < EARLY_EXIT_YEARS  # (NaN tenure compares False, as in pandas)
        people = self.researchers
        start = _codes(people["start"], places)
        ids = people["researcher"].to_numpy()
        for lab, j in zip(labs, lab_codes, strict=True):
            out[f"headcount_start.{lab}"] = int(first[j])
            out[f"headcount_end.{lab}"] = int(last[j])
            for flow in LAB_FLOWS:
                out[f"{flow}.{lab}"] = int(totals[flow][j])
            offers = int(totals["offers"][j])
            out[f"offer_acceptance.{lab}"] = (
                float(totals["acceptances"][j] / offers) if offers else float("nan")
            )
            out[f"net_flow.{lab}"] = int(
                totals["hires"][j]
                - totals["quits"][j]
                - totals["exits"][j]
                - totals["separations"][j]
            )
            leavers = departing & (origin == j)
            starters = ids[start == j]
            for key, until in (("attrition", None), ("early_attrition", EARLY_EXIT_YEARS)):
                if len(starters) == 0:
                    out[f"{key}.{lab}"] = float("nan")
                    continue
                left = leavers if until is None else leavers & (time <= until + 1e-9)
                gone = np.unique(researcher[left][np.isin(researcher[left], starters)]).size
                out[f"{key}.{lab}"] = float(gone / len(starters))
            out[f"early_exits.{lab}"] = int((leavers & early).sum())
        moving = [MOVE_KINDS.index(k) for k in ("hire", "quit", "return", "exit")]
        out["moves"] = int(np.isin(kind, moving).sum())
        out["boomerangs"] = int((kind == MOVE_KINDS.index("return")).sum())
        out["early_exits"] = int((departing & early).sum())
        out[f"headcount_end.{OUTSIDE}"] = int(last[places.index(OUTSIDE)])
        out["population_end"] = int(last.sum())
        return out

    def departures(
        self,
        lab: str | None = None,
        *,
        cohorts: Sequence[str] | None = None,
        until: float | None = None,
        kinds: Sequence[str] = DEPARTURE_KINDS,
    ) -> pd.DataFrame:
        """Moves out of a lab (any lab if ``lab`` is None), as rows of :attr:`events`.

        Args:
            lab: The lab left.
            cohorts: Keep only researchers of these cohorts.
            until: Keep only moves up to this time (years since the start, inclusive).
            kinds: Kinds of move counted (default: quits, returns, exits and separations).
        """
        ev = self.events
        labs = self.scenario.lab_names
        if lab is not None:
            self._check_lab(lab)
        keep = ev["kind"].isin(list(kinds)) & ev["origin"].isin(labs if lab is None else [lab])
        if cohorts is not None:
            self._check_cohorts(cohorts)
            keep &= ev["cohort"].isin(list(cohorts))
        if until is not None:
            keep &= ev["time"] <= until + 1e-9
        return ev[keep]

    def retention(
        self, lab: str, *, cohorts: Sequence[str] | None = None, at: float | None = None
    ) -> float:
        """Share of the researchers who started at ``lab`` who had not left it by time ``at``.

        Args:
            lab: The lab.
            cohorts: Count only starters of these cohorts.
            at: Time since the start, in years or as a duration (``"6mo"``, ``"26w"``);
                default: the end of the run.

        Returns:
            The share; NaN when no researcher (of those cohorts) started at ``lab``.

        Raises:
            ValueError: for an unknown lab or cohort, or a time outside the run.
        """
        self._check_lab(lab)
        return 1.0 - self._share_left(lab, cohorts=cohorts, at=self._time_in_run(at, "at"))

    def _time_in_run(self, value: float | str | None, name: str) -> float | None:
        """A time since the start in years (from years or a duration), within the run.

        Up to one step past the last step is allowed: a run of 52 weekly steps is 0.997 years
        long, and "after one year" should mean its end.
        """
        if value is None:
            return None
        try:
            years = parse_duration(value) if isinstance(value, str) else float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: expected years or a duration such as '6mo' ({exc})"
            ) from None
        end = float(self.timeseries["time"].max())
        if not 0 <= years <= end + self.scenario.time.step + 1e-9:
            raise ValueError(f"{name}: {value!r} is outside the run (0 to {end:.4g} years)")
        return years

    def _share_left(
        self, lab: str, *, cohorts: Sequence[str] | None = None, at: float | None = None
    ) -> float:
        """Share of the researchers who started at ``lab`` who left it by ``at`` (NaN if none)."""
        people = self.researchers
        starters = people["start"] == lab
        if cohorts is not None:
            self._check_cohorts(cohorts)
            starters &= people["cohort"].isin(list(cohorts))
        ids = people.loc[starters, "researcher"]
        if len(ids) == 0:
            return float("nan")
        left = self.departures(lab, until=at)
        gone = left.loc[left["researcher"].isin(ids), "researcher"].nunique()
        return float(gone / len(ids))

    def offer_acceptance(self, lab: str, start: float = 0.0, end: float | None = None) -> float:
        """Share of the offers ``lab`` made in ``(start, end]`` (years) that were accepted.

        Acceptance is the researcher's choice, before capacity and counter-offers. NaN when
        the lab made no offers in the window.
        """
        self._check_lab(lab)
        ts = self.timeseries
        window = (ts["lab"] == lab) & (ts["time"] > start + 1e-9)
        if end is not None:
            window &= ts["time"] <= end + 1e-9
        offers = ts.loc[window, "offers"].sum()
        return float(ts.loc[window, "acceptances"].sum() / offers) if offers else float("nan")

    def _check_lab(self, lab: str) -> None:
        if lab not in self.scenario.labs:
            known = ", ".join(self.scenario.lab_names)
            raise KeyError(f"no lab named {lab!r} in scenario {self.scenario.name!r} ({known})")

    def _check_cohorts(self, cohorts: Sequence[str]) -> None:
        if isinstance(cohorts, str):
            raise TypeError("cohorts must be a list of cohort names, not a string")
        unknown = [c for c in cohorts if c not in self.scenario.cohorts]
        if unknown:
            known = ", ".join(self.scenario.cohorts)
            raise KeyError(
                f"no cohort named {unknown} in scenario {self.scenario.name!r} ({known})"
            )

    def exit_reasons(self, by: tuple[str, ...] = ("lab", "cohort")) -> pd.DataFrame:
        """Why people left: departures from labs by main reason (exit-interview attribution).

        Every voluntary departure (``quit``, ``return``, ``exit``) records the utility gain of
        the destination over the lab left, term by term. Its *main reason* is the term with the
        largest gain (pay, mission, stability, peers, fairness, attachment, reputation, amenity
        — the last includes the outside option's appeal), or ``idiosyncratic`` when no term
        favoured the move (it was made on the random part of utility). Exogenous separations
        have the reason ``exogenous``.

        Args:
            by: Grouping columns, any of ``"lab"`` (the lab left), ``"cohort"``, ``"kind"``.
                Without ``"lab"``, departures from all labs are pooled, and the table says so:
                its ``lab`` column reads ``"all labs"`` (:data:`POOLED_LABS`).

        Returns:
            A tidy DataFrame, one row per group and reason: the group columns, ``reason``,
            ``count`` (departures whose main reason it is), ``departures`` (all departures of
            the group), ``share`` (count / departures) and ``mean_gain`` (the mean gain in that
            term over the group's voluntary departures; NaN for ``idiosyncratic`` and
            ``exogenous``).
        """
        allowed = ("lab", "cohort", "kind")
        unknown = [column for column in by if column not in allowed]
        if unknown:
            raise ValueError(f"exit_reasons: cannot group by {unknown}; choose from {allowed}")
        labs = self.scenario.lab_names
        leaving = self.departures().copy()
        leaving["lab"] = pd.Categorical(leaving["origin"].astype(str), categories=labs)
        leaving["kind"] = leaving["kind"].astype(str)
        leaving["reason"] = main_reasons(leaving)
        term_names = _gain_terms(self.events)
        reasons = [*term_names, *terms.OTHER_REASONS]
        group = list(by)
        counts = (
            leaving.groupby([*group, "reason"], observed=True).size().rename("count").reset_index()
        )
        gain_columns = [f"gain_{term}" for term in term_names]
        voluntary = leaving[leaving["kind"] != "separation"]
        if group:
            totals = leaving.groupby(group, observed=True).size().rename("departures")
            gains = voluntary.groupby(group, observed=True)[gain_columns].mean()
            keys = totals.index.to_frame(index=False)
        else:
            totals = pd.Series([len(leaving)], name="departures")
            gains = voluntary[gain_columns].mean().to_frame().T
            keys = pd.DataFrame(index=[0])
        grid = keys.merge(pd.DataFrame({"reason": reasons}), how="cross")
        table = grid.merge(counts, on=[*group, "reason"], how="left")
        table["count"] = table["count"].fillna(0).astype(np.int64)
        if group:
            table = table.merge(totals.reset_index(), on=group, how="left")
            long_gains = gains.reset_index().melt(
                id_vars=group, var_name="reason", value_name="mean_gain"
            )
        else:
            table["departures"] = int(totals.iloc[0])
            long_gains = gains.melt(var_name="reason", value_name="mean_gain")
        long_gains["reason"] = long_gains["reason"].str.removeprefix("gain_")
        table = table.merge(long_gains, on=[*group, "reason"], how="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            table["share"] = table["count"] / table["departures"].replace(0, np.nan)
        table["reason"] = pd.Categorical(table["reason"], categories=reasons)
        columns = [*group, "reason", "count", "departures", "share", "mean_gain"]
        table = table[columns].sort_values([*group, "reason"]).reset_index(drop=True)
        if "lab" not in group:  # say that departures from every lab are pooled
            table.insert(0, "lab", POOLED_LABS)
        return table

    def lab_table(self) -> pd.DataFrame:
        """Per-lab summary table: headcounts, flows, turned away, net flow and attrition."""
        summary = self.summary()
        rows = []
        for lab in self.scenario.lab_names:
            rows.append(
                {
                    "lab": lab,
                    "start": summary[f"headcount_start.{lab}"],
                    "end": summary[f"headcount_end.{lab}"],
                    "hires": summary[f"hires.{lab}"],
                    "quits": summary[f"quits.{lab}"],
                    "returns": summary[f"returns.{lab}"],
                    "exits": summary[f"exits.{lab}"],
                    "separations": summary[f"separations.{lab}"],
                    "blocked_by_capacity": summary[f"blocked_by_capacity.{lab}"],
                    "net_flow": summary[f"net_flow.{lab}"],
                    "attrition": summary[f"attrition.{lab}"],
                }
            )
        return pd.DataFrame(rows).set_index("lab")

    # ----------------------------------------------------------------------------------------

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the tables as Parquet files and ``run.json`` to ``folder``.

        The files are written to a temporary folder beside the target and moved into place
        only when all of them are complete, so an interrupted save never leaves a results
        folder that looks complete. ``run.json`` holds the resolved scenario, the seed, the
        summary and the versions of talentsim, Mesa, NumPy, pandas and Python.

        Args:
            folder: Destination; it must not exist or be empty unless ``overwrite``.
            overwrite: Replace a non-empty folder that holds an earlier run's results
                (``run.json``); a folder holding anything else is refused, as replacing it
                would delete what it holds.

        Returns:
            The folder.

        Raises:
            FileExistsError: if the folder is not empty and ``overwrite`` is false.
            OSError: if the folder cannot be written.
        """

        def write(staging: Path) -> None:
            self.timeseries.to_parquet(staging / "timeseries.parquet", index=False)
            self.events.to_parquet(staging / "events.parquet", index=False)
            self.researchers.to_parquet(staging / "researchers.parquet", index=False)
            document = {
                "talentsim_result": RESULT_FORMAT,
                "seed": self.seed,
                "scenario": self.scenario.to_dict(),
                "summary": jsonable(self.summary()),
                "metadata": jsonable(self.metadata),
            }
            with open(staging / "run.json", "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, allow_nan=False)
                handle.flush()
                os.fsync(handle.fileno())

        return atomic_folder(folder, write, overwrite=overwrite, markers=RUN_MARKERS, what="run")

    @classmethod
    def load(cls, folder: str | Path) -> RunResult:
        """Read a results folder written by :meth:`save`.

        Raises:
            OSError: for a missing or unreadable file; ValueError, naming the file: for a
                file that is not what :meth:`save` writes, one written in a newer format than
                this talentsim reads, or results saved before a flow they lack was recorded
                (``blocked_by_capacity``, since issue 16): rerun those.
        """
        folder = Path(folder)
        document = read_json_file(folder / "run.json")
        wrong = _run_document_problem(document)
        if wrong is not None:
            raise ValueError(
                f"{folder / 'run.json'}: not what talentsim writes there (expected the run's "
                f"table with its scenario and seed; got {wrong})"
            )
        version = document.get("talentsim_result", RESULT_FORMAT)
        if not isinstance(version, int) or version > RESULT_FORMAT:
            raise ValueError(
                f"{folder / 'run.json'}: results in format {version!r}, newer than this "
                f"talentsim ({__version__}) reads (format {RESULT_FORMAT}); upgrade talentsim"
            )
        timeseries = _read_result_table(folder / "timeseries.parquet", ("step", "lab"))
        missing = [flow for flow in FLOWS if flow not in timeseries.columns]
        if missing:  # (a column added since: its values are unknown, not zero)
            raise ValueError(
                f"{folder / 'timeseries.parquet'}: no column {', '.join(missing)}; these "
                "results were saved by an earlier talentsim, before it recorded "
                f"{'it' if len(missing) == 1 else 'them'}: run the scenario again (it is in "
                f"{folder / 'run.json'}; the seed was {document.get('seed')})"
            )
        return cls(
            scenario=Scenario.from_dict(document["scenario"], source=str(folder / "run.json")),
            seed=document["seed"],
            timeseries=timeseries,
            events=_read_result_table(folder / "events.parquet", EVENT_COLUMNS),
            researchers=_read_result_table(folder / "researchers.parquet", RESEARCHER_COLUMNS),
            metadata=document.get("metadata", {}),
        )


def _run_document_problem(document: Any) -> str | None:
    """What makes ``document`` not a run.json that :meth:`RunResult.save` writes, or None."""
    if not isinstance(document, dict):
        return f"a {type(document).__name__}, not a table"
    if "scenario" not in document:
        return "no key 'scenario'"
    seed = document.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        return f"seed {seed!r}, not a whole number"
    return None


EVENT_COLUMNS = (
    "step", "time", "researcher", "cohort", "origin", "destination", "kind", "tenure",
    "pay_before", "pay_after",
)  # fmt: skip
"""The events table's columns besides the gains (``gain_<term>``, one per term)."""

RESEARCHER_COLUMNS = (
    "researcher", "cohort", "start", "entered_step", "market_value", "orientation",
)  # fmt: skip
"""The researchers table's columns besides the weights (``w_<term>``)."""


DAMAGED = "it was changed or damaged after it was saved"
"""What a results file that cannot be read as talentsim wrote it says about itself."""


def read_json_file(path: Path, table_of: str | None = None) -> Any:
    """A JSON file of a results folder, named in any error (its parser's says only where).

    ``table_of`` (e.g. ``"the comparison"``): the document must be a table (a JSON object).

    Raises:
        OSError: if it is missing or cannot be read; ValueError: if it is not JSON text
            (cut short, or not UTF-8), or not a table where ``table_of`` asks for one.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc}); {DAMAGED}") from None
    if table_of is not None and not isinstance(document, dict):
        raise ValueError(f"{path}: expected a table of {table_of}, got {type(document).__name__}")
    return document


def read_csv_file(path: Path, **options: Any) -> pd.DataFrame:
    """A CSV table of a results folder, named in any error (pandas' names no file).

    ``options`` go to :func:`pandas.read_csv`.

    Raises:
        OSError: if it is missing or cannot be read; ValueError: if it is not a CSV table
            (empty, malformed, not UTF-8) or lacks a column ``options`` name.
    """
    try:
        return pd.read_csv(path, **options)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV table ({exc}); {DAMAGED}") from None
    except ValueError as exc:  # (index_col= naming a column it lacks)
        raise ValueError(f"{path}: {exc}; {DAMAGED}") from None


def _read_result_table(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """One table of a results folder, named in any error: unreadable, or without a column.

    Raises:
        OSError: if it is missing; ValueError: if it is not readable Parquet or lacks one of
            the ``required`` columns (what reading the run would otherwise fail on later,
            with a bare KeyError).
    """
    try:
        table = pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # (pyarrow's ArrowInvalid is a ValueError)
        raise ValueError(f"{path}: not readable Parquet ({exc})") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(missing)}; not a talentsim results table (or a "
            "damaged one): run the scenario again"
        )
    return table


def _codes(column: pd.Series, names: list[str]) -> np.ndarray:
    """A categorical column as codes into ``names`` (-1 for a value not among them)."""
    values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else None
    if values is None:
        values = pd.Categorical(column)
    lookup = np.array(
        [names.index(str(c)) if str(c) in names else -1 for c in values.categories] + [-1],
        dtype=np.int64,
    )
    return lookup[np.asarray(values.codes)]  # (code -1, a missing value, reads the last: -1)


def _by_code(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``values`` summed per code ``0 .. n-1`` (integers stay integers)."""
    out = np.zeros(n, dtype=values.dtype if values.dtype.kind in "iu" else float)
    np.add.at(out, codes[codes >= 0], values[codes >= 0])
    return out


def main_reasons(events: pd.DataFrame) -> np.ndarray:
    """The main reason of each move: the utility term with the largest gain.

    A choice that no term favoured (every gain ≤ 0: it was made on the idiosyncratic, random
    part of utility) gets ``"idiosyncratic"``; moves without recorded gains (separations,
    entries, retirements) get ``"exogenous"``.
    """
    term_names = _gain_terms(events)
    gains = events[[f"gain_{term}" for term in term_names]].to_numpy(dtype=float)
    recorded = ~np.isnan(gains).all(axis=1)
    filled = np.where(np.isnan(gains), -np.inf, gains)
    best = np.argmax(filled, axis=1)
    names = np.array(term_names, dtype=object)
    # A choice no term favoured was made on the idiosyncratic (logit noise) part of utility.
    favoured = filled.max(axis=1, initial=-np.inf) > 0
    reason = np.where(favoured, names[best], "idiosyncratic")
    return np.where(recorded, reason, "exogenous")


POOLED_LABS = "all labs"
"""The ``lab`` of :meth:`RunResult.exit_reasons` rows that pool the departures of every lab."""


def _gain_terms(events: pd.DataFrame) -> list[str]:
    """The utility terms whose gains a table of events records (``gain_<term>`` columns)."""
    return [name.removeprefix("gain_") for name in events.columns if name.startswith("gain_")]


def _events_table(model: TalentModel, *, release: bool = False) -> pd.DataFrame:
    """The events table (one row per move, sorted by step and researcher).

    A researcher's moves within a step (there can be several: the step's transitions are
    exact, see docs/model.md) keep the order they happened in. Built a step at a time into
    columns of the final length: moves are logged in step order, so sorting each step's moves
    (stably, by researcher) sorts the whole table, and
    neither the concatenated log nor an unsorted table is ever made. With ``release`` the
    model's records are dropped as they are copied.
    """
    places = model.place_names
    place_categories = [*places, "gone"]
    columns = move_columns(model, release=release)
    if columns is None:
        return _empty_events(model, place_categories)
    step = columns.pop("step")
    table = {
        "step": step,
        "time": step * model.dt,
        "researcher": columns.pop("researcher"),
        "cohort": pd.Categorical.from_codes(columns.pop("cohort"), model.cohort_names),
        "origin": pd.Categorical.from_codes(columns.pop("origin"), place_categories),
        "destination": pd.Categorical.from_codes(columns.pop("destination"), place_categories),
        "kind": pd.Categorical.from_codes(columns.pop("kind"), list(MOVE_KINDS)),
        **columns,  # tenure, pay before and after, the gains by term
    }
    # copy=False: each column stays the array built above (no consolidation into blocks)
    return pd.DataFrame(table, copy=False)


def move_columns(model: TalentModel, *, release: bool = False) -> dict[str, np.ndarray] | None:
    """The columns of the events table as arrays of codes, in its row order (None: no moves).

    The keys of :meth:`TalentModel.move_log`; places are coded as in the table's categories
    (labs, then the outside pool, then ``len(model.place_names)`` for "gone"), cohorts and
    kinds by their index in ``model.cohort_names`` and :data:`MOVE_KINDS`. With ``release``
    the model's records are dropped as they are copied (see :func:`_events_table`).
    """
    places = model.place_names
    total = model.move_count()
    if total == 0:
        return None
    columns: dict[str, np.ndarray] = {}
    if not release:  # the whole log at once: one sort, one copy per column
        log = model.move_log()
        # lexsort is stable: by step, then as below within a step
        order = np.lexsort((log["researcher"], log["step"]))
        columns = {name: values[order] for name, values in log.items()}
    else:
        at = released = 0
        for part in model.move_log_by_step(release=True):
            # stable: researchers in order, and a researcher's moves within the step in the
            # order they happened (the log's: a researcher may move several times a step)
            order = np.argsort(part["researcher"], kind="stable")
            end = at + order.shape[0]
            for name, values in part.items():
                if name not in columns:
                    columns[name] = np.empty(total, dtype=values.dtype)
                np.take(values, order, out=columns[name][at:end])
                released += values.nbytes
            at = end
            if released > _TRIM_EVERY:
                released = 0
                _return_freed_memory()
        _return_freed_memory()
    # Entries have no origin: "gone" there means "not yet in the field".
    for end_of_move in ("origin", "destination"):
        codes = columns[end_of_move]
        codes[codes < 0] = len(places)
    return columns


_TRIM_EVERY = 64 * 2**20
"""Bytes of released move records after which their memory is handed back to the system."""


def _return_freed_memory() -> None:
    """Hand memory freed in the middle of the C heap back to the system (glibc only).

    The move log is many small records, allocated on the heap between longer-lived arrays;
    freeing them does not lower the process's resident memory until ``malloc_trim`` returns
    their pages. Elsewhere (macOS, musl, Windows) this does nothing.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return
    trim(0)


def _empty_events(model: TalentModel, place_categories: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "step": np.zeros(0, dtype=np.int64),
            "time": np.zeros(0),
            "researcher": np.zeros(0, dtype=np.int64),
            "cohort": pd.Categorical([], categories=model.cohort_names),
            "origin": pd.Categorical([], categories=place_categories),
            "destination": pd.Categorical([], categories=place_categories),
            "kind": pd.Categorical([], categories=list(MOVE_KINDS)),
            "tenure": np.zeros(0),
            "pay_before": np.zeros(0),
            "pay_after": np.zeros(0),
        }
    )
    for name in model.term_names:
        frame[f"gain_{name}"] = np.zeros(0)
    return frame


def unsafe_results_folder(folder: str | Path) -> str | None:
    """Why ``folder`` must not be replaced by a results folder (None if it may be).

    A results folder is written elsewhere and moved into place, replacing what was there: so
    not ``.`` or ``..``, nor the current folder, one that holds it, or a filesystem root.
    """
    folder = Path(folder)
    if folder.name in ("", ".", ".."):
        return "name a folder of its own for the results, not '.' or '..'"
    target, here = folder.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        return "is the current folder or holds it; name a folder of its own for the results"
    return None


def not_replaceable(folder: Path, markers: tuple[str, ...], what: str) -> str | None:
    """Why ``overwrite``/``--force`` must not replace the non-empty ``folder``, or None.

    It may replace a folder holding an earlier output of the same kind (one of ``markers``,
    e.g. ``run.json``, as talentsim writes it: a file of that name from elsewhere does not
    count), not one holding anything else (a sweep store, other runs, a paper): replacing
    deletes the whole folder.
    """
    present = [marker for marker in markers if (folder / marker).is_file()]
    if not markers or any(written_by_talentsim(folder / marker) for marker in present):
        return None
    if present:
        return (
            f"holds {present[0]}, which talentsim did not write, so not the results of an "
            f"earlier {what}; replacing a folder deletes all it holds, so only an earlier "
            f"{what}'s folder is replaced: choose another folder"
        )
    names = sorted(entry.name for entry in folder.iterdir())
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return (
        f"holds {shown}, not the results of an earlier {what} (no {markers[0]}); replacing a "
        f"folder deletes all it holds, so only an earlier {what}'s folder is replaced: choose "
        "another folder"
    )


def written_by_talentsim(path: Path) -> bool:
    """Whether the marker file ``path`` of a results folder is one talentsim writes.

    A JSON document (``run.json``, ``comparison.json``, ``calibration.json``, the first line
    of ``checkpoint.jsonl``) names talentsim in a key (``talentsim_result``) or a value
    (``"kind": "talentsim calibration"``); a report says so in its title. A database
    (``abc.sqlite``) counts by its name: resuming it checks what it holds. Read, never
    executed.
    """
    if path.suffix == ".sqlite":
        return path.is_file()
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
            if path.suffix == ".json":
                head += handle.read()
    except OSError:
        return False
    if path.suffix == ".html":
        return b"talentsim report</title>" in head
    text = head.split(b"\n", 1)[0] if path.suffix == ".jsonl" else head
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and any(
        str(key).startswith("talentsim")
        or (isinstance(value, str) and value.startswith("talentsim "))
        for key, value in document.items()
    )


def atomic_folder(
    folder: str | Path,
    write: Callable[[Path], None],
    *,
    overwrite: bool = False,
    markers: tuple[str, ...] = (),
    what: str = "output",
) -> Path:
    """Fill a results folder all at once: ``write`` fills a staging folder moved into place.

    An interrupted write never leaves a folder that looks complete. ``overwrite`` replaces a
    non-empty folder only if it holds one of ``markers`` (an earlier output of the kind
    ``what``; any folder without ``markers``): see :func:`not_replaceable`.

    Raises:
        ValueError: if the path is ``.`` or ``..``, or the current folder or one holding it
            (replacing it would delete the working folder).
        FileExistsError: if the folder is not empty and ``overwrite`` is false, or it holds
            something other than an earlier output of the same kind.
        NotADirectoryError: if the path exists and is a file.
        OSError: if the folder cannot be written.
    """
    folder = Path(folder)
    problem = unsafe_results_folder(folder)
    if problem:
        raise ValueError(f"{folder}: {problem}")
    folder = folder.resolve()  # ("results/.." would otherwise be replaced once results/ exists)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder}: folder is not empty (use overwrite / --force)")
        problem = not_replaceable(folder, markers, what)
        if problem:
            raise FileExistsError(f"{folder}: {problem}")
    parent = folder.parent if str(folder.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; results are shared files
    try:
        write(staging)
        # the earlier folder is moved aside, not deleted, until the new one is in place: a
        # kill in between leaves no folder that looks complete (a half-deleted one with its
        # marker did), and the earlier results stay whole in the hidden folder beside it
        if folder.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.replaced-", dir=parent))
            os.replace(folder, aside / folder.name)
            try:
                os.replace(staging, folder)
            except BaseException:
                os.replace(aside / folder.name, folder)  # (the earlier results, back)
                raise
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for leftover in parent.glob(f".{glob.escape(folder.name)}.replaced-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # (this one, and any a kill left)
    return folder


def jsonable(value: Any) -> Any:
    """Turn NumPy scalars and arrays into JSON types; NaN and inf become null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        # JSON has no NaN/inf: write null so every JSON reader accepts the file.
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def run_metadata() -> dict[str, Any]:
    """Versions of the software that produced a result."""
    import mesa

    return {
        "versions": {
            "talentsim": __version__,
            "talentsim_source": source_digest(),
            "mesa": mesa.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        }
    }


MetricSpec = Sequence[str] | Mapping[str, Callable[["RunResult"], float]] | None
"""Which metrics to take from a run: summary keys, or names mapped to functions of a result."""

NOT_METRICS = frozenset({"scenario", "seed", "steps", "years"})
"""Summary keys that describe a run rather than measure it."""


def metric_values(result: RunResult, metrics: MetricSpec = None) -> dict[str, float]:
    """The metrics of one run.

    Every numeric summary key (default), the keys listed, or the values of the functions
    given by name.
    """
    if isinstance(metrics, Mapping):
        values = {}
        for name, fn in metrics.items():
            value = fn(result)
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"metric {name!r}: expected a number from its function, got {value!r}"
                ) from None
        return values
    summary = result.summary()
    if metrics is None:
        return {
            key: float(value)
            for key, value in summary.items()
            if key not in NOT_METRICS and isinstance(value, int | float)
        }
    return {m: float(summary[m]) for m in metrics}


def check_metrics(scenario: Scenario, metrics: MetricSpec, who: str) -> None:
    """Fail early, with the list of known keys, if ``metrics`` names an unknown summary key.

    Raises:
        ScenarioError: for unknown or repeated keys; ValueError: for a string or a function
            instead of a list, or a mapping to something other than functions.
    """
    if isinstance(metrics, Mapping):
        odd = [str(name) for name, fn in metrics.items() if not callable(fn)]
        if odd:
            raise ValueError(
                f"{who}: metrics: {', '.join(odd)}: expected a function of a run, as in "
                "metrics={'name': function}"
            )
        return
    if metrics is None:
        return
    if isinstance(metrics, str):
        raise ValueError(f"{who}: metrics must be a list of summary keys, not a string")
    if callable(metrics):
        raise ValueError(
            f"{who}: metrics: a function needs a name: give metrics={{'name': function}} "
            "(or a list of summary keys)"
        )
    names = list(metrics)
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise ScenarioError(f"{who}: metrics: {', '.join(repeated)} given twice")
    known = [k for k in run(scenario, seed=0, steps=1).summary() if k not in NOT_METRICS]
    missing = [m for m in names if m not in known]
    if missing:
        raise ScenarioError(f"{who}: {unknown_metrics_message(missing, known)}")


def unknown_metrics_message(missing: Sequence[str], known: Sequence[str]) -> str:
    """Say which metrics are unknown, suggest close names, and summarise the known ones.

    The known metrics are listed by family (``attrition.<lab>`` once, not once per lab), so
    the message stays short for scenarios with many labs.
    """
    import difflib

    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    families: dict[str, list[str]] = {}
    for key in known:
        family, dot, place = key.partition(".")
        families.setdefault(family, []).extend([place] if dot else [])
    import collections

    tuples = collections.Counter(tuple(places) for places in families.values() if places)
    common = tuples.most_common(1)[0][0] if tuples else ()
    shown = []
    for family, places in families.items():
        if not places:
            shown.append(family)
        elif tuple(places) == common:
            shown.append(f"{family}.LAB")
        else:
            shown.append(f"{family}.<{'|'.join(places)}>")
    where = f" (LAB one of {', '.join(common)})" if common else ""
    return f"unknown metric {', '.join(parts)}; the metrics are {', '.join(shown)}{where}"


def check_picklable(metrics: MetricSpec, who: str, in_process: str) -> None:
    """Fail early, naming the metric, if a metric function cannot go to worker processes.

    Process pools send each task's arguments pickled; a lambda or a function defined inside
    another cannot be, and would otherwise fail at the first run with Python's own message.

    Args:
        metrics: The metrics asked for.
        who: The function asking (for the message).
        in_process: How to run in this process instead (for the message).

    Raises:
        ValueError: naming the metric and saying what to do instead.
    """
    if not isinstance(metrics, Mapping):
        return
    for name, function in metrics.items():
        try:
            pickle.dumps(function)
        except Exception as exc:  # pickling raises several kinds of error
            raise ValueError(
                f"{who}: metric {name!r} cannot be sent to worker processes ({exc}): define it "
                "at the top level of a module (a lambda or a function defined inside another "
                f"cannot be pickled), or run in this process ({in_process})"
            ) from None


def replicates(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seeds: int | Iterable[int] = 10,
    *,
    root_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    save_first: str | Path | None = None,
) -> Iterator[RunResult]:
    """Run a scenario once per replicate seed, yielding each run's result as it finishes.

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        seeds: A number of replicates (their seeds spawned from ``root_seed`` with
            ``SeedSequence.spawn``) or explicit seeds. Each result records its seed.
        root_seed: Root of the spawned seeds.
        overrides: Dotted-path overrides applied to every run.
        save_first: Save the first run's results to this folder (replacing its contents).
    """
    from talentsim.seeds import seed_list

    base = as_scenario(scenario)
    for index, seed in enumerate(seed_list(seeds, root_seed)):
        result = run(base, seed=seed, overrides=overrides)
        if index == 0 and save_first is not None:
            result.save(save_first, overwrite=True)
        yield result


def run(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    *,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Callable[[int], Any] | None = None,
) -> RunResult:
    """Run a scenario once and return its results.

    Args:
        scenario: A Scenario, a path to a TOML file, or a dict.
        seed: Seed of the run (None: fresh entropy, recorded in ``RunResult.seed``).
        steps: Number of steps (default: the scenario's duration).
        overrides: Dotted-path overrides (``{"labs.MSL.pay_level": 3.0}``).
        progress: Optional callable called with the number of steps done after each step.

    Returns:
        The run's :class:`RunResult`.

    Raises:
        ValueError: if ``steps`` is not a positive whole number, or a run that long is refused
            (:func:`check_steps`).

    The first run in a new install (or with other utility terms) compiles the step, 15–75 s,
    which is logged at INFO on the ``talentsim`` logger before it starts.
    """
    check_steps(steps)
    model = TalentModel(scenario, seed=seed, overrides=overrides, lean=True)
    check_steps(steps, model.spec)
    model.run(steps=steps, progress=progress)
    return RunResult.from_model(model, release=True)


def check_steps(steps: object, scenario: Scenario | None = None) -> None:
    """Refuse a number of steps that is not a positive whole number (None: the duration).

    With ``scenario``, also a run longer than its duration that a scenario of that duration
    could not have (more than ``MAX_STEPS`` steps, or more memory than the limit: see
    :mod:`talentsim.limits`), so that ``steps`` cannot bypass the checks its file gets.

    Raises:
        ValueError: naming the value (a :class:`~talentsim.scenario.ScenarioError` for a run
            too long or too large).
    """
    if steps is not None and (
        isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1
    ):
        raise ValueError(f"run: steps must be a positive whole number, got {steps!r}")
    if scenario is None or steps is None or steps <= scenario.time.n_steps:
        return
    years = int(steps) * scenario.time.step
    try:
        scenario.with_overrides({"time.duration": f"{years!r}y"})
    except ScenarioError as exc:
        raise ScenarioError(f"steps={steps:,}: a run that long is refused: {exc}") from None
