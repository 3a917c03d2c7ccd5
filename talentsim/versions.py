"""The installed version of talentsim (from the package metadata), for outputs and reports.

Modules that record the version import it from here, never from the package ``__init__``
(which imports them: an upward arrow in the house).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("talentsim")
except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
    __version__ = "0+unknown"
