"""Files of a search under ``--storage-path``: a local folder or any URI pyarrow understands."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow.fs

from raynas.settings import SETTINGS_FILE, named


def normalize(storage_path: str) -> str:
    """Absolute local path, or the URI unchanged."""
    return storage_path if "://" in storage_path else os.path.abspath(os.path.expanduser(storage_path))


#: the record a DARTS search, a pipeline and a retrain write first in their folder (a token search: SETTINGS_FILE)
DARTS_RECORD, PIPELINE_RECORD, RETRAIN_RECORD = "raynas_darts.json", "raynas_pipeline.json", "raynas_retrain.json"
#: the record each kind of run writes in its folder, and how a message names that kind
RUN_RECORDS = {
    SETTINGS_FILE: "a token search (raynas search sanas|evolution|tpe|random|oneshot)",
    DARTS_RECORD: "a DARTS search (raynas search darts)",
    PIPELINE_RECORD: "a pipeline (its stages are the searches <name>/darts and <name>/sanas)",
    RETRAIN_RECORD: "a retrain (raynas retrain)",
}
#: how any kind of run is continued
CONTINUED_BY = "`raynas resume`, or raynas.resume(storage_path, name) from Python"


def check_kind(storage_path: str, name: str, own: str, existing: str | None = None) -> None:
    """Raise ``FileExistsError`` when the folder of ``name`` holds a run of another kind than the one whose
    record is ``own`` (one of :data:`RUN_RECORDS`): the two would write over each other's files.

    The message says to pick another ``--name``; with ``existing`` (a run is read, not started), to continue the
    run found with what continues it, or ``existing`` when that is not ``"continue"``."""
    for record, kind in RUN_RECORDS.items():
        if record != own and read_text(storage_path, f"{name}/{record}") is not None:
            fix = (
                f"pick another {named('name')}"
                if existing is None
                else f"continue it with {CONTINUED_BY}"
                if existing == "continue"
                else existing
            )
            raise FileExistsError(
                f"{folder(storage_path, name)} holds {kind.replace('<name>', name)}, not "
                f"{RUN_RECORDS[own].split(' (')[0]}; {fix}"
            )


def folder(storage_path: str, name: str) -> str:
    """``<storage_path>/<name>``, normalized: the folder of a named search, as Tune names its experiment.

    Example:
        >>> folder("s3://bucket/runs/", "digits")
        's3://bucket/runs/digits'
    """
    return f"{normalize(storage_path).rstrip('/')}/{name}"


def locate(storage_path: str, relpath: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The filesystem of ``storage_path`` and the path of ``relpath`` in it."""
    fs, root = pyarrow.fs.FileSystem.from_uri(normalize(storage_path))
    return fs, f"{root.rstrip('/')}/{relpath}"


def write_text(storage_path: str, relpath: str, text: str) -> str:
    """Write ``text`` to ``storage_path/relpath`` (atomically on a local disk); returns the full path."""
    return write_bytes(storage_path, relpath, text.encode())


def write_bytes(storage_path: str, relpath: str, content: bytes) -> str:
    """Write ``content`` to ``storage_path/relpath`` (atomically on a local disk); returns the full path."""
    fs, path = locate(storage_path, relpath)
    fs.create_dir(os.path.dirname(path), recursive=True)
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path) as f:
            f.write(content)
    return path


def append_text(storage_path: str, relpath: str, text: str) -> str:
    """Append ``text`` to ``storage_path/relpath``, creating it; returns the full path.

    Constant-time on a local disk or a filesystem that appends; an object store without appends (S3, GCS)
    gets the file rewritten whole.
    """
    fs, path = locate(storage_path, relpath)
    fs.create_dir(os.path.dirname(path), recursive=True)
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        with open(path, "a") as f:
            f.write(text)
        return path
    try:
        with fs.open_append_stream(path) as f:
            f.write(text.encode())
    except (NotImplementedError, pyarrow.lib.ArrowNotImplementedError):
        return write_text(storage_path, relpath, (read_text(storage_path, relpath) or "") + text)
    return path


def list_names(storage_path: str, relpath: str) -> list[str]:
    """Names of the entries of the folder ``storage_path/relpath`` (empty if it does not exist)."""
    fs, path = locate(storage_path, relpath)
    selector = pyarrow.fs.FileSelector(path, allow_not_found=True)
    return sorted(os.path.basename(info.path) for info in fs.get_file_info(selector))


def read_text(storage_path: str, relpath: str) -> str | None:
    """Contents of ``storage_path/relpath``, or ``None`` if it does not exist."""
    content = read_bytes(storage_path, relpath)
    return None if content is None else content.decode()


def exists(storage_path: str, relpath: str) -> bool:
    """Whether ``storage_path/relpath`` is a file."""
    fs, path = locate(storage_path, relpath)
    return fs.get_file_info(path).type == pyarrow.fs.FileType.File


def read_bytes(storage_path: str, relpath: str) -> bytes | None:
    """Contents of ``storage_path/relpath`` as bytes, or ``None`` if it does not exist."""
    fs, path = locate(storage_path, relpath)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()


def check_writable(storage_path: str) -> None:
    """Raise ``PermissionError`` with one clear line if nothing can be written under ``storage_path``."""
    fs, probe = locate(storage_path, ".raynas-write-check")
    root = os.path.dirname(probe)
    try:
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except (OSError, pyarrow.lib.ArrowException) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PermissionError(
            f"storage path {storage_path} cannot be written ({reason}); pass a writable {named('storage_path')}"
        ) from None


def claim(
    storage_path: str,
    relpath: str,
    record: dict[str, Any],
    ignore: tuple[str, ...] = (),
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[str]:
    """Write ``record`` as JSON at ``relpath`` unless a record is there already; the keys (but ``ignore``)
    whose values differ from that earlier record (read through ``upgrade``, which puts a record an earlier
    version wrote in today's shape), sorted: none the first time.

    A run under a name used before must be the same run: what differs is the error to show.
    """
    text = read_text(storage_path, relpath)
    if text is None:
        write_text(storage_path, relpath, json.dumps(record, indent=2))
        return []
    saved = json.loads(text)
    if upgrade is not None:
        saved = upgrade(saved)
    return sorted(k for k in record if k not in ignore and saved.get(k) != record[k])


#: the folder of an epoch checkpoint: Tune numbers them (checkpoint_000003), Ray Train stamps them with the
#: time (checkpoint_2026-12-01_04-37-23.946663); Train's checkpoint_manager_snapshot.json is none
CHECKPOINT_NAME = re.compile(r"checkpoint_[0-9][0-9_.:-]*")


def newest_checkpoint(storage_path: str, folder: str) -> str | None:
    """``folder/<its newest epoch checkpoint>``, or ``None`` when it holds none."""
    checkpoints = [n for n in list_names(storage_path, folder) if CHECKPOINT_NAME.fullmatch(n)]
    return f"{folder}/{max(checkpoints)}" if checkpoints else None


def read_json(storage_path: str, relpath: str) -> Any:
    """The JSON document at ``storage_path/relpath``; ``FileNotFoundError`` naming it when there is none."""
    text = read_text(storage_path, relpath)
    if text is None:
        raise FileNotFoundError(f"{normalize(storage_path).rstrip('/')}/{relpath} is missing")
    return json.loads(text)
