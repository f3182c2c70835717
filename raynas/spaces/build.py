"""A space built for a dataset: network spaces get its input channels and classes.

Example:
    >>> space_for("small_channel", {}, "digits").kwargs()["in_channels"]
    1
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from raynas import data, spaces
from raynas.settings import named, naming_flags
from raynas.spaces.base import SearchSpace

#: how Python says that a call's arguments do not fit the function's signature
SIGNATURE_ERROR = re.compile(r"unexpected keyword argument|missing \d+ required|multiple values for argument")


def space_for(name: str, kwargs: dict[str, Any], dataset: str) -> SearchSpace:
    """Space ``name``; a network space gets the input channels of ``dataset`` unless ``kwargs`` say."""
    kwargs, added = dict(kwargs), []
    if name == "tabular":
        if "path" not in kwargs:
            how = "pass --table NAME|PATH" if naming_flags() else "give space_kwargs {'path': NAME or PATH}"
            raise ValueError(f"space 'tabular' needs a benchmark table: {how}")
    elif dataset in data.SHAPES:
        channels, size = data.SHAPES[dataset]
        given = set(kwargs)
        token_class = spaces.user_token_class(name)
        if token_class is not None:  # a user's token space gets the dataset's shape if it takes it
            taken = inspect.signature(token_class).parameters
            for key, value in (("in_channels", channels), ("num_classes", data.NUM_CLASSES)):
                if key in taken or any(p.kind is p.VAR_KEYWORD for p in taken.values()):
                    kwargs.setdefault(key, value)
        else:
            kwargs.setdefault("in_channels", channels)
        if spaces.is_model_space(name):  # a model of labelled choices: classes, and a sample for the dry run
            kwargs.setdefault("num_classes", data.NUM_CLASSES)
            kwargs.setdefault("input_shape", [channels, size, size])
        added = [key for key in ("in_channels", "num_classes") if key in kwargs and key not in given]
        for key, value in (("in_channels", channels), ("num_classes", data.NUM_CLASSES)):
            if key in given and key in kwargs and kwargs[key] != value:
                raise ValueError(
                    f"{named('space_kwargs')} gives {key} {kwargs[key]!r} but {named('data')} {dataset} has {value}; "
                    f"drop {key} from {named('space_kwargs')} (raynas sets it from the data)"
                )
    try:
        return spaces.get(name, **kwargs)
    except TypeError as exc:
        unexpected = next((key for key in added if f"unexpected keyword argument '{key}'" in str(exc)), None)
        if unexpected:  # raynas passed it, not the user
            raise ValueError(
                f"space {name!r} must take the argument {unexpected!r}, which raynas sets from the "
                f"dataset ({kwargs[unexpected]} for {dataset}); add it to its signature"
            ) from None
        if SIGNATURE_ERROR.search(str(exc)):  # an argument the space does not take, or lacks
            raise ValueError(
                f"space {name!r} cannot be built from its arguments {kwargs} ({exc}); fix {named('space_kwargs')}"
            ) from None
        raise spaces.in_user_code(name, kwargs, exc) from None  # inside the space's code: say where
