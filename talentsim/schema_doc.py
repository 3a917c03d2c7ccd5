"""Generate ``docs/scenarios.md`` from the scenario schema, so the reference cannot drift.

Run ``python -m talentsim.schema_doc > docs/scenarios.md``; a test checks the file is current.
"""

from __future__ import annotations

import math
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from talentsim import scenario, terms
from talentsim.scenario import (
    Cohort,
    Fixed,
    HiringFreeze,
    Lab,
    LeadershipChange,
    LogNormal,
    Market,
    MissionPivot,
    Network,
    Normal,
    OutsideOption,
    PayChange,
    PoachingRaid,
    Reorganisation,
    Scenario,
    Search,
    TimeSettings,
    Uniform,
)


def sections() -> list[tuple[str, type[BaseModel], str]]:
    """The tables of a scenario file, each with its schema class and a note.

    Read when called: the weights and the mechanisms derive from the term registry.
    """
    return [
        ("(top level)", Scenario, "The whole file."),
        ("[time]", TimeSettings, "Step length and run length."),
        ("[mechanisms]", scenario.Mechanisms, "Switch utility terms and random shocks on or off."),
        ("[market]", Market, "Offer arrivals and the choice rule."),
        ("[outside]", OutsideOption, "The outside pool: startups, academia, out of the field."),
        (
            "[network]",
            Network,
            "Colleague ties: drawn at set-up, and living if asked (the peer term).",
        ),
        (
            "[search]",
            Search,
            "On-the-job search effort: offers arrive faster for the dissatisfied (off by default).",
        ),
        ("[labs.NAME]", Lab, "One table per lab; NAME is how overrides and events address it."),
        ("[cohorts.NAME]", Cohort, "One table per cohort of researchers."),
        ("[cohorts.NAME.weights]", scenario.Weights, "Preference weights, each a distribution."),
        ('distribution: dist = "fixed"', Fixed, "A bare number means the same."),
        ('distribution: dist = "normal"', Normal, ""),
        ('distribution: dist = "lognormal"', LogNormal, ""),
        ('distribution: dist = "uniform"', Uniform, ""),
        ('[[events]] kind = "reorganisation"', Reorganisation, ""),
        ('[[events]] kind = "leadership_change"', LeadershipChange, ""),
        ('[[events]] kind = "mission_pivot"', MissionPivot, ""),
        ('[[events]] kind = "pay_change"', PayChange, ""),
        ('[[events]] kind = "poaching_raid"', PoachingRaid, ""),
        ('[[events]] kind = "hiring_freeze"', HiringFreeze, ""),
    ]


def terms_table() -> list[str]:
    """The utility terms (from :mod:`talentsim.terms`) as a Markdown section."""
    lines = [
        "## Utility terms\n",
        "A researcher's utility at a place is the sum of these terms, in this order (the order "
        "of the `gain_<term>` columns of events). Each has a weight per cohort "
        "(`cohorts.NAME.weights.<term>`) and a switch (`mechanisms.<term>`) unless marked "
        "otherwise; *outside* says whether it counts at the outside pool; *mean field* whether "
        "`talentsim meanfield` treats it exactly (else it refuses it, by name).\n",
        "| term | contribution | meaning | reads | outside | mean field |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for term in terms.all_terms():
        cells = [
            f"`{term.name}`",
            term.formula,
            term.meaning
            + ("" if term.weight else " No weight.")
            + ("" if term.switch else " No switch."),
            ", ".join(f"`{field}`" for field in term.reads) or "—",
            "yes" if term.at_outside else "no",
            "exact" if term.meanfield is None else f"refused: {term.meanfield}",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append("")
    return lines


INTRO = """\
# Scenario file reference

Generated from the schema in `talentsim/scenario.py` by
`python -m talentsim.schema_doc > docs/scenarios.md`; a test fails if this file is stale.

Scenario files are TOML and are data only: nothing in them is executed. Unknown keys, wrong
types, out-of-range values and names of labs that do not exist are errors that name the file,
the key path and what was expected (`talentsim validate FILE`).

**Units.** Rates are written with units, `"4/year"`, `"0.5/month"`, `"2/w"`, `"1/d"`;
durations too, `"6w"`, `"2mo"`, `"1y"`, `"3d"` (d, w, mo, y, or day, week, month, year; a
year is 365.25 days). Rates are continuous-time: a researcher's own moves over a step are exact
at any step length (docs/model.md §3.1); retirements and random reorganisations happen with the
per-step probability `1 - exp(-r * dt)`. Pay is in
multiples of a researcher's market value; utilities are in log-pay units.

**Distributions.** Wherever the type says *distribution*, write a number (every researcher
gets it) or a table such as `{ dist = "lognormal", median = 1.0, sigma = 0.3 }`.

**Overrides.** `Scenario.with_overrides` and `talentsim run --set` address keys by dotted
path, labs and cohorts by name and events by index: `labs.MSL.pay_level`,
`cohorts.stars.weights.pay.sigma`, `events.0.severity`. From Python (not from files or
`--set`), a plain number is read as a rate per year or a duration in years, and an integral
float as an integer (`70.0` for a capacity), as optimisers and samplers hand values over.

**Names.** A lab name starts with a letter of any alphabet and goes on with letters, digits,
`_`, `-` or single spaces between words (`"Zürich AI"`; quote it in TOML:
`[labs."Zürich AI"]`, and on the command line: `--set "labs.Zürich AI.pay_level=2"`). A cohort
name is printable text without `.`, control characters or spaces at either end. Both have at
most 64 characters. Numbers in rates and durations use the digits 0–9.

**Limits.** A file may start with a UTF-8 byte-order mark; tables and arrays nest at most 12
levels. Counts (`size`, `former_colleague_ties`, `offers`) are at most 2,147,483,647. Pay
levels and the outside pay ratio lie in [1e-6, 1e6], premiums and counter-offer limits at most
1e6, and market values may reach 1e100 (40 standard deviations out), so that pay stays a
finite positive number. Validation also estimates the memory a run will need (the researchers
at the start plus the expected entrants over the duration, the colleague ties, the records per
step and place) and refuses a scenario above a limit, with the estimate: half of the machine's
memory, or the environment variable `TALENTSIM_MEMORY_LIMIT` (`TALENTSIM_MEMORY_LIMIT=64GiB
talentsim run FILE`; sizes in B, kB, MB, GB, TB, KiB, MiB, GiB or TiB). Rates are
bounded through the step: a researcher may have at most 500 candidate events a step on
average (the bounding rate of the step's events, `market.separation_rate +
outside.opportunity_rate + market.offer_rate_employed` × `search.effort_max` when search effort
is on, or `market.offer_rate_outside` if larger, times `time.step`), beyond which a step's
Poisson draws would not be exact; real scenarios are far below it (the flagship: 0.13). See
`talentsim/limits.py`.
"""


def _type_name(annotation: object, description: str) -> str:
    if "Unit: rate" in description:
        return "rate"
    if "Unit: duration" in description:
        return "duration"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    text = str(annotation)
    if "Fixed" in text and "Normal" in text:
        return "distribution"
    if "Reorganisation" in text:
        return "list of events"
    origin = typing.get_origin(annotation)
    if origin is dict:
        return "table of tables"
    scalar = {bool: "boolean", int: "integer", float: "number"}.get(annotation)  # type: ignore[call-overload]
    if scalar is not None:
        return scalar
    if "Literal" in text:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if "str" in text:
        return "text"
    if "int" in text:
        return "integer"
    if "float" in text:
        return "number"
    return text


def _default(field_info: typing.Any, kind: str) -> str:
    if field_info.is_required():
        return "required"
    default = field_info.default
    if default is PydanticUndefined:
        return "its defaults" if field_info.default_factory is not list else "none"
    if default is None:
        return "none"
    if isinstance(default, BaseModel):
        return f"`{default.model_dump(exclude_defaults=False)}`"
    if kind == "rate" and isinstance(default, float):
        return f'`"{_tidy(f"{default!r}/year")}"`'
    if kind == "duration" and isinstance(default, float):
        return f'`"{_tidy(f"{default!r}y")}"`'
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default!r}`"


def _tidy(text: str) -> str:
    number, _, unit = text.partition("y") if text.endswith("y") else text.partition("/")
    value = float(number)
    if text.endswith("y") and not text.endswith("/year"):
        weeks = value * 365.25 / 7
        if math.isclose(weeks, round(weeks)) and value < 1:
            return f"{round(weeks)}w"
        months = value * 12
        if math.isclose(months, round(months)) and value < 1:
            return f"{round(months)}mo"
        return f"{value:g}y"
    return f"{value:g}/{unit}"


def render() -> str:
    """The reference document as Markdown."""
    lines = [INTRO, *terms_table()]
    for title, model, note in sections():
        lines.append(f"## `{title}`\n")
        if note:
            lines.append(f"{note}\n")
        lines.append("| key | type | default | meaning |")
        lines.append("| --- | --- | --- | --- |")
        for key, field_info in model.model_fields.items():
            if key in {"dist", "kind"}:
                continue
            description = field_info.description or ""
            kind = _type_name(field_info.annotation, description)
            meaning = description.replace(" Unit: rate.", "").replace(" Unit: duration.", "")
            meaning = meaning.replace("|", "\\|")
            lines.append(f"| `{key}` | {kind} | {_default(field_info, kind)} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
