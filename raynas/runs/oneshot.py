"""One-shot search in three stages: train a supernet, search subnets on its shared weights, retrain the best.

Everything goes under ``<storage_path>/<name>/``:

- ``supernet/``: the supernet trial (a checkpoint per epoch) and ``supernet.pt``, the trained state;
- ``subnets/``: the subnet search (any registered searcher, under the parameter budget), its ``results.csv``;
- ``retrain/``: the best ``retrain_top`` subnets trained from scratch in parallel trials, its ``results.csv``;
- ``best_arch.json``: the best retrained architecture by validation accuracy, with its test accuracy, its
  one-shot score and the NNI-compatible ``arch``.

A stage whose output exists is skipped; the stage that was running when a run was interrupted continues
from its Tune state. So re-running the same command (or ``raynas resume``) finishes an interrupted search.

Example:
    >>> from raynas.settings import SearchSettings
    >>> settings = SearchSettings(
    ...     searcher="oneshot", space="mobile", max_params="20k", oneshot_options={"num_subnets": 100}
    ... )
    >>> outcome = run(settings)  # doctest: +SKIP
    >>> outcome.best["arch"]  # doctest: +SKIP
    {'s1_b1': 'k3_e6', 's1_b2': 'skip', ...}
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pandas as pd
import torch
from ray import tune

from raynas import storage
from raynas.checkpoints import from_checkpoint
from raynas.log import logger
from raynas.results import RESULTS_FILE, SEARCH_COLUMNS, Outcome, best_first, last_line
from raynas.runs import retrain as fixed
from raynas.runs import search
from raynas.runs.base import same_resources
from raynas.searchers import SEARCHERS
from raynas.settings import (
    ONE_SHOT,
    SETTINGS_FILE,
    Option,
    SearchSettings,
    check_applies,
    named,
    one_shot_stages,
    upgrade_record,
)
from raynas.spaces.choices import ModelSpace
from raynas.trainables.supernet import SAMPLINGS
from raynas.tune import build, cluster, experiment
from raynas.tune.finish import BEST_FILE, run_config
from raynas.tune.progress import EpochLines, fmt

SUPERNET_FILE = "supernet.pt"
STAGES = ("supernet", "subnets", "retrain")
#: short names accepted for --searcher
ALIASES = {"sa": "sanas"}


def _at_least_1(value: int) -> bool:
    return value >= 1


#: the options of a one-shot search: ``SearchSettings.oneshot_options`` holds them (``SearchSettings.oneshot()``
#: gives all of them), config files as keys, ``raynas search oneshot`` as flags (``subnet_searcher`` as
#: ``--searcher``); the trials of its stages receive them as settings of their own (``settings["num_subnets"]``)
OPTIONS: tuple[Option, ...] = (
    Option("subnet_searcher", str, "sanas", f"searcher of the subnets: {', '.join(SEARCHERS)}"),
    Option("supernet_epochs", int, 60, "epochs of single-path supernet training", fits=_at_least_1, must="at least 1"),
    Option("supernet_batch_size", int, 32, "supernet batch size", fits=_at_least_1, must="at least 1"),
    Option(
        "supernet_lr", float, 0.05, "supernet SGD learning rate, cosine schedule", fits=lambda v: v > 0, must="above 0"
    ),
    Option(
        "supernet_sampling",
        str,
        "uniform",
        "paths per supernet batch: uniform (one path, SPOS); fair (a group holding every candidate of every "
        "label once, gradients summed; FairNAS, as many passes per batch as a label has candidates); or sandwich "
        "(the largest and smallest paths in the budget and 2 random ones, the others learning the largest's "
        "predictions; BigNAS, 4 passes per batch)",
        fits=lambda v: v in SAMPLINGS,
        must=f"one of {', '.join(SAMPLINGS)}",
    ),
    Option("num_subnets", int, 100, "subnets evaluated on the shared weights", fits=_at_least_1, must="at least 1"),
    Option(
        "subnets_per_trial",
        int,
        "auto",
        "subnets scored by one Tune trial, one results row each (auto: as many as take about 2 s, at most 32 and "
        "an eighth of num_subnets; one while a subnet takes longer). The searcher sees a trial's subnets as trials "
        "running at once",
        words=("auto",),
        fits=_at_least_1,
        must="a whole number of at least 1, or auto",
    ),
    Option(
        "calibration_images",
        int,
        2000,
        "training images that recompute each subnet's BatchNorm statistics",
        fits=_at_least_1,
        must="at least 1",
    ),
    Option("retrain_top", int, 3, "best subnets retrained from scratch", fits=_at_least_1, must="at least 1"),
    Option(
        "retrain_epochs", int, None, "epochs of that retraining (none: --epochs)", fits=_at_least_1, must="at least 1"
    ),
)


class SupernetProgress(EpochLines):
    """One line per supernet epoch (and one when an epoch runs long)."""

    def __init__(self, epochs: int):
        super().__init__(epochs, last=True)

    def line(self, trial_id: str, index: Any, result: dict[str, Any]) -> str:
        return (
            f"supernet epoch {result.get('epoch')}/{self.epochs}: train loss "
            f"{result.get('train_loss', float('nan')):.4f}  val acc of fixed paths {result.get('val_acc', 0):.4f}"
            f"  ({result.get('epoch_time_s', 0):.1f}s)"
        )


def run(settings: SearchSettings) -> Outcome:
    """Run (or continue) the one-shot search of ``settings`` to the end (``searcher`` is ``"oneshot"``; left at
    its default, it is set so)."""
    with one_shot_stages():  # the settings of its stages hold its options
        return _run(settings)


def _run(settings: SearchSettings) -> Outcome:
    if settings.searcher != ONE_SHOT:
        if settings.searcher != SearchSettings.searcher:  # not the default: perhaps meant for the subnets
            raise ValueError(
                f"a one-shot search has searcher 'oneshot', got {settings.searcher!r}; the subnets' "
                f"searcher is subnet_searcher (--searcher of `raynas search oneshot`)"
            )
        settings.searcher = ONE_SHOT  # recorded, so that `raynas resume` and `raynas analyze` know the search
    if storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}") is None:  # not a continuation
        check_applies(settings.given())
    subnet_searcher = settings.oneshot()["subnet_searcher"]
    if subnet_searcher not in SEARCHERS:
        raise ValueError(f"unknown subnet searcher {subnet_searcher!r}; choose one of: {', '.join(SEARCHERS)}")
    space = build.make_space(settings)
    if not isinstance(space, ModelSpace):
        raise ValueError(
            f"one-shot search needs a space of labelled choices (mobile or package.module:factory), "
            f"not {settings.space!r}"
        )
    build.make_searcher(stage(settings, "subnets"), space)  # a budget no subnet meets fails before training
    claim(settings)
    cluster.connect(settings)
    checkpoint = train_supernet(settings, space)
    if checkpoint is None:
        return Outcome(pd.DataFrame(columns=SEARCH_COLUMNS), None, "", None)
    subnets = search_subnets(settings, space, checkpoint)
    if subnets.empty:
        return Outcome(subnets, None, f"{root(settings)}/subnets/{RESULTS_FILE}", None)
    return retrain_best(settings, space, subnets)


def resume(storage_path: str, name: str, address: str | None = None, **resources: float | None) -> Outcome:
    """Continue the one-shot search stored at ``storage_path/name`` with the settings it was started with (other
    resources per trial are refused: its stages restore Tune trials that hold theirs)."""
    same_resources("one-shot", name, **resources)
    settings = search.load_settings(storage_path, name)
    settings.storage_path, settings.name, settings.address = storage_path, name, address  # it may have moved
    return run(settings)


def root(settings: SearchSettings) -> str:
    """``<storage_path>/<name>``, the folder of the stages."""
    return storage.folder(settings.storage_path, settings.name)


def stage(settings: SearchSettings, name: str, **changes) -> SearchSettings:
    """The settings of one stage: stored under ``<storage_path>/<name>/<stage>/``."""
    searcher = settings.oneshot().get("subnet_searcher", "random")  # ENAS has none of its own
    values = {"storage_path": root(settings), "name": name, "searcher": searcher, **changes}
    with one_shot_stages():  # a stage searches with the subnets' searcher and keeps the search's options
        return dataclasses.replace(settings, **values)


def claim(settings: SearchSettings) -> None:
    """Write the settings once; a re-run must ask for the same search."""
    storage.check_writable(settings.storage_path)
    differ = storage.claim(
        settings.storage_path,
        f"{settings.name}/{SETTINGS_FILE}",
        settings.to_dict(),
        ignore=("address", "storage_path", "name"),
        upgrade=upgrade_record,
    )
    if differ:
        raise ValueError(
            f"{root(settings)} holds another search (settings differ: {', '.join(differ)});"
            f" re-run it with the same flags, or pick another {named('name')}"
        )


def train_supernet(settings: SearchSettings, space: ModelSpace) -> str | None:
    """Stage 1: the trained supernet's state file (trained now unless it exists); ``None`` if training failed."""
    st = stage(settings, "supernet")
    location = f"{root(st)}/{SUPERNET_FILE}"
    if storage.read_bytes(st.storage_path, f"{st.name}/{SUPERNET_FILE}") is not None:
        logger.info(f"supernet: done, {location}")
        return location
    from raynas.trainables.supernet import train_supernet as trial

    epochs = settings.oneshot()["supernet_epochs"]
    logger.info(f"supernet: {epochs} epochs of single-path training on {settings.data}")
    trainable = tune.with_resources(
        tune.with_parameters(trial, settings=build.trial_settings(st, space)),
        {"cpu": st.cpus_per_trial, "gpu": st.gpus_per_trial},
    )
    path = root(st)
    if tune.Tuner.can_restore(path):
        experiment.repair_checkpoints(st.storage_path, st.name)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(trainable, run_config=run_config(st, [SupernetProgress(epochs)]))
    grid = tuner.fit()
    # interrupted: a half-trained supernet is not the stage's output
    experiment.check_ended(experiment.ended(grid, st.storage_path, st.name), st.name)
    result = grid[0]
    if result.error or result.checkpoint is None:
        logger.warning(f"supernet training failed: {last_line(result.error)}; see {path}")
        return None
    state = from_checkpoint(result.checkpoint)
    buffer = io.BytesIO()
    torch.save({"model": state["model"], "history": state["history"]}, buffer)
    storage.write_bytes(st.storage_path, f"{st.name}/{SUPERNET_FILE}", buffer.getvalue())
    logger.info(f"supernet: wrote {location}")
    return location


def search_subnets(settings: SearchSettings, space: ModelSpace, checkpoint: str) -> pd.DataFrame:
    """Stage 2: evaluate ``num_subnets`` subnets on the shared weights; their finished rows (``finish`` has
    told when there are none)."""
    from raynas.trainables.subnet import evaluate_subnet

    st = stage(settings, "subnets", num_samples=settings.oneshot()["num_subnets"], supernet_checkpoint=checkpoint)
    text = storage.read_text(st.storage_path, f"{st.name}/{BEST_FILE}")
    if text is None:
        logger.info(f"subnets: {st.num_samples} subnets by {st.searcher} on the shared weights")
        if storage.read_text(st.storage_path, f"{st.name}/{SETTINGS_FILE}") is None:
            search.run(st, function=evaluate_subnet)
        else:
            search.resume(st.storage_path, st.name, settings.address, function=evaluate_subnet)
    else:
        logger.info(f"subnets: done, {root(st)}/{RESULTS_FILE}")
    frame = pd.read_csv(
        io.StringIO(storage.read_text(st.storage_path, f"{st.name}/{RESULTS_FILE}")), dtype={"trial_id": str}
    )
    return frame[(frame.status == "TERMINATED") & frame.reward.notna()]


def retrain_best(
    settings: SearchSettings, space: ModelSpace, subnets: pd.DataFrame, supernet: str | None = None
) -> Outcome:
    """Stage 3: retrain the ``retrain_top`` best subnets from scratch; write the final best_arch.json, which
    names ``supernet`` (default: the one-shot search's supernet file)."""
    options = settings.oneshot()
    top = best_first(subnets).head(options["retrain_top"])  # ties: fewer params, then the earlier trial
    architectures = [json.loads(t) for t in top.tokens]
    st = stage(settings, "retrain", epochs=options["retrain_epochs"] or settings.epochs)
    if storage.read_text(st.storage_path, f"{st.name}/{BEST_FILE}") is None:
        logger.info(f"retrain: the best {len(architectures)} subnets from scratch, {st.epochs} epochs each")
        outcome = fixed.retrain(st, space, architectures)
    else:
        logger.info(f"retrain: done, {root(st)}/{BEST_FILE}")
        frame = pd.read_csv(
            io.StringIO(storage.read_text(st.storage_path, f"{st.name}/{RESULTS_FILE}") or ""), dtype={"trial_id": str}
        )
        best = storage.read_json(st.storage_path, f"{st.name}/{BEST_FILE}")
        outcome = Outcome(frame, best, f"{root(st)}/{RESULTS_FILE}", f"{root(st)}/{BEST_FILE}")
    if outcome.best is None:
        logger.warning(f"no retraining finished; see {outcome.results_path}")
        return outcome
    scores = {json.dumps(json.loads(t)): r for t, r in zip(top.tokens, top.reward)}
    best = {
        **outcome.best,
        "oneshot_val_acc": float(scores[json.dumps(outcome.best["tokens"])]),
        "supernet": supernet or f"{root(settings)}/supernet/{SUPERNET_FILE}",
    }
    path = storage.write_text(settings.storage_path, f"{settings.name}/{BEST_FILE}", json.dumps(best, indent=2))
    logger.info(
        f"{settings.searcher} search done: {json.dumps(best['arch'], ensure_ascii=False)}\n"
        f"  params {best['params']:,}  shared-weight val acc {best['oneshot_val_acc']:.4f}  retrained val acc "
        f"{best['val_acc']:.4f}  test acc {fmt(best['test_acc'])}\nwrote {path}"
    )
    return Outcome(outcome.results, best, outcome.results_path, path, outcome.grid, outcome.model_path)
