"""results.csv appended per trial, repaired after a crash, and progress that stays readable at any size."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from raynas.results import SEARCH_COLUMNS, ResultsLog, parse
from raynas.settings import SearchSettings
from raynas.tune.finish import trial_dirname
from raynas.tune.progress import EpochLines, Progress


def row(i: int, reward: float = 0.5) -> dict:
    return {
        "trial_index": i,
        "trial_id": f"t{i:04d}",
        "status": "TERMINATED",
        "tokens": f"[{i}, 1]",
        "params": 100 + i,
        "reward": reward,
    }


def test_rows_are_appended_each_trial_once_and_a_partial_line_is_dropped(tmp_path):
    log = ResultsLog(str(tmp_path), "s", SEARCH_COLUMNS)
    assert log.append([row(1), row(0)]) == 2 and log.append([row(1)]) == 0
    path = tmp_path / "s" / "results.csv"
    before = path.read_text()
    log.append([row(2)])
    assert path.read_text().startswith(before)  # appended, not rewritten
    with open(path, "a") as f:
        f.write('3,t0003,TERMINATED,"[3,')  # a driver killed in the middle of a row
    reopened = ResultsLog(str(tmp_path), "s", SEARCH_COLUMNS)  # as `raynas resume` does, once
    assert sorted(reopened.written) == ["t0000", "t0001", "t0002"]
    assert reopened.append([row(2), row(3)]) == 1  # the cut row is written again, the others are not
    _, text = reopened.sort()
    frame = parse(text)
    assert frame.trial_id.tolist() == ["t0000", "t0001", "t0002", "t0003"]  # in the searcher's order
    assert list(frame.columns) == SEARCH_COLUMNS and frame.tokens.tolist()[3] == "[3, 1]"


def test_a_results_file_with_fewer_columns_gets_the_new_ones_once(tmp_path):
    (tmp_path / "s").mkdir()
    old = pd.DataFrame([row(0)]).drop(columns=["trial_index"])
    (tmp_path / "s" / "results.csv").write_text(old.to_csv(index=False))
    log = ResultsLog(str(tmp_path), "s", SEARCH_COLUMNS)
    log.append([row(1)])
    frame = parse((tmp_path / "s" / "results.csv").read_text())
    assert list(frame.columns) == SEARCH_COLUMNS and frame.trial_id.tolist() == ["t0000", "t0001"]


def fake_trial(i: int, reward: float) -> SimpleNamespace:
    return SimpleNamespace(
        trial_id=f"t{i:04d}",
        status="TERMINATED",
        config={"tokens": [i, 1], "trial_index": i},
        last_result={"reward": reward, "params": 100 + i, "tokens": [i, 1], "epoch": 1},
        get_error=lambda: None,
    )


def test_progress_turns_into_a_periodic_summary_past_the_threshold(tmp_path, capsys):
    now = [0.0]
    settings = SearchSettings(storage_path=str(tmp_path), name="s", num_samples=500)
    progress = Progress(settings, lines=5, every_s=10, clock=lambda: now[0])
    progress.setup()
    running = [SimpleNamespace(status="RUNNING"), SimpleNamespace(status="RUNNING")]
    for i in range(300):
        now[0] = i * 0.1  # ten trials a second
        progress.on_trial_complete(i, running, fake_trial(i, reward=0.9 if i == 42 else i / 1000))
        progress.on_step_end(i, running)
    lines = capsys.readouterr().out.splitlines()
    # the trial's place in the proposals (#), then the trials done in any order
    assert [line.split(":")[0] for line in lines[:5]] == [
        f"[raynas] trial #{i - 1} t{i - 1:04d} ({i}/500 done)" for i in range(1, 6)
    ]
    assert lines[5] == "[raynas] more than 5 trials: a summary line every 10 s from now on"
    summaries = lines[6:]
    assert len(summaries) == 2  # at 10 s and 20 s of the 29.9 s
    assert summaries[0] == "[raynas] 101/500 trials done, 2 running, best=0.9000, 606.0 trials/min"
    assert summaries[1].startswith("[raynas] 201/500 trials done, 2 running, best=0.9000")
    assert len(parse((tmp_path / "s" / "results.csv").read_text())) == 300


def test_progress_of_a_resumed_search_counts_the_rows_already_written(tmp_path, capsys):
    settings = SearchSettings(storage_path=str(tmp_path), name="s", num_samples=10)
    first = Progress(settings)
    first.setup()
    for i in range(3):
        first.on_trial_complete(i, [], fake_trial(i, reward=0.1 * (i + 1)))
    again = Progress(settings)
    again.setup()  # what Tune does when the search resumes
    assert capsys.readouterr().out.splitlines()[-1] == "[raynas] resuming: 3/10 trials finished before, best=0.3000"
    again.on_trial_complete(3, [], fake_trial(2, reward=0.3))  # re-run after the crash: not counted twice
    again.on_trial_complete(4, [], fake_trial(3, reward=0.2))
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("[raynas] trial #3 t0003 (4/10 done)") and last.endswith("best=0.3000")


def test_progress_best_ignores_a_nan_or_non_numeric_reward(tmp_path, capsys):
    progress = Progress(SearchSettings(storage_path=str(tmp_path), name="s", num_samples=5))
    progress.setup()  # a trial function may report anything: text that reads as a number counts as one
    for i, reward in enumerate([float("nan"), 0.4, 0.2, "high", "0.5"]):
        progress.on_trial_complete(i, [], fake_trial(i, reward=reward))
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines] == [
        "best=-",
        "best=0.4000",
        "best=0.4000",
        "best=0.4000",
        "best=0.5000",
    ]
    assert "FAILED: the trial reported reward 'high', not a number; report a float reward" in lines[3]
    rows = pd.read_csv(tmp_path / "s" / "results.csv")
    assert list(rows.status) == ["TERMINATED", "TERMINATED", "TERMINATED", "ERROR", "TERMINATED"]
    assert rows.reward.isna().tolist() == [True, False, False, True, False]  # the column stays numeric


def test_rows_of_ended_trials_take_the_config_from_tunes_state_when_the_result_has_none(tmp_path):
    import json

    from raynas.results import results_rows
    from raynas.tune.experiment import ended

    state = {
        "trial_data": [
            [json.dumps({"trial_id": t, "status": s, "config": {"tokens": [i, 1], "trial_index": i}}), None]
            for i, (t, s) in enumerate([("a", "TERMINATED"), ("b", "ERROR"), ("c", "RUNNING")])
        ]
    }
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    config = {"tokens": [0, 1], "trial_index": 0}
    grid = [
        SimpleNamespace(
            metrics={"trial_id": "a", "config": config, "reward": 0.5}, config=config, error=None, path="x/train_a_0"
        ),
        # a worker killed (for memory, say) before the trial started: no config in its result
        SimpleNamespace(metrics={"trial_id": "b"}, config=None, error=RuntimeError("killed"), path="x/train_b_1"),
        SimpleNamespace(metrics={"trial_id": "c"}, config=None, error=None, path="x/train_c_2"),
    ]  # interrupted
    finished = ended(grid, str(tmp_path), "s")
    assert finished == [config, {"tokens": [1, 1], "trial_index": 1}, None]
    rows = results_rows(grid, finished)
    assert [(r["trial_id"], r["status"], r["tokens"], r["trial_index"]) for r in rows] == [
        ("a", "TERMINATED", "[0, 1]", 0),
        ("b", "ERROR", "[1, 1]", 1),
    ]


def test_trial_folders_say_they_are_trials_with_their_index():
    assert trial_dirname(SimpleNamespace(trial_id="2d7980a1", config={"trial_index": 3})) == "trial_2d7980a1_index=3"
    assert trial_dirname(SimpleNamespace(trial_id="a24ea_00000", config=None)) == "trial_a24ea_00000_index=-"


@pytest.mark.parametrize(
    "folder_of",
    [
        lambda trial_id: f"retrain_{trial_id}_0_tokens=1",  # Tune's own name, as raynas 0.1 left it
        lambda trial_id: trial_dirname(SimpleNamespace(trial_id=trial_id, config={"trial_index": 0})),
    ],
    ids=["old", "new"],
)
def test_a_trial_whose_named_checkpoint_is_not_its_newest_gets_its_newest_before_a_restore(tmp_path, folder_of):
    import json

    from raynas.tune.experiment import repair_checkpoints

    def trial(trial_id: str, status: str, checkpoint: str | None, config: dict | None = None) -> list[str]:
        return [
            json.dumps({"trial_id": trial_id, "status": status, "config": config or {"tokens": [0]}}),
            json.dumps({"last_result": {"checkpoint_dir_name": checkpoint}}),
        ]

    search = tmp_path / "s"
    for trial_id, kept in (
        ("stale", "checkpoint_000004"),
        ("behind", "checkpoint_000001"),
        ("behind", "checkpoint_000002"),
        ("training", "checkpoint_000001"),
        ("training", "checkpoint_000002"),
        ("fine", "checkpoint_000002"),
        ("done", "checkpoint_000001"),
    ):
        (search / folder_of(trial_id) / kept).mkdir(parents=True)
        (search / folder_of(trial_id) / kept / "state.pt").write_text(f"{trial_id} {kept}")
    state = {
        "trial_data": [
            trial("stale", "RUNNING", "checkpoint_000003"),  # Tune's state lags its checkpoints
            # killed before Tune deleted the older one: a trial of several subnets goes on from the newest
            trial("behind", "RUNNING", "checkpoint_000001", {"batch": [{"tokens": [0]}, {"tokens": [1]}]}),
            trial("training", "RUNNING", "checkpoint_000001"),  # repeats its last epoch, and reports it
            trial("fine", "PENDING", "checkpoint_000002"),
            trial("done", "TERMINATED", "checkpoint_0"),
        ]
    }
    (search / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    assert repair_checkpoints(str(tmp_path), "s") == 2
    restored = search / folder_of("stale") / "checkpoint_000003" / "state.pt"
    assert restored.read_text() == "stale checkpoint_000004"  # the newest epoch, under the name Tune restores
    behind = search / folder_of("behind") / "checkpoint_000001" / "state.pt"
    assert behind.read_text() == "behind checkpoint_000002"  # not the older one: no subnet is scored twice
    training = search / folder_of("training") / "checkpoint_000001" / "state.pt"
    assert training.read_text() == "training checkpoint_000001"
    assert (search / folder_of("fine") / "checkpoint_000002" / "state.pt").read_text() == "fine checkpoint_000002"
    assert not (search / folder_of("done") / "checkpoint_0").exists()  # an ended trial is not restored


def test_progress_marks_a_trial_the_scheduler_stopped_and_never_takes_its_reward_as_the_best(tmp_path, capsys):
    settings = SearchSettings(storage_path=str(tmp_path), name="s", num_samples=4, epochs=3, scheduler="asha")
    progress = Progress(settings)
    progress.setup()
    stopped, full = fake_trial(0, reward=0.9), fake_trial(1, reward=0.5)
    full.last_result["epoch"] = 3  # stopped one: 1 epoch of 3, at a rung where its reward happened to be high
    for trial in (stopped, full):
        progress.on_trial_complete(0, [], trial)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("reward=0.9000 (stopped after epoch 1) best=-") and lines[1].endswith("best=0.5000")
    Progress(settings).setup()  # resumed: the best read back from results.csv leaves the stopped one out too
    assert capsys.readouterr().out.splitlines()[-1] == "[raynas] resuming: 2/4 trials finished before, best=0.5000"


def test_a_long_epoch_is_not_silent_a_line_names_the_trials_still_in_it(caplog):
    now = [0.0]
    lines = EpochLines(epochs=3, every_s=30, clock=lambda: now[0])
    trials = [SimpleNamespace(trial_id=f"t{i}", config={"trial_index": i}) for i in range(2)]
    for trial in trials:
        lines.on_trial_start(0, trials, trial)
    with caplog.at_level("INFO", logger="raynas"):
        now[0] = 29.0
        lines.on_step_begin(1, trials)
        assert not caplog.messages  # not yet: 29 s of quiet
        now[0] = 31.0
        lines.on_step_begin(2, trials)
        assert caplog.messages == ["still training: trial #0 t0 epoch 1/3 (31 s), trial #1 t1 epoch 1/3 (31 s)"]
        lines.on_step_begin(3, trials)  # once per 30 s of quiet, not every step
        assert len(caplog.messages) == 1
        now[0] = 40.0
        lines.on_trial_result(4, trials, trials[0], {"epoch": 1, "val_acc": 0.5, "time_total_s": 40})
        lines.on_trial_complete(5, trials, trials[1])
        now[0] = 75.0
        lines.on_step_begin(6, trials)
    assert caplog.messages[1] == "trial #0 t0 epoch 1/3: val_acc 0.5000 (40 s)"
    assert caplog.messages[2] == "still training: trial #0 t0 epoch 2/3 (35 s)"  # the finished one is gone
