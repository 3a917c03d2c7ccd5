"""Sweeps on a Dask cluster: the same results as locally, through the executor seam.

The test starts a ``dask.distributed.LocalCluster`` with two worker processes (its dashboard
on a free port; nothing downloaded) and passes ``Client.get_executor()`` to ``ts.sweep``,
which is how users run on a cluster (or, with dask-jobqueue, on SLURM/PBS).
"""

from __future__ import annotations

import pandas as pd
import pytest

import talentsim as ts
from tests.conftest import small_scenario_dict

distributed = pytest.importorskip("distributed")

PARAMS = {"labs.A.pay_level": [1.5, 3.0], "market.switching_cost": [0.0, 1.0]}
METRICS = ["attrition.A", "quits.A"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


def test_a_dask_cluster_gives_the_same_table_as_local_runs(client, tmp_path) -> None:
    scenario = ts.Scenario.from_dict(small_scenario_dict())
    kwargs = {"replicates": 3, "metrics": METRICS, "progress": False}
    local = ts.sweep(scenario, PARAMS, workers=1, **kwargs)
    remote = ts.sweep(
        scenario, PARAMS, executor=client.get_executor(), store=tmp_path / "store", **kwargs
    )
    assert set(client.scheduler_info()["workers"]) and len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(remote[local.columns], local, check_dtype=False)
    assert len(ts.SweepStore(tmp_path / "store").timeseries()["run_id"].unique()) == len(local)


def test_the_cli_runs_a_sweep_on_a_scheduler_address(client, tmp_path, capsys) -> None:
    from talentsim.cli import main
    from tests.conftest import FLAGSHIP

    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(
        f'[sweep]\nscenario = "{FLAGSHIP.as_posix()}"\nreplicates = 2\n'
        'metrics = ["attrition.MSL"]\n[sweep.parameters]\n"labs.MSL.pay_level" = [2.5, 5.0]\n',
        encoding="utf-8",
    )
    address = client.scheduler.address
    code = main(["sweep", str(sweep_file), "--dask", address, "--store", str(tmp_path / "s")])
    assert code == 0, capsys.readouterr().err
    assert "4 runs (4 done, 0 failed)" in capsys.readouterr().out


def test_workers_import_the_modules_of_import(client, monkeypatch) -> None:
    # `talentsim --import MODULE ... --dask ADDRESS`: the cluster's workers import the module
    # too (before, only the local worker pool did, and every run on Dask failed for want of
    # the terms); a module the workers cannot import is a clear error, not failed runs
    import sys

    from talentsim import terms
    from talentsim.experiments import connect_dask

    address = client.scheduler.address
    monkeypatch.setattr(terms, "IMPORTED", ["tabnanny"])  # (a module nothing else imports)
    assert not any(client.run(lambda: "tabnanny" in sys.modules).values())
    with connect_dask(address, "--dask") as connected:
        assert all(connected.run(lambda: "tabnanny" in sys.modules).values())
    monkeypatch.setattr(terms, "IMPORTED", ["no_such_terms_module"])
    with pytest.raises(ts.ScenarioError) as caught:
        connect_dask(address, "--dask")
    assert str(caught.value).startswith(f"--dask {address}: the cluster's workers cannot import")
    assert "module 'no_such_terms_module': ModuleNotFoundError" in str(caught.value)
    assert "install them where the workers run" in str(caught.value)


@pytest.mark.slow  # (the workers compile the step with the module's term: about a minute)
def test_the_command_line_sweeps_terms_of_one_s_own_on_a_dask_cluster(
    tmp_path, monkeypatch
) -> None:
    from tests.conftest import talentsim_cli
    from tests.test_terms import store_of, write_module_of_terms

    write_module_of_terms(tmp_path)
    monkeypatch.chdir(tmp_path)  # (the workers start here: my_terms.py is on their path)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        swept = talentsim_cli(
            "--import", "my_terms", "sweep", "sweep.toml", "--dask", cluster.scheduler_address,
            "--quiet", cwd=tmp_path, timeout=900,
        )  # fmt: skip
    finally:
        cluster.close()
    assert swept.returncode == 0, swept.stderr
    table = ts.SweepStore(store_of(tmp_path)).runs()
    assert (table["status"] == "done").all() and len(table) == 4


def test_a_sweep_counts_the_cluster_s_threads_as_its_slots(client) -> None:
    # runs in flight are sized from the cluster (2 workers of 1 thread here), not the cores
    # of the machine that drives it
    from talentsim.experiments import executor_slots

    executor = client.get_executor()
    assert executor_slots(executor) == sum(client.nthreads().values()) == 2
