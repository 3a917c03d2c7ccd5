"""How large a run a scenario asks for, and the most this machine will be asked to run.

Validation refuses a scenario whose run would not fit in memory before anything is allocated
(a cohort of 10^9 researchers, an entry rate of 10^12 a year, 10^9 colleague ties each), with
the estimate and the way to raise the limit, instead of a MemoryError minutes into the run.

The estimate counts the researchers a run holds (the cohorts' starting sizes plus the expected
entrants over the duration), the colleague ties drawn at set-up, and the per-step records of
each place. Its per-item costs were measured as the peak memory of whole runs (``ts.run``,
results included) and round up.

The limit is half of this machine's memory, or the environment variable
``TALENTSIM_MEMORY_LIMIT`` (``"64GiB"``, ``"500MB"``, or a number of bytes).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from talentsim.scenario import Scenario

MEMORY_LIMIT_VARIABLE = "TALENTSIM_MEMORY_LIMIT"
"""The environment variable that overrides the default memory limit."""

BYTES_PER_RESEARCHER = 1600
"""Peak memory per researcher over a whole run (state, move records, results tables)."""

BYTES_PER_TIE = 60
"""Peak memory per colleague tie end (each tie is stored at both ends)."""

BYTES_PER_PLACE_STEP = 500
"""Peak memory per place (lab or outside pool) and step (histories and the timeseries)."""

MAX_EVENTS_PER_STEP = 500.0
"""The most candidate events a researcher may average in one step (bounding rate × step).

Each step draws every researcher's number of candidate events from a Poisson law by
inversion (:func:`talentsim.compiled.offers.screen_events`), which is exact while
``exp(-mean)`` is a normal float (mean below ~700) and the count stays under its guard of
10,000. Beyond this the draws would be silently wrong, so such a scenario is refused. Real
scenarios are far below it (the flagship: about 0.13 a weekly step)."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_memory_size(text: str) -> int:
    """Read a memory size such as ``"64GiB"``, ``"500MB"`` or ``"2000000000"`` as bytes.

    Raises:
        ValueError: if the text is not a positive number with an optional unit (B, kB, MB,
            GB, TB, KiB, MiB, GiB, TiB).
    """
    match = _SIZE_RE.match(text)
    unit = match[2].lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"the environment variable {MEMORY_LIMIT_VARIABLE}: expected a size such as "
            f"'64GiB' or '500MB', got {text!r}"
        )
    size = float(match[1]) * _UNITS[unit]
    if not math.isfinite(size) or size < 1:
        raise ValueError(
            f"the environment variable {MEMORY_LIMIT_VARIABLE}: expected a positive size, got "
            f"{text!r}"
        )
    return int(size)


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes, when the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit() -> tuple[int, str]:
    """The most memory a run may be estimated to need, and where that limit comes from.

    ``TALENTSIM_MEMORY_LIMIT`` when set, else half of the machine's memory (8 GiB where the
    system does not say).

    Raises:
        ValueError: if ``TALENTSIM_MEMORY_LIMIT`` is not a size.
    """
    text = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if text:
        return parse_memory_size(text), f"{MEMORY_LIMIT_VARIABLE}={text}"
    total = machine_memory()
    if total is None:
        return 8 * 1024**3, "the default, as this system does not say how much memory it has"
    return total // 2, "half of this machine's memory"


@dataclass(frozen=True)
class RunSize:
    """What a run of a scenario will hold (expected values), and the memory it will need."""

    starting: int
    """Researchers at the start."""
    entrants: float
    """Expected researchers entering over the run."""
    tie_ends: float
    """Colleague tie ends drawn at set-up (twice the ties)."""
    place_steps: int
    """Places (labs and the outside pool) × recorded steps."""
    largest: str
    """The key path that contributes most to the memory."""

    @property
    def researchers(self) -> float:
        """Researchers a run is expected to hold by its end."""
        return self.starting + self.entrants

    @property
    def memory(self) -> float:
        """Estimated peak memory of the run in bytes."""
        return (
            BYTES_PER_RESEARCHER * self.researchers
            + BYTES_PER_TIE * self.tie_ends
            + BYTES_PER_PLACE_STEP * self.place_steps
        )


def run_size(scenario: Scenario) -> RunSize:
    """Estimate what a run of ``scenario`` holds, in Python numbers (no overflow)."""
    duration = scenario.time.duration
    parts: dict[str, float] = {}
    starting = 0
    entrants = 0.0
    tie_ends = 0.0
    at_lab: dict[str, int] = {}
    for name, cohort in scenario.cohorts.items():
        starting += cohort.size
        arriving = cohort.entry_rate * duration
        entrants += arriving
        parts[f"cohorts.{name}.size"] = BYTES_PER_RESEARCHER * cohort.size
        parts[f"cohorts.{name}.entry_rate"] = BYTES_PER_RESEARCHER * arriving
        if cohort.lab in scenario.labs:
            at_lab[cohort.lab] = at_lab.get(cohort.lab, 0) + cohort.size
        if cohort.previous_lab is not None and scenario.mechanisms.peers:
            ends = 2.0 * cohort.size * cohort.former_colleague_ties
            tie_ends += ends
            parts[f"cohorts.{name}.former_colleague_ties"] = BYTES_PER_TIE * ends
    if scenario.mechanisms.peers:
        in_lab = sum(float(m) * scenario.network.degree for m in at_lab.values() if m >= 2)
        tie_ends += in_lab
        parts["network.degree"] = BYTES_PER_TIE * in_lab
    place_steps = (scenario.time.n_steps + 1) * (len(scenario.labs) + 1)
    parts["time.duration"] = BYTES_PER_PLACE_STEP * place_steps
    largest = max(parts, key=lambda key: parts[key])
    return RunSize(starting, entrants, tie_ends, place_steps, largest)


def describe_bytes(size: float) -> str:
    """``1.5 GiB``, ``320 MiB``: a memory size for people."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:,.0f} {unit}" if value >= 1000 else f"{value:.3g} {unit}"
    return f"{size:.0f} B"


def check_run_size(scenario: Scenario) -> str | None:
    """Why a run of ``scenario`` would not fit in memory (a key path and message), or None.

    Raises:
        ValueError: if ``TALENTSIM_MEMORY_LIMIT`` is not a size.
    """
    size = run_size(scenario)
    limit, why = memory_limit()
    if math.isfinite(size.memory) and size.memory <= limit:
        return None
    need = describe_bytes(size.memory) if math.isfinite(size.memory) else "more than any machine"
    return (
        f"{size.largest}: a run would need about {need} of memory, more than the limit of "
        f"{describe_bytes(limit)} ({why}): about {size.researchers:.3g} researchers "
        f"({size.starting:,} at the start and {size.entrants:.3g} expected entrants), "
        f"{size.tie_ends / 2:.3g} colleague ties, {size.place_steps:,} place-steps. Make the "
        f"run smaller, or raise the limit with the environment variable "
        f"{MEMORY_LIMIT_VARIABLE} (e.g. {MEMORY_LIMIT_VARIABLE}=64GiB) on a machine that has it"
    )


def employed_event_rates(scenario: Scenario) -> dict[str, float]:
    """The rates (per year) of an employed researcher's candidate events at the most effort.

    Keyed by the key path each comes from: ``market.separation_rate``,
    ``outside.opportunity_rate`` and ``market.offer_rate_employed`` times the effort cap
    (:attr:`~talentsim.scenario.Search.effort_cap`: ``search.effort_max`` with search effort
    on, else 1).
    """
    market, outside = scenario.market, scenario.outside
    return {
        "market.separation_rate": market.separation_rate,
        "outside.opportunity_rate": outside.opportunity_rate,
        "market.offer_rate_employed": market.offer_rate_employed * scenario.search.effort_cap,
    }


def bounding_rate(scenario: Scenario) -> float:
    """Λ, the most candidate events per year in any state (events per year).

    Employed: the sum of :func:`employed_event_rates`; in the pool: ``offer_rate_outside``.
    The step draws its candidate events at this rate (``talentsim.compiled.decisions.
    bounding_rate``, the same formula on the model's market record; with search effort from
    turmoil alone the step uses the effort of the lab in most turmoil, at most the cap, so
    its rate is at most this). A test ties the two.
    """
    return max(sum(employed_event_rates(scenario).values()), scenario.market.offer_rate_outside)


def check_events_per_step(scenario: Scenario) -> str | None:
    """Why a step of ``scenario`` would hold too many events per researcher, or None.

    The bounding rate Λ of a step's events (:func:`bounding_rate`: the most events per year
    in any state) times ``time.step`` must not exceed :data:`MAX_EVENTS_PER_STEP`. The
    message names the largest rate's key path.
    """
    from talentsim.units import format_years

    market = scenario.market
    cap = scenario.search.effort_cap
    employed = employed_event_rates(scenario)
    at_labs = sum(employed.values())
    bound = bounding_rate(scenario)
    mean = bound * scenario.time.step
    if mean <= MAX_EVENTS_PER_STEP:
        return None
    if market.offer_rate_outside >= at_labs:
        largest = "market.offer_rate_outside"
    else:
        largest = max(employed, key=lambda key: employed[key])
    by_effort = largest == "market.offer_rate_employed" and cap != 1
    scaled = " (× search.effort_max)" if by_effort else ""
    return (
        f"{largest}: the rates give each researcher {mean:.3g} candidate events a step on "
        f"average (a bounding rate of {bound:.3g}/year{scaled} × time.step "
        f"{format_years(scenario.time.step)}); at most {MAX_EVENTS_PER_STEP:g} are supported, "
        "beyond which a step's draws would not be exact. Use a shorter time.step or lower "
        "rates (rates are per year: '4/year', '0.5/month')"
    )
