"""How good an architecture each searcher finds on benchmark tables.

For every table, budget, number of evaluations, searcher and seed, one search runs on the
:class:`~raynas.spaces.tabular.TabularSpace` of the table with the parameter budget
``min + frac * (max - min)`` (or none), for ``evals`` distinct evaluations, one trial at a time so that a
seed always gives the same search. Two ways to run it:

* ``--mode inprocess`` (default): the searcher objects Tune would drive, driven directly: ``suggest``, then
  ``on_trial_complete`` with the table's accuracy as the reward. Milliseconds per trial, for big sweeps.
* ``--mode tune``: the same path as a real search (:func:`raynas.runs.search.run`: a ``Tuner`` with the searcher
  as ``search_alg`` and the lookup trainable, ``reuse_actors=True``), for a confirmation run.

The best feasible accuracy found is compared with the whole table:

* regret: best feasible accuracy in the table minus the accuracy found (fractions, as the space reports);
* rank fraction: share of feasible architectures strictly better than the one found;
* infeasible evaluations: evaluated architectures over the budget (must be 0).
Median and mean over seeds are reported: the mean shows the bad seeds.

Usage:
    python -m bench.search_efficiency --tables ../shared/data/channel_bench_macro_resnet.json,\\
../shared/data/nas_bench_201_cifar.csv --budgets 0.3,none --evals 50,100,200 --seeds 20 \\
        --searchers sa,random,evolution,tpe --json bench/results/search_efficiency.json

A table may name its accuracy column after ``@`` (``nas_bench_201_cifar.csv@cifar100``). ``--searchers``
takes a comma-separated list of CLI names of ``raynas.searchers.SEARCHERS`` (``sa`` is ``sanas``); any
constructor argument can be overridden per entry with ``:key=value`` (``sa:init_temperature=1:decay=0.85``);
the entry's full text is then its name in the output.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import inspect
import io
import itertools
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from typing import Any

from ray.tune.search import Searcher

from raynas.searchers import SEARCHERS
from raynas.spaces.tabular import TabularSpace

#: benchmark names that are not CLI names
ALIASES = {"sa": "sanas"}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_searcher(entry: str) -> tuple[str, dict[str, Any]]:
    """``"sa:decay=0.85"`` -> (``"sanas"``, ``{"decay": 0.85}``); unset arguments keep the class defaults."""
    name, *overrides = entry.strip().split(":")
    cli_name = ALIASES.get(name, name)
    if cli_name not in SEARCHERS:
        raise SystemExit(f"unknown searcher {name!r}; choose from: {', '.join(sorted({*ALIASES, *SEARCHERS}))}")
    settable = [
        p for p, v in inspect.signature(SEARCHERS[cli_name].__init__).parameters.items() if v.kind is v.KEYWORD_ONLY
    ]
    extra: dict[str, Any] = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in settable:
            raise SystemExit(
                f"searcher entry {entry!r}: {key!r} is not a setting of {name!r} "
                f"(settable: {', '.join(settable) or 'none'})"
            )
        extra[key] = _value(value)
    return cli_name, extra


class Table:
    """The reference numbers of a table under a budget: what a searcher is measured against."""

    def __init__(self, space: TabularSpace, budget_frac: float | None):
        self.space = space
        low, high = space.params_range()
        self.budget = None if budget_frac is None else int(low + budget_frac * (high - low))
        self._feasible = sorted(acc for acc, params in space.rows().values() if self.within_params(params))
        self.count = len(self._feasible)
        self.best = self._feasible[-1]

    def within_params(self, params: int) -> bool:
        return self.budget is None or params <= self.budget

    def within(self, tokens: list[int]) -> bool:
        return self.space.contains(tokens) and self.within_params(self.space.num_params(tokens))

    def rank_fraction(self, accuracy: float) -> float:
        """Share of feasible architectures strictly better than ``accuracy``."""
        return (self.count - bisect.bisect_right(self._feasible, accuracy)) / self.count


def search_inprocess(
    table: Table, cli_name: str, extra: dict[str, Any], evals: int, seed: int, batch: int = 1
) -> list[list[int]]:
    """The architectures one search evaluates, driving the searcher as Tune would: ``batch`` trials proposed at
    once (as in a batched subnet stage), then all completed."""
    searcher = SEARCHERS[cli_name](table.space, max_params=table.budget, seed=seed, num_samples=evals, **extra)
    evaluated: list[list[int]] = []
    while len(evaluated) < evals:
        proposed = []
        for _ in range(min(batch, evals - len(evaluated))):
            trial_id = str(len(evaluated) + len(proposed))
            config = searcher.suggest(trial_id)
            if config is None or config is Searcher.FINISHED:
                break
            proposed.append((trial_id, config["tokens"]))
        if not proposed:
            break
        for trial_id, tokens in proposed:
            evaluated.append(tokens)
            searcher.on_trial_complete(trial_id, {"reward": table.space.accuracy(tokens)})
    return evaluated


def search_tune(table: Table, cli_name: str, extra: dict[str, Any], evals: int, seed: int) -> list[list[int]]:
    """The architectures one search through Tune evaluates (:func:`raynas.runs.search.run`)."""
    from raynas.runs.search import run
    from raynas.settings import SearchSettings

    if extra:
        raise SystemExit("--mode tune runs searchers with their CLI settings; drop the :key=value overrides")
    with tempfile.TemporaryDirectory(prefix="raynas-bench-") as storage:
        settings = SearchSettings.from_dict(
            {
                "searcher": cli_name,
                "space": "tabular",
                "space_kwargs": table.space.kwargs(),
                "max_params": table.budget,
                "num_samples": evals,
                "concurrency": 1,
                "seed": seed,
                "storage_path": storage,
                "name": f"{cli_name}-seed{seed}",
            }
        )
        with contextlib.redirect_stdout(io.StringIO()):  # one progress line per trial otherwise
            frame = run(settings).results
    failed = frame[(frame.status != "TERMINATED") | frame.reward.isna()]
    if len(failed):
        print(f"  warning: {cli_name} seed {seed}: {len(failed)} trial(s) failed", file=sys.stderr)
    return [json.loads(t) for t in frame.tokens]


def score(table: Table, evaluated: list[list[int]]) -> dict[str, Any]:
    """Best feasible architecture among ``evaluated`` and how it compares with the table."""
    if len({tuple(t) for t in evaluated}) != len(evaluated):
        print("  warning: an architecture was evaluated twice", file=sys.stderr)
    feasible = [t for t in evaluated if table.within(t)]
    best = max(feasible, key=table.space.accuracy) if feasible else None
    acc = table.space.accuracy(best) if best else None
    return {
        "best_acc": acc,
        "regret": None if best is None else table.best - acc,
        "rank_fraction": 1.0 if best is None else table.rank_fraction(acc),
        "evaluations": len(evaluated),
        "infeasible": len(evaluated) - len(feasible),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ranks = [r["rank_fraction"] for r in rows]
    regrets = [r["regret"] for r in rows if r["regret"] is not None]
    return {
        "median_rank_fraction": statistics.median(ranks),
        "mean_rank_fraction": statistics.fmean(ranks),
        "median_regret": statistics.median(regrets) if regrets else None,
        "mean_regret": statistics.fmean(regrets) if regrets else None,
        "worst_rank_fraction": max(ranks),
        "infeasible_evaluations": sum(r["infeasible"] for r in rows),
        "rank_fractions": [round(r, 6) for r in ranks],
    }


def dumps(value: Any) -> str:
    """Indented JSON with each list of numbers on one line."""
    text = json.dumps(value, indent=2)
    return re.sub(r"\[\s*([-\d.e,\s]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def write(path: str, out: dict[str, Any]) -> None:
    """Write ``out`` to ``path`` with :func:`dumps`, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(dumps(out))


def _budgets(text: str) -> list[float | None]:
    """``"0.3,none"`` -> [0.3, None]: fractions of the way from the smallest to the largest architecture."""
    try:
        budgets = [None if b.strip() == "none" else float(b) for b in text.split(",")]
    except ValueError:
        budgets = [-1.0]
    if any(b is not None and not 0 <= b <= 1 for b in budgets):
        raise SystemExit(f"--budgets must be fractions between 0 and 1 or 'none', comma-separated; got {text!r}")
    return budgets


def _counts(text: str, flag: str) -> list[int]:
    """``"50,100"`` -> [50, 100], each at least 1."""
    try:
        counts = [int(c) for c in text.split(",")]
    except ValueError:
        counts = [0]
    if min(counts) < 1:
        raise SystemExit(f"{flag} must be whole numbers of at least 1, comma-separated; got {text!r}")
    return counts


def _offsets(text: str) -> list[int]:
    return [int(o) for o in text.split(",")]


def load_table(entry: str) -> TabularSpace:
    """``path`` or ``path@metric``."""
    path, _, metric = entry.partition("@")
    return TabularSpace(os.path.abspath(path), metric or None)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.search_efficiency", description=__doc__.split("\n")[0])
    p.add_argument("--tables", "--table", required=True, help="comma-separated tables, each PATH or PATH@METRIC")
    p.add_argument(
        "--budgets",
        "--budget-frac",
        default="0.3",
        help="comma-separated budget fractions (min + frac * (max - min) params) or 'none'",
    )
    p.add_argument("--evals", default="100", help="comma-separated numbers of distinct evaluations per search")
    p.add_argument("--seeds", type=int, default=20, help="number of seeds: --seed-offset .. --seed-offset + seeds - 1")
    p.add_argument(
        "--seed-offset",
        type=_offsets,
        default=[0],
        help="first seed (another set of seeds checks that defaults were not fitted to seeds 0..19); "
        "comma-separated: --seeds from each, pooled (0,20: seeds 0..39)",
    )
    p.add_argument("--searchers", default="sa,random", help="comma-separated, e.g. sa,random,evolution,tpe")
    p.add_argument("--mode", choices=["inprocess", "tune"], default="inprocess")
    p.add_argument(
        "--batches", default="1", help="comma-separated trials proposed at once before any completes (inprocess)"
    )
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)

    parsed = {e.strip(): parse_searcher(e) for e in args.searchers.split(",") if e.strip()}
    budgets, evals = _budgets(args.budgets), _counts(args.evals, "--evals")
    batches = _counts(args.batches, "--batches")
    if args.mode == "tune" and batches != [1]:
        raise SystemExit("--batches applies to --mode inprocess")
    if args.seeds < 1 or min(args.seed_offset) < 0:
        raise SystemExit(
            f"--seeds must be at least 1 and --seed-offset at least 0, got {args.seeds} and {args.seed_offset}"
        )
    tables = {}
    for entry in args.tables.split(","):
        try:
            tables[entry] = load_table(entry)
        except ValueError as exc:
            raise SystemExit(f"--tables {entry}: {exc}") from None
    for name, (cli_name, extra) in parsed.items():  # a setting of the wrong type or range fails now, in one line
        try:
            SEARCHERS[cli_name](next(iter(tables.values())), num_samples=max(evals), seed=0, **extra)
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"searcher entry {name!r}: {exc}") from None
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; mode {args.mode}")
    if args.mode == "tune":
        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    seeds = [offset + i for offset in args.seed_offset for i in range(args.seeds)]
    out: dict[str, Any] = {"mode": args.mode, "seeds": args.seeds, "seed_offset": args.seed_offset, "results": []}
    start = time.perf_counter()
    try:
        for entry, space in tables.items():
            for frac in budgets:
                table = Table(space, frac)
                print(
                    f"\n{entry}: budget {table.budget or 'none'} ({table.count} of {space.size()} feasible, "
                    f"best {table.best:.4f})"
                )
                print(
                    f"{'evals':>5} {'searcher':<28} {'median rank':>11} {'mean rank':>10} {'median regret':>13} "
                    f"{'worst':>7} {'infeas':>6} {'s':>6}"
                )
                for n, batch in itertools.product(evals, batches):
                    for name, (cli_name, extra) in parsed.items():
                        t0 = time.perf_counter()
                        runs = [
                            search_tune(table, cli_name, extra, n, seed)
                            if args.mode == "tune"
                            else search_inprocess(table, cli_name, extra, n, seed, batch)
                            for seed in seeds
                        ]
                        r = summary([score(table, evaluated) for evaluated in runs])
                        out["results"].append(
                            {
                                "table": entry,
                                "budget_frac": frac,
                                "budget": table.budget,
                                "feasible": table.count,
                                "evals": n,
                                **({"batch": batch} if len(batches) > 1 else {}),
                                "searcher": name,
                                **r,
                            }
                        )
                        label = f"{name} x{batch}" if len(batches) > 1 else name
                        print(
                            f"{n:>5} {label:<28} {r['median_rank_fraction']:>11.4f} "
                            f"{r['mean_rank_fraction']:>10.4f} {r['median_regret'] or 0:>13.4f} "
                            f"{r['worst_rank_fraction']:>7.4f} {r['infeasible_evaluations']:>6} "
                            f"{time.perf_counter() - t0:>6.1f}",
                            flush=True,
                        )
    finally:
        if args.mode == "tune":
            ray.shutdown()
    out["wall_time_s"] = round(time.perf_counter() - start, 1)
    write(args.json, out)
    print(f"wrote {args.json} ({out['wall_time_s']} s)")
    return out


if __name__ == "__main__":
    main()
