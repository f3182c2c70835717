"""Multi-fidelity search: the same SA search on digits with and without ASHA stopping weak trials early.

For each seed, ``raynas.runs.search.run`` runs SA on ``small_channel`` for ``--num-samples`` architectures of
``--epochs`` epochs each, once as is and once with ``--scheduler asha`` (grace ``--grace-epochs``,
reduction factor ``--reduction-factor``). Reported per run: epochs trained in total (from results.csv),
the best validation reward among completed trials and the test accuracy of that architecture.

Usage:
    python -m bench.multifidelity --seeds 3 --num-samples 48 --epochs 10 --json bench/results/multifidelity.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import ray

from raynas.runs.search import run
from raynas.settings import SearchSettings


def one_search(seed: int, scheduler: str | None, args: argparse.Namespace, storage: str) -> dict[str, Any]:
    settings = SearchSettings.from_dict(
        {
            "searcher": "sanas",
            "space": "small_channel",
            "data": "digits",
            "num_samples": args.num_samples,
            "epochs": args.epochs,
            "concurrency": 2,
            "seed": seed,
            "storage_path": storage,
            "name": f"{scheduler or 'full'}-{seed}",
            "scheduler": scheduler,
            "grace_epochs": args.grace_epochs,
            "reduction_factor": args.reduction_factor,
        }
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = run(settings)
    frame = outcome.results
    return {
        "seed": seed,
        "scheduler": scheduler or "none",
        "trials": len(frame),
        "stopped": int(frame.stopped.eq(True).sum()),
        "total_epochs": int(frame.epochs.fillna(0).sum()),
        "best_val_reward": outcome.best["reward"],
        "best_tokens": outcome.best["tokens"],
        "best_test_acc": outcome.best["test_acc"],
        "wall_time_s": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.multifidelity", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--num-samples", type=int, default=48)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--grace-epochs", type=int, default=1)
    p.add_argument("--reduction-factor", type=float, default=3)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, Ray {ray.__version__}")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="raynas-mf-") as storage:
            for seed in range(args.seeds):
                for scheduler in (None, "asha"):  # interleaved, so machine load hits both alike
                    row = one_search(seed, scheduler, args, storage)
                    runs.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
    summary = {}
    for name in ("none", "asha"):
        rows = [r for r in runs if r["scheduler"] == name]
        summary[name] = {
            key: statistics.fmean(r[key] for r in rows)
            for key in ("total_epochs", "best_val_reward", "best_test_acc", "wall_time_s")
        }
    summary["epoch_ratio"] = summary["none"]["total_epochs"] / summary["asha"]["total_epochs"]
    summary["test_acc_difference_points"] = 100 * (summary["none"]["best_test_acc"] - summary["asha"]["best_test_acc"])
    out = {"settings": vars(args), "runs": runs, "summary": summary}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(summary, indent=2))
    return out


if __name__ == "__main__":
    main()
