"""Training and evaluation loops shared by the trainables."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from ray import tune
from torch import nn
from torch.utils.data import DataLoader

from raynas.checkpoints import from_checkpoint
from raynas.data import SizedDataset
from raynas.settings import named


def make_loader(dataset: SizedDataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A loader whose shuffling depends only on ``seed`` (so a resumed epoch sees the same order). A shuffled
    (training) loader drops a last batch of one image: batch norm cannot train on it."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        drop_last=shuffle and len(dataset) % batch_size == 1,
    )


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: str,
    grad_clip: float = 5.0,
    aux_weight: float = 0.0,
) -> float:
    """One epoch of cross-entropy training; returns the mean loss.

    A model that returns ``(logits, aux_logits)`` in training mode gets ``aux_weight`` times the auxiliary
    loss added. A NaN or infinite loss raises ``FloatingPointError``.
    """
    model.train()
    criterion = nn.CrossEntropyLoss()
    total, count = torch.zeros((), device=device), 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        out = model(images)
        if isinstance(out, tuple):
            logits, aux = out
            loss = criterion(logits, labels) + aux_weight * criterion(aux, labels)
        else:
            loss = criterion(out, labels)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.detach() * len(labels)
        count += len(labels)
    mean = float(total) / max(count, 1)
    if not math.isfinite(mean):
        raise FloatingPointError(
            f"training loss became {mean}; lower the learning rate ({named('lr')}) or check the data"
        )
    return mean


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: str) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``loader``."""
    model.eval()
    correct, loss, count = 0, 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(1) == labels).sum())
        count += len(labels)
    return correct / max(count, 1), loss / max(count, 1)


def training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, history: list[float], **extra: Any
) -> dict[str, Any]:
    """What an epoch's checkpoint holds: model, optimizer, scheduler, the per-epoch history and ``extra``
    (:func:`resume_training` reads it back)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": history,
        **extra,
    }


def resume_training(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: str,
    restore: Callable[[dict[str, Any]], None] | None = None,
) -> list[float]:
    """Load this trial's newest checkpoint (:func:`training_state`), if any, into the model, optimizer and
    scheduler, and hand the whole state to ``restore`` for what else it holds; return the per-epoch history
    saved with it (empty for a fresh start)."""
    checkpoint = tune.get_checkpoint()
    if not checkpoint:
        return []
    state = from_checkpoint(checkpoint, device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if restore is not None:
        restore(state)
    return list(state["history"])
