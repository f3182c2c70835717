"""ENAS: a controller learns which paths of a weight-sharing supernet to train, then the best are retrained.

Everything goes under ``<storage_path>/<name>/``:

- ``supernet/``: the ENAS trials, one per seed side by side (:mod:`raynas.trainables.enas`: shared weights
  and controller trained in turn, a checkpoint per epoch);
- ``subnets/results.csv``: the architectures each seed's trained controller derived, scored on the shared
  weights (``reward``), in the columns of a search's results;
- ``retrain/``: the best ``retrain_top`` of them trained from scratch in parallel trials, as a one-shot search
  retrains its best subnets;
- ``best_arch.json``: the best retrained architecture by validation accuracy, with its test accuracy and its
  shared-weight score, in the format every search writes.

Re-running the same command (or ``raynas resume``) continues an interrupted search from its last checkpoints.

Example:
    >>> from raynas.settings import SearchSettings
    >>> settings = SearchSettings(searcher="enas", space="mobile", max_params="20k",
    ...                           oneshot_options={"supernet_epochs": 10, "seeds": 2})
    >>> outcome = run(settings)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
from ray import tune

from raynas import storage
from raynas.log import logger
from raynas.results import RESULTS_FILE, SEARCH_COLUMNS, Outcome, last_line
from raynas.runs import oneshot, search
from raynas.runs.base import same_resources
from raynas.settings import ENAS, SETTINGS_FILE, Option, SearchSettings, check_applies, one_shot_stages
from raynas.spaces.choices import ModelSpace
from raynas.spaces.relaxed import candidate_names
from raynas.trainables.enas import CONTROLLER, train_enas
from raynas.tune import board, build, cluster, experiment
from raynas.tune.finish import run_config
from raynas.tune.progress import EpochLines


def _at_least_1(value: int) -> bool:
    return value >= 1


#: the options of an ENAS search (in ``SearchSettings.oneshot_options``, as a one-shot search's): the one-shot
#: search's options of the supernet, the scoring and the retraining, and the controller's
OPTIONS: tuple[Option, ...] = (
    *(
        option
        for option in oneshot.OPTIONS
        if option.name not in ("subnet_searcher", "supernet_sampling", "subnets_per_trial")
    ),
    Option("seeds", int, 1, "ENAS trials side by side, seeds seed, seed+1, ...", fits=_at_least_1, must="at least 1"),
    Option(
        "controller_lr",
        float,
        CONTROLLER["controller_lr"],
        "Adam learning rate of the controller",
        fits=lambda v: v > 0,
        must="above 0",
    ),
    Option(
        "controller_steps",
        int,
        CONTROLLER["controller_steps"],
        "controller steps after each epoch of shared weights",
        fits=_at_least_1,
        must="at least 1",
    ),
    Option(
        "controller_aggregate",
        int,
        CONTROLLER["controller_aggregate"],
        "sampled paths per controller step",
        fits=_at_least_1,
        must="at least 1",
    ),
    Option(
        "controller_temperature",
        float,
        CONTROLLER["controller_temperature"],
        "the controller's logits are divided by it (none: not divided)",
        fits=lambda v: v > 0,
        must="above 0, or none",
    ),
    Option(
        "controller_tanh",
        float,
        CONTROLLER["controller_tanh"],
        "the controller's logits are squashed to C*tanh(logits)",
        fits=lambda v: v > 0,
        must="above 0",
    ),
    Option(
        "controller_entropy_weight",
        float,
        CONTROLLER["controller_entropy_weight"],
        "weight of the controller's entropy added to each reward",
        fits=lambda v: v >= 0,
        must="at least 0",
    ),
    Option(
        "controller_baseline_decay",
        float,
        CONTROLLER["controller_baseline_decay"],
        "decay of the moving-average reward baseline",
        fits=lambda v: 0 <= v < 1,
        must="at least 0 and below 1",
    ),
)


class EnasProgress(EpochLines):
    """One line per ENAS epoch of each seed (and one naming the seeds still in a long epoch)."""

    def __init__(self, epochs: int):
        super().__init__(epochs, last=True)

    def line(self, trial_id: str, index: Any, result: dict[str, Any]) -> str:
        return (
            f"enas seed {result.get('seed')} epoch {result.get('epoch')}/{self.epochs}: train loss "
            f"{result.get('train_loss', float('nan')):.4f}  reward {result.get('reward', 0):.4f}  entropy "
            f"{result.get('entropy', 0):.2f}  most likely: val acc {result.get('val_acc', 0):.4f}, "
            f"{result.get('params', 0):,} params  ({result.get('epoch_time_s', 0):.1f}s)"
        )


def run(settings: SearchSettings) -> Outcome:
    """Run (or continue) the ENAS search of ``settings`` to the end (``searcher`` is ``"enas"``)."""
    with one_shot_stages():  # the settings of its stages hold its options
        return _run(settings)


def _run(settings: SearchSettings) -> Outcome:
    if settings.searcher != ENAS:
        raise ValueError(f"an ENAS search has searcher 'enas', got {settings.searcher!r}")
    if storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}") is None:  # not a continuation
        check_applies(settings.given())
    space = build.make_space(settings)
    if not isinstance(space, ModelSpace):
        raise ValueError(
            f"ENAS needs a space of labelled choices (mobile or package.module:factory), not {settings.space!r}"
        )
    build.make_searcher(oneshot.stage(settings, "subnets", searcher="random"), space)  # the budget, checked now
    oneshot.claim(settings)
    cluster.connect(settings)
    derived = train(settings, space)
    if derived.empty:
        return Outcome(derived, None, f"{oneshot.root(settings)}/subnets/{RESULTS_FILE}", None)
    return oneshot.retrain_best(settings, space, derived, supernet=f"{oneshot.root(settings)}/supernet")


def resume(storage_path: str, name: str, address: str | None = None, **resources: float | None) -> Outcome:
    """Continue the ENAS search stored at ``storage_path/name`` with the settings it was started with."""
    same_resources("ENAS", name, **resources)
    settings = search.load_settings(storage_path, name)
    settings.storage_path, settings.name, settings.address = storage_path, name, address  # it may have moved
    return run(settings)


def train(settings: SearchSettings, space: ModelSpace) -> pd.DataFrame:
    """The ENAS trials (trained now unless their derived architectures are stored): the architectures every
    seed derived, as finished rows of ``subnets/results.csv``."""
    st = oneshot.stage(settings, "subnets")
    relpath = f"{st.name}/{RESULTS_FILE}"
    text = storage.read_text(st.storage_path, relpath)
    if text is None:
        text = _derived_rows(_fit(settings, space), space).to_csv(index=False)
        if text.count("\n") > 1:  # a header and at least one architecture
            storage.write_text(st.storage_path, relpath, text)
            logger.info(f"enas: wrote {oneshot.root(settings)}/{relpath}")
    else:
        logger.info(f"enas: done, {oneshot.root(settings)}/{relpath}")
    return pd.read_csv(io.StringIO(text), dtype={"trial_id": str})


def _fit(settings: SearchSettings, space: ModelSpace) -> tune.ResultGrid:
    st = oneshot.stage(settings, "supernet")
    options = settings.oneshot()
    seeds = [settings.seed + i for i in range(options["seeds"])]
    logger.info(
        f"enas: {options['supernet_epochs']} epochs of shared weights and controller on {settings.data}, "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    )
    trainable = tune.with_resources(
        tune.with_parameters(train_enas, settings={**build.trial_settings(st, space), **options}),
        {"cpu": st.cpus_per_trial, "gpu": st.gpus_per_trial},
    )
    path = oneshot.root(st)
    if tune.Tuner.can_restore(path):
        experiment.repair_checkpoints(st.storage_path, st.name)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"seed": tune.grid_search(seeds)},
            run_config=run_config(
                st, [EnasProgress(options["supernet_epochs"]), *board.callbacks(candidate_names(space))]
            ),
        )
    grid = tuner.fit()
    experiment.check_ended(experiment.ended(grid, st.storage_path, st.name), st.name)  # interrupted: not done
    return grid


def _derived_rows(grid: tune.ResultGrid, space: ModelSpace) -> pd.DataFrame:
    """The derived architectures of every seed that finished, in the columns of a search's results; an
    architecture two seeds derived keeps its better score."""
    rows: dict[str, dict] = {}
    for result in (grid[i] for i in range(len(grid))):
        metrics = result.metrics or {}
        if result.error or "derived" not in metrics:
            logger.warning(f"enas: seed {metrics.get('seed', '?')} failed: {last_line(result.error)}")
            continue
        for tokens, score in json.loads(metrics["derived"]):
            key = json.dumps(tokens)
            if key in rows and rows[key]["reward"] >= score:
                continue
            rows[key] = {
                "trial_id": f"{metrics['trial_id']}_{len(rows)}",
                "status": "TERMINATED",
                "tokens": key,
                "params": space.num_params(tokens),
                "reward": score,
                "val_acc": score,
                "epochs": metrics.get("epoch"),
                "wall_time_s": metrics.get("time_total_s"),
                "seed": metrics.get("seed"),
            }
    frame = pd.DataFrame(list(rows.values()), columns=[*SEARCH_COLUMNS, "seed"])
    frame["trial_index"] = range(len(frame))
    return frame
