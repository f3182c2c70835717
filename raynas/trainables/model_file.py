"""The searched network as one file: its architecture and trained weights, loaded in one call and exported
for deployment.

A run that trains its best architecture writes ``model.pt`` beside ``best_arch.json``: a ``torch.save`` of
plain data (the space's name and arguments, the tokens, the dataset, the state dict), read back with
``weights_only=True``. The space is rebuilt by name (a user's space by its import path, never from text).

Example:
    >>> import raynas
    >>> model = raynas.load_model("runs/digits-sanas")  # doctest: +SKIP
    >>> model(torch.zeros(1, 1, 8, 8)).shape  # doctest: +SKIP
    torch.Size([1, 10])
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from raynas import data, spaces, storage
from raynas.trainables.retrain import build_counted

MODEL_FILE = "model.pt"
#: export format -> the file an export writes by default, beside model.pt
FORMATS = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}


def model_record(space_name: str, space_kwargs: dict[str, Any], tokens: list[int], dataset: str, state: dict) -> dict:
    """What ``model.pt`` holds: enough to rebuild the network and load its weights."""
    return {
        "space": space_name,
        "space_kwargs": space_kwargs,
        "tokens": [int(t) for t in tokens],
        "data": dataset,
        "state_dict": {key: value.detach().cpu() for key, value in state.items()},
    }


def write_model(storage_path: str, relpath: str, record: dict[str, Any]) -> str:
    """Write ``record`` (see :func:`model_record`) to ``storage_path/relpath`` atomically; returns its path."""
    buffer = io.BytesIO()
    torch.save(record, buffer)
    return storage.write_bytes(storage_path, relpath, buffer.getvalue())


def model_path(path: str | os.PathLike) -> str:
    """``path`` itself, or the ``model.pt`` in the run folder ``path`` (a one-shot search's or a pipeline's in
    its ``retrain`` stage); ``FileNotFoundError`` naming it."""
    path = os.fspath(path)
    found = path
    if os.path.isdir(path):
        inside = [os.path.join(path, MODEL_FILE), os.path.join(path, "retrain", MODEL_FILE)]
        found = next((p for p in inside if os.path.isfile(p)), inside[0])
    if not os.path.isfile(found):
        raise FileNotFoundError(
            f"no {MODEL_FILE} at {found}; a search, retrain or pipeline writes it beside best_arch.json once its "
            "best architecture has trained (a table replay or a one-shot subnet score trains none)"
        )
    return found


def load_model(path: str | os.PathLike) -> torch.nn.Module:
    """The trained network of ``model.pt`` (or of the run folder holding it), in eval mode on the CPU."""
    return _load(model_path(path))[0]


def _load(found: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network of the model file ``found``, and the record it was built from."""
    try:
        record = torch.load(found, map_location="cpu", weights_only=True)
        space = spaces.get(record["space"], **record["space_kwargs"])
        model, _ = build_counted(space, record["tokens"])
        model.load_state_dict(record["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{found} is not a raynas model file ({type(exc).__name__}: {exc})") from None
    model.searched_arch = space.to_arch(record["tokens"])  # type: ignore[assignment]  # what was searched, for users
    return model.eval(), record


def export_model(path: str | os.PathLike, out: str | None = None, fmt: str = "torchscript") -> str:
    """Write the model at ``path`` as TorchScript (``torch.jit.load`` reads it) or ONNX (needs the ``onnx``
    extra: ``pip install raynas[onnx]``) to ``out`` (default: beside the model, see :data:`FORMATS`); returns
    the file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    found = model_path(path)
    out = out or os.path.join(os.path.dirname(found), FORMATS[fmt])
    model, record = _load(found)
    channels, size = data.SHAPES[record["data"]]  # one input of the dataset it was trained on
    sample = torch.zeros(1, channels, size, size)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if fmt == "torchscript":
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(model, sample), out)
        return out
    try:
        import onnxscript  # noqa: F401  # torch's exporter needs it: say so in one line when it is missing
    except ImportError:
        raise ValueError("ONNX export needs the onnx and onnxscript packages: pip install 'raynas[onnx]'") from None
    torch.onnx.export(model, (sample,), out, input_names=["images"], output_names=["logits"], verbose=False)
    return out
