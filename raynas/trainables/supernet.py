"""Single-path one-shot (SPOS) supernet training as a Tune function trainable.

Every batch trains one uniformly sampled path of a :class:`~raynas.spaces.choices.ModelSpace` supernet
(BatchNorm without affine parameters, as in SPOS), or a group of paths whose gradients are summed into one
step: with ``supernet_sampling="fair"``, FairNAS's strict fairness (per label, the group holds every candidate
once, in a random order; a label with fewer candidates than the group repeats random ones); with
``"sandwich"``, BigNAS's sandwich rule with in-place distillation (the largest path, the smallest and two random
ones; the largest learns the labels, the others its predictions). With
``supernet_budget`` the paths stay inside ``max_params``/``min_params``, drawn as the searchers draw (uniform,
then repaired). The paths depend only on ``seed`` and the epoch, so every data-parallel worker and every
resumed run follows the same sequence. The unsampled candidates' gradients are ``None`` for the step, so
momentum and weight decay never move them. SGD (``supernet_lr``, weight decay on weights of more than one
dimension only, batches of ``supernet_batch_size``), cosine schedule stepped per epoch. Every epoch reports the
training loss and the mean validation accuracy of a few fixed random paths (after BatchNorm recalibration), with
a checkpoint that a restarted trial continues from.

Example:
    >>> from ray import tune
    >>> trainable = tune.with_parameters(train_supernet, settings={"space": "mobile", "supernet_epochs": 2})
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from ray import tune
from torch import nn

from raynas import data, spaces
from raynas.checkpoints import to_checkpoint
from raynas.devices import pick_device
from raynas.settings import named
from raynas.spaces.choices import ModelSpace
from raynas.spaces.sampling import budget_flags, extreme_feasible, feasible, random_feasible
from raynas.trainables.calibration import calibration_images, recalibrate
from raynas.trainables.loops import evaluate, make_loader, resume_training, training_state
from raynas.trainables.retrain import RECIPE, where

#: how the paths of a supernet batch are drawn: one uniform path (SPOS), a fair group (FairNAS), or the
#: largest, the smallest and random ones, distilled from the largest (BigNAS's sandwich rule)
SAMPLINGS = ("uniform", "fair", "sandwich")
#: random paths beside the largest and the smallest in a sandwich group (BigNAS uses 2)
SANDWICH_RANDOM = 2
#: supernet settings and their defaults, beside the retraining recipe
SUPERNET: dict[str, Any] = {
    "supernet_epochs": 60,
    "supernet_batch_size": 32,
    "supernet_lr": 0.05,
    "supernet_budget": True,
    "supernet_sampling": "uniform",
    "eval_paths": 3,
    "calibration_images": 2000,
    "max_params": None,
    "min_params": None,
}


def model_space(settings: dict[str, Any]) -> ModelSpace:
    """The settings' space, which must be a space of labelled choices."""
    space = spaces.get(settings["space"], **settings["space_kwargs"])
    if not isinstance(space, ModelSpace):
        raise ValueError(
            f"one-shot search needs a space of labelled choices (mobile or package.module:factory), "
            f"not {settings['space']!r}"
        )
    return space


class PathSampler:
    """Random paths, inside the budget when one is given; the stream of an epoch depends only on ``(seed, epoch)``.

    ``fair`` draws, per batch, a group of as many paths as the largest label has candidates, in which every
    label takes each of its candidates once (in a random order); a path of the group outside the budget is
    replaced by a uniform one inside it. ``sandwich`` draws the largest path inside the budget (by parameter
    count), the smallest, then :data:`SANDWICH_RANDOM` uniform ones.

    Example:
        >>> from raynas import spaces
        >>> sampler = PathSampler(spaces.get("mobile"), seed=0)
        >>> list(sampler.epoch(3, 2)) == list(PathSampler(spaces.get("mobile"), seed=0).epoch(3, 2))
        True
        >>> [len(group) for group in PathSampler(spaces.get("mobile"), seed=0, sampling="fair").epoch(0, 2)]
        [7, 7]
        >>> next(PathSampler(spaces.get("mobile"), seed=0, sampling="sandwich").epoch(0, 1))[:2]
        [[5, 6, 5, 6, 5, 6], [0, 0, 0, 0, 0, 0]]
    """

    def __init__(
        self,
        space: ModelSpace,
        seed: int,
        max_params: int | None = None,
        min_params: int | None = None,
        sampling: str = "uniform",
    ):
        if sampling not in SAMPLINGS:
            raise ValueError(f"{named('supernet_sampling')} must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        self.space, self.seed, self.max_params, self.min_params = space, seed, max_params, min_params
        self.sampling = sampling
        self.extremes: list[list[int]] = []
        if sampling == "sandwich":
            for largest in (True, False):
                tokens = extreme_feasible(space, largest, max_params, min_params)
                if tokens is None:
                    raise self.no_path()
                self.extremes.append(tokens)

    def rng(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}/{stream}")

    def no_path(self) -> ValueError:
        """The error for a budget that no path of the space fits."""
        return ValueError(
            f"no path of space {self.space.name!r} within the budget "
            f"({budget_flags(self.max_params, self.min_params)}); widen the budget"
        )

    def draw(self, rng: random.Random) -> list[int]:
        tokens = random_feasible(self.space, rng, self.max_params, self.min_params)
        if tokens is None:
            raise self.no_path()
        return tokens

    def group(self, rng: random.Random) -> list[list[int]]:
        """The paths of one batch: one uniform path, a fair group or a sandwich."""
        if self.sampling == "uniform":
            return [self.draw(rng)]
        if self.sampling == "sandwich":
            return [*self.extremes, *(self.draw(rng) for _ in range(SANDWICH_RANDOM))]
        sizes = self.space.range_table()
        size = max(sizes)
        columns = []
        for n in sizes:
            column = list(range(n)) + [rng.randrange(n) for _ in range(size - n)]
            rng.shuffle(column)
            columns.append(column)
        paths = [list(path) for path in zip(*columns)]
        return [p if feasible(self.space, p, self.max_params, self.min_params) else self.draw(rng) for p in paths]

    def epoch(self, epoch: int, batches: int) -> Iterator[list[list[int]]]:
        """The path groups of the batches of ``epoch``."""
        rng = self.rng(f"epoch{epoch}")
        for _ in range(batches):
            yield self.group(rng)

    def fixed(self, n: int) -> list[list[int]]:
        """``n`` paths that stay the same for the whole training (for validation)."""
        rng = self.rng("eval")
        return [self.draw(rng) for _ in range(n)]


def make_optimizer(model: nn.Module, s: dict[str, Any]) -> torch.optim.SGD:
    """SGD whose weight decay applies only to parameters of more than one dimension (SPOS)."""
    params = list(model.parameters())
    return torch.optim.SGD(
        [
            {"params": [p for p in params if p.dim() > 1], "weight_decay": s["weight_decay"]},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
        ],
        lr=s["supernet_lr"],
        momentum=s["momentum"],
    )


def train_step(
    space: ModelSpace,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    group: list[list[int]],
    images: torch.Tensor,
    labels: torch.Tensor,
    grad_clip: float = 5.0,
    distil: bool = False,
) -> float:
    """One SGD step of the summed gradients of the paths of ``group``; the gradients of the candidates none of
    them uses stay ``None``. With ``distil``, the first path learns the labels and the others its predictions
    (in-place distillation). Returns the mean loss."""
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    targets = labels
    for i, tokens in enumerate(group):
        space.set_path(model, tokens)
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, targets)
        loss.backward()
        total += float(loss.detach())
        if distil and i == 0:
            targets = logits.detach().softmax(dim=1)
    unused = set.intersection(*({id(p) for p in space.unused_parameters(model, tokens)} for tokens in group))
    for p in model.parameters():
        if id(p) in unused:
            p.grad = None  # SGD skips them: no momentum or weight decay drift
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total / len(group)


def train_paths(
    space: ModelSpace,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    groups: Iterable[list[list[int]]],
    loader,
    device: str,
    grad_clip: float = 5.0,
    distil: bool = False,
) -> float:
    """One epoch of single-path training: each batch of ``loader`` trains the next group of ``groups`` (drawn
    as the batch comes; ``distil`` as in :func:`train_step`). Returns the mean loss; a NaN or infinite one
    raises ``FloatingPointError``."""
    model.train()
    total, count = 0.0, 0
    for (images, labels), group in zip(loader, groups):
        loss = train_step(space, model, optimizer, group, images.to(device), labels.to(device), grad_clip, distil)
        total += loss * len(labels)
        count += len(labels)
    loss = total / max(count, 1)
    if not math.isfinite(loss):
        raise FloatingPointError(f"the shared weights' loss became {loss}; lower {named('supernet_lr')}")
    return loss


def path_accuracy(
    space: ModelSpace, model: nn.Module, tokens: list[int], images: torch.Tensor, loader, device: str
) -> float:
    """Validation accuracy of one path on the shared weights, after BatchNorm recalibration."""
    space.set_path(model, tokens)
    recalibrate(model, images.to(device))
    return evaluate(model, loader, device)[0]


def train_supernet(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: train the supernet for ``settings["supernet_epochs"]`` epochs."""
    s = {**RECIPE, **SUPERNET, **settings}
    space = model_space(s)
    max_params, min_params = (s["max_params"], s["min_params"]) if s["supernet_budget"] else (None, None)
    sampler = PathSampler(space, s["seed"], max_params, min_params, s["supernet_sampling"])
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    device = pick_device()
    torch.manual_seed(s["seed"])
    model = space.supernet().to(device)
    optimizer = make_optimizer(model, s)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s["supernet_epochs"])
    history = resume_training(model, optimizer, scheduler, device)
    images = calibration_images(s["data"], s["data_dir"], s["val_fraction"], s["seed"], s["calibration_images"])
    val_loader = make_loader(splits.val, s["batch_size"], shuffle=False)
    eval_paths = sampler.fixed(s["eval_paths"])
    distil = sampler.sampling == "sandwich"  # the sandwich's largest path teaches the others
    place = {**where(), "device": device}
    for epoch in range(len(history), s["supernet_epochs"]):
        start = time.perf_counter()
        loader = make_loader(splits.train, s["supernet_batch_size"], shuffle=True, seed=s["seed"] * 1000 + epoch)
        groups = sampler.epoch(epoch, len(loader))
        train_loss = train_paths(space, model, optimizer, groups, loader, device, s["grad_clip"], distil)
        scheduler.step()
        val_acc = sum(path_accuracy(space, model, t, images, val_loader, device) for t in eval_paths) / len(eval_paths)
        history.append(val_acc)
        metrics = {
            "train_loss": train_loss,
            "val_acc": val_acc,
            "epoch": epoch + 1,
            "epoch_time_s": time.perf_counter() - start,
            **place,
        }
        state = training_state(model, optimizer, scheduler, history)
        with tempfile.TemporaryDirectory() as folder:
            tune.report(metrics, checkpoint=to_checkpoint(state, folder))
