"""Several architectures per Tune trial: a token searcher's proposals handed out in batches.

Scoring a subnet on shared weights takes a fraction of a second on small data, about as long as Tune's own
work for a trial. :class:`Batched` wraps a :class:`TokenSearcher` so that one Tune trial evaluates several of its
proposals: the trial's config is ``{"batch": [{"tokens": ..., "trial_index": i}, ...], "trial_index": <the
first's>}``, the trial reports one result per member (its place in the batch as ``subnet``), and each result
reaches the searcher at once as a finished trial of its own, ``<trial id>-<place>``
(:func:`raynas.results.members`). results.csv keeps one row per architecture, and the searcher's guarantees
(inside the budget, never evaluated twice) and its saved state are per architecture as before. To the searcher, a
batch is that many trials running at once.

``size="auto"`` makes a batch as large as takes about :data:`TARGET_S` seconds, from the evaluation times the
trials report (``eval_time_s``), at most :data:`MAX_SIZE` and at most a :data:`ROUNDS`-th of the searcher's
``num_samples`` (so that it hears back at least that many times: on replayed tables, SA's mean rank fraction at 50
evaluations doubled with batches of 32 and barely moved with batches of 4): one architecture per trial until a
time is known, and whenever an evaluation takes longer than that on its own.

Example:
    >>> from raynas import spaces
    >>> from raynas.searchers import RandomSearcher
    >>> batched = Batched(RandomSearcher(spaces.get("small_channel"), seed=0), size=3)
    >>> [len(batched.suggest(t)["batch"]) for t in ("a", "b")]
    [3, 3]
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from ray.tune.search import Searcher

from raynas.results import member_id, member_trial
from raynas.searchers.base import TokenSearcher

#: seconds of evaluation an automatically sized batch aims at: Tune's work for a trial is a few hundredths of it
TARGET_S = 2.0
#: the largest automatically sized batch
MAX_SIZE = 32
#: evaluation times that size the next batch (the newest ones)
WINDOW = 20
#: an automatically sized batch holds at most this fraction (1 / ROUNDS) of the search's architectures
ROUNDS = 8


class Batched(Searcher):
    """A Tune ``Searcher`` handing out ``inner``'s proposals ``size`` at a time (``"auto"``: see the module doc)."""

    def __init__(self, inner: TokenSearcher, size: int | str = "auto"):
        if size != "auto" and (not isinstance(size, int) or size < 1):
            raise ValueError(f"subnets per trial must be a whole number of at least 1 or 'auto', got {size!r}")
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner, self.size = inner, size
        self.eval_s: deque[float] = deque(maxlen=WINDOW)

    def batch_size(self) -> int:
        """Architectures for the next trial."""
        if self.size != "auto":
            return int(self.size)
        if not self.eval_s:
            return 1
        largest = MAX_SIZE if self.inner.num_samples is None else min(MAX_SIZE, self.inner.num_samples // ROUNDS)
        return max(1, min(largest, int(TARGET_S / max(statistics.median(self.eval_s), 1e-6))))

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        self.inner.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.inner.metric, self.inner.mode
        return True

    def suggest(self, trial_id: str) -> dict | str | None:  # type: ignore[override]  # see TokenSearcher.suggest
        """``{"batch": [...], "trial_index": i}``, or what ``inner`` answered first (``None``, FINISHED)."""
        batch: list[dict] = []
        for place in range(self.batch_size()):
            config = self.inner.suggest(member_id(trial_id, place))
            if not isinstance(config, dict):
                if not batch:
                    return config
                break
            batch.append(config)
        return {"batch": batch, "trial_index": batch[0]["trial_index"]}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if "subnet" not in result:
            return
        self.inner.on_trial_complete(member_id(trial_id, int(result["subnet"])), result)
        seconds = result.get("eval_time_s")
        if isinstance(seconds, (int, float)) and math.isfinite(seconds):
            self.eval_s.append(float(seconds))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """The trial ended: a member it never reported failed (a result the trial did report is recorded
        already, by :meth:`on_trial_result`)."""
        if result and "subnet" in result:
            self.on_trial_result(trial_id, result)
        for row_id in [r for r in self.inner.pending if member_trial(r) == trial_id]:
            self.inner.on_trial_complete(row_id, None, error=True)

    # the state is the inner searcher's: its files and raynas's own resume read it as any token searcher's
    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        self.inner.restore_from_dir(checkpoint_dir)
