"""What Ray Tune orchestration costs per trial in raynas's own setup, against a plain Python loop.

The Tune side is :func:`raynas.runs.search.run` on the tabular space with the random searcher, two trials at a
time: a ``Tuner`` with the searcher as ``search_alg``, ``reuse_actors=True``, ``max_concurrent_trials=2``
and the lookup trainable, each trial looking one architecture's accuracy up in the table. The loop side
calls the same trial body (load the table once, validate the tokens, look accuracy and params up) for the
same architectures in a plain Python loop, and once more driving a fresh random searcher, so the searcher's
own cost is visible too. Both run in the same process, after one ``ray.init(num_cpus=2)``.

    overhead_s_per_trial = (tune_total_s - loop_total_s) / trials

A short Tune run (``--small-trials``) splits the Tune time into a fixed part (Tuner and actor start-up,
shutdown, writing the outputs) and a marginal cost per trial. With several ``--trials`` (e.g. 200 and 2,000),
the marginal cost of the trials between two sizes shows whether a trial costs more the later it comes; target:
the marginal cost per trial up to 2,000 within 1.2x of that up to 200. The searchers' own cost is measured
too: ``suggest`` plus ``on_trial_complete`` per call, early, before the middle and late, and saving their
state (``--searchers-only`` measures just that, without Ray).

Usage:
    python -m bench.overhead --trials 200,2000 --json bench/results/overhead.json
    python -m bench.overhead --searchers-only --json bench/results/overhead_searchers.json
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
import threading
import time
from typing import Any

import ray

from raynas.runs.search import run
from raynas.searchers import SEARCHERS, RandomSearcher
from raynas.settings import SearchSettings
from raynas.spaces.tabular import TabularSpace

DEFAULT_TABLE = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "shared", "data", "channel_bench_macro_resnet.json"
)
TARGET_S_PER_TRIAL = 0.15
TARGET_GROWTH = 1.2


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
    return {"reward": accuracy, "val_acc": accuracy, "params": space.num_params(tokens), "tokens": tokens, "epoch": 1}


class RowClock(threading.Thread):
    """Samples how many rows results.csv holds every ``every_s`` seconds while a search runs."""

    def __init__(self, path: str, every_s: float = 0.1):
        super().__init__(daemon=True)
        self.path, self.every_s, self.samples, self.done = path, every_s, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            with contextlib.suppress(OSError):
                with open(self.path, "rb") as f:
                    self.samples.append((time.perf_counter(), f.read().count(b"\n") - 1))  # minus the header

    def s_per_trial(self, first: int, last: int) -> float:
        """Seconds per finished trial between the ``first``-th and the ``last``-th row."""

        def reached(k: int) -> float:
            return next(t for t, rows in self.samples if rows >= k)

        return (reached(last) - reached(first)) / (last - first)


def tune_once(table: str, trials: int, concurrency: int, seed: int, storage: str, name: str):
    """One search through raynas's Tune setup: (wall seconds, evaluated token lists, seconds inside trials,
    the :class:`RowClock` of its results.csv)."""
    settings = SearchSettings.from_dict(
        {
            "searcher": "random",
            "space": "tabular",
            "space_kwargs": {"path": table},
            "num_samples": trials,
            "concurrency": concurrency,
            "seed": seed,
            "storage_path": storage,
            "name": name,
        }
    )
    clock = RowClock(os.path.join(storage, name, "results.csv"))
    clock.start()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # one progress line per trial otherwise
        outcome = run(settings)
    elapsed = time.perf_counter() - start
    clock.done.set()
    clock.join()
    frame = outcome.results
    done = frame[(frame.status == "TERMINATED") & frame.reward.notna()]
    if len(done) != trials:
        raise RuntimeError(f"only {len(done)} of {trials} trials finished; see {outcome.results_path}")
    return elapsed, [json.loads(t) for t in done.tokens], float(done.wall_time_s.sum()), clock


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


def searcher_scaling(
    table: str, trials: int, window: int = 200, limit_s: float = 120.0, repeats: int = 1
) -> dict[str, Any]:
    """Per registered searcher: seconds per suggest + complete over the first ``window`` calls of ``trials``,
    the ``window`` calls before the middle one and the last ``window`` (medians over ``repeats`` runs), and
    the time and size of saving the state after ``window`` and after the last call (first run). A searcher
    whose calls take more than ``limit_s`` in all is stopped there: ``calls`` says how far it got."""
    space = TabularSpace.from_json(table)
    out = {}
    for cls in SEARCHERS.values():  # a searcher registered later is measured too
        runs = [_searcher_calls(cls, space, trials, window, limit_s) for _ in range(repeats)]
        first, middle, last = (statistics.median(r[k] for r in runs) for k in ("first", "middle", "last"))
        out[cls.__name__] = {
            "calls": runs[0]["calls"],
            "call_s_first": first,
            "call_s_middle": middle,
            "call_s_last": last,
            "growth": last / first,
            "growth_second_half": last / middle,
            "runs_us": [[round(r[k] * 1e6) for k in ("first", "middle", "last")] for r in runs],
            "saves": runs[0]["saves"],
        }
    return out


def _searcher_calls(cls: type, space: TabularSpace, trials: int, window: int, limit_s: float) -> dict[str, Any]:
    """One run of :func:`searcher_scaling` for one searcher class."""
    searcher = cls(space, seed=0, num_samples=trials)
    call_s, saves = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(trials):
            start = time.perf_counter()
            config = searcher.suggest(f"t{i}")
            searcher.on_trial_complete(f"t{i}", {"reward": space.accuracy(config["tokens"])})
            call_s.append(time.perf_counter() - start)
            last_call = i + 1 == trials or sum(call_s) > limit_s
            if i + 1 == window or last_call:
                path = os.path.join(folder, f"state-{i + 1}.json")
                start = time.perf_counter()
                searcher.save(path)
                saves[i + 1] = {"save_s": time.perf_counter() - start, "bytes": os.path.getsize(path)}
            if last_call:
                break
    half = len(call_s) // 2  # a cost bounded by a fixed size stops growing: the second half is flat
    return {
        "calls": len(call_s),
        "first": statistics.mean(call_s[:window]),
        "middle": statistics.mean(call_s[max(0, half - window) : half]),
        "last": statistics.mean(call_s[-window:]),
        "saves": saves,
    }


def results_scaling(trials: int, window: int) -> dict[str, float]:
    """Seconds per finished trial of raynas's own bookkeeping (the Progress callback appending the row and
    printing), over the first and the last ``window`` of ``trials``, without Tune."""
    from types import SimpleNamespace

    from raynas.tune.progress import Progress

    with tempfile.TemporaryDirectory() as storage:
        progress = Progress(SearchSettings(storage_path=storage, name="log", num_samples=trials))
        progress.setup()
        spent = []
        with contextlib.redirect_stdout(io.StringIO()):
            for i in range(trials):
                trial = SimpleNamespace(
                    trial_id=f"t{i:05d}",
                    status="TERMINATED",
                    config={"tokens": [i % 4] * 7, "trial_index": i},
                    get_error=lambda: None,
                    last_result={"reward": 0.9, "params": 1000 + i, "tokens": [i % 4] * 7},
                )
                start = time.perf_counter()
                progress.on_trial_complete(i, [], trial)
                progress.on_step_end(i, [])
                spent.append(time.perf_counter() - start)
    first, last = statistics.mean(spent[:window]), statistics.mean(spent[-window:])
    return {"s_per_trial_first": first, "s_per_trial_last": last, "growth": last / first}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    p.add_argument("--trials", default="200,2000", help="comma-separated numbers of trivial trials per run")
    p.add_argument("--repeats", type=int, default=2, help="Tune runs (and loops) per size; medians are reported")
    p.add_argument(
        "--small-trials",
        type=int,
        default=10,
        help="trials of a short Tune run that separates fixed from per-trial cost",
    )
    p.add_argument("--concurrency", type=int, default=2, help="max_concurrent_trials of the Tune runs")
    p.add_argument("--table", default=DEFAULT_TABLE, help="benchmark table the trials look up")
    p.add_argument(
        "--searcher-repeats",
        type=int,
        default=3,
        help="runs of each searcher's suggest + complete calls; medians are reported",
    )
    p.add_argument(
        "--searchers-only",
        action="store_true",
        help="measure only the searchers' calls (no Ray), e.g. after changing a searcher",
    )
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)
    sizes = sorted(int(t) for t in args.trials.split(","))
    if not 0 < args.small_trials < sizes[0] or args.repeats < 1 or args.searcher_repeats < 1:
        p.error("need 0 < --small-trials < every --trials, --repeats >= 1 and --searcher-repeats >= 1")
    table = os.path.abspath(args.table)
    scratch = tempfile.TemporaryDirectory(prefix="raynas-bench-table-")
    if not os.path.isfile(table) and args.table == DEFAULT_TABLE:
        table = synthetic_table(scratch.name)
        print(f"{DEFAULT_TABLE} not found; the trials look up a synthetic table instead")
    if args.searchers_only:
        searchers = searcher_scaling(table, sizes[-1], window=sizes[0], repeats=args.searcher_repeats)
        _write(args.json, {"searchers": searchers, "searcher_repeats": args.searcher_repeats, "machine": _machine()})
        _print_searchers(searchers)
        return searchers

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    runs: dict[int, dict[str, list[float]]] = {
        n: {"tune": [], "loop": [], "searcher": [], "inside": [], "early": [], "late": []}
        for n in [args.small_trials, *sizes]
    }
    skip = args.small_trials  # the first trials also pay for starting the actors
    try:
        with tempfile.TemporaryDirectory(prefix="raynas-bench-") as storage:
            for r in range(args.repeats):
                for n in [args.small_trials, *sizes]:  # interleaved: every repeat runs every size
                    elapsed, token_lists, inside, clock = tune_once(
                        table, n, args.concurrency, r, storage, f"overhead-{n}-{r}"
                    )
                    run = runs[n]
                    if n > skip:  # within this one run: the trials after the first ones, against the last ones
                        run["early"].append(clock.s_per_trial(skip, min(n, sizes[0])))
                        run["late"].append(clock.s_per_trial(n - (min(n, sizes[0]) - skip), n))
                    run["tune"].append(elapsed)
                    run["inside"].append(inside)
                    run["loop"].append(loop_once(table, token_lists))
                    run["searcher"].append(searcher_loop_once(table, n, r))
                    print(
                        f"  repeat {r}, {n} trials: tune {elapsed:.2f} s, loop {run['loop'][-1]:.3f} s, "
                        f"searcher loop {run['searcher'][-1]:.3f} s",
                        flush=True,
                    )
    finally:
        ray.shutdown()
        scratch.cleanup()

    medians = {n: {k: statistics.median(v) for k, v in run.items() if v} for n, run in runs.items()}
    small = args.small_trials
    per_size, previous = {}, small
    for n in sizes:
        m = medians[n]
        marginal = (m["tune"] - medians[previous]["tune"]) / (n - previous)
        per_size[n] = {
            "tune_total_s": m["tune"],
            "loop_total_s": m["loop"],
            "overhead_s_per_trial": (m["tune"] - m["loop"]) / n,
            "marginal_s_per_trial": marginal,
            "marginal_from_trials": previous,
            "searcher_loop_total_s": m["searcher"],
            "tune_inside_trials_s": m["inside"],
            "s_per_trial_early": m["early"],
            "s_per_trial_late": m["late"],
            "tune_runs_s": runs[n]["tune"],
            "loop_runs_s": runs[n]["loop"],
            "early_runs_s_per_trial": runs[n]["early"],
            "late_runs_s_per_trial": runs[n]["late"],
        }
        previous = n
    first, last = per_size[sizes[0]], per_size[sizes[-1]]
    growth = last["s_per_trial_late"] / last["s_per_trial_early"]
    window = f"trials {skip + 1}-{sizes[0]} against the last {sizes[0] - skip} of {sizes[-1]}"
    searchers = searcher_scaling(table, sizes[-1], window=sizes[0], repeats=args.searcher_repeats)
    bookkeeping = results_scaling(sizes[-1], window=sizes[0])
    out = {
        "sizes": {str(n): v for n, v in per_size.items()},
        "tune_small_trials": small,
        "tune_small_total_s": medians[small]["tune"],
        "tune_fixed_s": medians[small]["tune"] - first["marginal_s_per_trial"] * small,
        "target_s_per_trial": TARGET_S_PER_TRIAL,
        "target_met": all(v["overhead_s_per_trial"] <= TARGET_S_PER_TRIAL for v in per_size.values()),
        "growth": growth,
        "growth_windows": window,
        "target_growth": TARGET_GROWTH,
        "growth_target_met": growth <= TARGET_GROWTH,
        "marginal_growth": last["marginal_s_per_trial"] / first["marginal_s_per_trial"],
        "searchers": searchers,
        "raynas_bookkeeping": bookkeeping,
        "repeats": args.repeats,
        "table": os.path.relpath(table) if table == os.path.abspath(args.table) else "synthetic",
        "setup": {
            "searcher": "random",
            "space": "tabular",
            "max_concurrent_trials": args.concurrency,
            "reuse_actors": True,
            "ray_num_cpus": 2,
        },
        "machine": _machine(),
    }
    _write(args.json, out)
    print(
        f"\n{'trials':>7} {'tune s':>8} {'loop s':>8} {'overhead s/trial':>17} {'marginal s/trial':>17} "
        f"{'early s/trial':>14} {'late s/trial':>13}"
    )
    for n, v in per_size.items():
        print(
            f"{n:>7} {v['tune_total_s']:>8.2f} {v['loop_total_s']:>8.3f} {v['overhead_s_per_trial']:>17.4f} "
            f"{v['marginal_s_per_trial']:>17.4f} {v['s_per_trial_early']:>14.4f} {v['s_per_trial_late']:>13.4f}"
        )
    print(
        f"seconds per finished trial in one {sizes[-1]}-trial run, {window}: {growth:.2f}x "
        f"(target <= {TARGET_GROWTH}: {'met' if out['growth_target_met'] else 'NOT met'})"
    )
    _print_searchers(searchers)
    print(
        f"raynas's own bookkeeping per finished trial (row appended, progress): "
        f"{bookkeeping['s_per_trial_first'] * 1e6:.0f} us over the first {sizes[0]}, "
        f"{bookkeeping['s_per_trial_last'] * 1e6:.0f} us over the last {sizes[0]} of {sizes[-1]}"
    )
    return out


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "date": datetime.date.today().isoformat(),
    }


def _write(path: str, out: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def _print_searchers(searchers: dict[str, Any]) -> None:
    for name, v in searchers.items():
        saves = ", ".join(f"{k} evaluated: {s['save_s'] * 1e3:.1f} ms, {s['bytes']:,} B" for k, s in v["saves"].items())
        print(
            f"{name}: {v['call_s_first'] * 1e6:.0f} us per call early, {v['call_s_middle'] * 1e6:.0f} us before "
            f"the middle, {v['call_s_last'] * 1e6:.0f} us late ({v['calls']} calls); save {saves}"
        )


if __name__ == "__main__":
    main()
