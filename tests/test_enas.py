"""ENAS through Tune: a killed trial resumes to the same end, the whole search on a user's space, bad input."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import torch
import trial_functions
from ray import tune

import raynas
from raynas import analysis, cli, spaces
from raynas.settings import SearchSettings
from raynas.trainables.enas import train_enas
from raynas.tune.build import make_space, trial_settings

pytestmark = pytest.mark.usefixtures("ray_session")
USER = "user_spaces:tiny"
#: a few seconds of ENAS on the tiny user space
SMALL = {
    "supernet_epochs": 3,
    "supernet_batch_size": 96,
    "calibration_images": 200,
    "controller_steps": 3,
    "controller_aggregate": 4,
    "num_subnets": 4,
}


def run_enas(tmp_path, name: str, function, max_failures: int = 0) -> tune.Result:
    settings = SearchSettings(searcher="enas", space=USER, storage_path=str(tmp_path), name=name, oneshot_options=SMALL)
    trainable = tune.with_parameters(
        function, settings={**trial_settings(settings, make_space(settings)), **settings.oneshot()}
    )
    grid = tune.Tuner(
        trainable,
        param_space={"seed": 0},
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(tmp_path),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
        ),
    ).fit()
    return grid[0]


def test_killed_enas_trial_resumes_and_ends_where_an_uninterrupted_one_ends(tmp_path):
    whole = run_enas(tmp_path, "whole", train_enas)
    killed = run_enas(tmp_path, "killed", trial_functions.enas_dies_once_after_second_epoch, max_failures=1)
    assert (tmp_path / "killed-markers" / "enas0").exists()  # the worker did die after epoch 2
    for result in (whole, killed):
        assert result.error is None and result.metrics["training_iteration"] == 3
    for key in ("train_loss", "reward", "entropy", "val_acc", "tokens", "derived"):
        assert killed.metrics[key] == whole.metrics[key], key
    states = [torch.load(os.path.join(r.checkpoint.path, "state.pt"), weights_only=True) for r in (whole, killed)]
    assert states[0]["controller"] == states[1]["controller"]  # weights, Adam's moments and the baseline
    assert all(torch.equal(states[0]["model"][k], states[1]["model"][k]) for k in states[0]["model"])
    derived = json.loads(whole.metrics["derived"])
    assert len(derived) == 4 and len({json.dumps(t) for t, _ in derived}) == 4  # distinct, best first
    assert [score for _, score in derived] == sorted((score for _, score in derived), reverse=True)
    assert 0 <= whole.metrics["entropy"] and 0 <= whole.metrics["reward"] <= 1


def test_enas_search_on_a_user_space_under_a_budget_ends_with_a_retrained_model(tmp_path):
    space = spaces.get(USER)
    low, high = space.params_range()
    budget = (low + high) // 2
    settings = SearchSettings(
        searcher="enas",
        space=USER,
        max_params=budget,
        epochs=1,
        storage_path=str(tmp_path),
        name="enas",
        oneshot_options={**SMALL, "seeds": 2, "retrain_top": 2},
    )
    outcome = raynas.run(settings)
    derived = pd.read_csv(tmp_path / "enas" / "subnets" / "results.csv")
    assert set(derived.seed) == {0, 1} and (derived.params <= budget).all()  # no path outside the budget
    assert len(derived) == len(set(derived.tokens)) and derived.reward.between(0, 1).all()
    best = json.loads((tmp_path / "enas" / "best_arch.json").read_text())
    assert best == outcome.best and best["params"] <= budget and 0 <= best["test_acc"] <= 1
    assert best["arch"] == space.to_arch(best["tokens"]) and json.dumps(best["tokens"]) in set(derived.tokens)
    model = raynas.load_model(outcome.model_path)
    assert sum(p.numel() for p in model.parameters()) == best["params"]
    # a finished search continues to its results; `raynas analyze` reads it like any other search
    assert raynas.resume(str(tmp_path), "enas").best == best
    frame = analysis.load(str(tmp_path), "enas")
    assert len(frame) == len(derived) and frame.retrained_reward.notna().sum() == 2
    summary = analysis.analyze(str(tmp_path), ["enas"])
    assert summary.loc[0, "trials"] == f"{len(derived)}/{len(derived)}" and summary.loc[0, "asked"] == 8
    assert summary.loc[0, "best reward"] == round(best["val_acc"], 4)  # ranked by the retrained accuracy
    # the controller's probability of each candidate of each label, over the epochs of the best seed
    assert any(path.endswith("arch_weights.png") for path in summary.loc[0, "plots"])
    seed = derived.set_index("tokens").seed[json.dumps(best["tokens"])]
    epochs = list((tmp_path / "enas" / "supernet").glob("train_enas_*/result.json"))
    results = [json.loads(line) for path in epochs for line in path.read_text().splitlines()]
    weights = [json.loads(r["arch_weights"]) for r in results if r["seed"] == seed]
    assert len(weights) == SMALL["supernet_epochs"] and set(weights[0]) == set(space.labels())
    assert all(abs(sum(p) - 1) < 1e-5 for w in weights for p in w.values())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "enas", "--space", "small_channel"], "ENAS needs a space of labelled choices"),
        (["search", "enas", "--space", "user_spaces:no_choices"], "has no LayerChoice or InputChoice"),
        (["search", "enas", "--max-params", "100"], "below the smallest architecture"),
        (["search", "sanas", "--controller-lr", "0.1"], "--controller-lr applies to `raynas search enas` only"),
        (["search", "enas", "--controller-aggregate", "0"], "controller-aggregate must be at least 1"),
        (["search", "enas", "--searcher", "tpe"], "--searcher applies to `raynas search oneshot` only"),
    ],
)
def test_enas_bad_input_is_one_clear_line_before_any_training(tmp_path, argv, message, capsys):
    assert cli.main([*argv, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())
