"""A search space that replays a benchmark table instead of training.

Two table formats are read:

* JSON: architecture keys (one digit per position, e.g. ``"4432214"``) mapped to records holding an accuracy
  and ``params``. The accuracy is the field named by ``metric``, which every record must hold; without
  ``metric``, ``mean``, or ``mean_acc`` when ``mean`` is missing or empty. The positions and their choices
  are inferred from the keys, so any table of that shape works. A token is an index into a position's sorted
  digits: key ``"1111111"`` is tokens ``[0, 0, 0, 0, 0, 0, 0]`` when every position's smallest digit is 1.
* NAS-Bench-201 CSV (``ArchitectureString`` and one test accuracy column per dataset): one token per cell
  edge, choices are the 5 operations, ``metric`` picks ``cifar10`` (default), ``cifar100`` or
  ``ImageNet16-120``; params are computed exactly for the benchmark's network on that dataset
  (:mod:`raynas.spaces.nb201`).

Accuracies are all fractions in [0, 1] or all percents in [0, 100] (a table with one above 1 is in percent),
and are reported as fractions. A percent table may hold accuracies of at most 1% (chance level of 100 or more
classes, as NAS-Bench-201's CIFAR-100 and ImageNet16-120 columns do); when a tenth of the rows or more are at most
1 and, read as fractions, no better than the table's best percent, the table mixes fractions and percents, an
error. A row without an accuracy
(empty, ``null`` or NaN: an architecture the benchmark did not train) is left out of the space, which then has
a gap there.

A table is given by its path, or by the name of a published table downloaded with ``raynas tables download NAME``
(:mod:`raynas.spaces.tables`).

Example:
    >>> space = TabularSpace("channel-bench-macro-resnet")  # doctest: +SKIP
    >>> round(space.accuracy(space.tokens_of("4432214")), 4)  # doctest: +SKIP
    0.9344
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import statistics
from collections.abc import Sequence
from typing import Any

from raynas.settings import naming_flags
from raynas.spaces import nb201, tables
from raynas.spaces.base import SearchSpace, digest

ACCURACY_FIELDS = ("mean", "mean_acc")
#: NAS-Bench-201 CSV: metric -> accuracy column
NB201_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}


class TabularSpace(SearchSpace):
    """Architectures of a benchmark table; ``num_params`` and ``accuracy`` are looked up."""

    name = "tabular"

    def __init__(self, path: str, metric: str | None = None):
        self.path = os.path.abspath(os.path.expanduser(tables.resolve(path)))
        #: the table as :meth:`kwargs` gives it: a published table's name (its file is found on any machine that
        #: downloaded it), else its absolute path
        self.table = path if path in tables.TABLES else self.path
        self.metric = metric
        if os.path.isdir(self.path):
            raise ValueError(
                f"benchmark table {self.path} is a folder, not a table file; pass the path of a "
                "JSON table or NAS-Bench-201 CSV"
            )
        if not os.path.isfile(self.path):
            raise ValueError(
                f"benchmark table {self.path} does not exist; pass the path of a JSON table or NAS-Bench-201 CSV"
            )
        self.nb201 = _is_csv(self.path)
        if self.nb201:
            self._labels, self._choices, rows = _read_nb201(self.path, metric)
        else:
            self._labels, self._choices, rows = _read_json(self.path, metric)
        if not rows:
            raise ValueError(
                f"benchmark table {self.path} has no row with an accuracy"
                f"{f' in {metric!r}' if metric else ''} (all are empty, null or NaN); pass a table "
                "with accuracies"
            )
        scale = _scale(self.path, {name: acc for name, acc, _ in rows.values()})
        self._rows: dict[tuple[int, ...], tuple[float, int]] = {
            tokens: (acc / scale, params) for tokens, (_, acc, params) in rows.items()
        }
        #: the architectures, in key order, when the table has gaps (uniform draws go through them)
        self._keys = sorted(self._rows) if len(self._rows) < super().size() else None

    @classmethod
    def from_json(cls, path: str, metric: str | None = None) -> TabularSpace:
        """Load a table (JSON ``{key: {"mean" | "mean_acc": float, "params": int, ...}}`` or NB201 CSV), or a
        published table by name."""
        return cls(path, metric)

    def kwargs(self) -> dict[str, Any]:
        return {"path": self.table, **({"metric": self.metric} if self.metric is not None else {})}

    def labels(self) -> list[str]:
        return list(self._labels)

    def fingerprint(self) -> str:
        """A digest of every row's tokens, accuracy and parameter count."""
        return digest(sorted((list(tokens), acc, params) for tokens, (acc, params) in self._rows.items()))

    def choices(self) -> list[list[Any]]:
        return [list(c) for c in self._choices]

    def key(self, tokens: Sequence[int]) -> str:
        """The table's name of an architecture: its key (JSON) or its ``ArchitectureString`` (NAS-Bench-201)."""
        values = list(self.to_arch(tokens).values())
        if self.nb201:
            return "+".join(
                "|" + "".join(f"{op}~{i}|" for op, (j, i) in zip(values, nb201.EDGES) if j == node)
                for node in (1, 2, 3)
            )
        return "".join(str(v) for v in values)

    def tokens_of(self, key: str) -> list[int]:
        """The tokens of a table key (``"1111111"``) or NAS-Bench-201 ``ArchitectureString``."""
        if self.nb201:
            return self.from_arch(dict(zip(self._labels, nb201.parse_arch(key))))
        if len(key) != len(self._labels) or not (key.isascii() and key.isdigit()):
            raise ValueError(f"key {key!r} is not {len(self._labels)} digits like the keys of table {self.path}")
        return self.from_arch({label: int(d) for label, d in zip(self._labels, key)})

    def init_tokens(self) -> list[int]:
        """The smallest architecture of the table (ties broken by key order)."""
        smallest: tuple[int, ...] = min(self._rows, key=lambda t: (self._rows[t][1], t))
        return list(smallest)

    def contains(self, tokens: Sequence[int]) -> bool:
        return tuple(tokens) in self._rows

    def random_tokens(self, rng: random.Random) -> list[int]:
        """A uniformly random architecture of the table (a table with gaps is not the product of its columns)."""
        return list(rng.choice(self._keys)) if self._keys else super().random_tokens(rng)

    def _row(self, tokens: Sequence[int]) -> tuple[float, int]:
        tokens = tuple(self.validate(tokens))
        if tokens not in self._rows:
            raise ValueError(
                f"architecture {list(tokens)} (key {self.key(tokens)}) has no row with an accuracy in table {self.path}"
            )
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


#: tokens -> (the row's name in the table, its accuracy as given, its params)
Rows = dict[tuple[int, ...], tuple[str, float, int]]


def _metric_named() -> str:
    """How the table's metric is given: ``--table-metric`` in the CLI, ``metric`` (of ``space_kwargs``) from
    Python."""
    return "--table-metric" if naming_flags() else "metric"


def _unknown_metric(metric: str, path: str, known: Sequence[str]) -> ValueError:
    return ValueError(f"unknown {_metric_named()} {metric!r} for table {path}; choose one of: {', '.join(known)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _accuracy(value: Any, path: str, key: str) -> float | None:
    """A record's accuracy as a float; ``None`` when the benchmark has none (empty, null or NaN)."""
    if value is None or value == "":
        return None
    if not isinstance(value, bool):  # True is not an accuracy of 1
        try:
            accuracy = float(value)
            return None if math.isnan(accuracy) else accuracy
        except (TypeError, ValueError):
            pass
    raise ValueError(f"benchmark table {path}: the accuracy of {key!r} is {value!r}, not a number; fix that row")


#: share of a percent table's rows at most 1 (and plausible as fractions) that makes it a mixed table
MIXED_SHARE = 0.1


def _scale(path: str, accuracies: dict[str, float]) -> float:
    """100 when ``accuracies`` (row name -> accuracy) are percents, 1 when they are fractions."""
    for name, accuracy in accuracies.items():
        if not 0 <= accuracy <= 100:
            raise ValueError(
                f"benchmark table {path}: the accuracy of {name!r} is {accuracy:g}, outside [0, 1] "
                "as a fraction and [0, 100] as percent; fix that row"
            )
    # above 1 by more than float noise (a fraction table's 1.0000001 is a fraction)
    percent = next((name for name, accuracy in accuracies.items() if accuracy > 1 + 1e-6), None)
    if percent is None:
        return 1.0
    # at most 1 in a percent table: a percent at chance level (NAS-Bench-201's CIFAR-100 has 341 rows of 1%, a
    # 1000-class table may have failed rows of 0.1%), unless, read as a fraction, it would be a typical accuracy
    # of the table (between the median and the best percent), or a tenth of the rows or more would be no better
    # than the best: then they are fractions
    best = max(accuracies.values())
    middle = statistics.median(accuracy for accuracy in accuracies.values() if accuracy > 1)
    plausible = [name for name, accuracy in accuracies.items() if 0 < accuracy <= 1 and 100 * accuracy <= best]
    typical = [name for name in plausible if 100 * accuracies[name] >= middle]
    fraction = (typical or plausible)[0] if typical or len(plausible) >= MIXED_SHARE * len(accuracies) else None
    if fraction is not None:
        raise ValueError(
            f"benchmark table {path} mixes fractions and percents ({fraction!r} has "
            f"{accuracies[fraction]:g}, {percent!r} has {accuracies[percent]:g}); give all accuracies "
            "as fractions (0-1) or all as percents (0-100)"
        )
    return 100.0


def _params(value: Any, path: str, key: str) -> int:
    if not _number(value) or not math.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(
            f"benchmark table {path}: the params of {key!r} are {value!r}, not a whole number of 0 or "
            "more; fix that row"
        )
    return int(value)


#: words of a record's field names that make it no accuracy: a cost, or the spread of several runs
NOT_ACCURACY = frozenset(
    {"params", "flops", "macs", "latency", "time", "std", "stdev", "stddev", "var", "variance", "sem"}
)


def _accuracy_fields(record: dict[str, Any]) -> list[str]:
    """The fields of a table record that can be its accuracy: numbers, but not its cost or spread.

    Example:
        >>> _accuracy_fields({"mean": 93.1, "std": 0.2, "acc_std": 0.1, "params": 1000, "top1": 92.0})
        ['mean', 'top1']
    """
    return [f for f, v in record.items() if _number(v) and not set(re.split(r"[^a-z0-9]+", f.lower())) & NOT_ACCURACY]


def _check_metric(table: dict[str, dict[str, Any]], metric: str, path: str) -> None:
    """``metric`` must be an accuracy field of the table, held by every record."""
    known = list(dict.fromkeys(f for record in table.values() for f in _accuracy_fields(record)))
    if metric not in known and any(metric in record for record in table.values()):
        raise ValueError(
            f"{_metric_named()} {metric!r} of table {path} is no accuracy (a cost, or the spread of several "
            f"runs); choose one of: {', '.join(known)}"
        )
    if metric not in known:
        raise _unknown_metric(metric, path, known)
    lacking = [key for key, record in table.items() if metric not in record]
    if lacking:
        raise ValueError(
            f"benchmark table {path}: {len(lacking)} of {len(table)} records have no {metric!r} "
            f"field (the first: {lacking[0]!r}); pass a {_metric_named()} every record holds"
        )


def _default_accuracy(record: dict[str, Any], path: str, key: str) -> float | None:
    """The first of :data:`ACCURACY_FIELDS` with a value (records may name it either way, or leave one empty)."""
    fields = [f for f in ACCURACY_FIELDS if f in record]
    if not fields:
        raise ValueError(
            f"benchmark table {path}: record {key!r} needs one of {', '.join(ACCURACY_FIELDS)}, "
            f"or pass a {_metric_named()} naming its accuracy field"
        )
    return next((a for a in (_accuracy(record[f], path, key) for f in fields) if a is not None), None)


def _read_json(path: str, metric: str | None) -> tuple[list[str], list[list[Any]], Rows]:
    table = _read_table(path)
    if metric is not None:
        _check_metric(table, metric, path)
    keys = list(table)
    digits = [sorted({k[i] for k in keys}) for i in range(len(keys[0]))]
    index = [{d: j for j, d in enumerate(column)} for column in digits]
    rows: Rows = {}
    for key, record in table.items():
        accuracy = _accuracy(record[metric], path, key) if metric else _default_accuracy(record, path, key)
        if accuracy is not None:
            rows[tuple(index[i][c] for i, c in enumerate(key))] = (key, accuracy, _params(record["params"], path, key))
    return [f"position_{i}" for i in range(len(digits))], [[int(d) for d in c] for c in digits], rows


def _read_nb201(path: str, metric: str | None) -> tuple[list[str], list[list[Any]], Rows]:
    """A NAS-Bench-201 table: ``ArchitectureString`` and the test accuracy columns of :data:`NB201_COLUMNS`."""
    metric = metric or "cifar10"
    names = {m.lower(): m for m in NB201_COLUMNS}
    if metric.lower() not in names:
        raise _unknown_metric(metric, path, list(NB201_COLUMNS))
    metric = names[metric.lower()]
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(f)
            records, fieldnames = list(reader), reader.fieldnames or []
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    needed = ["ArchitectureString", NB201_COLUMNS[metric]]
    missing = [c for c in needed if c not in fieldnames]
    if missing:
        raise ValueError(f"benchmark table {path} is not a NAS-Bench-201 CSV: no column {missing[0]!r}")
    rows: Rows = {}
    seen: set[tuple[int, ...]] = set()  # rows without an accuracy too
    for number, record in enumerate(records, start=2):  # line 1 is the header
        if None in record or None in record.values():  # a row longer or shorter than the header
            fields = (
                len(record) - 1 + len(record[None]) if None in record else sum(v is not None for v in record.values())
            )
            raise ValueError(
                f"benchmark table {path}: row {number} has {fields} fields and the header "
                f"{len(fieldnames)}; complete the row or remove it"
            )
        ops = nb201.parse_arch(record["ArchitectureString"])
        key = tuple(nb201.OPS.index(op) for op in ops)
        if key in seen:
            raise ValueError(
                f"benchmark table {path} lists architecture {record['ArchitectureString']} twice; "
                "keep one row per architecture"
            )
        seen.add(key)
        name = record["ArchitectureString"]
        accuracy = _accuracy(record[NB201_COLUMNS[metric]], path, name)
        if accuracy is not None:
            rows[key] = (name, accuracy, nb201.num_params(ops, nb201.NUM_CLASSES[metric]))
    return nb201.edge_labels(), [list(nb201.OPS) for _ in nb201.EDGES], rows


def _is_csv(path: str) -> bool:
    """A NAS-Bench-201 CSV: named ``.csv`` in any case, or, when not named ``.json``, not starting with ``{``."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".csv", ".json"):
        return suffix == ".csv"
    with open(path, "rb") as f:
        return not f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


class _Repeated(ValueError):
    """A JSON object names a key twice."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key it names twice (``json`` would keep the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


def _not_utf8(path: str, exc: UnicodeDecodeError) -> ValueError:
    return ValueError(f"benchmark table {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")


def _read_table(path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            table = json.load(f, object_pairs_hook=_unique)
    except _Repeated as exc:
        raise ValueError(f"benchmark table {path} lists key {exc.args[0]!r} twice; keep one record per key") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"benchmark table {path} is not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    if not isinstance(table, dict) or not table:
        raise ValueError(f"benchmark table {path} must be a non-empty JSON object of key -> record")
    width = len(next(iter(table)))
    for key, record in table.items():
        if len(key) != width or not (key.isascii() and key.isdigit()):
            raise ValueError(f"benchmark table {path}: key {key!r} is not {width} digits 0-9 like the first key")
        if not isinstance(record, dict) or "params" not in record:
            raise ValueError(f"benchmark table {path}: record {key!r} needs 'params' and an accuracy field")
    return table
