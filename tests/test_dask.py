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
