"""``results.csv``: one row per finished trial, appended as trials finish and never read back per trial, and
the rows themselves, made from Tune's trials and results.

Rows are appended in the order trials finish; :meth:`ResultsLog.sort` rewrites the file once, at the end of a
search, in the order the searcher proposed the trials (``trial_index``). Opening a log reads the file once:
it drops a partial last line (a driver killed mid-write) and remembers the trial ids already written, so a
trial re-run after a crash is not written twice. :func:`parse` reads complete lines only, so the file of a
search that is still running reads as its finished rows.

Example:
    >>> parse("trial_index,trial_id\\n0,a\\n1,b\\n2,").trial_id.tolist()
    ['a', 'b']
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raynas import storage

if TYPE_CHECKING:
    from ray import tune

RESULTS_FILE = "results.csv"
#: results.csv of a token search (one column per choice label is added by raynas.analysis)
SEARCH_COLUMNS = [
    "trial_index",
    "trial_id",
    "status",
    "tokens",
    "params",
    "reward",
    "val_acc",
    "epochs",
    "wall_time_s",
    "node_ip",
    "node_id",
    "gpu_ids",
    "device",
    "error",
    "stopped",
]
#: results.csv of a DARTS search
DARTS_COLUMNS = [
    "seed",
    "trial_id",
    "status",
    "val_acc",
    "train_acc",
    "epochs",
    "wall_time_s",
    "genotype",
    "skip_connects_normal",
    "arch",
    "params",
    "error",
]
#: the names a choice label cannot take: its column sits beside these in the tables of raynas.analysis
RESERVED_LABELS = tuple(dict.fromkeys([*SEARCH_COLUMNS, *DARTS_COLUMNS, "search", "retrained_reward"]))


def best_first(done: pd.DataFrame, key: str = "reward") -> pd.DataFrame:
    """Finished trials best first: highest ``key``, then fewer params, then the earliest ``trial_index``.

    Example:
        >>> done = pd.DataFrame({"trial_index": [0, 1, 2], "reward": [0.9, 0.9, 0.8], "params": [900, 800, 10]})
        >>> best_first(done).trial_index.tolist()
        [1, 0, 2]
    """
    return done.sort_values([key, "params", "trial_index"], ascending=[False, True, True], na_position="last")


def parse(text: str) -> pd.DataFrame:
    """The complete lines of a results file as strings (a partial last line is ignored)."""
    complete = text[: text.rfind("\n") + 1]
    if not complete.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(complete), dtype=str, keep_default_na=False)


def read(storage_path: str, name: str) -> str | None:
    """The text of the results file of search ``name``, or ``None`` if there is none."""
    return storage.read_text(storage_path, f"{name}/{RESULTS_FILE}")


class ResultsLog:
    """Appends rows (dicts keyed by ``columns``) to a search's results file, each trial id once."""

    def __init__(self, storage_path: str, name: str, columns: Sequence[str]):
        self.storage_path, self.relpath, self.columns = storage_path, f"{name}/{RESULTS_FILE}", list(columns)
        self.rows = self._open()
        self.written: set[str] = set(self.rows.trial_id)

    def _open(self) -> pd.DataFrame:
        """The rows already written; repairs the file once if it ends mid-line, repeats a trial or lacks columns."""
        text = storage.read_text(self.storage_path, self.relpath)
        frame = parse(text or "")
        if frame.empty and not len(frame.columns):
            frame = pd.DataFrame(columns=self.columns)
        unique = frame.drop_duplicates("trial_id", keep="first")
        if text is None or not text.endswith("\n") or len(unique) < len(frame) or list(frame.columns) != self.columns:
            unique = unique.reindex(columns=self.columns, fill_value="")
            storage.write_text(self.storage_path, self.relpath, unique.to_csv(index=False))
        return unique

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Append the rows of trials not written yet; returns how many were appended."""
        new = [row for row in rows if row["trial_id"] not in self.written]
        if not new:
            return 0
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in new:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in self.columns])
            self.written.add(row["trial_id"])
        storage.append_text(self.storage_path, self.relpath, buffer.getvalue())
        return len(new)

    def sort(self) -> tuple[str, str]:
        """Rewrite the file in ``trial_index`` order (once, at the end of a search); its path and text."""
        text = storage.read_text(self.storage_path, self.relpath) or ""
        frame = parse(text).reindex(columns=self.columns, fill_value="")
        order = pd.to_numeric(frame.trial_index, errors="coerce").to_numpy(dtype=float)
        text = frame.iloc[np.argsort(order, kind="stable")].to_csv(index=False)  # blanks (NaN) last
        return storage.write_text(self.storage_path, self.relpath, text), text


def members(trial_id: str, config: dict) -> list[tuple[str, dict]]:
    """The architectures a trial evaluates, each with the id of its results row: the trial itself, or for a trial
    of several (config ``{"batch": [{"tokens": ..., "trial_index": i}, ...]}``) ``<trial id>-<j>`` per member.

    Example:
        >>> members("a1", {"batch": [{"tokens": [0]}, {"tokens": [1]}]})
        [('a1-0', {'tokens': [0]}), ('a1-1', {'tokens': [1]})]
        >>> members("a1", {"tokens": [0]})
        [('a1', {'tokens': [0]})]
    """
    if "batch" in config:
        return [(member_id(trial_id, j), c) for j, c in enumerate(config["batch"])]
    return [(trial_id, config)]


def member_id(trial_id: str, place: int) -> str:
    """The results row id of the ``place``-th architecture of a trial of several (see :func:`members`)."""
    return f"{trial_id}-{place}"


def member_trial(row_id: str) -> str:
    """The trial id in a :func:`member_id` (``"a1-3"``: ``"a1"``)."""
    return row_id.rsplit("-", 1)[0]


def batch_rows(
    trial_id: str,
    config: dict,
    reported: Sequence[dict],
    error: str | BaseException | None,
    params_of: Callable[[list[int]], int] | None = None,
) -> list[dict]:
    """The rows of a trial of several architectures: one per member it ``reported`` (a result each, with its
    place in the batch as ``subnet``), and when it failed (``error``), a failed row for each member it did not."""
    done = {int(m["subnet"]): m for m in reported}
    rows = []
    for j, (row_id, member) in enumerate(members(trial_id, config)):
        if j in done:
            rows.append(trial_result(row_id, "TERMINATED", member, done[j], None, None, params_of))
        elif error is not None:
            rows.append(trial_result(row_id, "ERROR", member, None, error, None, params_of))
    return rows


def number(value: Any) -> float | None:
    """``value`` as a float, as results.csv reads it back; ``None`` when it is not a number (a trial function
    may report anything).

    Example:
        >>> number("0.9"), number("high"), number(None)
        (0.9, None, None)
    """
    try:
        return None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def trial_result(
    trial_id: str,
    status: str,
    config: dict,
    metrics: dict | None,
    error: str | BaseException | None,
    epochs: int | None = None,
    params_of: Callable[[list[int]], int] | None = None,
) -> dict:
    """One results.csv row; with ``epochs`` (a scheduler ran), ``stopped`` says the trial was cut early;
    ``params_of(tokens)`` counts the parameters when the trial did not report them."""
    m, tokens = metrics or {}, list(config.get("tokens", []))
    reward = m.get("reward")
    if status == "TERMINATED" and number(reward) is None:  # a trial function's own report: say what is wrong
        status, reward = "ERROR", None
        error = (
            f"the trial reported reward {m['reward']!r}, not a number"
            if "reward" in m
            else "the trial reported no 'reward'"
        ) + "; report a float reward (tune.report({'reward': ...}))"
    params = m.get("params")
    if params is None and tokens and params_of is not None:
        params = params_of(tokens)
    return {
        "trial_index": config.get("trial_index"),
        "trial_id": trial_id,
        "status": status,
        "tokens": json.dumps(tokens),
        "params": params,
        "reward": reward,
        "val_acc": m.get("val_acc"),
        "epochs": m.get("epoch"),
        "wall_time_s": m.get("time_total_s"),
        "node_ip": m.get("node_ip"),
        "node_id": m.get("node_id"),
        "gpu_ids": m.get("gpu_ids"),
        "device": m.get("device"),
        "error": last_line(error) if status == "ERROR" else None,
        "stopped": bool(epochs and status == "TERMINATED" and epochs_trained(m) < epochs),
    }


def epochs_trained(metrics: dict) -> int:
    """Epochs a trial trained: its ``epoch``, else Tune's ``training_iteration``, as the searchers count them."""
    return int(metrics.get("epoch", metrics.get("training_iteration")) or 0)


def trial_row(
    trial, status: str, epochs: int | None = None, params_of: Callable[[list[int]], int] | None = None
) -> dict:
    return trial_result(
        trial.trial_id,
        status,
        trial.config,
        trial.last_result,
        trial_error(trial) if status == "ERROR" else None,
        epochs,
        params_of,
    )


def trial_error(trial) -> str | None:
    """The text of a failed trial's error: Tune writes it to the trial's local folder first, and to storage later."""
    if trial.error_file and os.path.isfile(trial.error_file):
        with open(trial.error_file) as f:
            return f.read()
    return trial.get_error()


def last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "unknown error").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def results_rows(
    grid: tune.ResultGrid,
    finished: list[dict | None],
    epochs: int | None = None,
    params_of: Callable[[list[int]], int] | None = None,
) -> list[dict]:
    """One row per trial of ``grid`` that ended (``finished``: their configs, see :func:`raynas.tune.experiment.ended`),
    with the columns of :data:`SEARCH_COLUMNS` (``epochs``, ``params_of``: see :func:`trial_result`); trials of
    several architectures are left to :func:`batch_rows`."""
    rows = []
    # a ResultGrid iterates by index (it has no __iter__, so mypy takes it for not iterable)
    for result, config in zip((grid[i] for i in range(len(grid))), finished):
        if config is None or "batch" in config:  # a trial of several: its rows come from its checkpoint
            continue
        rows.append(
            trial_result(
                result_trial_id(result),
                "ERROR" if result.error else "TERMINATED",
                config,
                result.metrics,
                result.error,
                epochs,
                params_of,
            )
        )
    return rows


def result_trial_id(result: tune.Result) -> str:
    """The trial id of a Tune result: in its metrics, else in its folder's name (``trial_<trial id>_index=<i>``,
    or by older versions ``<trainable>_<trial id>_...``)."""
    return (result.metrics or {}).get("trial_id") or os.path.basename(result.path).split("_")[1]


@dataclass
class Outcome:
    """What a finished run produced: its results frame, its best architecture, and where both were written."""

    results: pd.DataFrame
    best: dict[str, Any] | None
    results_path: str
    best_path: str | None
    #: Tune's ``ResultGrid`` of the run's last Tune experiment (``None`` when it was not run by this call)
    grid: Any = None
    #: the best architecture's trained network (``model.pt``, see ``raynas.load_model``), when the run trained one
    model_path: str | None = None
