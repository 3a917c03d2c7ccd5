"""Counter-based uniforms: a keyed hash of integers, compiled with Numba.

Used where a draw must belong to one researcher (or one tie) whatever else happens in the
run, so that two variants of a scenario give the same researcher the same draw (common random
numbers), and where drawing for a subset only is much cheaper than a block for everyone.

The mixer is the SplitMix64 finaliser (Steele, Lea & Flood 2014), a bijection of 64-bit
integers whose outputs pass standard statistical test batteries; the top 53 bits make a
double in [0, 1). The uniform of a value ``v`` under a key is ``mix(v + offset(key))``.

:func:`fingerprint` is the other kind of hash here: a digest of settings (what a checkpoint or
a stored run was made of), compared when a run is resumed.

References:
    Steele, G. L., Lea, D. & Flood, C. H. (2014). Fast splittable pseudorandom number
    generators. *OOPSLA '14*, 453–472.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

# The compiled mixer lives in talentsim.compiled with the loops that inline it: Numba's disk
# cache does not notice edits to functions in other files, so keeping them in one file keeps
# the cached kernels and these functions on the same mixer.
from talentsim.compiled import mix, uniforms

_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def key_offset(key: np.uint64 | int) -> np.uint64:
    """The additive offset a key gives the hashed values."""
    return np.uint64((int(key) * _GOLDEN) & _MASK)


def uniform_hash(values: np.ndarray, key: np.uint64 | int) -> np.ndarray:
    """One uniform in [0, 1) per non-negative integer value, a function of (value, key)."""
    if values.shape[0] == 0:
        return np.zeros(0)
    return uniforms(values, key_offset(key))


def derive_key(key: np.uint64 | int, salt: int) -> np.uint64:
    """A new key from a key and a salt (e.g. the step and purpose of a draw)."""
    return np.uint64(mix(np.uint64(int(key) ^ ((salt * _GOLDEN) & _MASK))))


def fingerprint(data: Any) -> str:
    """A digest of JSON-like settings, equal for equal settings in any process.

    SHA-256 of their JSON with sorted keys (values JSON lacks written as their text).
    """
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
