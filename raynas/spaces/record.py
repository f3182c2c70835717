"""What a search's tokens mean: its space's labels and choices, recorded when it starts and checked when it
continues, so a space whose code changed in between is one clear error instead of trials of another space.

Example:
    >>> from raynas import spaces
    >>> describe(spaces.get("small_channel"))["labels"]
    ['conv1_width', 'conv2_width', 'conv3_width', 'conv4_width']
"""

from __future__ import annotations

import json
from typing import Any

from raynas import storage
from raynas.log import logger
from raynas.settings import named
from raynas.spaces.base import SearchSpace, canonical

SPACE_FILE = "raynas_space.json"


def describe(space: SearchSpace) -> dict[str, Any]:
    """The labels and choices of ``space``, as JSON reads them back, and its fingerprint if it has one."""
    fingerprint = space.fingerprint()
    described = {
        "labels": space.labels(),
        "choices": space.choices(),
        **({"fingerprint": fingerprint} if fingerprint is not None else {}),
    }
    return json.loads(canonical(described))


def write(storage_path: str, name: str, space: SearchSpace) -> None:
    """Record the space of search ``name``."""
    storage.write_text(storage_path, f"{name}/{SPACE_FILE}", json.dumps(describe(space)))


def check_unchanged(storage_path: str, name: str, space: SearchSpace, analyzing: bool = False) -> None:
    """Raise ``ValueError`` when ``space`` is not the one search ``name`` started with (searches recorded
    before this check existed pass). ``analyzing`` the recorded results, only changed labels or choices are an error
    (the tokens would name other architectures); other parameter counts or accuracies are a note."""
    text = storage.read_text(storage_path, f"{name}/{SPACE_FILE}")
    if text is None:
        return
    try:
        before = json.loads(text)
    except ValueError:
        before = None
    if not isinstance(before, dict) or not {"labels", "choices"} <= set(before):
        raise ValueError(
            f"{storage.normalize(storage_path)}/{name}/{SPACE_FILE} is damaged (not the record of a "
            "space); restore it from a copy, or delete it to skip the check that the space is unchanged"
        )
    now = describe(space)
    if "fingerprint" not in before:  # recorded before fingerprints existed
        now.pop("fingerprint", None)
    if before == now:
        return
    if before["labels"] == now["labels"] and before["choices"] == now["choices"]:
        path = space.kwargs().get("path")
        what = f"the table {path}" if path else f"space {space.name!r}"
        how = (
            "its rows' accuracies or parameter counts differ"
            if path
            else "its networks' parameter counts differ: its code changed"
        )
        if analyzing:
            logger.info(
                f"note: {what} changed since search {name!r} started ({how}); its results are shown as "
                "they were recorded"
            )
            return
        raise ValueError(
            f"{what} changed since search {name!r} started ({how}), so the results recorded before "
            f"and after would not compare; restore it as it was, or start a new search under another "
            f"{named('name')}"
        )
    if before["labels"] != now["labels"]:
        change = f"labels {before['labels']} -> {now['labels']}"
    else:
        label, old, new = next(
            (label, old, new) for label, old, new in zip(now["labels"], before["choices"], now["choices"]) if old != new
        )
        change = f"choices of {label!r} {old} -> {new}"
    fix = " to analyze the search" if analyzing else f", or start a new search under another {named('name')}"
    raise ValueError(
        f"space {space.name!r} changed since search {name!r} started ({change}), so its recorded "
        f"tokens mean other architectures; restore the space as it was (its code, its table){fix}"
    )
