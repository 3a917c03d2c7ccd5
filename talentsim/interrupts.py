"""Ctrl-C and SIGTERM while waiting for worker processes: delivered where it is safe.

Python runs a signal handler between any two bytecodes of the main thread, and Ctrl-C's
handler (and ``talentsim``'s for SIGTERM, :class:`talentsim.cli.Terminated`) raises there.
While the main thread waits for a process pool's futures, some of those places are inside
:mod:`concurrent.futures`' own bookkeeping: :func:`concurrent.futures.wait` takes the lock of
each future in turn, and an exception raised between two of those takes leaves the first
lock held for good. The pool's manager thread then blocks on it as it sets that future's
result, and the interpreter, which joins that thread at exit, never exits: a sweep stopped
by SIGTERM (a SLURM time limit) hung instead of storing its finished runs and ending
(``tests/test_interrupts.py`` reproduces it by sending the signal at that very place).

:func:`held_interrupts` holds such a signal from the moment it arrives until the waiting
code asks for it (:meth:`Held.deliver`) between two waits, where no lock is held; the
previous handler then runs there, as it would have run at once. :func:`wait_first` and
:func:`gather` are the waits that ask. A second signal of the same kind is not held: it
runs the previous handler at once, as before (someone pressing Ctrl-C twice means now).
Signals whose handler is not Python code (the default action, or ignored) are left alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from types import FrameType
from typing import Any

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals :func:`held_interrupts` holds (when Python code handles them)."""

CHECK_SECONDS = 0.2
"""How often a wait that holds interrupts stops to deliver one (its delay at most)."""

_Handler = Callable[[int, FrameType | None], Any]


class Held:
    """The signals held so far, and the handlers they are for (see :func:`held_interrupts`)."""

    def __init__(self) -> None:
        self.handlers: dict[int, _Handler] = {}
        self.pending: list[tuple[int, FrameType | None]] = []

    def hold(self, signum: int, frame: FrameType | None) -> None:
        """The handler installed meanwhile: keep the signal, or run it at once if a second."""
        if any(held == signum for held, _ in self.pending):  # (the first is delivered now)
            self.pending = [(held, at) for held, at in self.pending if held != signum]
            self.handlers[signum](signum, frame)
            return
        self.pending.append((signum, frame))

    def deliver(self) -> None:
        """Run the previous handler of each signal held (which raises, for Ctrl-C)."""
        while self.pending:
            signum, frame = self.pending.pop(0)
            self.handlers[signum](signum, frame)


@contextlib.contextmanager
def held_interrupts() -> Iterator[Held]:
    """Meanwhile, hold Ctrl-C and SIGTERM until :meth:`Held.deliver` (see the module).

    In a thread other than the main one (where Python runs signal handlers) nothing is held.
    On leaving, the previous handlers are put back (unless one of them replaced itself, as
    ``talentsim``'s SIGTERM handler does once run) and a signal still held is delivered.
    """
    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    for signum in HELD_SIGNALS:
        previous = signal.getsignal(signum)
        if callable(previous):
            held.handlers[signum] = previous
            signal.signal(signum, held.hold)
    try:
        yield held
    finally:
        for number, previous in held.handlers.items():
            if signal.getsignal(number) == held.hold:
                signal.signal(number, previous)
        held.deliver()  # (raised over an error already on its way out, it chains to it)


def wait_first(
    pending: set[Future[Any]], held: Held, check: Callable[[], None] | None = None
) -> tuple[set[Future[Any]], set[Future[Any]]]:
    """:func:`concurrent.futures.wait` for the first to complete, delivering held signals.

    ``check``, if given, is called every :data:`CHECK_SECONDS` while nothing completes (e.g.
    :func:`talentsim.experiments.pool_watch`, which unblocks a stuck pool).

    Returns:
        The futures done and those not, as ``wait`` does.
    """
    while True:
        held.deliver()
        done, not_done = wait(pending, timeout=CHECK_SECONDS, return_when=FIRST_COMPLETED)
        if done or not not_done:
            held.deliver()
            return done, not_done
        if check is not None:
            check()


def gather(
    futures: Iterable[Future[Any]],
    each: Callable[[Any], Any] | None = None,
    check: Callable[[], None] | None = None,
) -> list[Any]:
    """Each future's result in order, holding Ctrl-C and SIGTERM while it waits (the module).

    Use instead of ``[f.result() for f in futures]`` on a process pool's futures. ``each``
    is called with each result as it comes (e.g. to advance a progress bar); ``check``, if
    given, every :data:`CHECK_SECONDS` while it waits (as for :func:`wait_first`).

    Raises:
        The first future's exception in order, or the interrupt held.
    """
    found = []
    with held_interrupts() as held:
        for future in futures:
            wait_first({future}, held, check)
            found.append(future.result())
            if each is not None:
                each(found[-1])
    return found
