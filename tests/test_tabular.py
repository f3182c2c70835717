"""Benchmark tables as search spaces: inferred positions and choices, accuracy scale, clear errors."""
from __future__ import annotations

import json
import random
import re

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
    (json.dumps({"12": {"mean": 90, "params": 3}, "\u00b9\u00b2": {"mean": 90, "params": 3}}),
     "key '\u00b9\u00b2' is not 2 digits 0-9"),
    (b"\xff\xfe{", "is not UTF-8 text"),
])
def test_bad_tables_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        TabularSpace.from_json(str(path))


def test_a_byte_order_mark_is_read_past(tmp_path):
    """Spreadsheets save "CSV UTF-8" and JSON with a byte-order mark before the first column name."""
    path = tmp_path / "t.json"
    path.write_text('{"1": {"mean": 90, "params": 1}, "2": {"mean": 91, "params": 2}}', encoding="utf-8-sig")
    assert TabularSpace.from_json(str(path)).rows() == {(0,): (0.9, 1), (1,): (0.91, 2)}


def test_rows_without_accuracy_are_left_out_and_the_scale_ignores_them(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"11": {"mean": NaN, "params": 1}, "12": {"mean": null, "params": 2}, '
                    '"21": {"mean": 90.0, "params": 3}, "22": {"mean_acc": 92.5, "params": 4}}')
    space = TabularSpace.from_json(str(path))  # a NaN first does not hide the percent scale; fields may differ
    assert space.size() == 2 and not space.contains([0, 0]) and not space.contains([0, 1])
    assert space.accuracy([1, 0]) == pytest.approx(0.9) and space.accuracy([1, 1]) == pytest.approx(0.925)
    assert all(space.contains(space.random_tokens(random.Random(seed))) for seed in range(20))
    # a metric named by a later record, missing its value in the first: that row is left out
    path.write_text('{"1": {"mean": 90, "top1": null, "params": 1}, "2": {"mean": 91, "top1": 80, "params": 2}}')
    assert TabularSpace.from_json(str(path), metric="top1").rows() == {(1,): (0.8, 2)}


@pytest.mark.parametrize("content,message", [
    ('{"1": {"mean": NaN, "params": 1}, "2": {"mean": null, "params": 2}}', "has no row with an accuracy"),
    ('{"1": {"mean": "high", "params": 1}}', "the accuracy of '1' is 'high', not a number; fix that row"),
    ('{"1": {"mean": 90, "params": null}}', "the params of '1' are None, not a whole number; fix that row"),
    ('{"1": {"mean": 90, "params": NaN}}', "the params of '1' are nan, not a whole number; fix that row"),
])
def test_rows_that_cannot_be_read_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)):
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


NB201 = CHANNEL_BENCH.parent / "nas_bench_201_cifar.csv"


def test_nb201_params_are_exact_per_cell_op():
    from raynas.spaces import nb201

    # the NAS-Bench-201 CIFAR-10 network with every edge nor_conv_3x3 (C=16, N=5) has 1,531,546 params
    assert nb201.num_params(["nor_conv_3x3"] * 6) == 1_531_546
    # one 3x3 conv edge costs 9C^2 + 2C in each of the 15 cells; 1x1: C^2 + 2C; pools and skips nothing
    base = nb201.num_params(["none"] * 6)
    assert nb201.num_params(["nor_conv_3x3"] + ["none"] * 5) - base == 5 * sum(9 * c * c + 2 * c for c in (16, 32, 64))
    assert nb201.num_params(["nor_conv_1x1"] + ["none"] * 5) - base == 5 * sum(c * c + 2 * c for c in (16, 32, 64))
    assert nb201.num_params(["avg_pool_3x3", "skip_connect"] + ["none"] * 4) == base
    assert nb201.num_params(["none"] * 6, num_classes=100) - base == 90 * 65


@pytest.mark.parametrize("text", ["|nor_conv_3x3~0|+|none~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_nb201_bad_architecture_strings_are_clear_errors(text):
    from raynas.spaces import nb201

    with pytest.raises(ValueError, match="NAS-Bench-201|edges"):
        nb201.parse_arch(text)


@pytest.mark.skipif(not NB201.exists(), reason="needs ../shared/data beside the repository")
def test_nb201_table_tokens_labels_and_metrics():
    space = TabularSpace(str(NB201))
    assert space.size() == 15_625 and space.range_table() == [5] * 6
    assert space.labels()[0] == "node1<-node0" and space.labels()[-1] == "node3<-node2"
    assert space.choices()[0] == ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    conv = space.from_arch({label: "nor_conv_3x3" for label in space.labels()})
    assert space.num_params(conv) == 1_531_546 and space.params_range() == (73_306, 1_531_546)
    assert space.accuracy(conv) == pytest.approx(0.9376, abs=1e-4)
    cifar100 = spaces.get("tabular", path=str(NB201), metric="cifar100")
    assert cifar100.accuracy(conv) == pytest.approx(0.7111, abs=1e-4)
    assert cifar100.num_params(conv) == 1_531_546 + 90 * 65  # a 100-class classifier
    assert 0.3 < TabularSpace(str(NB201), "ImageNet16-120").accuracy(conv) < 0.5
    with pytest.raises(ValueError, match="unknown --table-metric 'cifar1000'.*cifar10, cifar100, ImageNet16-120"):
        TabularSpace(str(NB201), "cifar1000")


@pytest.mark.skipif(not NB201.exists(), reason="needs ../shared/data beside the repository")
def test_nb201_subset_draws_only_its_rows_and_skips_untrained_ones(tmp_path):
    lines = NB201.read_text().splitlines()
    header, rows = lines[0], lines[1:21]
    column = header.split(",").index("CIFAR10TestAccuracy200Epochs")
    untrained = rows[0].split(",")
    untrained[column] = ""
    subset = tmp_path / "nb201_subset.csv"
    subset.write_text("\n".join([header, ",".join(untrained), *rows[1:]]) + "\n")
    space = TabularSpace(str(subset))
    assert space.size() == 19 and space.range_table() == [5] * 6
    with_bom = tmp_path / "nb201_bom.csv"
    with_bom.write_text(subset.read_text(), encoding="utf-8-sig")
    assert TabularSpace(str(with_bom)).rows() == space.rows()
    repeated = tmp_path / "nb201_repeated.csv"
    repeated.write_text("\n".join([header, *rows, rows[-1]]) + "\n")
    with pytest.raises(ValueError, match="lists architecture .* twice; keep one row per architecture"):
        TabularSpace(str(repeated))
    draws = {tuple(space.random_tokens(random.Random(seed))) for seed in range(200)}
    assert draws == set(space.rows())  # uniform over the 19 rows, never a vector the table lacks


def test_retraining_a_table_architecture_is_one_clear_line(tmp_path, capsys):
    from raynas import cli

    table = write_table(tmp_path / "table.json")
    arch = tmp_path / "best_arch.json"  # as a table replay writes it
    arch.write_text(json.dumps({"space": "tabular", "space_kwargs": {"path": str(table)}, "tokens": [1, 1, 1]}))
    assert cli.main(["retrain", "--arch", str(arch), "--storage-path", str(tmp_path), "--name", "r"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a benchmark table's architecture has no network to train" in err[0]
    assert not (tmp_path / "r").exists()
