"""The schedulers choose the next trial among the live trials, first in first out; ASHA keeps its rungs on resume."""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow.fs
import pytest
from ray.tune.experiment import Trial

from raynas.settings import SearchSettings
from raynas.tune.build import make_scheduler
from raynas.tune.schedulers import ASHA, FIFO


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
    asha = make_scheduler(SearchSettings(epochs=9, scheduler="asha", scheduler_options={"grace_epochs": 2}))
    assert isinstance(asha, ASHA) and asha._max_t == 9
    assert [milestone for milestone, _ in asha._brackets[0]._rungs] == [6, 2]  # from grace_epochs 2


def restored(trial_id: str, folder, rewards: list[float]) -> SimpleNamespace:
    """A trial Tune restored after an interruption: it reported ``rewards`` (epochs 1, 2, ...) before it."""
    folder.mkdir()
    lines = ["training_iteration,reward,epoch"] + [f"{i},{r},{i}" for i, r in enumerate(rewards, 1)]
    (folder / "progress.csv").write_text("\n".join(lines) + "\n")
    storage = SimpleNamespace(trial_fs_path=str(folder), storage_filesystem=pyarrow.fs.LocalFileSystem())
    return SimpleNamespace(
        trial_id=trial_id,
        storage=storage,
        status=Trial.TERMINATED,
        last_result={"training_iteration": len(rewards), "reward": rewards[-1]},
    )


def test_a_resumed_asha_judges_new_trials_against_the_trials_before_the_interruption(tmp_path):
    asha = ASHA(
        time_attr="training_iteration", metric="reward", mode="max", max_t=4, grace_period=1, reduction_factor=2
    )
    before = {"a": [0.6, 0.7, 0.8, 0.9], "b": [0.5], "c": [0.7, 0.75, 0.8, 0.85], "d": [0.4]}
    for trial_id, rewards in before.items():  # what Tune does with every restored trial
        asha.on_trial_add(None, restored(trial_id, tmp_path / trial_id, rewards))
    rungs = {milestone: recorded for milestone, recorded in asha._trial_info["a"]._rungs}
    assert rungs[1] == {"a": 0.6, "b": 0.5, "c": 0.7, "d": 0.4} and rungs[2] == {"a": 0.7, "c": 0.75}

    new = SimpleNamespace(trial_id="e", storage=None, status=Trial.PENDING, last_result={})
    asha.on_trial_add(None, new)  # a new trial reads nothing
    assert asha.on_trial_result(None, new, {"training_iteration": 1, "reward": 0.52}) == "STOP"  # median 0.55

    missing = SimpleNamespace(
        trial_id="f",
        storage=SimpleNamespace(trial_fs_path=str(tmp_path / "gone"), storage_filesystem=pyarrow.fs.LocalFileSystem()),
        status=Trial.TERMINATED,
        last_result={"training_iteration": 1, "reward": 0.1},
    )
    asha.on_trial_add(None, missing)  # its progress.csv is gone: nothing to replay, no error
    assert "f" not in rungs[1]


def test_a_search_resumed_without_tunes_record_gets_asha_rungs_from_the_trial_folders(tmp_path):
    from raynas.results import SEARCH_COLUMNS, ResultsLog
    from raynas.runs.search import _resumed_scheduler

    settings = SearchSettings(
        scheduler="asha",
        epochs=4,
        scheduler_options={"reduction_factor": 2},
        storage_path=str(tmp_path),
        name="s",
    )
    ResultsLog(str(tmp_path), "s", SEARCH_COLUMNS).append(
        [
            {"trial_index": i, "trial_id": t, "status": "TERMINATED", "tokens": f"[{i}]", "params": 1, "reward": 0.5}
            for i, t in enumerate(["aaaa1111", "bbbb2222"])
        ]
    )
    for trial_id, rewards in (
        ("aaaa1111", "0.6\n2,0.7\n3,0.8\n4,0.9"),
        ("bbbb2222", "0.5"),
        ("cccc3333", "0.9"),
    ):  # not in results.csv: it did not finish, it runs again
        folder = tmp_path / "s" / f"retrain_{trial_id}_1_tokens=1,trial_index=0_2026-12-01_10-00-00"
        folder.mkdir(parents=True)
        (folder / "progress.csv").write_text(f"training_iteration,reward\n1,{rewards}\n")
    asha = _resumed_scheduler(settings, sorted(p.name for p in (tmp_path / "s").iterdir()))
    rungs = {milestone: recorded for milestone, recorded in asha._brackets[0]._rungs}
    assert rungs[1] == {"aaaa1111": 0.6, "bbbb2222": 0.5} and rungs[2] == {"aaaa1111": 0.7}
