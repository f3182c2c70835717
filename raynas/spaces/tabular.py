"""A search space that replays a benchmark table instead of training.

A table maps architecture keys (one digit per position, e.g. ``"4432214"``) to records holding an accuracy
(``mean`` or ``mean_acc``) and ``params``. The positions and their choices are inferred from the keys, so
any table of that shape works. Accuracies given in percent are reported as fractions in [0, 1].

Example:
    >>> space = TabularSpace.from_json("channel_bench_macro_resnet.json")  # doctest: +SKIP
    >>> space.accuracy(space.init_tokens())  # doctest: +SKIP
    0.9344
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from raynas.spaces.base import SearchSpace

ACCURACY_FIELDS = ("mean", "mean_acc")


class TabularSpace(SearchSpace):
    """Architectures of a benchmark table; ``num_params`` and ``accuracy`` are looked up."""

    name = "tabular"

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        table = _read_table(self.path)
        keys = list(table)
        width = len(keys[0])
        digits = [sorted({k[i] for k in keys}) for i in range(width)]
        self._choices = [[int(d) for d in column] for column in digits]
        self._index = [{d: j for j, d in enumerate(column)} for column in digits]
        field = next(f for f in ACCURACY_FIELDS if f in table[keys[0]])
        scale = 100.0 if max(float(r[field]) for r in table.values()) > 1.0 else 1.0
        self._rows: dict[tuple[int, ...], tuple[float, int]] = {
            self._tokens_of(k): (float(r[field]) / scale, int(r["params"])) for k, r in table.items()}

    @classmethod
    def from_json(cls, path: str) -> "TabularSpace":
        """Load a JSON table ``{key: {"mean" | "mean_acc": float, "params": int, ...}}``."""
        return cls(path)

    def _tokens_of(self, key: str) -> tuple[int, ...]:
        return tuple(self._index[i][c] for i, c in enumerate(key))

    def kwargs(self) -> dict[str, Any]:
        return {"path": self.path}

    def labels(self) -> list[str]:
        return [f"position_{i}" for i in range(len(self._choices))]

    def choices(self) -> list[list[Any]]:
        return [list(c) for c in self._choices]

    def init_tokens(self) -> list[int]:
        """The smallest architecture of the table (ties broken by key order)."""
        return list(min(self._rows, key=lambda t: (self._rows[t][1], t)))

    def contains(self, tokens: Sequence[int]) -> bool:
        return tuple(tokens) in self._rows

    def _row(self, tokens: Sequence[int]) -> tuple[float, int]:
        tokens = tuple(self.validate(tokens))
        if tokens not in self._rows:
            raise ValueError(f"architecture {list(tokens)} is not in table {self.path}")
        return self._rows[tokens]

    def num_params(self, tokens: Sequence[int]) -> int:
        return self._row(tokens)[1]

    def accuracy(self, tokens: Sequence[int]) -> float:
        """The table's accuracy of the architecture, as a fraction."""
        return self._row(tokens)[0]

    def params_range(self) -> tuple[int, int]:
        params = [p for _, p in self._rows.values()]
        return min(params), max(params)

    def size(self) -> int:
        return len(self._rows)

    def rows(self) -> dict[tuple[int, ...], tuple[float, int]]:
        """All ``tokens -> (accuracy, params)`` rows."""
        return dict(self._rows)


def _read_table(path: str) -> dict[str, dict[str, Any]]:
    if not os.path.isfile(path):
        raise ValueError(f"benchmark table {path} does not exist; pass the path of a JSON table")
    try:
        with open(path) as f:
            table = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"benchmark table {path} is not valid JSON ({exc})") from None
    if not isinstance(table, dict) or not table:
        raise ValueError(f"benchmark table {path} must be a non-empty JSON object of key -> record")
    width = len(next(iter(table)))
    for key, record in table.items():
        if len(key) != width or not key.isdigit():
            raise ValueError(f"benchmark table {path}: key {key!r} is not {width} digits like the first key")
        if not isinstance(record, dict) or "params" not in record or \
                not any(f in record for f in ACCURACY_FIELDS):
            raise ValueError(f"benchmark table {path}: record {key!r} needs 'params' and one of "
                             f"{', '.join(ACCURACY_FIELDS)}")
    return table
