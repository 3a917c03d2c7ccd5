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


def test_batch_run_takes_a_scenario_object_as_one_value() -> None:
    scenario = ts.load_scenario(FLAGSHIP)
    rows = mesa.batch_run(
        ts.TalentModel,
        parameters={"scenario": scenario, "labs.MSL.pay_level": [2.0, 4.0]},
        rng=[1],
        max_steps=3,
        number_processes=1,
        display_progress=False,
    )
    table = pd.DataFrame(rows)
    assert len(table) == 2  # one run per pay level (the last step), not one per field
    assert set(table["labs.MSL.pay_level"]) == {2.0, 4.0} and (table["Step"] == 3).all()


def test_common_reporters_work_on_both_agent_types() -> None:
    model = ts.TalentModel(FLAGSHIP, seed=3)
    collector = mesa.DataCollector(agent_reporters={"lab": "lab"})
    collector.collect(model)
    frame = collector.get_agent_vars_dataframe()
    labs = {agent.unique_id for agent in model.agents if isinstance(agent, ts.model.Lab)}
    assert len(frame) == len(list(model.agents))
    on_labs = frame[frame.index.get_level_values("AgentID").isin(labs)]["lab"]
    assert sorted(on_labs) == sorted(model.spec.lab_names)


def test_researcher_number_matches_the_events_table() -> None:
    model = ts.TalentModel(FLAGSHIP, seed=3)
    model.step()
    researchers = [a for a in model.agents if isinstance(a, ts.model.Researcher)]
    n_labs = len(model.spec.lab_names)
    assert all(a.unique_id == a.researcher + n_labs + 1 for a in researchers)
    result = ts.RunResult.from_model(model)
    last_move = result.events.groupby("researcher")["destination"].last().astype(str)
    assert len(last_move) > 0
    by_number = {a.researcher: a for a in researchers}
    for number, destination in last_move.items():
        if destination != "gone":
            assert by_number[int(number)].lab == destination
