"""Train a fixed architecture from scratch and report its validation accuracy every epoch.

The trial's config holds ``tokens``; everything else comes from ``settings`` (see :data:`RECIPE` for the
training keys and their SANAS defaults). The reward is the mean validation accuracy of the last
``reward_epochs`` epochs. Each epoch is checkpointed, and a restarted trial continues from its last one.

Example:
    >>> from ray import tune
    >>> trainable = tune.with_parameters(retrain, settings={"space": "small_channel", "epochs": 3})
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import ray
import torch
from ray import tune

from raynas import data, spaces
from raynas.checkpoints import from_checkpoint, to_checkpoint
from raynas.devices import pick_device
from raynas.settings import SearchSettings, defaults
from raynas.spaces.base import SearchSpace
from raynas.trainables.loops import evaluate, make_loader, resume_training, train_epoch, training_state

#: training settings and their defaults (the SANAS / DARTS retraining recipe), as the search's settings declare them
RECIPE: dict[str, Any] = defaults(
    SearchSettings,
    (
        "space",
        "space_kwargs",
        "data",
        "data_dir",
        "val_fraction",
        "seed",
        "epochs",
        "batch_size",
        "lr",
        "momentum",
        "weight_decay",
        "grad_clip",
        "aux_weight",
        "drop_path",
        "reward_epochs",
    ),
)


def where() -> dict[str, Any]:
    """The node and devices this process runs on, for the results table."""
    context = ray.get_runtime_context()
    return {
        "node_ip": ray.util.get_node_ip_address(),
        "node_id": context.get_node_id(),
        "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
    }


def build_model(settings: dict[str, Any], tokens: list[int]) -> tuple[torch.nn.Module, int]:
    """The network for ``tokens`` and its parameter count; a space whose count disagrees with the network it
    builds is an error (its budget would be wrong)."""
    return build_counted(spaces.get(settings["space"], **settings["space_kwargs"]), tokens)


def build_counted(space: SearchSpace, tokens: list[int]) -> tuple[torch.nn.Module, int]:
    """:func:`build_model` for a space already made."""
    tokens = space.validate(tokens)
    model, params = space.build(tokens), space.num_params(tokens)
    built = sum(p.numel() for p in model.parameters())
    if built != params:
        raise ValueError(
            f"space {space.name!r}: num_params({tokens}) = {params:,} but build({tokens}) has {built:,} "
            "parameters; fix the space's num_params"
        )
    return model, params


def check_network(space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Build the start architecture of a token space and run 2 samples through it: a count that disagrees with
    the network, or an output that is not one score per class, is one ``ValueError`` before any trial runs."""
    tokens = space.init_tokens()
    model, _ = build_counted(space, tokens)
    try:
        with torch.no_grad():
            out = model.eval()(torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0)))
    except Exception as exc:
        raise ValueError(
            f"space {space.name!r}: build({tokens}) fails on a sample input of shape {input_shape} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check build() "
            "and in_channels"
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ValueError(
            f"space {space.name!r}: build({tokens}) returns {got} for 2 samples, not their logits of "
            f"shape (2, {num_classes}); end the network in one score per class"
        )


def retrain(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """Tune function trainable: train ``config["tokens"]`` for ``settings["epochs"]`` epochs."""
    s = {**RECIPE, **settings}
    tokens = list(config["tokens"])
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    device = pick_device()
    torch.manual_seed(s["seed"])
    model, params = build_model(s, tokens)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s["epochs"])
    history = resume_training(model, optimizer, scheduler, device)
    val_loader = make_loader(splits.val, s["batch_size"], shuffle=False)
    place = {**where(), "device": device}
    for epoch in range(len(history), s["epochs"]):
        start = time.perf_counter()
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = s["drop_path"] * epoch / s["epochs"]
        train_loader = make_loader(splits.train, s["batch_size"], shuffle=True, seed=s["seed"] * 1000 + epoch)
        train_loss = train_epoch(model, train_loader, optimizer, device, s["grad_clip"], s["aux_weight"])
        scheduler.step()
        val_acc, val_loss = evaluate(model, val_loader, device)
        history.append(val_acc)
        last = history[-s["reward_epochs"] :]
        metrics = {
            "reward": sum(last) / len(last),
            "val_acc": val_acc,
            "val_loss": val_loss,
            "train_loss": train_loss,
            "params": params,
            "tokens": tokens,
            "epoch": epoch + 1,
            "epoch_time_s": time.perf_counter() - start,
            **place,
        }
        state = training_state(model, optimizer, scheduler, history, tokens=tokens)
        with tempfile.TemporaryDirectory() as folder:
            tune.report(metrics, checkpoint=to_checkpoint(state, folder))


def test_accuracy(checkpoint: tune.Checkpoint, settings: dict[str, Any]) -> float | None:
    """Accuracy on the test split of the model saved in a :func:`retrain` checkpoint; ``None`` for a
    checkpoint without a model (a one-shot subnet evaluation)."""
    s = {**RECIPE, **settings}
    device = pick_device()
    state = from_checkpoint(checkpoint, device)
    if "model" not in state:
        return None
    model, _ = build_model(s, list(state["tokens"]))
    model.load_state_dict(state["model"])
    model.to(device)
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    return evaluate(model, make_loader(splits.test, s["batch_size"], shuffle=False), device)[0]
