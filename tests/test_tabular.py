"""Benchmark tables as search spaces: inferred positions and choices, accuracy scale, clear errors."""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest
from conftest import nb201_arch, published, write_nb201, write_table

from raynas import spaces
from raynas.spaces.tabular import TabularSpace


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
    with pytest.raises(ValueError, match="has no row with an accuracy in table"):
        space.num_params([0, 0, 0])


@pytest.mark.parametrize(
    "content,message",
    [
        ("not json", "not valid JSON"),
        ("{}", "non-empty JSON object"),
        (json.dumps({"12": {"mean": 90, "params": 3}, "1": {"mean": 90, "params": 3}}), "not 2 digits"),
        (
            json.dumps({"12": {"acc": 90, "params": 3}}),
            "record '12' needs one of mean, mean_acc, or pass a metric naming its accuracy field",
        ),
        (
            json.dumps({"12": {"mean": 90, "params": 3}, "\u00b9\u00b2": {"mean": 90, "params": 3}}),
            "key '\u00b9\u00b2' is not 2 digits 0-9",
        ),
        (b"\xff\xfe{", "is not UTF-8 text"),
        ('{"12": {"mean": 90, "params": 3}, "12": {"mean": 91, "params": 4}}', "lists key '12' twice; keep one record"),
    ],
)
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
    path.write_text(
        '{"11": {"mean": NaN, "params": 1}, "12": {"mean": null, "params": 2}, '
        '"21": {"mean": 90.0, "params": 3}, "22": {"mean_acc": 92.5, "params": 4}}'
    )
    space = TabularSpace.from_json(str(path))  # a NaN first does not hide the percent scale; fields may differ
    assert space.size() == 2 and not space.contains([0, 0]) and not space.contains([0, 1])
    assert space.accuracy([1, 0]) == pytest.approx(0.9) and space.accuracy([1, 1]) == pytest.approx(0.925)
    assert all(space.contains(space.random_tokens(random.Random(seed))) for seed in range(20))
    # a metric named by a later record, missing its value in the first: that row is left out
    path.write_text('{"1": {"mean": 90, "top1": null, "params": 1}, "2": {"mean": 91, "top1": 80, "params": 2}}')
    assert TabularSpace.from_json(str(path), metric="top1").rows() == {(1,): (0.8, 2)}


@pytest.mark.parametrize(
    "content,message",
    [
        (
            '{"1": {"mean": NaN, "params": 1}, "2": {"mean": null, "params": 2}}',
            "has no row with an accuracy (all are empty, null or NaN)",
        ),
        ('{"1": {"mean": "high", "params": 1}}', "the accuracy of '1' is 'high', not a number; fix that row"),
        ('{"1": {"mean": 90, "params": null}}', "the params of '1' are None, not a whole number of 0 or more"),
        ('{"1": {"mean": 90, "params": NaN}}', "the params of '1' are nan, not a whole number of 0 or more"),
        (
            '{"1": {"mean": 90, "params": -5}}',
            "the params of '1' are -5, not a whole number of 0 or more; fix that row",
        ),
    ],
)
def test_rows_that_cannot_be_read_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)):
        TabularSpace.from_json(str(path))


def test_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        spaces.get("tabular", path=str(tmp_path / "nope.json"))


def _table(tmp_path, records: dict) -> str:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(records))
    return str(path)


def test_the_metric_field_is_the_accuracy_when_records_have_no_mean(tmp_path):
    path = _table(
        tmp_path,
        {
            "11": {"top1": 0.7, "params": 1000},
            "12": {"top1": 0.72, "params": 1100},
            "21": {"top1": 0.71, "params": 1200},
            "22": {"top1": 0.74, "params": 1300},
        },
    )
    assert TabularSpace(path, "top1").rows() == {
        (0, 0): (0.7, 1000),
        (0, 1): (0.72, 1100),
        (1, 0): (0.71, 1200),
        (1, 1): (0.74, 1300),
    }
    with pytest.raises(ValueError, match="record '11' needs one of mean, mean_acc, or pass a metric"):
        TabularSpace(path)


def test_only_accuracies_are_metrics_not_a_spread_or_a_cost(tmp_path):
    path = _table(
        tmp_path,
        {
            "1": {"mean": 90, "std": 0.3, "top1_std": 0.2, "latency_ms": 5, "params": 1},
            "2": {"mean": 91, "std": 0.1, "top1_std": 0.4, "latency_ms": 6, "params": 2},
        },
    )
    for field in ("std", "top1_std", "latency_ms", "params"):
        with pytest.raises(ValueError, match=f"^metric '{field}' of table .* is no accuracy .*; choose one of: mean$"):
            TabularSpace(path, field)
    with pytest.raises(ValueError, match="^unknown metric 'acc' for table .*; choose one of: mean$"):
        TabularSpace(path, "acc")


def test_a_metric_some_records_lack_names_them(tmp_path):
    path = _table(
        tmp_path,
        {"1": {"mean": 90, "top1": 80, "params": 1}, "2": {"mean": 91, "params": 2}, "3": {"mean": 92, "params": 3}},
    )
    with pytest.raises(ValueError) as error:
        TabularSpace(path, "top1")
    assert "2 of 3 records have no 'top1' field (the first: '2'); pass a metric every record holds" in str(
        error.value
    ) and "unknown" not in str(error.value)


def test_a_null_mean_falls_back_to_mean_acc(tmp_path):
    path = _table(
        tmp_path, {"1": {"mean": None, "mean_acc": 0.6, "params": 1}, "2": {"mean": None, "mean_acc": 0.7, "params": 2}}
    )
    assert TabularSpace(path).rows() == {(0,): (0.6, 1), (1,): (0.7, 2)}


def test_fractions_and_percents_mixed_are_one_error_naming_a_row_of_each(tmp_path):
    path = _table(
        tmp_path,
        {
            "11": {"mean": 60, "params": 1},
            "12": {"mean": 0.62, "params": 2},
            "21": {"mean": 70, "params": 3},
            "22": {"mean": 0.72, "params": 4},
        },
    )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "mixes fractions and percents ('12' has 0.62, '11' has 60); give "
            "all accuracies as fractions (0-1) or all as percents (0-100)"
        ),
    ):
        TabularSpace(path)
    # chance level in a percent table (NAS-Bench-201's CIFAR-100 has rows of 1%) is a percent, and 0 is either
    path = _table(
        tmp_path, {"1": {"mean": 1.0, "params": 1}, "2": {"mean": 0, "params": 2}, "3": {"mean": 73.5, "params": 3}}
    )
    assert TabularSpace(path).rows() == {(0,): (0.01, 1), (1,): (0.0, 2), (2,): (0.735, 3)}
    # and so is a rare failed row of a 1000-class benchmark (0.1 %) among many percents
    path = _table(tmp_path, {str(i): {"mean": 0.1 if i == 10 else 50 + i, "params": i} for i in range(10, 30)})
    assert TabularSpace(path).rows()[(0, 0)] == (0.001, 10)
    # but one fraction among twenty percents, a typical accuracy of the table read as a fraction, is a mistake
    rows = {str(i): {"mean": 80 + i / 2, "params": i} for i in range(10, 30)}
    path = _table(tmp_path, {**rows, "30": {"mean": 0.92, "params": 30}})
    with pytest.raises(ValueError, match=re.escape("mixes fractions and percents ('30' has 0.92, '10' has 85)")):
        TabularSpace(path)
    # a fraction table with float noise above 1 is still a fraction table
    path = _table(tmp_path, {"1": {"mean": 0.91, "params": 1}, "2": {"mean": 1.0000001, "params": 2}})
    assert TabularSpace(path).rows()[(0,)] == (0.91, 1)


@pytest.mark.parametrize(
    "value,message",
    [
        (150, "the accuracy of '1' is 150, outside [0, 1] as a fraction and [0, 100] as percent; fix that row"),
        (-3, "the accuracy of '1' is -3, outside [0, 1] as a fraction and [0, 100] as percent; fix that row"),
        (True, "the accuracy of '1' is True, not a number; fix that row"),
    ],
)
def test_accuracies_out_of_range_or_booleans_are_errors(tmp_path, value, message):
    path = _table(tmp_path, {"1": {"mean": value, "params": 1}, "2": {"mean": 90, "params": 2}})
    with pytest.raises(ValueError, match=re.escape(message)):
        TabularSpace(path)


def test_params_of_a_folder_or_a_metric_without_table_are_one_clear_line(tmp_path, capsys):
    from raynas import cli

    for args, message in [
        (
            ["params", "--table", str(tmp_path), "--tokens", "0"],
            f"benchmark table {tmp_path} is a folder, not a table file",
        ),
        (["params", "--table-metric", "cifar100", "--tokens", "3,3,4,4"], "--table-metric needs --table"),
        (["params", "--key", "1111"], "--key needs --table"),
        (
            ["search", "sanas", "--table-metric", "cifar100", "--storage-path", str(tmp_path)],
            "--table-metric needs --table",
        ),
    ]:
        assert cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"raynas: error: {message}"), err
    assert not (tmp_path / "search").exists()


def test_params_of_a_table_row_by_tokens_or_key(tmp_path, capsys):
    from raynas import cli

    table = str(write_table(tmp_path / "table.json"))  # digits 1-3: key "111" is tokens 0,0,0
    assert cli.main(["params", "--table", table, "--tokens", "0,0,0"]) == 0
    by_tokens = capsys.readouterr().out
    assert by_tokens.startswith("6,000 params  key 111  {") and '"position_0": 1' in by_tokens
    assert cli.main(["params", "--table", table, "--key", "111"]) == 0
    assert capsys.readouterr().out == by_tokens
    assert cli.main(["params", "--table", table, "--tokens", "1,1,1"]) == 0  # indices, not digits: key 222
    assert capsys.readouterr().out.startswith("12,000 params  key 222  {")
    assert cli.main(["params", "--table", table, "--key", "1114"]) == 2
    assert "key '1114' is not 3 digits like the keys of table" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["params", "--help"])
    assert "comma-separated choice indices" in " ".join(capsys.readouterr().out.split())


def test_channel_bench_macro_table():
    space = TabularSpace(published("channel-bench-macro-resnet"))
    assert space.range_table() == [4] * 7 and space.size() == 16_384
    assert space.accuracy(
        space.from_arch({f"position_{i}": d for i, d in enumerate([4, 4, 3, 2, 2, 1, 4])})
    ) == pytest.approx(0.9344, abs=1e-4)


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


@pytest.mark.parametrize(
    "text",
    [
        "|nor_conv_3x3~0|+|none~0|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_nb201_bad_architecture_strings_are_clear_errors(text):
    from raynas.spaces import nb201

    with pytest.raises(ValueError, match="NAS-Bench-201|edges"):
        nb201.parse_arch(text)


CONV_KEY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_nb201_table_tokens_labels_params_and_metrics(tmp_path):
    table = str(write_nb201(tmp_path / "nb201.csv"))  # every cell; CIFAR-10 accuracy 50 + sum of the tokens
    space = TabularSpace(table)
    assert space.size() == 15_625 and space.range_table() == [5] * 6
    assert space.labels() == [f"node{j}<-node{i}" for j, i in [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]]
    assert space.choices() == [["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]] * 6
    conv = space.from_arch({label: "nor_conv_3x3" for label in space.labels()})
    assert conv == [3] * 6 and space.key(conv) == CONV_KEY and space.tokens_of(CONV_KEY) == conv
    assert space.num_params(conv) == 1_531_546 and space.params_range() == (73_306, 1_531_546)
    assert space.accuracy(conv) == pytest.approx(0.68) and space.accuracy([0] * 6) == pytest.approx(0.5)
    cell = (4, 0, 2, 1, 3, 0)
    assert space.key(cell) == nb201_arch(cell) and space.tokens_of(nb201_arch(cell)) == list(cell)
    cifar100 = spaces.get("tabular", path=table, metric="cifar100")
    assert cifar100.accuracy(conv) == pytest.approx(0.38)
    assert cifar100.num_params(conv) == 1_531_546 + 90 * 65  # a 100-class classifier
    assert cifar100.params_range() == (73_306 + 90 * 65, 1_531_546 + 90 * 65)
    imagenet = TabularSpace(table, "ImageNet16-120")
    assert imagenet.accuracy(conv) == pytest.approx(0.28) and imagenet.num_params(conv) == 1_531_546 + 110 * 65
    with pytest.raises(ValueError, match="unknown metric 'cifar1000'.*cifar10, cifar100, ImageNet16-120"):
        TabularSpace(table, "cifar1000")


def test_nb201_published_table_by_name():
    """NAS-Bench-201's published accuracies, read by name from the tables folder."""
    space = TabularSpace(published("nas-bench-201"))
    assert space.size() == 15_625 and space.kwargs() == {"path": "nas-bench-201"}
    conv = space.tokens_of(CONV_KEY)
    assert space.num_params(conv) == 1_531_546 and space.params_range() == (73_306, 1_531_546)
    assert space.accuracy(conv) == pytest.approx(0.9376, abs=1e-4)
    cifar100 = spaces.get("tabular", path="nas-bench-201", metric="cifar100")
    assert cifar100.accuracy(conv) == pytest.approx(0.7111, abs=1e-4)
    assert 0.3 < TabularSpace("nas-bench-201", "ImageNet16-120").accuracy(conv) < 0.5


def test_nb201_subset_draws_only_its_rows_and_skips_untrained_ones(tmp_path):
    lines = write_nb201(tmp_path / "nb201.csv", count=20).read_text().splitlines()
    header, rows = lines[0], lines[1:]
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
    for name in ("NB201.CSV", "nb201.txt"):  # a CSV whatever its name says
        (tmp_path / name).write_text(subset.read_text())
        assert TabularSpace(str(tmp_path / name)).rows() == space.rows()
    repeated = tmp_path / "nb201_repeated.csv"
    repeated.write_text("\n".join([header, *rows, rows[-1]]) + "\n")
    with pytest.raises(ValueError, match="lists architecture .* twice; keep one row per architecture"):
        TabularSpace(str(repeated))
    fields = len(header.split(","))
    for last, count in ((rows[-1].split(",")[column], 1), (rows[-1] + ",0.5", fields + 1)):  # cut short, or longer
        damaged = tmp_path / "nb201_damaged.csv"
        damaged.write_text("\n".join([header, *rows[:-1], last]) + "\n")
        with pytest.raises(
            ValueError,
            match=f"^benchmark table {re.escape(str(damaged))}: row 21 has {count} fields "
            f"and the header {fields}; complete the row or remove it$",
        ):
            TabularSpace(str(damaged))
    missing = next(t for t in itertools.product(range(5), repeat=6) if t not in space.rows())
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"architecture {list(missing)} (key {space.key(missing)}) has no row with an accuracy in table {subset}"
        ),
    ):
        space.num_params(missing)
    draws = {tuple(space.random_tokens(random.Random(seed))) for seed in range(200)}
    assert draws == set(space.rows())  # uniform over the 19 rows, never a vector the table lacks


def test_retraining_a_table_architecture_is_one_clear_line(tmp_path, capsys):
    from raynas import cli

    table = write_table(tmp_path / "table.json")
    arch = tmp_path / "best_arch.json"  # as a table replay writes it
    arch.write_text(
        json.dumps({"space": "tabular", "space_kwargs": {"path": str(table)}, "tokens": [1, 1, 1], "data": None})
    )
    assert cli.main(["retrain", "--arch", str(arch), "--storage-path", str(tmp_path), "--name", "r"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a benchmark table's architecture has no network to train" in err[0]
    assert not (tmp_path / "r").exists()


def test_a_table_changed_since_the_search_started_is_refused(tmp_path):
    from raynas.spaces import record

    table = write_table(tmp_path / "table.json")
    record.write(str(tmp_path), "s", TabularSpace(str(table)))
    record.check_unchanged(str(tmp_path), "s", TabularSpace(str(table)))  # the same table: fine
    rows = json.loads(table.read_text())
    rows["111"]["mean"] = 99.5  # one accuracy edited: the results before and after would not compare
    table.write_text(json.dumps(rows))
    with pytest.raises(
        ValueError,
        match=f"^the table {re.escape(str(table))} changed since search 's' started "
        r"\(its rows' accuracies or parameter counts differ\)",
    ):
        record.check_unchanged(str(tmp_path), "s", TabularSpace(str(table)))
    saved = json.loads((tmp_path / "s" / record.SPACE_FILE).read_text())
    del saved["fingerprint"]  # recorded before fingerprints existed: labels and choices are checked
    (tmp_path / "s" / record.SPACE_FILE).write_text(json.dumps(saved))
    record.check_unchanged(str(tmp_path), "s", TabularSpace(str(table)))
