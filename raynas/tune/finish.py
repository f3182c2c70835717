"""Fit a Tune experiment and finish it: results.csv in the searcher's order, ``best_arch.json``, a summary."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow.fs
import ray
from ray import tune
from ray.tune.error import TuneError

from raynas import storage
from raynas.checkpoints import from_checkpoint
from raynas.log import logger
from raynas.results import (
    SEARCH_COLUMNS,
    Outcome,
    ResultsLog,
    batch_rows,
    best_first,
    result_trial_id,
    results_rows,
)
from raynas.searchers.base import MAX_ATTEMPTS
from raynas.settings import SearchSettings, named
from raynas.spaces import sampling
from raynas.spaces.base import SearchSpace
from raynas.spaces.tabular import TabularSpace
from raynas.trainables.model_file import MODEL_FILE, model_record, write_model
from raynas.tune.build import full_epochs, plural, trial_settings
from raynas.tune.experiment import check_ended, ended
from raynas.tune.progress import fmt

BEST_FILE = "best_arch.json"


def run_config(settings: Any, callbacks: list) -> tune.RunConfig:
    """Tune's run config of any kind of run: ``settings`` has ``name``, ``storage_path`` and ``max_failures``;
    only the newest checkpoint of a trial is kept."""
    return tune.RunConfig(
        name=settings.name,
        storage_path=storage.normalize(settings.storage_path),
        verbose=0,
        callbacks=callbacks,
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def trial_dirname(trial: Any) -> str:
    """A token search's or retrain's trial folder, ``trial_<trial id>_index=<trial_index>`` (Tune's own name would
    start with the trial function's, ``retrain_``); the id stays second, where older folders have it.

    Example:
        >>> from types import SimpleNamespace
        >>> trial_dirname(SimpleNamespace(trial_id="2d7980a1", config={"trial_index": 3}))
        'trial_2d7980a1_index=3'
    """
    return f"trial_{trial.trial_id}_index={(trial.config or {}).get('trial_index', '-')}"


def fit(tuner: tune.Tuner) -> tune.ResultGrid:
    """``tuner.fit()``; a trial function's result without ``reward`` is one clear error instead of Tune's."""
    try:
        return tuner.fit()
    except TuneError as exc:
        if "did not include the specified metric" not in str(exc):
            raise
        raise ValueError(
            "a trial reported a result without 'reward'; the trial function must report it, e.g. "
            "ray.tune.report({'reward': val_acc, 'val_acc': val_acc})"
        ) from None


def finish(settings: SearchSettings, space: SearchSpace, grid: tune.ResultGrid) -> Outcome:
    """Write results.csv and best_arch.json for a fitted grid and print a summary."""
    log = ResultsLog(settings.storage_path, settings.name, SEARCH_COLUMNS)
    # a trial that finished right before a crash has no row yet
    finished = ended(grid, settings.storage_path, settings.name)
    log.append(results_rows(grid, finished, full_epochs(settings), space.num_params))
    log.append(batches_rows(settings, grid, finished, space.num_params))
    results_path, text = log.sort()
    check_ended(finished, settings.name)
    frame = pd.read_csv(io.StringIO(text), dtype={"trial_id": str, "gpu_ids": str})
    if (
        len(frame) < settings.num_samples
        and sampling.count_feasible(space, settings.max_params, settings.min_params) is None
    ):  # else said at the start
        flag = named("num_subnets" if settings.supernet_checkpoint else "num_samples")
        logger.info(
            f"the searcher found no other architecture of space {space.name!r} within the budget "
            f"({sampling.budget_flags(settings.max_params, settings.min_params)}) in {MAX_ATTEMPTS} draws: the "
            f"search ended after {plural(len(frame), 'trial')}, not {flag} {settings.num_samples}; widen the "
            "budget to search further"
        )
    done = frame[(frame.status == "TERMINATED") & frame.reward.notna() & ~frame.stopped.eq(True)]
    if done.empty:
        logger.warning(f"no trial finished; see {results_path}")
        return Outcome(frame, None, results_path, None, grid)
    row = best_first(done).iloc[0]  # the same tie rule as raynas analyze
    results = (grid[i] for i in range(len(grid)))  # a ResultGrid is indexed, not iterable to type checkers
    result = next((r for r in results if (r.metrics or {}).get("trial_id") == row.trial_id), None)
    tokens = json.loads(row.tokens)
    checkpoint = trial_checkpoint(settings, result, row.trial_id)
    best = best_arch(settings, space, row, _test_accuracy(settings, space, tokens, checkpoint))
    best_path = storage.write_text(settings.storage_path, f"{settings.name}/{BEST_FILE}", json.dumps(best, indent=2))
    model_path = write_best_model(settings, space, tokens, checkpoint)
    logger.info(
        f"{len(done)} of {len(frame)} trials finished; best architecture {tokens}\n"
        f"  {json.dumps(best['arch'], ensure_ascii=False)}\n"
        f"  params {best['params']:,}  reward {best['reward']:.4f}  "
        f"val acc {fmt(best['val_acc'])}  test acc {fmt(best['test_acc'])}\n"
        f"wrote {results_path} and {best_path}" + (f"\nits trained network: {model_path}" if model_path else "")
    )
    return Outcome(frame, best, results_path, best_path, grid, model_path)


def batches_rows(
    settings: SearchSettings, grid: tune.ResultGrid, finished: list[dict | None], params_of: Callable[[list[int]], int]
) -> list[dict]:
    """The rows of the trials of several architectures that ended (``finished``: see :func:`ended`): the results
    their newest checkpoints hold, and failed rows for the members a failed trial did not report."""
    rows = []
    for result, config in zip((grid[i] for i in range(len(grid))), finished):
        if config is None or "batch" not in config:
            continue
        trial_id = result_trial_id(result)
        checkpoint = trial_checkpoint(settings, result, trial_id)
        reported = from_checkpoint(checkpoint)["done"] if checkpoint is not None else []
        rows += batch_rows(trial_id, config, reported, result.error, params_of)
    return rows


def write_best_model(
    settings: SearchSettings, space: SearchSpace, tokens: list[int], checkpoint: tune.Checkpoint | None
) -> str | None:
    """Write ``model.pt`` (the trained network, see :mod:`raynas.trainables.model_file`) of the best trial
    from its checkpoint; ``None`` when the trial left no trained model (a table, a subnet score)."""
    if checkpoint is None or isinstance(space, TabularSpace):
        return None
    state = from_checkpoint(checkpoint)
    if "model" not in state:
        return None
    record = model_record(space.name, space.kwargs(), tokens, settings.data, state["model"])
    return write_model(settings.storage_path, f"{settings.name}/{MODEL_FILE}", record)


def best_arch(settings: SearchSettings, space: SearchSpace, row: Any, test_acc: float | None) -> dict[str, Any]:
    """The ``best_arch.json`` record of one results row (its ``tokens`` a JSON list or a list)."""
    tokens = json.loads(row.tokens) if isinstance(row.tokens, str) else list(row.tokens)
    return {
        "space": space.name,
        "space_kwargs": space.kwargs(),
        "tokens": tokens,
        "arch": space.to_arch(tokens),
        "params": int(row.params),
        "reward": float(row.reward),
        "val_acc": None if pd.isna(row.val_acc) else float(row.val_acc),
        "test_acc": test_acc,
        "trial_id": row.trial_id,
        "data": None if settings.space == "tabular" else settings.data,
    }  # a table replay trains on nothing


def _test_accuracy(
    settings: SearchSettings, space: SearchSpace, tokens: list[int], checkpoint: tune.Checkpoint | None
) -> float | None:
    """The best architecture's accuracy on the test split (the table's accuracy for a tabular space).

    On a GPU, as a Ray task with the trials' resources. Without one the driver evaluates it itself: a task
    would wait for a new worker process to start and import torch (seconds, when the trials' actors have
    taken the CPUs), which is longer than the evaluation.
    """
    if isinstance(space, TabularSpace):
        return space.accuracy(tokens)
    if checkpoint is None:
        return None
    from raynas.trainables.retrain import test_accuracy

    if not settings.gpus_per_trial:
        return test_accuracy(checkpoint, trial_settings(settings, space))
    task = ray.remote(test_accuracy).options(num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial)
    return ray.get(task.remote(checkpoint, trial_settings(settings, space)))


def trial_checkpoint(settings: SearchSettings, result: tune.Result | None, trial_id: str) -> tune.Checkpoint | None:
    """The newest stored checkpoint of trial ``trial_id`` (whose Tune result is ``result``, if Tune has it).

    A trial that finished after Tune's last experiment snapshot and before a driver crash is restored with the
    checkpoint the snapshot named, which keeping only the newest checkpoint has since deleted; a trial of an
    experiment whose record was lost has no result at all. Its newest checkpoint on storage is the one of its
    finished run.
    """
    if result is not None and result.checkpoint is not None:
        stored = result.checkpoint
        if stored.filesystem.get_file_info(stored.path).type != pyarrow.fs.FileType.NotFound:
            return stored
    # trial folders are named trial_<trial id>_index=<i> (see trial_dirname), earlier ones <trainable>_<trial id>_...
    folder = next((n for n in storage.list_names(settings.storage_path, settings.name) if f"_{trial_id}_" in n), None)
    if folder is None:
        return None
    relpath = storage.newest_checkpoint(settings.storage_path, f"{settings.name}/{folder}")
    if relpath is None:
        return None
    fs, path = storage.locate(settings.storage_path, relpath)
    return tune.Checkpoint(path, filesystem=fs)
