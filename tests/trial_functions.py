"""Trial functions used by the tests; importable by Ray workers (tests/ is on their PYTHONPATH)."""

from __future__ import annotations

import os
import time

from ray import tune

from raynas import spaces
from raynas.devices import pick_device
from raynas.trainables import retrain as retrain_module
from raynas.trainables.retrain import retrain, where


def scratch(settings: dict, what: str) -> str:
    """A folder of the search's own for a test's bookkeeping."""
    folder = os.path.join(settings["storage_path"], settings["name"] + "-" + what)
    os.makedirs(folder, exist_ok=True)
    return folder


def wait_for_peers(config: dict, settings: dict) -> None:
    """Report after every trial of the search has started (proves they run at the same time)."""
    folder = scratch(settings, "barrier")
    open(os.path.join(folder, "-".join(map(str, config["tokens"]))), "w").close()
    deadline = time.time() + 60
    while len(os.listdir(folder)) < settings["num_samples"] and time.time() < deadline:
        time.sleep(0.05)
    tune.report(
        {
            "reward": len(os.listdir(folder)) / settings["num_samples"],
            "params": 0,
            "tokens": config["tokens"],
            "epoch": 1,
            "device": pick_device(),
            **where(),
        }
    )


def dies_once_after(module, trial, epoch: int, marker: str, config: dict, settings: dict) -> None:
    """Run ``trial`` (defined in ``module``), but the worker process dies right after the checkpoint of
    ``epoch``, once (while ``marker`` does not exist)."""
    real_report = tune.report

    def report(metrics, checkpoint=None):
        real_report(metrics, checkpoint=checkpoint)
        if metrics["epoch"] == epoch and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)

    module.tune = type(
        "TuneWithDeath", (), {"report": staticmethod(report), "get_checkpoint": staticmethod(tune.get_checkpoint)}
    )
    try:
        trial(config, settings)
    finally:
        module.tune = tune


def dies_once_after_first_epoch(config: dict, settings: dict) -> None:
    """``retrain``, but the worker process dies right after the first epoch's checkpoint, once per trial."""
    marker = os.path.join(scratch(settings, "markers"), "-".join(map(str, config["tokens"])))
    dies_once_after(retrain_module, retrain, 1, marker, config, settings)


def supernet_dies_once_after_second_epoch(config: dict, settings: dict) -> None:
    """Supernet training whose worker process dies right after the second epoch's checkpoint, once."""
    from raynas.trainables import supernet

    marker = os.path.join(scratch(settings, "markers"), "supernet")
    dies_once_after(supernet, supernet.train_supernet, 2, marker, config, settings)


def fails_for_first_architecture(config: dict, settings: dict) -> None:
    """``retrain``, except that the space's start architecture (SA's first proposal) always raises."""
    if config["tokens"] == spaces.get(settings["space"], **settings["space_kwargs"]).init_tokens():
        raise RuntimeError("this architecture always fails")
    retrain(config, settings)


def reports_only_a_reward(config: dict, settings: dict) -> None:
    """The least a trial function must do: report a reward (here the mean token), nothing else."""
    from ray import tune

    tune.report({"reward": sum(config["tokens"]) / (10 * len(config["tokens"]))})


def reports_no_reward(config: dict, settings: dict) -> None:
    """A mistake: the result names the accuracy but not ``reward``."""
    from ray import tune

    tune.report({"accuracy": 0.5})


def enas_dies_once_after_second_epoch(config: dict, settings: dict) -> None:
    """ENAS whose worker process dies right after the second epoch's checkpoint, once."""
    from raynas.trainables import enas

    marker = os.path.join(scratch(settings, "markers"), f"enas{config['seed']}")
    dies_once_after(enas, enas.train_enas, 2, marker, config, settings)


def subnets_fail_after_two(config: dict, settings: dict) -> None:
    """``evaluate_subnet`` of a trial of several subnets that dies after scoring its first two."""
    from raynas.trainables.subnet import evaluate_subnet

    evaluate_subnet({**config, "batch": config["batch"][:2]}, settings)
    raise RuntimeError("died after two subnets")
