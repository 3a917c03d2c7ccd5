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
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
