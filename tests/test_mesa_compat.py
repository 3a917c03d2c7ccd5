"""talentsim works unchanged with Mesa's own tools."""

from __future__ import annotations

import mesa
import pandas as pd

import talentsim as ts
from tests.conftest import FLAGSHIP


def test_batch_run_returns_rows_with_lab_headcounts() -> None:
    rows = mesa.batch_run(
        ts.TalentModel,
        parameters={"scenario": str(FLAGSHIP), "labs.MSL.pay_level": [2.0, 4.0]},
        rng=[1, 2],
        max_steps=10,
        data_collection_period=1,
        number_processes=1,
        display_progress=False,
    )
    table = pd.DataFrame(rows)
    assert set(table["labs.MSL.pay_level"]) == {2.0, 4.0}
    assert len(table) == 2 * 2 * 11  # 2 values x 2 seeds x (initial + 10 steps)
    for lab in ("MSL", "Rival", "Frontier", "outside"):
        assert f"headcount_{lab}" in table.columns
    first = table[table["Step"] == 0]
    assert (first["headcount_MSL"] == 44).all()
    total = table[[f"headcount_{lab}" for lab in ("MSL", "Rival", "Frontier", "outside")]].sum(
        axis=1
    )
    assert (total > 500).all()


def test_batch_run_with_integer_rng_is_reproducible() -> None:
    def once() -> pd.DataFrame:
        return pd.DataFrame(
            mesa.batch_run(
                ts.TalentModel,
                parameters={"scenario": str(FLAGSHIP)},
                rng=[5, 6],
                max_steps=5,
                number_processes=1,
                display_progress=False,
            )
        )

    pd.testing.assert_frame_equal(once(), once())


def test_datacollector_matches_timeseries() -> None:
    model = ts.TalentModel(FLAGSHIP, seed=3)
    model.run(steps=12)
    frame = model.datacollector.get_model_vars_dataframe()
    res = ts.RunResult.from_model(model)
    msl = res.timeseries[res.timeseries["lab"] == "MSL"]["headcount"].to_numpy()
    assert list(frame["headcount_MSL"]) == list(msl)


def test_mesa_scenario_attribute_is_mesas_own() -> None:
    from mesa.experimental.scenarios import Scenario as MesaScenario

    model = ts.TalentModel(FLAGSHIP, seed=3)
    assert isinstance(model.scenario, MesaScenario)
    assert isinstance(model.spec, ts.Scenario)


def test_many_labs_use_one_dict_column() -> None:
    from talentsim.builders import job_ladder

    scenario = job_ladder(
        [1.0 + j / 100 for j in range(100)],
        researchers=200,
        offer_rate_outside=4,
        offer_rate_employed=2,
        separation_rate=0.5,
        duration_years=0.2,
    )
    model = ts.TalentModel(scenario, seed=1)
    model.run()
    frame = model.datacollector.get_model_vars_dataframe()
    assert list(frame.columns) == ["time_years", "headcounts"]
    assert sum(frame["headcounts"].iloc[-1].values()) == 200
