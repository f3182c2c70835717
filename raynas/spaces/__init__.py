"""Search spaces and their registry.

Example:
    >>> from raynas import spaces
    >>> "darts_channel" in spaces.names()
    True
    >>> space = spaces.get("small_channel", in_channels=1, num_classes=10)
"""
from __future__ import annotations

import importlib
from typing import Any

from raynas.spaces.base import SearchSpace

# name -> "module:class"; modules are imported on first use so that importing raynas stays cheap
_REGISTRY = {
    "darts_channel": "raynas.spaces.channel:DartsChannelSpace",
    "small_channel": "raynas.spaces.channel:SmallChannelSpace",
    "tabular": "raynas.spaces.tabular:TabularSpace",
}


def names() -> list[str]:
    """Names accepted by :func:`get`."""
    return sorted(_REGISTRY)


def has_network(name: str) -> bool:
    """Whether space ``name`` builds a network (a table replay has none)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown space {name!r}; choose one of: {', '.join(names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls).build is not SearchSpace.build


def get(name: str, **kwargs: Any) -> SearchSpace:
    """Create the space registered as ``name`` with constructor arguments ``kwargs``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown space {name!r}; choose one of: {', '.join(names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["SearchSpace", "get", "has_network", "names"]
