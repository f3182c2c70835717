"""One-shot search against SA training each candidate from scratch, at about the same wall time, on the same data.

On the Fashion-MNIST reference of :mod:`bench.oneshot_quality` (``--train-images`` training images, a third of
them validation; ``mobile`` under ``--max-params``), after one ``ray.init(num_cpus=2)``, two trials at a time:

1. **One-shot**: ``raynas.run`` of a one-shot search: a FairNAS supernet (``--supernet-epochs``), ``--num-subnets``
   subnets scored by SA on the shared weights, the best ``--retrain-top`` retrained for ``--epochs``; it returns
   the best retrained one.
2. **SA from scratch**: a ``sanas`` search of ``--sa-samples`` candidates, each trained ``--sa-epochs`` epochs
   (reward: the last epoch's validation accuracy); it returns the best candidate.
3. Each returned architecture is trained from scratch with seeds 0, 1 and 2 for ``--epochs`` epochs (the
   recipe of the reference's stand-alone truth) and its final validation and test accuracy reported.

Each arm's wall time is recorded; ``--sa-samples`` sets the SA arm's length (about the one-shot arm's by default).

Usage:
    python -m bench.oneshot_end_to_end --data-dir /usr/share/datasets/fashion-mnist \\
        --json bench/results/oneshot_end_to_end.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import platform
import tempfile
import time
from typing import Any

import numpy as np
import ray
import torch

from bench.enas_compare import subsample
from bench.oneshot_quality import standalone
from raynas import spaces
from raynas.runs import oneshot, search
from raynas.settings import SearchSettings

SEEDS = (0, 1, 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder of the Fashion-MNIST idx files")
    p.add_argument("--train-images", type=int, default=7200)
    p.add_argument("--val-fraction", type=float, default=1 / 3)
    p.add_argument("--max-params", default="20k")
    p.add_argument("--epochs", type=int, default=6, help="epochs of a final (retrained) network")
    p.add_argument("--supernet-epochs", type=int, default=4)
    p.add_argument("--num-subnets", type=int, default=50)
    p.add_argument("--retrain-top", type=int, default=3)
    p.add_argument("--sa-samples", type=int, default=50)
    p.add_argument("--sa-epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="bench/results/oneshot_end_to_end.json")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = time.time()
    out: dict[str, Any] = {
        "dataset": f"fashion_mnist, {args.train_images} training images, {args.val_fraction:.3g} of them "
        "validation (seed 0), 2000 test images",
        "space": "mobile",
        "args": {k: v for k, v in vars(args).items() if k not in ("data_dir", "json")},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
    }
    with tempfile.TemporaryDirectory() as folder:
        subsample(args.data_dir, folder, args.train_images, 2000)
        common = {
            "space": "mobile",
            "data": "fashion_mnist",
            "data_dir": folder,
            "val_fraction": args.val_fraction,
            "max_params": args.max_params,
            "seed": args.seed,
            "concurrency": 2,
            "storage_path": os.path.join(folder, "runs"),
        }
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        start = time.perf_counter()
        shot = oneshot.run(
            SearchSettings.from_dict(
                {
                    **common,
                    "searcher": "oneshot",
                    "name": "oneshot",
                    "epochs": args.epochs,
                    "oneshot_options": {
                        "supernet_epochs": args.supernet_epochs,
                        "supernet_sampling": "fair",
                        "num_subnets": args.num_subnets,
                        "retrain_top": args.retrain_top,
                    },
                }
            )
        )
        oneshot_s = time.perf_counter() - start
        start = time.perf_counter()
        sa = search.run(
            {
                **common,
                "searcher": "sanas",
                "name": "sa",
                "epochs": args.sa_epochs,
                "reward_epochs": 1,
                "num_samples": args.sa_samples,
            }
        )
        sa_s = time.perf_counter() - start
        ray.shutdown()
        assert shot.best is not None and sa.best is not None
        returned = {"oneshot": shot.best["tokens"], "sa": sa.best["tokens"]}
        recipe = {"data_dir": folder, "val_fraction": args.val_fraction, "epochs": args.epochs, "test": True}
        space = spaces.get("mobile")
        jobs = [(arm, seed) for arm in returned for seed in SEEDS]
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            futures = {j: pool.submit(standalone, space.kwargs(), returned[j[0]], j[1], recipe) for j in jobs}
            runs = {j: f.result() for j, f in futures.items()}
    out["arms"] = {
        arm: {
            "wall_s": seconds,
            "tokens": returned[arm],
            "arch": space.to_arch(returned[arm]),
            "params": space.num_params(returned[arm]),
            "search_val_acc": (shot if arm == "oneshot" else sa).best["val_acc"],
            "candidates_trained": args.retrain_top if arm == "oneshot" else args.sa_samples,
            "final_val_acc": [runs[(arm, s)]["val_acc"][-1] for s in SEEDS],
            "final_test_acc": [runs[(arm, s)]["test_acc"] for s in SEEDS],
        }
        for arm, seconds in (("oneshot", oneshot_s), ("sa", sa_s))
    }
    for arm in out["arms"].values():
        for key in ("final_val_acc", "final_test_acc"):
            arm[f"{key}_mean"] = float(np.mean(arm[key]))
            arm[f"{key}_sd"] = float(np.std(arm[key], ddof=1))
    out["wall_s"] = time.time() - started
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({a: {k: v for k, v in r.items() if k != "arch"} for a, r in out["arms"].items()}, indent=1))
    return out


if __name__ == "__main__":
    main()
