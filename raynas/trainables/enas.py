"""ENAS (Pham et al., 2018) on a space of labelled choices, as a Tune function trainable: one trial per seed.

Each epoch alternates two phases, as ENAS does:

1. **Shared weights.** Every training batch trains the path the controller samples (the single-path supernet
   of :mod:`raynas.trainables.supernet`: BatchNorm without affine parameters, unsampled candidates untouched).
2. **Controller.** ``controller_steps`` REINFORCE steps, each over ``controller_aggregate`` sampled paths whose
   reward is the accuracy of the path on one validation batch with the shared weights (BatchNorm on the
   batch's statistics).

Under ``max_params``/``min_params`` the controller's samples are drawn again until they are inside the budget
(the parameter count is exact and known before any forward pass), so no path outside it is trained or
rewarded. Every epoch reports the controller's entropy, the mean reward, the most likely architecture and its
validation accuracy (after exact BatchNorm recalibration), with a checkpoint holding the shared weights, the
controller and both optimizers; the random streams of an epoch depend only on ``(seed, epoch)``, so a killed
trial resumes from it and ends where an uninterrupted one ends. After the last epoch the final architecture is
derived as ENAS derives it: ``num_subnets`` distinct paths sampled from the trained controller, each scored on
the whole validation split with the shared weights after exact BatchNorm recalibration; the last report's
``derived`` holds them, best first, as JSON ``[[tokens, score], ...]``.

Example:
    >>> from ray import tune
    >>> trainable = tune.with_parameters(train_enas, settings={"space": "mobile", "supernet_epochs": 2,
    ...                                                           "num_subnets": 20})
"""

from __future__ import annotations

import itertools
import json
import random
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import torch
from ray import tune
from torch import nn

from raynas import data
from raynas.checkpoints import to_checkpoint
from raynas.controller import ENTROPY_WEIGHT, TANH_CONSTANT, Controller
from raynas.devices import pick_device
from raynas.spaces import sampling
from raynas.spaces.choices import ModelSpace
from raynas.trainables.calibration import calibration_images
from raynas.trainables.loops import make_loader, resume_training, training_state
from raynas.trainables.retrain import RECIPE, where
from raynas.trainables.supernet import SUPERNET, make_optimizer, model_space, path_accuracy, train_paths

#: the controller's settings and their defaults: ENAS / NNI's, but for the learning rate and the baseline decay,
#: measured on benchmark tables for the few hundred steps of a search on a few CPUs (bench.enas_controller: NNI's
#: 3.5e-4 and 0.999 are made for 15,500 steps and barely learn in 250)
CONTROLLER: dict[str, Any] = {
    "controller_lr": 3.5e-3,
    "controller_steps": 50,
    "controller_aggregate": 20,
    "controller_temperature": None,
    "controller_tanh": TANH_CONSTANT,
    "controller_entropy_weight": ENTROPY_WEIGHT,
    "controller_baseline_decay": 0.9,
}


def make_controller(space: ModelSpace, s: dict[str, Any], seed: int) -> Controller:
    """The controller of settings ``s`` over ``space``'s labels."""
    return Controller(
        space.range_table(),
        seed=seed,
        temperature=s["controller_temperature"],
        tanh_constant=s["controller_tanh"],
        lr=s["controller_lr"],
        entropy_weight=s["controller_entropy_weight"],
        baseline_decay=s["controller_baseline_decay"],
    )


class Sampler:
    """The controller's draws inside the budget, from a stream that depends only on ``(seed, name)``."""

    def __init__(self, space: ModelSpace, controller: Controller, s: dict[str, Any], seed: int):
        self.space, self.controller, self.seed = space, controller, seed
        self.max_params, self.min_params = s["max_params"], s["min_params"]

    def rng(self, name: str) -> random.Random:
        return random.Random(f"enas/{self.seed}/{name}")

    def feasible(self, tokens: list[int]) -> bool:
        return sampling.feasible(self.space, tokens, self.max_params, self.min_params)

    def draw(self, rng: random.Random) -> list[int]:
        try:
            return self.controller.sample(rng, self.feasible, attempts=sampling.MAX_ATTEMPTS)
        except ValueError:
            raise ValueError(
                f"the controller drew no path of space {self.space.name!r} within the budget "
                f"({sampling.budget_flags(self.max_params, self.min_params)}) in {sampling.MAX_ATTEMPTS} draws; "
                "widen the budget"
            ) from None


def _batches(loader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of ``loader`` round and round."""
    while True:
        yield from loader


def batch_accuracy(space: ModelSpace, model: nn.Module, tokens: list[int], images, labels) -> float:
    """Accuracy of path ``tokens`` on one batch with the shared weights, BatchNorm on the batch's statistics."""
    space.set_path(model, tokens)
    model.train()
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).float().mean())


def train_controller(
    space: ModelSpace,
    model: nn.Module,
    sampler: Sampler,
    s: dict[str, Any],
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    rng: random.Random,
    device: str,
) -> float:
    """``controller_steps`` REINFORCE steps; returns the mean reward."""
    rewards_seen: list[float] = []
    for _ in range(s["controller_steps"]):
        paths, rewards = [], []
        for _ in range(s["controller_aggregate"]):
            images, labels = next(batches)
            tokens = sampler.draw(rng)
            paths.append(tokens)
            rewards.append(batch_accuracy(space, model, tokens, images.to(device), labels.to(device)))
        sampler.controller.learn(paths, rewards)
        rewards_seen += rewards
    return sum(rewards_seen) / max(len(rewards_seen), 1)


def derive(
    space: ModelSpace, model: nn.Module, sampler: Sampler, n: int, images: torch.Tensor, loader, device: str
) -> list[list[Any]]:
    """ENAS's final step: ``n`` distinct paths drawn from the controller (fewer when it draws no new one in
    :data:`~raynas.spaces.sampling.MAX_ATTEMPTS` tries), each scored on ``loader`` after exact BatchNorm
    recalibration on ``images``; ``[[tokens, score], ...]`` best first (ties: fewer params)."""
    rng = sampler.rng("derive")
    seen: dict[tuple[int, ...], None] = {}
    for _ in range(sampling.MAX_ATTEMPTS):
        if len(seen) >= n:
            break
        seen.setdefault(tuple(sampler.draw(rng)))
    scored = [[list(t), path_accuracy(space, model, list(t), images, loader, device)] for t in seen]
    return sorted(scored, key=lambda item: (-item[1], space.num_params(item[0])))


def train_enas(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: ENAS with seed ``config["seed"]`` for ``settings["supernet_epochs"]`` epochs."""
    s = {**RECIPE, **SUPERNET, **CONTROLLER, **settings}
    seed = int(config.get("seed", s["seed"]))
    space = model_space(s)
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    device = pick_device()
    torch.manual_seed(seed)
    model = space.supernet().to(device)
    optimizer = make_optimizer(model, s)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s["supernet_epochs"])
    controller = make_controller(space, s, seed)
    sampler = Sampler(space, controller, s, seed)
    history = resume_training(
        model, optimizer, scheduler, device, restore=lambda state: controller.load(json.loads(state["controller"]))
    )
    images = calibration_images(s["data"], s["data_dir"], s["val_fraction"], s["seed"], s["calibration_images"])
    val_loader = make_loader(splits.val, s["batch_size"], shuffle=False)
    place = {**where(), "device": device}
    for epoch in range(len(history), s["supernet_epochs"]):
        start = time.perf_counter()
        rng = sampler.rng(f"epoch{epoch}")
        loader = make_loader(splits.train, s["supernet_batch_size"], shuffle=True, seed=seed * 1000 + epoch)
        paths = ([sampler.draw(rng)] for _ in itertools.count())  # a batch's path, drawn when the batch comes
        train_loss = train_paths(space, model, optimizer, paths, loader, device, s["grad_clip"])
        scheduler.step()
        reward_loader = make_loader(splits.val, s["batch_size"], shuffle=True, seed=seed * 1000 + epoch)
        reward = train_controller(space, model, sampler, s, _batches(reward_loader), rng, device)
        best = controller.most_likely()
        if not sampler.feasible(best):
            best = sampler.draw(sampler.rng(f"likely{epoch}"))
        val_acc = path_accuracy(space, model, best, images, val_loader, device)
        history.append(val_acc)
        metrics: dict[str, Any] = {
            "train_loss": train_loss,
            "reward": reward,
            "entropy": controller.entropy(sampler.rng(f"entropy{epoch}")),
            "val_acc": val_acc,
            "tokens": json.dumps(best),
            "arch": json.dumps(space.to_arch(best), ensure_ascii=False),
            "params": space.num_params(best),
            # the controller's probability of each candidate of each label, along its most likely path
            "arch_weights": json.dumps(dict(zip(space.labels(), controller.probabilities()))),
            "epoch": epoch + 1,
            "seed": seed,
            **place,
        }
        if epoch + 1 == s["supernet_epochs"]:
            metrics["derived"] = json.dumps(derive(space, model, sampler, s["num_subnets"], images, val_loader, device))
        metrics["epoch_time_s"] = time.perf_counter() - start
        state = training_state(model, optimizer, scheduler, history, controller=json.dumps(controller.state()))
        with tempfile.TemporaryDirectory() as folder:
            tune.report(metrics, checkpoint=to_checkpoint(state, folder))
