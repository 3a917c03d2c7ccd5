"""A pyabc sampler whose parallel runs are reproducible: :class:`SeededMappingSampler`.

pyabc's multicore and Dask samplers reseed their workers from fresh entropy and keep the
particles in the order they finish, so which parameter vectors an ABC-SMC run proposes
depends on timing. This sampler maps a generation's ``n`` particles over a process pool in a
fixed order (a process pool's or a Dask client's executor), each task drawing from its own
seed, derived from (the run's seed, the generation, the call within the generation, the
task): the same particles, bit for bit, whatever the number of workers, their speed and
where they run.

Imported only when an ABC run uses it (pyabc is an optional dependency); a module of its own
so that spawned workers can unpickle the sampler by its qualified name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pyabc

from talentsim.interrupts import gather


class SeededMappingSampler(pyabc.sampler.MappingSampler):
    """pyabc's mapping sampler with a seed per task (see the module docstring).

    Args:
        executor: Where the tasks run (collected in the order given); None: here.
        seed: The run's seed.
        check: Called every :data:`talentsim.interrupts.CHECK_SECONDS` while the tasks run
            (:func:`talentsim.experiments.pool_watch` for the shared pool: a worker that
            died in the middle of sending a particle would otherwise leave the fit waiting
            for ever).
    """

    def __init__(
        self, executor: Executor | None, seed: int, check: Callable[[], None] | None = None
    ) -> None:
        super().__init__(map_=self._map)
        self.executor = executor
        self.seed = int(seed)
        self.check = check
        self._generation = 0
        self._calls: dict[int, int] = {}

    def sample_until_n_accepted(self, n: int, simulate_one: Any, t: int, **kwargs: Any) -> Any:
        """As pyabc's, with the generation ``t`` kept for the tasks' seeds."""
        self._generation = int(t)
        return super().sample_until_n_accepted(n, simulate_one, t, **kwargs)

    def _map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``function`` over this call's task seeds, in order (``items``: one per task)."""
        call = self._calls.get(self._generation, 0)
        self._calls[self._generation] = call + 1
        # (generation −1 or −2 for pyabc's calibration samples: shifted to stay non-negative)
        key = [self.seed, self._generation + 16, call]
        seeds = [
            int(np.random.SeedSequence([*key, task]).generate_state(1)[0])
            for task in range(len(list(items)))
        ]
        if self.executor is None:
            return [function(s) for s in seeds]
        return gather([self.executor.submit(function, s) for s in seeds], check=self.check)

    def map_function(self, simulate_one: Any, task_seed: int) -> Any:
        """One task: simulate until a particle is accepted, drawing from ``task_seed``."""
        np.random.seed(task_seed)  # noqa: NPY002 - pyabc's proposals use the global generator
        random.seed(task_seed)
        simulate = self.unpickle(simulate_one)
        evaluations = 0
        sample = self._create_empty_sample()
        while True:
            particle = simulate()
            evaluations += 1
            sample.append(particle)
            if particle.accepted:
                break
        return sample, evaluations
