"""One-shot search through Tune: supernet resume, cached subnet trials, user spaces, the whole command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import trial_functions
from conftest import TESTS, kill_cli_when, run_search
from ray import tune

from raynas import cli, data, spaces
from raynas.runs.retrain import settings_for_file
from raynas.settings import SearchSettings, one_shot_stages
from raynas.trainables.calibration import calibration_images, recalibrate
from raynas.trainables.loops import evaluate, make_loader
from raynas.trainables.subnet import evaluate_subnet, load_supernet_state
from raynas.trainables.supernet import SAMPLINGS, train_supernet
from raynas.tune.build import make_space, trial_settings

pytestmark = pytest.mark.usefixtures("ray_session")
USER = "user_spaces:tiny"


def run_supernet(tmp_path, name: str, function, max_failures: int = 0, sampling: str = "uniform") -> tune.Result:
    with one_shot_stages():  # the settings of a one-shot search's supernet stage
        settings = SearchSettings.from_dict(
            {
                "space": USER,
                "supernet_sampling": sampling,
                "supernet_epochs": 3,
                "supernet_batch_size": 96,
                "calibration_images": 200,
                "storage_path": str(tmp_path),
                "name": name,
            }
        )
    trainable = tune.with_parameters(function, settings=trial_settings(settings, make_space(settings)))
    grid = tune.Tuner(
        trainable,
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(tmp_path),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
        ),
    ).fit()
    return grid[0]


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_killed_supernet_training_resumes_to_the_same_weights(tmp_path, sampling):
    whole = run_supernet(tmp_path, "whole", train_supernet, sampling=sampling)
    killed = run_supernet(
        tmp_path, "killed", trial_functions.supernet_dies_once_after_second_epoch, max_failures=1, sampling=sampling
    )
    assert (tmp_path / "killed-markers" / "supernet").exists()  # the worker did die after epoch 2
    for result in (whole, killed):
        assert result.error is None
        # no epoch trained twice: the retry went on from epoch 2 (a loaded machine can make Ray lose the rows
        # of progress.csv written before the failure, so only the end of [1, 2, 3] may be there)
        epochs = list(result.metrics_dataframe.epoch)
        assert epochs == [1, 2, 3][-len(epochs) :] and result.metrics["training_iteration"] == 3
    assert killed.metrics["train_loss"] == whole.metrics["train_loss"]
    states = [torch.load(os.path.join(r.checkpoint.path, "state.pt"), weights_only=True) for r in (whole, killed)]
    assert len(states[0]["history"]) == 3 and states[0]["history"] == states[1]["history"]  # each epoch's val acc
    assert all(torch.equal(states[0]["model"][k], states[1]["model"][k]) for k in states[0]["model"])
    assert 0 <= whole.metrics["val_acc"] <= 1 and whole.metrics["train_loss"] > 0


def untrained_supernet(tmp_path):
    """The user space and the state file of its supernet as initialised (seed 0)."""
    space = spaces.get(USER, in_channels=1, num_classes=10, input_shape=[1, 8, 8])
    torch.manual_seed(0)
    checkpoint = tmp_path / "supernet.pt"
    torch.save({"model": space.supernet().state_dict()}, checkpoint)
    return space, checkpoint


def test_subnet_trials_load_the_supernet_once_per_worker_and_score_on_validation(tmp_path):
    space, checkpoint = untrained_supernet(tmp_path)
    outcome = run_search(
        tmp_path,
        function=evaluate_subnet,
        searcher="random",
        space=USER,
        num_samples=12,
        concurrency=2,
        calibration_images=300,
        supernet_checkpoint=str(checkpoint),
    )
    assert (outcome.results.status == "TERMINATED").sum() == 12
    reports = [json.loads(line) for f in (tmp_path / "s").glob("*/result.json") for line in f.read_text().splitlines()]
    assert len(reports) == 12
    loads = pd.DataFrame(reports).groupby("pid").supernet_loads.max()
    assert (loads == 1).all() and len(loads) <= 4, loads  # actors were reused and never reloaded

    report = reports[0]  # the trial's reward is the built subnet's validation accuracy after recalibration
    splits = data.load("digits")
    net = space.build(report["tokens"], supernet_state=load_supernet_state(str(checkpoint))["model"])
    recalibrate(net, calibration_images("digits", None, 0.2, 0, 300))
    assert report["reward"] == pytest.approx(evaluate(net, make_loader(splits.val, 96, False), "cpu")[0])
    assert report["params"] == space.num_params(report["tokens"])


def test_a_trial_of_several_subnets_writes_a_row_for_each_and_fails_only_those_it_did_not_score(tmp_path):
    _, checkpoint = untrained_supernet(tmp_path)
    outcome = run_search(
        tmp_path,
        function=trial_functions.subnets_fail_after_two,
        searcher="random",
        space=USER,
        num_samples=7,
        concurrency=1,
        calibration_images=300,
        subnets_per_trial=3,
        supernet_checkpoint=str(checkpoint),
    )
    rows = outcome.results
    assert len(rows) == 7 and rows.tokens.nunique() == 7 and sorted(rows.trial_index) == list(range(7))
    trial, place = rows.trial_id.str.rsplit("-", n=1).str[0], rows.trial_id.str.rsplit("-", n=1).str[1].astype(int)
    assert trial.nunique() == 3 and sorted(place) == [0, 0, 0, 1, 1, 2, 2]  # batches of 3, 3 and 1
    failed = rows[rows.status == "ERROR"]
    assert sorted(place[failed.index]) == [2, 2] and failed.error.str.contains("died after two subnets").all()
    scored = rows[rows.status == "TERMINATED"]
    assert len(scored) == 5 and scored.reward.between(0, 1).all()
    assert outcome.best["trial_id"] in set(scored.trial_id)


def test_subnet_search_killed_mid_trial_resumes_without_scoring_a_subnet_twice(ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    address = ray_session.get_runtime_context().gcs_address
    flags = "--supernet-epochs 1 --num-subnets 16 --subnets-per-trial 4 --searcher sanas --retrain-top 1 --epochs 1"
    args = ["search", "oneshot", "--space", USER, "--address", address, *flags.split(), "--concurrency", "1"]
    args += ["--calibration-images", "1000", "--storage-path", str(tmp_path), "--name", "os"]
    results = tmp_path / "os" / "subnets" / "results.csv"
    kill_cli_when(args, lambda: results.exists() and 2 <= len(pd.read_csv(results)) < 16)
    before = pd.read_csv(results, dtype={"trial_id": str})
    assert cli.main(args) == 0  # the same command again: Tune restores the subnet stage where it was
    after = pd.read_csv(results, dtype={"trial_id": str})
    assert len(after) == 16 and (after.status == "TERMINATED").all() and after.tokens.nunique() == 16
    assert set(before.trial_id) <= set(after.trial_id) and sorted(after.trial_index) == list(range(16))
    # every report of a subnet, before and after the kill, is of one evaluation (a restored trial reports the
    # subnets its checkpoint holds again, with their first evaluation's time)
    reports = [json.loads(line) for f in results.parent.glob("*/result.json") for line in f.read_text().splitlines()]
    evaluations = pd.DataFrame(reports).assign(tokens=lambda f: f.tokens.map(json.dumps))
    assert set(evaluations.tokens) == set(after.tokens)
    assert (evaluations.groupby("tokens").eval_time_s.nunique() == 1).all()


def test_user_space_searched_by_sanas_and_retrained_from_its_json(tmp_path, capsys):
    outcome = run_search(tmp_path, searcher="sanas", space=USER, num_samples=2, epochs=1, concurrency=2)
    best = json.loads((tmp_path / "s" / "best_arch.json").read_text())
    assert set(best["arch"]) == {"layer1", "layer2", "skip"} and best["space"] == USER
    assert best["space_kwargs"] == {"in_channels": 1, "num_classes": 10, "input_shape": [1, 8, 8]}
    assert best["tokens"] == outcome.best["tokens"]

    code = cli.main(
        [
            "retrain",
            "--arch",
            str(tmp_path / "s" / "best_arch.json"),
            "--epochs",
            "1",
            "--storage-path",
            str(tmp_path),
            "--name",
            "again",
        ]
    )
    assert code == 0
    again = json.loads((tmp_path / "again" / "best_arch.json").read_text())
    assert again["arch"] == best["arch"] and again["params"] == best["params"]
    assert 0 <= again["val_acc"] <= 1 and 0 <= again["test_acc"] <= 1
    capsys.readouterr()
    # the same name for other settings is an error, not the earlier run's result handed back
    assert (
        cli.main(
            [
                "retrain",
                "--arch",
                str(tmp_path / "s" / "best_arch.json"),
                "--epochs",
                "2",
                "--storage-path",
                str(tmp_path),
                "--name",
                "again",
            ]
        )
        == 2
    )
    assert (
        "a retrain named 'again'" in capsys.readouterr().err
        and json.loads((tmp_path / "again" / "best_arch.json").read_text()) == again
    )

    flat = tmp_path / "flat.json"  # NNI's flat form needs the space named on the command line
    flat.write_text(json.dumps(best["arch"]))
    assert cli.main(["retrain", "--arch", str(flat), "--storage-path", str(tmp_path), "--name", "x"]) == 2
    assert "does not name its space; pass --space" in capsys.readouterr().err
    assert settings_for_file(str(flat), {"space": USER})[2] == best["tokens"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--space", "small_channel"], "needs a space of labelled choices"),
        (["--searcher", "nope"], "unknown subnet searcher 'nope'"),
        (["--max-params", "100"], "below the smallest architecture"),
    ],
)
def test_oneshot_bad_input_fails_before_any_training(tmp_path, flags, message, capsys):
    assert cli.main(["search", "oneshot", "--storage-path", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "search").exists()


@pytest.mark.slow
def test_oneshot_command_killed_during_subnet_search_finishes_when_rerun(ray_session, tmp_path):
    address = ray_session.get_runtime_context().gcs_address
    command = [
        sys.executable,
        "-m",
        "raynas.cli",
        "search",
        "oneshot",
        "--space",
        USER,
        "--data",
        "digits",
        "--address",
        address,
        "--supernet-epochs",
        "2",
        "--num-subnets",
        "12",
        "--searcher",
        "random",
        "--max-params",
        "2000",
        "--retrain-top",
        "2",
        "--epochs",
        "1",
        "--concurrency",
        "1",
        "--calibration-images",
        "1000",
        "--subnets-per-trial",
        "3",
        "--storage-path",
        str(tmp_path),
        "--name",
        "os",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / "os" / "subnets" / "results.csv"
    deadline = time.time() + 240
    while time.time() < deadline and (not results.exists() or len(pd.read_csv(results)) < 3):
        assert driver.poll() is None, "the search ended before it could be killed"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = pd.read_csv(results, dtype={"trial_id": str})
    assert 3 <= len(before) < 12 and (tmp_path / "os" / "supernet" / "supernet.pt").exists()

    # its storage folder moved before the rerun: the search continues where it is now (tmp_path from here on)
    started_in, tmp_path = tmp_path, tmp_path / "elsewhere"
    tmp_path.mkdir()
    shutil.move(started_in / "os", tmp_path / "os")
    results = tmp_path / "os" / "subnets" / "results.csv"
    command[command.index("--storage-path") + 1] = str(tmp_path)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert not (started_in / "os").exists()  # nothing went back to where it started
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "[raynas] supernet: done" in rerun.stdout  # finished stages are skipped
    after = pd.read_csv(results, dtype={"trial_id": str})
    assert len(after) == 12 and (after.status == "TERMINATED").all() and after.tokens.nunique() == 12
    assert set(before.trial_id) <= set(after.trial_id)  # the interrupted stage continued, nothing redone
    space = spaces.get(USER, in_channels=1, num_classes=10, input_shape=[1, 8, 8])
    assert all(space.num_params(json.loads(t)) <= 2000 for t in after.tokens)
    retrained = pd.read_csv(tmp_path / "os" / "retrain" / "results.csv")
    top = after.sort_values("reward", ascending=False).tokens.head(2)
    assert sorted(retrained.tokens) == sorted(top) and sorted(retrained.trial_index) == [0, 1]
    best = json.loads((tmp_path / "os" / "best_arch.json").read_text())
    assert {
        "space",
        "space_kwargs",
        "tokens",
        "arch",
        "params",
        "reward",
        "val_acc",
        "test_acc",
        "oneshot_val_acc",
    } <= set(best)
    assert best["arch"] == space.to_arch(best["tokens"]) and best["val_acc"] == max(retrained.val_acc)
    settings, _, tokens = settings_for_file(str(tmp_path / "os" / "best_arch.json"), {})
    assert tokens == best["tokens"] and settings.space == USER

    # `raynas analyze` reads the one-shot search: its subnets are the trials, the retrained ones add a column
    from raynas import analysis

    frame = analysis.load(str(tmp_path), "os")
    assert len(frame) == 12 and {tuple(t) for t in frame[frame.retrained_reward.notna()].tokens} == {
        tuple(json.loads(t)) for t in top
    }
    summary = analysis.analyze(str(tmp_path), ["os"])
    assert summary.loc[0, "trials"] == "12/12" and summary.loc[0, "asked"] == 12
    assert (tmp_path / "os" / "analysis" / "os" / "params_reward.png").exists()
    # its best is the search's own: the best retrained subnet, not the best shared-weight score
    assert json.loads((tmp_path / "os" / "analysis" / "os" / "best_arch.json").read_text()) == best
    assert summary.loc[0, "best reward"] == round(best["reward"], 4)


def test_oneshot_run_from_python_records_a_one_shot_search(tmp_path):
    from raynas.runs import oneshot

    with pytest.raises(
        ValueError,
        match="a one-shot search has searcher 'oneshot', got 'random'; the subnets' searcher is subnet_searcher",
    ):
        oneshot.run(SearchSettings(searcher="random", space=USER, storage_path=str(tmp_path)))
    settings = SearchSettings(space="small_channel", storage_path=str(tmp_path))  # the searcher left at its default
    with pytest.raises(ValueError, match="one-shot search needs a space of labelled choices"):
        oneshot.run(settings)
    assert settings.searcher == "oneshot" and not list(tmp_path.iterdir())  # nothing written before the check
