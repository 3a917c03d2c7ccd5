"""The glossary's definitions hold: the tables' counts relate as it says, on every scenario."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import talentsim as ts
from talentsim.cli import main
from talentsim.glossary import GLOSSARY, glossary_markdown, metric_bounds
from talentsim.model import FLOWS, MOVE_KINDS

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_every_table_word_is_defined() -> None:
    result = ts.run(ts.load_scenario(SCENARIOS[0]), seed=0, steps=2)
    summary_families = {key.partition(".")[0] for key in result.summary()}
    summary_families -= {"scenario", "seed", "steps", "years", "headcount_start", "headcount_end"}
    words = set(MOVE_KINDS) | set(FLOWS) | summary_families | {"headcount", "departures"}
    assert not words - set(GLOSSARY), f"undefined: {sorted(words - set(GLOSSARY))}"


def test_every_summary_metric_has_its_bounds_and_keeps_to_them() -> None:
    # a sweep's summary cuts intervals at these bounds, so a count left unclassified would
    # keep an interval below 0, and a metric put in the wrong family would cut a true value
    unbounded = {"net_flow"}  # (hires − departures: negative for a lab that shrinks)
    for path in SCENARIOS:
        summary = ts.run(ts.load_scenario(path), seed=1).summary()
        for key, value in summary.items():
            if key in ("scenario", "seed", "steps", "years"):
                continue
            low, high = metric_bounds(key)
            family = key.partition(".")[0]
            assert (low, high) == (-float("inf"), float("inf")) or family not in unbounded
            assert family in unbounded or (low, high) != (-float("inf"), float("inf")), key
            assert value != value or low <= value <= high, (path.name, key, value)


def test_every_flow_of_a_lab_is_a_count() -> None:
    from talentsim.glossary import COUNTS
    from talentsim.results import LAB_FLOWS

    assert set(LAB_FLOWS) <= COUNTS


def test_docs_glossary_is_generated_from_the_module() -> None:
    text = (ROOT / "docs" / "glossary.md").read_text()
    assert text.endswith(glossary_markdown())


def test_cli_prints_the_glossary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["glossary"]) == 0
    printed = capsys.readouterr().out
    assert all(term in printed for term in GLOSSARY)
    assert printed.startswith("Two words count different things in two tables")
    with pytest.raises(SystemExit):
        main(["--help"])
    helped = capsys.readouterr().out
    # the help names the words and where they are defined, without the ~100 lines of it
    assert "blocked_by_capacity" in helped and "'talentsim glossary'" in helped
    assert len(helped.splitlines()) < 50


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
@pytest.mark.parametrize("seed", [0, 1])
def test_counts_agree_between_tables_as_the_glossary_says(path: Path, seed: int) -> None:
    result = ts.run(ts.load_scenario(path), seed=seed)
    ev, t = result.events, result.timeseries
    labs = result.scenario.lab_names
    flows = t[t["step"] > 0].groupby("lab", observed=True)[list(FLOWS)].sum()
    summary = result.summary()
    to_lab, from_lab = ev["destination"].isin(labs), ev["origin"].isin(labs)

    def count(mask: pd.Series, side: str, lab: str) -> int:
        return int((mask & (ev[side] == lab)).sum())

    for lab in labs:
        # quits: every lab-to-lab departure, returns included; events' `quit` excludes returns
        assert flows.loc[lab, "quits"] == count(from_lab & to_lab, "origin", lab)
        assert flows.loc[lab, "quits"] == count(ev["kind"] == "quit", "origin", lab) + count(
            (ev["kind"] == "return") & to_lab, "origin", lab
        )
        # hires: every arrival; events' `hire` is an arrival from the pool, not a return
        arrivals = ev["kind"].isin(["hire", "quit", "return"])
        assert flows.loc[lab, "hires"] == count(arrivals, "destination", lab)
        assert flows.loc[lab, "returns"] == count(ev["kind"] == "return", "destination", lab)
        for kind, flow in (("exit", "exits"), ("separation", "separations")):
            assert flows.loc[lab, flow] == count(ev["kind"] == kind, "origin", lab)
        assert summary[f"quits.{lab}"] == flows.loc[lab, "quits"]
        departures = result.departures(lab)
        assert len(departures) == flows.loc[lab, ["quits", "exits", "separations"]].sum()
    assert summary["boomerangs"] == int((ev["kind"] == "return").sum())
    assert summary["moves"] == int(ev["kind"].isin(["hire", "quit", "return", "exit"]).sum())
