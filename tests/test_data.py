"""Datasets: the bundled digits, torchvision folders read without downloading, clear errors."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

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


def _idx(path, array: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist(root, folder="MNIST", n=50):
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    for split, count in (("train", n), ("t10k", n // 2)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (count, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (count,)))
    return root


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_loads_from_a_local_folder(tmp_path, name, folder):
    splits = data.load(name, str(make_mnist(tmp_path, folder)), 0.2, 0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 10, 25)
    assert splits.train.tensors[0].shape[1:] == (1, 28, 28)


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
    with pytest.raises(data.DataError, match="needs --data-dir"):
        data.check("cifar10", None)


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="choose one of: digits, mnist"):
        data.check("imagenet", None)
