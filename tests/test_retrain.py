"""The retrain trainable through Tune: per-epoch reports, reward, checkpoints, resume, NaN losses."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest
from conftest import run_search

from raynas import spaces
from raynas.runs.retrain import retrain
from raynas.settings import SearchSettings

pytestmark = pytest.mark.usefixtures("ray_session")


def test_trial_reports_each_epoch_and_rewards_last_two(tmp_path):
    outcome = run_search(tmp_path, searcher="random", max_params="30k", num_samples=1, epochs=3, concurrency=1)
    row = outcome.results.iloc[0]
    tokens = json.loads(row.tokens)
    assert row.params == spaces.get("small_channel").num_params(tokens) <= 30_000
    assert row.epochs == 3 and row.device == "cpu"
    progress = pd.read_csv(next((tmp_path / "s").glob("*/progress.csv")))
    assert list(progress.epoch) == [1, 2, 3]
    assert row.reward == pytest.approx(progress.val_acc.iloc[-2:].mean())
    assert progress.reward.iloc[0] == pytest.approx(progress.val_acc.iloc[0])
    assert len(list((tmp_path / "s").glob("*/checkpoint_*/state.pt"))) == 1  # only the newest is kept
    assert 0 <= outcome.best["test_acc"] <= 1


def test_nan_loss_fails_the_trial_with_a_clear_error(tmp_path):
    outcome = run_search(tmp_path, searcher="random", num_samples=1, epochs=1, concurrency=1, lr=1e30)
    assert outcome.best is None
    row = outcome.results.iloc[0]
    assert row.status == "ERROR"
    assert "training loss became nan" in row.error and "lower the learning rate (lr)" in row.error


def test_retraining_with_a_space_the_settings_do_not_name_is_refused_before_training(tmp_path):
    settings = SearchSettings(space="small_channel", storage_path=str(tmp_path), name="r")
    with pytest.raises(ValueError, match="the space given is 'mobile' but the settings name 'small_channel'"):
        retrain(settings, spaces.get("mobile"), [spaces.get("mobile").init_tokens()])
    assert not (tmp_path / "r").exists()


def test_retraining_from_python_trains_each_architecture_and_leaves_the_settings_as_given(tmp_path):
    settings = SearchSettings(space="small_channel", storage_path=str(tmp_path), name="r", epochs=1, num_samples=20)
    space = spaces.get("small_channel")
    outcome = retrain(settings, space, [[0, 0, 0, 0], [1, 1, 1, 1]])
    assert sorted(map(json.loads, outcome.results.tokens)) == [[0, 0, 0, 0], [1, 1, 1, 1]]
    assert (outcome.results.status == "TERMINATED").all()
    assert settings.num_samples == 20  # the same settings can still start a search of 20
    # its folder moved: Tune would write to the old one
    shutil.move(tmp_path / "r", tmp_path / "moved")
    moved = dataclasses.replace(settings, name="moved")
    with pytest.raises(
        ValueError,
        match=f"the retrain 'moved' was started in {tmp_path / 'r'} and is now in "
        f"{tmp_path / 'moved'}, and Ray Tune continues a run only where it started",
    ):
        retrain(moved, space, [[0, 0, 0, 0], [1, 1, 1, 1]])
    assert not (tmp_path / "r").exists()


def test_a_last_training_batch_of_one_image_is_dropped_not_fed_to_batch_norm():
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from raynas.trainables.loops import make_loader, train_epoch

    data = TensorDataset(torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0]))
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    loader = make_loader(data, 2, shuffle=True)
    assert [len(y) for _, y in loader] == [2, 2]
    assert train_epoch(model, loader, torch.optim.SGD(model.parameters(), 0.1), "cpu") > 0
    assert [len(y) for _, y in make_loader(data, 2, shuffle=False)] == [2, 2, 1]  # evaluation sees every image
