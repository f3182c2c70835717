"""Tune's trial schedulers, choosing the next trial among the live trials only.

Tune's ``FIFOScheduler.choose_trial_to_run`` (inherited by ``ASHAScheduler``) walks every trial the
experiment ever created, finished ones included, on every step of the controller, so in a search of
thousands of short trials a trial costs more the later it comes. The same choice made among the live
trials (pending, running or paused: bounded by the concurrency) costs the same at trial 2,000 as at trial 20.

The options of each scheduler are declared here (:data:`OPTIONS`): settings take them in ``scheduler_options``,
config files as keys, the CLI as flags.

Example:
    >>> scheduler = FIFO()
    >>> isinstance(asha(epochs=10, options={"grace_epochs": 2}), ASHA)
    True
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from raynas.settings import Option

#: the options of each trial scheduler, by its name (:data:`raynas.settings.SCHEDULERS`; None: no scheduler)
OPTIONS: dict[str | None, tuple[Option, ...]] = {
    "asha": (
        Option("grace_epochs", int, 1, "ASHA: epochs every trial trains before a cut"),
        Option(
            "reduction_factor",
            float,
            3.0,
            "ASHA: 1/this of the trials go on at each rung",
            fits=lambda v: v > 1,
            must="above 1",
        ),
    ),
}


def creation_order(trial: Trial) -> int:
    """The trial's place in the search: Tune tags a searcher's trials ``"<counter>_<config>"``."""
    head = trial.experiment_tag.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


class LiveTrialsFirst(TrialScheduler):
    """``choose_trial_to_run`` of a FIFO scheduler over the live trials: the earliest pending trial, else the
    earliest paused one, else ``None``."""

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        live = tune_controller.get_live_trials()
        for status in (Trial.PENDING, Trial.PAUSED):
            waiting = [trial for trial in live if trial.status == status]
            if waiting:
                return min(waiting, key=creation_order)
        return None


class FIFO(LiveTrialsFirst, FIFOScheduler):
    """Tune's first-in first-out scheduler (the default), over the live trials."""


class ASHA(LiveTrialsFirst, ASHAScheduler):
    """Tune's ``ASHAScheduler``, choosing the next trial over the live trials, with its rungs rebuilt on resume.

    Tune restores the trials and the searcher of an interrupted experiment but not the scheduler, so a resumed
    ASHA would judge the trials still to come against the post-resume trials only. Every restored trial is
    added to the scheduler again; its results so far (read from its ``progress.csv``) are replayed into its
    bracket's rungs, exactly as Tune recorded them before the interruption.
    """

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        assert self._metric is not None  # ASHAScheduler.on_trial_add raised without one
        if self._time_attr in (trial.last_result or {}):  # a restored trial: a new one has reported nothing
            self.replay(trial, reported_rewards(trial, self._time_attr, self._metric))

    def record(self, trial_id: str, history: list[tuple[int, float]]) -> None:
        """Record a trial of an earlier Tune experiment of the same search in a bracket, with its results."""
        # a stand-in Trial: ASHA reads only its trial_id, and on_trial_add its last_result
        trial = cast(Trial, SimpleNamespace(trial_id=trial_id, last_result={}))
        self.on_trial_add(None, trial)
        self.replay(trial, history)

    def replay(self, trial: Trial, history: list[tuple[int, float]]) -> None:
        """Record ``(iteration, reward)`` results of ``trial`` in its bracket's rungs, as ``on_trial_result`` did."""
        bracket = self._trial_info[trial.trial_id]
        assert self._metric_op is not None  # on_trial_add raised without a mode
        for iteration, reward in history:
            if iteration >= self._max_t and self._stop_last_trials:
                break  # a trial at max_t is stopped without being recorded
            bracket.on_result(trial, iteration, self._metric_op * reward)


def asha(epochs: int, options: Mapping[str, Any]) -> ASHA:
    """ASHA on the epoch (``training_iteration``) of trials of ``epochs`` epochs, with ``options`` (checked ones
    of :data:`OPTIONS`, as in ``scheduler_options``; one not given takes its default)."""
    given = {**{option.name: option.default for option in OPTIONS["asha"]}, **options}
    return ASHA(
        time_attr="training_iteration",
        metric="reward",
        mode="max",
        max_t=epochs,
        grace_period=given["grace_epochs"],
        reduction_factor=given["reduction_factor"],
    )


def reported_rewards(
    trial: Trial, time_attr: str = "training_iteration", metric: str = "reward"
) -> list[tuple[int, float]]:
    """``(iteration, reward)`` of each result ``trial`` reported, from the progress.csv Tune keeps in its folder
    (on the experiment's storage); empty when the file is missing or unreadable."""
    try:
        storage = trial.storage
        if storage is None:  # no folder (yet)
            return []
        path = f"{storage.trial_fs_path}/progress.csv"
        with storage.storage_filesystem.open_input_stream(path) as stream:
            return progress_rewards(stream.readall().decode("utf-8", "replace"), time_attr, metric)
    except (AttributeError, RuntimeError, OSError):  # no folder (yet), or no file in it
        return []


def progress_rewards(
    text: str, time_attr: str = "training_iteration", metric: str = "reward"
) -> list[tuple[int, float]]:
    """``(iteration, reward)`` of each row of a trial's progress.csv ``text``; a row without a numeric reward is
    left out, as Tune's ASHA records no rung for it.

    Example:
        >>> progress_rewards("training_iteration,reward\\n1,0.5\\n2,\\n3,0.7\\n")
        [(1, 0.5), (3, 0.7)]
    """
    history = []
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error:
        return []
    for row in rows:
        try:
            history.append((int(float(row[time_attr])), float(row[metric])))
        except (KeyError, TypeError, ValueError):
            continue
    return history
