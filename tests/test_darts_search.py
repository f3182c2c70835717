"""DARTS through Tune: seeds as trials, data-parallel workers, the CLI and the pipeline on digits."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest
import torch
from conftest import kill_cli_when

from raynas import cli
from raynas.runs import darts as darts_search
from raynas.spaces.channel import DartsChannelSpace
from raynas.spaces.darts import genotype_from_dict

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]


def test_two_data_parallel_workers_hold_the_same_alphas_and_continue_from_a_left_checkpoint(tmp_path, capsys):
    settings = darts_search.DartsSettings.from_dict(
        {
            "epochs": 1,
            "layers": 3,
            "init_channels": 2,
            "steps": 2,
            "batch_size": 96,
            "order": 2,
            "workers_per_trial": 2,
            "storage_path": str(tmp_path),
            "name": "dp",
        }
    )
    frame = darts_search.run(settings).results
    assert list(frame.status) == ["TERMINATED"]
    progress = pd.read_csv(next((tmp_path / "dp").glob("darts_search_*/progress.csv")))
    assert progress.workers.iloc[-1] == 2
    assert progress.alpha_rank_spread.iloc[-1] == 0.0  # identical architecture on both ranks
    genotype = genotype_from_dict(json.loads((tmp_path / "dp" / "genotype.json").read_text()))
    assert len(genotype.normal) == 4

    # the same folder as a two-epoch search killed after its first epoch, while Tune was writing its record:
    # the new data-parallel trial goes on from the checkpoint the Train run left
    search = tmp_path / "dp"
    saved = json.loads((search / darts_search.SETTINGS_FILE).read_text())
    (search / darts_search.SETTINGS_FILE).write_text(json.dumps({**saved, "epochs": 2}))
    for finished in ("genotype.json", "results.csv"):
        (search / finished).unlink()
    for state in search.glob("experiment_state-*.json"):
        state.write_text(state.read_text()[:40])
    capsys.readouterr()
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "dp"]) == 0
    assert "1 seed(s) continue from their newest checkpoint" in capsys.readouterr().out
    runs = sorted(search.glob("darts_search_*/progress.csv"), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2
    progress = pd.read_csv(runs[-1])
    assert list(progress.epoch) == [2] and progress.alpha_rank_spread.iloc[-1] == 0.0
    assert list(pd.read_csv(search / "results.csv").epochs) == [2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--order", "3"], "--order must be 1 (first order) or 2 (second order), got 3"),
        (["--epochs", "2", "--epochs-no-archopt", "2"], "--epochs-no-archopt (2) must be smaller than --epochs (2)"),
        (["--max-params", "20k"], "setting 'max_params' does not apply to `search darts`"),
        (
            ["--layers", "2"],
            "--layers must be at least 3 for a cell search, got 2: with fewer, every cell is a reduction",
        ),
        (
            ["--gpus-per-worker", "-1"],
            "--cpus-per-worker must be above 0 and --gpus-per-worker at least 0, got 1.0 and -1.0",
        ),
    ],
)
def test_darts_cli_bad_input(tmp_path, capsys, args, message):
    assert cli.main(["search", "darts", *args, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "darts").exists()


def test_data_parallel_search_larger_than_the_machine_is_one_clear_line(ray_session, tmp_path, capsys):
    cpus = ray_session.cluster_resources()["CPU"]
    workers = int(cpus) + 1
    assert cli.main(["search", "darts", "--workers-per-trial", str(workers), "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--workers-per-trial {workers} with --cpus-per-worker 1 needs" in err[0]
    assert "lower --cpus-per-worker" in err[0]
    # one worker larger than the machine: it would wait for resources forever
    gpus = ray_session.cluster_resources().get("GPU", 0)  # the session's simulated GPUs
    for flags, message in (
        (["--cpus-per-worker", str(cpus + 1)], f"needs {cpus + 1:g} CPUs"),
        (
            ["--gpus-per-worker", str(gpus + 1)],
            f"--gpus-per-worker {gpus + 1:g} needs {gpus + 1:g} GPUs and this machine has {gpus:g}",
        ),
    ):
        assert cli.main(["search", "darts", *flags, "--storage-path", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "darts").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: g["normal"].__setitem__(0, ["conv_9x9", 0]), "unknown operation 'conv_9x9'"),
        (lambda g: g["normal"].pop(), "two per node"),
        (
            lambda g: g["reduce"].__setitem__(3, ["skip_connect", 7]),
            r"reduce\[3\] input must be an integer in \[0, 2\]",
        ),
    ],
)
def test_bad_genotype_files(tmp_path, capsys, change, message):
    genotype = {
        "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["sep_conv_3x3", 2], ["max_pool_3x3", 0]],
        "normal_concat": [2, 3],
        "reduce": [["max_pool_3x3", 0], ["skip_connect", 1], ["avg_pool_3x3", 2], ["skip_connect", 1]],
        "reduce_concat": [2, 3],
    }
    change(genotype)
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(genotype))
    for argv in (
        ["retrain", "--arch", str(path)],
        ["search", "sanas", "--space", "darts_channel", "--genotype", str(path)],
    ):
        assert cli.main([*argv, "--storage-path", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("raynas: error:")
        assert pytest.importorskip("re").search(message, err[0]), err[0]


def test_pipeline_on_digits_under_budget_and_rerun_skips_finished_stages(tmp_path, capsys):
    argv = [
        "pipeline",
        "--data",
        "digits",
        "--max-params",
        "60k",
        "--darts-epochs",
        "1",
        "--num-samples",
        "3",
        "--search-epochs",
        "1",
        "--retrain-epochs",
        "2",
        "--storage-path",
        str(tmp_path),
        "--name",
        "p",
    ]
    assert cli.main(argv) == 0
    root = tmp_path / "p"
    genotype = json.loads((root / "darts" / "genotype.json").read_text())
    results = pd.read_csv(root / "sanas" / "results.csv")
    assert len(results) == 3 and (results.params <= 60_000).all()
    best = json.loads((root / "sanas" / "best_arch.json").read_text())
    assert best["space_kwargs"]["genotype"] == genotype and best["params"] <= 60_000
    space = DartsChannelSpace(**best["space_kwargs"])
    assert space.num_params(best["tokens"]) == best["params"]
    final = json.loads((root / "retrain" / "result.json").read_text())
    assert final["tokens"] == best["tokens"] and final["epochs"] == 2 and 0 <= final["test_acc"] <= 1
    capsys.readouterr()
    assert cli.main(argv) == 0  # everything finished: nothing runs again
    assert "pipeline finished earlier" in capsys.readouterr().out
    # the same name with another budget: its stages were made under the old one
    assert cli.main([*argv[:4], "10k", *argv[5:]]) == 2
    assert "holds a pipeline whose stage sanas started with other --max-params" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-params", "abc"], "--max-params must be a number like 20000"),
        (
            ["--max-params", "60k", "--retrain-epochs", "0"],
            "--retrain-epochs must be a whole number of at least 1, got 0",
        ),
        (["--max-params", "60k", "--order", "3"], "--order must be 1 (first order) or 2 (second order), got 3"),
        (
            ["--max-params", "900"],
            "--max-params 900 is below 974, the fewest parameters a network of the channel "
            "search has with any cell DARTS can find (--num-cells 5, --stem-channels 12)",
        ),
    ],
)
def test_pipeline_flags_are_checked_before_any_stage(tmp_path, capsys, args, message):
    assert cli.main(["pipeline", *args, "--storage-path", str(tmp_path), "--name", "p"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "p").exists()


def test_killed_darts_search_continues_to_the_uninterrupted_architecture(tmp_path, capsys):
    flags = [
        "search",
        "darts",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--layers",
        "3",
        "--init-channels",
        "2",
        "--batch-size",
        "128",
        "--storage-path",
        str(tmp_path),
    ]
    assert cli.main([*flags, "--name", "whole"]) == 0
    kill_cli_when(
        [*flags, "--name", "cut"],
        lambda: bool(list((tmp_path / "cut").glob("darts_search_*/checkpoint_000000"))),
        lambda: time.sleep(1.0),
    )  # let Tune record the checkpoint in its experiment state
    assert not (tmp_path / "cut" / "genotype.json").exists()
    # a copy of it killed while Tune was writing its record: each seed goes on from its newest checkpoint
    shutil.copytree(tmp_path / "cut", tmp_path / "short")
    for state in (tmp_path / "short").glob("experiment_state-*.json"):
        state.write_text(state.read_text()[:40])
    capsys.readouterr()
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "short"]) == 0
    assert "was cut short; 1 seed(s) continue from their newest checkpoint" in capsys.readouterr().out
    runs = sorted((tmp_path / "short").glob("darts_search_*/progress.csv"), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2 and pd.read_csv(runs[-1]).epoch.iloc[0] >= 2  # the new trial did not start over
    assert list(pd.read_csv(tmp_path / "short" / "results.csv").epochs) == [2]

    assert cli.main([*flags[:5], "3", *flags[6:], "--name", "cut"]) == 2
    assert "--epochs 2 -> 3" in capsys.readouterr().err
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "cut"]) == 0
    assert "continuing the interrupted DARTS search 'cut'" in capsys.readouterr().out
    whole, cut = (pd.read_csv(tmp_path / name / "results.csv") for name in ("whole", "cut"))
    assert list(cut.epochs) == [2] and cut.genotype.tolist() == whole.genotype.tolist()
    progress = pd.read_csv(next((tmp_path / "cut").glob("darts_search_*/progress.csv")))
    assert list(progress.epoch) == [1, 2]  # continued from its checkpoint: no epoch trained twice
    assert cut.val_acc.tolist() == whole.val_acc.tolist()
    alphas = [final_state(tmp_path / name)["model"] for name in ("whole", "cut")]
    for key in ("alphas_normal", "alphas_reduce"):
        assert torch.equal(alphas[0][key], alphas[1][key])  # exactly where the uninterrupted search ended
    capsys.readouterr()
    assert cli.main(["resume", "--storage-path", str(tmp_path), "--name", "whole"]) == 0  # finished: not run again
    assert "the DARTS search 'whole' finished already" in capsys.readouterr().out
    assert cli.main([*flags[:5], "3", *flags[6:], "--name", "whole"]) == 2  # --epochs 3: another search
    err = capsys.readouterr().err
    assert "search named 'whole' already finished under" in err
    assert err.endswith("with other settings (--epochs 2 -> 3); pick another --name\n")
    assert pd.read_csv(tmp_path / "whole" / "results.csv").equals(whole)

    # `raynas analyze` reads a DARTS cell search: a row per seed, its genotype, no parameter counts
    from raynas import analysis

    frame = analysis.load(str(tmp_path), "whole")
    assert frame.trial_index.tolist() == [0] and frame.reward.tolist() == whole.val_acc.tolist()
    assert frame.genotype.tolist() == whole.genotype.tolist()
    assert frame.skip_connects_normal.tolist() == whole.skip_connects_normal.tolist()  # numbers, not text
    summary = analysis.analyze(str(tmp_path), ["whole"])
    assert summary.loc[0, "trials"] == "1/1" and summary.loc[0, "asked"] == 1 and summary["its params"].isna().all()
    assert (tmp_path / "whole" / "analysis" / "best_so_far.png").exists()
    assert json.loads((tmp_path / "whole" / "analysis" / "whole" / "genotype.json").read_text()) == json.loads(
        (tmp_path / "whole" / "genotype.json").read_text()
    )
    with pytest.raises(ValueError, match="has no parameter counts"):
        analysis.analyze(str(tmp_path), ["whole"], max_params=1000)
    shutil.copytree(tmp_path / "whole", tmp_path / "again")
    with pytest.raises(
        ValueError,
        match=r"^none of the searches 'whole', 'again' can be compared: search 'whole' "
        r"has no parameter counts .*; search 'again' has no parameter counts",
    ):
        analysis.analyze(str(tmp_path), ["whole", "again"], max_params=1000)


def final_state(folder) -> dict:
    newest = max(folder.glob("darts_search_*/checkpoint_*"))
    return torch.load(newest / "state.pt", weights_only=True)


def test_a_pipeline_takes_new_settings_for_the_stages_that_have_not_started(tmp_path):
    from raynas.runs.pipeline import SETTINGS_FILE, PipelineSettings, claim

    root = str(tmp_path / "p")
    claim(PipelineSettings(max_params=5000, darts_epochs=2), root)
    (tmp_path / "p" / "darts").mkdir()  # DARTS ran; the channel search stopped at its budget
    (tmp_path / "p" / "darts" / "genotype.json").write_text("{}")
    claim(PipelineSettings(max_params=60_000, darts_epochs=2), root)  # a larger budget: the search takes it
    assert json.loads((tmp_path / "p" / SETTINGS_FILE).read_text())["max_params"] == 60_000
    with pytest.raises(ValueError, match="stage darts started with other darts_epochs;"):
        claim(PipelineSettings(max_params=60_000, darts_epochs=3), root)
    (tmp_path / "p" / "sanas").mkdir()  # the channel search started too: the error names the stages changed
    (tmp_path / "p" / "sanas" / "raynas_search.json").write_text("{}")
    with pytest.raises(ValueError, match="stage sanas started with other max_params;"):
        claim(PipelineSettings(max_params=70_000, darts_epochs=2), root)
    with pytest.raises(ValueError, match="stages darts, sanas started with other max_params, seed;"):
        claim(PipelineSettings(max_params=70_000, darts_epochs=2, seed=1), root)


def test_max_failures_reaches_tune_and_is_kept_for_resume(tmp_path, monkeypatch, capsys):
    from ray import tune

    seen = []

    class Captured(Exception):
        pass

    def tuner(trainable, param_space, run_config):
        seen.append(run_config.failure_config.max_failures)
        raise Captured

    monkeypatch.setattr(tune, "Tuner", tuner)
    with pytest.raises(Captured):
        cli.main(["search", "darts", "--epochs", "1", "--max-failures", "2", "--storage-path", str(tmp_path)])
    assert seen == [2]
    saved = json.loads((tmp_path / "darts" / darts_search.SETTINGS_FILE).read_text())
    assert saved["max_failures"] == 2  # `raynas resume` runs it with the same retries
    assert cli.main(["search", "darts", "--max-failures", "-2", "--storage-path", str(tmp_path)]) == 2
    assert "--max-failures must be at least -1, got -2" in capsys.readouterr().err
