"""A crash-safe store for sweeps: a SQLite manifest and Parquet chunks.

Layout of a store folder::

    manifest.sqlite      runs (id, point, replicate, seed, status, error, chunk) and metadata
    summaries/*.parquet  summary metrics, one row per run, written in chunks
    timeseries/*.parquet time series, one row per (run, step, place), written in chunks

A chunk is written to a temporary file, flushed to disk and renamed into place; only then is
the manifest updated, in one transaction, to say which runs it holds. A run counts as done only
when the manifest says so, and its rows are read only from the chunk the manifest names, so a
sweep killed at any moment (``kill -9`` included) leaves a store in which every run is done
exactly once or not at all — an orphaned chunk from an interrupted write is ignored, and the
run is simply done again on ``resume``.

The Parquet files are plain tables (with a ``run_id`` column) that pandas, pyarrow or DuckDB
read directly; :meth:`SweepStore.results` and :meth:`SweepStore.timeseries` join them with the
manifest for you.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MANIFEST = "manifest.sqlite"
PENDING, DONE, FAILED = "pending", "done", "failed"


class StoreError(ValueError):
    """A store cannot be created, opened or resumed; the message says why."""


@dataclass(frozen=True)
class PlannedRun:
    """A run of a sweep, before it is done."""

    run_id: str
    point: int
    replicate: int
    seed: int


@dataclass
class RunOutcome:
    """What one run produced (or why it failed)."""

    run_id: str
    status: str
    summary: dict[str, Any] | None = None
    timeseries: pd.DataFrame | None = None
    error: str | None = None
    seconds: float = 0.0


class SweepStore:
    """A store folder: see the module docstring.

    Open an existing store with ``SweepStore(folder)``; :func:`talentsim.sweep` creates them.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / MANIFEST).is_file():
            raise StoreError(f"{self.folder}: not a sweep store (no {MANIFEST})")
        self._connection: sqlite3.Connection | None = None

    # ----------------------------------------------------------------------------------------
    # Creating and opening
    # ----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | Path, spec: dict[str, Any], *, resume: bool) -> SweepStore:
        """Create a store for a sweep, or open it to resume the same sweep.

        Args:
            folder: The store folder (created if missing).
            spec: JSON-ready description of the sweep; a resumed store must hold the same one.
            resume: Allow an existing store of the same sweep.

        Raises:
            StoreError: if the folder holds other files, holds a different sweep, or holds
                this sweep without ``resume``.
        """
        folder = Path(folder)
        manifest = folder / MANIFEST
        if manifest.is_file():
            store = cls(folder)
            stored = _normalised(store.meta("spec"))
            if stored != spec:
                raise StoreError(
                    f"{folder}: holds a different sweep ({_first_difference(stored, spec)}); "
                    "use another folder"
                )
            if not resume:
                raise StoreError(
                    f"{folder}: already holds this sweep; pass resume=True (--resume) to finish "
                    "it, or use another folder"
                )
            return store
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise StoreError(f"{folder}: exists and is not an empty folder or a sweep store")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "summaries").mkdir(exist_ok=True)
            (folder / "timeseries").mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{folder}: cannot create the store ({exc.strerror or exc})") from None
        connection = _connect(manifest)
        with connection:
            connection.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS runs (
                    run_id TEXT PRIMARY KEY, point INTEGER NOT NULL,
                    replicate INTEGER NOT NULL, seed INTEGER NOT NULL,
                    status TEXT NOT NULL, error TEXT, chunk TEXT, seconds REAL, finished TEXT
                );
                """
            )
            connection.execute("INSERT OR IGNORE INTO meta VALUES ('spec', ?)", (json.dumps(spec),))
        connection.close()
        return cls(folder)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = _connect(self.folder / MANIFEST)
        return self._connection

    def close(self) -> None:
        """Close the manifest connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def meta(self, key: str) -> Any:
        """A metadata value (JSON-decoded), or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Set a metadata value (JSON-encoded)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    # ----------------------------------------------------------------------------------------
    # Writing
    # ----------------------------------------------------------------------------------------

    def plan(self, runs: Iterable[PlannedRun]) -> None:
        """Record planned runs as pending (runs already recorded are left as they are)."""
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO runs (run_id, point, replicate, seed, status) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.run_id, r.point, r.replicate, r.seed, PENDING) for r in runs],
            )

    def statuses(self) -> dict[str, str]:
        """Status of every planned run, by run id."""
        return dict(self._db.execute("SELECT run_id, status FROM runs").fetchall())

    def commit(self, outcomes: Sequence[RunOutcome]) -> None:
        """Store a batch of outcomes: write their chunks, then mark them in the manifest."""
        if not outcomes:
            return
        done = [o for o in outcomes if o.status == DONE]
        chunk = f"part-{uuid.uuid4().hex}.parquet"
        if done:
            summaries = pd.DataFrame([{"run_id": o.run_id, **(o.summary or {})} for o in done])
            _atomic_parquet(summaries, self.folder / "summaries" / chunk)
            series = [
                o.timeseries.assign(run_id=o.run_id) for o in done if o.timeseries is not None
            ]
            if series:
                frame = pd.concat(series, ignore_index=True)
                frame = frame[["run_id", *[c for c in frame.columns if c != "run_id"]]]
                _atomic_parquet(frame, self.folder / "timeseries" / chunk)
        finished = pd.Timestamp.now(tz="UTC").isoformat()
        with self._db:
            self._db.executemany(
                "UPDATE runs SET status = ?, error = ?, chunk = ?, seconds = ?, finished = ? "
                "WHERE run_id = ?",
                [
                    (
                        o.status,
                        o.error,
                        chunk if o.status == DONE else None,
                        o.seconds,
                        finished,
                        o.run_id,
                    )
                    for o in outcomes
                ],
            )

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    def runs(self) -> pd.DataFrame:
        """The manifest: one row per planned run, with its status and error."""
        return pd.read_sql_query(
            "SELECT run_id, point, replicate, seed, status, error, chunk, seconds, finished "
            "FROM runs ORDER BY point, replicate",
            self._db,
        )

    def failed(self) -> pd.DataFrame:
        """The failed runs with their errors."""
        runs = self.runs()
        return runs[runs["status"] == FAILED].reset_index(drop=True)

    def table(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """The sweep table: one row per planned run (or those listed), as ``sweep`` returns it.

        Columns: ``run_id``, ``point``, ``replicate``, ``seed``, ``status``, ``error``, the
        parameters (by path) and the metrics; ``attrs`` holds ``store``, ``design`` and
        ``problem``.
        """
        runs = self.runs().drop(columns=["chunk", "seconds", "finished"])
        if run_ids is not None:
            runs = runs[runs["run_id"].isin(set(run_ids))]
        points_json = self.meta("points")
        points = pd.DataFrame(points_json["data"], columns=points_json["columns"])
        table = assemble_table(runs, points, self.summaries())
        spec = self.meta("spec") or {}
        table.attrs["store"] = str(self.folder)
        table.attrs["design"] = spec.get("design")
        table.attrs["problem"] = self.meta("problem")
        return table

    def summaries(self) -> pd.DataFrame:
        """Summary metrics of the done runs, exactly one row each (``run_id`` + metrics)."""
        return self._read("summaries")

    def timeseries(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Time series of done runs (all, or those listed): one row per (run, step, place)."""
        wanted = None if run_ids is None else set(run_ids)
        return self._read("timeseries", wanted)

    def _read(self, kind: str, wanted: set[str] | None = None) -> pd.DataFrame:
        runs = self.runs()
        done = runs[(runs["status"] == DONE) & runs["chunk"].notna()]
        if wanted is not None:
            done = done[done["run_id"].isin(wanted)]
        frames = []
        for chunk, ids in done.groupby("chunk")["run_id"]:
            path = self.folder / kind / str(chunk)
            if not path.is_file():
                continue  # a run without time series (timeseries=False)
            frame = pd.read_parquet(path)
            # Only the rows the manifest attributes to this chunk: never an orphan's.
            frames.append(frame[frame["run_id"].isin(set(ids))])
        if not frames:
            return pd.DataFrame({"run_id": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True)


def _normalised(spec: Any) -> Any:
    """A stored sweep spec with its scenario written as this version writes scenarios.

    (How rates and durations are written can change between versions, e.g. ``"1w"`` for
    ``"0.019164955509924708y"``; the values are the same, so such a store is the same sweep.)
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("scenario"), dict):
        return spec
    from talentsim.scenario import Scenario, ScenarioError

    try:
        return {**spec, "scenario": Scenario.from_dict(spec["scenario"]).to_dict()}
    except ScenarioError:
        return spec


def assemble_table(
    runs: pd.DataFrame, points: pd.DataFrame, summaries: pd.DataFrame
) -> pd.DataFrame:
    """The sweep table: runs joined with their point's parameters and their metrics.

    Args:
        runs: One row per run with ``run_id``, ``point``, ``replicate``, ``seed``, ``status``,
            ``error``.
        points: The design's points, one row per point (in point order), a column per
            parameter.
        summaries: ``run_id`` and the metrics of done runs (may have no rows or columns).
    """
    points = points.copy()
    points.insert(0, "point", range(len(points)))
    table = runs.merge(points, on="point", how="left")
    if "run_id" in summaries.columns and len(summaries.columns) > 1:
        table = table.merge(summaries, on="run_id", how="left")
    table = table.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)
    table["seed"] = table["seed"].astype("int64")
    return table


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _first_difference(stored: Any, spec: Any, path: str = "") -> str:
    if isinstance(stored, dict) and isinstance(spec, dict):
        for key in sorted(set(stored) | set(spec)):
            if stored.get(key) != spec.get(key):
                return _first_difference(stored.get(key), spec.get(key), f"{path}.{key}".strip("."))
    return f"{path or 'the sweep'} differs: stored {_short(stored)}, now {_short(spec)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) < 80 else text[:77] + "..."
