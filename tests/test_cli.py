"""The ``raynas`` command line: an end-to-end search on digits, config files, and bad inputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import write_table

from raynas import cli, spaces

SMALL = spaces.get("small_channel")
LOW, HIGH = SMALL.params_range()
BUDGET = LOW + (HIGH - LOW) // 3


@pytest.mark.slow
def test_sanas_search_on_digits_end_to_end(ray_session, tmp_path, capsys):
    code = cli.main(
        [
            "search",
            "sanas",
            "--data",
            "digits",
            "--max-params",
            str(BUDGET),
            "--num-samples",
            "6",
            "--epochs",
            "3",
            "--concurrency",
            "2",
            "--storage-path",
            str(tmp_path),
            "--name",
            "digits",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "(6/6 done)" in out and "best architecture" in out
    results = pd.read_csv(tmp_path / "digits" / "results.csv")
    assert len(results) == 6 and (results.status == "TERMINATED").all()
    assert results.tokens.nunique() == 6
    assert (results.params <= BUDGET).all()
    assert all(SMALL.num_params(json.loads(t)) == p for t, p in zip(results.tokens, results.params))
    assert {"trial_id", "reward", "val_acc", "wall_time_s"} <= set(results.columns)
    best = json.loads((tmp_path / "digits" / "best_arch.json").read_text())
    top = results.loc[results.reward.idxmax()]
    assert best["tokens"] == json.loads(top.tokens) and best["reward"] == pytest.approx(top.reward)
    assert best["arch"] == SMALL.to_arch(best["tokens"]) and best["params"] == top.params
    assert best["val_acc"] >= 0.80 and 0.5 <= best["test_acc"] <= 1
    # the same name again is refused, with what to do instead
    again = cli.main(["search", "sanas", "--storage-path", str(tmp_path), "--name", "digits"])
    assert again == 2 and "raynas resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "suffix,text",
    [
        (".yaml", "space: tabular\nmax-params: 20k\nnum_samples: 5\nseed: 4\n"),
        (".toml", 'space = "tabular"\nmax-params = "20k"\nnum_samples = 5\nseed = 4\n'),
    ],
)
def test_config_file_keys_mirror_flags_and_flags_win(ray_session, tmp_path, suffix, text):
    table = write_table(tmp_path / "table.json")
    config = tmp_path / f"search{suffix}"
    config.write_text(text)
    code = cli.main(
        [
            "search",
            "random",
            "--config",
            str(config),
            "--table",
            str(table),
            "--num-samples",
            "7",
            "--storage-path",
            str(tmp_path),
            "--name",
            "cfg",
        ]
    )
    assert code == 0
    results = pd.read_csv(tmp_path / "cfg" / "results.csv")
    assert len(results) == 7 and (results.params <= 20_000).all()
    saved = json.loads((tmp_path / "cfg" / "raynas_search.json").read_text())
    assert saved["seed"] == 4 and saved["num_samples"] == 7 and saved["max_params"] == 20_000


#: (command line, what its one error line says); {table}, {file} and {root} name paths made by bad_input_runs
BAD_INPUT = [
    (["params", "--tokens", "3,3,4"], "takes 4 tokens, got 3"),
    (["params", "--tokens", "3,3,4,8"], "token 3 (conv4_width) must be in [0, 7], got 8"),
    (
        ["search", "sanas", "--max-params", "100"],
        f"below the smallest architecture of space 'small_channel' ({LOW} params)",
    ),
    (["search", "sanas", "--data", "mnist", "--data-dir", "no/such/dir"], "MNIST/raw/train-images-idx3-ubyte"),
    (["search", "sanas", "--space", "nope"], "unknown space 'nope'; choose one of"),
    (["search", "sanas", "--max-params", "lots"], "--max-params must be a number like 20000"),
    (["search", "sanas", "--max-params", "inf"], "--max-params must be a number like 20000"),
    (
        ["search", "sanas", "--space", "small_channel", "--table", "t.json"],
        "--table replays a benchmark table and needs no --space (or --space tabular), got --space small_channel",
    ),
    (["search", "sanas", "--far-moves", "0"], "--far-moves must be a whole number of positions, at least 1"),
    (["search", "sanas", "--screened", "1.5"], "--screened must be between 0 and 1, got 1.5"),
    (["search", "sanas", "--screen-size", "0"], "--screen-size must be at least 1, got 0"),
    (["search", "sanas", "--bogus-flag", "1"], "unrecognized arguments: --bogus-flag"),
    (["search", "sanas", "--config", "missing.yaml"], "config file missing.yaml does not exist"),
    (["search", "sanas", "--gpus-per-trial", "1"], "--gpus-per-trial 1 asks for more than this machine has (0)"),
    (["search", "sanas", "--gpus-per-trial", "1.5"], "--gpus-per-trial must be a fraction below 1 or a whole number"),
    (["search", "darts", "--gpus-per-worker", "2.5"], "--gpus-per-worker must be a fraction below 1 or a whole"),
    (["search", "darts", "--arch-lr", "-1"], "--arch-lr must be above 0, got -1"),
    (
        ["search", "sanas", "--num-subnets", "5"],
        "--num-subnets applies to `raynas search oneshot` or `raynas search enas` only",
    ),
    (["search", "random", "--warm-start", "3"], "--warm-start applies to SA (`raynas search sanas`, or oneshot"),
    (
        ["search", "random", "--decay", "0.9"],
        "--decay applies to SA (`raynas search sanas`, or oneshot with --searcher sanas) only; drop it from `raynas "
        "search random`",
    ),
    (["search", "oneshot", "--searcher", "tpe", "--decay", "0.9"], "--decay applies to SA (`raynas search sanas`"),
    (
        ["search", "evolution", "--window", "50"],
        "--window applies to tpe (`raynas search tpe`, or oneshot with --searcher tpe) only; drop it from `raynas "
        "search evolution`",
    ),
    (["search", "sanas", "--population", "20"], "--population applies to evolution (`raynas search evolution`"),
    (["search", "tpe", "--window", "lots"], "--window must be a whole number of at least 25, or none, got 'lots'"),
    (["search", "evolution", "--mutation-prob", "2"], "--mutation-prob must be between 0 and 1, got 2"),
    (
        ["search", "evolution", "--population", "5", "--sample-size", "10"],
        "sample_size must be between 1 and the population (5), got 10",
    ),
    (["search", "sanas", "--decay", "fast"], "--decay must be a number, got 'fast'"),
    (["search", "sanas", "--grace-epochs", "2"], "--grace-epochs applies to a search with --scheduler asha only"),
    (["search", "sanas", "--order", "2"], "--order applies to `raynas search darts` only"),
    (["search", "sanas", "--lr", "-1"], "lr must be above 0, got -1"),
    (["search", "sanas", "--val-fraction", "1.5"], "--val-fraction must be between 0 and 1, got 1.5"),
    (["search", "sanas", "--name", "../elsewhere"], "--name must be a plain folder name"),
    (["search", "darts", "--name", ""], "--name must be a plain folder name"),
    (["search", "random", "--name", "  "], "--name must be a plain folder name (not blank"),
    (["search", "sanas", "--space-kwargs", '{"foo": 1}'], "unexpected keyword argument 'foo'); fix --space-kwargs"),
    (
        ["search", "sanas", "--space", "mobile", "--space-kwargs", '{"in_channels": "1"}'],
        "--space-kwargs gives in_channels '1' but --data digits has 1; drop in_channels from --space-kwargs",
    ),
    (["search", "sanas", "--space-kwargs", "[1, 2]"], "--space-kwargs must be a JSON object"),
    (["search", "oneshot", "--retrain-epochs", "-1"], "--retrain-epochs must be at least 1, got -1"),
    (["search", "oneshot", "--scheduler", "asha"], "--scheduler asha has nothing to stop early in a one-shot search"),
    (
        ["search", "sanas", "--table", "t.json", "--epochs", "5"],
        "--epochs applies to searches that train networks (a --table replay looks accuracies up) only",
    ),
    (
        ["search", "sanas", "--scheduler", "asha", "--epochs", "3", "--grace-epochs", "5"],
        "--grace-epochs must be between 1 and --epochs (3), got 5",
    ),
    (["search", "sanas", "--genotype", "g.json"], "--genotype applies to --space darts_channel only"),
    (
        ["search", "sanas", "--table", "t.json", "--space-kwargs", '{"path": "u.json"}'],
        "--space-kwargs gives 'path' and so does its own flag; give it once",
    ),
    (
        ["search", "random", "--space-kwargs", '{"in_channels": 3}'],
        "--space-kwargs gives in_channels 3 but --data digits has 1; drop in_channels from --space-kwargs",
    ),
    (
        ["search", "sanas", "--table", "{table}", "--scheduler", "hyperband"],
        "unknown scheduler 'hyperband'; choose one of: asha",
    ),
    (
        ["search", "sanas", "--table", "{table}", "--scheduler", "asha"],
        "--scheduler asha has nothing to stop early in a table replay",
    ),
    (
        ["search", "sanas", "--table", "{table}", "--table-metric", "cifar1000"],
        "unknown --table-metric 'cifar1000' for table",
    ),
    (
        ["search", "sanas", "--table", "{table}", "--table-metric", "params"],
        "is no accuracy (a cost, or the spread of several runs); choose one of: mean",
    ),
    (["search", "sanas", "--storage-path", "{file}/sub"], "cannot be written"),
    (["resume", "--storage-path", "{root}", "--name", "never-ran"], "no raynas run named 'never-ran'"),
    (
        ["search", "random", "--data-dir", "{root}"],
        "--data-dir applies to --data mnist, fashion_mnist or cifar10 "
        "(digits is bundled) only; drop it from `raynas search random`",
    ),
    (
        ["retrain", "--arch", "{table}", "--space", "small_channel", "--data-dir", "{root}"],
        "--data-dir applies to --data mnist, fashion_mnist or cifar10 (digits is bundled) only; drop it from `raynas "
        "retrain`",
    ),
    (
        ["spaces", "--space-kwargs", '{"widths": [8]}'],
        "--space-kwargs needs --space (or --table): it gives the arguments of one space",
    ),
    (["spaces", "--table-metric", "cifar100"], "--table-metric needs --table (a benchmark table)"),
    (["params", "--tokens", "3 3 4 4"], "tokens must be comma-separated integers (3,3,4,4), got '3 3 4 4'"),
    (["params", "--tokens", "3,,3,4"], "tokens must be comma-separated integers (3,3,4,4), got '3,,3,4'"),
    (["params", "--tokens", "3,3,4,4", "--space-kwargs", "{bad"], "argument --space-kwargs: not JSON (Expecting"),
    (["retrain", "--arch", "{root}"], "is a folder; give its best_arch.json (or genotype.json)"),
    (
        ["retrain", "--arch", "{table}", "--space", "small_channel", "--layers", "2"],
        "--layers must be at least 3 (cells at 1/3 and 2/3 are reductions), got 2",
    ),
    (["search", "sanas", "--address", "127.0.0.1:9"], "cannot reach the Ray cluster at --address"),
]

#: runs command lines one after the other in one fresh process, as the ``raynas`` command runs each
BATCH = """
import contextlib, io, json, sys
from raynas import cli
runs = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    runs.append({"code": code, "stderr": err.getvalue()})
print(json.dumps(runs))
"""


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every BAD_INPUT command line, each with a storage path of its own, in one process (one interpreter start
    instead of one per case): (its storage path, its exit code, its stderr) by case."""
    root = tmp_path_factory.mktemp("bad_input")
    paths = {"table": write_table(root / "table.json"), "file": root / "file", "root": root}
    paths["file"].write_text("a file, not a folder")

    def fill(arg: str) -> str:  # not str.format: --space-kwargs holds braces
        for key, path in paths.items():
            arg = arg.replace(f"{{{key}}}", str(path))
        return arg

    argvs = [[fill(a) for a in args] for args, _ in BAD_INPUT]
    argvs = [
        [*args, "--storage-path", str(root / str(i))] if args[0] == "search" and "--storage-path" not in args else args
        for i, args in enumerate(argvs)
    ]
    done = subprocess.run([sys.executable, "-c", BATCH, json.dumps(argvs)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    return [(root / str(i), run["code"], run["stderr"]) for i, run in enumerate(runs)]


@pytest.mark.parametrize("case", range(len(BAD_INPUT)), ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line(bad_input_runs, case):
    storage, code, stderr = bad_input_runs[case]
    message = BAD_INPUT[case][1]
    assert code != 0
    error_lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], stderr
    assert not (storage / "search").exists()  # nothing was started


def test_params_of_a_space_with_arguments(capsys):
    from raynas.spaces.build import space_for

    wide = space_for("mobile", {"widths": [16, 32, 48]}, "digits")
    assert (
        cli.main(
            ["params", "--space", "mobile", "--space-kwargs", '{"widths": [16, 32, 48]}', "--tokens", "0,0,0,0,0,0"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith(f"{wide.num_params([0] * 6):,} params")
    # labels and choices print as written
    assert cli.main(["params", "--space", "user_spaces:accented", "--tokens", "1"]) == 0
    assert capsys.readouterr().out == '154 params  {"schicht_ä": "faltung_5×5"}\n'
    # the dataset sets the input channels: a misspelt one is an error, not the 1-channel count
    assert cli.main(["params", "--tokens", "3,3,4,4", "--data", "CIFAR10"]) == 2
    assert "unknown dataset 'CIFAR10'; choose one of: digits, mnist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "values,message",
    [
        ({"num_samples": 0}, "num_samples must be at least 1, got 0"),
        ({"epochs": 1.5}, "epochs must be a whole number, got 1.5"),
        ({"scheduler": "hyperband"}, "unknown scheduler 'hyperband'"),
        ({"name": "a/b"}, "name must be a plain folder name"),
        ({"momentum": -1}, "momentum must be between 0 and 1, got -1"),
        ({"weight_decay": -1e-4}, "weight_decay must be 0 or more, got -0.0001"),
        ({"drop_path": 5}, "drop_path must be a probability: at least 0 and below 1, got 5"),
        ({"aux_weight": -1}, "aux_weight must be 0 or more, got -1"),
        ({"grad_clip": 0}, "grad_clip must be above 0 (the largest gradient norm), got 0"),
        (
            {"space": object()},
            "space must be a name, not a object object: a built-in space, 'tabular', or "
            "'package.module:factory' of your own",
        ),
        (
            {"space_kwargs": {"act": re.compile("x")}},
            "space_kwargs 'act' is a Pattern, which JSON cannot record; give "
            "numbers, strings, true/false, null, lists or objects of them",
        ),
    ],
)
def test_settings_built_in_python_are_checked_like_the_cli(values, message):
    from raynas import SearchSettings

    with pytest.raises(ValueError, match=re.escape(message)):
        SearchSettings(**values)
    assert SearchSettings(max_params="20k", num_samples="5").max_params == 20_000  # and coerced alike


def test_a_table_flag_overrides_the_config_files_space(tmp_path):
    config = tmp_path / "search.yaml"
    config.write_text("space: small_channel\nnum-samples: 3\n")
    table = str(write_table(tmp_path / "table.json"))
    flags = cli.parser().parse_args(["search", "random", "--config", str(config), "--table", table])
    settings = cli.settings_from_args(flags)
    assert settings.space == "tabular" and settings.space_kwargs["path"] == table and settings.num_samples == 3
    config.write_text(f"space: small_channel\ntable: {table}\n")  # both from the file: a contradiction
    with pytest.raises(ValueError, match="--table replays a benchmark table and needs no --space"):
        cli.settings_from_args(cli.parser().parse_args(["search", "random", "--config", str(config)]))


def test_spaces_lists_the_built_in_ones_or_describes_the_one_named(tmp_path, capsys):
    assert cli.main(["spaces"]) == 0
    listed = capsys.readouterr().out
    assert "small_channel   4 tokens, 4,096 architectures, 550 to 112,330 params" in listed and "mobile" in listed
    wide = spaces.get("mobile", widths=[16, 32, 48])
    assert cli.main(["spaces", "--space", "mobile", "--space-kwargs", '{"widths": [16, 32, 48]}']) == 0
    low, high = wide.params_range()
    assert capsys.readouterr().out == f"mobile          6 tokens, 74,088 architectures, {low:,} to {high:,} params\n"
    assert cli.main(["spaces", "--table", str(write_table(tmp_path / "table.json"))]) == 0
    assert capsys.readouterr().out == "tabular         3 tokens, 27 architectures, 6,000 to 18,000 params\n"
    assert cli.main(["spaces", "--table", str(write_table(tmp_path / "one.json", positions=1, choices=1))]) == 0
    assert capsys.readouterr().out == "tabular         1 token, 1 architecture, 1,000 to 1,000 params\n"


def test_params_of_a_table_architecture_needs_no_space(tmp_path, capsys):
    table = write_table(tmp_path / "table.json")  # key "123": score 1 + 4 + 9 = 14
    assert cli.main(["params", "--table", str(table), "--tokens", "0,1,2"]) == 0
    assert capsys.readouterr().out.startswith("14,000 params")


def test_unreadable_config_file_is_one_clear_line(tmp_path, capsys):
    config = tmp_path / "search.yaml"
    config.write_text("num-samples: [5\n")
    assert cli.main(["search", "sanas", "--config", str(config), "--storage-path", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"raynas: error: config file {config} cannot be read") and "\n" not in error
    config.write_text("epochs: two\n")
    assert cli.main(["search", "sanas", "--config", str(config), "--storage-path", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "raynas: error: --epochs must be a whole number, got 'two'"


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["search", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--space",
        "--data",
        "--data-dir",
        "--max-params",
        "--num-samples",
        "--epochs",
        "--concurrency",
        "--cpus-per-trial",
        "--gpus-per-trial",
        "--storage-path",
        "--name",
        "--seed",
        "--config",
        # each searcher's options, from its declaration
        "--init-temperature",
        "--warm-start",
        "--restart-after",
        "--far-moves",
        "--screened",
        "--screen-size",
        "--decay",
        "--reward-scale",
        "--population",
        "--sample-size",
        "--mutation-prob",
        "--n-startup-trials",
        "--multivariate, --no-multivariate",
        "--window",
    ):
        assert flag in out


@pytest.mark.slow
def test_sa_with_asha_on_digits_records_stopped_trials(ray_session, tmp_path):
    from conftest import run_search
    from test_cluster import searcher_state

    outcome = run_search(
        tmp_path,
        name="asha",
        searcher="sanas",
        data="digits",
        max_params=BUDGET,
        num_samples=8,
        epochs=3,
        concurrency=2,
        scheduler="asha",
        grace_epochs=1,
        reduction_factor=2,
        warm_start=4,
    )
    results = pd.read_csv(tmp_path / "asha" / "results.csv")
    assert len(results) == 8 and (results.status == "TERMINATED").all()
    stopped, full = results[results.stopped], results[~results.stopped]
    assert len(stopped) >= 1 and (stopped.epochs < 3).all() and (full.epochs == 3).all()
    assert outcome.best["tokens"] in [json.loads(t) for t in full.tokens]  # the best is a completed trial
    # the searcher state Tune saved: SA's current architecture is a completed trial, never a stopped one
    state = searcher_state(tmp_path / "asha")
    assert state["own"]["current_tokens"] in [json.loads(t) for t in full.tokens]
    assert sorted(state["partial"]) == sorted(json.loads(t) for t in stopped.tokens)


@pytest.mark.slow
def test_killed_search_with_asha_resumes_with_its_scheduler(ray_session, tmp_path):
    from test_cluster import kill_search_after_rows, read_results, searcher_state

    from raynas.runs.search import resume

    address = ray_session.get_runtime_context().gcs_address
    kill_search_after_rows(
        [
            "--address",
            address,
            "--max-params",
            str(BUDGET),
            "--num-samples",
            "8",
            "--epochs",
            "3",
            "--concurrency",
            "1",
            "--scheduler",
            "asha",
            "--grace-epochs",
            "1",
            "--reduction-factor",
            "2",
            "--warm-start",
            "2",
            "--storage-path",
            str(tmp_path),
            "--name",
            "k",
        ],
        tmp_path / "k",
        rows=3,
    )
    assert 3 <= len(read_results(tmp_path / "k")) < 8

    outcome = resume(str(tmp_path), "k")

    assert outcome.best is not None and 0 < outcome.best["test_acc"] <= 1  # the best's checkpoint is found
    after = read_results(tmp_path / "k")
    assert len(after) == 8 and (after.status == "TERMINATED").all() and after.tokens.nunique() == 8
    stopped = after[after.stopped]
    assert len(stopped) >= 1 and (stopped.epochs < 3).all() and (after[~after.stopped].epochs == 3).all()
    state = searcher_state(tmp_path / "k")
    assert state["full_epochs"] == 3 and state["issued"] == 8
    assert sorted(state["partial"]) == sorted(json.loads(t) for t in stopped.tokens)


@pytest.mark.slow
def test_ctrl_c_leaves_unfinished_trials_out_and_resume_completes_them(ray_session, tmp_path):
    """Ctrl-C while a trial trains: the trials that finished are written, the running one is not (its partial
    reward would pass for a full one), no best is chosen, and the exit says how to continue; resuming runs it
    to its last epoch from its checkpoint."""
    import signal
    import time

    from test_cluster import read_results

    from raynas.runs.search import resume

    folder, epochs = tmp_path / "i", 40
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raynas.cli",
            "search",
            "random",
            "--address",
            ray_session.get_runtime_context().gcs_address,
            "--max-params",
            str(BUDGET),
            "--num-samples",
            "2",
            "--epochs",
            str(epochs),
            "--concurrency",
            "1",
            "--storage-path",
            str(tmp_path),
            "--name",
            "i",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def training() -> bool:  # a trial has reported an epoch, and has no row yet
        rows = len(read_results(folder)) if (folder / "results.csv").exists() else 0
        return rows >= 1 and len(list(folder.glob("*/progress.csv"))) > rows

    deadline = time.time() + 240
    while time.time() < deadline and not training():
        assert driver.poll() is None, "the search ended before it could be interrupted"
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    stderr = driver.communicate(timeout=120)[1]

    errors = [line for line in stderr.splitlines() if line.startswith("raynas:")]
    assert driver.returncode == 130 and len(errors) == 1, stderr
    assert "interrupted with 1 trial unfinished" in errors[0]
    assert f"`raynas resume --storage-path {tmp_path} --name i`" in errors[0]
    before = read_results(folder)
    assert len(before) >= 1 and (before.epochs == epochs).all() and not (folder / "best_arch.json").exists()

    outcome = resume(str(tmp_path), "i")
    after = read_results(folder)
    assert len(after) == 2 and after.trial_id.is_unique and (after.epochs == epochs).all()
    assert set(before.trial_id) <= set(after.trial_id) and outcome.best is not None


def test_a_config_files_searcher_picks_the_subnet_searcher_of_a_one_shot_search(tmp_path):
    config = tmp_path / "oneshot.yaml"
    config.write_text("searcher: random\nnum-subnets: 20\n")
    args = cli.parser().parse_args(["search", "oneshot", "--config", str(config)])
    settings = cli.settings_from_args(args)
    options = settings.oneshot()
    assert (settings.searcher, options["subnet_searcher"], options["num_subnets"]) == ("oneshot", "random", 20)
    # another search's file names its searcher: the command's is the one that runs, so a different one is an error
    config.write_text("searcher: tpe\nnum-samples: 20\n")
    assert cli.settings_from_args(cli.parser().parse_args(["search", "tpe", "--config", str(config)])).num_samples == 20
    message = f"config file {config} names searcher 'tpe' and the command is `raynas search random`; remove the key"
    with pytest.raises(ValueError, match=re.escape(message)):
        cli.settings_from_args(cli.parser().parse_args(["search", "random", "--config", str(config)]))


def test_an_interrupted_stage_is_named_with_its_search(tmp_path, capsys):
    from raynas.tune.experiment import SearchInterrupted

    args = cli.parser().parse_args(["search", "oneshot", "--name", "os", "--storage-path", str(tmp_path)])
    assert cli._interrupted(SearchInterrupted("supernet", 1), args, cli.settings_from_args(args)) == 130
    assert capsys.readouterr().err == (
        f"raynas: search 'os' (its supernet stage) was interrupted with 1 trial unfinished (left out of its results; "
        f"resuming the search continues it from its last checkpoint); continue it with `raynas resume --storage-path "
        f"{tmp_path} --name os`\n"
    )
    args = cli.parser().parse_args(["pipeline", "--max-params", "60k", "--name", "p"])
    assert cli._interrupted(SearchInterrupted("sanas", 2), args) == 130
    assert capsys.readouterr().err.startswith(
        "raynas: pipeline 'p' (its sanas stage) was interrupted with 2 trials unfinished"
    )
    args = cli.parser().parse_args(["search", "random", "--name", "plain", "--storage-path", str(tmp_path)])
    assert cli._interrupted(SearchInterrupted("plain", 1), args, cli.settings_from_args(args)) == 130
    assert capsys.readouterr().err.startswith("raynas: search 'plain' was interrupted with 1 trial unfinished")
