"""The installed version of talentsim (from the package metadata), for outputs and reports.

Modules that record the version import it from here, never from the package ``__init__``
(which imports them: an upward arrow in the house).
"""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("talentsim")
except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
    __version__ = "0+unknown"


@functools.cache
def source_digest() -> str:
    """A digest of talentsim's source files as this process runs them (12 hex digits).

    The version number does not change with every change of the code; this does, so results
    made by two builds of one version can be told apart (recorded with the versions).
    """
    return files_digest(Path(__file__).resolve().parent, "**/*.py")[:12]


def files_digest(folder: Path, pattern: str) -> str:
    """The SHA-256 (hex) of the files matching ``pattern`` in ``folder``, in sorted order.

    Each file counts with its path relative to ``folder`` and its bytes, so an edit, a rename
    or a new file gives another digest.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
