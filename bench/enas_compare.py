"""ENAS against the one-shot search (SPOS + SA selection) and DARTS on the same space, data and wall time.

One run, after one ``ray.init(num_cpus=2)``, on Fashion-MNIST subsampled to ``--train-images`` training images
(the validation split is carved from them, 20 %) and ``--test-images`` test images, written as idx files to a
temporary folder (the full set takes minutes per epoch on 2 CPUs), the ``mobile`` space under ``--max-params``:

1. **ENAS** (:func:`raynas.runs.enas.train`): shared weights and controller, then the architectures derived
   from the controller, scored on the shared weights; the best score is the architecture it returns.
2. **One-shot**: the one-shot search's supernet stage (uniform single-path training) and its subnet stage
   (``--subnets`` subnets proposed by SA, scored on the shared weights); the best score is returned.
3. **DARTS** on the same space (its continuous relaxation, first order): the argmax architecture.

The retrain stage each method runs on its own is left out: each returned architecture is retrained here with
the same recipe and ``--retrain-seeds`` seeds (``--retrain-epochs`` epochs, the retrain recipe), and the mean
and spread of its stand-alone validation and test accuracy are reported beside the wall time each search took.
The epochs of each search are given so that the three take about the same time (``--enas-epochs``,
``--oneshot-epochs``, ``--darts-epochs``); their measured times are in the output.

Usage:
    python -m bench.enas_compare --data-dir /usr/share/datasets/fashion-mnist --json bench/results/enas_compare.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import ray

from raynas import data
from raynas.runs import darts, enas, oneshot
from raynas.runs import retrain as fixed
from raynas.settings import SearchSettings, one_shot_stages
from raynas.trainables.retrain import test_accuracy
from raynas.tune.build import make_space, trial_settings


def subsample(data_dir: str, out: str, train: int, test: int, seed: int = 0) -> None:
    """Write ``train`` training and ``test`` test images of Fashion-MNIST (drawn with ``seed``) as idx files."""
    images, labels, test_images, test_labels = data.read_mnist_like("fashion_mnist", data_dir)
    rng = np.random.default_rng(seed)
    keep, keep_test = rng.permutation(len(images))[:train], rng.permutation(len(test_images))[:test]
    parts = {
        "train-images-idx3-ubyte": images[np.sort(keep)],
        "train-labels-idx1-ubyte": labels[np.sort(keep)],
        "t10k-images-idx3-ubyte": test_images[np.sort(keep_test)],
        "t10k-labels-idx1-ubyte": test_labels[np.sort(keep_test)],
    }
    for name, array in parts.items():
        header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
        with open(os.path.join(out, name), "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())


def timed(fn, *args) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def best_scored(frame) -> list[int]:
    """The tokens of the best shared-weight score (ties: fewer params)."""
    done = frame[frame.reward.notna()].sort_values(["reward", "params"], ascending=[False, True])
    return json.loads(done.tokens.iloc[0])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder of the Fashion-MNIST idx files")
    p.add_argument("--train-images", type=int, default=12000)
    p.add_argument("--test-images", type=int, default=5000)
    p.add_argument("--max-params", default="20k")
    p.add_argument("--enas-epochs", type=int, default=6)
    p.add_argument("--controller-steps", type=int, default=10)
    p.add_argument("--oneshot-epochs", type=int, default=8)
    p.add_argument("--subnets", type=int, default=30)
    p.add_argument("--darts-epochs", type=int, default=6)
    p.add_argument("--retrain-epochs", type=int, default=5)
    p.add_argument("--retrain-seeds", type=int, default=3)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    root = tempfile.mkdtemp(prefix="enas-compare-")
    data_dir = os.path.join(root, "data")
    os.makedirs(data_dir)
    subsample(args.data_dir, data_dir, args.train_images, args.test_images)
    common = {
        "space": "mobile",
        "data": "fashion_mnist",
        "data_dir": data_dir,
        "max_params": args.max_params,
        "storage_path": os.path.join(root, "runs"),
        "num_subnets": args.subnets,
    }
    results: dict[str, dict[str, Any]] = {}

    enas_settings = SearchSettings.from_dict(
        {
            **common,
            "searcher": "enas",
            "name": "enas",
            "supernet_epochs": args.enas_epochs,
            "controller_steps": args.controller_steps,
        }
    )
    space = make_space(enas_settings)
    with one_shot_stages():
        frame, seconds = timed(enas.train, enas_settings, space)
    results["enas"] = {"tokens": best_scored(frame), "search_s": seconds, "epochs": args.enas_epochs}

    shot = SearchSettings.from_dict(
        {**common, "searcher": "oneshot", "name": "oneshot", "supernet_epochs": args.oneshot_epochs}
    )
    with one_shot_stages():
        checkpoint, first = timed(oneshot.train_supernet, shot, space)
        frame, second = timed(oneshot.search_subnets, shot, space, checkpoint)
    results["oneshot"] = {"tokens": best_scored(frame), "search_s": first + second, "epochs": args.oneshot_epochs}

    darts_settings = darts.DartsSettings.from_dict(
        {
            "space": "mobile",
            "data": "fashion_mnist",
            "data_dir": data_dir,
            "epochs": args.darts_epochs,
            "storage_path": common["storage_path"],
            "name": "darts",
        }
    )
    outcome, seconds = timed(darts.run, darts_settings)
    assert outcome.best is not None, "the DARTS search failed"
    results["darts"] = {"tokens": outcome.best["tokens"], "search_s": seconds, "epochs": args.darts_epochs}

    retrain = SearchSettings.from_dict(
        {k: v for k, v in common.items() if k != "num_subnets"} | {"epochs": args.retrain_epochs}
    )
    architectures = [results[m]["tokens"] for m in results]
    for seed in range(args.retrain_seeds):
        st = dataclasses.replace(retrain, seed=seed, name=f"retrain_seed{seed}")
        grid = fixed.retrain(st, space, architectures).grid
        assert grid is not None
        for result in (grid[i] for i in range(len(grid))):
            method = next(m for m in results if results[m]["tokens"] == list(result.config["tokens"]))
            results[method].setdefault("val_acc", []).append(float(result.metrics["val_acc"]))
            results[method].setdefault("test_acc", []).append(
                test_accuracy(result.checkpoint, trial_settings(st, space))
            )
    for r in results.values():
        r["params"] = space.num_params(r["tokens"])
        r["arch"] = space.to_arch(r["tokens"])
        r["val_acc_mean"] = statistics.mean(r["val_acc"])
        r["val_acc_stdev"] = statistics.stdev(r["val_acc"]) if len(r["val_acc"]) > 1 else 0.0
        r["test_acc_mean"] = statistics.mean(r["test_acc"])
    out = {
        "dataset": f"fashion_mnist, {args.train_images} training images (20 % validation), {args.test_images} test",
        "space": "mobile",
        "max_params": args.max_params,
        "args": vars(args),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "results": results,
    }
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
    print(f"{'method':10s} {'search s':>9s} {'params':>7s} {'val acc':>15s}  test acc")
    for method, r in results.items():
        print(
            f"{method:10s} {r['search_s']:9.0f} {r['params']:7d} {r['val_acc_mean']:.4f} ± {r['val_acc_stdev']:.4f}"
            f"  {r['test_acc_mean']:.4f}"
        )
    return out


if __name__ == "__main__":
    main()
