"""Trial checkpoints: atomic writes, ``weights_only`` reads."""

from __future__ import annotations

import os
import tempfile
from typing import Any, cast

import torch
from ray import tune

STATE_FILE = "state.pt"


def save_atomic(state: dict[str, Any], path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_checkpoint(state: dict[str, Any], folder: str) -> tune.Checkpoint:
    """Write ``state`` into ``folder`` and wrap it as a Tune checkpoint."""
    os.makedirs(folder, exist_ok=True)
    save_atomic(state, os.path.join(folder, STATE_FILE))
    # from_directory returns cls(...), a tune.Checkpoint; ray annotates it as returning its base, ray.train's
    return cast(tune.Checkpoint, tune.Checkpoint.from_directory(folder))


def from_checkpoint(checkpoint: tune.Checkpoint, device: str = "cpu") -> dict[str, Any]:
    """Read the state written by :func:`to_checkpoint` (tensors and plain data only)."""
    with checkpoint.as_directory() as folder:
        return torch.load(os.path.join(folder, STATE_FILE), map_location=device, weights_only=True)
