"""Replay a benchmark table: the trial looks the accuracy up instead of training.

Searchers run through the same Tune code path as real training, in milliseconds per trial.
"""

from __future__ import annotations

import functools
from typing import Any

from ray import tune

from raynas.spaces.tabular import TabularSpace


@functools.lru_cache(maxsize=4)
def _table(path: str, metric: str | None) -> TabularSpace:
    return TabularSpace(path, metric)


def lookup(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: report the table's accuracy of ``config["tokens"]`` as the reward."""
    space = _table(settings["space_kwargs"]["path"], settings["space_kwargs"].get("metric"))
    tokens = space.validate(config["tokens"])
    accuracy = space.accuracy(tokens)
    tune.report(
        {"reward": accuracy, "val_acc": accuracy, "params": space.num_params(tokens), "tokens": tokens, "epoch": 1}
    )
