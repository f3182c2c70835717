"""Datasets: the bundled digits, torchvision folders read without downloading, clear errors."""

from __future__ import annotations

import gzip
import os
import struct
import time

import numpy as np
import pytest
import torch
from conftest import run_search

from raynas import data


def test_digits_splits_are_fixed_and_complete():
    a = data.load("digits", seed=0)
    b = data.load("digits", seed=1)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert a.in_channels == 1 and a.image_size == 8
    assert a.train.tensors[0].shape[1:] == (1, 8, 8)
    # the test split does not depend on the search seed; the validation split does
    assert torch.equal(a.test.tensors[0], b.test.tensors[0])
    assert not torch.equal(a.val.tensors[1], b.val.tensors[1])
    assert (len(a.train), len(a.val), len(a.test)) == (1150, 288, 359)


def _idx(path, array: np.ndarray, gzipped: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    content = header + array.astype(np.uint8).tobytes()
    if gzipped:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)


def make_mnist(root, folder="MNIST", n=50, flat=False, gzipped=False):
    """The four idx files of random images: torchvision's layout (``folder/raw``) or flat, plain or gzipped."""
    rng = np.random.default_rng(0)
    raw = root if flat else root / folder / "raw"
    for split, count in (("train", n), ("t10k", n // 2)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (count, 28, 28)), gzipped)
        _idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (count,)), gzipped)
    return root


@pytest.mark.parametrize("flat,gzipped", [(False, False), (True, False), (True, True), (False, True)])
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_loads_from_every_layout(tmp_path, name, folder, flat, gzipped):
    splits = data.load(name, str(make_mnist(tmp_path, folder, flat=flat, gzipped=gzipped)), 0.2, 0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 10, 25)
    assert splits.train.tensors[0].shape[1:] == (1, 28, 28)
    # the same pixels and labels whatever the layout
    reference = data.load(name, str(make_mnist(tmp_path / "reference", folder)), 0.2, 0)
    assert torch.equal(splits.test.tensors[0], reference.test.tensors[0])
    assert torch.equal(splits.train.tensors[1], reference.train.tensors[1])


def test_truncated_idx_file_is_one_clear_line(tmp_path):
    make_mnist(tmp_path, flat=True)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(data.DataError, match="header says .* the file is truncated"):
        data.load("mnist", str(tmp_path), 0.2, 1)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "cannot be read .*Compressed file ended"),  # an interrupted copy
        (lambda b: b"garbage", r"cannot be read \(Not a gzipped file"),
        (lambda b: gzip.compress(b"\0\0\x08\x03\0\0"), r"is not an idx file of unsigned bytes \(bad header\)"),
    ],
)
def test_a_damaged_gz_file_is_one_line_naming_it(tmp_path, damage, message):
    make_mnist(tmp_path, flat=True, gzipped=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DataError, match=f"{path}.* {message}"):
        data.check("mnist", str(tmp_path), 0.2)


def test_a_small_or_testless_dataset_is_refused_before_the_search(tmp_path):
    make_mnist(tmp_path / "small", flat=True, n=30)  # 30 training images: 0.2 leaves 6 to validate on
    with pytest.raises(
        data.DataError,
        match="splits 30 training images into 24 to train on and 6 to validate on; "
        "each needs at least 10: pick a fraction between 0.333 and 0.667",
    ):
        data.check("mnist", str(tmp_path / "small"), 0.2)
    make_mnist(tmp_path / "testless", flat=True)
    _idx(tmp_path / "testless" / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28)))
    _idx(tmp_path / "testless" / "t10k-labels-idx1-ubyte", np.zeros(0))
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte holds no images; the test accuracy needs some"):
        data.check("mnist", str(tmp_path / "testless"), 0.2)


def test_damaged_cifar10_files_are_refused_before_the_search(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in data.EXPECTED_FILES["cifar10"]:
        (tmp_path / name).write_bytes(b"x")  # present, but not the dataset's
    with pytest.raises(
        data.DataError,
        match="is incomplete or damaged .* with the original files "
        r"\(nothing is downloaded\)$",
    ):
        data.check("cifar10", str(tmp_path), 0.2)


@pytest.mark.parametrize(
    "file, array, message",
    [
        ("train-labels-idx1-ubyte", np.arange(50) % 13, r"has label 12; mnist has 10 classes \(0-9\)"),
        (
            "train-labels-idx1-ubyte",
            np.zeros(40),
            r"holds \(40,\) labels for the 50 images of .*; give one label per image",
        ),
        (
            "train-images-idx3-ubyte",
            np.zeros((50, 10, 10)),
            r"holds images of shape \(10, 10\); mnist images are 28x28",
        ),
        ("t10k-images-idx3-ubyte", np.zeros((25, 784)), r"holds images of shape \(784,\); mnist images are 28x28"),
    ],
)
def test_mnist_files_that_do_not_fit_together_are_refused_before_the_search(tmp_path, file, array, message):
    from raynas.settings import SearchSettings
    from raynas.tune.build import make_space

    make_mnist(tmp_path, flat=True)
    _idx(tmp_path / file, array)
    with pytest.raises(data.DataError, match=message):
        make_space(SearchSettings(data="mnist", data_dir=str(tmp_path)))  # in the driver: no trial runs


def test_folder_without_the_files_names_every_layout(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(data.DataError) as err:
        data.check("fashion_mnist", str(tmp_path))
    message = str(err.value)
    assert "FashionMNIST/raw/train-images-idx3-ubyte" in message and "*.gz" in message and "\n" not in message


def test_missing_data_dir_is_one_clear_line(tmp_path):
    with pytest.raises(data.DataError) as err:
        data.load("mnist", str(tmp_path / "nowhere"))
    message = str(err.value)
    assert "does not exist" in message and "MNIST/raw/train-images-idx3-ubyte" in message
    assert "\n" not in message


def test_incomplete_folder_names_the_missing_files(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    with pytest.raises(data.DataError, match="missing cifar-10-batches-py/data_batch_2"):
        data.load("cifar10", str(tmp_path))


def test_dataset_needing_files_without_data_dir():
    with pytest.raises(data.DataError, match="needs data_dir, a folder"):
        data.check("cifar10", None)


def test_a_split_too_small_to_train_or_validate_is_refused_before_anything_runs():
    from raynas.settings import SearchSettings
    from raynas.tune.build import make_space

    with pytest.raises(
        data.DataError,
        match="val_fraction 0.001 splits 1,438 training images into 1,437 to train "
        "on and 1 to validate on; each needs at least 10",
    ):
        make_space(SearchSettings(val_fraction=0.001))
    with pytest.raises(data.DataError, match="val_fraction 0.9999 splits 60,000 .* 6 to train on"):
        data.check("mnist", None, 0.9999)
    assert data.validation_size(1438, 0.01) == 14  # a small share of a big enough split is fine
    with pytest.raises(
        data.DataError,
        match="into 12 to train on and 3 to validate on; each needs at least 10: the "
        "dataset needs at least 20 training images",
    ):
        data.validation_size(15, 0.2)


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="choose one of: digits, mnist"):
        data.check("imagenet", None)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.isdir(data.DEBIAN_DIRS["fashion_mnist"]),
    reason="apt-get install dataset-fashion-mnist (the real dataset) to run this",
)
def test_short_search_on_debians_real_fashion_mnist(ray_session, tmp_path, caplog):
    splits = data.load("fashion_mnist", data.DEBIAN_DIRS["fashion_mnist"])  # four .gz files in one folder
    assert (len(splits.train), len(splits.val), len(splits.test)) == (48_000, 12_000, 10_000)
    start = time.time()
    with caplog.at_level("INFO", logger="raynas"):
        outcome = run_search(
            tmp_path,
            searcher="random",
            data="fashion_mnist",
            data_dir=data.DEBIAN_DIRS["fashion_mnist"],
            max_params=1_500,
            num_samples=2,
            epochs=1,
            concurrency=2,
            batch_size=256,
            lr=0.1,
        )
    # the console shows the trials' progress within the first minute (an epoch takes tens of seconds here)
    progress = [r for r in caplog.records if r.getMessage().startswith(("trial #", "still training: trial #"))]
    assert progress and progress[0].created - start < 60, [r.getMessage() for r in caplog.records]
    rows = outcome.results
    assert len(rows) == 2 and (rows.status == "TERMINATED").all(), rows.error.tolist()
    assert (rows.params <= 1_500).all()
    # ten classes of clothing: a tiny network after one epoch is far above chance (0.1)
    assert outcome.best["val_acc"] > 0.5 and outcome.best["test_acc"] > 0.5
