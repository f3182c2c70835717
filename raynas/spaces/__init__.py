"""Search spaces and their registry.

Example:
    >>> from raynas import spaces
    >>> "darts_channel" in spaces.names()
    True
    >>> space = spaces.get("small_channel", in_channels=1, num_classes=10)
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import traceback
from typing import Any

from raynas.settings import named
from raynas.spaces.base import SearchSpace, canonical

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
        if token_class is not None and inspect.isabstract(token_class):
            missing = ", ".join(f"{m}()" for m in sorted(token_class.__abstractmethods__))
            raise ValueError(f"space {name!r} does not implement {missing} of SearchSpace; add them")
        try:
            if token_class is not None:
                space = token_class(**kwargs)
                space.created_with = dict(kwargs)  # what recreates it in a trial, unless its kwargs() says otherwise
                return check_token_space(space, name)
            arguments = {k: v for k, v in kwargs.items() if k != "input_shape"}
            return ModelSpace(
                load_factory(name), factory_kwargs=arguments, input_shape=kwargs.get("input_shape"), name=name
            )
        except TypeError:  # an argument the space does not take, or lacks: the caller says which
            raise
        except Exception as exc:
            raise in_user_code(name, kwargs, exc) from None
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown space {name!r}; choose one of: {', '.join(names())}, or a user space package.module:factory"
        )
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


def in_user_code(name: str, kwargs: dict[str, Any], exc: Exception) -> Exception:
    """``exc``, raised while creating user space ``name``, as one line that says where in the user's code; an
    error raynas raised about the space is kept as it is."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, ValueError) and frames and frames[-1].filename.startswith(os.path.dirname(__file__)):
        return exc
    module = sys.modules.get(name.partition(":")[0])
    own = [f for f in frames if module is not None and f.filename == getattr(module, "__file__", None)]
    where = (own or frames)[-1]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ValueError(
        f"space {name!r} fails to build from its arguments {kwargs} ({type(exc).__name__}: {text}, "
        f"at {where.filename}:{where.lineno}); check the space's code and {named('space_kwargs')}"
    )


def check_token_space(space: SearchSpace, name: str) -> SearchSpace:
    """``space``, named ``name``, after checking what every searcher relies on: one label per position, at least
    one choice each, a valid start and a whole parameter count for it."""
    from raynas.spaces import sampling
    from raynas.spaces.choices import check_labels

    space.name = name
    labels, choices = space.labels(), space.choices()
    if len(labels) != len(choices) or not choices:
        raise ValueError(
            f"space {name!r} has {len(labels)} labels for {len(choices)} positions; labels() and "
            "choices() need one entry per position, and at least one position"
        )
    if not all(isinstance(label, str) for label in labels) or len(set(labels)) < len(labels):
        raise ValueError(f"space {name!r}: labels() must be distinct strings, got {labels}")
    check_labels(labels)
    for label, options in zip(labels, choices):
        if not isinstance(options, list) or not options:
            raise ValueError(
                f"space {name!r}: the choices of position {label!r} must be a non-empty list, got {options!r}"
            )
        plain = next((v for v in options if json.loads(canonical(v)) != v), None)
        if plain is not None:  # written to best_arch.json and read back
            raise ValueError(
                f"space {name!r}: choice {plain!r} of position {label!r} is a {type(plain).__name__}, "
                "not a JSON value; use plain numbers, strings or lists (e.g. int(value))"
            )
    try:
        start = space.validate(space.init_tokens())
    except ValueError as exc:
        raise ValueError(f"space {name!r}: init_tokens() is not an architecture of the space ({exc})") from None
    sampling.count(space, start)  # a whole number of parameters
    return space


__all__ = [
    "SearchSpace",
    "check_token_space",
    "get",
    "has_network",
    "in_user_code",
    "is_model_space",
    "names",
    "user_token_class",
]
