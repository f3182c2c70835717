"""BatchNorm recalibration for one path of a supernet: exact statistics over a fixed set of training images.

Shared weights serve many subnets, but each subnet's BatchNorm statistics are its own: before a subnet is
evaluated, every BatchNorm on its path gets the exact mean and (unbiased) variance of its inputs over the
calibration images (OFA's exact average, not SPOS's moving average). Each chunk is normalised with its own
batch statistics on the way, as in training; with a single chunk the result equals a reset BatchNorm with
``momentum=None`` run once over all the images.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, affine=False))
    >>> images = torch.randn(50, 1, 8, 8)
    >>> recalibrate(net, images, batch_size=7)
    >>> out = net[0](images)
    >>> torch.allclose(net[1].running_mean, out.mean((0, 2, 3)), atol=1e-5)
    True
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from raynas import data


@functools.lru_cache(maxsize=4)
def calibration_images(name: str, data_dir: str | None, val_fraction: float, seed: int, n: int) -> torch.Tensor:
    """``n`` training images drawn once with ``seed`` (all of them when the train split is smaller), cached."""
    train = data.load(name, data_dir, val_fraction, seed).train
    order = np.random.default_rng(seed).permutation(len(train))[:n]
    return torch.stack([train[int(i)][0] for i in sorted(order)])


@torch.no_grad()
def recalibrate(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> None:
    """Replace the running statistics of every BatchNorm that ``model`` uses on ``images``; leaves eval mode."""
    sums: dict[_BatchNorm, list] = {}

    def accumulate(module: _BatchNorm, inputs: tuple) -> None:
        x = inputs[0].double()
        dims = [d for d in range(x.dim()) if d != 1]
        acc = sums.setdefault(module, [0.0, 0.0, 0])
        acc[0] = acc[0] + x.sum(dims)
        acc[1] = acc[1] + (x * x).sum(dims)
        acc[2] += x.numel() // x.shape[1]

    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    hooks = [m.register_forward_pre_hook(accumulate) for m in norms]
    try:
        model.train()
        for chunk in images.split(batch_size):
            model(chunk)
    finally:
        for h in hooks:
            h.remove()
    for module, (total, squares, n) in sums.items():
        mean = total / n
        var = (squares / n - mean * mean).clamp_min(0) * (n / max(n - 1, 1))
        running_mean, running_var, batches = _running_stats(module)
        running_mean.copy_(mean)
        running_var.copy_(var)
        batches.fill_(1)
    model.eval()


def _running_stats(norm: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The running mean, variance and batch count of a norm that tracks running statistics (torch types them
    optional: they are ``None`` only without ``track_running_stats``)."""
    mean, var, batches = norm.running_mean, norm.running_var, norm.num_batches_tracked
    assert mean is not None and var is not None and batches is not None
    return mean, var, batches
