"""The published benchmark tables raynas knows by name, and getting them onto disk.

raynas ships no table: neither source repository states a licence, so raynas does not redistribute them.
:func:`download` fetches a table from its authors' repository at a pinned commit, checks its sha256 and writes
it to :func:`folder`; :func:`resolve` turns a table's name into the path of that file, so a name works wherever a
table's path does.

Example:
    >>> TABLES["nas-bench-201"].file
    'nas_bench_201_cifar.csv'
    >>> resolve("my_table.json")  # a path is no name: returned as given
    'my_table.json'
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from raynas import storage
from raynas.settings import naming_flags

#: seconds to wait for the table's server before giving up
TIMEOUT = 60


@dataclass(frozen=True)
class Table:
    """A published benchmark table: where it comes from and what it holds."""

    name: str
    #: the file's name in :func:`folder`
    file: str
    #: the file at a pinned commit of the authors' repository
    url: str
    sha256: str
    #: bytes
    size: int
    #: the authors' repository
    source: str
    description: str

    def megabytes(self) -> str:
        """The size as ``"3.0 MB"``."""
        return f"{self.size / 1e6:.1f} MB"


_CHANNEL_BENCH = "https://raw.githubusercontent.com/xiusu/Channel-Bench-Macro/4ff596e814cc88cc9add77ff83fc1a2f05ee1fef"

#: the tables by name
TABLES = {
    table.name: table
    for table in (
        Table(
            name="nas-bench-201",
            file="nas_bench_201_cifar.csv",
            url="https://raw.githubusercontent.com/v-tao/nats-bench-landscape/"
            "b307ae5fe6e8d7043cd4fe7d1c3532288271adb7/nats_bench.csv",
            sha256="cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e",
            size=3_024_008,
            source="github.com/v-tao/nats-bench-landscape",
            description="NAS-Bench-201 (NATS-Bench topology): all 15,625 cells, 200-epoch test accuracy on "
            "CIFAR-10, CIFAR-100 and ImageNet16-120",
        ),
        Table(
            name="channel-bench-macro-resnet",
            file="channel_bench_macro_resnet.json",
            url=f"{_CHANNEL_BENCH}/Results_ResNet.json",
            sha256="bf13bcaea3f2076f2c1bfbf5c2fee044aafe0385fae6a0d64c433b1d7f5a7520",
            size=2_821_965,
            source="github.com/xiusu/Channel-Bench-Macro",
            description="Channel-Bench-Macro, ResNet: 16,384 channel configurations, CIFAR-10 test accuracy of "
            "3 runs, exact params",
        ),
        Table(
            name="channel-bench-macro-mobilenet",
            file="channel_bench_macro_mobilenet.json",
            url=f"{_CHANNEL_BENCH}/Results_MobileNet.json",
            sha256="f640474d8ff3ff2231d0c45986bb0f10af291545316342fb009952e7641908e0",
            size=2_793_867,
            source="github.com/xiusu/Channel-Bench-Macro",
            description="Channel-Bench-Macro, MobileNet: 16,384 channel configurations, CIFAR-10 test accuracy "
            "of 3 runs, exact params",
        ),
    )
}


def folder() -> Path:
    """Where downloaded tables are: ``$RAYNAS_TABLES``, else ``$XDG_CACHE_HOME/raynas/tables``, else
    ``~/.cache/raynas/tables``."""
    if os.environ.get("RAYNAS_TABLES"):
        return Path(os.environ["RAYNAS_TABLES"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "raynas" / "tables"


def downloaded(name: str) -> Path | None:
    """The file of table ``name`` in :func:`folder`, or ``None`` when it is not downloaded."""
    path = folder() / get(name).file
    return path if path.is_file() else None


def resolve(table: str) -> str:
    """The path of ``table``: a table's name gives its downloaded file, anything else is a path, returned as is."""
    if table not in TABLES:
        return table
    path = downloaded(table)
    if path is None:
        entry = TABLES[table]
        raise ValueError(
            f"benchmark table {table} is not downloaded; run: raynas tables download {table} "
            f"({entry.megabytes()} from {entry.source}), or pass the path of a table file"
        )
    return str(path)


def download(name: str, source: str | None = None) -> Path:
    """Fetch table ``name`` from its pinned URL (or copy the local file ``source``, a copy of that file), check its
    sha256 and write it to :func:`folder` atomically; returns its path. A file that differs is refused, nothing
    written."""
    table = get(name)
    content = _fetch(table) if source is None else _read(table, source)
    digest = hashlib.sha256(content).hexdigest()
    if digest != table.sha256:
        fix = f"pass a copy of {table.url}" if source else "try again (a proxy or a cut connection may have changed it)"
        raise ValueError(
            f"{source or table.url} is not the pinned table {name}: its sha256 is {digest}, not {table.sha256}; "
            f"nothing was written; {fix}"
        )
    path = Path(storage.write_bytes(str(folder()), table.file, content))
    path.chmod(0o644)  # a published table, readable by whoever shares the folder
    return path


def get(name: str) -> Table:
    """The table named ``name``; an unknown name is an error that lists the known ones."""
    if name not in TABLES:
        raise ValueError(f"unknown benchmark table {name!r}; choose one of: {', '.join(TABLES)}")
    return TABLES[name]


def _open(url: str) -> bytes:
    """The content at ``url``."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def _fetch(table: Table) -> bytes:
    """The content of ``table``'s URL; a failure says how to download it without internet."""
    try:
        return _open(table.url)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        offline = "--from FILE" if naming_flags() else "source=FILE"
        raise ConnectionError(
            f"cannot download table {table.name} from {table.url} ({reason}); without internet here, download "
            f"that file elsewhere, copy it here and pass it with {offline}"
        ) from None


def _read(table: Table, source: str) -> bytes:
    """The content of the local file ``source``, a copy of ``table``'s file."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{source} is no file; pass the path of a copy of {table.url}")
    return path.read_bytes()
