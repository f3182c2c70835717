"""Architecture JSON: a flat ``label -> choice`` object that NNI reads and writes, both ways, validated.

:func:`export_arch` writes candidate names where a choice's candidates are named, indices where they are not,
and lists for choices of several inputs. :func:`apply_arch` reads everything NNI's
``apply_fixed_architecture`` accepts: a name, an index, a list of names or indices, or a boolean mask of
exactly ``n_candidates``. A missing or unknown label, an out-of-range index or a wrong mask is one
``ValueError`` naming the label.

Example:
    >>> from raynas import spaces
    >>> space = spaces.get("small_channel")
    >>> export_arch(space, [0, 1, 2, 3])
    {'conv1_width': 4, 'conv2_width': 8, 'conv3_width': 12, 'conv4_width': 16}
    >>> apply_arch(space, {"conv1_width": 4, "conv2_width": 8, "conv3_width": 12, "conv4_width": 16})
    [0, 1, 2, 3]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raynas.spaces.base import SearchSpace, canonical
from raynas.spaces.choices import InputChoice, ModelSpace


@dataclass(frozen=True)
class _Decision:
    """One labelled decision: its candidates (names or values) and how many of them are chosen."""

    label: str
    candidates: list[Any]
    n_chosen: int
    subsets: list[tuple[int, ...]] | None  # the token's options for a multi-input choice, else None


def _decisions(space: SearchSpace) -> list[_Decision]:
    if isinstance(space, ModelSpace):
        out = []
        for label, choice in space.named_choices():
            if isinstance(choice, InputChoice):
                names: Sequence[str | int] = choice.candidate_names or list(range(choice.n_candidates))
                out.append(_Decision(label, list(names), choice.n_chosen, list(choice.subsets)))
            else:
                out.append(_Decision(label, choice.options(), 1, None))
        return out
    return [_Decision(label, list(opts), 1, None) for label, opts in zip(space.labels(), space.choices())]


def export_arch(space: SearchSpace, tokens: Sequence[int]) -> dict[str, Any]:
    """The NNI-compatible ``label -> choice`` object of ``tokens``."""
    return space.to_arch(tokens)


def apply_arch(space: SearchSpace, arch: dict[str, Any]) -> list[int]:
    """The tokens of ``arch``, a ``label -> choice`` object in any form NNI accepts."""
    if not isinstance(arch, dict):
        raise ValueError(f"an architecture must be a JSON object of label -> choice, got {type(arch).__name__}")
    decisions = _decisions(space)
    labels = [d.label for d in decisions]
    unknown = [label for label in arch if label not in labels]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}: space {space.name!r} has labels {labels}")
    missing = [label for label in labels if label not in arch]
    if missing:
        raise ValueError(f"label {missing[0]!r} is missing from the architecture (space {space.name!r})")
    return [_token(d, arch[d.label]) for d in decisions]


def _token(d: _Decision, value: Any) -> int:
    if d.subsets is None:  # a choice whose candidate is itself a list, a boolean or null
        same = [i for i, c in enumerate(d.candidates) if canonical(c) == canonical(value)]
        if same:
            return same[0]
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, bool) for v in value):
            if len(value) != len(d.candidates):
                raise ValueError(
                    f"{d.label}: a boolean mask needs exactly {len(d.candidates)} entries, got {len(value)}"
                )
            picked = [i for i, v in enumerate(value) if v]
        else:
            picked = [_candidate(d, v) for v in value]
    else:
        picked = [_candidate(d, value)]
    if len(set(picked)) != d.n_chosen or len(picked) != d.n_chosen:
        raise ValueError(f"{d.label}: choose exactly {d.n_chosen} distinct of {d.candidates}, got {value!r}")
    if d.subsets is None:
        return picked[0]
    return d.subsets.index(tuple(sorted(picked)))


def _candidate(d: _Decision, value: Any) -> int:
    """Index of one candidate given by name/value or by index."""
    same = [i for i, c in enumerate(d.candidates) if canonical(c) == canonical(value)]
    if same:
        return same[0]
    if isinstance(value, bool) or isinstance(value, (dict, list, tuple)) or value is None:
        raise ValueError(f"{d.label}: {value!r} is not a candidate name or index; candidates are {d.candidates}")
    if (
        isinstance(value, str)
        and value.strip().isdigit()
        and all(isinstance(c, int) and not isinstance(c, bool) for c in d.candidates)
    ):
        value = int(value)  # unnamed candidates: NNI takes an index written as text too
    if value in d.candidates:
        return d.candidates.index(value)
    if isinstance(value, int):
        if d.candidates != list(range(len(d.candidates))) and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in d.candidates
        ):
            raise ValueError(
                f"{d.label}: {value} is not one of the candidates {d.candidates} (a number is read as "
                "a candidate here, not as an index)"
            )
        if 0 <= value < len(d.candidates):
            return value
        raise ValueError(f"{d.label}: index {value} is out of range [0, {len(d.candidates) - 1}]")
    raise ValueError(f"{d.label}: {value!r} is not one of the candidates {d.candidates}")


def read_arch_file(path: str) -> dict[str, Any]:
    """Read an architecture file: a ``best_arch.json`` (``space``, ``space_kwargs``, ``arch`` or ``tokens``), a
    DARTS ``genotype.json`` (returned as the ``darts_channel`` space of that genotype, no ``arch``: its start
    widths) or a flat NNI ``label -> choice`` object (returned as ``{"arch": ...}``)."""
    if os.path.isdir(path):
        raise ValueError(f"architecture file {path} is a folder; give its best_arch.json (or genotype.json)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"architecture file {path} does not exist")
    with open(path) as f:
        try:
            values = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"architecture file {path} is not valid JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"architecture file {path} must hold a JSON object")
    if {"normal", "reduce"} <= set(values):  # a DARTS genotype.json: the darts_channel network of that cell
        return {"space": "darts_channel", "space_kwargs": {"genotype": values}}
    for key, kind, what in (
        ("space", str, "a string"),
        ("space_kwargs", dict, "a JSON object"),
        ("tokens", list, "a JSON list of integers"),
        ("data", str, "a string"),
    ):
        if "space" in values and values.get(key) is not None and not isinstance(values[key], kind):
            raise ValueError(f"'{key}' in {path} must be {what}, got {values[key]!r}")
    if "arch" in values:
        if not isinstance(values["arch"], dict):
            raise ValueError(f"'arch' in {path} must be a JSON object of label -> choice")
        return values
    if "space" in values:  # a best_arch.json record: its tokens say the architecture when 'arch' is absent
        if "tokens" not in values:
            raise ValueError(
                f"architecture file {path} names space {values['space']!r} but holds neither 'arch' "
                "(label -> choice) nor 'tokens'; add one of them"
            )
        return values
    return {"arch": values}
