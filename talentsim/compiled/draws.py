"""Counter-based draws: each decision's uniform is a keyed hash of (step, purpose, row).

The same arithmetic as :mod:`talentsim.hashing` (SplitMix64's finaliser; uint64 arithmetic
wraps modulo 2**64), compiled. Draws are computed only for the researchers who need them,
and two variants of a scenario give the same researcher the same draws (common random
numbers).
"""

from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 2**53
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

PURPOSES = (
    "events",
    "event_kind",
    "offer_lab",
    "accept",
    "unused",
    "exit_accept",
    "priority",
    "counter",
    "retirement",
    "raid",
    "rehire",
)
"""Purposes of the per-step decision draws; a purpose's code is its position here.

``events``: how many candidate events a researcher has in the step (uniformization);
``event_kind``: whether a candidate event is real and of which kind; ``priority``: the order
in which researchers take places at labs (capacity); ``rehire``: whether an offer drawn from
a researcher's former lab is made (``labs.NAME.rehire_rate`` below 1). Position 4 is free (it
held the outside opportunity draw of the rule with at most one event per step); new purposes
go at the end, so that the offsets of the others do not change (at most 16: ``step_offsets``
keys a step's purposes by ``16·step + purpose``).
"""
EVENTS, EVENT_KIND, OFFER_LAB, ACCEPT, UNUSED = range(5)
EXIT_ACCEPT, PRIORITY, COUNTER, RETIREMENT, RAID, REHIRE = range(5, 11)
#: Bits of a researcher's row below a candidate event's number in :func:`event_uniform`.
_EVENT_SHIFT = np.uint64(40)


@numba.njit(inline="always", cache=True)
def mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The SplitMix64 finaliser (uint64 arithmetic wraps modulo 2**64); see talentsim.hashing."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always", cache=True)
def uniform_at(value: np.uint64, offset: np.uint64) -> float:  # pragma: no cover - compiled
    """The uniform in [0, 1) of one value under a key's offset (``hashing.key_offset``)."""
    return float(mix(value + offset) >> _S11) * _UNIT


@numba.njit(inline="always", cache=True)
def event_uniform(row: int, event: int, offset: np.uint64) -> float:  # pragma: no cover
    """The uniform of researcher ``row``'s candidate event number ``event`` under ``offset``.

    The hash of ``row + event·2**40`` (rows are below 2**40), so event 0's draw is
    :func:`uniform_at` of the row: each draw is keyed by (step, purpose, researcher, event)
    and does not depend on the order in which researchers are processed.
    """
    return uniform_at(np.uint64(row) + (np.uint64(event) << _EVENT_SHIFT), offset)


@numba.njit(cache=True)
def step_offsets(key: np.uint64, step: int) -> np.ndarray:  # pragma: no cover - compiled
    """Each purpose's hash offset for one step: ``key_offset(derive_key(key, 16·step + p))``.

    The same arithmetic as :func:`talentsim.hashing.derive_key` and
    :func:`~talentsim.hashing.key_offset` (uint64 products wrap modulo 2**64).
    """
    offsets = np.empty(len(PURPOSES), np.uint64)
    for purpose in range(len(PURPOSES)):
        salt = np.uint64(step * 16 + purpose) * _GOLDEN
        offsets[purpose] = mix(key ^ salt) * _GOLDEN
    return offsets


@numba.njit(cache=True)
def uniforms(values: np.ndarray, offset: np.uint64) -> np.ndarray:  # pragma: no cover
    """:func:`uniform_at` of each non-negative integer value."""
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        out[i] = uniform_at(np.uint64(values[i]), offset)
    return out
