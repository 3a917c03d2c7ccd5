"""A crash-safe store for sweeps: a SQLite manifest and Parquet chunks.

Layout of a store folder::

    manifest.sqlite      runs (id, point, replicate, seed, status, error, chunk) and metadata
    writer.lock          locked by the process writing the store, if any (see below)
    summaries/*.parquet  summary metrics, one row per run, written in chunks
    timeseries/*.parquet time series, one row per (run, step, place), written in chunks

Every Parquet row starts with its run's ``run_id``, ``point``, ``replicate``, ``seed`` and the
point's parameters (a column per varied path), so a query over the glob answers a paper's
question without the manifest (``SELECT "labs.MSL.pay_level", avg("attrition.MSL") FROM
'store/summaries/*.parquet' GROUP BY 1`` in DuckDB).

Crash safety (a sweep may be killed at any moment, ``kill -9`` included):

- **Creation** is atomic: the store is built in a hidden folder beside it
  (``.NAME.creating-PID-…``), with its sweep, design points and planned runs, and renamed into
  place when complete. A folder named NAME is therefore always a whole store; a leftover
  hidden folder of a killed creation is removed by the next creation of the same store.
- **Chunks** are committed in two phases: the chunk is written under a hidden temporary name
  (``.part-….parquet.tmp``) and flushed to disk; the manifest is updated, in one transaction,
  to say which runs it holds (the commit point); then the chunk is renamed to
  ``part-….parquet``. A run counts as done only when the manifest says so, and its rows are
  read only from the chunk the manifest names.
- **One writer at a time**: a process creating or resuming a store holds an exclusive lock on
  it (``flock`` on ``writer.lock`` in the store, released when the store is closed or the
  process ends, ``kill -9`` included), so a second sweep into the same store is refused with a
  clear message instead of each one's recovery deleting the other's chunks in progress.
  Reading a store takes no lock and writes nothing in it: a finished store can be read from a
  folder that cannot be written (see :func:`_connect_for_reading`). (On systems without
  ``fcntl`` there is no lock; on a file system that refuses locks, a
  :class:`StoreLockWarning` says the store is written without.)
- **Recovery** (on ``resume``, :meth:`SweepStore.recover`): a temporary chunk the manifest
  names is renamed into place, any other temporary or unnamed chunk (an orphan of a killed
  write) is deleted, and a run whose chunk is lost is done again.

So ``summaries/*.parquet`` never holds a run twice, and once a sweep has finished (or been
resumed) it holds every done run exactly once: pandas, pyarrow, polars or DuckDB can read the
glob directly. A query that is right at every moment, even while a sweep runs or right after a
crash, reads the chunks the manifest names: :meth:`SweepStore.summaries`,
:meth:`SweepStore.timeseries` and :meth:`SweepStore.table` do (see docs/sweeps.md for the
DuckDB version).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from talentsim._text import ascii_digits
from talentsim.paths import creation_problem

try:  # POSIX; elsewhere stores are not locked
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.sqlite"
WRITER_LOCK = "writer.lock"
PENDING, DONE, FAILED = "pending", "done", "failed"


class StoreError(ValueError):
    """A store cannot be created, opened or resumed; the message says why."""


class StoreWarning(UserWarning):
    """A store is sound but mixes something a reader should know (e.g. software versions)."""


class StoreLockWarning(StoreWarning):
    """A store is written without its writer lock (the file system does not support locks)."""


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
    A store opened so only reads (also from a folder that cannot be written); only
    :meth:`create` opens one for writing.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / MANIFEST).is_file():
            raise StoreError(f"{self.folder}: not a sweep store (no {MANIFEST})")
        self._connection: sqlite3.Connection | None = None
        self._points: pd.DataFrame | None = None  # the design's points, read once
        self._writer_lock: int | None = None  # the lock's file descriptor while writing
        self._writing = False  # (the manifest opened for writing: WAL; else only read)

    # ----------------------------------------------------------------------------------------
    # Creating and opening
    # ----------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        folder: str | Path,
        spec: dict[str, Any],
        *,
        resume: bool,
        meta: dict[str, Any] | None = None,
        runs: Iterable[PlannedRun] = (),
    ) -> SweepStore:
        """Create a store for a sweep, or open it to resume the same sweep.

        A new store is built beside ``folder`` and renamed into place once it holds the sweep,
        ``meta`` and the planned ``runs``, so a store killed while it is created is either
        whole or absent. A resumed store is recovered first (see :meth:`recover`) and gets
        ``meta`` and any planned run it does not hold yet. ``meta["points"]`` (the design's
        points) is recorded with its SHA-256 (meta ``points_sha256``).

        Args:
            folder: The store folder (its parent is created if missing).
            spec: JSON-ready description of the sweep; a resumed store must hold the same one.
            resume: Allow an existing store of the same sweep.
            meta: Further metadata to record (key → JSON-ready value).
            runs: The planned runs, recorded as pending.

        Raises:
            StoreError: if the folder holds other files, holds a different sweep, holds
                this sweep without ``resume``, or holds it with other design points than
                ``meta["points"]`` (compared by :func:`points_digest`: the same description
                drew other points, e.g. after a SciPy or SALib upgrade).
        """
        folder = Path(folder)
        meta = dict(meta or {})
        if meta.get("points") is not None:  # (the design's points, identified: see below)
            meta[POINTS_DIGEST] = points_digest(meta["points"])
        runs = list(runs)
        if (folder / MANIFEST).is_file() and _unfinished_creation(folder):
            _clear_unfinished_creation(folder)  # (left by a version that built stores in place)
        if not (folder / MANIFEST).is_file():
            problem = store_folder_problem(folder)
            if problem:
                raise StoreError(problem)
            if cls._build(folder, spec, meta, runs):
                created = cls(folder)
                created._lock_for_writing()
                return created
            # (another process created it meanwhile: open it as an existing store)
        store = cls(folder)
        stored = _normalised(store.meta("spec"))
        if stored != spec:
            store.close()
            raise StoreError(
                f"{folder}: holds a different sweep ({_first_difference(stored, spec)}); "
                "use another folder"
            )
        if not resume:
            store.close()
            raise StoreError(
                f"{folder}: already holds this sweep; pass resume=True (--resume) to finish "
                "it, or use another folder"
            )
        if meta.get("points") is not None:
            difference = store._points_difference(meta["points"])
            if difference:
                store.close()
                raise StoreError(
                    f"{folder}: holds this sweep, but its design drew other points than the "
                    f"design drawn now ({difference}), though the sweep is described the same: "
                    "the design's sampler (SciPy, SALib) changed since the store was made; "
                    "resuming would mix two designs. Resume with the versions it was made "
                    "with (its meta 'versions'), or use another folder"
                )
        store._lock_for_writing()
        store.recover()
        for key, value in meta.items():
            if key == "versions":  # (kept per session: the runs made under each stay known)
                store._record_versions(value)
            else:
                store.set_meta(key, value)
        store.plan(runs)
        return store

    def points_digest(self) -> str | None:
        """The SHA-256 of the design's points this store holds (:func:`points_digest`).

        Recorded when the store is made (meta ``points_sha256``); for a store made before
        that, computed from its stored points. None for a store without points.
        """
        recorded = self.meta(POINTS_DIGEST)
        if recorded is not None:
            return str(recorded)
        points = self.meta("points")
        return None if points is None else points_digest(points)

    def _points_difference(self, points: Any) -> str | None:
        """Where the design's ``points`` (as stored) differ from this store's, or None."""
        if self.points_digest() in (None, points_digest(points)):
            return None
        return _points_difference(self.meta("points"), points)

    def _record_versions(self, versions: Any) -> None:
        """Keep the versions of a resumed session beside those the store was made with.

        ``versions`` stays the first session's; each later session with other versions is
        appended to ``versions_resumed`` (with when it started), with a :class:`StoreWarning`:
        a store whose runs come from two builds says so.
        """
        first = self.meta("versions")
        if first is None:
            self.set_meta("versions", versions)
            return
        later = self.meta("versions_resumed") or []
        known = [first, *(entry["versions"] for entry in later)]
        if versions in known:
            return
        when = pd.Timestamp.now(tz="UTC").isoformat()
        self.set_meta("versions_resumed", [*later, {"versions": versions, "at": when}])
        changed = sorted(k for k in set(first) | set(versions) if first.get(k) != versions.get(k))
        warnings.warn(
            StoreWarning(
                f"{self.folder}: resumed with other versions than the store was made with "
                f"({', '.join(f'{k} {first.get(k)} → {versions.get(k)}' for k in changed)}); "
                "both are recorded (meta 'versions' and 'versions_resumed'), and runs of one "
                "point may now come from two builds"
            ),
            stacklevel=3,
        )

    @classmethod
    def _build(
        cls, folder: Path, spec: dict[str, Any], meta: dict[str, Any], runs: list[PlannedRun]
    ) -> bool:
        """Build a store beside ``folder`` and rename it into place; False if one appeared."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            _remove_abandoned_builds(folder)
            building = folder.with_name(
                f".{folder.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            )
            building.mkdir()
        except OSError as exc:
            raise StoreError(f"{folder}: cannot create the store ({exc.strerror or exc})") from None
        try:
            (building / "summaries").mkdir()
            (building / "timeseries").mkdir()
            connection = _connect(building / MANIFEST)
            with connection:
                connection.executescript(_SCHEMA)
                connection.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in {"spec": spec, **meta}.items()],
                )
                connection.executemany(
                    "INSERT OR IGNORE INTO runs (run_id, point, replicate, seed, status) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(r.run_id, r.point, r.replicate, r.seed, PENDING) for r in runs],
                )
            # A rollback journal, so that the store is one file once closed (no -wal to move).
            connection.execute("PRAGMA journal_mode=DELETE")
            connection.close()
            _fsync_folder(building)
            try:
                os.rename(building, folder)  # replaces an empty folder; fails on a full one
            except OSError:
                if (folder / MANIFEST).is_file():
                    return False
                raise
            _fsync_folder(folder.parent)
        except (OSError, sqlite3.Error) as exc:  # (a full disk: "database or disk is full")
            why = getattr(exc, "strerror", None) or exc
            raise StoreError(f"{folder}: cannot create the store ({why})") from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return True

    def _lock_for_writing(self) -> None:
        """Take the store's writer lock (see the module docstring), or raise StoreError.

        From then on the manifest is opened for writing (:func:`_connect`, in WAL mode); a
        connection opened to read it before is closed.
        """
        if not self._writing:
            self._writing = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        if fcntl is None or self._writer_lock is not None:
            return
        try:
            fd = os.open(self.folder / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self.close()
            raise StoreError(
                f"{self.folder}: cannot lock the store for writing ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 100, 0).decode(errors="replace").strip()
            os.close(fd)
            self.close()
            raise StoreError(
                f"{self.folder}: another sweep is writing to this store"
                f"{f' ({holder})' if holder else ''}; wait for it to end, or use another "
                "folder"
            ) from None
        except OSError as exc:  # a file system without locks (some network mounts)
            os.close(fd)
            warnings.warn(
                f"{self.folder}: cannot lock the store ({exc.strerror or exc}); writing "
                "without the lock: make sure no other sweep writes to this store",
                StoreLockWarning,
                stacklevel=3,
            )
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {os.uname().nodename}".encode(), 0)
        self._writer_lock = fd

    def recover(self) -> None:
        """Finish or undo what a killed writer left: run before writing to a reopened store.

        A temporary chunk that the manifest names is renamed into place (the writer was killed
        between its commit and the rename); every other temporary chunk, and every chunk the
        manifest does not name, is an orphan and is deleted; a done run whose chunk is lost or
        damaged (:meth:`_checked_chunk`: missing, or not the file committed) is marked pending,
        to be done again (the damaged files are deleted).
        """
        runs = self.runs()
        listed = runs[runs["status"] == DONE].groupby("chunk")["run_id"]
        named = {str(chunk) for chunk in listed.groups}
        for kind in ("summaries", "timeseries"):
            folder = self.folder / kind
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                name = path.name
                if name.startswith(".") and name.endswith(".tmp"):
                    final = folder / name[1 : -len(".tmp")]
                    if final.name in named and not final.exists():
                        os.replace(path, final)
                    else:
                        path.unlink(missing_ok=True)
                elif name.endswith(".parquet") and name not in named:
                    path.unlink(missing_ok=True)
            _fsync_folder(folder)
        lost = []
        digests = self._digests()
        for chunk, ids in listed:
            if any(
                self._checked_chunk(kind, str(chunk), set(ids), digests, read=False)[1]
                for kind in ("summaries", "timeseries")
            ):
                lost.append(str(chunk))
                for kind in ("summaries", "timeseries"):
                    (self.folder / kind / str(chunk)).unlink(missing_ok=True)
        if lost:
            with self._db:
                self._db.executemany(
                    "UPDATE runs SET status = ?, chunk = NULL WHERE chunk = ?",
                    [(PENDING, c) for c in lost],
                )

    @property
    def _db(self) -> sqlite3.Connection:
        """The manifest's connection, opened on first use.

        For writing once the store is locked for it (:meth:`_lock_for_writing`), else one that
        only reads (:func:`_connect_for_reading`: a folder that cannot be written works too).
        """
        if self._connection is None:
            path = self.folder / MANIFEST
            try:
                self._connection = _connect(path) if self._writing else _connect_for_reading(path)
            except sqlite3.OperationalError as exc:
                if self._writing:
                    raise StoreError(f"{self.folder}: cannot open the store ({exc})") from None
                raise StoreError(_unreadable(self.folder, exc)) from None
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.folder}: not a readable sweep store ({exc})") from None
        return self._connection

    def close(self) -> None:
        """Close the manifest connection, and release the writer lock if held."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._writing = False
        if self._writer_lock is not None:
            os.close(self._writer_lock)  # (closing the descriptor releases the flock)
            self._writer_lock = None

    def meta(self, key: str) -> Any:
        """A metadata value (JSON-decoded), or None."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.DatabaseError, json.JSONDecodeError, TypeError) as exc:
            raise StoreError(
                f"{self.folder}: not a readable sweep store (its {key!r}: {exc})"
            ) from None

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
        """Store a batch of outcomes, in two phases (see the module docstring).

        The chunk is written under a temporary name, the manifest marks its runs, and only
        then is the chunk renamed into place.
        """
        if not outcomes:
            return
        done = [o for o in outcomes if o.status == DONE]
        summaries = series = None
        if done:
            described = self._run_columns([o.run_id for o in done])
            summaries = pd.DataFrame([{"run_id": o.run_id, **(o.summary or {})} for o in done])
            summaries = _with_run_columns(summaries, described)
            parts = [o.timeseries.assign(run_id=o.run_id) for o in done if o.timeseries is not None]
            if parts:
                series = _with_run_columns(pd.concat(parts, ignore_index=True), described)
        finished = pd.Timestamp.now(tz="UTC").isoformat()
        rows = [(o.run_id, o.status, o.error, o.seconds, finished) for o in outcomes]
        self._commit_chunk(rows, summaries, series)

    def _run_columns(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """``run_id``, ``point``, ``replicate``, ``seed`` and the point's parameters, per run.

        Every Parquet row carries them, so that a query over ``summaries/*.parquet`` or
        ``timeseries/*.parquet`` (DuckDB, polars) needs neither the manifest nor a join.
        """
        batch = 900  # SQLite's limit on parameters of one statement is 999 in old builds
        parts = []
        for at in range(0, len(run_ids), batch):
            chosen = list(run_ids[at : at + batch])
            placeholders = ",".join("?" * len(chosen))
            parts.append(
                pd.read_sql_query(
                    "SELECT run_id, point, replicate, seed FROM runs "
                    f"WHERE run_id IN ({placeholders})",
                    self._db,
                    params=chosen,
                )
            )
        runs = pd.concat(parts, ignore_index=True)
        if self._points is None:
            stored = self.meta("points") or {"data": [], "columns": []}
            self._points = pd.DataFrame(stored["data"], columns=stored["columns"])
        points = self._points.copy()
        points.insert(0, "point", range(len(points)))
        described = runs.merge(points, on="point", how="left")
        return described.astype({"point": "int64", "replicate": "int64", "seed": "int64"})

    def _commit_chunk(
        self,
        rows: Sequence[tuple[str, str, str | None, float | None, str | None]],
        summaries: pd.DataFrame | None,
        series: pd.DataFrame | None,
    ) -> None:
        """Write one chunk and mark its runs (two phases, as :meth:`commit`).

        ``rows`` are (run_id, status, error, seconds, finished); the frames hold the done
        runs' rows, ``run_id`` first (None: no such rows).
        """
        chunk = f"part-{uuid.uuid4().hex}.parquet"
        written = []
        if summaries is not None:
            written.append(_write_temporary(summaries, self.folder / "summaries" / chunk))
        if series is not None:
            written.append(_write_temporary(series, self.folder / "timeseries" / chunk))
        digests = [
            (final.parent.name, chunk, _file_digest(temporary)) for temporary, final in written
        ]
        with self._db:  # the commit point
            self._db.execute(_DIGESTS)  # (a store made before digests gets the table)
            self._db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?)", digests)
            self._db.executemany(
                "UPDATE runs SET status = ?, error = ?, chunk = ?, seconds = ?, finished = ? "
                "WHERE run_id = ?",
                [
                    (status, error, chunk if status == DONE else None, seconds, finished, run_id)
                    for run_id, status, error, seconds, finished in rows
                ],
            )
        for temporary, final in written:
            os.replace(temporary, final)
            _fsync_folder(final.parent)

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    def runs(self) -> pd.DataFrame:
        """The manifest: one row per planned run, with its status and error."""
        try:
            return pd.read_sql_query(
                "SELECT run_id, point, replicate, seed, status, error, chunk, seconds, finished "
                "FROM runs ORDER BY point, replicate",
                self._db,
            )
        except (pd.errors.DatabaseError, sqlite3.DatabaseError) as exc:
            why = exc.__cause__ or exc  # (SQLite's own words: pandas' quote the whole query)
            raise StoreError(
                f"{self.folder}: not a readable sweep store ({MANIFEST}: {why})"
            ) from None

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
        try:
            points = pd.DataFrame(points_json["data"], columns=points_json["columns"])
        except (TypeError, KeyError, ValueError) as exc:
            raise StoreError(
                f"{self.folder}: not a readable sweep store (its design points: {exc!r})"
            ) from None
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

    def _digests(self) -> dict[tuple[str, str], str]:
        """The recorded SHA-256 of each chunk file, by (kind, chunk); empty for old stores."""
        try:
            rows = self._db.execute("SELECT kind, chunk, sha256 FROM digests").fetchall()
        except sqlite3.OperationalError:  # (a store made before digests: no such table)
            return {}
        return {(kind, chunk): digest for kind, chunk, digest in rows}

    @functools.cached_property
    def _series_expected(self) -> bool:
        """Whether the sweep keeps time series (its spec, read once: it never changes)."""
        return bool((self.meta("spec") or {}).get("timeseries", False))

    def _checked_chunk(
        self,
        kind: str,
        chunk: str,
        ids: set[str],
        digests: dict[tuple[str, str], str],
        *,
        read: bool = True,
    ) -> tuple[pd.DataFrame | None, str | None]:
        """One chunk file of done runs ``ids``, checked: ``(frame, problem)``.

        A problem (a sentence naming the file) if it is missing where it must be (summaries
        always; time series when the sweep keeps them), unreadable, not the file committed
        (its recorded SHA-256 differs: a copy over it, a flipped bit), or without a row of
        each of its runs (summaries: exactly one). Without ``read`` only presence and the
        digest are checked (or, for a store without digests, the runs' ids).
        """
        path = self.folder / kind / chunk
        recorded = digests.get((kind, chunk))
        data: bytes | None = None
        if not read and recorded is not None:  # (presence and digest only: hashed in blocks)
            present = next((p for p in (path, _temporary_name(path)) if p.is_file()), None)
        else:  # the bytes are read once, then hashed and parsed: the rows are those checked
            present, data = _chunk_bytes(path)
        if present is None:
            if kind == "summaries" or self._series_expected:
                return None, f"{path} is missing ({len(ids)} runs listed as done)"
            return None, None
        if recorded is not None:
            digest = _file_digest(present) if data is None else hashlib.sha256(data).hexdigest()
            if digest != recorded:
                return None, f"{present} is not the file committed (its SHA-256 differs)"
        if data is None:
            return None, None
        try:
            frame = _parse_chunk(present, data, None if read else ["run_id"])
        except StoreError as exc:
            return None, str(exc).split("; resume")[0]
        found = frame["run_id"] if frame is not None else pd.Series(dtype=str)
        held = found[found.isin(ids)]
        if set(held) != ids or (kind == "summaries" and held.duplicated().any()):
            return None, f"{present} does not hold the rows of the runs listed in it"
        return frame, None

    def _read(self, kind: str, wanted: set[str] | None = None) -> pd.DataFrame:
        runs = self.runs()
        done = runs[(runs["status"] == DONE) & runs["chunk"].notna()]
        if wanted is not None:
            done = done[done["run_id"].isin(wanted)]
        frames = []
        digests = self._digests()
        for chunk, ids in done.groupby("chunk")["run_id"]:
            frame, problem = self._checked_chunk(kind, str(chunk), set(ids), digests)
            if problem:
                raise StoreError(
                    f"{self.folder}: damaged: {problem}; resume the sweep (--resume) to run "
                    "its runs again, nothing is passed off as complete"
                )
            if frame is not None:  # (None: runs without time series, timeseries=False)
                # Only the rows the manifest attributes to this chunk: never an orphan's.
                frames.append(frame[frame["run_id"].isin(set(ids))])
        if not frames:
            return pd.DataFrame({"run_id": pd.Series(dtype=str)})
        columns = set().union(*(frame.columns for frame in frames))
        lacking = {
            column: sum(len(f) for f in frames if column not in f.columns)
            for column in sorted(columns)
            if any(column not in f.columns for f in frames)
        }
        if lacking:  # (chunks written before a column existed: NaN there, not 0)
            shown = ", ".join(f"{column} ({n} runs)" for column, n in lacking.items())
            warnings.warn(
                StoreWarning(
                    f"{self.folder}: some {kind} chunks have no column {shown}, written before "
                    "talentsim recorded it: those runs read NaN there (unknown, not 0); rerun "
                    "them in a new store to have it"
                ),
                stacklevel=3,
            )
        return pd.concat(frames, ignore_index=True)


def store_folder_problem(folder: str | Path) -> str | None:
    """Why a new store could not be made at ``folder`` (a message naming it), or None.

    A sweep store, or nothing (an empty folder, or a path that can be created), is fine; a
    file, a folder holding other things, or a place that cannot be written is not. The
    check ``talentsim validate`` makes of a sweep file's store, as creating the store would.
    """
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return None
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return f"{folder}: exists and is not an empty folder or a sweep store"
    problem = creation_problem(folder)
    return None if problem is None else f"{folder}: cannot create the store ({problem})"


def export_table(
    store: str | Path,
    out: str | Path,
    *,
    table: str = "summaries",
    overwrite: bool = False,
) -> int:
    """Write one tidy table of a store to ``out`` (Parquet or CSV, by its suffix).

    ``summaries``: :meth:`SweepStore.table` (one row per planned run: ``run_id``, ``point``,
    ``replicate``, ``seed``, ``status``, ``error``, the parameters, the metrics).
    ``timeseries``: one row per done run, step and place, led by the run's columns and its
    point's parameters. The file is written under a temporary name and renamed, so a
    half-written table never has the final name.

    Returns:
        The number of rows written.

    Raises:
        StoreError: for a folder that is not a store (or one that cannot be read, saying
            why), an unknown table or suffix, an ``out`` inside the store, an existing
            ``out`` without ``overwrite``, or an unwritable place.
    """
    out = Path(out)
    if table not in ("summaries", "timeseries"):
        raise StoreError(f"export: unknown table {table!r}; expected summaries or timeseries")
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise StoreError(f"{out}: expected a .parquet or .csv file name")
    if (Path(store) / MANIFEST).is_file() and _inside(out, Path(store)):  # (a store's own)
        raise StoreError(
            f"{out}: inside the store {store}, which holds only what the sweep writes (a table "
            "in summaries/ is counted again by the query over summaries/*.parquet, and "
            "deleted as unlisted when the sweep is resumed); write it beside the store, e.g. "
            f"{Path(store)}{suffix}"
        )
    if out.exists() and not overwrite:
        raise StoreError(f"{out}: exists; choose another name or pass --force to replace it")
    if out.is_dir():
        raise StoreError(f"{out}: is a folder; name a file")
    problem = None if out.exists() else creation_problem(out)
    if problem:  # (before reading the store, not after)
        raise StoreError(f"{out}: cannot be written ({problem})")
    opened = SweepStore(store)
    try:
        if table == "summaries":
            frame = opened.table()
        else:
            frame = opened.timeseries()
            if "point" not in frame.columns and len(frame):  # rows written before they
                # carried their run's columns
                described = opened._run_columns(list(frame["run_id"].unique()))
                frame = _with_run_columns(frame, described)
    finally:
        opened.close()
    temporary = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
        os.replace(temporary, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise StoreError(f"{out}: cannot write the table ({exc.strerror or exc})") from None
    return len(frame)


def merge_stores(out: str | Path, stores: Sequence[str | Path]) -> SweepStore:
    """Combine the stores of one sweep (the shards of an array job) into one store.

    Every run planned in any of the stores is planned in ``out``, once; a run done in any
    store is copied as done (from the first store that has it done), a run failed everywhere
    as failed. A done run whose chunk is missing or damaged is not copied from that store,
    with a :class:`StoreWarning` naming the file. The merged store is a store like any other:
    read it with :class:`SweepStore`, or finish what no shard did with ``talentsim sweep FILE
    --store OUT --resume``. Merging into an existing store of the same sweep adds only what
    it lacks, so an interrupted merge is simply run again.

    Args:
        out: The merged store's folder (new, empty, or a store of the same sweep).
        stores: The stores to merge, all of the same sweep.

    Returns:
        The merged store, opened for reading (the merge's writer lock is released).

    Raises:
        StoreError: if a store cannot be opened, the stores hold different sweeps (or one
            sweep whose design drew other points in one of them), ``out`` is one of them or
            holds something else, or another process is writing ``out``.
    """
    out = Path(out)
    folders = list(dict.fromkeys(Path(s) for s in stores))
    if not folders:
        raise StoreError("store merge: name at least one store to merge")
    if any(_same_folder(out, f) for f in folders):
        raise StoreError(f"{out}: the merged store must be a new folder, not one of the stores")
    opened = [SweepStore(f) for f in folders]
    try:
        first = opened[0]
        spec = first.meta("spec")
        if spec is None:
            raise StoreError(f"{first.folder}: not a complete sweep store (no sweep recorded)")
        for other in opened[1:]:
            stored = other.meta("spec")
            if _normalised(stored) != _normalised(spec):
                raise StoreError(
                    f"{other.folder}: holds a different sweep from {first.folder} "
                    f"({_first_difference(_normalised(spec), _normalised(stored))}); only "
                    "stores of one sweep (shards of it) can be merged"
                )
            points = other.meta("points")
            difference = None if points is None else first._points_difference(points)
            if difference:
                raise StoreError(
                    f"{other.folder}: its design drew other points than {first.folder}'s "
                    f"({difference}), though the sweep is described the same (the design's "
                    "sampler, SciPy or SALib, changed between them); only stores of one "
                    "design can be merged"
                )
        manifests = [s.runs() for s in opened]
        planned = pd.concat(manifests).drop_duplicates("run_id")
        meta = {
            key: first.meta(key)
            for key in ("versions", "points", "problem")
            if first.meta(key) is not None
        }
        runs = [
            PlannedRun(r.run_id, int(r.point), int(r.replicate), int(r.seed))
            for r in planned.itertuples()
        ]
        merged = SweepStore.create(out, _normalised(spec), resume=True, meta=meta, runs=runs)
        try:
            taken = {k for k, v in merged.statuses().items() if v == DONE}
            for source, manifest in zip(opened, manifests, strict=True):
                taken |= _copy_done_runs(source, manifest, merged, taken)
            failed = pd.concat(m[m["status"] == FAILED] for m in manifests)
            failed = failed[~failed["run_id"].isin(taken)].drop_duplicates("run_id")
            if len(failed):
                merged._commit_chunk(
                    [
                        (r.run_id, FAILED, r.error, r.seconds, r.finished)
                        for r in failed.itertuples()
                    ],
                    None,
                    None,
                )
        finally:
            merged.close()  # (the writer lock too: what is returned only reads)
        return SweepStore(out)
    finally:
        for store in opened:
            store.close()


def _copy_done_runs(
    source: SweepStore, manifest: pd.DataFrame, merged: SweepStore, taken: set[str]
) -> set[str]:
    """Copy the done runs of ``source`` not yet ``taken``, chunk by chunk; their ids."""
    done = manifest[(manifest["status"] == DONE) & ~manifest["run_id"].isin(taken)]
    copied: set[str] = set()
    digests = source._digests()
    for chunk, runs in done.groupby("chunk"):
        ids = set(runs["run_id"])
        frames = []
        for kind in ("summaries", "timeseries"):
            frame, problem = source._checked_chunk(kind, str(chunk), ids, digests)
            if problem:  # a lost or damaged chunk: its runs stay pending, done on resume
                warnings.warn(
                    StoreWarning(
                        f"{source.folder}: damaged: {problem}; its {len(ids)} runs are not "
                        f"copied from it (pending in {merged.folder} unless another store "
                        "has them done: finish them with talentsim sweep FILE --store "
                        f"{merged.folder} --resume)"
                    ),
                    stacklevel=3,
                )
                break
            frames.append(None if frame is None else frame[frame["run_id"].isin(ids)])
        else:
            summaries, series = frames
            assert summaries is not None
            rows = [(r.run_id, DONE, None, r.seconds, r.finished) for r in runs.itertuples()]
            merged._commit_chunk(rows, summaries.reset_index(drop=True), series)
            copied |= ids
    return copied


POINTS_DIGEST = "points_sha256"
"""The meta key of the design's points' SHA-256 (:func:`points_digest`)."""


def points_digest(points: Any) -> str:
    """The SHA-256 (hex) of a design's points as a store keeps them (meta ``points``).

    Of their JSON with sorted keys and no spaces, so the same values give the same digest.
    A resume or a merge whose design drew other points under the same description (another
    SciPy or SALib drawing other LHS or Sobol points for the same seed) is refused by it.
    """
    text = json.dumps(points, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _points_difference(stored: Any, now: Any) -> str:
    """Where two designs' points (``{"columns", "data", ...}``) differ, for a message."""
    try:
        columns, rows, new_rows = stored["columns"], stored["data"], now["data"]
        if columns != now["columns"]:
            return f"the parameters: stored {_short(columns)}, now {_short(now['columns'])}"
    except (TypeError, KeyError):
        return _first_difference(stored, now, "the points")
    if len(rows) != len(new_rows):
        return f"stored {len(rows)} points, now {len(new_rows)}"
    differing = [k for k, (a, b) in enumerate(zip(rows, new_rows, strict=True)) if a != b]
    if not differing:
        return _first_difference(stored, now, "the points")
    first = differing[0]
    values = "; ".join(
        f"{column} stored {_short(a)}, now {_short(b)}"
        for column, a, b in zip(columns, rows[first], new_rows[first], strict=False)
        if a != b
    )
    return f"{len(differing)} of {len(rows)} points differ; point {first}: {values}"


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` (both resolved; False if either cannot be)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


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
    # the run's columns repeated in each Parquet row are already in the table
    summaries = summaries.drop(columns=[c for c in summaries.columns if c in table.columns[1:]])
    if "run_id" in summaries.columns and len(summaries.columns) > 1:
        table = table.merge(summaries, on="run_id", how="left")
    table = table.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)
    table["seed"] = table["seed"].astype("int64")
    return table


RUN_COLUMNS = ("run_id", "point", "replicate", "seed")
"""The columns that open every Parquet row of a store, before the point's parameters."""


def _with_run_columns(frame: pd.DataFrame, described: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``run_id``) led by the run's columns and its point's parameters."""
    extra = [c for c in described.columns if c != "run_id"]
    rest = [c for c in frame.columns if c not in described.columns]
    return frame[["run_id", *rest]].merge(described, on="run_id", how="left")[
        ["run_id", *extra, *rest]
    ]


def _connect(path: Path) -> sqlite3.Connection:
    """A connection that writes the manifest (WAL mode, each commit flushed to disk)."""
    connection = sqlite3.connect(path, timeout=60.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def _connect_for_reading(path: Path) -> sqlite3.Connection:
    """A connection that reads the manifest at ``path`` and changes nothing in it.

    It sets no journal mode (which would write the file). A manifest in WAL mode (any store a
    sweep has written) needs a ``-shm`` file beside it, which a folder that cannot be written
    (a finished store shared read-only, a read-only mount) does not allow: then it is opened
    read-only (``mode=ro``), and else as an immutable file (``immutable=1``), unless a
    ``-wal`` or ``-journal`` file beside it holds changes the manifest does not (a writer
    killed mid-way), which an immutable read would not see.

    Raises:
        sqlite3.OperationalError: the last attempt's, if none can read the manifest.
        sqlite3.DatabaseError: for a file that is not a database.
    """
    attempts = ["", "mode=ro"]
    if not _pending_changes(path):
        attempts.append("immutable=1")
    for query in attempts:
        # (as a URI: an absolute path, percent-encoded)
        target = f"{path.resolve().as_uri()}?{query}" if query else path
        connection = sqlite3.connect(target, timeout=60.0, uri=bool(query))
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            connection.close()
            error = exc
            continue
        except BaseException:
            connection.close()
            raise
        return connection
    raise error


def _pending_changes(manifest: Path) -> list[Path]:
    """The ``-wal`` and ``-journal`` files beside ``manifest`` that hold changes not in it."""
    beside = [manifest.with_name(f"{manifest.name}-{end}") for end in ("wal", "journal")]
    return [p for p in beside if p.is_file() and p.stat().st_size > 0]


def _unreadable(folder: Path, exc: Exception) -> str:
    """Why a store's manifest cannot be read, and what to do (:func:`_connect_for_reading`)."""
    pending = _pending_changes(folder / MANIFEST)
    if pending:
        return (
            f"{folder}: cannot read the store ({exc}): {pending[0].name} holds changes not yet in "
            f"{MANIFEST} (a sweep was killed while writing), which SQLite reads only where it "
            "can write beside the manifest; copy the store to a folder you can write (or make "
            "this one writable) and read it there"
        )
    return f"{folder}: cannot read the store's {MANIFEST} ({exc}); check that it can be read"


_DIGESTS = (
    "CREATE TABLE IF NOT EXISTS digests "
    "(kind TEXT NOT NULL, chunk TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (kind, chunk))"
)
"""Each chunk file's SHA-256, recorded when it is committed (stores made before it lack it)."""

_SCHEMA = f"""
{_DIGESTS};
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, point INTEGER NOT NULL,
    replicate INTEGER NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT, chunk TEXT, seconds REAL, finished TEXT
);
"""


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _write_temporary(frame: pd.DataFrame, path: Path) -> tuple[Path, Path]:
    """Write ``frame`` beside ``path`` under a hidden temporary name, flushed to disk."""
    temporary = _temporary_name(path)
    frame.to_parquet(temporary, index=False)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    return temporary, path


def _chunk_bytes(path: Path) -> tuple[Path | None, bytes | None]:
    """A chunk's file and bytes: ``(None, None)`` if it exists neither renamed nor temporary.

    (A writer killed before the rename leaves it temporary.)

    Raises:
        StoreError: for a chunk that cannot be read (naming it).
    """
    for candidate in (path, _temporary_name(path), path):  # the rename may happen meanwhile
        try:
            return candidate, candidate.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(
                f"{candidate}: damaged store file, not readable ({exc}); resume the sweep "
                "(--resume) to run its runs again"
            ) from None
    return None, None


def _parse_chunk(path: Path, data: bytes, columns: list[str] | None) -> pd.DataFrame:
    """The rows of chunk file ``path`` from its ``data``.

    Raises:
        StoreError: for bytes that are not readable Parquet (a damaged store).
    """
    try:
        return pd.read_parquet(io.BytesIO(data), columns=columns)
    except (OSError, ValueError) as exc:  # (pyarrow's ArrowInvalid is a ValueError)
        raise StoreError(
            f"{path}: damaged store file, not readable Parquet ({exc}); resume the "
            "sweep (--resume) to run its runs again"
        ) from None


def _file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


_MANIFEST_FILES = {MANIFEST, f"{MANIFEST}-wal", f"{MANIFEST}-shm", f"{MANIFEST}-journal"}


def _unfinished_creation(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest without its sweep, and nothing else of value."""
    try:
        connection = sqlite3.connect(folder / MANIFEST, timeout=60.0)
        try:
            row = connection.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        finally:
            connection.close()
        if row is not None:
            return False
    except sqlite3.OperationalError:
        pass  # no meta table
    except sqlite3.DatabaseError:
        return False  # not a database: refused as a store, not ours to delete
    for path in folder.iterdir():
        empty_folder = path.is_dir() and not any(path.iterdir())
        if path.name not in _MANIFEST_FILES and not empty_folder:
            return False
    return True


def _clear_unfinished_creation(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()


def _remove_abandoned_builds(folder: Path) -> None:
    """Remove hidden half-built copies of ``folder`` whose creating process is gone."""
    for leftover in folder.parent.glob(f".{folder.name}.creating-*"):
        pid = leftover.name.rsplit(".creating-", 1)[1].split("-")[0]
        if not ascii_digits(pid) or not _process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # (exists, owned by someone else)
    return True


def _first_difference(stored: Any, spec: Any, path: str = "") -> str:
    """Where two sweep descriptions first differ, down through mappings and lists.

    So the message shows the differing values, not the start of a long list cut short.
    """
    if isinstance(stored, dict) and isinstance(spec, dict):
        for key in sorted(set(stored) | set(spec)):
            if stored.get(key) != spec.get(key):
                return _first_difference(stored.get(key), spec.get(key), f"{path}.{key}".strip("."))
    if isinstance(stored, list) and isinstance(spec, list) and len(stored) == len(spec):
        for k, (a, b) in enumerate(zip(stored, spec, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{k}]")
    return f"{path or 'the sweep'} differs: stored {_short(stored)}, now {_short(spec)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) < 80 else text[:77] + "..."
