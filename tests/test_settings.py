"""Settings of every type, from Python, config files and saved records: converted, or one clear error."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest
from conftest import write_table

from raynas import cli
from raynas.settings import SA_SETTINGS, SearchSettings, upgrade_record


def main_error(argv: list[str], capsys) -> str:
    """The one error line ``raynas argv`` prints, after checking it exits with status 2."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("raynas: error: "), err
    return err.removeprefix("raynas: error: ")


def test_numbers_given_as_text_are_converted(tmp_path):
    config = tmp_path / "search.yaml"
    config.write_text("lr: 1e-3\nweight-decay: 5e-4\nseed: '3'\ncpus-per-trial: '1'\nepochs: 2.0\n")
    settings = cli.settings_from_args(cli.parser().parse_args(["search", "sanas", "--config", str(config)]))
    assert (settings.lr, settings.weight_decay, settings.seed, settings.cpus_per_trial, settings.epochs) == (
        0.001,
        0.0005,
        3,
        1.0,
        2,
    )
    python = SearchSettings(
        lr="0.1", val_fraction="0.2", momentum=1, gpus_per_trial="0.5", searcher_options={"warm_start": "4"}
    )
    assert (python.lr, python.val_fraction, python.momentum, python.gpus_per_trial) == (0.1, 0.2, 1.0, 0.5)
    assert python.searcher_options == {"warm_start": 4}
    auto = SearchSettings(searcher_options={"restart_after": "auto", "init_temperature": None}, address=None)
    assert auto.searcher_options == {"restart_after": "auto", "init_temperature": None}


def test_a_fractional_budget_keeps_exactly_the_whole_counts_it_allows():
    settings = SearchSettings(max_params=20000.5, min_params="10.0005k")
    assert (settings.max_params, settings.min_params) == (20000, 10001)  # params <= 20000.5, params >= 10000.5
    assert SearchSettings(max_params="3.77M").max_params == 3_770_000


@pytest.mark.parametrize(
    "values,message",
    [
        ({"lr": "abc"}, "lr must be a number, got 'abc'"),
        ({"momentum": "x"}, "momentum must be a number, got 'x'"),
        ({"grad_clip": "x"}, "grad_clip must be a number, got 'x'"),
        ({"weight_decay": "nan"}, "weight_decay must be a number, got 'nan'"),
        ({"gpus_per_trial": True}, "gpus_per_trial must be a number, got True"),
        ({"decay": "fast"}, "decay must be a number, got 'fast'"),
        ({"reward_scale": "x"}, "reward_scale must be a number, got 'x'"),
        ({"init_temperature": "hot"}, "init_temperature must be a number, got 'hot'"),
        ({"seed": "abc"}, "seed must be a whole number, got 'abc'"),
        ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
        ({"seed": True}, "seed must be a whole number, got True"),
        ({"seed": -1}, "seed must be at least 0, got -1"),
        ({"concurrency": "2.5"}, "concurrency must be a whole number, got '2.5'"),
        ({"warm_start": 1.5}, "warm_start must be a whole number of evaluations (0: off) or auto, got 1.5"),
        (
            {"restart_after": "never"},
            "restart_after must be a whole number of evaluations (0: off) or auto, got 'never'",
        ),
        ({"restart_after": -2}, "restart_after must be a whole number of evaluations (0: off) or auto, got -2"),
        ({"name": 2024}, "name must be a string, got 2024"),
        ({"address": 5}, "address must be a string, got 5"),
        ({"space": None}, "space must be a string, got None"),
        ({"data_dir": 5}, "data_dir must be a string, got 5"),
        ({"supernet_budget": "yes"}, "supernet_budget must be true or false, got 'yes'"),
        ({"space_kwargs": [1]}, "space_kwargs must be a JSON object of argument -> value, got [1]"),
        ({"decay": 0}, "decay must be above 0 and at most 1 (T is multiplied by it each step), got 0"),
        ({"init_temperature": -1}, "init_temperature must be above 0, got -1"),
        ({"reward_scale": 0}, "reward_scale must be above 0, got 0"),
        ({"gpus_per_trial": -1}, "gpus_per_trial must be 0 or more, got -1"),
        ({"cpus_per_trial": 0}, "cpus_per_trial must be above 0, got 0"),
        (
            {"storage_path": "s3://bucket/my runs"},
            "storage_path 's3://bucket/my runs' is a URI with a space in it; write "
            "the space as %20 (s3://bucket/my%20runs) or give a plain folder",
        ),
        (
            {"storage_path": "file:/data/runs"},
            "storage_path 'file:/data/runs': write a file URI with three slashes "
            "(file:///data/runs) or give a plain folder",
        ),
        ({"max_params": "-5k"}, "max_params must be a parameter count of 0 or more, got '-5k'"),
        ({"max_params": "inf"}, "max_params must be a number like 20000, 20k or 3.5M, got 'inf'"),
        (
            {"min_params": 30000, "max_params": "20k"},
            "min_params 30000 is above max_params 20000; no architecture fits between them",
        ),
    ],
)
def test_a_value_of_the_wrong_type_names_its_setting(values, message):
    options = {key: value for key, value in values.items() if key in SA_SETTINGS}  # SA's, in Python
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SearchSettings(**{key: value for key, value in values.items() if key not in options}, searcher_options=options)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SearchSettings.from_dict({key.replace("_", "-"): value for key, value in values.items()})


@pytest.mark.parametrize(
    "text,message",
    [
        ("lr: abc\n", "lr must be a number, got 'abc'"),
        ("name: 2024\n", "name must be a string, got 2024"),
        ("address: 5\n", "address must be a string, got 5"),
        ("space: null\n", "space must be a string, got None"),
        ("decay: fast\n", "decay must be a number, got 'fast'"),
        ("max-params: 20k\nmax_params: 30k\n", "'max-params' and 'max_params' are the same setting; keep one of them"),
        ("- lr\n", "must be a mapping of setting -> value, got a list"),
        ("space-kwargs: [1]\n", "--space-kwargs must be a JSON object of argument -> value, got [1]"),
        ("grace-epochs: 2\n", "--grace-epochs applies to a search with --scheduler asha only"),  # as the flag would be
        ("trial_function: os:getcwd\n", "'trial_function' is set by raynas itself, not by a config file; remove it"),
    ],
)
def test_a_bad_config_file_is_one_clear_line(tmp_path, capsys, text, message):
    config = tmp_path / "search.yaml"
    config.write_text(text)
    error = main_error(["search", "sanas", "--config", str(config), "--storage-path", str(tmp_path)], capsys)
    assert message in error
    if "same setting" in message or "mapping" in message:
        assert error.startswith(f"config file {config}")
    assert not (tmp_path / "search").exists()


def test_a_table_flag_added_to_space_kwargs_that_are_no_mapping_is_one_clear_line(tmp_path, capsys):
    config = tmp_path / "search.yaml"
    config.write_text("space-kwargs: [1]\n")
    table = write_table(tmp_path / "table.json")
    assert (
        main_error(
            ["search", "random", "--config", str(config), "--table", str(table), "--storage-path", str(tmp_path)],
            capsys,
        )
        == "--space-kwargs must be a JSON object of argument -> value, got [1]"
    )


def test_resume_with_other_resources_checks_them_and_refuses_them_where_it_cannot_apply_them(tmp_path, capsys):
    records = {
        name: SearchSettings(searcher=searcher, storage_path=str(tmp_path), name=name).to_json()
        for name, searcher in (("s", "sanas"), ("o", "oneshot"))
    }
    for name, record in records.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "raynas_search.json").write_text(record)
    resume = ["resume", "--storage-path", str(tmp_path), "--name"]
    assert main_error([*resume, "s", "--gpus-per-trial", "1.5"], capsys) == (
        "--gpus-per-trial must be a fraction below 1 or a whole number (Ray shares a GPU in fractions of one only), "
        "got 1.5"
    )
    assert main_error([*resume, "s", "--cpus-per-trial", "0"], capsys) == "--cpus-per-trial must be above 0, got 0"
    assert (tmp_path / "s" / "raynas_search.json").read_text() == records["s"]  # not rewritten
    assert main_error([*resume, "o", "--gpus-per-trial", "0"], capsys) == (
        "a one-shot search continues with the resources it was started with; drop --gpus-per-trial (it applies to "
        "resuming sanas, evolution, tpe and random searches), or start 'o' again under another --name"
    )
    import raynas

    with pytest.raises(ValueError, match="^a one-shot search continues"):  # Python's resume continues it as one
        raynas.resume(tmp_path, "o", gpus_per_trial=0)


def test_from_dict_needs_one_mapping_with_each_setting_once():
    with pytest.raises(ValueError, match="^settings must be a mapping of setting -> value, got a list$"):
        SearchSettings.from_dict(["a"])
    with pytest.raises(ValueError, match="^settings: 'max-params' and 'max_params' are the same setting; keep one"):
        SearchSettings.from_dict({"max-params": "20k", "max_params": "30k"})


def test_resume_of_a_record_that_is_no_mapping_names_the_file(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "raynas_search.json").write_text('["a"]')
    error = main_error(["resume", "--storage-path", str(tmp_path), "--name", "s"], capsys)
    assert error.startswith(
        f"{tmp_path}/s/raynas_search.json is not a usable raynas search record (settings must be "
        "a mapping of setting -> value, got a list); restore it or start the search again"
    )
    (tmp_path / "s" / "raynas_search.json").write_text('{"lr": "abc"}')
    assert "raynas_search.json is not a usable raynas search record (--lr must be a number, got 'abc')" in main_error(
        ["resume", "--storage-path", str(tmp_path), "--name", "s"], capsys
    )
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "raynas_darts.json").write_text("[1]")
    assert main_error(["resume", "--storage-path", str(tmp_path), "--name", "d"], capsys).startswith(
        f"{tmp_path}/d/raynas_darts.json is not a usable raynas DARTS search record"
    )


def test_run_takes_a_dict_and_runs_each_kind_by_its_own_runner(tmp_path):
    import raynas
    from raynas.runs import search

    for searcher, runner in (("oneshot", "raynas.runs.oneshot.run"), ("darts", "raynas.runs.darts.run")):
        with pytest.raises(
            ValueError, match=f"^searcher '{searcher}' is run by {re.escape(runner)}; choose one of: sanas, random"
        ):
            search.run({"searcher": searcher, "storage-path": str(tmp_path)})
    # raynas.run hands a one-shot search to the one-shot runner, which checks its space
    with pytest.raises(ValueError, match="^one-shot search needs a space of labelled choices"):
        raynas.run({"searcher": "oneshot", "storage-path": str(tmp_path)})
    with pytest.raises(ValueError, match="unknown searcher 'bogus'; choose one of: sanas"):
        raynas.run({"searcher": "bogus", "storage_path": str(tmp_path)})
    with pytest.raises(ValueError, match="settings must be a mapping of setting -> value, got a list"):
        raynas.run(["sanas"])
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"searcher": "random", "searcher_options": {"init_temperature": 1}},
            "searcher 'random' has no option 'init_temperature' (an option of sanas); its options: none",
        ),
        (
            {"searcher": "evolution", "oneshot_options": {"num_subnets": 50}},
            "num_subnets applies to `raynas search oneshot` or `raynas search enas` only",
        ),
        (
            {"epochs": 4, "scheduler_options": {"grace_epochs": 2}},
            "grace_epochs applies to a search with scheduler asha only",
        ),
        (
            {"space": "tabular", "space_kwargs": {"path": "t.json"}, "epochs": 5},
            "epochs applies to searches that train networks (a table replay looks accuracies up) only",
        ),
    ],
)
def test_settings_built_in_python_that_the_search_would_not_read_are_refused(tmp_path, values, message):
    import raynas
    from raynas.runs import oneshot

    with pytest.raises(ValueError, match=re.escape(message)):
        raynas.run(SearchSettings(storage_path=str(tmp_path), **values))
    with pytest.raises(
        ValueError, match=re.escape("supernet_lr applies to `raynas search oneshot` or `raynas search enas` only")
    ):
        raynas.run({"searcher": "sanas", "supernet_lr": 0.1, "storage_path": str(tmp_path)})
    with pytest.raises(
        ValueError, match=re.escape("searcher 'random' (the subnets' searcher of this one-shot search) ")
    ):
        oneshot.run(
            SearchSettings(
                searcher="oneshot",
                oneshot_options={"subnet_searcher": "random"},
                searcher_options={"decay": 0.9},
                storage_path=str(tmp_path),
            )
        )
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_darts_and_pipeline_settings_are_converted_or_name_the_flag():
    from raynas.runs.darts import DartsSettings
    from raynas.runs.pipeline import PipelineSettings, check

    darts = DartsSettings(lr="1e-3", arch_lr="3e-4", seeds="2", cpus_per_worker=1)
    assert (darts.lr, darts.arch_lr, darts.seeds, darts.cpus_per_worker) == (0.001, 0.0003, 2, 1.0)
    for values, message in (
        ({"seed": "x"}, "seed must be a whole number, got 'x'"),
        ({"arch-lr": "fast"}, "arch_lr must be a number, got 'fast'"),
        ({"name": 5}, "name must be a string, got 5"),
        ({"seed": -1}, "seed must be at least 0, got -1"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            DartsSettings.from_dict(values)
    pipeline = PipelineSettings(max_params="60k", seed="2", darts_epochs=3.0)
    check(pipeline)
    assert (pipeline.seed, pipeline.darts_epochs) == (2, 3)
    for values, message in (
        ({"seed": "x"}, "seed must be a whole number, got 'x'"),
        ({"num_samples": 2.5}, "num_samples must be a whole number, got 2.5"),
        ({"seed": -1}, "seed must be a whole number of at least 0, got -1"),
        ({"data_dir": 5}, "data_dir must be a string, got 5"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            check(PipelineSettings(max_params="60k", **values))


@pytest.mark.parametrize(
    "held, start, message",
    [
        (
            "raynas_darts.json",
            "search",
            "holds a DARTS search (raynas search darts), not a token search; pick another name",
        ),
        (
            "raynas_search.json",
            "darts",
            "holds a token search (raynas search sanas|evolution|tpe|random|oneshot), not a "
            "DARTS search; pick another name",
        ),
        ("raynas_search.json", "pipeline", "holds a token search (raynas search"),
        (
            "raynas_pipeline.json",
            "resume",
            "holds a pipeline (its stages are the searches x/darts and x/sanas), not a "
            "token search; continue it with `raynas resume`, or raynas.resume(storage_path, name) from Python",
        ),
        (
            "raynas_darts.json",
            "resume",
            "holds a DARTS search (raynas search darts), not a token search; continue it "
            "with `raynas resume`, or raynas.resume(storage_path, name) from Python",
        ),
        (
            "raynas_retrain.json",
            "resume",
            "holds a retrain (raynas retrain), not a token search; continue it with `raynas resume`, or "
            "raynas.resume(storage_path, name) from Python",
        ),
    ],
)
def test_a_name_that_holds_another_kind_of_run_is_refused_before_anything_is_written(tmp_path, held, start, message):
    from raynas import analysis
    from raynas.runs import darts as darts_search
    from raynas.runs import pipeline, search

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / held).write_text("{}")
    run = {
        "search": lambda: search.run({"storage_path": str(tmp_path), "name": "x", "num_samples": 1}),
        "darts": lambda: darts_search.run({"storage_path": str(tmp_path), "name": "x"}),
        "pipeline": lambda: pipeline.run(
            pipeline.PipelineSettings(max_params="60k", storage_path=str(tmp_path), name="x")
        ),
        "resume": lambda: search.resume(str(tmp_path), "x"),
        "analyze": lambda: analysis.analyze(str(tmp_path), ["x"]),
    }[start]
    with pytest.raises(FileExistsError, match=re.escape(message)):
        run()
    assert [p.name for p in (tmp_path / "x").iterdir()] == [held]


def test_paths_may_be_pathlib_paths(tmp_path):
    from pathlib import Path

    from raynas import analysis

    settings = SearchSettings(storage_path=Path(tmp_path), data_dir=Path("data"))
    assert settings.storage_path == str(tmp_path) and settings.data_dir == os.path.abspath("data")
    with pytest.raises(FileNotFoundError, match="no raynas run named 'none'"):
        analysis.load(Path(tmp_path), "none")


def old_record(settings: SearchSettings, **sa) -> dict:
    """``settings`` as the version before ``searcher_options`` recorded them (raynas 0.1): every SA option, every
    option of a one-shot search and ASHA's at the top level."""
    record = settings.to_dict()
    options = record.pop("searcher_options")
    record.pop("oneshot_options")
    asha = {"grace_epochs": 1, "reduction_factor": 3.0, **record.pop("scheduler_options")}
    return {**record, **SA_SETTINGS, **options, **settings.oneshot(), **asha, **sa}


def test_a_record_of_the_version_before_searcher_options_loads_with_its_options(tmp_path):
    from raynas import spaces
    from raynas.runs.search import load_settings
    from raynas.tune.build import make_searcher

    space = spaces.get("small_channel")
    sanas = old_record(SearchSettings(name="sa"), decay=0.9, warm_start=4, restart_after=0, screened=0.0)
    settings = SearchSettings.from_dict(sanas)
    assert settings.searcher_options == {"decay": 0.9, "warm_start": 4, "restart_after": 0, "screened": 0.0}
    sa = make_searcher(settings, space)
    assert (sa.decay, sa.warm_start, sa.restart_after, sa.screened, sa.screen_size) == (0.9, 4, None, 0.0, 5)
    # a search of another searcher recorded SA's options at their defaults: they are dropped
    for searcher in ("random", "evolution", "tpe"):
        record = old_record(SearchSettings(searcher=searcher, name=searcher))
        assert SearchSettings.from_dict(record) == SearchSettings(searcher=searcher, name=searcher)
        (tmp_path / searcher).mkdir()
        (tmp_path / searcher / "raynas_search.json").write_text(json.dumps(record, indent=2))
        loaded = load_settings(str(tmp_path), searcher)
        assert loaded.searcher == searcher and loaded.searcher_options == {}
        make_searcher(loaded, space)
    oneshot = old_record(SearchSettings(searcher="oneshot", oneshot_options={"subnet_searcher": "sanas"}), far_moves=1)
    assert SearchSettings.from_dict(oneshot).searcher_options == {"far_moves": 1}
    # and what this version records reads back as it was
    assert SearchSettings.from_dict(json.loads(settings.to_json())) == settings
    assert json.loads(settings.to_json())["searcher_options"] == settings.searcher_options


def test_a_record_with_the_one_shot_options_at_the_top_level_loads_them_into_oneshot_options():
    # raynas 0.1 recorded every option of a one-shot search at the top level, in every search's record
    record = old_record(SearchSettings(searcher="oneshot", name="os"))
    record.update(num_subnets=4, supernet_epochs=1, calibration_images=100)
    settings = SearchSettings.from_dict(record)
    assert settings.oneshot_options == {
        "num_subnets": 4,
        "supernet_epochs": 1,
        "calibration_images": 100,
    }  # the rest are at their defaults: left out
    assert settings.oneshot()["retrain_top"] == 3 and settings.oneshot()["subnet_searcher"] == "sanas"
    assert "num_subnets" not in settings.to_dict() and SearchSettings.from_dict(settings.to_dict()) == settings
    assert upgrade_record(record)["oneshot_options"] == settings.oneshot_options
    # those of another search are at their defaults: dropped
    assert SearchSettings.from_dict(old_record(SearchSettings(name="s"))).oneshot_options == {}
    # a one-shot option given to another search is one clear error, whichever way it is given
    for values in (
        {"searcher": "sanas", "num_subnets": 4},
        {"searcher": "sanas", "oneshot_options": {"num_subnets": 4}},
    ):
        with pytest.raises(
            ValueError, match=re.escape("num_subnets applies to `raynas search oneshot` or `raynas search enas` only")
        ):
            SearchSettings.from_dict(values)
    with pytest.raises(ValueError, match=re.escape("a one-shot search has no option 'decay'")):
        SearchSettings(searcher="oneshot", oneshot_options={"decay": 0.9})
    with pytest.raises(ValueError, match=re.escape("num_subnets must be a whole number, got 'many'")):
        SearchSettings(searcher="oneshot", oneshot_options={"num_subnets": "many"})
    with pytest.raises(ValueError, match=re.escape("supernet_epochs must be at least 1, got 0")):
        SearchSettings.from_dict({"searcher": "oneshot", "supernet-epochs": 0})


def test_asha_options_are_scheduler_options_however_they_are_given(tmp_path, capsys):
    # raynas 0.1 recorded ASHA's options at the top level, in every search's record
    record = old_record(SearchSettings(scheduler="asha", epochs=4, scheduler_options={"grace_epochs": 2}))
    assert record["grace_epochs"] == 2 and record["reduction_factor"] == 3.0
    settings = SearchSettings.from_dict(record)
    assert settings.scheduler_options == {"grace_epochs": 2}  # reduction_factor at its default: left out
    assert upgrade_record(record)["scheduler_options"] == {"grace_epochs": 2}
    assert SearchSettings.from_dict(old_record(SearchSettings())).scheduler_options == {}  # no scheduler: defaults
    assert SearchSettings.from_dict(settings.to_dict()) == settings
    assert (
        SearchSettings.from_dict({"scheduler": "asha", "reduction-factor": "2"}).scheduler_options
        == SearchSettings(scheduler="asha", scheduler_options={"reduction_factor": 2}).scheduler_options
        == {"reduction_factor": 2.0}
    )
    for values, message in (
        (
            {"scheduler": "asha", "scheduler_options": {"reduction_factor": 1}},
            "reduction_factor must be above 1, got 1",
        ),
        ({"scheduler": "asha", "scheduler_options": {"grace_epochs": 5}}, "grace_epochs must be between 1 and epochs"),
        ({"scheduler": "asha", "scheduler_options": {"grace": 2}}, "no trial scheduler has an option 'grace'"),
        (
            {"scheduler": "asha", "grace_epochs": 2, "scheduler_options": {"grace_epochs": 3}},
            "scheduler option 'grace_epochs' is given as a setting and in scheduler_options; give it once",
        ),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
            SearchSettings.from_dict(values)
    config = tmp_path / "search.yaml"
    config.write_text("scheduler: asha\nscheduler-options:\n  reduction-factor: 1\n")
    assert main_error(["search", "sanas", "--config", str(config), "--storage-path", str(tmp_path)], capsys) == (
        "--reduction-factor must be above 1, got 1"
    )
    assert main_error(
        ["search", "sanas", "--reduction-factor", "x", "--scheduler", "asha", "--storage-path", str(tmp_path)], capsys
    ) == ("--reduction-factor must be a number, got 'x'")
    assert not (tmp_path / "search").exists()


def test_a_one_shot_search_or_retrain_recorded_before_searcher_options_continues(tmp_path):
    from raynas.runs import oneshot, retrain

    for options in ({}, {"decay": 0.9}):
        settings = SearchSettings(
            searcher="oneshot", searcher_options=options, storage_path=str(tmp_path), name=f"o{len(options)}"
        )
        (tmp_path / settings.name).mkdir()
        (tmp_path / settings.name / "raynas_search.json").write_text(json.dumps(old_record(settings)))
        oneshot.claim(settings)  # the same search: no "settings differ"
        with pytest.raises(ValueError, match=r"settings differ: searcher_options\)"):
            oneshot.claim(dataclasses.replace(settings, searcher_options={"decay": 0.8}))
    settings = SearchSettings(storage_path=str(tmp_path), name="r", num_samples=1)
    (tmp_path / "r").mkdir()
    record = {**old_record(settings), "storage_path": str(tmp_path), "architectures": [[0, 0, 0, 0]]}
    (tmp_path / "r" / "raynas_retrain.json").write_text(json.dumps(record))
    retrain._claim(settings, [[0, 0, 0, 0]])


def test_a_searcher_option_the_searcher_does_not_declare_is_one_clear_error(tmp_path, capsys):
    message = "searcher 'evolution' has no option 'popultion'; its options: population, sample_size, mutation_prob"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SearchSettings(searcher="evolution", searcher_options={"popultion": 20})
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SearchSettings.from_dict({"searcher": "evolution", "searcher-options": {"popultion": 20}})
    with pytest.raises(
        ValueError, match="^unknown setting 'popultion'; known settings: .*; searcher options: .*population"
    ):
        SearchSettings.from_dict({"searcher": "evolution", "popultion": 20})
    config = tmp_path / "search.yaml"
    config.write_text("searcher-options:\n  popultion: 20\n")
    assert main_error(["search", "evolution", "--config", str(config), "--storage-path", str(tmp_path)], capsys) == (
        message
    )
    # an option of another searcher names that searcher
    message = "searcher 'tpe' has no option 'population' (an option of evolution); its options: n_startup_trials, "
    with pytest.raises(ValueError, match=f"^{re.escape(message)}multivariate, window$"):
        SearchSettings(searcher="tpe", searcher_options={"population": 20})
    with pytest.raises(ValueError, match=re.escape("searcher 'random' has no option 'decay' (an option of sanas)")):
        SearchSettings.from_dict({"searcher": "random", "decay": 0.9})  # an old-style key, not at its default
    with pytest.raises(ValueError, match="^searcher 'darts' takes no searcher options, got 'decay'; the token"):
        SearchSettings(searcher="darts", searcher_options={"decay": 0.9})
    with pytest.raises(ValueError, match="^searcher option 'decay' is given as a setting and in searcher_options"):
        SearchSettings.from_dict({"decay": 0.9, "searcher_options": {"decay": 0.8}})
    # a flag or a config key of another searcher's option is refused as before
    config.write_text("window: 50\n")
    assert main_error(["search", "evolution", "--config", str(config), "--storage-path", str(tmp_path)], capsys) == (
        "--window applies to tpe (`raynas search tpe`, or oneshot with --searcher tpe) only; drop it from "
        "`raynas search evolution`"
    )
    config.write_text("searcher-options:\n  decay: 0.9\n")
    assert main_error(["search", "random", "--config", str(config), "--storage-path", str(tmp_path)], capsys) == (
        "--decay applies to SA (`raynas search sanas`, or oneshot with --searcher sanas) only; drop it from "
        "`raynas search random`"
    )
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize(
    "searcher,options,message",
    [
        ("tpe", {"multivariate": "yes"}, "multivariate must be true or false, got 'yes'"),
        ("tpe", {"n_startup_trials": 2.5}, "n_startup_trials must be a whole number, got 2.5"),
        ("tpe", {"window": 10}, "window must be a whole number of at least 25, or none, got 10"),
        ("evolution", {"population": "many"}, "population must be a whole number of at least 1, or auto, got 'many'"),
        ("evolution", {"mutation_prob": "1.5"}, "mutation_prob must be between 0 and 1, got 1.5"),
        ("sanas", {"screen_size": "x"}, "screen_size must be a whole number, got 'x'"),
        ("oneshot", {"far_moves": 0}, "far_moves must be a whole number of positions, at least 1 (1: restart"),
    ],
)
def test_a_searcher_option_of_the_wrong_type_is_one_clear_error(tmp_path, capsys, searcher, options, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        SearchSettings(searcher=searcher, searcher_options=options)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        SearchSettings.from_dict({"searcher": searcher, **options})
    ((name, value),) = options.items()
    if name == "multivariate":  # a switch on the command line: a value of another type comes from a config file
        config = tmp_path / "search.yaml"
        config.write_text(f"multivariate: '{value}'\n")
        argv = ["--config", str(config)]
    else:
        argv = [f"--{name.replace('_', '-')}", str(value)]
    error = main_error(["search", searcher, *argv, "--storage-path", str(tmp_path)], capsys)
    flag_message = f"--{name.replace('_', '-')}{message[len(name) :]}"  # the CLI names the flag
    assert error.startswith(flag_message.rpartition(", got ")[0])  # a flag's value is text: got '2.5'


def test_python_gets_setting_names_and_the_cli_flag_names_for_the_same_bad_value(tmp_path, capsys):
    from raynas import settings

    with pytest.raises(ValueError, match="^seed must be at least 0, got -1$"):
        SearchSettings(seed=-1)
    assert main_error(["search", "sanas", "--seed", "-1", "--storage-path", str(tmp_path)], capsys) == (
        "--seed must be at least 0, got -1"
    )
    with pytest.raises(ValueError, match="^seed must be at least 0, got -1$"):  # the CLI's naming ended with it
        SearchSettings(seed=-1)
    assert settings.named("max_params") == "max_params"
    with settings.naming("flags"):
        assert settings.named("max_params") == "--max-params"
    assert settings.named("max_params") == "max_params"
    assert not (tmp_path / "search").exists()
