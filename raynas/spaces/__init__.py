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
    "mobile": "raynas.spaces.mobile:MobileSpace",
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


def is_model_space(name: str) -> bool:
    """Whether ``name`` is a space of labelled choices (a user ``module:factory`` or a registered ModelSpace)."""
    if ":" in name:
        return True
    from raynas.spaces.choices import ModelSpace

    module, cls = _REGISTRY.get(name, "raynas.spaces.base:SearchSpace").split(":")
    return issubclass(getattr(importlib.import_module(module), cls), ModelSpace)


def get(name: str, **kwargs: Any) -> SearchSpace:
    """Create the space registered as ``name`` with constructor arguments ``kwargs``.

    A name ``"package.module:factory"`` is a user space: the factory is imported by module path and called
    with ``kwargs`` (all but ``input_shape``) to make a model with labelled choices (see ``ModelSpace``).
    """
    if ":" in name:
        from raynas.spaces.choices import ModelSpace, load_factory

        input_shape = kwargs.pop("input_shape", None)
        return ModelSpace(load_factory(name), factory_kwargs=kwargs, input_shape=input_shape, name=name)
    if name not in _REGISTRY:
        raise ValueError(f"unknown space {name!r}; choose one of: {', '.join(names())}, "
                         "or a user space package.module:factory")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["SearchSpace", "get", "has_network", "is_model_space", "names"]
