"""Counter-based uniforms: a keyed hash of integers, vectorised.

Used where a draw must belong to one researcher (or one tie) whatever else happens in the
run, so that two variants of a scenario give the same researcher the same draw (common random
numbers), and where drawing for a subset only is much cheaper than a block for everyone.

The mixer is the SplitMix64 finaliser (Steele, Lea & Flood 2014), a bijection of 64-bit
integers whose outputs pass standard statistical test batteries; the top 53 bits make a
double in [0, 1).

References:
    Steele, G. L., Lea, D. & Flood, C. H. (2014). Fast splittable pseudorandom number
    generators. *OOPSLA '14*, 453–472.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    # Array arithmetic on uint64 wraps silently (modulo 2**64), as the mixer needs.
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def uniform_hash(values: np.ndarray, key: np.uint64 | int) -> np.ndarray:
    """One uniform in [0, 1) per value, a deterministic function of (value, key)."""
    if values.shape[0] == 0:
        return np.zeros(0)
    offset = np.uint64((int(key) * _GOLDEN) & _MASK)
    z = values.astype(np.uint64) + offset
    return (_mix(z) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def derive_key(key: np.uint64 | int, salt: int) -> np.uint64:
    """A new key from a key and a salt (e.g. the step and purpose of a draw)."""
    return np.uint64(_mix_int(int(key) ^ ((salt * _GOLDEN) & _MASK)))
