"""Progress of a search as it runs: each finished trial's row appended to results.csv, and lines on the console."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
from ray import tune

from raynas.log import logger
from raynas.results import (
    SEARCH_COLUMNS,
    ResultsLog,
    batch_rows,
    epochs_trained,
    members,
    number,
    trial_error,
    trial_result,
    trial_row,
)
from raynas.settings import SearchSettings
from raynas.spaces.base import SearchSpace
from raynas.spaces.build import space_for
from raynas.tune.build import full_epochs

if TYPE_CHECKING:
    from ray.tune.stopper import Stopper

#: trials that get a progress line each; after them, a summary line every SUMMARY_EVERY_S seconds
PROGRESS_LINES, SUMMARY_EVERY_S = 100, 10.0
#: seconds without an epoch line before a line says which trials are still in their epoch
STILL_TRAINING_S = 30.0


class Progress(tune.Callback):
    """Appends each finished trial's row to results.csv (a trial of several subnets: each subnet's row as it is
    reported), so a killed search loses no row, and prints progress.

    One line per finished trial for the first ``lines`` trials (``trial #3 <id> (7/24 done): ...``: ``#`` the
    trial's place in the searcher's proposals, then the trials finished so far, in any order), then a summary
    line (trials done, running, best so far, trials per minute) every ``every_s`` seconds. Nothing here grows
    with the number of trials.
    """

    #: the trials the search will run when fewer architectures fit than --num-samples (a class attribute: a
    #: callback pickled by an earlier version has none of its own)
    total: int | None = None

    def __init__(
        self,
        settings: SearchSettings,
        lines: int = PROGRESS_LINES,
        every_s: float = SUMMARY_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        total: int | None = None,
    ):
        self.settings, self.lines, self.every_s, self.clock = settings, lines, every_s, clock
        self.total = total
        self.space: SearchSpace | None = None  # built when a trial function reports no params

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "space": None}  # Tune pickles this callback; the space is rebuilt when needed

    @property
    def expected(self) -> int:
        """The trials the search will run: ``num_samples``, or fewer when fewer architectures fit."""
        return self.total or self.settings.num_samples

    def params_of(self, tokens: list[int]) -> int:
        """The exact parameter count of ``tokens``, for a trial function that does not report it."""
        if self.space is None:
            self.space = space_for(self.settings.space, self.settings.space_kwargs, self.settings.data)
        return self.space.num_params(tokens)

    def setup(
        self,
        stop: Stopper | None = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        """Open results.csv; Tune calls this when a search starts and when it resumes (with this object
        unpickled from the experiment's start, so nothing is kept from __init__ but the arguments)."""
        self.log = ResultsLog(self.settings.storage_path, self.settings.name, SEARCH_COLUMNS)
        earlier = self.log.rows
        full = (earlier.status == "TERMINATED") & (earlier.get("stopped", "") != "True")
        rewards = pd.to_numeric(earlier.reward[full], errors="coerce").dropna()
        self.best = float(rewards.max()) if len(rewards) else None
        self.done, self.done_here = len(earlier), 0  # done counts the trials of earlier sessions too
        self.started = self.last_summary = self.clock()
        if self.done:
            logger.info(f"resuming: {self.done}/{self.expected} trials finished before, best={fmt(self.best)}")

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        if "subnet" in result:  # one architecture of a trial of several: a row of its own
            row_id, member = members(trial.trial_id, trial.config)[int(result["subnet"])]
            self._record(trial_result(row_id, "TERMINATED", member, result, None, None, self.params_of), result)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        if "batch" not in (trial.config or {}):  # a trial of several wrote a row per result
            row = trial_row(trial, "TERMINATED", full_epochs(self.settings), self.params_of)
            self._record(row, trial.last_result or {})

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        if "batch" in (trial.config or {}):  # the members it did not report failed with it
            for row in batch_rows(trial.trial_id, trial.config, [], trial_error(trial), self.params_of):
                self._record(row, {})
        else:
            self._record(trial_row(trial, "ERROR", full_epochs(self.settings), self.params_of), trial.last_result or {})

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if self.done > self.lines and self.clock() - self.last_summary >= self.every_s:
            self.summary(trials)

    def _record(self, row: dict[str, Any], result: dict[str, Any]) -> None:
        """Append ``row`` (of a trial, or of one architecture of a trial of several; ``result``: its last result)
        unless it is written already, and print its line."""
        status = row["status"]
        if not self.log.append([row]):
            return  # re-run after a crash: its row is already written
        self.done += 1
        self.done_here += 1
        reward = number(result.get("reward")) if status == "TERMINATED" else None
        # a trial a scheduler stopped early has the reward of fewer epochs: never the best of the search
        if (
            reward is not None
            and math.isfinite(reward)
            and not row["stopped"]
            and (self.best is None or reward > self.best)
        ):
            self.best = reward
        if self.done <= self.lines:
            stopped = f" (stopped after epoch {epochs_trained(result)})" if row["stopped"] else ""
            what = (
                f"tokens={row['tokens']} params={row['params']} reward={fmt(reward)}{stopped}"
                if status == "TERMINATED"
                else f"FAILED: {row['error']}"
            )
            which = trial_name(row["trial_id"], row["trial_index"])
            logger.info(f"{which} ({self.done}/{self.expected} done): {what} best={fmt(self.best)}")
        elif self.done == self.lines + 1:
            logger.info(f"more than {self.lines} trials: a summary line every {self.every_s:g} s from now on")

    def summary(self, trials: list) -> None:
        """Print trials done, running, the best reward so far and trials per minute."""
        now = self.clock()
        running = sum(1 for t in trials if t.status == "RUNNING")
        rate = 60 * self.done_here / max(now - self.started, 1e-9)
        logger.info(
            f"{self.done}/{self.expected} trials done, {running} running, best={fmt(self.best)}, {rate:.1f} trials/min"
        )
        self.last_summary = now


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def trial_name(trial_id: str, index: Any) -> str:
    """A trial on the console: ``#`` its ``trial_index`` (its place in the searcher's proposals) and its id.

    Example:
        >>> trial_name("a1b2", 3), trial_name("a1b2", None)
        ('trial #3 a1b2', 'trial a1b2')
    """
    return f"trial #{index} {trial_id}" if index is not None else f"trial {trial_id}"


class EpochLines(tune.Callback):
    """One console line per epoch a trial reports, for the first ``trials`` trials of a run, so that long epochs
    are not silent: the trial (its ``trial_index`` when it has one), the epoch of ``epochs``, ``metric`` and the
    trial's time so far. The last epoch gets a line only with ``last`` (a token search's trial line follows it).
    When no line came for ``every_s`` seconds (a long first epoch on real data), a line names the trials still in
    their epoch and how long they have been at it.

    Example:
        >>> EpochLines(epochs=3).line("a1b2", 4, {"epoch": 2, "val_acc": 0.91, "time_total_s": 12.3})
        'trial #4 a1b2 epoch 2/3: val_acc 0.9100 (12 s)'
    """

    def __init__(
        self,
        epochs: int,
        metric: str = "val_acc",
        last: bool = False,
        trials: int = PROGRESS_LINES,
        every_s: float = STILL_TRAINING_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.epochs, self.metric, self.last, self.trials = epochs, metric, last, trials
        self.every_s, self.clock = every_s, clock
        self.seen: set[str] = set()
        #: trial id -> (when its current epoch began, that epoch's number)
        self.training: dict[str, tuple[float, int]] = {}
        self.quiet_since = clock()

    def line(self, trial_id: str, index: Any, result: dict[str, Any]) -> str:
        value = number(result.get(self.metric))
        return (
            f"{trial_name(trial_id, index)} epoch {result['epoch']}/{self.epochs}: {self.metric} {fmt(value)} "
            f"({result.get('time_total_s', 0):.0f} s)"
        )

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        epoch = result.get("epoch")
        if not isinstance(epoch, int) or (epoch >= self.epochs and not self.last):
            return
        if trial.trial_id not in self.seen:
            if len(self.seen) >= self.trials:
                return  # many trials: the summary lines say how the run goes
            self.seen.add(trial.trial_id)
        self.training[trial.trial_id] = (self.clock(), epoch + 1)
        self.quiet_since = self.clock()
        logger.info(self.line(trial.trial_id, (trial.config or {}).get("trial_index"), result))

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        if len(self.seen) < self.trials or trial.trial_id in self.seen:
            self.training.setdefault(trial.trial_id, (self.clock(), 1))

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self.training.pop(trial.trial_id, None)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self.training.pop(trial.trial_id, None)

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        now = self.clock()
        if not self.training or now - self.quiet_since < self.every_s:
            return
        self.quiet_since = now
        index = {t.trial_id: (t.config or {}).get("trial_index") for t in trials}
        shown = [
            f"{trial_name(trial_id, index.get(trial_id))} epoch {epoch}/{self.epochs} ({now - began:.0f} s)"
            for trial_id, (began, epoch) in list(self.training.items())[:4]
        ]
        more = f" and {len(self.training) - 4} more" if len(self.training) > 4 else ""
        logger.info(f"still training: {', '.join(shown)}{more}")
