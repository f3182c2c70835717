"""Shared fixtures: one Ray session for the whole run, small benchmark tables, the published tables when downloaded."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# workers import trainables defined in test modules
TEST_RUNTIME_ENV = {
    "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
}


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every test: 4 logical CPUs and 2 fake GPUs."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=4,
        num_gpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        runtime_env=TEST_RUNTIME_ENV,
    )
    yield ray
    ray.shutdown()


def write_table(
    path: Path, positions: int = 3, choices: int = 3, field: str = "mean", percent: bool = True, skip: int = 0
) -> Path:
    """A synthetic benchmark table whose accuracy and params grow with every digit (minus ``skip`` rows)."""
    table = {}
    for i, digits in enumerate(itertools.product(range(1, choices + 1), repeat=positions)):
        if i < skip:
            continue
        key = "".join(str(d) for d in digits)
        score = sum(d * (p + 1) for p, d in enumerate(digits))
        acc = 0.5 + score / 100
        table[key] = {field: acc * 100 if percent else acc, "params": 1000 * score, "flops": 1}
    path.write_text(json.dumps(table))
    return path


#: the columns of a NAS-Bench-201 CSV, and the operations of its cell edges
NB201_HEADER = (
    "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,"
    "ArchitectureString,UniqueString"
)
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def nb201_arch(tokens: tuple[int, ...]) -> str:
    """The ``ArchitectureString`` of a cell whose 6 edges have the operations ``NB201_OPS[token]``."""
    a, b, c, d, e, f = (NB201_OPS[t] for t in tokens)
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def write_nb201(path: Path, count: int | None = None) -> Path:
    """A synthetic NAS-Bench-201 CSV of the first ``count`` cells (all 15,625 by default) in token order, their
    accuracies (percent) growing with the sum of the tokens: ``50 + sum`` on CIFAR-10, ``20 + sum`` on CIFAR-100,
    ``10 + sum`` on ImageNet16-120."""
    lines = [NB201_HEADER]
    for tokens in itertools.islice(itertools.product(range(len(NB201_OPS)), repeat=6), count):
        score = sum(tokens)
        lines.append(f"{50 + score},{20 + score},{10 + score},{nb201_arch(tokens)},cell{score}")
    path.write_text("\n".join(lines) + "\n")
    return path


def published(name: str) -> str:
    """``name``, a published table, once it is downloaded; the test is skipped when it is not."""
    from raynas.spaces import tables

    try:
        tables.resolve(name)
    except ValueError:
        pytest.skip(f"needs the published table {name}: raynas tables download {name}")
    return name


@pytest.fixture
def small_table(tmp_path) -> Path:
    return write_table(tmp_path / "table.json")


def run_search(tmp_path: Path, name: str = "s", function=None, **values):
    """``raynas.runs.search.run`` with settings ``values`` (and trial ``function``), stored under ``tmp_path``."""
    from raynas.runs.search import run
    from raynas.settings import SearchSettings

    return run(SearchSettings.from_dict({"storage_path": str(tmp_path), "name": name, **values}), function)


def kill_cli_when(args: list[str], ready: Callable[[], bool], before_kill: Callable[[], None] | None = None) -> None:
    """Start ``raynas ARGS`` in its own process and SIGKILL it once ``ready()`` holds (after calling
    ``before_kill``, while it still runs)."""
    driver = subprocess.Popen(
        [sys.executable, "-m", "raynas.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and not ready():
        assert driver.poll() is None, "the command ended before it could be killed"
        time.sleep(0.2)
    if before_kill is not None:
        before_kill()
    driver.send_signal(signal.SIGKILL)
    driver.wait()
