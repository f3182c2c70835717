"""ENAS's controller defaults by measurement: how fast the controller finds good architectures on tables.

ENAS's controller (:class:`raynas.controller.Controller`) learns from noisy rewards: the accuracy of a sampled
path on one validation batch with the shared weights. This bench runs the controller exactly as
:func:`raynas.trainables.enas.train_controller` does — ``--aggregate`` samples inside the budget per REINFORCE
step — with the reward of a table architecture on one batch: its table accuracy plus the binomial noise of a
``--batch``-image batch. After ``K`` steps (``--steps``), ENAS derives its architecture: ``--derive`` distinct
samples, the best of them by accuracy. Scored as the share of feasible table architectures strictly better
than the derived one (rank fraction; lower is better), median over seeds, for each learning rate and baseline
decay, on each table and budget. A learning rate of 0 is the untrained (uniform) controller.

Usage:
    python -m bench.enas_controller --tables $TABLES/channel_bench_macro_resnet.json,$TABLES/nas_bench_201_cifar.csv \\
        --lrs 0,3.5e-4,3.5e-3,0.035 --decays 0.999,0.9,0.5 --seeds 8 --json bench/results/enas_controller.json
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import statistics
import time
from typing import Any

import numpy as np
import torch

from raynas.controller import Controller
from raynas.spaces import sampling
from raynas.spaces.tabular import TabularSpace


def run(
    space: TabularSpace, budget: int | None, lr: float, decay: float, seed: int, args: argparse.Namespace
) -> dict[int, float]:
    """Rank fraction of the derived architecture after each of ``args.steps`` steps, for one seed."""
    torch.manual_seed(seed)
    controller = Controller(space.range_table(), seed=seed, lr=max(lr, 1e-12), baseline_decay=decay)
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    feasible = [acc for acc, p in space.rows().values() if budget is None or p <= budget]
    ordered = sorted(feasible)

    def ok(tokens: list[int]) -> bool:
        return sampling.feasible(space, tokens, budget)

    def rank(acc: float) -> float:
        return (len(ordered) - bisect.bisect_right(ordered, acc)) / len(ordered)

    out, done = {}, 0
    for k in sorted(args.steps):
        for _ in range(k - done):
            batch = [controller.sample(rng, ok, attempts=sampling.MAX_ATTEMPTS) for _ in range(args.aggregate)]
            rewards = [noise.binomial(args.batch, space.accuracy(t)) / args.batch for t in batch]
            if lr > 0:
                controller.learn(batch, rewards)
        done = k
        derive_rng = random.Random(f"derive/{seed}/{k}")
        derived: dict[tuple[int, ...], None] = {}
        for _ in range(sampling.MAX_ATTEMPTS):  # as raynas.trainables.enas.derive draws them
            if len(derived) >= args.derive:
                break
            derived.setdefault(tuple(controller.sample(derive_rng, ok, attempts=sampling.MAX_ATTEMPTS)))
        best = max(space.accuracy(list(t)) for t in derived)
        out[k] = rank(best)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", required=True)
    p.add_argument("--budgets", default="0.3,none")
    p.add_argument("--lrs", default="0,3.5e-4,3.5e-3,0.035")
    p.add_argument("--decays", default="0.999,0.9,0.5")
    p.add_argument("--steps", type=lambda t: [int(x) for x in t.split(",")], default=[50, 250, 500])
    p.add_argument("--aggregate", type=int, default=20, help="samples per REINFORCE step (ENAS: 20)")
    p.add_argument("--batch", type=int, default=96, help="validation images behind one reward")
    p.add_argument("--derive", type=int, default=30, help="distinct samples ENAS derives from")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--json", default="bench/results/enas_controller.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    rows = []
    for entry in args.tables.split(","):
        path, _, metric = entry.partition("@")  # a table's accuracy column after @ (nas_bench_201_cifar.csv@cifar100)
        space = TabularSpace(path, metric or None)
        low, high = space.params_range()
        for frac in args.budgets.split(","):
            budget = None if frac == "none" else int(low + float(frac) * (high - low))
            for lr in (float(x) for x in args.lrs.split(",")):
                for decay in (float(x) for x in args.decays.split(",")) if lr > 0 else [0.0]:
                    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
                    ranks = [run(space, budget, lr, decay, s, args) for s in seeds]
                    row = {
                        "table": os.path.basename(entry),
                        "budget": frac,
                        "lr": lr,
                        "decay": decay,
                        "median_rank": {k: statistics.median(r[k] for r in ranks) for k in args.steps},
                        "mean_rank": {k: statistics.fmean(r[k] for r in ranks) for k in args.steps},
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    out = {"args": {k: v for k, v in vars(args).items() if k != "tables"}, "rows": rows}
    out["tables"] = [os.path.basename(t) for t in args.tables.split(",")]  # no machine paths
    out["wall_s"] = time.time() - started
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
