"""Which device a trial trains on: the GPU Ray assigned to it, else the CPU."""

from __future__ import annotations

import os
from collections.abc import Sequence


def pick_device(
    gpu_ids: Sequence[int | str] | None = None, cuda_available: bool | None = None, visible_devices: str | None = None
) -> str:
    """The torch device string for the GPUs Ray assigned to this process.

    Ray restricts ``CUDA_VISIBLE_DEVICES`` to the assigned GPUs, so assigned id ``g`` is local index
    ``visible.index(g)``; without that variable the id is the index. No assignment or no CUDA: ``"cpu"``.

    Example:
        >>> pick_device(["3"], cuda_available=True, visible_devices="3")
        'cuda:0'
        >>> pick_device([1], cuda_available=True, visible_devices="")
        'cuda:1'
        >>> pick_device([1], cuda_available=False)
        'cpu'
    """
    if gpu_ids is None:
        import ray

        gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not gpu_ids or not cuda_available:
        return "cpu"
    if visible_devices is None:
        visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    visible = [v.strip() for v in visible_devices.split(",") if v.strip()]
    first = str(gpu_ids[0])
    return f"cuda:{visible.index(first) if first in visible else int(first)}"
