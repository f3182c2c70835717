"""Subnet evaluation through Tune against a plain loop, on the same subnets: what batching subnets per trial buys.

One run on digits, after one ``ray.init(num_cpus=2)``: the mobile space's supernet is trained for one epoch with the
one-shot search's own stage (the rate does not depend on how well it is trained), ``--subnets`` distinct subnets
under 20k parameters are drawn, and then, interleaved over ``--rounds`` rounds, the same subnets are scored

- in a plain in-process loop (load the supernet once, recalibrate and evaluate each path; one thread),
- by the one-shot search's subnet stage (:func:`raynas.runs.search.run` with ``evaluate_subnet``, one trial at a
  time on one CPU, results.csv and a checkpoint per subnet), with ``subnets_per_trial`` auto (the default),
- and by that stage with one subnet per trial (as before batching).

A searcher that proposes the drawn subnets in order stands in for the subnet searcher, so that all three score the
same subnets. Target: the stage's time within 1.25x of the loop's.

Usage:
    python -m bench.subnet_rate --subnets 100,300 --rounds 2 --json bench/results/subnet_rate.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import tempfile
import time

import ray
import torch

from bench.oneshot import draw_subnets, plain_loop
from raynas.runs import oneshot, search
from raynas.searchers.base import Tokens, TokenSearcher
from raynas.settings import SearchSettings, one_shot_stages
from raynas.trainables.subnet import evaluate_subnet
from raynas.tune.build import make_space, trial_settings

TARGET = 1.25


class InOrder(TokenSearcher):
    """Proposes ``subnets`` one after the other."""

    def __init__(self, space, subnets: list[Tokens], **kwargs):
        super().__init__(space, **kwargs)
        self.subnets = subnets

    def propose(self) -> Tokens:
        return list(self.subnets[min(self.issued, len(self.subnets) - 1)])


def through_stage(settings: SearchSettings, space, subnets: list[Tokens], name: str, per_trial: int | str) -> float:
    """Seconds the subnet stage takes to score ``subnets``, ``per_trial`` of them per Tune trial."""
    with one_shot_stages():
        st = dataclasses.replace(
            settings,
            name=name,
            searcher="random",
            num_samples=len(subnets),
            concurrency=1,
            oneshot_options={**settings.oneshot_options, "subnets_per_trial": per_trial},
        )
    searcher = InOrder(space, subnets, max_params=st.max_params, num_samples=len(subnets))
    start = time.perf_counter()
    outcome = search.run(st, function=evaluate_subnet, searcher=searcher)
    seconds = time.perf_counter() - start
    assert len(outcome.results) == len(subnets) and (outcome.results.status == "TERMINATED").all()
    return seconds


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subnets", default="100,300", help="comma-separated numbers of subnets")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", default="bench/results/subnet_rate.json")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    torch.set_num_threads(1)  # the loop gets one CPU, as one trial does
    counts = [int(n) for n in args.subnets.split(",")]
    seconds: dict[str, dict[str, list[float]]] = {str(n): {"loop": [], "auto": [], "one": []} for n in counts}
    with tempfile.TemporaryDirectory() as storage:
        settings = SearchSettings.from_dict(
            {
                "searcher": "oneshot",
                "space": "mobile",
                "max_params": "20k",
                "supernet_epochs": 1,
                "storage_path": storage,
                "name": "rate",
            }
        )
        space = make_space(settings)
        with one_shot_stages():
            location = oneshot.train_supernet(settings, space)
            stage = dataclasses.replace(settings, storage_path=f"{storage}/rate", supernet_checkpoint=location)
        trial = {**trial_settings(settings, space), "supernet_checkpoint": location}
        for r in range(args.rounds):
            for n in counts:
                subnets = draw_subnets(space, n, settings.max_params or 0, seed=n)
                seconds[str(n)]["loop"].append(plain_loop(space, trial, location, subnets)[0])
                seconds[str(n)]["auto"].append(through_stage(stage, space, subnets, f"auto{n}_{r}", "auto"))
                seconds[str(n)]["one"].append(through_stage(stage, space, subnets, f"one{n}_{r}", 1))
    ray.shutdown()
    ratios = {n: {way: min(s[way]) / min(s["loop"]) for way in ("auto", "one")} for n, s in seconds.items()}
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__},
        "args": vars(args),
        "seconds": seconds,
        "over_loop": ratios,
        "target": TARGET,
        "met": {n: r["auto"] <= TARGET for n, r in ratios.items()},
    }
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps({"over_loop": ratios, "met": out["met"]}, indent=2))
    return out


if __name__ == "__main__":
    main()
