"""What each word of talentsim's tables means: one definition per term, in one place.

The same words appear in the events table (a row per move, its ``kind``), the time series (a
row per lab and step, its flow columns) and :meth:`RunResult.summary` (totals per lab). They
count different things in two places, which :data:`GLOSSARY` states and
``tests/test_glossary.py`` checks on every shipped scenario:

- the time series' ``quits`` of a lab counts **every** move from it to another lab, returns
  to a former lab included; the events table's kind ``quit`` is a lab-to-lab move that is
  not a return (such a move has kind ``return``);
- the time series' ``hires`` of a lab counts **every** arrival from a lab or the pool, returns
  included; the events table's kind ``hire`` is an arrival from the pool that is not a
  return.

The glossary is printed by ``talentsim --help`` and ``talentsim glossary`` and is the table of
``docs/glossary.md`` (generated from here; a test keeps them equal).
"""

from __future__ import annotations

import textwrap

# printed before the terms by ``talentsim glossary``; docs/glossary.md says it in Markdown
TWO_WORDS = (
    "Two words count different things in two tables, by design: the time series' `quits` of "
    "a lab count every move from it to another lab, returns to a former lab included, while "
    "the events' kind `quit` is the lab-to-lab moves that are not returns; the time series' "
    "`hires` of a lab count every arrival from a lab or the pool, while the events' kind "
    "`hire` is an arrival from the pool that is not a return."
)

GLOSSARY: dict[str, str] = {
    # ---- the events table's kinds (column `kind`) ----
    "entry": "events kind: a new researcher enters the outside pool (origin 'gone').",
    "hire": "events kind: a move from the outside pool to a lab that is not a return.",
    "quit": "events kind: a move from one lab to another that is not a return to a former "
    "lab. (The time series' `quits` also count returns: see `quits`.)",
    "return": "events kind: a move back to the researcher's former lab (a boomerang), from "
    "another lab or from the pool.",
    "exit": "events kind: a voluntary move from a lab to the outside pool (startups, "
    "academia), taken because the outside opportunity was better.",
    "separation": "events kind: an involuntary move from a lab to the outside pool (layoff, "
    "contract end), at the scenario's separation rate; no choice, so no gains.",
    "retirement": "events kind: a researcher leaves the field for good (destination 'gone').",
    # ---- the time series' and summary's flows (per lab and step, or totals) ----
    "headcount": "researchers at a lab (or in the pool) at the end of a step; step 0 is the start.",
    "hires": "arrivals at a lab from anywhere (events kinds hire, quit and return with that "
    "destination).",
    "quits": "departures from a lab to another lab, returns to a former lab included (events "
    "kinds quit and return with that origin and a lab as destination).",
    "returns": "arrivals at a lab of its former staff (events kind return with that "
    "destination); `boomerangs` is their total over all labs.",
    "exits": "voluntary departures from a lab to the pool (events kind exit).",
    "separations": "involuntary departures from a lab to the pool (events kind separation).",
    "departures": "every move out of a lab: quits (returns included), exits and separations.",
    "entries": "new researchers entering the pool (pool rows only).",
    "retirements": "researchers leaving the field from the pool (pool rows only).",
    "offers": "offers made by a lab (regular offers and raids), whether accepted or not.",
    "acceptances": "offers of a lab that the researcher accepted, before counter-offers and "
    "capacity: not every acceptance becomes a hire.",
    "counter_offers": "counter-offers made by a lab to keep someone who accepted an offer "
    "elsewhere or an outside opportunity.",
    "counter_retained": "researchers a lab kept by a counter-offer (they stay, with a raise).",
    "blocked_by_capacity": "researchers who accepted a lab's offer, were not kept by a "
    "counter-offer, and were turned away because the lab was full.",
    "mean_pay": "mean pay of a lab's staff at the end of a step (in the units of market_value).",
    "turmoil": "a lab's instability (0 = calm), raised by reorganisations and leadership "
    "changes, decaying with the lab's recovery half-life.",
    "reputation": "a lab's recent departures per head, decayed with the reputation half-life; "
    "outsiders who weigh reputation avoid labs where it is high.",
    # ---- summary metrics ----
    "attrition": "share of a lab's starting staff who left it at least once during the run "
    "(NaN when nobody started there).",
    "early_attrition": "share of a lab's starting staff who left within the first 13 weeks.",
    "early_exits": "departures (of any kind) with tenure under 13 weeks at the lab left.",
    "net_flow": "hires − quits − exits − separations of a lab over the run.",
    "offer_acceptance": "acceptances / offers of a lab over the run.",
    "moves": "events of kinds hire, quit, return and exit over the run (separations, entries "
    "and retirements excluded; the time series' `hires` and `quits` also count returns, so "
    "their sums are larger).",
    "boomerangs": "all returns to a former lab over the run.",
    "population_end": "researchers in the labs and the pool at the end of the run.",
    # ---- calibration statistics (docs/calibration.md) ----
    "new_hire_retention": "share of the researchers a lab hired in a window still there a "
    "given time later (SignalFire's two-year retention of new hires).",
    "boomerang_share": "returns as a share of all arrivals at a lab (LinkedIn's boomerang "
    'share of hires); with count = "history", arrivals at any lab one had worked at '
    "before, as LinkedIn counts.",
    "flow_ratio": "moves from one lab to another per move in the opposite direction "
    "(inf when there is none the other way).",
    "flow_share": "forward share of the moves between two labs, F / (F + R) in [0, 1]; a ratio "
    "r of counts is the share r / (1 + r). The bounded form calibration uses.",
}


#: The summary metrics and statistics that are shares, in [0, 1] (their families).
SHARES = frozenset(
    {
        "attrition",
        "early_attrition",
        "offer_acceptance",
        "new_hire_retention",
        "retention",
        "boomerang_share",
        "flow_share",
        "outside_share",
        "exit_reason_share",
    }
)


#: The summary metrics and statistics that count something (researchers, moves, offers): never
#: below 0. (``net_flow`` counts researchers too, but can be negative.)
COUNTS = frozenset(
    {
        "acceptances",
        "blocked_by_capacity",
        "boomerangs",
        "counter_offers",
        "counter_retained",
        "departures",
        "early_exits",
        "exits",
        "headcount_end",
        "headcount_start",
        "hires",
        "moves",
        "offers",
        "population_end",
        "quits",
        "returns",
        "separations",
    }
)


def metric_bounds(metric: str) -> tuple[float, float]:
    """Where ``metric``'s values (and so their mean) must lie, as ``(low, high)``.

    [0, 1] for a share, [0, ∞) for a count, else anywhere (``net_flow``, ``mean_pay`` and
    statistics not known here).
    """
    family = metric.split(".", 1)[0]
    if family in SHARES:
        return 0.0, 1.0
    if family in COUNTS:
        return 0.0, float("inf")
    return float("-inf"), float("inf")


def format_glossary(width: int = 88) -> str:
    """The glossary as plain text: the note on two words, then a term and its definition each."""
    indent = " " * 4
    lines = [*textwrap.wrap(TWO_WORDS, width), ""]
    for term, meaning in GLOSSARY.items():
        lines.append(term)
        lines.extend(textwrap.wrap(meaning, width, initial_indent=indent, subsequent_indent=indent))
    return "\n".join(lines)


def glossary_markdown() -> str:
    """The glossary as the Markdown table of ``docs/glossary.md``."""
    rows = ["| term | meaning |", "| --- | --- |"]
    rows += [f"| `{term}` | {meaning.replace('|', '/')} |" for term, meaning in GLOSSARY.items()]
    return "\n".join(rows) + "\n"
