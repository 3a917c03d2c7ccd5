"""Seeds: one SeedSequence per run, spawned children for replicates, a stream per purpose.

Every run has one :class:`numpy.random.SeedSequence`; its integer seed is recorded with the
run and replays it exactly. Replicate seeds are spawned (``SeedSequence.spawn``), never
``seed + i``, and each purpose of a run (set-up, network, events, decisions, entries) draws
from its own child stream, so adding draws for one purpose does not shift another's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Child random streams of a run, by purpose (index = spawn key).
STREAMS = ("setup", "network", "events", "decisions", "entries")


def make_seed_sequence(
    seed: int | np.random.SeedSequence | None,
) -> np.random.SeedSequence:
    """Build the run's SeedSequence; an unseeded run draws fresh entropy (recorded).

    A SeedSequence that is not a plain root (a spawned child, or one with list entropy) is
    turned into an integer seed drawn from it, so that the recorded seed replays the run.
    """
    if isinstance(seed, np.random.SeedSequence):
        if not seed.spawn_key and isinstance(seed.entropy, int | np.integer):
            return seed
        return np.random.SeedSequence(int(seed.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def spawn_seeds(root: int, count: int) -> list[int]:
    """``count`` independent integer seeds spawned from ``root`` with ``SeedSequence.spawn``.

    Each is recorded with its run and replays it exactly (``talentsim run --seed``).

    Raises:
        ValueError: for a root that is not a non-negative integer (NumPy's own message,
            "expected non-negative integer", names no argument).
    """
    if isinstance(root, bool) or not isinstance(root, int | np.integer) or root < 0:
        raise ValueError(f"root_seed: expected a non-negative integer, got {root!r}")
    children = np.random.SeedSequence(root).spawn(count)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]


MAX_SEEDS = 1_000_000
"""The most replicate seeds a count may ask for (a typo of a few digits would otherwise spawn
seeds until memory runs out; a sweep's runs are capped likewise)."""


def seed_list(
    seeds: int | Iterable[int], root_seed: int = 0, *, minimum: int = 1, why: str = ""
) -> list[int]:
    """Replicate seeds: ``seeds`` spawned from ``root_seed`` if a count, else the given seeds.

    ``why`` says why at least ``minimum`` are needed, in the message for too few.

    Raises:
        ValueError: for fewer than ``minimum`` or more than :data:`MAX_SEEDS` seeds, repeated
            or negative seeds.
    """
    because = f" ({why})" if why else ""
    if isinstance(seeds, float | np.floating) and _whole(seeds):
        seeds = int(seeds)  # (a count handed over as a float, 20.0)
    if isinstance(seeds, bool | str | bytes | float | np.floating):  # ("ab": the seeds a, b)
        raise ValueError(f"seeds must be a number of replicates or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int | np.integer):
        if seeds < minimum:
            raise ValueError(f"need at least {minimum} seeds, got {seeds}{because}")
        if seeds > MAX_SEEDS:
            raise ValueError(f"need at most {MAX_SEEDS:,} seeds, got {seeds:,}")
        return spawn_seeds(root_seed, int(seeds))
    given = list(seeds)
    if not all(_whole(s) for s in given):
        raise ValueError(f"seeds must be whole numbers, got {given!r}")
    chosen = [int(s) for s in given]
    if len(chosen) < minimum or len(set(chosen)) != len(chosen):
        raise ValueError(f"need at least {minimum} distinct seeds, got {chosen}{because}")
    if any(s < 0 for s in chosen):
        raise ValueError("seeds must be non-negative integers")
    return chosen


def _whole(value: object) -> bool:
    """An integer, or a float that is one (a seed column read as floats)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and float(value).is_integer()


def child_generator(seed_sequence: np.random.SeedSequence, purpose: str) -> np.random.Generator:
    """The run's random stream for one purpose (see :data:`STREAMS`).

    Built from the spawn key, so it does not depend on how often the sequence was spawned.
    """
    child = np.random.SeedSequence(
        seed_sequence.entropy,
        spawn_key=(*seed_sequence.spawn_key, STREAMS.index(purpose)),
        pool_size=seed_sequence.pool_size,
    )
    return np.random.Generator(np.random.PCG64(child))
