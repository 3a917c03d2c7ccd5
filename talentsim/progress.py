"""Progress of long work: a tqdm bar with done / failed / remaining, or a callback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Progress:
    """Counts finished runs and shows them.

    Args:
        progress: True for a progress bar on standard error, False for nothing, or a callable
            called with 1 after each run.
        total: Runs expected.
        desc: Label of the bar.
    """

    def __init__(self, progress: bool | Callable[[int], Any], total: int, desc: str) -> None:
        self.callback = progress if callable(progress) else None
        self.total, self.done, self.failed = total, 0, 0
        self.bar = None
        if progress is True and total > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc=desc, file=sys.stderr)

    def advance(self, failed: bool = False) -> None:
        """Count one finished run."""
        self.done += 1
        self.failed += int(failed)
        if self.callback is not None:
            self.callback(1)
        if self.bar is not None:
            # (the count and the postfix drawn together: set first without a redraw)
            self.bar.set_postfix(
                failed=self.failed, remaining=self.total - self.done, refresh=False
            )
            self.bar.update(1)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
