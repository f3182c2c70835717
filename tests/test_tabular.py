"""Benchmark tables as search spaces: inferred positions and choices, accuracy scale, clear errors."""
from __future__ import annotations

import json

import pytest

from raynas import spaces
from raynas.spaces.tabular import TabularSpace

from conftest import CHANNEL_BENCH, write_table


def test_positions_and_choices_are_inferred_from_keys(tmp_path):
    space = TabularSpace.from_json(str(write_table(tmp_path / "t.json", positions=4, choices=3)))
    assert space.range_table() == [3, 3, 3, 3]
    assert space.choices()[0] == [1, 2, 3]
    assert space.to_arch([0, 1, 2, 0]) == {"position_0": 1, "position_1": 2, "position_2": 3, "position_3": 1}
    assert space.from_arch(space.to_arch([0, 1, 2, 0])) == [0, 1, 2, 0]
    # key "1231": score = 1*1 + 2*2 + 3*3 + 1*4 = 18
    assert space.num_params([0, 1, 2, 0]) == 18_000
    assert space.accuracy([0, 1, 2, 0]) == pytest.approx(0.68)


@pytest.mark.parametrize("field,percent", [("mean", True), ("mean_acc", False)])
def test_accuracy_field_and_scale(tmp_path, field, percent):
    space = TabularSpace.from_json(str(write_table(tmp_path / "t.json", field=field, percent=percent)))
    assert 0 < space.accuracy([0, 0, 0]) < space.accuracy([2, 2, 2]) <= 1


def test_table_with_gaps_marks_missing_architectures(tmp_path):
    space = TabularSpace.from_json(str(write_table(tmp_path / "t.json", skip=2)))
    assert space.size() == 25
    assert not space.contains([0, 0, 0]) and space.contains([2, 2, 2])
    with pytest.raises(ValueError, match="not in table"):
        space.num_params([0, 0, 0])


@pytest.mark.parametrize("content,message", [
    ("not json", "not valid JSON"),
    ("{}", "non-empty JSON object"),
    (json.dumps({"12": {"mean": 90, "params": 3}, "1": {"mean": 90, "params": 3}}), "not 2 digits"),
    (json.dumps({"12": {"acc": 90, "params": 3}}), "needs 'params' and one of mean, mean_acc"),
])
def test_bad_tables_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        TabularSpace.from_json(str(path))


def test_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        spaces.get("tabular", path=str(tmp_path / "nope.json"))


@pytest.mark.skipif(not CHANNEL_BENCH.exists(), reason="needs ../shared/data beside the repository")
def test_channel_bench_macro_table():
    space = TabularSpace.from_json(str(CHANNEL_BENCH))
    assert space.range_table() == [4] * 7 and space.size() == 16_384
    assert space.accuracy(space.from_arch({f"position_{i}": d for i, d in enumerate([4, 4, 3, 2, 2, 1, 4])})) \
        == pytest.approx(0.9344, abs=1e-4)
