"""Run, resume and summarise an architecture search with Ray Tune.

A search writes everything under ``<storage_path>/<name>/``: Tune's experiment state and trial checkpoints,
the settings (``raynas_search.json``, so ``resume`` needs only the path and name), ``results.csv`` (one row per
trial, appended as trials finish, in the searcher's order once the search ends) and ``best_arch.json``.

Example:
    >>> from raynas.runs.search import run
    >>> from raynas.settings import SearchSettings
    >>> outcome = run(SearchSettings(max_params=20000, num_samples=6))  # doctest: +SKIP
    >>> outcome.best["val_acc"]  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

from ray import tune
from ray.tune.schedulers import TrialScheduler

from raynas import storage
from raynas.log import logger
from raynas.results import SEARCH_COLUMNS, Outcome, ResultsLog
from raynas.searchers import SEARCHERS, TokenSearcher
from raynas.searchers.base import Finished
from raynas.searchers.batched import Batched
from raynas.settings import SETTINGS_FILE, SearchSettings, check_applies, named
from raynas.spaces import record, sampling
from raynas.spaces.base import SearchSpace
from raynas.spaces.tabular import TabularSpace
from raynas.tune import cluster, schedulers
from raynas.tune.build import (
    TrialFunction,
    check_table_there,
    few_architectures,
    full_epochs,
    make_scheduler,
    make_searcher,
    make_space,
    make_trainable,
    plural,
)
from raynas.tune.experiment import (
    experiment_state_readable,
    read_json,
    repair_checkpoints,
    running_trials,
    searcher_state_readable,
)
from raynas.tune.finish import finish, fit, run_config, trial_dirname
from raynas.tune.progress import EpochLines, Progress

# a snapshot per finished checkpoint is what makes a killed search resumable; Tune warns about it
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def run(
    settings: SearchSettings | dict[str, Any],
    function: TrialFunction | None = None,
    *,
    searcher: TokenSearcher | None = None,
    scheduler: TrialScheduler | None = None,
) -> Outcome:
    """Run the search described by ``settings`` (or a dict of them, as ``SearchSettings.from_dict`` takes) to
    the end and write its outputs."""
    if not isinstance(settings, SearchSettings):
        settings = SearchSettings.from_dict(settings)
    if not settings.supernet_checkpoint:  # a one-shot search's subnet stage was checked as the one-shot search
        check_applies(settings.given(), trains=function is None)
    space = make_space(settings)
    own_searcher = searcher
    searcher = make_searcher(settings, space) if own_searcher is None else _own_searcher(own_searcher, settings, space)
    if scheduler is not None and settings.scheduler:
        raise ValueError(f"give settings.scheduler {settings.scheduler!r} or a scheduler object, not both")
    storage.check_kind(settings.storage_path, settings.name, SETTINGS_FILE)
    if storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}") is not None:
        raise FileExistsError(
            f"a search named {settings.name!r} already exists under "
            f"{storage.normalize(settings.storage_path)}; continue it with `raynas resume "
            f"--storage-path {settings.storage_path} --name {settings.name}` or pick another {named('name')}"
        )
    storage.check_writable(settings.storage_path)
    cluster.connect(settings)
    if function is not None:  # recorded, so a resume without it is a clear error, not Tune's
        settings = dataclasses.replace(settings, trial_function=qualified(function))
    # Tune restores these objects; a resume without Tune's record needs new ones: recorded, to say so
    if own_searcher is not None:
        settings = dataclasses.replace(settings, own_searcher=qualified(type(own_searcher)))
    if scheduler is not None:
        settings = dataclasses.replace(settings, own_scheduler=qualified(type(scheduler)))
    available = sampling.count_feasible(space, settings.max_params, settings.min_params)  # may call user code
    here = dataclasses.replace(settings, storage_path=storage.normalize(settings.storage_path))  # resume checks it
    storage.write_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}", here.to_json())
    record.write(settings.storage_path, settings.name, space)
    if available is not None and available < settings.num_samples:
        flag = named("num_subnets" if settings.supernet_checkpoint else "num_samples")  # a one-shot stage's, or ours
        logger.info(
            f"{few_architectures(space.name, available, settings.max_params, settings.min_params)}: "
            f"the search ends after {plural(available, 'trial')}, not {flag} {settings.num_samples}"
        )
    if function is None and not isinstance(space, TabularSpace) and settings.epochs <= settings.reward_epochs:
        logger.warning(
            f"{named('epochs')} {settings.epochs} is not above {named('reward_epochs')} {settings.reward_epochs}: "
            "the reward averages every epoch's validation accuracy, the first, half-trained ones too; raise "
            f"{named('epochs')} or lower {named('reward_epochs')}"
        )
    total = min(available, settings.num_samples) if available is not None else None
    return finish(settings, space, fit(_tuner(settings, space, searcher, function, scheduler, total)))


def _tuner(
    settings: SearchSettings,
    space: SearchSpace,
    searcher: TokenSearcher,
    function: TrialFunction | None,
    scheduler: TrialScheduler | None = None,
    total: int | None = None,
) -> tune.Tuner:
    """A new Tune experiment of the search, driven by ``searcher`` (and ``make_scheduler(settings)`` unless
    ``scheduler`` is given); ``total``: the trials it will run, when fewer than ``num_samples``."""
    # when Tune restores the experiment, the searcher catches up with the trials finished after its snapshot
    searcher.finished_trials = functools.partial(finished_trials, settings.storage_path, settings.name, searcher.metric)
    searcher.running_trials = functools.partial(running_trials, settings.storage_path, settings.name)
    # a one-shot search's subnet stage: several subnets per trial
    batched = Batched(searcher, settings.oneshot()["subnets_per_trial"]) if settings.supernet_checkpoint else None
    return tune.Tuner(
        make_trainable(settings, space, function),
        tune_config=tune.TuneConfig(
            search_alg=batched or searcher,
            scheduler=scheduler or make_scheduler(settings),
            num_samples=settings.num_samples,
            max_concurrent_trials=settings.concurrency,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=run_config(settings, [Progress(settings, total=total), *epoch_lines(settings, space, function)]),
    )


def load_settings(storage_path: str, name: str, other_kind: str = "continue") -> SearchSettings:
    """The settings a search at ``storage_path/name`` was started with. A run of another kind there is an error
    that ends with ``other_kind``, or says how to continue that run (``"continue"``)."""
    text = storage.read_text(storage_path, f"{name}/{SETTINGS_FILE}")
    if text is None:
        storage.check_kind(storage_path, name, SETTINGS_FILE, other_kind)  # another kind of run: say which
        raise FileNotFoundError(
            f"no raynas search named {name!r} under {storage.normalize(storage_path)} "
            f"(no {name}/{SETTINGS_FILE}); check {named('storage_path')} and {named('name')}"
        )
    where = f"{storage.normalize(storage_path)}/{name}/{SETTINGS_FILE}"
    try:
        return SearchSettings.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{where} is not valid JSON ({exc}); restore it or start the search again under another {named('name')}"
        ) from None
    except ValueError as exc:  # not an object, or damaged values
        raise ValueError(
            f"{where} is not a usable raynas search record ({exc}); "
            f"restore it or start the search again under another {named('name')}"
        ) from None


def resume(
    storage_path: str,
    name: str,
    address: str | None = None,
    function: TrialFunction | None = None,
    *,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    searcher: TokenSearcher | None = None,
    scheduler: TrialScheduler | None = None,
) -> Outcome:
    """Continue an interrupted search with ``Tuner.restore`` (searcher state included) and finish it.

    ``cpus_per_trial`` / ``gpus_per_trial`` change the resources of the trials still to run (a search started on
    a GPU cluster continued on a CPU machine, say); left ``None``, the search keeps those it started with.
    ``searcher`` / ``scheduler``: new objects of the classes a search was started with, used when Tune cannot
    restore its own (the folder moved, other resources, a damaged record); the searcher gets the saved state.
    ``raynas.resume`` continues any kind of run.
    """
    storage_path = os.fspath(storage_path)  # a pathlib.Path too
    settings = load_settings(storage_path, name)
    check_table_there(settings, name)
    if settings.searcher not in SEARCHERS:
        raise ValueError(
            f"search {name!r} is run by {settings.searcher!r}, not by a token searcher; continue it with "
            "raynas.resume(storage_path, name)"
        )
    if function is None and settings.trial_function:
        raise ValueError(
            f"search {name!r} ran your trial function {settings.trial_function}; resume it from Python "
            "with raynas.resume(storage_path, name, function=<that function>)"
        )
    started, path = storage.folder(settings.storage_path, settings.name), storage.folder(storage_path, name)
    changed = _change_resources(settings, cpus_per_trial, gpus_per_trial)
    recorded = settings.to_json()
    _move(settings, storage_path, name)
    settings.address = address
    space = make_space(settings)
    record.check_unchanged(storage_path, name, space)
    cluster.connect(settings)  # checks that a trial fits
    if changed:  # recorded, so that a later resume keeps them
        storage.write_text(storage_path, f"{name}/{SETTINGS_FILE}", recorded)
    names = storage.list_names(storage_path, name)
    if started != path:  # Tune's records name the old folder: trials it made would go back there
        why = f"search {name!r} was started in {started} and is now in {path}"
    elif changed:  # Tune's records hold each trial's resources
        why = f"the trials' resources changed ({changed})"
    elif not experiment_state_readable(storage_path, name, names) or not searcher_state_readable(
        storage_path, name, names
    ):
        why = f"Tune's record of {name!r} is damaged or missing (its driver died while writing it)"
    else:
        why = ""
    if why:
        for given, named in ((searcher, settings.own_searcher), (scheduler, settings.own_scheduler)):
            if given is None and named is not None:
                raise ValueError(
                    f"{why}, so Tune cannot restore the {named} object search {name!r} ran with; resume it "
                    "from Python with raynas.resume(storage_path, name, searcher=..., scheduler=...) and new ones"
                )
        saved = _saved_searcher(settings, space, names, why, searcher and _own_searcher(searcher, settings, space))
        tuner = _tuner(settings, space, saved, function, scheduler or _resumed_scheduler(settings, names))
    else:
        repair_checkpoints(storage_path, name)
        tuner = tune.Tuner.restore(path, trainable=make_trainable(settings, space, function))
    return finish(settings, space, fit(tuner))


def _change_resources(settings: SearchSettings, cpus_per_trial: float | None, gpus_per_trial: float | None) -> str:
    """Give ``settings`` the resources per trial asked for; what changed (``""``: nothing), e.g.
    ``"gpus_per_trial 1 -> 0"``. Bad values are one error, the settings untouched."""
    asked = {"cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial}
    new = {key: float(value) for key, value in asked.items() if value is not None and value != getattr(settings, key)}
    if new:
        dataclasses.replace(settings, **new)  # type: ignore[arg-type]  # checks them
    changes = [f"{named(key)} {getattr(settings, key):g} -> {value:g}" for key, value in new.items()]
    for key, value in new.items():
        setattr(settings, key, value)
    return ", ".join(changes)


def _move(settings: SearchSettings, storage_path: str, name: str) -> None:
    """Settings recorded at ``storage_path/name``, for the search where it is now: its folder may have been moved,
    renamed or copied since it started. A one-shot stage's supernet lies in the folder around it."""
    recorded = storage.normalize(settings.storage_path).rstrip("/")
    if settings.supernet_checkpoint and settings.supernet_checkpoint.startswith(f"{recorded}/"):
        moved = storage.normalize(storage_path).rstrip("/")
        settings.supernet_checkpoint = moved + settings.supernet_checkpoint[len(recorded) :]
    settings.storage_path, settings.name = storage_path, name


def _resumed_scheduler(settings: SearchSettings, names: list[str]) -> schedulers.LiveTrialsFirst:
    """The scheduler of a new Tune experiment continuing the search: ASHA gets back the rungs of the trials that
    finished before (each one's per-epoch rewards, from the progress.csv in its folder)."""
    scheduler = make_scheduler(settings)
    if isinstance(scheduler, schedulers.ASHA):
        ids = set(ResultsLog(settings.storage_path, settings.name, SEARCH_COLUMNS).rows.trial_id.astype(str))
        for folder in names:  # trial_<trial id>_index=<i>, or (older runs) <trainable>_<trial id>_<counter>_...
            parts = folder.split("_")  # a trial id is one part (a searcher's trials) or two (a grid's)
            trial_id = next((i for i in parts + [f"{a}_{b}" for a, b in zip(parts, parts[1:])] if i in ids), None)
            text = trial_id and storage.read_text(settings.storage_path, f"{settings.name}/{folder}/progress.csv")
            if trial_id and text:
                scheduler.record(trial_id, schedulers.progress_rewards(text))
    return scheduler


def _saved_searcher(
    settings: SearchSettings, space: SearchSpace, names: list[str], why: str, searcher: TokenSearcher | None = None
) -> TokenSearcher:
    """The search's searcher (``searcher``, else the one its settings name) as raynas last saved it, for a new
    Tune experiment that continues the search (``why`` says why Tune's own cannot)."""
    searcher = searcher or make_searcher(settings, space)
    states = sorted((n for n in names if n.startswith("searcher-state-")), reverse=True)
    # the newest state that parses: a driver killed while Tune copied one leaves it cut short
    saved = next((s for s in (read_json(settings.storage_path, f"{settings.name}/{n}") for n in states) if s), None)
    if saved is not None:
        searcher.set_state(saved)
    searcher.recover(finished_trials(settings.storage_path, settings.name, searcher.metric))
    logger.info(
        f"{why}; continuing from results.csv and the searcher's saved state ({searcher.issued} trials handed out)"
    )
    return searcher


def finished_trials(storage_path: str, name: str, metric: str) -> list[Finished]:
    """The finished trials of results.csv as :meth:`TokenSearcher.recover` takes them."""
    rows = ResultsLog(storage_path, name, SEARCH_COLUMNS).rows

    def number(text: str) -> int | None:
        return int(float(text)) if text else None

    return [
        (
            row.trial_id,
            json.loads(row.tokens),
            None if row.status == "ERROR" else {metric: float(row.reward), "epoch": number(row.epochs)},
            number(row.trial_index),
        )
        for row in rows.itertuples()
        if row.status == "ERROR" or row.reward
    ]


def qualified(thing: Any) -> str:
    """``module:name`` of a function or class, as a record names it."""
    return f"{thing.__module__}:{thing.__qualname__}"


def _own_searcher(searcher: Any, settings: SearchSettings, space: SearchSpace) -> TokenSearcher:
    """A user's searcher object, checked against the search: the space and budget of ``settings``."""
    if not isinstance(searcher, TokenSearcher):
        raise ValueError(
            f"searcher must be a raynas TokenSearcher (a Ray Tune Searcher that proposes the space's tokens, e.g. "
            f"a subclass of raynas.searchers.TokenSearcher), got {type(searcher).__name__}"
        )
    if searcher.space.range_table() != space.range_table() or searcher.space.labels() != space.labels():
        raise ValueError(
            f"the searcher searches space {searcher.space.name!r}, not the settings' {space.name!r}; build it over "
            "raynas.tune.build.make_space(settings)"
        )
    budget, its = (settings.max_params, settings.min_params), (searcher.max_params, searcher.min_params)
    if budget != its:
        raise ValueError(
            f"the searcher's budget (max_params, min_params) is {its} and the settings' {budget}; give the "
            "searcher the settings' max_params and min_params"
        )
    if searcher.num_samples not in (None, settings.num_samples):
        raise ValueError(
            f"the searcher's num_samples is {searcher.num_samples} and the settings' {settings.num_samples}; give "
            "it the settings' num_samples, or none"
        )
    # the trials it hands out in all, and a trial's epochs (both known to raynas): what a resume goes on with
    searcher.num_samples, searcher.full_epochs = settings.num_samples, full_epochs(settings)
    return searcher


def epoch_lines(settings: SearchSettings, space: SearchSpace, function: TrialFunction | None) -> list[EpochLines]:
    """A line per trial epoch, unless the trials look accuracies up in a table or score subnets (no epochs)."""
    epochless = (function is None and isinstance(space, TabularSpace)) or settings.supernet_checkpoint
    return [] if epochless else [EpochLines(settings.epochs)]
