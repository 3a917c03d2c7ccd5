"""The step's work over researchers, compiled with Numba.

The step's decisions (:func:`kernel_set` ``().decide``: separations, offers, choices, capacity,
counter-offers, outside opportunities, the moves and their flows) are one compiled call, and
:func:`retire_and_clock` does retirements, clocks and headcounts in one pass. They are built
from small per-researcher functions (:func:`offer_lab`, :func:`accepts`,
:func:`counter_offer_pay`, the utility terms' kernels), which :mod:`talentsim.kernels` applies
to arrays so that each rule can be used and tested on its own with the code the step runs.

Modules, one concern each:

- :mod:`~talentsim.compiled.compat`: the Numba internals used, each with a plain fallback;
- :mod:`~talentsim.compiled.records`: the named records of arrays the step reads;
- :mod:`~talentsim.compiled.draws`: counter-based uniforms (keyed hashes);
- :mod:`~talentsim.compiled.choice`: acceptance, the offering lab, counter-offer pay, capacity;
- :mod:`~talentsim.compiled.offers`: who is offered a job, separates or meets an opportunity;
  poaching raids;
- :mod:`~talentsim.compiled.ties`: shares of colleague ties;
- :mod:`~talentsim.compiled.clock`: reference pay, retirements, clocks, move records;
- :mod:`~talentsim.compiled.decisions`: the utility terms and the step's decisions, compiled
  once per registry of terms (:mod:`talentsim.terms`).

Why compiled: a step makes a few decisions for a few researchers each (a few dozen at 1,000
researchers), and as NumPy statements each costs a call of a few microseconds whatever its
size; at 10^5–10^6 researchers each statement is also a pass over memory with its own
temporaries. One compiled function does the lot in one call, and each pass over everyone reads
each researcher once. The functions are compiled on first use and cached on disk, so a new
process loads them in milliseconds.

:mod:`talentsim.model` documents the rules and their order.
"""

from talentsim.compiled import records
from talentsim.compiled.choice import (
    accept_all,
    accepts,
    counter_offer_pay,
    counter_offer_pays,
    offer_lab,
    offer_labs,
    within_capacity,
)
from talentsim.compiled.clock import (
    CODE_ROWS,
    VALUE_ROWS_BEFORE_GAINS,
    lab_quantiles,
    outside_record,
    retire_and_clock,
)
from talentsim.compiled.compat import prefetch
from talentsim.compiled.decisions import (
    ACCEPTANCES,
    COUNTER_OFFERS,
    COUNTER_RETAINED,
    EXIT,
    EXITS,
    HIRE,
    HIRES,
    NO_LAB,
    OFFERS,
    QUIT,
    QUITS,
    RETURN,
    RETURNS,
    SEPARATION,
    SEPARATIONS,
    KernelSet,
    kernel_set,
)
from talentsim.compiled.draws import (
    PURPOSES,
    event_uniform,
    mix,
    step_offsets,
    uniform_at,
    uniforms,
)
from talentsim.compiled.offers import raid_offers, screen_events
from talentsim.compiled.ties import GONE, tie_shares


def kernels_cached() -> bool:
    """Whether the step's compiled code is in Numba's disk cache, up to date.

    False means that the first step in a new process compiles it (~15 s; once after
    installing or upgrading talentsim, or after changing the utility terms). With a Numba
    whose cache works differently, says True rather than guess.
    """
    return kernel_set().is_cached()


__all__ = [
    "ACCEPTANCES",
    "CODE_ROWS",
    "COUNTER_OFFERS",
    "COUNTER_RETAINED",
    "EXIT",
    "EXITS",
    "GONE",
    "HIRE",
    "HIRES",
    "NO_LAB",
    "OFFERS",
    "PURPOSES",
    "QUIT",
    "QUITS",
    "RETURN",
    "RETURNS",
    "SEPARATION",
    "SEPARATIONS",
    "VALUE_ROWS_BEFORE_GAINS",
    "KernelSet",
    "accept_all",
    "accepts",
    "counter_offer_pay",
    "counter_offer_pays",
    "event_uniform",
    "kernel_set",
    "kernels_cached",
    "lab_quantiles",
    "mix",
    "offer_lab",
    "offer_labs",
    "outside_record",
    "prefetch",
    "raid_offers",
    "records",
    "retire_and_clock",
    "screen_events",
    "step_offsets",
    "tie_shares",
    "uniform_at",
    "uniforms",
    "within_capacity",
]
