"""The parts of a search, built from its settings: the space, the searcher, the scheduler and the trainable.

Example:
    >>> from raynas.settings import DARTS, ENAS, ONE_SHOT, SearchSettings, checked_options
    >>> settings = SearchSettings(space="small_channel", max_params=20000)
    >>> from raynas.spaces.build import space_for
    >>> make_searcher(settings, space_for(settings.space, {}, settings.data)).max_params
    20000
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ray import tune

from raynas import data, spaces
from raynas.searchers import SEARCHERS, TokenSearcher
from raynas.settings import DARTS, ENAS, ONE_SHOT, SearchSettings, checked_options
from raynas.spaces import tables
from raynas.spaces.base import SearchSpace
from raynas.spaces.build import space_for
from raynas.spaces.choices import ModelSpace
from raynas.tune import schedulers

TrialFunction = Callable[[dict, dict], None]


def check_table_there(settings: SearchSettings, name: str) -> None:
    """The table a recorded table replay read must still be where it was: else one error that says to put it back
    (``--table`` is a flag of a new search only)."""
    path = settings.space_kwargs.get("path") if settings.space == "tabular" else None
    if isinstance(path, str) and path in tables.TABLES:
        tables.resolve(path)  # a published table: downloaded here, or an error that says how
    elif isinstance(path, str) and not os.path.isfile(path):
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
    """The searcher of ``settings`` over ``space``, with its ``searcher_options`` and the budget checked now.

    Example:
        >>> settings = SearchSettings(searcher="evolution", searcher_options={"population": 12}, num_samples=40)
        >>> make_searcher(settings, space_for(settings.space, {}, settings.data)).population_size
        12
    """
    if settings.searcher not in SEARCHERS:
        runners = {ONE_SHOT: "oneshot", ENAS: "enas", DARTS: "darts"}
        runner = f"raynas.runs.{runners[settings.searcher]}.run" if settings.searcher in runners else None
        found = (
            f"searcher {settings.searcher!r} is run by {runner}"
            if runner
            else f"unknown searcher {settings.searcher!r}"
        )
        raise ValueError(f"{found}; choose one of: {', '.join(SEARCHERS)}")
    # checked again: the dict may have changed since the settings were built
    options = checked_options(settings.searcher, settings.oneshot()["subnet_searcher"], settings.searcher_options)
    return SEARCHERS[settings.searcher](
        space,
        max_params=settings.max_params,
        min_params=settings.min_params,
        seed=settings.seed,
        num_samples=settings.num_samples,
        full_epochs=full_epochs(settings),
        **options,
    )


def full_epochs(settings: SearchSettings) -> int | None:
    """Epochs of a complete trial when a scheduler may stop trials earlier, else ``None``."""
    return settings.epochs if settings.scheduler else None


def make_scheduler(settings: SearchSettings) -> schedulers.LiveTrialsFirst:
    """The trial scheduler of ``settings``: ASHA on the epoch (``training_iteration``), or first-in first-out."""
    if not settings.scheduler:
        return schedulers.FIFO()
    return schedulers.asha(settings.epochs, settings.scheduler_options)


def make_trainable(settings: SearchSettings, space: SearchSpace, function: TrialFunction | None = None):
    """The Tune trainable, with the settings bound and the per-trial resources attached.

    ``function(config, settings)`` replaces the default trial (retraining, or a table lookup for a tabular
    space); ``config["tokens"]`` is the architecture and ``settings`` the search settings as a dict.
    """
    trial = function if function is not None else default_trial(settings)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(trial, settings=trial_settings(settings, space)), resources)


def default_trial(settings: SearchSettings) -> TrialFunction:
    """The trial of a search that names none: a table lookup for a tabular space, else retraining."""
    if settings.space == "tabular":
        from raynas.trainables.lookup import lookup

        return lookup
    from raynas.trainables.retrain import retrain

    return retrain


def trial_settings(settings: SearchSettings, space: SearchSpace) -> dict[str, Any]:
    """The settings a trial receives: the search's, with the space's full constructor arguments and the options of
    a one-shot search (which its stages' trials read) as settings of their own (``settings["num_subnets"]``)."""
    return {**settings.to_dict(), **settings.oneshot(), "space_kwargs": space.kwargs()}
