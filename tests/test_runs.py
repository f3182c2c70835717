"""Every kind of run behind one interface: which kind a folder holds, run and resume from Python and the CLI."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

import raynas
from raynas import cli
from raynas.runs import registry
from raynas.searchers import RandomSearcher


@pytest.mark.parametrize(
    "record, content, kind",
    [
        ("raynas_search.json", {"searcher": "sanas"}, "search"),
        ("raynas_search.json", {"searcher": "oneshot"}, "oneshot"),
        ("raynas_search.json", "not json", "search"),
        ("raynas_darts.json", {}, "darts"),
        ("raynas_pipeline.json", {}, "pipeline"),
        ("raynas_retrain.json", {}, "retrain"),
    ],
)
def test_the_kind_of_a_folder_is_read_from_the_record_it_holds(tmp_path, record, content, kind):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / record).write_text(content if isinstance(content, str) else json.dumps(content))
    assert registry.kind_at(tmp_path, "x").name == kind
    assert registry.kind_at(tmp_path, "x").module.resume  # each kind can be continued


def test_a_folder_without_a_run_is_one_error_on_resume(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="^no raynas run named 'empty' under"):
        raynas.resume(tmp_path, "empty")
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "empty"]) == 2
    assert "raynas: error: no raynas run named 'empty'" in capsys.readouterr().err


def test_run_and_resume_return_one_outcome_from_python_and_the_cli(ray_session, tmp_path, small_table, capsys):
    settings = raynas.SearchSettings(
        space="tabular",
        space_kwargs={"path": str(small_table)},
        num_samples=5,
        storage_path=str(tmp_path),
        name="t",
    )
    outcome = raynas.run(settings)
    assert isinstance(outcome, raynas.Outcome) and len(outcome.results) == 5
    assert outcome.grid is not None and len(outcome.grid) == 5  # Tune's ResultGrid of the run
    best = outcome.results.reward.astype(float).max()
    assert outcome.best["reward"] == pytest.approx(best)
    again = raynas.resume(tmp_path, "t")  # a finished search: the same results
    assert again.best["tokens"] == outcome.best["tokens"]
    pd.testing.assert_frame_equal(again.results, outcome.results)
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "t"]) == 0
    assert raynas.load(tmp_path, "t").reward.max() == pytest.approx(best)
    assert " epoch " not in capsys.readouterr().out  # a table replay's trials have no epochs to report


def test_every_epoch_of_a_trial_but_its_last_prints_a_line(ray_session, tmp_path, capsys):
    from raynas.tune.build import make_space

    settings = raynas.SearchSettings(epochs=3, concurrency=1, storage_path=str(tmp_path), name="r")
    outcome = raynas.retrain(settings, make_space(settings), [[0, 0, 0, 0]])
    out = capsys.readouterr().out
    trial = outcome.results.trial_id.iloc[0]
    for epoch in (1, 2):
        assert re.search(rf"^\[raynas\] trial #0 {trial} epoch {epoch}/3: val_acc 0\.\d{{4}} \(\d+ s\)$", out, re.M)
    assert "epoch 3/3" not in out  # the trial's own line reports the end


class OwnSearcher(RandomSearcher):
    """A user's searcher: the built-in random one under another name."""


def test_a_users_searcher_and_scheduler_objects_run_a_search_and_are_needed_to_resume_it_elsewhere(
    ray_session, tmp_path, small_table, capsys
):
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    from raynas.tune.build import make_space

    settings = raynas.SearchSettings(
        space="tabular",
        space_kwargs={"path": str(small_table)},
        num_samples=4,
        max_params=20_000,
        storage_path=str(tmp_path / "a"),
        name="own",
    )
    space = make_space(settings)
    with pytest.raises(ValueError, match="^searcher must be a raynas TokenSearcher"):
        raynas.run(settings, searcher=BasicVariantGenerator())
    with pytest.raises(ValueError, match=r"^the searcher's budget \(max_params, min_params\) is \(None, None\)"):
        raynas.run(settings, searcher=OwnSearcher(space))
    with pytest.raises(ValueError, match="^give settings.scheduler 'asha' or a scheduler object, not both"):
        raynas.run(raynas.SearchSettings(scheduler="asha", storage_path=str(tmp_path)), scheduler=FIFOScheduler())
    outcome = raynas.run(settings, searcher=OwnSearcher(space, max_params=20_000, seed=3), scheduler=FIFOScheduler())
    assert len(outcome.results) == 4 and (outcome.results.params.astype(int) <= 20_000).all()
    recorded = json.loads((tmp_path / "a" / "own" / "raynas_search.json").read_text())
    assert recorded["own_searcher"] == f"{__name__}:OwnSearcher"
    assert recorded["own_scheduler"] == "ray.tune.schedulers.trial_scheduler:FIFOScheduler"
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # moved: Tune cannot restore its own objects
    with pytest.raises(ValueError, match="so Tune cannot restore the .*OwnSearcher object search 'own' ran with"):
        raynas.resume(tmp_path / "b", "own")
    again = raynas.resume(
        tmp_path / "b", "own", searcher=OwnSearcher(space, max_params=20_000), scheduler=FIFOScheduler()
    )
    assert sorted(again.results.tokens) == sorted(outcome.results.tokens)  # nothing run twice
    darts = raynas.DartsSettings(storage_path=str(tmp_path), name="d")
    with pytest.raises(ValueError, match="^a darts run takes no searcher object; drop searcher"):
        raynas.run(darts, searcher=OwnSearcher(space))
    capsys.readouterr()


def test_epochs_not_above_reward_epochs_is_a_warning_that_says_what_to_change(ray_session, tmp_path, capsys):
    outcome = raynas.run(raynas.SearchSettings(epochs=2, num_samples=1, storage_path=str(tmp_path), name="w"))
    assert outcome.best is not None  # a warning, not an error
    assert (
        "[raynas] epochs 2 is not above reward_epochs 2: the reward averages every epoch's validation accuracy, "
        "the first, half-trained ones too; raise epochs or lower reward_epochs"
    ) in capsys.readouterr().err
