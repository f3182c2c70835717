"""The examples in the docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "raynas.settings",
    "raynas.devices",
    "raynas.searchers.sa",
    "raynas.searchers.choice_means",
    "raynas.spaces",
    "raynas.spaces.base",
    "raynas.spaces.channel",
    "raynas.data",
    "raynas.results",
    "raynas.analysis",
    "raynas.spaces.choices",
    "raynas.spaces.mobile",
    "raynas.spaces.export",
    "raynas.spaces.sampling",
    "raynas.spaces.tables",
    "raynas.trainables.calibration",
    "raynas.trainables.supernet",
    "raynas.spaces.darts",
    "raynas.spaces.darts.operations",
    "raynas.spaces.darts.genotypes",
    "raynas.spaces.darts.network",
    "raynas.spaces.darts.supernet",
    "raynas.trainables.architect",
    "raynas.trainables.darts",
    "raynas.runs.pipeline",
    "raynas.spaces.relaxed",
    "raynas.storage",
    "raynas.tune.schedulers",
    "raynas.tune.cluster",
    "raynas.tune.build",
    "raynas.runs.search",
    "raynas.runs.base",
    "raynas.runs.registry",
    "raynas.log",
    "raynas.spaces.build",
    "raynas._legacy",
    "raynas.spaces.tabular",
    "raynas.drawing",
    "raynas.tune.board",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    failed, attempted = doctest.testmod(importlib.import_module(name))
    assert attempted > 0 and failed == 0
