"""How well one-shot scores rank subnets, and how fast subnets are evaluated on shared weights.

One run on digits, after one ``ray.init(num_cpus=2)``:

1. Train the supernet of the mobile space (or ``--space``) with the one-shot search's own stage (a Tune trial,
   the default recipe).
2. Draw ``--subnets`` distinct subnets uniformly under the parameter budget (``--max-params``).
3. Score each three ways: one-shot validation accuracy after exact BatchNorm recalibration; the supernet's
   validation accuracy without recalibration (its BatchNorm buffers as saved); and the parameter count.
4. Retrain each subnet from scratch (stand-alone, ``--epochs``, the retrain recipe; reward = mean validation
   accuracy of the last 2 epochs) through Tune, two at a time.
5. Kendall tau of each score against the stand-alone reward, with a bootstrap 90 % interval over subnets.
6. Evaluation rate, the same subnets three ways, interleaved over ``--rounds`` rounds: through Tune with the
   worker's supernet cache (one trial at a time, ``reuse_actors=True``), through Tune reloading the supernet
   every trial, and in a plain in-process loop (load once, recalibrate and evaluate each path).

Usage:
    python -m bench.oneshot --subnets 20 --epochs 5 --json bench/results/oneshot.json
    python -m bench.oneshot --standalone-from bench/results/oneshot.json --rounds 0 --supernet-epochs 9 \
        --supernet-options '{"supernet_sampling": "fair"}' --json bench/results/oneshot_fair.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import tempfile
import time
from typing import Any

import numpy as np
import ray
import torch
from ray import tune
from scipy.stats import kendalltau

from raynas import data
from raynas.runs import oneshot
from raynas.runs import retrain as fixed
from raynas.settings import SearchSettings
from raynas.spaces.sampling import random_feasible
from raynas.trainables.calibration import calibration_images
from raynas.trainables.loops import evaluate, make_loader
from raynas.trainables.subnet import evaluate_subnet, load_supernet_state
from raynas.trainables.supernet import path_accuracy
from raynas.tune.build import make_space, trial_settings

TARGETS = {"oneshot_tau_above_params_tau": True, "tune_cached_over_loop_max": 1.5, "reload_over_cached_min": 3.0}


def draw_subnets(space, n: int, max_params: int | None, seed: int) -> list[list[int]]:
    rng, found = random.Random(seed), []
    while len(found) < n:
        tokens = random_feasible(space, rng, max_params)
        if tokens not in found:
            found.append(tokens)
    return found


def tau_with_interval(score: list[float], truth: list[float], seed: int, draws: int = 2000) -> dict[str, float]:
    """Kendall tau and its bootstrap 90 % interval (subnets resampled with replacement)."""
    score_a, truth_a = np.asarray(score, float), np.asarray(truth, float)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(draws):
        pick = rng.integers(0, len(score_a), len(score_a))
        t = kendalltau(score_a[pick], truth_a[pick]).statistic
        if np.isfinite(t):
            boots.append(t)
    return {
        "tau": float(kendalltau(score_a, truth_a).statistic),
        "low": float(np.percentile(boots, 5)),
        "high": float(np.percentile(boots, 95)),
    }


def plain_loop(space, settings: dict[str, Any], location: str, subnets: list[list[int]]) -> tuple[float, list]:
    """Load once, then recalibrate and evaluate every subnet in this process; seconds and accuracies."""
    start = time.perf_counter()
    model = space.supernet()
    model.load_state_dict(load_supernet_state(location)["model"])
    splits = data.load(settings["data"], settings["data_dir"], settings["val_fraction"], settings["seed"])
    images = calibration_images(
        settings["data"],
        settings["data_dir"],
        settings["val_fraction"],
        settings["seed"],
        settings["calibration_images"],
    )
    loader = make_loader(splits.val, settings["batch_size"], shuffle=False)
    accs = [path_accuracy(space, model, t, images, loader, "cpu") for t in subnets]
    return time.perf_counter() - start, accs


def without_recalibration(space, settings: dict[str, Any], location: str, subnets: list[list[int]]) -> list[float]:
    """Validation accuracy of each path with the supernet's BatchNorm buffers as saved."""
    splits = data.load(settings["data"], settings["data_dir"], settings["val_fraction"], settings["seed"])
    loader = make_loader(splits.val, settings["batch_size"], shuffle=False)
    state = load_supernet_state(location)["model"]
    accs = []
    for tokens in subnets:
        model = space.supernet()
        model.load_state_dict(state)
        space.set_path(model, tokens)
        accs.append(evaluate(model, loader, "cpu")[0])
    return accs


def through_tune(settings: dict[str, Any], subnets: list[list[int]], storage: str, name: str) -> dict[str, Any]:
    """Evaluate the subnets as Tune trials, one at a time with actor reuse; seconds and loads."""
    trainable = tune.with_resources(tune.with_parameters(evaluate_subnet, settings=settings), {"cpu": 1})
    start = time.perf_counter()
    grid = tune.Tuner(
        trainable,
        param_space={"tokens": tune.grid_search(subnets)},
        tune_config=tune.TuneConfig(max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    ).fit()
    seconds = time.perf_counter() - start
    loads = {}
    for r in grid:
        loads[r.metrics["pid"]] = max(loads.get(r.metrics["pid"], 0), r.metrics["supernet_loads"])
    return {
        "seconds": seconds,
        "loads": sum(loads.values()),
        "workers": len(loads),
        "accs": {json.dumps(r.config["tokens"]): r.metrics["val_acc"] for r in grid},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subnets", type=int, default=20)
    p.add_argument("--space", default="mobile", help="mobile, or a labelled-choice model such as bench.cells:small_cnn")
    p.add_argument("--max-params", default="20k", help="the budget (none: no budget)")
    p.add_argument("--epochs", type=int, default=5, help="stand-alone training epochs per subnet")
    p.add_argument("--supernet-epochs", type=int, default=60)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the rate measurement (0: none)")
    p.add_argument("--supernet-options", type=json.loads, default={}, help="JSON object of one-shot options")
    p.add_argument("--standalone-from", help="an earlier output whose subnets and stand-alone rewards are reused")
    p.add_argument("--few-shot-epochs", type=int, default=0, help="also score on few-shot sub-supernets (0: not)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="bench/results/oneshot.json")
    args = p.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    torch.set_num_threads(1)  # the plain loop gets one CPU, as one Tune trial does
    started = time.time()
    with tempfile.TemporaryDirectory() as storage:
        settings = SearchSettings.from_dict(
            {
                "searcher": "oneshot",
                "space": args.space,
                **({} if args.max_params == "none" else {"max_params": args.max_params}),
                "oneshot_options": {"supernet_epochs": args.supernet_epochs, **args.supernet_options},
                "seed": args.seed,
                "epochs": args.epochs,
                "storage_path": storage,
                "name": "bench",
            }
        )
        space = make_space(settings)
        t0 = time.perf_counter()
        location = oneshot.train_supernet(settings, space)
        supernet_s = time.perf_counter() - t0
        reused = []
        if args.standalone_from:
            with open(args.standalone_from) as f:
                reused = json.load(f)["subnets"]
        subnets = [r["tokens"] for r in reused] or draw_subnets(space, args.subnets, settings.max_params, args.seed)
        trial = {**trial_settings(settings, space), "supernet_checkpoint": location}

        rates: dict[str, list[float]] = {"loop": [], "tune_cached": [], "tune_reload": []}
        loads: dict[str, list[int]] = {"tune_cached": [], "tune_reload": []}
        oneshot_acc, differences = None, []
        for r in range(args.rounds):
            seconds, oneshot_acc = plain_loop(space, trial, location, subnets)
            rates["loop"].append(seconds)
            for key, cache in (("tune_cached", True), ("tune_reload", False)):
                out = through_tune({**trial, "subnet_cache": cache}, subnets, storage, f"{key}{r}")
                rates[key].append(out["seconds"])
                loads[key].append(out["loads"])
                differences.append(max(abs(out["accs"][json.dumps(t)] - a) for t, a in zip(subnets, oneshot_acc)))
        if oneshot_acc is None:  # no rate measured
            oneshot_acc = plain_loop(space, trial, location, subnets)[1]
        raw_acc = without_recalibration(space, trial, location, subnets)
        few_acc, few_s = [], 0.0
        if args.few_shot_epochs:
            from bench.fewshot import few_shot_scores  # it builds on this module's plain loop

            few_acc, few_s = few_shot_scores(space, trial, location, subnets, args.few_shot_epochs)

        if reused:
            truth = [r["standalone_reward"] for r in reused]
        else:
            stand = fixed.retrain(oneshot.stage(settings, "standalone", concurrency=2), space, subnets)
            by_tokens = {row.tokens: float(row.reward) for row in stand.results.itertuples()}
            truth = [by_tokens[json.dumps(t)] for t in subnets]
    params = [space.num_params(t) for t in subnets]
    taus = {
        "oneshot_recalibrated": tau_with_interval(oneshot_acc, truth, args.seed),
        "params": tau_with_interval(params, truth, args.seed),
        "supernet_without_recalibration": tau_with_interval(raw_acc, truth, args.seed),
        **({"few_shot": tau_with_interval(few_acc, truth, args.seed)} if few_acc else {}),
    }
    best = {k: min(v) if v else float("nan") for k, v in rates.items()}
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "ray": ray.__version__,
            "torch": torch.__version__,
        },
        "args": vars(args),
        "supernet_train_s": supernet_s,
        **({"few_shot_train_s": few_s} if few_acc else {}),
        "wall_s": time.time() - started,
        "subnets": [
            {"tokens": t, "params": n, "oneshot_acc": a, "no_recalibration_acc": b, "standalone_reward": s}
            | ({"few_shot_acc": few_acc[i]} if few_acc else {})
            for i, (t, n, a, b, s) in enumerate(zip(subnets, params, oneshot_acc, raw_acc, truth))
        ],
        "kendall_tau": taus,
        "seconds": rates,
        "supernet_loads": loads,
        "max_abs_difference_tune_vs_loop_acc": max(differences, default=None),
        "subnets_per_s": {k: args.subnets / v for k, v in best.items()},
        "ratios": {
            "tune_cached_over_loop": best["tune_cached"] / best["loop"],
            "reload_over_cached": best["tune_reload"] / best["tune_cached"],
        },
        "targets": TARGETS,
    }
    out["met"] = {
        "oneshot_tau_above_params_tau": taus["oneshot_recalibrated"]["tau"] > taus["params"]["tau"],
        "tune_cached_within_1.5x_of_loop": out["ratios"]["tune_cached_over_loop"] <= 1.5,
        "cache_3x_faster_than_reload": out["ratios"]["reload_over_cached"] >= 3.0,
    }
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(
        json.dumps({k: out[k] for k in ("kendall_tau", "subnets_per_s", "ratios", "met", "supernet_loads")}, indent=2)
    )


if __name__ == "__main__":
    main()
