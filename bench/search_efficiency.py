"""How good an architecture each searcher finds on a benchmark table, through Ray Tune.

For every searcher and seed, a search runs on the :class:`~raynas.spaces.tabular.TabularSpace` of the table
with the parameter budget ``min + frac * (max - min)``, for ``--evals`` distinct evaluations, through the same
path as a real search (:func:`raynas.search.run`: a ``Tuner`` with the searcher as ``search_alg`` and the
lookup trainable, ``reuse_actors=True``), one trial at a time so that a seed always gives the same search.
The best feasible accuracy found is compared with the whole table:

* regret: best feasible accuracy in the table minus the accuracy found (fractions, as the space reports);
* rank fraction: share of feasible architectures strictly better than the one found;
* infeasible evaluations: evaluated architectures over the budget (must be 0).

Usage:
    python -m bench.search_efficiency --table ../shared/data/channel_bench_macro_resnet.json \\
        --budget-frac 0.3 --evals 100 --seeds 20 --json bench/results/search_efficiency.json

``--searchers`` takes a comma-separated list of names: ``sa`` (simulated annealing with its class
defaults), ``random``, or any CLI name of ``raynas.searchers.SEARCHERS`` (``sanas``). Simulated annealing
settings can be overridden per entry with ``:key=value`` (``sa:init_temperature=1:decay=0.85``); the entry's
full text is then its name in the output.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from typing import Any

import ray

from raynas.search import run
from raynas.searchers import SEARCHERS, SimulatedAnnealingSearcher
from raynas.settings import SearchSettings
from raynas.spaces.tabular import TabularSpace

#: benchmark names that are not CLI names
ALIASES = {"sa": "sanas"}
#: settings of the simulated annealing searcher that an entry may override
SA_FIELDS = ("init_temperature", "decay", "reward_scale")


def parse_searcher(entry: str) -> tuple[str, dict[str, float]]:
    """``"sa:decay=0.85"`` -> (``"sanas"``, ``{"decay": 0.85}``); the SA defaults are the class's own."""
    name, *overrides = entry.strip().split(":")
    cli_name = ALIASES.get(name, name)
    if cli_name not in SEARCHERS:
        raise SystemExit(f"unknown searcher {name!r}; choose from: {', '.join(sorted({*ALIASES, *SEARCHERS}))}")
    extra: dict[str, float] = {}
    if SEARCHERS[cli_name] is SimulatedAnnealingSearcher:
        defaults = inspect.signature(SimulatedAnnealingSearcher.__init__).parameters
        extra = {f: float(defaults[f].default) for f in SA_FIELDS}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in extra:
            raise SystemExit(f"searcher entry {entry!r}: {key!r} is not a setting of {name!r} "
                             f"(settable: {', '.join(extra) or 'none'})")
        extra[key] = float(value)
    return cli_name, extra


class Table:
    """The reference numbers of a table under a budget: what a searcher is measured against."""

    def __init__(self, path: str, budget_frac: float):
        self.space = TabularSpace.from_json(path)
        low, high = self.space.params_range()
        self.budget = int(low + budget_frac * (high - low))
        self.feasible = sorted((acc for acc, params in self.space.rows().values() if params <= self.budget),
                               reverse=True)
        self.best = self.feasible[0]

    def rank_fraction(self, accuracy: float) -> float:
        """Share of feasible architectures strictly better than ``accuracy``."""
        better = sum(1 for a in self.feasible if a > accuracy)
        return better / len(self.feasible)


def _within(table: Table, tokens: list[int]) -> bool:
    return table.space.contains(tokens) and table.space.num_params(tokens) <= table.budget


def search_once(table: Table, path: str, cli_name: str, extra: dict[str, float], evals: int, seed: int,
                storage: str) -> dict[str, Any]:
    """One search through Tune; the best feasible architecture it evaluated and how many were over budget."""
    settings = SearchSettings.from_dict({
        "searcher": cli_name, "space": "tabular", "space_kwargs": {"path": path}, "max_params": table.budget,
        "num_samples": evals, "concurrency": 1, "seed": seed, "storage_path": storage,
        "name": f"{cli_name}-seed{seed}", **extra})
    with contextlib.redirect_stdout(io.StringIO()):  # one progress line per trial otherwise
        outcome = run(settings)
    frame = outcome.results
    done = frame[(frame.status == "TERMINATED") & frame.reward.notna()]
    errors = len(frame) - len(done)
    if errors:
        print(f"  warning: {cli_name} seed {seed}: {errors} trial(s) failed", file=sys.stderr)
    tokens = [json.loads(t) for t in done.tokens]
    if len({tuple(t) for t in tokens}) != len(tokens):
        print(f"  warning: {cli_name} seed {seed}: an architecture was evaluated twice", file=sys.stderr)
    # every results row counts, failed trials included: an over-budget architecture must never be handed out
    infeasible = sum(1 for t in frame.tokens if not _within(table, json.loads(t)))
    feasible = [t for t in tokens if table.space.num_params(t) <= table.budget]
    best = max(feasible, key=table.space.accuracy) if feasible else None
    best_acc = table.space.accuracy(best) if best else None
    return {"seed": seed, "best_tokens": best, "best_acc": best_acc,
            "regret": None if best is None else table.best - best_acc,
            "rank_fraction": 1.0 if best is None else table.rank_fraction(best_acc),
            "evaluations": len(done), "_infeasible": infeasible}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def dumps(value: Any) -> str:
    """Indented JSON with each token list on one line."""
    text = json.dumps(value, indent=2)
    return re.sub(r"\[\s*([-\d,\s]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.search_efficiency", description=__doc__.split("\n")[0])
    p.add_argument("--table", required=True, help="benchmark table JSON (key -> {mean|mean_acc, params})")
    p.add_argument("--budget-frac", type=float, default=0.3, help="budget = min + frac * (max - min) params")
    p.add_argument("--evals", type=int, default=100, help="distinct evaluations per search")
    p.add_argument("--seeds", type=int, default=20, help="seeds 0 .. seeds-1")
    p.add_argument("--searchers", default="sa,random", help="comma-separated, e.g. sa,random")
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)

    entries = [e.strip() for e in args.searchers.split(",") if e.strip()]
    parsed = {e: parse_searcher(e) for e in entries}
    table = Table(args.table, args.budget_frac)
    print(f"table {args.table}: {table.space.size()} architectures, budget {table.budget:,} params "
          f"({len(table.feasible)} feasible, best feasible accuracy {table.best:.4f})")
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, Ray {ray.__version__}")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    out: dict[str, Any] = {"table": args.table, "budget": table.budget, "evals": args.evals,
                           "seeds": args.seeds, "searchers": {}}
    timings = {}
    try:
        for entry, (cli_name, extra) in parsed.items():
            start = time.perf_counter()
            per_seed = []
            for seed in range(args.seeds):
                with tempfile.TemporaryDirectory(prefix="raynas-bench-") as storage:
                    row = search_once(table, os.path.abspath(args.table), cli_name, extra, args.evals,
                                      seed, storage)
                per_seed.append(row)
                print(f"  {entry} seed {seed}: best {_fmt(row['best_acc'])} rank fraction "
                      f"{row['rank_fraction']:.4f} ({row['evaluations']} evaluations)", flush=True)
            timings[entry] = time.perf_counter() - start
            regrets = [r["regret"] for r in per_seed if r["regret"] is not None]
            out["searchers"][entry] = {
                "median_regret": statistics.median(regrets) if regrets else None,
                "median_rank_fraction": statistics.median(r["rank_fraction"] for r in per_seed),
                "infeasible_evaluations": sum(r.pop("_infeasible") for r in per_seed),
                "per_seed": per_seed,
            }
    finally:
        ray.shutdown()

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        f.write(dumps(out))

    print(f"\n{'searcher':<32} {'median regret':>14} {'median rank frac':>17} {'infeasible':>10} {'time s':>8}")
    for entry, r in out["searchers"].items():
        regret = "-" if r["median_regret"] is None else f"{r['median_regret']:.4f}"
        print(f"{entry:<32} {regret:>14} {r['median_rank_fraction']:>17.4f} "
              f"{r['infeasible_evaluations']:>10} {timings[entry]:>8.1f}")
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
