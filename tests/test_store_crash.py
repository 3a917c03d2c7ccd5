"""Sweeps killed with SIGKILL at exact moments of writing their store, then resumed.

A real ``talentsim sweep`` runs in a child process whose store module kills the process
(SIGKILL: no cleanup, no ``finally``) just before its k-th write operation: a folder made or
renamed, a file flushed, a chunk written, a manifest statement. Sweeping k over every write
of a sweep covers its creation, its first chunk and every later commit. Each killed sweep is
then resumed with the plain command line, and must end with every run exactly once, in the
manifest and in ``summaries/*.parquet`` read directly.
"""

from __future__ import annotations

import glob
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from talentsim.cli import main
from talentsim.store import SweepStore
from tests.conftest import FLAGSHIP, ROOT

SWEEP = f"""
[sweep]
scenario = "{FLAGSHIP.as_posix()}"
overrides = {{ "time.duration" = "8w" }}
replicates = 2
metrics = ["attrition.MSL"]
chunk_runs = 2

[sweep.parameters]
"labs.MSL.pay_level" = [2.5, 5.0, 7.5]
"""
TOTAL = 3 * 2

# Runs the command line with the store's writes counted; kills itself before write number K
# (K = 0: never) and prints the number of writes made when it was not killed.
HARNESS = r"""
import os, signal, sqlite3, sys, types
import talentsim.store as store

# K is a number (kill before the K-th write) or LABEL@N (before the N-th write so labelled).
kill_at, writes = sys.argv[1], []

def write(label):
    writes.append(label)
    if kill_at == str(len(writes)) or kill_at == f"{label}@{writes.count(label)}":
        os.kill(os.getpid(), signal.SIGKILL)

def counted(function, label):
    def wrapper(*args, **kwargs):
        write(label)
        return function(*args, **kwargs)
    return wrapper

class Connection(sqlite3.Connection):
    def execute(self, *args):
        write("execute")
        return super().execute(*args)
    def executemany(self, *args):
        write("executemany")
        return super().executemany(*args)
    def executescript(self, *args):
        write("executescript")
        return super().executescript(*args)
    def __exit__(self, *args):
        write("transaction")
        return super().__exit__(*args)

original_connect = sqlite3.connect
store.sqlite3 = types.SimpleNamespace(
    **{name: getattr(sqlite3, name) for name in dir(sqlite3) if not name.startswith("__")}
)
store.sqlite3.connect = lambda path, **kw: original_connect(path, factory=Connection, **kw)
store.os = types.SimpleNamespace(
    **{name: getattr(os, name) for name in dir(os) if not name.startswith("__")}
)
for name in ("replace", "rename", "fsync", "mkdir"):
    setattr(store.os, name, counted(getattr(os, name), name))
store._write_temporary = counted(store._write_temporary, "chunk")
store.shutil.rmtree = counted(store.shutil.rmtree, "rmtree")
from pathlib import Path
Path.mkdir = counted(Path.mkdir, "mkdir")
Path.unlink = counted(Path.unlink, "unlink")

from talentsim.cli import main
code = main(sys.argv[2:])
print("writes", " ".join(writes))
sys.exit(code)
"""


def _sweep(tmp_path: Path, kill_at: int | str, *extra: str) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP, encoding="utf-8")
    command = [sys.executable, "-c", HARNESS, str(kill_at), "sweep", str(path)]
    command += ["--store", str(tmp_path / "store"), "--workers", "1", "--quiet", *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _writes_of_a_whole_sweep(tmp_path: Path) -> list[str]:
    """What a whole sweep writes, in order (kill at number k to kill before the k-th)."""
    whole = _sweep(tmp_path, 0)
    assert whole.returncode == 0, whole.stderr
    _assert_every_run_once(tmp_path)
    return whole.stdout.split("writes")[-1].split()


def _assert_every_run_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runs = SweepStore(store).runs()
    assert len(runs) == TOTAL and (runs["status"] == "done").all()
    assert SweepStore(store).summaries()["run_id"].sort_values().tolist() == sorted(runs["run_id"])
    # The natural query, over the files alone: every run exactly once.
    files = glob.glob(str(store / "summaries" / "*.parquet"))
    direct = pd.concat([pd.read_parquet(f) for f in files])["run_id"]
    assert direct.is_unique and set(direct) == set(runs["run_id"])
    series = pd.concat(pd.read_parquet(f) for f in glob.glob(str(store / "timeseries/*.parquet")))
    assert set(series["run_id"]) == set(runs["run_id"])
    assert not series.duplicated(["run_id", "step", "lab"]).any()
    leftovers = [p.name for p in store.rglob(".*")] + [p.name for p in tmp_path.glob(".store*")]
    assert not leftovers, leftovers


def _kill_and_resume(tmp_path: Path, kill_at: int | str) -> None:
    killed = _sweep(tmp_path, kill_at)
    assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stdout, killed.stderr)
    _resume(tmp_path)


def _resume(tmp_path: Path) -> None:
    """The plain command line, in this process."""
    command = ["sweep", str(tmp_path / "sweep.toml"), "--store", str(tmp_path / "store")]
    assert main([*command, "--workers", "1", "--quiet", "--resume"]) == 0
    _assert_every_run_once(tmp_path)


@pytest.mark.parametrize(
    "kill_at",
    ["rename@1", "replace@1"],
    ids=["creating-the-store", "first-chunk-committed-not-renamed"],
)
def test_a_sweep_killed_while_creating_its_store_or_its_first_chunk_resumes(
    tmp_path: Path, kill_at: str
) -> None:
    # Just before the built store is renamed into place; just after the manifest says the
    # first chunk's runs are done, before the chunk has its final name.
    _kill_and_resume(tmp_path, kill_at)


@pytest.mark.slow
def test_a_sweep_killed_at_every_write_resumes_to_every_run_once(tmp_path: Path) -> None:
    writes = _writes_of_a_whole_sweep(tmp_path / "whole")
    assert {"rename", "chunk", "transaction", "replace"} <= set(writes), writes
    for kill_at in range(1, len(writes) + 1):
        _kill_and_resume(tmp_path / f"k{kill_at}", kill_at)


@pytest.mark.slow
def test_a_resume_killed_while_recovering_resumes_again(tmp_path: Path) -> None:
    # Killed after the first chunk's commit point, then the resume killed at each of its own
    # first writes (recovery included): the next resume still ends with every run once.
    for k in range(1, 8):
        case = tmp_path / f"k{k}"
        killed = _sweep(case, "replace@1")
        assert killed.returncode == -signal.SIGKILL
        again = _sweep(case, k, "--resume")
        assert again.returncode == -signal.SIGKILL, again.stderr
        _resume(case)


def test_a_half_built_store_of_an_older_version_is_completed(tmp_path: Path) -> None:
    # Older versions created the manifest in place: a kill could leave one without tables.
    store = tmp_path / "store"
    (store / "summaries").mkdir(parents=True)
    sqlite3.connect(store / "manifest.sqlite").close()
    (tmp_path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    _resume(tmp_path)


def _store_spec(tmp_path: Path) -> tuple[Path, dict, list]:
    from talentsim.store import PlannedRun

    folder = tmp_path / "store"
    spec = {"talentsim_sweep": 1, "what": "lock test"}
    runs = [PlannedRun(f"r{k}", 0, k, k) for k in range(3)]
    return folder, spec, runs


def test_a_second_writer_is_refused_while_the_first_holds_the_store(tmp_path: Path) -> None:
    from talentsim.store import StoreError

    folder, spec, runs = _store_spec(tmp_path)
    first = SweepStore.create(folder, spec, resume=False, runs=runs)
    with pytest.raises(StoreError, match=r"another sweep is writing to this store \(process"):
        SweepStore.create(folder, spec, resume=True, runs=runs)
    # reading takes no lock
    assert len(SweepStore(folder).runs()) == 3
    first.close()
    again = SweepStore.create(folder, spec, resume=True, runs=runs)  # released on close
    again.close()


def test_a_killed_writer_leaves_no_lock(tmp_path: Path) -> None:
    folder, spec, runs = _store_spec(tmp_path)
    SweepStore.create(folder, spec, resume=False, runs=runs).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from talentsim.store import SweepStore; "
            f"s = SweepStore.create({str(folder)!r}, {spec!r}, resume=True); "
            "print('locked', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        from talentsim.store import StoreError

        with pytest.raises(StoreError, match=f"another sweep is writing.*process {holder.pid}"):
            SweepStore.create(folder, spec, resume=True)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    SweepStore.create(folder, spec, resume=True).close()  # the lock went with the process


def test_the_command_line_refuses_a_second_sweep_into_a_store_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    store = tmp_path / "store"
    command = ["sweep", str(tmp_path / "sweep.toml"), "--store", str(store), "--quiet"]
    assert main([*command, "--workers", "1"]) == 0
    spec = SweepStore(store).meta("spec")
    holder = SweepStore.create(store, spec, resume=True)
    try:
        code = main([*command, "--workers", "1", "--resume"])
        err = capsys.readouterr().err
        assert code != 0 and "another sweep is writing to this store" in err, err
        assert "Traceback" not in err
    finally:
        holder.close()
    assert main([*command, "--workers", "1", "--resume"]) == 0


def test_a_file_system_without_locks_gets_a_warning_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import talentsim.store as store_module

    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store_module.fcntl, "flock", refuse)
    folder, spec, runs = _store_spec(tmp_path)
    with pytest.warns(store_module.StoreLockWarning, match="No locks available"):
        written = SweepStore.create(folder, spec, resume=False, runs=runs)
    written.close()
    assert len(SweepStore(folder).runs()) == 3
