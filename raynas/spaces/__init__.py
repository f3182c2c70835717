"""Search spaces and their registry.

Example:
    >>> from raynas import spaces
    >>> "darts_channel" in spaces.names()
    True
    >>> space = spaces.get("small_channel", in_channels=1, num_classes=10)
"""
from __future__ import annotations

import importlib
import numbers
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


def user_token_class(name: str) -> type[SearchSpace] | None:
    """The :class:`SearchSpace` subclass a user space ``"package.module:Class"`` names; ``None`` when ``name``
    is a model factory (or not a user space)."""
    if ":" not in name:
        return None
    from raynas.spaces.choices import load_factory

    found = load_factory(name)
    return found if isinstance(found, type) and issubclass(found, SearchSpace) else None


def is_model_space(name: str) -> bool:
    """Whether ``name`` is a space of labelled choices (a user ``module:factory`` or a registered ModelSpace)."""
    if ":" in name:
        return user_token_class(name) is None
    from raynas.spaces.choices import ModelSpace

    module, cls = _REGISTRY.get(name, "raynas.spaces.base:SearchSpace").split(":")
    return issubclass(getattr(importlib.import_module(module), cls), ModelSpace)


def get(name: str, **kwargs: Any) -> SearchSpace:
    """Create the space registered as ``name`` with constructor arguments ``kwargs``.

    A name ``"package.module:factory"`` is a user space, imported by module path: a :class:`SearchSpace`
    subclass, created with ``kwargs``, or a factory called with ``kwargs`` (all but ``input_shape``) to make
    a model with labelled choices (see ``ModelSpace``).
    """
    if ":" in name:
        from raynas.spaces.choices import ModelSpace, load_factory

        token_class = user_token_class(name)
        if token_class is not None:
            return check_token_space(token_class(**kwargs), name)
        input_shape = kwargs.pop("input_shape", None)
        return ModelSpace(load_factory(name), factory_kwargs=kwargs, input_shape=input_shape, name=name)
    if name not in _REGISTRY:
        raise ValueError(f"unknown space {name!r}; choose one of: {', '.join(names())}, "
                         "or a user space package.module:factory")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


def check_token_space(space: SearchSpace, name: str) -> SearchSpace:
    """``space``, named ``name``, after checking what every searcher relies on: one label per position, at least
    one choice each, a valid start and a whole parameter count for it."""
    space.name = name
    labels, table = space.labels(), space.range_table()
    if len(labels) != len(table) or not table:
        raise ValueError(f"space {name!r} has {len(labels)} labels for {len(table)} positions; labels() and "
                         "choices() need one entry per position, and at least one position")
    empty = [label for label, n in zip(labels, table) if n < 1]
    if empty:
        raise ValueError(f"space {name!r}: position {empty[0]!r} has no choice; give every position at least one")
    try:
        start = space.validate(space.init_tokens())
    except ValueError as exc:
        raise ValueError(f"space {name!r}: init_tokens() is not an architecture of the space ({exc})") from None
    params = space.num_params(start)
    if isinstance(params, bool) or not isinstance(params, numbers.Integral) or params < 0:
        raise ValueError(f"space {name!r}: num_params() must return a whole number of parameters, got {params!r}")
    return space


__all__ = ["SearchSpace", "check_token_space", "get", "has_network", "is_model_space", "names",
           "user_token_class"]
