"""Time and peak memory of one DARTS search step: raynas's supernet and architect against a plain, minimal
implementation of the same supernet and step written here, on the same batches in the same run.

The plain step is the textbook one: ``torch.func.functional_call`` with a dict of unrolled weights for the
virtual step, and the finite differences done on copies of the weights (nothing restored in place). Both run
first and second order, interleaved, each on a fresh copy of the same initial network.

    python -m bench.darts_step --repeats 10 --json bench/results/darts_step.json
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import json
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call

from raynas.spaces.darts import SearchNetwork
from raynas.trainables.architect import Architect


def optimizers(net: SearchNetwork) -> tuple[torch.optim.SGD, torch.optim.Adam]:
    return (
        torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4),
        torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3),
    )


def plain_step(
    net: SearchNetwork,
    w_opt: torch.optim.SGD,
    a_opt: torch.optim.Adam,
    order: int,
    xt: torch.Tensor,
    yt: torch.Tensor,
    xv: torch.Tensor,
    yv: torch.Tensor,
) -> None:
    """A minimal DARTS step with functional weights: no in-place changes of the network's weights."""
    names = {id(p): n for n, p in net.named_parameters()}
    weights = {names[id(p)]: p for p in net.weight_parameters()}
    alphas = list(net.arch_parameters())

    def loss(w: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(net, w, (x,)), y)

    a_opt.zero_grad()
    if order == 1:
        grads = torch.autograd.grad(loss(weights, xv, yv), alphas)
    else:
        group = w_opt.param_groups[0]
        eta, mu, decay = group["lr"], group["momentum"], group["weight_decay"]
        g = torch.autograd.grad(loss(weights, xt, yt), list(weights.values()))
        unrolled = {}
        with torch.no_grad():
            for (n, w), gw in zip(weights.items(), g):
                buf = w_opt.state.get(w, {}).get("momentum_buffer")
                unrolled[n] = (w - eta * (gw + decay * w + (mu * buf if buf is not None else 0))).requires_grad_()
        out = torch.autograd.grad(loss(unrolled, xv, yv), alphas + list(unrolled.values()))
        dalpha, v = out[: len(alphas)], out[len(alphas) :]
        R = 0.01 / torch.sqrt(sum((t * t).sum() for t in v))
        with torch.no_grad():
            plus = {n: w + R * t for (n, w), t in zip(weights.items(), v)}
            minus = {n: w - R * t for (n, w), t in zip(weights.items(), v)}
        gp = torch.autograd.grad(loss(plus, xt, yt), alphas)
        gm = torch.autograd.grad(loss(minus, xt, yt), alphas)
        grads = [d - eta * (p - m) / (2 * R) for d, p, m in zip(dalpha, gp, gm)]
    for a, g in zip(alphas, grads):
        a.grad = g
    a_opt.step()
    w_opt.zero_grad()
    loss(weights, xt, yt).backward()
    torch.nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
    w_opt.step()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_rss_mb(impl: str, order: int, args: argparse.Namespace) -> float:
    """Peak memory of 3 steps of ``impl`` in a fresh process, above its resident memory after a warm-up step.

    torch's CPU allocator keeps no peak statistics of its own, so the probe uses the kernel's: after the
    warm-up step, freed memory is handed back to the system (``malloc_trim``) and the peak resident size is
    reset to the current one (``/proc/self/clear_refs``); it is read back (``VmHWM``) after the steps.
    """
    code = (
        f"import sys; sys.argv = ['x'] + {_argv(args)!r}; import bench.darts_step as b; "
        f"b.memory_probe({impl!r}, {order})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _argv(args: argparse.Namespace) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("json", "repeats")]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def memory_probe(impl: str, order: int) -> None:
    args = parser().parse_args()
    net, batches = setup(args, 4)
    w_opt, a_opt = optimizers(net)
    architect = Architect(net, w_opt, a_opt, order=order)

    def step(batch: tuple) -> None:
        architect.step(*batch) if impl == "raynas" else plain_step(net, w_opt, a_opt, order, *batch)

    step(batches[0])  # optimizer state and lazily built parts exist from here on
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak resident size restarts from the current one
    before = _status_kb("VmRSS")
    for batch in batches[1:]:
        step(batch)
    print((_status_kb("VmHWM") - before) / 1024)


def setup(args: argparse.Namespace, n: int) -> tuple[SearchNetwork, list]:
    torch.manual_seed(0)
    net = SearchNetwork(C=args.init_channels, layers=args.layers, in_channels=3)
    shape = (args.batch_size, 3, args.image_size, args.image_size)
    batches = [
        (
            torch.randn(shape),
            torch.randint(0, 10, (args.batch_size,)),
            torch.randn(shape),
            torch.randint(0, 10, (args.batch_size,)),
        )
        for _ in range(n)
    ]
    return net, batches


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Time and peak memory of a DARTS step: raynas against a plain one")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--init-channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--json", default=None)
    return p


def main() -> None:
    args = parser().parse_args()
    base, batches = setup(args, args.repeats + 1)
    runs = {}
    for order in (1, 2):
        raynas_net, plain_net = copy.deepcopy(base), copy.deepcopy(base)
        r_w, r_a = optimizers(raynas_net)
        p_w, p_a = optimizers(plain_net)
        architect = Architect(raynas_net, r_w, r_a, order=order)
        times = {"raynas": [], "plain": []}
        for i, batch in enumerate(batches):
            for name in ("raynas", "plain") if i % 2 == 0 else ("plain", "raynas"):
                fn = (
                    (lambda: architect.step(*batch))
                    if name == "raynas"
                    else (lambda: plain_step(plain_net, p_w, p_a, order, *batch))
                )
                elapsed = timed(fn)
                if i > 0:  # the first step warms up both
                    times[name].append(elapsed)
        runs[order] = {
            name: {"median_s": statistics.median(t), "peak_rss_mb": peak_rss_mb(name, order, args)}
            for name, t in times.items()
        }
        runs[order]["raynas_over_plain"] = runs[order]["raynas"]["median_s"] / runs[order]["plain"]["median_s"]
    runs["second_over_first_raynas"] = runs[2]["raynas"]["median_s"] / runs[1]["raynas"]["median_s"]
    out = {
        "settings": vars(args),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "results": {str(k): v for k, v in runs.items()},
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
