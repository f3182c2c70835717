"""Tune's trial schedulers, choosing the next trial among the live trials only.

Tune's ``FIFOScheduler.choose_trial_to_run`` (inherited by ``ASHAScheduler``) walks every trial the
experiment ever created, finished ones included, on every step of the controller, so in a search of
thousands of short trials a trial costs more the later it comes. The same choice made among the live
trials (pending, running or paused: bounded by the concurrency) costs the same at trial 2,000 as at trial 20.

Example:
    >>> scheduler = FIFO()
    >>> asha = ASHA(time_attr="training_iteration", metric="reward", mode="max", max_t=10)
"""
from __future__ import annotations

from typing import Optional

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler


def creation_order(trial: Trial) -> int:
    """The trial's place in the search: Tune tags a searcher's trials ``"<counter>_<config>"``."""
    head = trial.experiment_tag.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


class LiveTrialsFirst:
    """``choose_trial_to_run`` of a FIFO scheduler over the live trials: the earliest pending trial, else the
    earliest paused one, else ``None``."""

    def choose_trial_to_run(self, tune_controller) -> Optional[Trial]:
        live = tune_controller.get_live_trials()
        for status in (Trial.PENDING, Trial.PAUSED):
            waiting = [trial for trial in live if trial.status == status]
            if waiting:
                return min(waiting, key=creation_order)
        return None


class FIFO(LiveTrialsFirst, FIFOScheduler):
    """Tune's first-in first-out scheduler (the default), over the live trials."""


class ASHA(LiveTrialsFirst, ASHAScheduler):
    """Tune's ``ASHAScheduler``, choosing the next trial over the live trials."""
