"""raynas: neural architecture search on Ray Tune.

Example:
    >>> import raynas
    >>> outcome = raynas.run(raynas.SearchSettings(max_params=38_000, num_samples=6))  # doctest: +SKIP
    >>> outcome.results.sort_values("reward").tail(1)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from raynas.settings import SearchSettings

__version__ = "0.1.0"
__all__ = ["SearchSettings", "__version__", "resume", "run"]


def __getattr__(name: str) -> Any:
    # these import Ray; spaces and settings stay usable without it
    if name in ("run", "resume"):
        from raynas import search

        return getattr(search, name)
    if name in ("search", "oneshot", "fixed", "analysis", "darts_search", "pipeline"):
        return importlib.import_module(f"raynas.{name}")
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")
