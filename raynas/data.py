"""Datasets and their fixed-seed splits.

``digits`` (scikit-learn's bundled 8x8 handwritten digits) needs no files and is the default. ``mnist`` and
``fashion_mnist`` are read from the four idx files in a local folder, in any layout users have them:
torchvision's (``FashionMNIST/raw/...``), flat (the files directly in the folder, as Debian and Keras keep
them) and gzipped (``*.gz``, as published). ``cifar10`` loads through torchvision. Nothing is downloaded.
The validation split is carved from the training data with a fixed seed: search rewards use it only.
The test split is touched only to report the final best architecture.

Example:
    >>> splits = load("digits")
    >>> len(splits.train) + len(splits.val) + len(splits.test)
    1797
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import torch
from torch.utils.data import Subset, TensorDataset

from raynas.settings import named

#: dataset -> (input channels, image size), known without loading anything
SHAPES = {"digits": (1, 8), "mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32)}
DATASETS = tuple(SHAPES)
#: classes of every bundled dataset
NUM_CLASSES = 10
#: images each dataset splits into training and validation (digits: what its fixed test split leaves)
TRAIN_SIZES = {"digits": 1438, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}

# files torchvision needs under --data-dir, per dataset (named in the error when they are missing)
EXPECTED_FILES = {
    "mnist": [
        f"MNIST/raw/{f}"
        for f in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ],
    "fashion_mnist": [
        f"FashionMNIST/raw/{f}"
        for f in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ],
    "cifar10": [
        f"cifar-10-batches-py/{f}"
        for f in (
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        )
    ],
}
#: the four idx files of an MNIST-like dataset, and torchvision's folder for each dataset
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
#: where Debian's packages put a dataset (``apt-get install dataset-fashion-mnist``)
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
#: a split of :class:`Splits`: a map-style dataset that knows its length (torch's ``Dataset`` declares no
#: ``__len__``); CIFAR-10's test split is torchvision's ``CIFAR10``, which has one too (torchvision is untyped)
SizedDataset: TypeAlias = TensorDataset | Subset[Any]


class DataError(ValueError):
    """A dataset cannot be loaded as asked; the message says what to fix."""


@dataclass(frozen=True)
class Splits:
    """Train / validation / test datasets of ``(image, label)`` and the input shape."""

    train: SizedDataset
    val: SizedDataset
    test: SizedDataset
    in_channels: int
    image_size: int
    num_classes: int = 10


def check(name: str, data_dir: str | None, val_fraction: float | None = None, read: bool = True) -> None:
    """Raise :class:`DataError` if ``name`` cannot be loaded from ``data_dir``, or split by ``val_fraction``.
    ``read=False`` skips reading the files (:func:`load` reads them anyway, with the same errors)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if val_fraction is not None:
        validation_size(TRAIN_SIZES[name], val_fraction)
    if name == "digits":
        return
    debian = (
        f"; on Debian: apt-get install dataset-{name.replace('_', '-')}, then {named('data_dir')} {DEBIAN_DIRS[name]}"
        if name in DEBIAN_DIRS
        else ""
    )
    if not data_dir:
        raise DataError(
            f"dataset {name!r} needs {named('data_dir')}, a folder holding {EXPECTED_FILES[name][0]} "
            f"and the other files of the dataset (nothing is downloaded){debian}"
        )
    if not os.path.isdir(data_dir):
        raise DataError(
            f"data dir {data_dir} does not exist; it must hold {', '.join(EXPECTED_FILES[name])}"
            f"{_or_flat(name)}{debian}"
        )
    if name not in TORCHVISION_FOLDERS:
        missing = [f for f in EXPECTED_FILES[name] if not os.path.isfile(os.path.join(data_dir, f))]
        if missing:
            raise DataError(f"dataset {name!r} is incomplete in {data_dir}: missing {', '.join(missing)}")
    if not read:
        return
    if name in TORCHVISION_FOLDERS:
        images = read_mnist_like(name, data_dir)[0]
        if val_fraction is not None:
            validation_size(len(images), val_fraction)
        return
    _read_cifar10(data_dir, train=False)  # checks every file against its checksum, as the trials will


@functools.lru_cache(maxsize=4)
def load(name: str = "digits", data_dir: str | None = None, val_fraction: float = 0.2, seed: int = 0) -> Splits:
    """Load ``name`` and split its training data into train/validation with ``seed``.

    Cached per process, so trials that reuse a Ray actor load the data once.
    """
    check(name, data_dir, val_fraction, read=False)  # the driver checked the files; reading them here says the same
    if name == "digits":
        return _digits(val_fraction, seed)
    assert data_dir, "check() raises DataError for a dataset other than digits without a data dir"
    root = os.path.abspath(data_dir)
    if name == "cifar10":
        return _cifar10(root, val_fraction, seed)
    return _mnist_like(name, root, val_fraction, seed)


#: fewest images in the training or validation split: fewer make the reward noise
MIN_SPLIT = 10


def validation_size(n: int, val_fraction: float) -> int:
    """Images of ``n`` held out for validation; :class:`DataError` when either side has fewer than
    :data:`MIN_SPLIT`.

    Example:
        >>> validation_size(TRAIN_SIZES["digits"], 0.2)
        288
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"{named('val_fraction')} must be between 0 and 1, got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if min(n_val, n - n_val) < MIN_SPLIT:
        fix = (
            f"pick a fraction between {MIN_SPLIT / n:.3g} and {1 - MIN_SPLIT / n:.3g}"
            if n >= 2 * MIN_SPLIT
            else f"the dataset needs at least {2 * MIN_SPLIT} training images"
        )
        raise DataError(
            f"{named('val_fraction')} {val_fraction} splits {n:,} training images into {n - n_val:,} to train on and "
            f"{n_val:,} to validate on; each needs at least {MIN_SPLIT}: {fix}"
        )
    return n_val


def _split(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    n_val = validation_size(n, val_fraction)
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def _digits(val_fraction: float, seed: int) -> Splits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    # a fixed 20% test split, independent of the search seed
    test_idx = set(np.random.default_rng(12345).permutation(len(labels))[: len(labels) // 5].tolist())
    pool = [i for i in range(len(labels)) if i not in test_idx]
    test = sorted(test_idx)
    mean, std = images[pool].mean(), images[pool].std()
    images = (images - mean) / std
    train, val = _split(len(pool), val_fraction, seed)
    pool_t = torch.tensor(pool)
    return Splits(
        train=TensorDataset(images[pool_t[train]], labels[pool_t[train]]),
        val=TensorDataset(images[pool_t[val]], labels[pool_t[val]]),
        test=TensorDataset(images[test], labels[test]),
        in_channels=1,
        image_size=8,
    )


def _or_flat(name: str) -> str:
    return " (or the same four files directly in it; each may be gzipped, *.gz)" if name in TORCHVISION_FOLDERS else ""


def idx_paths(name: str, data_dir: str) -> list[str]:
    """The four idx files of ``name`` in ``data_dir``: torchvision's layout, flat, each plain or ``.gz``."""
    folders = [os.path.join(data_dir, TORCHVISION_FOLDERS[name], "raw"), data_dir]
    paths = []
    for file in IDX_FILES:
        found = [
            os.path.join(folder, file + ext)
            for folder in folders
            for ext in ("", ".gz")
            if os.path.isfile(os.path.join(folder, file + ext))
        ]
        if not found:
            raise DataError(
                f"dataset {name!r} is incomplete in {data_dir}: missing "
                f"{TORCHVISION_FOLDERS[name]}/raw/{file}{_or_flat(name)}"
            )
        paths.append(found[0])
    return paths


def read_idx(path: str) -> np.ndarray:
    """An idx file of unsigned bytes (the MNIST format), plain or gzipped, as an array of its shape."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # a damaged or cut-short .gz
        raise DataError(f"{path} cannot be read ({exc}); replace it with the original dataset file") from None
    if len(raw) < 4 or raw[:3] != b"\0\0\x08" or len(raw) < 4 + 4 * raw[3]:
        raise DataError(
            f"{path} is not an idx file of unsigned bytes (bad header); replace it with the original dataset file"
        )
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} values, its header says {shape}; the file is truncated")
    return body.reshape(shape)


def read_mnist_like(name: str, data_dir: str) -> list[np.ndarray]:
    """Training images and labels, test images and labels of ``name`` in ``data_dir``; files that do not fit
    together (counts, image size, labels beyond the classes) are a :class:`DataError` naming the file."""
    paths = idx_paths(name, data_dir)
    arrays = [read_idx(p) for p in paths]
    size = SHAPES[name][1]
    for (images, labels), (image_path, label_path) in zip((arrays[:2], arrays[2:]), (paths[:2], paths[2:])):
        if images.ndim != 3 or images.shape[1:] != (size, size):
            raise DataError(f"{image_path} holds images of shape {images.shape[1:]}; {name} images are {size}x{size}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(
                f"{label_path} holds {labels.shape} labels for the {len(images)} images of {image_path}; "
                "give one label per image"
            )
        if len(labels) and labels.max() >= NUM_CLASSES:
            raise DataError(f"{label_path} has label {labels.max()}; {name} has {NUM_CLASSES} classes (0-9)")
    if len(arrays[0]) < 2 * MIN_SPLIT:
        raise DataError(
            f"{paths[0]} holds {len(arrays[0])} images; training and validation need at least {2 * MIN_SPLIT}"
        )
    if not len(arrays[2]):
        raise DataError(f"{paths[2]} holds no images; the test accuracy needs some")
    return arrays


def _mnist_like(name: str, root: str, val_fraction: float, seed: int) -> Splits:
    train_x, train_y, test_x, test_y = (torch.from_numpy(a.copy()) for a in read_mnist_like(name, root))
    x, y = train_x.unsqueeze(1).float() / 255.0, train_y.long()
    x_test, y_test = test_x.unsqueeze(1).float() / 255.0, test_y.long()
    mean, std = x.mean(), x.std()
    train, val = _split(len(y), val_fraction, seed)
    return Splits(
        train=TensorDataset((x[train] - mean) / std, y[train]),
        val=TensorDataset((x[val] - mean) / std, y[val]),
        test=TensorDataset((x_test - mean) / std, y_test),
        in_channels=1,
        image_size=x.shape[-1],
    )


def _read_cifar10(root: str, train: bool, transform: Any = None) -> Any:
    """torchvision's CIFAR-10 in ``root`` (it checks every file's checksum); :class:`DataError` when damaged."""
    from torchvision import datasets

    try:
        return datasets.CIFAR10(root, train=train, download=False, transform=transform)
    except (RuntimeError, OSError, ValueError) as exc:
        what = (
            "incomplete or damaged (the files' checksums differ from the dataset's)"
            if "corrupted" in str(exc)
            else f"unreadable ({exc})"
        )
        raise DataError(
            f"dataset 'cifar10' in {root} is {what}; replace {', '.join(EXPECTED_FILES['cifar10'])} "
            "with the original files (nothing is downloaded)"
        ) from None


def _cifar10(root: str, val_fraction: float, seed: int) -> Splits:
    from torchvision import transforms

    normalize = [transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]
    augment = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), *normalize])
    plain = transforms.Compose(normalize)
    augmented = _read_cifar10(root, train=True, transform=augment)
    unaugmented = _read_cifar10(root, train=True, transform=plain)
    test = _read_cifar10(root, train=False, transform=plain)
    train, val = _split(len(augmented), val_fraction, seed)
    return Splits(train=Subset(augmented, train), val=Subset(unaugmented, val), test=test, in_channels=3, image_size=32)
