"""raynas: neural architecture search on Ray Tune.

One way to start and one to continue every kind of run (token search, one-shot, DARTS, pipeline, retrain); each
returns an :class:`Outcome` with the results as a DataFrame, the best architecture and Tune's ``ResultGrid``.

Example:
    >>> import raynas
    >>> outcome = raynas.run(raynas.SearchSettings(max_params=38_000, num_samples=6))  # doctest: +SKIP
    >>> outcome.results.sort_values("reward").tail(1)  # doctest: +SKIP
    >>> outcome = raynas.resume("runs", "search")  # any kind of run, after a crash  # doctest: +SKIP
    >>> raynas.load("runs", "search")  # one row per trial, a column per label  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from raynas import _legacy
from raynas.settings import SearchSettings

__version__ = "0.1.0"
__all__ = [
    "DartsSettings",
    "Outcome",
    "PipelineSettings",
    "SearchSettings",
    "__version__",
    "export_model",
    "load",
    "load_model",
    "resume",
    "retrain",
    "run",
]

_legacy.install()

#: names imported when first used: they import Ray and torch, which spaces and settings do without
_LAZY = {
    "run": ("raynas.runs.registry", "run"),
    "resume": ("raynas.runs.registry", "resume"),
    "retrain": ("raynas.runs.retrain", "retrain"),
    "load": ("raynas.analysis", "load"),
    "load_model": ("raynas.trainables.model_file", "load_model"),
    "export_model": ("raynas.trainables.model_file", "export_model"),
    "Outcome": ("raynas.results", "Outcome"),
    "DartsSettings": ("raynas.runs.darts", "DartsSettings"),
    "PipelineSettings": ("raynas.runs.pipeline", "PipelineSettings"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in ("analysis", "runs", "tune"):
        return importlib.import_module(f"raynas.{name}")
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")
