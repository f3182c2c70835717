"""Evaluate one subnet on a trained supernet's shared weights: the trial of a one-shot subnet search.

The supernet state is read once per worker process and kept (keyed by its checkpoint), so with Tune's actor
reuse a worker evaluates many subnets for one load; ``supernet_loads`` in every report counts this process's
loads. For each subnet a trial sets the path, recalibrates the path's BatchNorm statistics exactly over a fixed
set of training images, and reports its accuracy on the validation split as the reward.

Example:
    >>> from ray import tune
    >>> trainable = tune.with_parameters(evaluate_subnet, settings={"space": "mobile",
    ...                                  "supernet_checkpoint": "runs/oneshot/supernet/supernet.pt"})
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from typing import Any

import torch
from ray import tune
from torch import nn

from raynas import data, storage
from raynas.checkpoints import from_checkpoint, to_checkpoint
from raynas.devices import pick_device
from raynas.spaces.choices import ModelSpace
from raynas.trainables.calibration import calibration_images
from raynas.trainables.loops import make_loader
from raynas.trainables.retrain import RECIPE, where
from raynas.trainables.supernet import SUPERNET, model_space, path_accuracy

#: this process's supernet: cache key -> (space, model); at most one is kept
_CACHE: dict[tuple, tuple[ModelSpace, nn.Module]] = {}
#: how many times this process read a supernet checkpoint
_LOADS = {"count": 0}


def load_supernet_state(location: str, device: str = "cpu") -> dict[str, Any]:
    """The supernet state saved at ``location`` (a local path or URI), tensors only."""
    folder, name = location.rsplit("/", 1) if "/" in location else (".", location)
    content = storage.read_bytes(folder, name)
    if content is None:
        raise FileNotFoundError(f"no supernet checkpoint at {location}; train the supernet stage first")
    return torch.load(io.BytesIO(content), map_location=device, weights_only=True)


def cached_supernet(settings: dict[str, Any], device: str) -> tuple[ModelSpace, nn.Module]:
    """The space and trained supernet of ``settings``, read at most once per process while the key holds."""
    location = settings.get("supernet_checkpoint")
    if not location:
        raise ValueError("a subnet trial needs settings['supernet_checkpoint'], the trained supernet's state")
    key = (location, settings["space"], json.dumps(settings["space_kwargs"], sort_keys=True), device)
    if key not in _CACHE or not settings.get("subnet_cache", True):
        space = model_space(settings)
        model = space.supernet().to(device)
        model.load_state_dict(load_supernet_state(location, device)["model"])
        _CACHE.clear()
        _CACHE[key] = (space, model)
        _LOADS["count"] += 1
    return _CACHE[key]


def evaluate_subnet(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: reward = validation accuracy of ``config["tokens"]`` on the shared weights.

    A config of several subnets (``{"batch": [{"tokens": ..., "trial_index": i}, ...]}``, see
    :class:`raynas.searchers.batched.Batched`) reports one result per subnet, with its place in the batch as
    ``subnet``, each with a checkpoint of every result so far. A trial restored from that checkpoint reports
    those results again, for a driver that died before it recorded them, and evaluates only the rest.
    """
    s = {**RECIPE, **SUPERNET, **settings}
    device = pick_device()
    space, model = cached_supernet(s, device)
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    images = calibration_images(s["data"], s["data_dir"], s["val_fraction"], s["seed"], s["calibration_images"])
    loader = make_loader(splits.val, s["batch_size"], shuffle=False)
    subnets = config["batch"] if "batch" in config else [config]
    saved = tune.get_checkpoint()
    done: list[dict[str, Any]] = from_checkpoint(saved).get("done", []) if saved is not None else []
    for metrics in done:
        tune.report(metrics)
    for place in range(len(done), len(subnets)):
        start = time.perf_counter()
        tokens = space.validate(list(subnets[place]["tokens"]))
        acc = path_accuracy(space, model, tokens, images, loader, device)
        metrics = {
            "reward": acc,
            "val_acc": acc,
            "params": space.num_params(tokens),
            "tokens": tokens,
            "supernet_loads": _LOADS["count"],
            "pid": os.getpid(),
            "eval_time_s": time.perf_counter() - start,
            **where(),
            "device": device,
        }
        if "batch" in config:
            metrics.update(subnet=place, trial_index=subnets[place].get("trial_index"))
        done.append(metrics)
        # a small checkpoint (no weights) makes Tune snapshot the search after every evaluation, so a killed
        # search resumes without evaluating anything twice
        with tempfile.TemporaryDirectory() as folder:
            tune.report(metrics, checkpoint=to_checkpoint({"done": done}, folder))
