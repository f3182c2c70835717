"""Import paths of raynas 0.1 modules that have moved.

Tune pickles import paths into a search folder (the scheduler, callbacks and searcher in ``tuner.pkl``), so a
folder written by raynas 0.1 names e.g. ``raynas.schedulers``; importing an old name gives the module it became.

Example:
    >>> import raynas.schedulers, raynas.tune.schedulers
    >>> raynas.schedulers is raynas.tune.schedulers
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: old module -> the module it became
MOVED = {
    "raynas.search": "raynas.runs.search",
    "raynas.oneshot": "raynas.runs.oneshot",
    "raynas.darts_search": "raynas.runs.darts",
    "raynas.pipeline": "raynas.runs.pipeline",
    "raynas.fixed": "raynas.runs.retrain",
    "raynas.build": "raynas.tune.build",
    "raynas.experiment": "raynas.tune.experiment",
    "raynas.progress": "raynas.tune.progress",
    "raynas.schedulers": "raynas.tune.schedulers",
    "raynas.cluster": "raynas.tune.cluster",
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec:
        return importlib.machinery.ModuleSpec(fullname, self) if fullname in MOVED else None  # type: ignore[return-value]

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # the import system returns what sys.modules holds under the name once this returns
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Make the old names importable (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
