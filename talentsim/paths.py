"""Whether an output path can be created, asked before any work is done.

One check for every command and script that writes a folder or a file: the nearest folder
that exists must accept a new entry. It is tried, with a trial folder removed at once,
because permissions alone do not tell (root passes every permission check, and some
file systems refuse entries whatever the permissions say, e.g. ``/proc`` or a read-only
mount).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def nearest_existing(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it exists, else its nearest ancestor that does."""
    found = Path(path)
    while not found.exists() and found != found.parent:
        found = found.parent
    return found


def creation_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` (a file or folder to write) could not be created there, or None.

    The reason names the folder that refuses it, e.g. ``"/proc: refuses new entries (No
    such file or directory)"`` or ``"results.csv is a file, not a folder"``; an existing
    folder is checked for a new entry inside it.
    """
    target = Path(path)
    where = target if target.is_dir() else nearest_existing(target.parent)
    if not where.is_dir():
        return f"{where} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".talentsim-check-", dir=where))
    except OSError as exc:
        # (the system's reason as given: /proc says "No such file or directory" of a new
        # entry, which read alone suggests that /proc itself is missing)
        return f"{where}: refuses new entries ({exc.strerror or exc})"
    return None


__all__ = ["creation_problem", "nearest_existing"]
