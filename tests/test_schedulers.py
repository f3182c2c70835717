"""The schedulers choose the next trial among the live trials, first in first out."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.tune.experiment import Trial

from raynas.schedulers import ASHA, FIFO
from raynas.search import make_scheduler
from raynas.settings import SearchSettings


class Controller:
    """The two calls a scheduler may make; walking every trial ever created is a failure."""

    def __init__(self, live):
        self.live = live

    def get_live_trials(self):
        return list(self.live)  # Tune gives a set

    def get_trials(self):
        raise AssertionError("the scheduler walked every trial of the experiment")


def trial(counter: int, status: str) -> SimpleNamespace:
    return SimpleNamespace(experiment_tag=f"{counter}_tokens=[1, 2]", status=status)


@pytest.mark.parametrize("scheduler", [FIFO(), ASHA(metric="reward", mode="max", max_t=4)])
def test_earliest_pending_then_earliest_paused_among_live_trials(scheduler):
    running, late, early = trial(3, Trial.RUNNING), trial(12, Trial.PENDING), trial(10, Trial.PENDING)
    assert scheduler.choose_trial_to_run(Controller([running, late, early])) is early
    paused = [trial(7, Trial.PAUSED), trial(5, Trial.PAUSED)]
    assert scheduler.choose_trial_to_run(Controller([running, *paused])) is paused[1]
    assert scheduler.choose_trial_to_run(Controller([running])) is None


def test_every_search_gets_one_of_them():
    assert isinstance(make_scheduler(SearchSettings()), FIFO)
    asha = make_scheduler(SearchSettings(epochs=9, scheduler="asha", grace_epochs=1, reduction_factor=3))
    assert isinstance(asha, ASHA) and asha._max_t == 9
