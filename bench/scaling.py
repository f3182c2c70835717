"""Does a second CPU make a real search faster? The same digits search at concurrency 1 and 2 on 2 CPUs.

Both runs are :func:`raynas.runs.search.run` with the random searcher (its proposals do not depend on results, so
both train the same architectures), ``small_channel`` on ``digits``, one CPU per trial, after one
``ray.init(num_cpus=2)``. Runs alternate (1, 2, 1, 2, ...) so both see the same machine; medians are reported.
Target: concurrency 2 at least 1.6x faster. Beside the wall time it reports the time spent inside trials
(the sum of their ``wall_time_s``), so a shortfall can be traced to fixed costs or to slower trials, and the
machine's own ceiling: the same training (one torch thread, no Ray) in one process, then in two processes at
once, so a slowdown of trials running side by side can be told apart from one that Ray causes.

Usage:
    python -m bench.scaling --json bench/results/scaling.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import ray
import torch

from raynas import data, spaces
from raynas.runs.search import run
from raynas.settings import SearchSettings
from raynas.trainables.loops import make_loader, train_epoch

TARGET_SPEEDUP = 1.6


def search_once(concurrency: int, args: argparse.Namespace, storage: str, name: str) -> dict[str, float]:
    """One search; its wall time, the time inside its trials and its number of finished trials."""
    settings = SearchSettings.from_dict(
        {
            "searcher": "random",
            "space": "small_channel",
            "data": "digits",
            "max_params": args.max_params,
            "num_samples": args.trials,
            "epochs": args.epochs,
            "concurrency": concurrency,
            "cpus_per_trial": 1,
            "seed": 0,
            "storage_path": storage,
            "name": name,
        }
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = run(settings)
    elapsed = time.perf_counter() - start
    done = outcome.results[outcome.results.status == "TERMINATED"]
    return {"wall_s": elapsed, "inside_trials_s": float(done.wall_time_s.sum()), "finished": len(done)}


def train_alone(epochs: int) -> float:
    """Seconds to train one ``small_channel`` network on digits for ``epochs``, on one torch thread."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    space = spaces.get("small_channel")
    model = space.build(space.init_tokens())
    loader = make_loader(data.load("digits").train, 32, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, loader, optimizer, "cpu")
    return time.perf_counter() - start


def machine_ceiling(epochs: int) -> dict[str, float]:
    """The speed-up two processes training side by side get on this machine, without Ray:
    ``2 * one / two``, where ``one`` is one process's time alone and ``two`` the time of two at once."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(train_alone, [1, 1])  # imports and warm-up in both workers
        one = pool.apply(train_alone, (epochs,))
        two = max(pool.map(train_alone, [epochs, epochs]))
    return {"one_process_s": one, "two_processes_s": two, "ceiling": 2 * one / two}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=8, help="architectures per search")
    p.add_argument("--epochs", type=int, default=10, help="training epochs per architecture")
    p.add_argument("--max-params", type=int, default=38_000)
    p.add_argument("--repeats", type=int, default=2, help="runs per concurrency, alternating")
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)
    ceiling = machine_ceiling(args.epochs)
    print(
        f"  without Ray: {ceiling['one_process_s']:.1f} s alone, {ceiling['two_processes_s']:.1f} s for two at "
        f"once -> ceiling {ceiling['ceiling']:.2f}x",
        flush=True,
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    try:
        with tempfile.TemporaryDirectory(prefix="raynas-bench-scaling-") as storage:
            for r in range(args.repeats):
                for concurrency in (1, 2):
                    runs[concurrency].append(search_once(concurrency, args, storage, f"c{concurrency}-{r}"))
                    last = runs[concurrency][-1]
                    print(
                        f"  repeat {r}, concurrency {concurrency}: {last['wall_s']:.1f} s wall, "
                        f"{last['inside_trials_s']:.1f} s inside trials",
                        flush=True,
                    )
    finally:
        ray.shutdown()
    medians = {
        c: {k: statistics.median(run[k] for run in rs) for k in ("wall_s", "inside_trials_s")} for c, rs in runs.items()
    }
    speedup = medians[1]["wall_s"] / medians[2]["wall_s"]
    out = {
        "concurrency_1": medians[1],
        "concurrency_2": medians[2],
        "speedup": speedup,
        "target_speedup": TARGET_SPEEDUP,
        "target_met": speedup >= TARGET_SPEEDUP,
        "trial_slowdown_at_2": medians[2]["inside_trials_s"] / medians[1]["inside_trials_s"],
        "machine_ceiling": ceiling,
        "runs": {str(c): rs for c, rs in runs.items()},
        "setup": {
            "searcher": "random",
            "space": "small_channel",
            "data": "digits",
            "trials": args.trials,
            "epochs": args.epochs,
            "max_params": args.max_params,
            "cpus_per_trial": 1,
            "ray_num_cpus": 2,
            "repeats": args.repeats,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "ray": ray.__version__,
            "date": datetime.date.today().isoformat(),
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(
        f"concurrency 1: {medians[1]['wall_s']:.1f} s, concurrency 2: {medians[2]['wall_s']:.1f} s -> "
        f"{speedup:.2f}x (target >= {TARGET_SPEEDUP}: {'met' if out['target_met'] else 'NOT met'}); "
        f"time inside trials {medians[1]['inside_trials_s']:.1f} s -> {medians[2]['inside_trials_s']:.1f} s"
    )
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
