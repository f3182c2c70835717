"""What Tune keeps of a search on storage: which trials ended, its experiment and searcher state, and the repair
of its checkpoints before ``Tuner.restore``.

Tune writes its experiment state in place and keeps only each trial's newest checkpoint, so a driver killed at the
wrong moment leaves a state cut short or naming a checkpoint already deleted; the readers here say so instead of
letting Tune start the search again from nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs
from ray import tune

from raynas import storage
from raynas.results import members
from raynas.searchers.base import Running
from raynas.tune.build import plural

#: the statuses of a trial that will not run again
ENDED = ("TERMINATED", "ERROR")


class SearchInterrupted(RuntimeError):
    """The search stopped before its end (Ctrl-C): the finished trials are written, ``resume`` continues it."""

    def __init__(self, name: str, unfinished: int):
        self.name, self.unfinished = name, unfinished
        super().__init__(self.describe(f"search {name!r}"))

    def describe(self, what: str) -> str:
        """The message, with ``what`` for the interrupted search (a stage of a one-shot search or pipeline: the
        search and its stage)."""
        them = "it from its" if self.unfinished == 1 else "them from their"
        return (
            f"{what} was interrupted with {plural(self.unfinished, 'trial')} unfinished (left out of its "
            f"results; resuming the search continues {them} last checkpoint)"
        )


def ended(grid: tune.ResultGrid, storage_path: str, name: str) -> list[dict | None]:
    """Per result of ``grid`` (the search ``storage_path/name``), its trial's config if the trial ended (finished
    or failed), else ``None``.

    A search interrupted by Ctrl-C returns the trials that were running or waiting as terminated, with a partial
    last result; Tune's experiment state, saved before it stopped them and read by ``resume``, keeps them running.
    A trial whose worker died before it started (killed for memory, say) has no config in its result; the
    experiment state has it.
    """
    saved = saved_trials(storage_path, name)
    again = {t["trial_id"] for t in saved if t["status"] not in ENDED}
    configs = {t["trial_id"]: t["config"] for t in saved}
    out = []
    for result in (grid[i] for i in range(len(grid))):  # a ResultGrid iterates by index: it has no __iter__
        trial_id = (result.metrics or {}).get("trial_id")
        done = result.error is not None or trial_id not in (None, *again)
        out.append(result.config or configs.get(trial_id) or {} if done else None)
    return out


def check_ended(finished: list[dict | None], name: str) -> None:
    """Raise :class:`SearchInterrupted` when trials of search ``name`` have not ended (``finished``: :func:`ended`)."""
    if None in finished:
        raise SearchInterrupted(name, finished.count(None))


def experiment_state_readable(storage_path: str, name: str, names: list[str]) -> bool:
    """Whether Tune's newest experiment state parses: Tune writes it in place, so a driver killed at that moment
    leaves it cut short, and ``Tuner.restore`` would then start the whole search again from nothing."""
    return experiment_state(storage_path, name, names) is not None


def experiment_state(storage_path: str, name: str, names: list[str]) -> dict | None:
    """Tune's newest experiment state (the one ``Tuner.restore`` reads); ``None`` when missing or cut short."""
    states = [n for n in names if n.startswith("experiment_state-") and n.endswith(".json")]
    return read_json(storage_path, f"{name}/{max(states)}") if states else None


def searcher_state_readable(storage_path: str, name: str, names: list[str]) -> bool:
    """Whether the searcher's newest saved state (Tune's searcher-state file, raynas's JSON inside) parses, if
    there is one: a driver killed while Tune copied it to the storage path leaves it cut short, and Tune would
    then continue the experiment without its searcher."""
    states = [n for n in names if n.startswith("searcher-state-")]
    return not states or read_json(storage_path, f"{name}/{max(states)}") is not None


def read_json(storage_path: str, relpath: str) -> Any:
    """The JSON at ``relpath``; ``None`` when it is missing or does not parse."""
    try:
        return json.loads(storage.read_text(storage_path, relpath) or "")
    except json.JSONDecodeError:
        return None


def saved_trials(storage_path: str, name: str) -> list[dict[str, Any]]:
    """The trials of Tune's newest experiment state (none when it is missing or cut short)."""
    state = experiment_state(storage_path, name, storage.list_names(storage_path, name)) or {}
    return [json.loads(data) for data, _ in state.get("trial_data", [])]


def running_trials(storage_path: str, name: str) -> list[Running]:
    """The trials Tune's newest experiment state left unfinished, which ``Tuner.restore`` runs again (a trial of
    several architectures: each of them, see :func:`raynas.results.members`)."""
    return [
        (row_id, member["tokens"], member.get("trial_index"))
        for t in saved_trials(storage_path, name)
        if t["status"] not in ENDED
        for row_id, member in members(t["trial_id"], t["config"])
    ]


def repair_checkpoints(storage_path: str, name: str) -> int:
    """Before ``Tuner.restore``: give an unfinished trial its newest checkpoint on storage, under the name Tune's
    newest experiment state gives its checkpoint.

    The state is written after the checkpoints it names, and only the newest checkpoint of a trial is kept, so a
    driver killed in between leaves the state naming a checkpoint already deleted (Tune would fail the trial) or,
    for a moment, an older one still there. The newest checkpoint, copied under that name, lets the trial go on
    from where it was (the checkpoint holds its own progress); in the second case only a trial of several subnets
    gets it (it would score a subnet again; a training trial repeats its last epoch, and reports it). Returns how
    many trials were repaired.
    """
    names = storage.list_names(storage_path, name)
    state = experiment_state(storage_path, name, names) or {}
    repaired = 0
    for trial_json, metadata in state.get("trial_data", []):
        trial = json.loads(trial_json)
        named = (
            (json.loads(metadata).get("last_result") or {}).get("checkpoint_dir_name")
            if isinstance(metadata, str)
            else None
        )
        # trial_<trial id>_index=<i>, or (older runs) <trainable>_<trial id>_<index>_...
        folder = next((n for n in names if f"_{trial['trial_id']}_" in n), None)
        if trial["status"] in ENDED or not named or folder is None:
            continue
        newest = storage.newest_checkpoint(storage_path, f"{name}/{folder}")
        there = named in storage.list_names(storage_path, f"{name}/{folder}")
        # a trial restored from its final checkpoint would report nothing: only a trial of several subnets, which
        # reports again what its checkpoint holds, is moved on past a checkpoint that is still there
        if newest is None or newest == f"{name}/{folder}/{named}" or (there and "batch" not in trial["config"]):
            continue
        fs, source = storage.locate(storage_path, newest)
        _, target = storage.locate(storage_path, f"{name}/{folder}/{named}")
        fs.create_dir(target, recursive=True)
        pyarrow.fs.copy_files(source, target, source_filesystem=fs, destination_filesystem=fs)
        repaired += 1
    return repaired
