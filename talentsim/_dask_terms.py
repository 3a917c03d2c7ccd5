"""A Dask worker plugin that imports the modules of ``talentsim --import`` on every worker.

Utility terms registered by a module live in the process that imported it; a Dask cluster's
workers are other processes (often on other machines), so a sweep or an ABC calibration
sent there must have its workers import the same modules. :func:`talentsim.experiments.
connect_dask` registers :class:`ImportTerms` with the cluster when modules were imported:
workers that are running import them at once, workers that join later when they start.

Imported only when a Dask scheduler is used (dask.distributed is an optional dependency); a
module of its own so that workers can unpickle the plugin by its qualified name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distributed import WorkerPlugin

from talentsim import terms


class ImportTerms(WorkerPlugin):
    """On each worker, :func:`talentsim.terms.import_modules` of ``modules``.

    Args:
        modules: Module names, in the order they were imported here.
    """

    idempotent = True  # (registered again with the same modules: nothing to do)

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = tuple(modules)
        self.name = "talentsim-import-" + "-".join(self.modules)

    def setup(self, worker: Any) -> None:
        """Import the modules in the worker's process (raises ImportError naming one)."""
        terms.import_modules(self.modules)
