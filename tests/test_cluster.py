"""Cluster operations on one machine: fake GPUs, several nodes, killed drivers, dying workers, bad input."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import kill_cli_when, run_search

from raynas import spaces
from raynas.devices import pick_device

pytestmark = pytest.mark.slow


def read_results(folder: Path) -> pd.DataFrame:
    """The complete rows of results.csv (a search still running may be in the middle of appending one)."""
    text = (folder / "results.csv").read_text()
    return pd.read_csv(io.StringIO(text[: text.rfind("\n") + 1]), dtype={"trial_id": str, "gpu_ids": str})


# -- devices -------------------------------------------------------------------------------------------------
def test_device_follows_the_gpu_ray_assigned():
    assert pick_device(["1"], cuda_available=True, visible_devices="1") == "cuda:0"
    assert pick_device(["2"], cuda_available=True, visible_devices="0,2") == "cuda:1"
    assert pick_device([3], cuda_available=True, visible_devices="") == "cuda:3"
    assert pick_device(["1"], cuda_available=False, visible_devices="1") == "cpu"
    assert pick_device([], cuda_available=True) == "cpu"


def test_fake_gpus_half_a_gpu_per_trial_runs_four_at_once(ray_session, tmp_path):
    from trial_functions import wait_for_peers

    outcome = run_search(
        tmp_path,
        searcher="random",
        num_samples=4,
        concurrency=4,
        gpus_per_trial=0.5,
        cpus_per_trial=1,
        function=wait_for_peers,
    )
    rows = outcome.results
    assert len(rows) == 4 and (rows.status == "TERMINATED").all(), rows.error.tolist()
    # four trials were running at the same time (each waited for the other three), two on each fake GPU
    assert sorted(rows.gpu_ids.astype(str)) == ["0", "0", "1", "1"]
    assert (rows.device == "cpu").all()  # no CUDA here: the assigned GPU id is recorded, the device falls back


def test_retrain_on_a_fake_gpu_records_its_gpu_and_trains_on_cpu(ray_session, tmp_path):
    outcome = run_search(tmp_path, searcher="random", num_samples=2, concurrency=2, gpus_per_trial=0.5, epochs=1)
    rows = outcome.results
    assert (rows.status == "TERMINATED").all() and rows.gpu_ids.notna().all()
    assert (rows.device == "cpu").all() and outcome.best["test_acc"] > 0


def test_a_trial_no_node_of_a_cluster_can_hold_is_warned_about(ray_session, capsys):
    from raynas.tune.cluster import warn_if_no_node_fits

    warn_if_no_node_fits("head:6379", {"CPU": 1, "GPU": 2}, "a trial")  # the session's node has 4 CPUs, 2 GPUs
    assert capsys.readouterr().out == ""
    warn_if_no_node_fits("head:6379", {"CPU": 1, "GPU": 3}, "a trial (--cpus-per-trial, --gpus-per-trial)")
    assert capsys.readouterr().out.startswith(
        "[raynas] warning: no node of the cluster at head:6379 has 1 CPU and "
        "3 GPU for a trial (--cpus-per-trial, --gpus-per-trial); the trials "
        "wait until a node that has them joins"
    )


@pytest.mark.parametrize(
    "env, token_file, mode",
    [
        ({}, "abc123", "token"),  # ray get-auth-token --generate made one
        ({"RAY_AUTH_TOKEN": "abc123"}, None, "token"),
        ({}, None, None),  # no token: nothing to send
        ({}, "", None),  # an empty file is no token
        ({"RAY_AUTH_MODE": "disabled"}, "abc123", "disabled"),  # the user's choice is kept
    ],
)
def test_a_cluster_gets_this_machines_token_when_there_is_one(monkeypatch, tmp_path, env, token_file, mode):
    from raynas.tune.cluster import use_token_auth

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if token_file is not None:
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text(token_file)
    use_token_auth()
    assert os.environ.get("RAY_AUTH_MODE") == mode


# -- dying workers -------------------------------------------------------------------------------------------
def test_trial_whose_worker_dies_is_retried_from_its_checkpoint(ray_session, tmp_path):
    from trial_functions import dies_once_after_first_epoch

    outcome = run_search(
        tmp_path,
        searcher="random",
        num_samples=2,
        concurrency=2,
        epochs=3,
        max_failures=2,
        function=dies_once_after_first_epoch,
    )
    rows = outcome.results
    assert (rows.status == "TERMINATED").all() and (rows.epochs == 3).all(), rows.error.tolist()
    assert len(list((tmp_path / "s-markers").iterdir())) == 2  # each trial's worker really died once
    for progress in (tmp_path / "s").glob("*/progress.csv"):
        # epoch 1 was reported once, before the death; the restarted worker went on with epochs 2 and 3
        assert list(pd.read_csv(progress).epoch) == [1, 2, 3]


def test_trial_that_always_fails_does_not_stop_the_others(ray_session, tmp_path):
    from trial_functions import fails_for_first_architecture

    outcome = run_search(
        tmp_path,
        searcher="sanas",
        num_samples=4,
        concurrency=2,
        epochs=1,
        max_failures=1,
        warm_start=0,
        function=fails_for_first_architecture,
    )
    rows = outcome.results
    assert len(rows) == 4
    failed = rows[rows.status == "ERROR"]
    assert len(failed) == 1 and "this architecture always fails" in failed.error.iloc[0]
    assert (rows.status == "TERMINATED").sum() == 3 and outcome.best is not None


def test_a_trial_function_that_reports_only_a_reward_gets_exact_params(ray_session, tmp_path):
    from trial_functions import reports_only_a_reward

    outcome = run_search(tmp_path, searcher="random", num_samples=3, max_params=30_000, function=reports_only_a_reward)
    space = spaces.get("small_channel")
    rows = outcome.results
    assert len(rows) == 3 and [space.num_params(json.loads(t)) for t in rows.tokens] == rows.params.tolist()
    assert outcome.best["params"] == space.num_params(outcome.best["tokens"]) and outcome.best["val_acc"] is None
    # the search needs its function to continue: resuming without it (as `raynas resume` does) says so
    from raynas.runs.search import resume

    with pytest.raises(
        ValueError, match="ran your trial function trial_functions:reports_only_a_reward; resume it from Python"
    ):
        resume(str(tmp_path), "s")
    assert len(resume(str(tmp_path), "s", function=reports_only_a_reward).results) == 3


def test_a_trial_function_that_reports_no_reward_is_one_clear_error(ray_session, tmp_path):
    from trial_functions import reports_no_reward

    with pytest.raises(
        ValueError,
        match=r"a trial reported a result without 'reward'; the trial function must "
        r"report it, e\.g\. ray\.tune\.report\(",
    ):
        run_search(tmp_path, searcher="random", num_samples=2, max_params=30_000, function=reports_no_reward)


# -- a killed driver -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def killed_search(ray_session, tmp_path_factory) -> Path:
    """A search of 8 trials whose driver was SIGKILLed after 3 had finished (read while it ran): a copy of its
    folder as the kill left it, to put back where it ran (``<its parent>/killed``) or elsewhere."""
    from raynas import analysis

    root = tmp_path_factory.mktemp("killed")

    def load_while_running() -> None:
        running = analysis.load(str(root), "killed")  # while the driver runs: its finished rows
        assert len(running) >= 3 and (running.status == "TERMINATED").all()
        assert running.trial_index.tolist() == list(range(len(running)))  # one at a time: proposed = finished
        assert running.conv1_width.notna().all() and running.reward.notna().all()
        summary = analysis.analyze(str(root), ["killed"], out=str(root / "analysis"))
        done, recorded = map(int, summary.loc[0, "trials"].split("/"))  # a trial may have finished since
        assert summary.loc[0, "asked"] == 8 and len(running) <= done == recorded < 8

    address = ray_session.get_runtime_context().gcs_address
    kill_search_after_rows(
        [
            "--address",
            address,
            "--max-params",
            "38k",
            "--num-samples",
            "8",
            "--epochs",
            "2",
            "--concurrency",
            "1",
            "--storage-path",
            str(root),
            "--name",
            "killed",
        ],
        root / "killed",
        rows=3,
        before_kill=load_while_running,
    )
    return Path(shutil.copytree(root / "killed", root / "as-killed"))


@pytest.mark.parametrize(
    "case",
    ["intact", "experiment_state-", "searcher-state-", "moved", "resources"],
    ids=["intact", "experiment-state-cut-short", "searcher-state-cut-short", "moved", "other-resources"],
)
def test_killed_search_resumes_without_losing_or_repeating_work(killed_search, tmp_path, case, capsys):
    from raynas.runs.search import resume
    from raynas.tune.experiment import running_trials

    ran_in = killed_search.parent / "killed"  # where it ran, as the kill left it
    shutil.rmtree(ran_in, ignore_errors=True)
    shutil.copytree(killed_search, ran_in)
    # a copy under another name, in another folder: Tune's records name the folder it ran in
    storage_path, name = (tmp_path, "moved") if case == "moved" else (killed_search.parent, "killed")
    folder = storage_path / name
    if case == "moved":
        shutil.copytree(killed_search, folder)
    before = read_results(folder)
    assert 3 <= len(before) < 8
    state_before = searcher_state(folder)
    for _, tokens, index in running_trials(str(storage_path), name):  # Tune's record, read as a restore does
        assert len(tokens) == 4 and isinstance(index, int)
    if case.endswith("-"):  # the driver died while Tune wrote or copied its record (neither is atomic)
        record = max(folder.glob(f"{case}*"))
        record.write_text(record.read_text()[:100] if case == "experiment_state-" else "")

    outcome = resume(str(storage_path), name, gpus_per_trial=1 if case == "resources" else None)
    out = capsys.readouterr().out
    assert ("the trials' resources changed (gpus_per_trial 0 -> 1); continuing from results.csv" in out) == (
        case == "resources"
    )
    assert (
        "is damaged or missing (its driver died while writing it); continuing from results.csv and the "
        "searcher's saved state" in out
    ) == case.endswith("-")
    assert (f"search 'moved' was started in {ran_in} and is now in {folder}; continuing from results.csv" in out) == (
        case == "moved"
    )

    after = read_results(folder)
    assert len(after) == 8 and (after.status == "TERMINATED").all()
    assert after.trial_id.is_unique and after.trial_index.tolist() == list(range(8))  # none lost, none twice
    assert after.tokens.nunique() == 8  # no architecture trained twice, none restarted from scratch
    kept = after.set_index("trial_id").loc[before.trial_id]
    pd.testing.assert_frame_equal(kept.reset_index()[before.columns], before, check_dtype=False)
    state_after = searcher_state(folder)
    assert state_after["issued"] == 8 and len(state_after["evaluated"]) == 8
    evaluated_before = {tuple(t) for t, _ in state_before["evaluated"]}
    assert evaluated_before <= {tuple(t) for t, _ in state_after["evaluated"]}
    # SA went on from its own state: the same start, more steps, a lower temperature
    assert state_after["own"]["start_tokens"] == state_before["own"]["start_tokens"]
    assert state_after["own"]["step"] > state_before["own"]["step"]
    assert state_after["own"]["temperature"] < state_before["own"]["temperature"]
    assert outcome.best["tokens"] == json.loads(after.loc[after.reward.astype(float).idxmax(), "tokens"])
    new_rows = after[~after.trial_id.isin(before.trial_id)]
    assert new_rows.gpu_ids.notna().all() == (case == "resources")  # the GPU asked for
    assert json.loads((folder / "raynas_search.json").read_text())["gpus_per_trial"] == (case == "resources")
    if case == "moved":  # nothing went back to where it ran
        assert sorted(p.name for p in ran_in.iterdir()) == sorted(p.name for p in killed_search.iterdir())
        assert read_results(ran_in).equals(before)


def wide_table(path: Path) -> Path:
    """A benchmark table of 729 architectures (6 positions of 3 choices) whose accuracy grows with the digits."""
    rows = {
        "".join(map(str, digits)): {"mean": 50 + sum(digits), "params": 1000 * sum(digits), "flops": 1}
        for digits in itertools.product(range(1, 4), repeat=6)
    }
    path.write_text(json.dumps(rows))
    return path


def test_killed_replay_resumes_the_trials_finished_after_tunes_last_snapshot(ray_session, tmp_path):
    """Trials without checkpoints (a table replay) do not make Tune snapshot the experiment: it does so every
    10 s at most, so a killed replay has finished many trials that the snapshot does not know. The restored
    searcher catches up with them from results.csv instead of proposing them again."""
    from raynas.runs.search import resume

    address = ray_session.get_runtime_context().gcs_address
    folder = tmp_path / "replay"
    kill_cli_when(
        [
            "search",
            "random",
            "--address",
            address,
            "--space",
            "tabular",
            "--table",
            str(wide_table(tmp_path / "table.json")),
            "--num-samples",
            "300",
            "--concurrency",
            "1",
            "--storage-path",
            str(tmp_path),
            "--name",
            "replay",
        ],
        lambda: (folder / "results.csv").exists() and len(read_results(folder)) >= 40,
    )
    before = read_results(folder)
    assert searcher_state(folder)["issued"] < len(before)  # the snapshot is older than the rows

    after = resume(str(tmp_path), "replay").results
    assert len(after) == 300 and after.trial_id.is_unique and after.tokens.nunique() == 300
    assert sorted(after.trial_index.astype(int)) == list(range(300))
    assert set(before.trial_id) <= set(after.trial_id)
    assert searcher_state(folder)["issued"] == 300


def test_a_space_changed_since_the_search_started_is_one_error_on_resume_and_analyze(ray_session, tmp_path, capsys):
    from conftest import write_table

    from raynas import analysis
    from raynas.runs.search import resume

    table = write_table(tmp_path / "table.json")  # 3 positions of 3 choices
    run_search(tmp_path, name="t", searcher="random", space="tabular", space_kwargs={"path": str(table)}, num_samples=3)
    assert len(analysis.load(str(tmp_path), "t")) == 3
    write_table(table, choices=2)  # the table edited in place: token 2 is no longer an architecture
    message = re.escape(
        "space 'tabular' changed since search 't' started (choices of 'position_0' [1, 2, 3] -> [1, 2])"
    )
    for call in (lambda: resume(str(tmp_path), "t"), lambda: analysis.load(str(tmp_path), "t")):
        with pytest.raises(ValueError, match=message):
            call()
    # the same architectures with one accuracy edited: not resumed, but its results are still analysed as recorded
    rows = json.loads(write_table(table).read_text())
    rows["111"]["mean"] = 99.5
    table.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"\(its rows' accuracies or parameter counts differ\), so the results"):
        resume(str(tmp_path), "t")
    capsys.readouterr()
    assert len(analysis.load(str(tmp_path), "t")) == 3
    assert f"note: the table {table} changed since search 't' started" in capsys.readouterr().out
    table.unlink()  # gone: put it back, whatever the flags of a new search say
    for call in (lambda: resume(str(tmp_path), "t"), lambda: analysis.load(str(tmp_path), "t")):
        with pytest.raises(
            ValueError,
            match=f"^search 't' replayed the benchmark table {re.escape(str(table))}, "
            "which is not there any more; put the table back there",
        ):
            call()
    write_table(table)
    (tmp_path / "t" / "raynas_space.json").write_text("")  # a damaged record names itself
    with pytest.raises(ValueError, match=r"t/raynas_space.json is damaged \(not the record of a space\); restore"):
        analysis.load(str(tmp_path), "t")


def kill_search_after_rows(
    flags: list[str], folder: Path, rows: int, before_kill: Callable[[], None] | None = None
) -> None:
    """Start ``raynas search sanas FLAGS`` and SIGKILL its driver once results.csv holds ``rows`` rows
    (after calling ``before_kill``, while the driver still runs)."""
    kill_cli_when(
        ["search", "sanas", *flags],
        lambda: (folder / "results.csv").exists() and len(read_results(folder)) >= rows,
        before_kill,
    )


def searcher_state(folder: Path) -> dict:
    newest = max(folder.glob("searcher-state-*.pkl"))  # Tune's name, one per session; raynas's JSON inside
    return json.loads(newest.read_text())


# -- several nodes -------------------------------------------------------------------------------------------
MULTI_NODE = textwrap.dedent("""
    import sys
    import ray
    from ray.cluster_utils import Cluster
    from raynas import cli

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        code = cli.main(["search", "random", "--address", cluster.address, "--max-params", "38k",
                         "--num-samples", "6", "--epochs", "1", "--concurrency", "3", "--cpus-per-trial", "1",
                         "--storage-path", sys.argv[1], "--name", "nodes"])
    finally:
        ray.shutdown()
        cluster.shutdown()
    sys.exit(code)
""")


def test_three_node_cluster_spreads_trials_and_stores_everything_in_one_place(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", MULTI_NODE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_results(tmp_path / "nodes")
    assert len(rows) == 6 and (rows.status == "TERMINATED").all()
    assert rows.node_id.nunique() > 1
    best = json.loads((tmp_path / "nodes" / "best_arch.json").read_text())
    assert best["trial_id"] in set(rows.trial_id)
    # every trial's checkpoint reached the shared storage folder, whichever node trained it
    assert len(list((tmp_path / "nodes").glob("*/checkpoint_*/state.pt"))) == 6


# -- storage given as a URI ----------------------------------------------------------------------------------
def test_a_budget_with_fewer_architectures_than_num_samples_says_so(ray_session, tmp_path, capsys):
    from conftest import write_table

    from raynas.spaces.sampling import count_feasible
    from raynas.spaces.tabular import TabularSpace

    table = write_table(tmp_path / "table.json")  # 27 architectures, params grow with every digit
    available = count_feasible(TabularSpace(str(table)), max_params=9_000)
    assert 1 < available < 10
    outcome = run_search(
        tmp_path, searcher="sanas", space="tabular", space_kwargs={"path": str(table)}, num_samples=10, max_params=9_000
    )
    assert len(outcome.results) == available and outcome.results.tokens.nunique() == available  # all of them
    out = capsys.readouterr().out
    assert (
        f"only {available} architectures of space 'tabular' are inside the budget (widen it for more): the "
        f"search ends after {available} trials, not num_samples 10"
    ) in out
    assert f"({available}/{available} done)" in out and "/10 " not in out  # progress counts to the end it will reach


def test_a_space_too_large_to_count_says_when_the_budget_ran_out_of_architectures(ray_session, tmp_path, capsys):
    from trial_functions import reports_only_a_reward

    from raynas.spaces.sampling import MAX_ATTEMPTS, count_feasible

    space = spaces.get("mobile")  # 74,088 architectures: not counted before the search
    budget = space.params_range()[0] + 200  # one architecture fits
    assert count_feasible(space, max_params=budget) is None
    outcome = run_search(
        tmp_path,
        searcher="random",
        space="mobile",
        num_samples=3,
        max_params=budget,
        concurrency=1,
        function=reports_only_a_reward,
    )
    assert len(outcome.results) == 1 and outcome.best is not None
    assert (
        f"the searcher found no other architecture of space 'mobile' within the budget (max_params {budget}) "
        f"in {MAX_ATTEMPTS} draws: the search ended after 1 trial, not num_samples 3; widen the budget"
    ) in capsys.readouterr().out


def test_storage_uri_holds_every_output_and_resumes(ray_session, tmp_path):
    from conftest import write_table

    from raynas.runs.search import resume

    uri = f"file://{tmp_path}/store"
    table = write_table(tmp_path / "table.json")
    outcome = run_search(
        tmp_path, searcher="sanas", space="tabular", space_kwargs={"path": str(table)}, num_samples=5, storage_path=uri
    )
    folder = tmp_path / "store" / "s"
    assert {"results.csv", "best_arch.json", "raynas_search.json"} <= {p.name for p in folder.iterdir()}
    assert list(folder.glob("searcher-state-*.pkl"))
    first = read_results(folder)
    assert len(first) == 5
    again = resume(uri, "s")  # a finished search resumes to the same results
    assert again.best == outcome.best
    pd.testing.assert_frame_equal(read_results(folder), first)


def test_tunes_warnings_that_raynas_replaces_are_dropped(ray_session):
    import logging

    from raynas.tune import cluster

    cluster.start(None)  # Ray runs already: only the filters are installed

    def passes(logger_name: str, message: str) -> bool:
        logger = logging.getLogger(logger_name)
        return logger.filter(logger.makeRecord(logger_name, logging.WARNING, __file__, 1, message, None, None))

    metrics = "ray.tune.analysis.experiment_analysis"
    assert not passes(
        metrics,
        "Failed to fetch metrics for 2 trial(s):\n- t: FileNotFoundError('Could not fetch "
        "metrics for t: both result.json and progress.csv were not found')",
    )
    assert passes(metrics, "any other warning")
    # on Ctrl-C raynas prints its own `raynas resume` line, which restores the searcher and results.csv too
    assert not passes(
        "ray.tune.tune",
        "Experiment has been interrupted, but the most recent state was saved.\n"
        "Resume experiment with: Tuner.restore(path='runs/s', trainable=...)",
    )
    assert passes("ray.tune.tune", "any other warning")


def test_workers_look_for_a_user_space_where_the_driver_imported_it(tmp_path, monkeypatch):
    from raynas.tune import cluster

    (tmp_path / "notebook_pkg").mkdir()
    (tmp_path / "notebook_pkg" / "__init__.py").write_text("")
    (tmp_path / "notebook_pkg" / "nets.py").write_text("def net(in_channels=1, num_classes=10): ...\n")
    (tmp_path / "flat_spaces.py").write_text("def net(in_channels=1, num_classes=10): ...\n")
    monkeypatch.syspath_prepend(str(tmp_path / "elsewhere"))
    monkeypatch.syspath_prepend(str(tmp_path))  # as a notebook does: on the driver's path only
    monkeypatch.delenv("PYTHONPATH", raising=False)
    for folder in (tmp_path, tmp_path / "elsewhere"):  # a namespace package (no __init__.py) in two folders
        (folder / "ns_pkg" / "sub").mkdir(parents=True)
    (tmp_path / "ns_pkg" / "sub" / "nets.py").write_text("def net(in_channels=1, num_classes=10): ...\n")
    for space in ("notebook_pkg.nets:net", "flat_spaces:net", "ns_pkg.sub.nets:net"):
        folders = cluster.user_code_env(space)["env_vars"]["PYTHONPATH"].split(os.pathsep)
        assert folders[0] == str(tmp_path) and os.getcwd() in folders
    assert str(tmp_path / "elsewhere") in cluster.user_code_env("ns_pkg.sub.nets:net")["env_vars"]["PYTHONPATH"]
    assert cluster.user_code_env("mobile") is None  # a built-in space is found through raynas itself
