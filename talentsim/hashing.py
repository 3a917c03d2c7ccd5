"""Counter-based uniforms: a keyed hash of integers, compiled with Numba.

Used where a draw must belong to one researcher (or one tie) whatever else happens in the
run, so that two variants of a scenario give the same researcher the same draw (common random
numbers), and where drawing for a subset only is much cheaper than a block for everyone.

The mixer is the SplitMix64 finaliser (Steele, Lea & Flood 2014), a bijection of 64-bit
integers whose outputs pass standard statistical test batteries; the top 53 bits make a
double in [0, 1). The uniform of a value ``v`` under a key is ``mix(v + offset(key))``.

References:
    Steele, G. L., Lea, D. & Flood, C. H. (2014). Fast splittable pseudorandom number
    generators. *OOPSLA '14*, 453–472.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 2**53


@numba.njit(inline="always", cache=True)
def mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The SplitMix64 finaliser (uint64 arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always", cache=True)
def uniform_at(value: np.uint64, offset: np.uint64) -> float:  # pragma: no cover - compiled
    """The uniform in [0, 1) of one value under a key's offset (see :func:`key_offset`)."""
    return float(mix(value + offset) >> _S11) * _UNIT


@numba.njit(cache=True)
def _uniforms(values: np.ndarray, offset: np.uint64) -> np.ndarray:  # pragma: no cover
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        out[i] = uniform_at(np.uint64(values[i]), offset)
    return out


def key_offset(key: np.uint64 | int) -> np.uint64:
    """The additive offset a key gives the hashed values."""
    return np.uint64((int(key) * _GOLDEN) & _MASK)


def uniform_hash(values: np.ndarray, key: np.uint64 | int) -> np.ndarray:
    """One uniform in [0, 1) per non-negative integer value, a function of (value, key)."""
    if values.shape[0] == 0:
        return np.zeros(0)
    return _uniforms(values, key_offset(key))


def derive_key(key: np.uint64 | int, salt: int) -> np.uint64:
    """A new key from a key and a salt (e.g. the step and purpose of a draw)."""
    return np.uint64(mix(np.uint64(int(key) ^ ((salt * _GOLDEN) & _MASK))))
