"""Published benchmark tables by name: the tables folder, downloads checked by sha256, the ``raynas tables`` command.

No test reaches the internet: a table's URL is a ``file://`` URL of a small generated table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
from conftest import write_table

from raynas import cli
from raynas.spaces import tables
from raynas.spaces.tabular import TabularSpace

NAMES = "nas-bench-201, channel-bench-macro-resnet, channel-bench-macro-mobilenet"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty tables folder, ``$RAYNAS_TABLES``."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RAYNAS_TABLES", str(folder))
    return folder


def fake(upstream: Path, name: str = "tiny") -> tables.Table:
    """A table served from the file ``upstream``, pinned to its sha256."""
    content = upstream.read_bytes()
    return tables.Table(
        name=name,
        file=f"{name}.json",
        url=upstream.as_uri(),
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        source="github.com/someone/tiny",
        description="a 27-row test table",
    )


@pytest.fixture
def tiny(tmp_path, cache, monkeypatch) -> tables.Table:
    """Table ``tiny`` in the catalog, its pinned file a generated JSON table."""
    table = fake(write_table(tmp_path / "upstream.json"))
    monkeypatch.setitem(tables.TABLES, table.name, table)
    return table


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_the_folder_is_raynas_tables_else_the_xdg_cache_else_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYNAS_TABLES", str(tmp_path / "t"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tables.folder() == tmp_path / "t"
    monkeypatch.delenv("RAYNAS_TABLES")
    assert tables.folder() == tmp_path / "xdg" / "raynas" / "tables"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tables.folder() == tmp_path / "home" / ".cache" / "raynas" / "tables"


def test_a_name_resolves_to_its_downloaded_file_and_a_path_stays_as_given(cache):
    assert tables.resolve("tables/mine.json") == "tables/mine.json"
    with pytest.raises(ValueError) as caught:
        tables.resolve("nas-bench-201")
    assert one_line(str(caught.value)) == (
        "benchmark table nas-bench-201 is not downloaded; run: raynas tables download nas-bench-201 "
        "(3.0 MB from github.com/v-tao/nats-bench-landscape), or pass the path of a table file"
    )
    with pytest.raises(ValueError, match="^benchmark table channel-bench-macro-resnet is not downloaded; run: "):
        TabularSpace("channel-bench-macro-resnet")
    cache.mkdir()
    (cache / "nas_bench_201_cifar.csv").write_text("")
    assert tables.resolve("nas-bench-201") == str(cache / "nas_bench_201_cifar.csv")


def test_download_checks_the_sha256_and_the_space_keeps_the_name(tiny, cache):
    path = tables.download("tiny")
    assert path == cache / "tiny.json" and path.read_bytes() == Path(tiny.url.removeprefix("file://")).read_bytes()
    assert [p.name for p in cache.iterdir()] == ["tiny.json"]  # no temporary file left
    space = TabularSpace("tiny")
    assert space.path == str(path) and space.size() == 27
    assert space.kwargs() == {"path": "tiny"}  # a recorded search finds it on any machine that downloaded it
    assert TabularSpace("tiny", "mean").kwargs() == {"path": "tiny", "metric": "mean"}
    assert TabularSpace(str(path)).kwargs() == {"path": str(path)}  # given by its path: the path


def test_a_file_that_differs_is_refused_and_nothing_is_written(tmp_path, tiny, cache, monkeypatch):
    other = write_table(tmp_path / "other.json", positions=2)
    monkeypatch.setitem(tables.TABLES, "tiny", dataclasses.replace(tiny, url=other.as_uri()))
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as caught:
        tables.download("tiny")
    assert one_line(str(caught.value)) == (
        f"{other.as_uri()} is not the pinned table tiny: its sha256 is {digest}, not {tiny.sha256}; nothing was "
        "written; try again (a proxy or a cut connection may have changed it)"
    )
    fix = f"pass a copy of {other.as_uri()}"
    with pytest.raises(
        ValueError, match=f"^{re.escape(str(other))} is not the pinned table tiny: .*; {re.escape(fix)}$"
    ):
        tables.download("tiny", source=str(other))
    assert not cache.exists()


def test_from_a_local_file_without_internet(tmp_path, tiny, cache, monkeypatch):
    copy = tmp_path / "copied.json"
    copy.write_bytes(Path(tiny.url.removeprefix("file://")).read_bytes())
    offline = dataclasses.replace(tiny, url=(tmp_path / "unreachable.json").as_uri())
    monkeypatch.setitem(tables.TABLES, "tiny", offline)
    with pytest.raises(ConnectionError) as caught:
        tables.download("tiny")
    message = one_line(str(caught.value))
    assert message.startswith(f"cannot download table tiny from {offline.url} (") and "source=FILE" in message
    assert tables.download("tiny", source=str(copy)) == cache / "tiny.json"
    assert TabularSpace("tiny").size() == 27
    nowhere = str(tmp_path / "nowhere.json")
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(nowhere)} is no file; pass the path of a copy of "):
        tables.download("tiny", source=nowhere)


def test_an_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(ValueError) as caught:
        tables.download("nas-bench-101")
    assert one_line(str(caught.value)) == f"unknown benchmark table 'nas-bench-101'; choose one of: {NAMES}"


def test_cli_lists_the_tables_and_whether_each_is_downloaded(tiny, cache, capsys):
    assert cli.main(["tables"]) == 0
    out = capsys.readouterr().out
    assert "nas-bench-201                   3.0 MB  not downloaded" in out
    assert "channel-bench-macro-mobilenet   2.8 MB  not downloaded" in out
    assert "CIFAR-10, CIFAR-100 and ImageNet16-120; from github.com/v-tao/nats-bench-landscape" in out
    assert f"into {cache}" in out.splitlines()[-1]
    tables.download("tiny")
    assert cli.main(["tables"]) == 0
    assert f"tiny{' ' * 28}0.0 MB  downloaded {cache / 'tiny.json'}\n" in capsys.readouterr().out


def test_cli_downloads_by_name(tmp_path, tiny, cache, capsys, monkeypatch):
    assert cli.main(["tables", "download", "tiny"]) == 0
    assert capsys.readouterr().out == f"[raynas] wrote {cache / 'tiny.json'}\n"
    assert cli.main(["spaces", "--table", "tiny"]) == 0  # a name works wherever a path does
    assert capsys.readouterr().out.startswith("tabular         3 tokens, 27 architectures, ")
    assert cli.main(["params", "--table", "tiny", "--key", "111"]) == 0
    assert capsys.readouterr().out.startswith("6,000 params  key 111  {")
    # --from: the copy of a machine without internet, checked
    offline = dataclasses.replace(tiny, url=(tmp_path / "unreachable.json").as_uri())
    monkeypatch.setitem(tables.TABLES, "tiny", offline)
    assert cli.main(["tables", "download", "tiny"]) == 2
    assert "pass it with --from FILE" in one_line(capsys.readouterr().err)
    upstream = str(tmp_path / "upstream.json")
    assert cli.main(["tables", "download", "tiny", "--from", upstream]) == 0
    assert capsys.readouterr().out == f"[raynas] wrote {cache / 'tiny.json'}\n"
    assert cli.main(["tables", "download", "nas-bench-201", "--from", upstream]) == 2
    assert one_line(capsys.readouterr().err).startswith(
        f"raynas: error: {upstream} is not the pinned table nas-bench-201: its sha256 is "
    )


def test_cli_download_errors_are_one_line(tiny, cache, capsys):
    for args, error in [
        (["nas-bench-101"], f"unknown benchmark table 'nas-bench-101'; choose one of: {NAMES}, tiny"),
        (["tiny", "tiny", "--from", "x.json"], "--from copies one file: give one NAME with it"),
        (["--all", "tiny"], "--all downloads every table; give no NAME with it"),
        ([], "name a table to download (`raynas tables` lists them), or pass --all"),
    ]:
        assert cli.main(["tables", "download", *args]) == 2
        assert one_line(capsys.readouterr().err) == f"raynas: error: {error}"
    assert not cache.exists()
    assert cli.main(["params", "--table", "nas-bench-201", "--tokens", "0,0,0,0,0,0"]) == 2
    assert "run: raynas tables download nas-bench-201 (3.0 MB" in one_line(capsys.readouterr().err)


def test_cli_downloads_every_table(tmp_path, cache, capsys, monkeypatch):
    catalog = {t.name: t for t in (fake(write_table(tmp_path / f"{n}.json", positions=n), f"t{n}") for n in (2, 3))}
    monkeypatch.setattr(tables, "TABLES", catalog)
    assert cli.main(["tables", "download", "--all"]) == 0
    assert capsys.readouterr().out == f"[raynas] wrote {cache / 't2.json'}\n[raynas] wrote {cache / 't3.json'}\n"
    assert TabularSpace("t2").size() == 9 and TabularSpace("t3").size() == 27
