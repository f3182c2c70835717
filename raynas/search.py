"""Run, resume and summarise an architecture search with Ray Tune.

A search writes everything under ``<storage_path>/<name>/``: Tune's experiment state and trial checkpoints,
the settings (``raynas_search.json``, so ``resume`` needs only the path and name), ``results.csv`` (one row per
trial, appended as trials finish, in the searcher's order once the search ends) and ``best_arch.json``.

Example:
    >>> from raynas.search import run
    >>> from raynas.settings import SearchSettings
    >>> outcome = run(SearchSettings(max_params=20000, num_samples=6))  # doctest: +SKIP
    >>> outcome.best["val_acc"]  # doctest: +SKIP
    0.93
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import pyarrow.fs
import ray
from ray import tune
from ray.tune.error import TuneError

from raynas import cluster, data, schedulers, spaces, storage
from raynas.results import SEARCH_COLUMNS, ResultsLog, best_first
from raynas.searchers import SEARCHERS, TokenSearcher
from raynas.searchers.base import MAX_ATTEMPTS, Finished, Running
from raynas.settings import SETTINGS_FILE, SearchSettings, check_applies
from raynas.spaces import record, sampling
from raynas.spaces.base import SearchSpace
from raynas.spaces.choices import ModelSpace

# a snapshot per finished checkpoint is what makes a killed search resumable; Tune warns about it
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

BEST_FILE = "best_arch.json"
#: trials that get a progress line each; after them, a summary line every SUMMARY_EVERY_S seconds
PROGRESS_LINES, SUMMARY_EVERY_S = 100, 10.0
TrialFunction = Callable[[dict, dict], None]


@dataclass
class Outcome:
    """What a finished search produced."""
    results: pd.DataFrame
    best: dict[str, Any] | None
    results_path: str
    best_path: str | None


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
                raise ValueError(f"--space-kwargs gives {key} {kwargs[key]!r} but --data {dataset} has {value}; "
                                 f"drop {key} from --space-kwargs (raynas sets it from the data)")
    try:
        return spaces.get(name, **kwargs)
    except TypeError as exc:
        unexpected = next((key for key in added if f"unexpected keyword argument '{key}'" in str(exc)), None)
        if unexpected:  # raynas passed it, not the user
            raise ValueError(f"space {name!r} must take the argument {unexpected!r}, which raynas sets from the "
                             f"dataset ({kwargs[unexpected]} for {dataset}); add it to its signature") from None
        if SIGNATURE_ERROR.search(str(exc)):  # an argument the space does not take, or lacks
            raise ValueError(f"space {name!r} cannot be built from its arguments {kwargs} ({exc}); "
                             "fix --space-kwargs") from None
        raise spaces.in_user_code(name, kwargs, exc) from None  # inside the space's code: say where


def few_architectures(space: str, available: int, max_params: int | None, min_params: int | None) -> str:
    """What limits a search to ``available`` architectures: the budget, or the space itself.

    Example:
        >>> few_architectures("tabular", 1, None, None)
        "space 'tabular' has only 1 architecture"
    """
    if max_params is None and min_params is None:
        return f"space {space!r} has only {_plural(available, 'architecture')}"
    return (f"only {_plural(available, 'architecture')} of space {space!r} "
            f"{'is' if available == 1 else 'are'} inside the budget (widen it for more)")


def _plural(count: int, noun: str) -> str:
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
        found = f"searcher {settings.searcher!r} is run by {runner}" if runner else \
            f"unknown searcher {settings.searcher!r}"
        raise ValueError(f"{found}; choose one of: {', '.join(SEARCHERS)}")
    kwargs: dict[str, Any] = {"max_params": settings.max_params, "min_params": settings.min_params,
                              "seed": settings.seed, "num_samples": settings.num_samples,
                              "full_epochs": full_epochs(settings)}
    if settings.searcher == "sanas":
        kwargs.update(init_temperature=settings.init_temperature, decay=settings.decay,
                      reward_scale=settings.reward_scale, warm_start=settings.warm_start,
                      restart_after=settings.restart_after or None,
                      far_moves=settings.far_moves, screened=float(settings.screened),
                      screen_size=settings.screen_size)
    return SEARCHERS[settings.searcher](space, **kwargs)


def full_epochs(settings: SearchSettings) -> int | None:
    """Epochs of a complete trial when a scheduler may stop trials earlier, else ``None``."""
    return settings.epochs if settings.scheduler else None


def make_scheduler(settings: SearchSettings) -> schedulers.LiveTrialsFirst:
    """The trial scheduler of ``settings``: ASHA on the epoch (``training_iteration``), or first-in first-out."""
    if not settings.scheduler:
        return schedulers.FIFO()
    return schedulers.ASHA(time_attr="training_iteration", metric="reward", mode="max", max_t=settings.epochs,
                           grace_period=settings.grace_epochs, reduction_factor=settings.reduction_factor)


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
    return tune.with_resources(tune.with_parameters(function, settings=trial_settings(settings, space)),
                               resources)


def trial_settings(settings: SearchSettings, space: SearchSpace) -> dict[str, Any]:
    """The settings a trial receives: the search's, with the space's full constructor arguments."""
    return {**settings.to_dict(), "space_kwargs": space.kwargs()}


class Progress(tune.Callback):
    """Appends each finished trial's row to results.csv, so a killed search loses no row, and prints progress.

    One line per finished trial for the first ``lines`` trials, then a summary line (trials done, running,
    best so far, trials per minute) every ``every_s`` seconds. Nothing here grows with the number of trials.
    """

    #: the trials the search will run when fewer architectures fit than --num-samples (a class attribute: a
    #: callback pickled by an earlier version has none of its own)
    total: int | None = None

    def __init__(self, settings: SearchSettings, lines: int = PROGRESS_LINES, every_s: float = SUMMARY_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, total: int | None = None):
        self.settings, self.lines, self.every_s, self.clock = settings, lines, every_s, clock
        self.total = total
        self.space: SearchSpace | None = None  # built when a trial function reports no params

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "space": None}  # Tune pickles this callback; the space is rebuilt when needed

    @property
    def expected(self) -> int:
        """The trials the search will run: ``num_samples``, or fewer when fewer architectures fit."""
        return self.total or self.settings.num_samples

    def params_of(self, tokens: list[int]) -> int:
        """The exact parameter count of ``tokens``, for a trial function that does not report it."""
        if self.space is None:
            self.space = space_for(self.settings.space, self.settings.space_kwargs, self.settings.data)
        return self.space.num_params(tokens)

    def setup(self, **info) -> None:
        """Open results.csv; Tune calls this when a search starts and when it resumes (with this object
        unpickled from the experiment's start, so nothing is kept from __init__ but the arguments)."""
        self.log = ResultsLog(self.settings.storage_path, self.settings.name, SEARCH_COLUMNS)
        earlier = self.log.rows
        full = (earlier.status == "TERMINATED") & (earlier.get("stopped", "") != "True")
        rewards = pd.to_numeric(earlier.reward[full], errors="coerce").dropna()
        self.best = float(rewards.max()) if len(rewards) else None
        self.done, self.done_here = len(earlier), 0  # done counts the trials of earlier sessions too
        self.started = self.last_summary = self.clock()
        if self.done:
            print(f"[raynas] resuming: {self.done}/{self.expected} trials finished before, "
                  f"best={fmt(self.best)}", flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._report(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._report(trial, "ERROR")

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if self.done > self.lines and self.clock() - self.last_summary >= self.every_s:
            self.summary(trials)

    def _report(self, trial, status: str) -> None:
        row = _trial_row(trial, status, full_epochs(self.settings), self.params_of)
        status = row["status"]
        if not self.log.append([row]):
            return  # re-run after a crash: its row is already written
        self.done += 1
        self.done_here += 1
        result = trial.last_result or {}
        reward = _number(result.get("reward")) if status == "TERMINATED" else None
        # a trial a scheduler stopped early has the reward of fewer epochs: never the best of the search
        if reward is not None and math.isfinite(reward) and not row["stopped"] and \
                (self.best is None or reward > self.best):
            self.best = reward
        if self.done <= self.lines:
            stopped = f" (stopped after epoch {_epoch(result)})" if row["stopped"] else ""
            what = (f"tokens={row['tokens']} params={row['params']} reward={fmt(reward)}{stopped}"
                    if status == "TERMINATED" else f"FAILED: {row['error']}")
            print(f"[raynas] trial {self.done}/{self.expected} {trial.trial_id}: {what} "
                  f"best={fmt(self.best)}", flush=True)
        elif self.done == self.lines + 1:
            print(f"[raynas] more than {self.lines} trials: a summary line every {self.every_s:g} s from now on",
                  flush=True)

    def summary(self, trials: list) -> None:
        """Print trials done, running, the best reward so far and trials per minute."""
        now = self.clock()
        running = sum(1 for t in trials if t.status == "RUNNING")
        rate = 60 * self.done_here / max(now - self.started, 1e-9)
        print(f"[raynas] {self.done}/{self.expected} trials done, {running} running, "
              f"best={fmt(self.best)}, {rate:.1f} trials/min", flush=True)
        self.last_summary = now


def _number(value: Any) -> float | None:
    """``value`` as a float, as results.csv reads it back; ``None`` when it is not a number (a trial function
    may report anything).

    Example:
        >>> _number("0.9"), _number("high"), _number(None)
        (0.9, None, None)
    """
    try:
        return None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run_config(settings: SearchSettings, callbacks: list) -> tune.RunConfig:
    return tune.RunConfig(
        name=settings.name, storage_path=storage.normalize(settings.storage_path), verbose=0,
        callbacks=callbacks, failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


def run(settings: SearchSettings | dict[str, Any], function: TrialFunction | None = None) -> Outcome:
    """Run the search described by ``settings`` (or a dict of them, as ``SearchSettings.from_dict`` takes) to
    the end and write its outputs."""
    if not isinstance(settings, SearchSettings):
        settings = SearchSettings.from_dict(settings)
    if not settings.supernet_checkpoint:  # a one-shot search's subnet stage was checked as the one-shot search
        check_applies(settings.given(), trains=function is None)
    space = make_space(settings)
    searcher = make_searcher(settings, space)
    storage.check_kind(settings.storage_path, settings.name, SETTINGS_FILE)
    if storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}") is not None:
        raise FileExistsError(f"a search named {settings.name!r} already exists under "
                              f"{storage.normalize(settings.storage_path)}; continue it with `raynas resume "
                              f"--storage-path {settings.storage_path} --name {settings.name}` or pick another --name")
    storage.check_writable(settings.storage_path)
    cluster.connect(settings)
    if function is not None:  # recorded, so a resume without it is a clear error, not Tune's
        settings = dataclasses.replace(settings, trial_function=f"{function.__module__}:{function.__qualname__}")
    available = sampling.count_feasible(space, settings.max_params, settings.min_params)  # may call user code
    here = dataclasses.replace(settings, storage_path=storage.normalize(settings.storage_path))  # resume checks it
    storage.write_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}", here.to_json())
    record.write(settings.storage_path, settings.name, space)
    if available is not None and available < settings.num_samples:
        flag = "--num-subnets" if settings.supernet_checkpoint else "--num-samples"  # a one-shot stage's, or ours
        print(f"[raynas] {few_architectures(space.name, available, settings.max_params, settings.min_params)}: "
              f"the search ends after {_plural(available, 'trial')}, not {flag} {settings.num_samples}",
              flush=True)
    total = min(available, settings.num_samples) if available is not None else None
    return finish(settings, space, _fit(_tuner(settings, space, searcher, function, total=total)))


def _tuner(settings: SearchSettings, space: SearchSpace, searcher: TokenSearcher, function: TrialFunction | None,
           scheduler: schedulers.LiveTrialsFirst | None = None, total: int | None = None) -> tune.Tuner:
    """A new Tune experiment of the search, driven by ``searcher`` (and ``make_scheduler(settings)`` unless
    ``scheduler`` is given); ``total``: the trials it will run, when fewer than ``num_samples``."""
    # when Tune restores the experiment, the searcher catches up with the trials finished after its snapshot
    searcher.finished_trials = functools.partial(finished_trials, settings.storage_path, settings.name,
                                                 searcher.metric)
    searcher.running_trials = functools.partial(running_trials, settings.storage_path, settings.name)
    return tune.Tuner(
        make_trainable(settings, space, function),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler or make_scheduler(settings),
                                    num_samples=settings.num_samples,
                                    max_concurrent_trials=settings.concurrency, reuse_actors=True),
        run_config=run_config(settings, [Progress(settings, total=total)]))


def load_settings(storage_path: str, name: str) -> SearchSettings:
    """The settings a search at ``storage_path/name`` was started with."""
    text = storage.read_text(storage_path, f"{name}/{SETTINGS_FILE}")
    if text is None:
        storage.check_kind(storage_path, name, SETTINGS_FILE)  # another kind of run: say which
        raise FileNotFoundError(f"no raynas search named {name!r} under {storage.normalize(storage_path)} "
                                f"(no {name}/{SETTINGS_FILE}); check --storage-path and --name")
    where = f"{storage.normalize(storage_path)}/{name}/{SETTINGS_FILE}"
    try:
        return SearchSettings.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON ({exc}); "
                         "restore it or start the search again under another --name") from None
    except ValueError as exc:  # not an object, or damaged values
        raise ValueError(f"{where} is not a usable raynas search record ({exc}); "
                         "restore it or start the search again under another --name") from None


def resume(storage_path: str, name: str, address: str | None = None,
           function: TrialFunction | None = None, *, cpus_per_trial: float | None = None,
           gpus_per_trial: float | None = None) -> Outcome:
    """Continue an interrupted search with ``Tuner.restore`` (searcher state included) and finish it.

    ``cpus_per_trial`` / ``gpus_per_trial`` change the resources of the trials still to run (a search started on
    a GPU cluster continued on a CPU machine, say); left ``None``, the search keeps those it started with.
    """
    storage_path = os.fspath(storage_path)  # a pathlib.Path too
    settings = load_settings(storage_path, name)
    if function is None and settings.trial_function:
        raise ValueError(f"search {name!r} ran your trial function {settings.trial_function}; resume it from Python "
                         "with raynas.search.resume(storage_path, name, function=<that function>)")
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
    elif not experiment_state_readable(storage_path, name, names) or \
            not _searcher_state_readable(storage_path, name, names):
        why = f"Tune's record of {name!r} is damaged or missing (its driver died while writing it)"
    else:
        why = ""
    if why:
        tuner = _tuner(settings, space, _saved_searcher(settings, space, names, why), function,
                       _resumed_scheduler(settings, names))
    else:
        repair_checkpoints(storage_path, name)
        tuner = tune.Tuner.restore(path, trainable=make_trainable(settings, space, function))
    return finish(settings, space, _fit(tuner))


def _change_resources(settings: SearchSettings, cpus_per_trial: float | None, gpus_per_trial: float | None) -> str:
    """Give ``settings`` the resources per trial asked for; what changed (``""``: nothing), e.g.
    ``"--gpus-per-trial 1 -> 0"``. Bad values are one error, the settings untouched."""
    asked = {"cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial}
    new = {key: float(value) for key, value in asked.items() if value is not None and value != getattr(settings, key)}
    if new:
        dataclasses.replace(settings, **new)  # checks them
    changes = [f"--{key.replace('_', '-')} {getattr(settings, key):g} -> {value:g}" for key, value in new.items()]
    for key, value in new.items():
        setattr(settings, key, value)
    return ", ".join(changes)


def same_resources(kind: str, name: str, cpus_per_trial: float | None, gpus_per_trial: float | None) -> None:
    """A ``kind`` of search that continues only with the resources it started with: asking for others is one error.

    Example:
        >>> same_resources("one-shot", "s", None, None)
        >>> same_resources("one-shot", "s", None, 0)
        Traceback (most recent call last):
        ValueError: a one-shot search continues with the resources it was started with; drop --gpus-per-trial \
(it applies to resuming sanas, evolution, tpe and random searches), or start 's' again under another --name
    """
    given = [flag for flag, value in (("--cpus-per-trial", cpus_per_trial), ("--gpus-per-trial", gpus_per_trial))
             if value is not None]
    if given:
        raise ValueError(f"a {kind} search continues with the resources it was started with; drop "
                         f"{' and '.join(given)} (it applies to resuming sanas, evolution, tpe and random searches),"
                         f" or start {name!r} again under another --name")


def _move(settings: SearchSettings, storage_path: str, name: str) -> None:
    """Settings recorded at ``storage_path/name``, for the search where it is now: its folder may have been moved,
    renamed or copied since it started. A one-shot stage's supernet lies in the folder around it."""
    recorded = storage.normalize(settings.storage_path).rstrip("/")
    if settings.supernet_checkpoint and settings.supernet_checkpoint.startswith(f"{recorded}/"):
        moved = storage.normalize(storage_path).rstrip("/")
        settings.supernet_checkpoint = moved + settings.supernet_checkpoint[len(recorded):]
    settings.storage_path, settings.name = storage_path, name


def _resumed_scheduler(settings: SearchSettings, names: list[str]) -> schedulers.LiveTrialsFirst:
    """The scheduler of a new Tune experiment continuing the search: ASHA gets back the rungs of the trials that
    finished before (each one's per-epoch rewards, from the progress.csv in its folder)."""
    scheduler = make_scheduler(settings)
    if isinstance(scheduler, schedulers.ASHA):
        ids = set(ResultsLog(settings.storage_path, settings.name, SEARCH_COLUMNS).rows.trial_id.astype(str))
        for folder in names:  # Tune names a trial's folder <trainable>_<trial id>_<counter>_<config>_<time>
            parts = folder.split("_")  # a trial id is one part (a searcher's trials) or two (a grid's)
            trial_id = next((i for i in parts + [f"{a}_{b}" for a, b in zip(parts, parts[1:])] if i in ids), None)
            text = trial_id and storage.read_text(settings.storage_path, f"{settings.name}/{folder}/progress.csv")
            if text:
                scheduler.record(trial_id, schedulers.progress_rewards(text))
    return scheduler


def _fit(tuner: tune.Tuner) -> tune.ResultGrid:
    """``tuner.fit()``; a trial function's result without ``reward`` is one clear error instead of Tune's."""
    try:
        return tuner.fit()
    except TuneError as exc:
        if "did not include the specified metric" not in str(exc):
            raise
        raise ValueError("a trial reported a result without 'reward'; the trial function must report it, e.g. "
                         "ray.tune.report({'reward': val_acc, 'val_acc': val_acc})") from None


def experiment_state_readable(storage_path: str, name: str, names: list[str]) -> bool:
    """Whether Tune's newest experiment state parses: Tune writes it in place, so a driver killed at that moment
    leaves it cut short, and ``Tuner.restore`` would then start the whole search again from nothing."""
    return _experiment_state(storage_path, name, names) is not None


def _experiment_state(storage_path: str, name: str, names: list[str]) -> dict | None:
    """Tune's newest experiment state (the one ``Tuner.restore`` reads); ``None`` when missing or cut short."""
    states = [n for n in names if n.startswith("experiment_state-") and n.endswith(".json")]
    return _json(storage_path, f"{name}/{max(states)}") if states else None


def _searcher_state_readable(storage_path: str, name: str, names: list[str]) -> bool:
    """Whether the searcher's newest saved state (Tune's searcher-state file, raynas's JSON inside) parses, if
    there is one: a driver killed while Tune copied it to the storage path leaves it cut short, and Tune would
    then continue the experiment without its searcher."""
    states = [n for n in names if n.startswith("searcher-state-")]
    return not states or _json(storage_path, f"{name}/{max(states)}") is not None


def _json(storage_path: str, relpath: str) -> Any:
    """The JSON at ``relpath``; ``None`` when it is missing or does not parse."""
    try:
        return json.loads(storage.read_text(storage_path, relpath) or "")
    except json.JSONDecodeError:
        return None


def _saved_searcher(settings: SearchSettings, space: SearchSpace, names: list[str], why: str) -> TokenSearcher:
    """The search's searcher as raynas last saved it, for a new Tune experiment that continues the search
    (``why`` says why Tune's own cannot)."""
    searcher = make_searcher(settings, space)
    states = sorted((n for n in names if n.startswith("searcher-state-")), reverse=True)
    # the newest state that parses: a driver killed while Tune copied one leaves it cut short
    saved = next((s for s in (_json(settings.storage_path, f"{settings.name}/{n}") for n in states) if s), None)
    if saved is not None:
        searcher.set_state(saved)
    searcher.recover(finished_trials(settings.storage_path, settings.name, searcher.metric))
    print(f"[raynas] {why}; continuing from results.csv and the searcher's saved state ({searcher.issued} trials "
          "handed out)", flush=True)
    return searcher


def finished_trials(storage_path: str, name: str, metric: str) -> list[Finished]:
    """The finished trials of results.csv as :meth:`TokenSearcher.recover` takes them."""
    rows = ResultsLog(storage_path, name, SEARCH_COLUMNS).rows

    def number(text: str) -> int | None:
        return int(float(text)) if text else None

    return [(row.trial_id, json.loads(row.tokens),
             None if row.status == "ERROR" else {metric: float(row.reward), "epoch": number(row.epochs)},
             number(row.trial_index))
            for row in rows.itertuples() if row.status == "ERROR" or row.reward]


def running_trials(storage_path: str, name: str) -> list[Running]:
    """The trials Tune's newest experiment state left unfinished, which ``Tuner.restore`` runs again."""
    return [(t["trial_id"], t["config"]["tokens"], t["config"].get("trial_index"))
            for t in _saved_trials(storage_path, name) if t["status"] not in ENDED]


def repair_checkpoints(storage_path: str, name: str) -> int:
    """Before ``Tuner.restore``: give back each unfinished trial the checkpoint Tune's newest experiment state names.

    Only the newest epoch checkpoint of a trial is kept, and the state is written less often than checkpoints,
    so a driver killed in between leaves the state naming a checkpoint already deleted; Tune would then fail the
    trial. Its newest checkpoint on storage, copied under that name, lets it go on from its last epoch (the
    checkpoint holds its own epoch count). Returns how many trials were repaired.
    """
    names = storage.list_names(storage_path, name)
    state = _experiment_state(storage_path, name, names) or {}
    repaired = 0
    for trial_json, metadata in state.get("trial_data", []):
        trial = json.loads(trial_json)
        named = (json.loads(metadata).get("last_result") or {}).get("checkpoint_dir_name") \
            if isinstance(metadata, str) else None
        folder = next((n for n in names if f"_{trial['trial_id']}_" in n), None)  # <trainable>_<trial id>_<index>_...
        if trial["status"] in ENDED or not named or folder is None or \
                named in storage.list_names(storage_path, f"{name}/{folder}"):
            continue
        newest = storage.newest_checkpoint(storage_path, f"{name}/{folder}")
        if newest is None:
            continue
        fs, source = storage.locate(storage_path, newest)
        _, target = storage.locate(storage_path, f"{name}/{folder}/{named}")
        fs.create_dir(target, recursive=True)
        pyarrow.fs.copy_files(source, target, source_filesystem=fs, destination_filesystem=fs)
        repaired += 1
    return repaired


def _saved_trials(storage_path: str, name: str) -> list[dict[str, Any]]:
    """The trials of Tune's newest experiment state (none when it is missing or cut short)."""
    state = _experiment_state(storage_path, name, storage.list_names(storage_path, name)) or {}
    return [json.loads(data) for data, _ in state.get("trial_data", [])]


def _row(trial_id: str, status: str, config: dict, metrics: dict | None, error: str | None,
         epochs: int | None = None, params_of: Callable[[list[int]], int] | None = None) -> dict:
    """One results.csv row; with ``epochs`` (a scheduler ran), ``stopped`` says the trial was cut early;
    ``params_of(tokens)`` counts the parameters when the trial did not report them."""
    m, tokens = metrics or {}, list(config.get("tokens", []))
    reward = m.get("reward")
    if status == "TERMINATED" and _number(reward) is None:  # a trial function's own report: say what is wrong
        status, reward = "ERROR", None
        error = (f"the trial reported reward {m['reward']!r}, not a number" if "reward" in m else
                 "the trial reported no 'reward'") + "; report a float reward (tune.report({'reward': ...}))"
    params = m.get("params")
    if params is None and tokens and params_of is not None:
        params = params_of(tokens)
    return {"trial_index": config.get("trial_index"), "trial_id": trial_id, "status": status,
            "tokens": json.dumps(tokens), "params": params,
            "reward": reward, "val_acc": m.get("val_acc"),
            "epochs": m.get("epoch"), "wall_time_s": m.get("time_total_s"), "node_ip": m.get("node_ip"),
            "node_id": m.get("node_id"), "gpu_ids": m.get("gpu_ids"), "device": m.get("device"),
            "error": last_line(error) if status == "ERROR" else None,
            "stopped": bool(epochs and status == "TERMINATED" and _epoch(m) < epochs)}


def _epoch(metrics: dict) -> int:
    """Epochs a trial trained: its ``epoch``, else Tune's ``training_iteration``, as the searchers count them."""
    return int(metrics.get("epoch", metrics.get("training_iteration")) or 0)


def _trial_row(trial, status: str, epochs: int | None = None,
               params_of: Callable[[list[int]], int] | None = None) -> dict:
    return _row(trial.trial_id, status, trial.config, trial.last_result,
                _trial_error(trial) if status == "ERROR" else None, epochs, params_of)


def _trial_error(trial) -> str | None:
    """The text of a failed trial's error: Tune writes it to the trial's local folder first, and to storage later."""
    if trial.error_file and os.path.isfile(trial.error_file):
        with open(trial.error_file) as f:
            return f.read()
    return trial.get_error()


def last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "unknown error").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


#: the statuses of a trial that will not run again
ENDED = ("TERMINATED", "ERROR")


class SearchInterrupted(RuntimeError):
    """The search stopped before its end (Ctrl-C): the finished trials are written, ``resume`` continues it."""

    def __init__(self, name: str, unfinished: int):
        self.name, self.unfinished = name, unfinished
        super().__init__(self.describe(f"search {name!r}"))

    def describe(self, what: str) -> str:
        """The message, with ``what`` for the interrupted search (a stage of a one-shot search or pipeline: the
        search and its stage)."""
        them = "it from its" if self.unfinished == 1 else "them from their"
        return (f"{what} was interrupted with {_plural(self.unfinished, 'trial')} unfinished (left out of its "
                f"results; resuming the search continues {them} last checkpoint)")


def ended(grid: tune.ResultGrid, storage_path: str, name: str) -> list[dict | None]:
    """Per result of ``grid`` (the search ``storage_path/name``), its trial's config if the trial ended (finished
    or failed), else ``None``.

    A search interrupted by Ctrl-C returns the trials that were running or waiting as terminated, with a partial
    last result; Tune's experiment state, saved before it stopped them and read by ``resume``, keeps them running.
    A trial whose worker died before it started (killed for memory, say) has no config in its result; the
    experiment state has it.
    """
    saved = _saved_trials(storage_path, name)
    again = {t["trial_id"] for t in saved if t["status"] not in ENDED}
    configs = {t["trial_id"]: t["config"] for t in saved}
    out = []
    for result in grid:
        trial_id = (result.metrics or {}).get("trial_id")
        done = result.error is not None or trial_id not in (None, *again)
        out.append(result.config or configs.get(trial_id) or {} if done else None)
    return out


def check_ended(finished: list[dict | None], name: str) -> None:
    """Raise :class:`SearchInterrupted` when trials of search ``name`` have not ended (``finished``: :func:`ended`)."""
    if None in finished:
        raise SearchInterrupted(name, finished.count(None))


def results_rows(grid: tune.ResultGrid, finished: list[dict | None], epochs: int | None = None,
                 params_of: Callable[[list[int]], int] | None = None) -> list[dict]:
    """One row per trial of ``grid`` that ended (``finished``: their configs, see :func:`ended`), with the columns
    of :data:`SEARCH_COLUMNS` (``epochs``, ``params_of``: see :func:`_row`)."""
    rows = []
    for result, config in zip(grid, finished):
        if config is None:
            continue
        # trial folders are named <trainable>_<trial id>_<index>_...
        trial_id = (result.metrics or {}).get("trial_id") or os.path.basename(result.path).split("_")[1]
        rows.append(_row(trial_id, "ERROR" if result.error else "TERMINATED", config, result.metrics,
                         result.error, epochs, params_of))
    return rows


def finish(settings: SearchSettings, space: SearchSpace, grid: tune.ResultGrid) -> Outcome:
    """Write results.csv and best_arch.json for a fitted grid and print a summary."""
    log = ResultsLog(settings.storage_path, settings.name, SEARCH_COLUMNS)
    # a trial that finished right before a crash has no row yet
    finished = ended(grid, settings.storage_path, settings.name)
    log.append(results_rows(grid, finished, full_epochs(settings), space.num_params))
    results_path, text = log.sort()
    check_ended(finished, settings.name)
    frame = pd.read_csv(io.StringIO(text), dtype={"trial_id": str, "gpu_ids": str})
    if len(frame) < settings.num_samples and \
            sampling.count_feasible(space, settings.max_params, settings.min_params) is None:  # else said at the start
        flag = "--num-subnets" if settings.supernet_checkpoint else "--num-samples"
        print(f"[raynas] the searcher found no other architecture of space {space.name!r} within the budget "
              f"({sampling.budget_flags(settings.max_params, settings.min_params)}) in {MAX_ATTEMPTS} draws: the "
              f"search ended after {_plural(len(frame), 'trial')}, not {flag} {settings.num_samples}; widen the "
              "budget to search further", flush=True)
    done = frame[(frame.status == "TERMINATED") & frame.reward.notna() & ~frame.stopped.eq(True)]
    if done.empty:
        print(f"[raynas] no trial finished; see {results_path}", file=sys.stderr)
        return Outcome(frame, None, results_path, None)
    row = best_first(done).iloc[0]  # the same tie rule as raynas analyze
    result = next((r for r in grid if (r.metrics or {}).get("trial_id") == row.trial_id), None)
    tokens = json.loads(row.tokens)
    checkpoint = trial_checkpoint(settings, result, row.trial_id)
    best = best_arch(settings, space, row, _test_accuracy(settings, space, tokens, checkpoint))
    best_path = storage.write_text(settings.storage_path, f"{settings.name}/{BEST_FILE}",
                                   json.dumps(best, indent=2))
    print(f"[raynas] {len(done)} of {len(frame)} trials finished; best architecture {tokens}\n"
          f"[raynas]   {json.dumps(best['arch'], ensure_ascii=False)}\n"
          f"[raynas]   params {best['params']:,}  reward {best['reward']:.4f}  "
          f"val acc {fmt(best['val_acc'])}  test acc {fmt(best['test_acc'])}\n"
          f"[raynas] wrote {results_path} and {best_path}", flush=True)
    return Outcome(frame, best, results_path, best_path)


def best_arch(settings: SearchSettings, space: SearchSpace, row: Any, test_acc: float | None) -> dict[str, Any]:
    """The ``best_arch.json`` record of one results row (its ``tokens`` a JSON list or a list)."""
    tokens = json.loads(row.tokens) if isinstance(row.tokens, str) else list(row.tokens)
    return {"space": space.name, "space_kwargs": space.kwargs(), "tokens": tokens, "arch": space.to_arch(tokens),
            "params": int(row.params), "reward": float(row.reward),
            "val_acc": None if pd.isna(row.val_acc) else float(row.val_acc),
            "test_acc": test_acc, "trial_id": row.trial_id,
            "data": None if settings.space == "tabular" else settings.data}  # a table replay trains on nothing


def _test_accuracy(settings: SearchSettings, space: SearchSpace, tokens: list[int],
                   checkpoint: tune.Checkpoint | None) -> float | None:
    """The best architecture's accuracy on the test split (the table's accuracy for a tabular space).

    On a GPU, as a Ray task with the trials' resources. Without one the driver evaluates it itself: a task
    would wait for a new worker process to start and import torch (seconds, when the trials' actors have
    taken the CPUs), which is longer than the evaluation.
    """
    if settings.space == "tabular":
        return space.accuracy(tokens)
    if checkpoint is None:
        return None
    from raynas.trainables.retrain import test_accuracy

    if not settings.gpus_per_trial:
        return test_accuracy(checkpoint, trial_settings(settings, space))
    task = ray.remote(test_accuracy).options(num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial)
    return ray.get(task.remote(checkpoint, trial_settings(settings, space)))


def trial_checkpoint(settings: SearchSettings, result: tune.Result | None, trial_id: str) -> tune.Checkpoint | None:
    """The newest stored checkpoint of trial ``trial_id`` (whose Tune result is ``result``, if Tune has it).

    A trial that finished after Tune's last experiment snapshot and before a driver crash is restored with the
    checkpoint the snapshot named, which keeping only the newest checkpoint has since deleted; a trial of an
    experiment whose record was lost has no result at all. Its newest checkpoint on storage is the one of its
    finished run.
    """
    if result is not None and result.checkpoint is not None:
        stored = result.checkpoint
        if stored.filesystem.get_file_info(stored.path).type != pyarrow.fs.FileType.NotFound:
            return stored
    # trial folders are named <trainable>_<trial id>_<index>_...
    folder = next((n for n in storage.list_names(settings.storage_path, settings.name) if f"_{trial_id}_" in n), None)
    if folder is None:
        return None
    relpath = storage.newest_checkpoint(settings.storage_path, f"{settings.name}/{folder}")
    if relpath is None:
        return None
    fs, path = storage.locate(settings.storage_path, relpath)
    return tune.Checkpoint(path, filesystem=fs)
