"""Every kind of run, and which kind a folder holds: the one place that tells the kinds apart.

A run's folder ``<storage_path>/<name>`` holds the record its kind writes first (the settings it was started
with); :func:`kind_at` reads it, and :func:`resume` continues any kind from it.

Example:
    >>> [kind.name for kind in KINDS]
    ['oneshot', 'enas', 'search', 'darts', 'pipeline', 'retrain']
    >>> kind_of({"searcher": "oneshot"}).name
    'oneshot'
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from raynas import settings as names
from raynas import storage
from raynas.results import Outcome
from raynas.settings import ONE_SHOT, SETTINGS_FILE, SearchSettings


@dataclass(frozen=True)
class Kind:
    """A kind of run: its name, the record in its folder, and the module that runs and resumes it."""

    name: str
    record: str
    module_name: str
    #: what the record holds for this kind (among kinds sharing a record file)
    searcher: str | None = None
    #: whether its trials are scored on shared weights (its results are subnets, some of them retrained)
    shared_weights: bool = False

    @property
    def module(self) -> ModuleType:
        """The module with ``run`` and ``resume`` of this kind (imported when first needed: it imports Ray)."""
        return importlib.import_module(self.module_name)


#: the kinds, in the order a record is matched (one-shot and ENAS searches write the token search's record)
KINDS = (
    Kind("oneshot", SETTINGS_FILE, "raynas.runs.oneshot", searcher=ONE_SHOT, shared_weights=True),
    Kind("enas", SETTINGS_FILE, "raynas.runs.enas", searcher=names.ENAS, shared_weights=True),
    Kind("search", SETTINGS_FILE, "raynas.runs.search"),
    Kind("darts", storage.DARTS_RECORD, "raynas.runs.darts"),
    Kind("pipeline", storage.PIPELINE_RECORD, "raynas.runs.pipeline"),
    Kind("retrain", storage.RETRAIN_RECORD, "raynas.runs.retrain"),
)
ONESHOT, ENAS, SEARCH, DARTS, PIPELINE, RETRAIN = KINDS


def kind_of(record: dict[str, Any], file: str = SETTINGS_FILE) -> Kind:
    """The kind whose record file ``file`` holds ``record``."""
    return next(k for k in KINDS if k.record == file and (k.searcher is None or record.get("searcher") == k.searcher))


def kind_at(storage_path: str | os.PathLike, name: str) -> Kind:
    """The kind of run in ``storage_path/name``; ``FileNotFoundError`` when it holds none."""
    storage_path = os.fspath(storage_path)
    for file in dict.fromkeys(k.record for k in KINDS):
        text = storage.read_text(storage_path, f"{name}/{file}")
        if text is not None:
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                record = {}  # the kind's own reader says what is wrong with it
            return kind_of(record if isinstance(record, dict) else {}, file)
    raise FileNotFoundError(
        f"no raynas run named {name!r} under {storage.normalize(storage_path)} (no record of a search, DARTS "
        "search, pipeline or retrain in it); check storage_path and name"
    )


def resume(
    storage_path: str | os.PathLike,
    name: str,
    address: str | None = None,
    function: Any = None,
    *,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    **objects: Any,
) -> Outcome:
    """Continue the run ``storage_path/name``, whatever its kind, to its end; a finished run returns its results.

    ``function``: the trial function a token search was started with; ``searcher`` / ``scheduler``: new objects
    of the classes it was started with, for when Tune cannot restore its own. ``cpus_per_trial`` /
    ``gpus_per_trial``: other resources for the trials still to run (token searches only).

    Example:
        >>> import raynas
        >>> outcome = raynas.resume("runs", "digits")  # doctest: +SKIP
        >>> outcome.best["arch"]  # doctest: +SKIP
    """
    storage_path = os.fspath(storage_path)
    kind = kind_at(storage_path, name)
    resources = {"cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial}
    if kind is SEARCH:
        return kind.module.resume(storage_path, name, address, function, **resources, **objects)
    _takes_none(f"{name!r} is a {kind.name} run, which", function=function, **objects)
    return kind.module.resume(storage_path, name, address, **resources)


def run(settings: Any, function: Any = None, **objects: Any) -> Outcome:
    """Run ``settings`` to the end: a ``SearchSettings`` (token or one-shot search, by its ``searcher``), a
    ``DartsSettings`` or a ``PipelineSettings``. Token searches also take your own trial ``function``,
    ``searcher`` (a :class:`raynas.searchers.TokenSearcher` over the space) and ``scheduler`` (a Tune scheduler).

    Example:
        >>> import raynas
        >>> outcome = raynas.run(raynas.SearchSettings(max_params=38_000, num_samples=6))  # doctest: +SKIP
    """
    from raynas.runs import darts, pipeline  # imported here: they import Ray

    if isinstance(settings, darts.DartsSettings):
        kind = DARTS
    elif isinstance(settings, pipeline.PipelineSettings):
        kind = PIPELINE
    else:
        if not isinstance(settings, SearchSettings):
            settings = SearchSettings.from_dict(settings)
        kind = kind_of({"searcher": settings.searcher})
    if kind is SEARCH:
        return kind.module.run(settings, function, **objects)
    _takes_none(f"a {kind.name} run", function=function, **objects)
    return kind.module.run(settings)


def _takes_none(what: str, **given: Any) -> None:
    """One error for a trial function, searcher or scheduler object given to a kind of run that takes none."""
    wrong = [key for key, value in given.items() if value is not None]
    if wrong:
        raise ValueError(f"{what} takes no {' or '.join(wrong)} object; drop {', '.join(wrong)}")
