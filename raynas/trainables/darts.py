"""DARTS search as a Tune function trainable, on one process or data parallel over Ray Train workers.

The training split is cut (with the search seed) into a weight half and an architecture half; the validation
split is only reported; the test split is not touched. Weights: SGD with cosine annealing to ``lr_min``,
stepped once after each epoch; architecture: Adam. Every epoch reports accuracies and losses, the genotype
(string and JSON), the softmaxed architecture weights and the number of skip-connects in the normal cell, and
saves a checkpoint with the weights, the architecture, both optimizers, the scheduler and the RNG states, so a
restarted trial ends exactly where an uninterrupted one would.

On a labelled-choice model space (``space`` a registered model space such as ``mobile``, or
``package.module:factory``) the supernet is its :class:`~raynas.spaces.relaxed.RelaxedSupernet`, and every epoch
reports the ``label -> choice`` dict (``arch``), its ``tokens`` and ``params``, and the softmaxed weights
(``arch_weights``), all as JSON, instead of the genotype.

With ``workers_per_trial`` W > 1 the trial runs a Ray Train ``TorchTrainer`` of W workers (gloo on CPU, nccl
on GPU): each worker takes 1/W of each half, gradients are averaged with explicit all-reduces, and every worker
holds the same architecture. Rank 0's reports reach Tune through Train's Tune callback.

Example:
    >>> from ray import tune
    >>> trainable = tune.with_parameters(darts_search, settings={"data": "digits", "epochs": 2, "layers": 3})
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from ray import tune
from torch.utils.data import Subset

from raynas import data, spaces, storage
from raynas.checkpoints import STATE_FILE, from_checkpoint, save_atomic, to_checkpoint
from raynas.devices import pick_device
from raynas.settings import TrialSettings, defaults, named
from raynas.spaces.choices import ModelSpace
from raynas.spaces.darts import SearchNetwork, genotype_to_dict
from raynas.spaces.relaxed import RelaxedSupernet
from raynas.trainables.architect import AllReduce, Architect, no_all_reduce
from raynas.trainables.loops import evaluate, make_loader
from raynas.trainables.retrain import where


@dataclass
class DartsRecipe(TrialSettings):
    """A DARTS search's settings and their defaults (the DARTS paper's CIFAR-10 search), declared where its trials
    read them; :class:`raynas.runs.darts.DartsSettings` adds the seeds, the workers' resources and the name."""

    space: str = "darts"
    epochs: int = 50
    order: int = 1
    layers: int = 8
    init_channels: int = 16
    steps: int = 4
    batch_size: int = 64
    lr: float = 0.025
    arch_lr: float = 3e-4
    epochs_no_archopt: int = 0
    workers_per_trial: int = 1


#: DARTS search settings and their defaults, with the rest of the DARTS paper's recipe, which no setting changes
DARTS_RECIPE: dict[str, Any] = {
    **defaults(DartsRecipe),
    "lr_min": 0.001,
    "momentum": 0.9,
    "weight_decay": 3e-4,
    "grad_clip": 5.0,
    "arch_weight_decay": 1e-3,
}
Report = Callable[[dict[str, Any], dict[str, Any]], None]


def check_recipe(s: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the setting to fix when DARTS settings cannot run."""
    if s["order"] not in (1, 2):
        raise ValueError(f"{named('order')} must be 1 (first order) or 2 (second order), got {s['order']!r}")
    for key, low in (
        ("epochs", 1),
        ("layers", 1),
        ("init_channels", 1),
        ("steps", 1),
        ("batch_size", 1),
        ("workers_per_trial", 1),
        ("epochs_no_archopt", 0),
    ):
        if int(s[key]) < low:
            raise ValueError(f"{named(key)} must be at least {low}, got {s[key]}")
    for key in ("lr", "arch_lr"):
        if not s[key] > 0:
            raise ValueError(f"{named(key)} must be above 0, got {s[key]:g}")
    if s["epochs_no_archopt"] >= s["epochs"]:
        raise ValueError(
            f"{named('epochs_no_archopt')} ({s['epochs_no_archopt']}) must be smaller than {named('epochs')} "
            f"({s['epochs']}), or the architecture is never optimised"
        )


def split_halves(n: int, seed: int, rank: int = 0, world: int = 1) -> tuple[list[int], list[int]]:
    """Indices of this worker's share of the weight half and the architecture half of ``n`` training items.

    Every worker gets the same number of items, so all take the same number of steps.

    Example:
        >>> w, a = split_halves(10, seed=0)
        >>> len(w), len(a), sorted(w + a) == list(range(10))
        (5, 5, True)
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    half = n // 2
    shares = []
    for part in (order[:half], order[half : 2 * half]):
        size = len(part) // world
        shares.append(sorted(part[rank::world][:size]))
    if not shares[0]:
        raise ValueError(
            f"{n} training items cannot be split into 2 halves over {world} workers; "
            f"use more data or fewer {named('workers_per_trial')}"
        )
    return shares[0], shares[1]


def build_supernet(s: dict[str, Any], in_channels: int, num_classes: int) -> SearchNetwork | RelaxedSupernet:
    """The supernet the settings describe: the DARTS cell supernet, or the relaxation of a model space."""
    if s["space"] != "darts":
        return RelaxedSupernet(model_space(s))
    return SearchNetwork(
        C=s["init_channels"], num_classes=num_classes, layers=s["layers"], steps=s["steps"], in_channels=in_channels
    )


def model_space(s: dict[str, Any]) -> ModelSpace:
    """The labelled-choice model space of ``s["space"]`` (a registered model space or ``module:factory``)."""
    from raynas.spaces.build import space_for

    if not spaces.is_model_space(s["space"]):
        raise ValueError(
            f"DARTS searches the 'darts' cell space or a space of labelled choices (e.g. mobile, "
            f"package.module:factory), not {s['space']!r}"
        )
    space = space_for(s["space"], s.get("space_kwargs") or {}, s["data"])
    assert isinstance(space, ModelSpace)  # is_model_space said so
    return space


class DartsSearch:
    """The state of one DARTS search (on one worker) and its epoch loop."""

    def __init__(
        self, s: dict[str, Any], device: str, rank: int = 0, world: int = 1, all_reduce: AllReduce = no_all_reduce
    ):
        check_recipe(s)
        self.s, self.device = s, device
        splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["split_seed"])
        weight_half, arch_half = split_halves(len(splits.train), s["split_seed"], rank, world)
        self.weight_data, self.arch_data = Subset(splits.train, weight_half), Subset(splits.train, arch_half)
        self.val_loader = make_loader(splits.val, s["batch_size"], shuffle=False)
        torch.manual_seed(s["seed"])  # the same initial weights and architecture on every worker
        self.model = build_supernet(s, splits.in_channels, splits.num_classes).to(device)
        self.weight_optimizer = torch.optim.SGD(
            self.model.weight_parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
        )
        self.arch_optimizer = torch.optim.Adam(
            self.model.arch_parameters(), lr=s["arch_lr"], betas=(0.5, 0.999), weight_decay=s["arch_weight_decay"]
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weight_optimizer, T_max=s["epochs"], eta_min=s["lr_min"]
        )
        self.architect = Architect(
            self.model, self.weight_optimizer, self.arch_optimizer, s["order"], s["grad_clip"], all_reduce=all_reduce
        )
        self.epoch = 0

    def state(self) -> dict[str, Any]:
        """Everything a resumed search needs to continue exactly."""
        return {
            "model": self.model.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        torch.set_rng_state(state["torch_rng"].cpu())
        random.setstate(state["python_rng"])

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch (architecture steps after the warm-up epochs), evaluate, step the schedule."""
        s, start = self.s, time.perf_counter()
        lr = self.weight_optimizer.param_groups[0]["lr"]
        seed = s["seed"] * 1000 + self.epoch
        weight_loader = make_loader(self.weight_data, s["batch_size"], shuffle=True, seed=seed)
        arch_loader = make_loader(self.arch_data, s["batch_size"], shuffle=True, seed=seed + 500)
        update_arch = self.epoch >= s["epochs_no_archopt"]
        self.model.train()
        loss_sum, correct, count = torch.zeros((), device=self.device), torch.zeros((), device=self.device), 0
        for (x, y), (x_arch, y_arch) in zip(weight_loader, arch_loader):
            x, y = x.to(self.device), y.to(self.device)
            x_arch, y_arch = x_arch.to(self.device), y_arch.to(self.device)
            loss, logits = self.architect.step(x, y, x_arch, y_arch, update_arch=update_arch)
            loss_sum += loss * len(y)
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
        train_loss = float(loss_sum) / max(count, 1)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss}; lower {named('lr')} or check the data")
        self.scheduler.step()
        self.epoch += 1
        val_acc, val_loss = evaluate(self.model, self.val_loader, self.device)
        return {
            "epoch": self.epoch,
            "lr": lr,
            "arch_updated": update_arch,
            "train_loss": train_loss,
            "train_acc": float(correct) / max(count, 1),
            "val_acc": val_acc,
            "val_loss": val_loss,
            "reward": val_acc,
            "seed": s["seed"],
            **self.export(),
            "epoch_time_s": time.perf_counter() - start,
        }

    def export(self) -> dict[str, Any]:
        """The architecture found so far: genotype (string and JSON), softmaxed weights, normal-cell skips;
        on a model space its ``label -> choice`` dict, tokens, parameter count and softmaxed weights (JSON)."""
        if isinstance(self.model, RelaxedSupernet):
            tokens = self.model.tokens()
            return {
                "arch": json.dumps(self.model.export()),
                "tokens": json.dumps(tokens),
                "params": self.model.space.num_params(tokens),
                "arch_weights": json.dumps({k: [round(w, 4) for w in v] for k, v in self.model.arch_weights().items()}),
            }
        genotype = self.model.genotype()
        weights = self.model.arch_weights()
        return {
            "genotype": str(genotype),
            "genotype_json": json.dumps(genotype_to_dict(genotype)),
            "alphas_normal": weights["normal"].round(decimals=4).tolist(),
            "alphas_reduce": weights["reduce"].round(decimals=4).tolist(),
            "skip_connects_normal": sum(op == "skip_connect" for op, _ in genotype.normal),
        }

    def run(self, report: Report) -> None:
        """Run the remaining epochs, calling ``report(metrics, state)`` after each."""
        while self.epoch < self.s["epochs"]:
            metrics = self.run_epoch()
            report(metrics, self.state())


def recipe(config: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The full settings of one trial: defaults, the search's settings, the trial's seed."""
    s = {**DARTS_RECIPE, **settings}
    s["split_seed"] = s["seed"]
    s["seed"] = int(config.get("seed", s["seed"]))
    return s


def darts_search(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: a DARTS search with ``config["seed"]``, resumed from Tune's checkpoint."""
    s = recipe(config, settings)
    if s["workers_per_trial"] > 1:
        return _data_parallel(s)
    search = DartsSearch(s, pick_device())
    checkpoint = tune.get_checkpoint() or left_checkpoint(s)
    if checkpoint:
        search.load_state(from_checkpoint(checkpoint, search.device))
    place = {**where(), "device": search.device}

    def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            tune.report({**metrics, **place}, checkpoint=to_checkpoint(state, folder))

    search.run(report)


def left_checkpoint(s: dict[str, Any]) -> tune.Checkpoint | None:
    """The checkpoint this trial's seed left in an earlier trial folder of the same search, when Tune's record
    of that search was lost (``s["continue_from"]``: seed -> checkpoint path under ``s["storage_path"]``)."""
    relpath = s.get("continue_from", {}).get(str(s["seed"]))
    if relpath is None:
        return None
    fs, path = storage.locate(s["storage_path"], relpath)
    return tune.Checkpoint(path, filesystem=fs)


def _data_parallel(s: dict[str, Any]) -> None:
    """Run the search on ``workers_per_trial`` Ray Train workers; rank 0's reports go to Tune."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = bool(s.get("gpus_per_worker", 0))
    trial_dir = tune.get_context().get_trial_dir()
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config=s,
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=s["workers_per_trial"],
            use_gpu=use_gpu,
            resources_per_worker={"CPU": s.get("cpus_per_worker", 1), "GPU": s.get("gpus_per_worker", 0)},
        ),
        # a restarted trial reuses the same Train run folder, so Train hands the workers its last checkpoint
        run_config=ray.train.RunConfig(
            name="train",
            storage_path=trial_dir,
            # ray.train's names are Train v2's when RAY_TRAIN_V2_ENABLED (the default), whose RunConfig takes this
            # callback; mypy sees the v1 names ray.train defines first, whose RunConfig takes Tune callbacks
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
        ),
    )
    trainer.fit()


def _worker_loop(s: dict[str, Any]) -> None:
    """One Ray Train worker of a data-parallel search."""
    import ray.train
    import torch.distributed as dist

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def all_reduce(tensors) -> None:
        for t in tensors:
            dist.all_reduce(t)
            t.div_(world)

    search = DartsSearch(s, pick_device(), rank, world, all_reduce)
    checkpoint = ray.train.get_checkpoint() or left_checkpoint(s)
    if checkpoint:
        search.load_state(from_checkpoint(checkpoint, search.device))
    place = {**where(), "device": search.device, "workers": world}

    def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
        # how far apart the workers' architectures are (0 when the all-reduces keep them identical)
        alphas = torch.cat([a.detach().flatten() for a in search.model.arch_parameters()])
        gathered = [torch.empty_like(alphas) for _ in range(world)]
        dist.all_gather(gathered, alphas)
        metrics["alpha_rank_spread"] = max(float((g - alphas).abs().max()) for g in gathered)
        # every worker reports each epoch (Train waits for all); rank 0 also saves the checkpoint
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if rank == 0:
                save_atomic(state, os.path.join(folder, STATE_FILE))
                checkpoint = ray.train.Checkpoint.from_directory(folder)
            ray.train.report({**metrics, **place}, checkpoint=checkpoint)

    search.run(report)
