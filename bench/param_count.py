"""Exact analytic parameter counts against building the module, for every registered space with a network.

For each space, the same random architectures (uniform tokens, fixed seed) are counted both ways, one after
the other per architecture: ``space.num_params(tokens)`` and ``sum(p.numel() for p in space.build(tokens)
.parameters())``. Targets: the two agree on every architecture, and the analytic count is at least 100x
faster. A space registered later joins automatically.

Usage:
    python -m bench.param_count --archs 1000 --json bench/results/param_count.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import time
from typing import Any

import torch

from raynas import spaces

TARGET_SPEEDUP = 100.0


def measure(name: str, archs: int, seed: int) -> dict[str, Any]:
    """Count ``archs`` random architectures of space ``name`` both ways; timings summed over them."""
    space = spaces.get(name)
    rng = random.Random(seed)
    analytic_s = build_s = 0.0
    mismatches = []
    for _ in range(archs):
        tokens = space.random_tokens(rng)
        start = time.perf_counter()
        analytic = space.num_params(tokens)
        middle = time.perf_counter()
        built = sum(p.numel() for p in space.build(tokens).parameters())
        end = time.perf_counter()
        analytic_s += middle - start
        build_s += end - middle
        if analytic != built:
            mismatches.append({"tokens": tokens, "analytic": analytic, "built": built})
    speedup = build_s / analytic_s
    return {
        "space": name,
        "archs": archs,
        "exact": not mismatches,
        "mismatches": mismatches[:5],
        "analytic_s_per_arch": analytic_s / archs,
        "build_s_per_arch": build_s / archs,
        "speedup": speedup,
        "target_speedup": TARGET_SPEEDUP,
        "target_met": not mismatches and speedup >= TARGET_SPEEDUP,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(prog="python -m bench.param_count", description=__doc__.split("\n")[0])
    p.add_argument("--archs", type=int, default=1000, help="random architectures per space")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", required=True, help="where to write the results")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = []
    for name in spaces.names():
        if not spaces.has_network(name):
            continue
        out.append(measure(name, args.archs, args.seed))
        r = out[-1]
        print(
            f"{name:15s} exact={r['exact']} analytic {r['analytic_s_per_arch'] * 1e6:8.1f} us/arch  "
            f"build {r['build_s_per_arch'] * 1e3:8.2f} ms/arch  speedup {r['speedup']:,.0f}x "
            f"(target >= {TARGET_SPEEDUP:g}x: {'met' if r['target_met'] else 'NOT met'})",
            flush=True,
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(
            {
                "spaces": out,
                "seed": args.seed,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "torch_threads": 1,
                    "date": datetime.date.today().isoformat(),
                },
            },
            f,
            indent=2,
        )
        f.write("\n")
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
