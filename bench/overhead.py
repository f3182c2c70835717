"""What Ray Tune orchestration costs per trial in raynas's own setup, against a plain Python loop.

The Tune side is :func:`raynas.search.run` on the tabular space with the random searcher, two trials at a
time: a ``Tuner`` with the searcher as ``search_alg``, ``reuse_actors=True``, ``max_concurrent_trials=2``
and the lookup trainable, each trial looking one architecture's accuracy up in the table. The loop side
calls the same trial body (load the table once, validate the tokens, look accuracy and params up) for the
same architectures in a plain Python loop, and once more driving a fresh random searcher, so the searcher's
own cost is visible too. Both run in the same process, after one ``ray.init(num_cpus=2)``.

    overhead_s_per_trial = (tune_total_s - loop_total_s) / trials

A second, short Tune run (``--small-trials``) splits the Tune time into a fixed part (Tuner and actor
start-up, shutdown, writing the outputs) and a marginal cost per trial.

Usage:
    python -m bench.overhead --trials 200 --json bench/results/overhead.json
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

import ray

from raynas.search import run
from raynas.searchers import RandomSearcher
from raynas.settings import SearchSettings
from raynas.spaces.tabular import TabularSpace

DEFAULT_TABLE = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "data",
                             "channel_bench_macro_resnet.json")
TARGET_S_PER_TRIAL = 0.15


def synthetic_table(folder: str, positions: int = 7, choices: int = 4) -> str:
    """A table of the benchmark format (only the orchestration is measured, so the numbers do not matter)."""
    table = {}
    for digits in itertools.product(range(1, choices + 1), repeat=positions):
        score = sum(d * (p + 1) for p, d in enumerate(digits))
        table["".join(map(str, digits))] = {"mean": 50 + score / 4, "params": 1000 * score}
    path = os.path.join(folder, "table.json")
    with open(path, "w") as f:
        json.dump(table, f)
    return path


def lookup_body(space: TabularSpace, tokens: list[int]) -> dict[str, Any]:
    """What the lookup trainable does for one trial, without ``tune.report``."""
    tokens = space.validate(tokens)
    accuracy = space.accuracy(tokens)
    return {"reward": accuracy, "val_acc": accuracy, "params": space.num_params(tokens), "tokens": tokens,
            "epoch": 1}


def tune_once(table: str, trials: int, concurrency: int, seed: int, storage: str, name: str):
    """One search through raynas's Tune setup: (wall seconds, evaluated token lists, seconds inside trials)."""
    settings = SearchSettings.from_dict({
        "searcher": "random", "space": "tabular", "space_kwargs": {"path": table}, "num_samples": trials,
        "concurrency": concurrency, "seed": seed, "storage_path": storage, "name": name})
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # one progress line per trial otherwise
        outcome = run(settings)
    elapsed = time.perf_counter() - start
    frame = outcome.results
    done = frame[(frame.status == "TERMINATED") & frame.reward.notna()]
    if len(done) != trials:
        raise RuntimeError(f"only {len(done)} of {trials} trials finished; see {outcome.results_path}")
    return elapsed, [json.loads(t) for t in done.tokens], float(done.wall_time_s.sum())


def loop_once(table: str, token_lists: list[list[int]]) -> float:
    """The same trial bodies in a plain loop (the table is loaded once, as each Tune worker does)."""
    start = time.perf_counter()
    space = TabularSpace.from_json(table)
    for tokens in token_lists:
        lookup_body(space, tokens)
    return time.perf_counter() - start


def searcher_loop_once(table: str, trials: int, seed: int) -> float:
    """The trial bodies driven by a fresh random searcher (suggest, look up, complete), no Tune."""
    start = time.perf_counter()
    space = TabularSpace.from_json(table)
    searcher = RandomSearcher(space, seed=seed, num_samples=trials)
    for i in range(trials):
        trial_id = f"t{i}"
        config = searcher.suggest(trial_id)
        searcher.on_trial_complete(trial_id, lookup_body(space, config["tokens"]))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=200, help="trivial trials per run")
    p.add_argument("--repeats", type=int, default=3, help="Tune runs (and loops); medians are reported")
    p.add_argument("--small-trials", type=int, default=10,
                   help="trials of a second, short Tune run that separates fixed from per-trial cost")
    p.add_argument("--concurrency", type=int, default=2, help="max_concurrent_trials of the Tune runs")
    p.add_argument("--table", default=DEFAULT_TABLE, help="benchmark table the trials look up")
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)
    if not 0 < args.small_trials < args.trials or args.repeats < 1:
        p.error("need 0 < --small-trials < --trials and --repeats >= 1")
    table = os.path.abspath(args.table)
    scratch = tempfile.TemporaryDirectory(prefix="raynas-bench-table-")
    if not os.path.isfile(table) and args.table == DEFAULT_TABLE:
        table = synthetic_table(scratch.name)
        print(f"{DEFAULT_TABLE} not found; the trials look up a synthetic table instead")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    tune_s, inside_s, loop_s, searcher_s, small_s = [], [], [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="raynas-bench-") as storage:
            for r in range(args.repeats):
                elapsed, token_lists, inside = tune_once(table, args.trials, args.concurrency, r, storage,
                                                         f"overhead-{r}")
                tune_s.append(elapsed)
                inside_s.append(inside)
                loop_s.append(loop_once(table, token_lists))
                searcher_s.append(searcher_loop_once(table, args.trials, r))
                small_s.append(tune_once(table, args.small_trials, args.concurrency, r, storage,
                                         f"overhead-small-{r}")[0])
                print(f"  run {r}: tune {elapsed:.2f} s, loop {loop_s[-1]:.3f} s, "
                      f"searcher loop {searcher_s[-1]:.3f} s, tune with {args.small_trials} trials "
                      f"{small_s[-1]:.2f} s", flush=True)
    finally:
        ray.shutdown()
        scratch.cleanup()

    tune_total, loop_total = statistics.median(tune_s), statistics.median(loop_s)
    per_trial = (tune_total - loop_total) / args.trials
    # start-up and shutdown cost the same for any number of trials: two run lengths separate them
    small_total = statistics.median(small_s)
    marginal = (tune_total - small_total) / (args.trials - args.small_trials)
    out = {
        "trials": args.trials,
        "tune_total_s": tune_total,
        "loop_total_s": loop_total,
        "overhead_s_per_trial": per_trial,
        "target_s_per_trial": TARGET_S_PER_TRIAL,
        "target_met": per_trial <= TARGET_S_PER_TRIAL,
        "searcher_loop_total_s": statistics.median(searcher_s),
        "tune_inside_trials_s": statistics.median(inside_s),
        "tune_small_trials": args.small_trials,
        "tune_small_total_s": small_total,
        "tune_fixed_s": small_total - marginal * args.small_trials,
        "tune_marginal_s_per_trial": marginal,
        "repeats": args.repeats,
        "tune_runs_s": tune_s,
        "loop_runs_s": loop_s,
        "table": os.path.relpath(table) if table == os.path.abspath(args.table) else "synthetic",
        "setup": {"searcher": "random", "space": "tabular", "max_concurrent_trials": args.concurrency,
                  "reuse_actors": True, "ray_num_cpus": 2},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__,
                    "date": datetime.date.today().isoformat()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"\n{'':<24} {'total s':>9} {'s per trial':>12}")
    print(f"{'raynas through Tune':<24} {tune_total:>9.2f} {tune_total / args.trials:>12.4f}")
    print(f"{'plain loop':<24} {loop_total:>9.3f} {loop_total / args.trials:>12.5f}")
    print(f"{'loop with searcher':<24} {out['searcher_loop_total_s']:>9.3f} "
          f"{out['searcher_loop_total_s'] / args.trials:>12.5f}")
    print(f"Tune: {out['tune_fixed_s']:.2f} s fixed (start-up, shutdown, outputs) + {marginal:.4f} s per trial")
    print(f"overhead {per_trial:.4f} s per trial (target <= {TARGET_S_PER_TRIAL}: "
          f"{'met' if out['target_met'] else 'NOT met'})")
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
