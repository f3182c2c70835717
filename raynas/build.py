"""The parts of a search, built from its settings: the space, the searcher, the scheduler and the trainable.

Example:
    >>> from raynas.settings import SearchSettings
    >>> settings = SearchSettings(space="small_channel", max_params=20000)
    >>> make_searcher(settings, space_for(settings.space, {}, settings.data)).max_params
    20000
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from typing import Any

from ray import tune

from raynas import data, schedulers, spaces
from raynas.searchers import SEARCHERS, TokenSearcher
from raynas.settings import SearchSettings
from raynas.spaces.base import SearchSpace
from raynas.spaces.choices import ModelSpace

TrialFunction = Callable[[dict, dict], None]
#: how Python says that a call's arguments do not fit the function's signature
SIGNATURE_ERROR = re.compile(r"unexpected keyword argument|missing \d+ required|multiple values for argument")


def space_for(name: str, kwargs: dict[str, Any], dataset: str) -> SearchSpace:
    """Space ``name``; a network space gets the input channels of ``dataset`` unless ``kwargs`` say."""
    kwargs, added = dict(kwargs), []
    if name == "tabular":
        if "path" not in kwargs:
            raise ValueError("space 'tabular' needs a benchmark table: pass --table PATH")
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
                    f"--space-kwargs gives {key} {kwargs[key]!r} but --data {dataset} has {value}; "
                    f"drop {key} from --space-kwargs (raynas sets it from the data)"
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
                f"space {name!r} cannot be built from its arguments {kwargs} ({exc}); fix --space-kwargs"
            ) from None
        raise spaces.in_user_code(name, kwargs, exc) from None  # inside the space's code: say where


def check_table_there(settings: SearchSettings, name: str) -> None:
    """The table a recorded table replay read must still be where it was: else one error that says to put it back
    (``--table`` is a flag of a new search only)."""
    path = settings.space_kwargs.get("path") if settings.space == "tabular" else None
    if isinstance(path, str) and not os.path.isfile(path):
        raise ValueError(
            f"search {name!r} replayed the benchmark table {path}, which is not there any more; put "
            "the table back there (the search's architectures and accuracies are read from it)"
        )


def few_architectures(space: str, available: int, max_params: int | None, min_params: int | None) -> str:
    """What limits a search to ``available`` architectures: the budget, or the space itself.

    Example:
        >>> few_architectures("tabular", 1, None, None)
        "space 'tabular' has only 1 architecture"
    """
    if max_params is None and min_params is None:
        return f"space {space!r} has only {plural(available, 'architecture')}"
    return (
        f"only {plural(available, 'architecture')} of space {space!r} "
        f"{'is' if available == 1 else 'are'} inside the budget (widen it for more)"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def make_space(settings: SearchSettings) -> SearchSpace:
    """The space of ``settings``, after checking that its data can be loaded."""
    if settings.space != "tabular":
        data.check(settings.data, settings.data_dir, settings.val_fraction)
    space = space_for(settings.space, settings.space_kwargs, settings.data)
    if isinstance(space, ModelSpace):
        space.fresh()  # a factory that hands out one shared model fails here, not in every trial
    if spaces.user_token_class(settings.space) is not None and settings.data in data.SHAPES:
        from raynas.trainables.retrain import check_network

        channels, size = data.SHAPES[settings.data]
        check_network(space, (channels, size, size), data.NUM_CLASSES)
    return space


def make_searcher(settings: SearchSettings, space: SearchSpace) -> TokenSearcher:
    """The searcher of ``settings`` over ``space``, with the budget checked now."""
    if settings.searcher not in SEARCHERS:
        runner = {"oneshot": "raynas.oneshot.run", "darts": "raynas.darts_search.run"}.get(settings.searcher)
        found = (
            f"searcher {settings.searcher!r} is run by {runner}"
            if runner
            else f"unknown searcher {settings.searcher!r}"
        )
        raise ValueError(f"{found}; choose one of: {', '.join(SEARCHERS)}")
    kwargs: dict[str, Any] = {
        "max_params": settings.max_params,
        "min_params": settings.min_params,
        "seed": settings.seed,
        "num_samples": settings.num_samples,
        "full_epochs": full_epochs(settings),
    }
    if settings.searcher == "sanas":
        kwargs.update(
            init_temperature=settings.init_temperature,
            decay=settings.decay,
            reward_scale=settings.reward_scale,
            warm_start=settings.warm_start,
            restart_after=settings.restart_after or None,
            far_moves=settings.far_moves,
            screened=float(settings.screened),
            screen_size=settings.screen_size,
        )
    return SEARCHERS[settings.searcher](space, **kwargs)


def full_epochs(settings: SearchSettings) -> int | None:
    """Epochs of a complete trial when a scheduler may stop trials earlier, else ``None``."""
    return settings.epochs if settings.scheduler else None


def make_scheduler(settings: SearchSettings) -> schedulers.LiveTrialsFirst:
    """The trial scheduler of ``settings``: ASHA on the epoch (``training_iteration``), or first-in first-out."""
    if not settings.scheduler:
        return schedulers.FIFO()
    return schedulers.ASHA(
        time_attr="training_iteration",
        metric="reward",
        mode="max",
        max_t=settings.epochs,
        grace_period=settings.grace_epochs,
        reduction_factor=settings.reduction_factor,
    )


def make_trainable(settings: SearchSettings, space: SearchSpace, function: TrialFunction | None = None):
    """The Tune trainable, with the settings bound and the per-trial resources attached.

    ``function(config, settings)`` replaces the default trial (retraining, or a table lookup for a tabular
    space); ``config["tokens"]`` is the architecture and ``settings`` the search settings as a dict.
    """
    if function is None and settings.space == "tabular":
        from raynas.trainables.lookup import lookup as function
    elif function is None:
        from raynas.trainables.retrain import retrain as function
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(function, settings=trial_settings(settings, space)), resources)


def trial_settings(settings: SearchSettings, space: SearchSpace) -> dict[str, Any]:
    """The settings a trial receives: the search's, with the space's full constructor arguments."""
    return {**settings.to_dict(), "space_kwargs": space.kwargs()}
