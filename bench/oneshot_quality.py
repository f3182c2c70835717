"""Does the one-shot score rank subnets? A Fashion-MNIST reference, side by side with cheaper proxies.

One run, on Fashion-MNIST subsampled to ``--train-images`` training images (``--val-fraction`` of them form
the validation split, drawn once with seed 0), the ``mobile`` space under ``--max-params``:

1. Draw ``--subnets`` distinct subnets uniformly under the budget.
2. **Stand-alone truth**: train each subnet from scratch twice (initialisation and batch-order seeds 0 and 1,
   the same split), ``--epochs`` epochs of the retrain recipe, two processes at a time. Its accuracy is the
   final validation accuracy; the truth is the mean of the two runs. Each finished run is written to the
   output at once, and ``--standalone-from`` reuses the runs of an earlier output (same subnets and recipe).
3. **Repeatability**: Kendall tau between the two stand-alone runs: the ceiling any proxy can reach.
4. **Proxies**, each against the truth (Kendall tau with a bootstrap 90 % interval, and the top-10 % hit rate:
   the share of the truth's top 10 % that the proxy's top 10 % holds): the parameter count; two zero-cost
   proxies at initialisation (synflow: the sum of |theta * dR/dtheta| of the linearised network on an all-ones
   input; NASWOT: log |det K| of the ReLU activation codes of one batch); and the one-shot score (the supernet
   trained by the one-shot search's own stage, then each subnet's validation accuracy on the shared weights
   after exact BatchNorm recalibration).
5. **Evaluation rate**: the same subnets scored in a plain in-process loop and as Tune trials
   (:func:`raynas.trainables.subnet.evaluate_subnet` with its per-worker supernet cache), one CPU each.

Usage:
    python -m bench.oneshot_quality --data-dir /usr/share/datasets/fashion-mnist \
        --json bench/results/oneshot_quality.json
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
from torch import nn

from bench.enas_compare import subsample
from bench.fewshot import few_shot_scores
from bench.oneshot import draw_subnets, plain_loop, tau_with_interval, through_tune
from raynas import data, spaces
from raynas.runs import oneshot
from raynas.settings import SearchSettings
from raynas.trainables.loops import evaluate, make_loader, train_epoch
from raynas.trainables.retrain import RECIPE, build_counted
from raynas.tune.build import make_space, trial_settings

TARGETS = {"oneshot_tau_min": 0.5, "oneshot_above_params_ci90": True, "tune_over_loop_time_max": 1.25}
SEEDS = (0, 1)


def standalone(space_kwargs: dict[str, Any], tokens: list[int], seed: int, settings: dict[str, Any]) -> dict:
    """Train ``tokens`` from scratch with initialisation/batch-order ``seed`` on the fixed split (with
    ``settings["test"]``, report its test accuracy too)."""
    torch.set_num_threads(1)
    space = spaces.get("mobile", **space_kwargs)
    splits = data.load("fashion_mnist", settings["data_dir"], settings["val_fraction"], 0)
    torch.manual_seed(seed)
    model, params = build_counted(space, tokens)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=RECIPE["lr"], momentum=RECIPE["momentum"], weight_decay=RECIPE["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings["epochs"])
    val_loader = make_loader(splits.val, RECIPE["batch_size"], shuffle=False)
    start, history = time.perf_counter(), []
    for epoch in range(settings["epochs"]):
        loader = make_loader(splits.train, RECIPE["batch_size"], shuffle=True, seed=seed * 1000 + epoch)
        train_epoch(model, loader, optimizer, "cpu", RECIPE["grad_clip"], 0.0)
        scheduler.step()
        history.append(evaluate(model, val_loader, "cpu")[0])
    run = {"tokens": tokens, "seed": seed, "val_acc": history, "seconds": time.perf_counter() - start}
    if settings.get("test"):  # and the accuracy on the test split
        run["test_acc"] = evaluate(model, make_loader(splits.test, RECIPE["batch_size"], shuffle=False), "cpu")[0]
    return run


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """SynFlow at initialisation: sum |theta * dR/dtheta| with R the output sum of the |theta| network. The model
    is used up (turned to float64 with its weights made positive)."""
    model = model.double().eval()
    with torch.no_grad():
        for p in model.state_dict().values():
            p.abs_()
    model.zero_grad()
    model(torch.ones(1, *input_shape, dtype=torch.float64)).sum().backward()
    return sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    """NASWOT at initialisation: log |det K|, K the Hamming-similarity kernel of the batch's ReLU codes."""
    n = len(images)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module, _inputs, output):
        codes = (output.detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    with torch.no_grad():
        model.train()(images)
    for h in handles:
        h.remove()
    return float(torch.linalg.slogdet(kernel)[1])


def zero_cost(space, subnets: list[list[int]], images: torch.Tensor) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {"synflow": [], "naswot": []}
    for tokens in subnets:
        torch.manual_seed(0)
        model, _ = build_counted(space, tokens)
        scores["naswot"].append(naswot(model, images))
        scores["synflow"].append(synflow(model, tuple(images.shape[1:])))
    return scores


def top_hit_rate(score: list[float], truth: list[float], share: float = 0.1) -> float:
    """The share of the truth's top ``share`` that the score's top ``share`` holds."""
    k = max(1, round(share * len(truth)))
    best = set(np.argsort(truth)[::-1][:k])
    return len(best & set(np.argsort(score)[::-1][:k])) / k


def run_standalone(space, subnets, settings, done: list[dict], save) -> list[dict]:
    """Every (subnet, seed) run not in ``done``, two processes at a time; ``save`` after each."""
    have = {(json.dumps(r["tokens"]), r["seed"]) for r in done}
    todo = [(t, s) for s in SEEDS for t in subnets if (json.dumps(t), s) not in have]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = [pool.submit(standalone, space.kwargs(), t, s, settings) for t, s in todo]
        for i, future in enumerate(concurrent.futures.as_completed(futures)):
            done.append(future.result())
            save()
            print(f"stand-alone {i + 1}/{len(todo)}: {done[-1]['val_acc'][-1]:.4f}", flush=True)
    return done


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder of the Fashion-MNIST idx files")
    p.add_argument("--train-images", type=int, default=7200)
    p.add_argument("--val-fraction", type=float, default=1 / 3)
    p.add_argument("--subnets", type=int, default=40)
    p.add_argument("--max-params", default="20k")
    p.add_argument("--epochs", type=int, default=6, help="stand-alone training epochs")
    p.add_argument("--supernet-epochs", type=int, default=30)
    p.add_argument("--supernet-options", type=json.loads, default={}, help="JSON object of one-shot options")
    p.add_argument("--standalone-from", help="an earlier output whose stand-alone runs are reused")
    p.add_argument("--few-shot-epochs", type=int, default=0, help="also score on few-shot sub-supernets (0: not)")
    p.add_argument("--no-rate", action="store_true", help="skip the evaluation rate (Tune against the loop)")
    p.add_argument("--json", default="bench/results/oneshot_quality.json")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    torch.set_num_threads(1)
    started = time.time()
    out: dict[str, Any] = {
        "dataset": f"fashion_mnist, {args.train_images} training images, {args.val_fraction:.3g} of them "
        "validation (seed 0)",
        "space": "mobile",
        "max_params": args.max_params,
        "args": {k: v for k, v in vars(args).items() if k not in ("data_dir", "json")},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "targets": TARGETS,
    }

    def save() -> None:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(args.json + ".tmp", args.json)

    with tempfile.TemporaryDirectory() as folder:
        subsample(args.data_dir, folder, args.train_images, 2000)
        settings = SearchSettings.from_dict(
            {
                "searcher": "oneshot",
                "space": "mobile",
                "data": "fashion_mnist",
                "data_dir": folder,
                "val_fraction": args.val_fraction,
                "max_params": args.max_params,
                "oneshot_options": {"supernet_epochs": args.supernet_epochs, **args.supernet_options},
                "storage_path": os.path.join(folder, "runs"),
                "name": "bench",
            }
        )
        space = make_space(settings)
        subnets = draw_subnets(space, args.subnets, settings.max_params, 0)
        recipe = {"data_dir": folder, "val_fraction": args.val_fraction, "epochs": args.epochs}
        reused = []
        if args.standalone_from:
            with open(args.standalone_from) as f:
                reused = json.load(f)["standalone_runs"]
        out["standalone_runs"] = [r for r in reused if r["tokens"] in subnets and len(r["val_acc"]) == args.epochs]
        t0 = time.perf_counter()
        run_standalone(space, subnets, recipe, out["standalone_runs"], save)
        out["standalone_s"] = time.perf_counter() - t0
        acc = {(json.dumps(r["tokens"]), r["seed"]): r["val_acc"][-1] for r in out["standalone_runs"]}
        runs = [[acc[(json.dumps(t), s)] for t in subnets] for s in SEEDS]
        truth = [float(np.mean(pair)) for pair in zip(*runs)]

        splits = data.load("fashion_mnist", folder, args.val_fraction, 0)
        images = torch.stack([splits.train[i][0] for i in range(64)])
        t0 = time.perf_counter()
        zero = zero_cost(space, subnets, images)
        zero_s = time.perf_counter() - t0

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        t0 = time.perf_counter()
        location = oneshot.train_supernet(settings, space)
        supernet_s = time.perf_counter() - t0
        trial = {**trial_settings(settings, space), "supernet_checkpoint": location}
        loop_s, scores = plain_loop(space, trial, location, subnets)
        few: dict[str, list[float]] = {}
        if args.few_shot_epochs:
            few["few_shot"], few_s = few_shot_scores(space, trial, location, subnets, args.few_shot_epochs)
        tuned = (
            None
            if args.no_rate
            else through_tune({**trial, "subnet_cache": True}, subnets, settings.storage_path, "rate")
        )
        ray.shutdown()

    params = [float(space.num_params(t)) for t in subnets]
    proxies = {"oneshot": scores, "params": params, **zero, **few}
    taus = {name: tau_with_interval(score, truth, 0) for name, score in proxies.items()}
    repeat = tau_with_interval(runs[0], runs[1], 0)
    out.update(
        {
            "subnets": [
                {
                    "tokens": t,
                    "params": int(n),
                    "standalone": [r[i] for r in runs],
                    "oneshot": s,
                    **{k: few[k][i] for k in few},
                    **{k: zero[k][i] for k in zero},
                }
                for i, (t, n, s) in enumerate(zip(subnets, params, scores))
            ],
            "repeatability_tau": repeat["tau"],
            "repeatability_tau_ci90": [repeat["low"], repeat["high"]],
            "oneshot_tau": taus["oneshot"]["tau"],
            "oneshot_tau_ci90": [taus["oneshot"]["low"], taus["oneshot"]["high"]],
            "params_tau": taus["params"]["tau"],
            "params_tau_ci90": [taus["params"]["low"], taus["params"]["high"]],
            **{f"{k}_tau": taus[k]["tau"] for k in few},
            **{f"{k}_tau_ci90": [taus[k]["low"], taus[k]["high"]] for k in few},
            "zero_cost_tau": {k: taus[k]["tau"] for k in zero},
            "zero_cost_tau_ci90": {k: [taus[k]["low"], taus[k]["high"]] for k in zero},
            "top10_hit_rate": {k: top_hit_rate(v, truth) for k, v in proxies.items()},
            "repeatability_top10_hit_rate": top_hit_rate(runs[0], runs[1]),
            "standalone_spread": [min(truth), max(truth)],
            "tune_over_loop_time": tuned and tuned["seconds"] / loop_s,
            "seconds": {
                "plain_loop": loop_s,
                "tune": tuned and tuned["seconds"],
                "supernet": supernet_s,
                **({"few_shot_splits": few_s} if few else {}),
                "zero_cost": zero_s,
                "wall": time.time() - started,
            },
        }
    )
    out["met"] = {
        "oneshot_tau_at_least_0.5": out["oneshot_tau"] >= 0.5,
        "oneshot_above_params_ci90": out["oneshot_tau_ci90"][0] > out["params_tau_ci90"][1],
    }
    if tuned:
        out["met"]["tune_within_1.25x_of_loop"] = out["tune_over_loop_time"] <= 1.25
    save()
    summary = ("repeatability_tau", "oneshot_tau", "params_tau", "zero_cost_tau", "top10_hit_rate", "met")
    print(json.dumps({k: out[k] for k in summary}, indent=1))
    return out


if __name__ == "__main__":
    main()
