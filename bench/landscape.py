"""How rugged each benchmark table is under each budget, for one-position moves, beside how SA does there.

SA (and evolution) move one position at a time, so a table's *landscape* under a budget decides how far a
walk gets: an architecture is a local optimum when no feasible one-position neighbour is better, and the
basin of a local optimum is the set of architectures from which steepest ascent ends on it. For every
table and budget this reports, exactly, over the whole table:

* feasible architectures, and the mean number of feasible one-position neighbours;
* local optima, and how many of the 10 best architectures are local optima;
* the share of feasible architectures in the basin of the best one;
* from a ``bench.search_efficiency`` results file (optional): SA's and evolution's median / mean rank
  fraction at the largest number of evaluations measured.

Usage:
    python -m bench.landscape --tables ../shared/data/channel_bench_macro_resnet.json,\\
../shared/data/nas_bench_201_cifar.csv --budgets 0.15,0.3,0.5,none \\
        --efficiency bench/results/search_efficiency_seeds160.json,bench/results/search_efficiency_budgets.json \\
        --json bench/results/landscape.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
from collections.abc import Iterator
from typing import Any

from bench.search_efficiency import Table, _budgets, load_table, write

Key = tuple[int, ...]


def neighbours(key: Key, table: list[int], feasible: dict[Key, float]) -> Iterator[Key]:
    """The feasible one-position mutations of ``key``."""
    for i, n in enumerate(table):
        for v in range(n):
            if v != key[i]:
                move = key[:i] + (v,) + key[i + 1 :]
                if move in feasible:
                    yield move


def landscape(table: Table) -> dict[str, Any]:
    """Local-optimum structure of ``table`` (a table with its budget) for one-position moves."""
    ranges = table.space.range_table()
    feasible = {k: acc for k, (acc, params) in table.space.rows().items() if table.within_params(params)}
    ranked = sorted(feasible, key=feasible.__getitem__, reverse=True)
    near = {k: list(neighbours(k, ranges, feasible)) for k in feasible}
    optima = {k for k in feasible if all(feasible[m] <= feasible[k] for m in near[k])}

    def climb(key: Key) -> Key:
        while True:
            step = max(near[key], key=feasible.__getitem__, default=None)
            if step is None or feasible[step] <= feasible[key]:
                return key
            key = step

    basins = collections.Counter(climb(k) for k in feasible)
    return {
        "feasible": len(feasible),
        "mean_neighbours": round(statistics.fmean(map(len, near.values())), 2),
        "neighbour_moves": sum(n - 1 for n in ranges),
        "local_optima": len(optima),
        "top10_local_optima": sum(k in optima for k in ranked[:10]),
        "best_basin_share": round(basins[ranked[0]] / len(feasible), 4),
    }


def efficiency(paths: list[str]) -> dict[tuple[str, Any], dict[str, tuple[float, float]]]:
    """(table, budget fraction) -> searcher -> (median, mean) rank fraction at the most evaluations measured."""
    pooled: dict[tuple[str, Any, int, str], list[float]] = collections.defaultdict(list)
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["results"]:
                pooled[(r["table"], r["budget_frac"], r["evals"], r["searcher"])] += r["rank_fractions"]
    most = collections.defaultdict(int)
    for table, frac, evals, _ in pooled:
        most[(table, frac)] = max(most[(table, frac)], evals)
    out: dict[tuple[str, Any], dict[str, tuple[float, float]]] = collections.defaultdict(dict)
    for (table, frac, evals, searcher), ranks in pooled.items():
        if evals == most[(table, frac)]:
            out[(os.path.basename(table), frac)][searcher] = (statistics.median(ranks), statistics.fmean(ranks))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.landscape", description=__doc__.split("\n")[0])
    p.add_argument("--tables", required=True, help="comma-separated tables, each PATH or PATH@METRIC")
    p.add_argument("--budgets", default="0.3,none", help="comma-separated budget fractions or 'none'")
    p.add_argument("--efficiency", default="", help="comma-separated bench.search_efficiency results files")
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)

    measured = efficiency([e for e in args.efficiency.split(",") if e])
    out: dict[str, Any] = {"results": []}
    print(
        f"{'table':<42} {'budget':>6} {'feasible':>8} {'nbrs':>5} {'optima':>6} {'top10':>5} {'basin':>6}  "
        "SA / evolution at most evals (median, mean)"
    )
    for entry in args.tables.split(","):
        space = load_table(entry)
        for frac in _budgets(args.budgets):
            row = {"table": entry, "budget_frac": frac, **landscape(Table(space, frac))}
            found = measured.get((os.path.basename(entry), frac), {})
            row["rank_fractions"] = {s: found[s] for s in ("sa", "evolution") if s in found}
            out["results"].append(row)
            versus = "  ".join(f"{s} {m:.4f}/{a:.4f}" for s, (m, a) in row["rank_fractions"].items())
            print(
                f"{os.path.basename(entry):<42} {str(frac):>6} {row['feasible']:>8} {row['mean_neighbours']:>5} "
                f"{row['local_optima']:>6} {row['top10_local_optima']:>5} {row['best_basin_share']:>6.4f}  {versus}"
            )
    write(args.json, out)
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
