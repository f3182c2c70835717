"""Run DARTS searches as Tune trials (one per seed, side by side) and write their genotypes.

Under ``<storage_path>/<name>/``: ``results.csv`` (a row per seed: validation accuracy, genotype, time),
``genotype_seed<N>.json`` per seed and ``genotype.json`` of the seed with the best validation accuracy. On a
labelled-choice model space (``--space mobile`` or ``package.module:factory``, searched through its
:class:`~raynas.spaces.relaxed.RelaxedSupernet`) the per-seed files are ``arch_seed<N>.json`` and the best
seed's is ``best_arch.json`` (``space``, ``space_kwargs``, ``tokens``, ``arch``, ``params``, ``val_acc``, the
softmaxed ``arch_weights``), which ``raynas retrain --arch`` accepts.

Example:
    >>> settings = DartsSettings.from_dict({"epochs": 2, "layers": 3, "seeds": 2})
    >>> outcome = run(settings)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from ray import tune

from raynas import data, storage
from raynas.log import logger
from raynas.results import DARTS_COLUMNS, Outcome
from raynas.runs.base import same_resources
from raynas.settings import check_gpus, check_name, check_storage_path, coerce_fields, named, underscored
from raynas.spaces.darts import genotype_from_dict
from raynas.spaces.relaxed import candidate_names
from raynas.trainables.darts import DartsRecipe, check_recipe, darts_search, model_space
from raynas.tune import board, cluster, experiment
from raynas.tune.finish import run_config
from raynas.tune.progress import EpochLines

GENOTYPE_FILE = "genotype.json"
BEST_ARCH_FILE = "best_arch.json"
SETTINGS_FILE = storage.DARTS_RECORD

#: settings that may change when an interrupted search is continued: where it runs and stores, not what it does
PLACE = ("storage_path", "name", "address")


@dataclass
class DartsSettings(DartsRecipe):
    """One DARTS search: the supernet, the recipe, the seeds, and where it runs."""

    seeds: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    name: str = "darts"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DartsSettings:
        """Build from ``flag -> value`` (``-`` or ``_``), checking every value."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = underscored(values)
        for name in kwargs:
            if name not in names:
                raise ValueError(
                    f"setting {name!r} does not apply to `search darts`; its settings are: {', '.join(sorted(names))}"
                )
        settings = cls(**kwargs)
        settings.check()
        return settings

    def __post_init__(self) -> None:
        coerce_fields(self)  # "1e-3" -> 0.001; a value of the wrong type names its setting

    def check(self) -> None:
        """Raise ``ValueError`` naming the setting (see :func:`raynas.settings.named`) when it cannot run."""
        check_recipe(self.recipe())
        for name, low in (("seeds", 1), ("seed", 0), ("max_failures", -1)):
            if getattr(self, name) < low:
                raise ValueError(f"{named(name)} must be at least {low}, got {getattr(self, name)}")
        if not self.cpus_per_worker > 0 or not self.gpus_per_worker >= 0:
            raise ValueError(
                f"{named('cpus_per_worker')} must be above 0 and {named('gpus_per_worker')} at least 0, got "
                f"{self.cpus_per_worker} and {self.gpus_per_worker}"
            )
        check_gpus("gpus_per_worker", self.gpus_per_worker)
        if self.space == "darts" and int(self.layers) < 3:  # cells layers//3 and 2*layers//3 reduce
            raise ValueError(
                f"{named('layers')} must be at least 3 for a cell search, got {self.layers}: with fewer, every "
                "cell is a reduction cell and the normal cell is never searched"
            )
        check_name(self.name)
        check_storage_path(self.storage_path)
        data.check(self.data, self.data_dir, self.val_fraction)
        if self.space != "darts":
            model_space(self.recipe())

    def result_file(self) -> str:
        """The file of the best seed's architecture: genotype.json, or best_arch.json on a model space."""
        return GENOTYPE_FILE if self.space == "darts" else BEST_ARCH_FILE

    def recipe(self) -> dict[str, Any]:
        """The settings a trial receives."""
        return dataclasses.asdict(self)

    def search_settings(self) -> dict[str, Any]:
        """What the search does, without where it runs: an interrupted search continues only with these."""
        return {k: v for k, v in self.recipe().items() if k not in PLACE}


def run(settings: DartsSettings | dict[str, Any]) -> Outcome:
    """Run ``settings.seeds`` DARTS searches as parallel Tune trials; write results and genotypes. ``settings``
    may be a dict of them, as ``DartsSettings.from_dict`` takes.

    Run again with the same settings after an interruption, the search continues: Tune restores the
    experiment and every unfinished trial goes on from its last epoch checkpoint. When Tune's experiment
    state cannot be read (the driver was killed while writing it), new trials go on from the newest
    checkpoint each seed left in its trial folder.
    """
    import ray

    from raynas.tune.experiment import experiment_state_readable

    if not isinstance(settings, DartsSettings):
        settings = DartsSettings.from_dict(settings)
    storage.check_kind(settings.storage_path, settings.name, SETTINGS_FILE)
    if storage.read_text(settings.storage_path, f"{settings.name}/{settings.result_file()}") is not None:
        changed = _changes(settings)
        raise FileExistsError(
            f"a DARTS search named {settings.name!r} already finished under "
            f"{storage.normalize(settings.storage_path)}"
            f"{f' with other settings ({changed})' if changed else ''}; pick another {named('name')}"
        )
    interrupted = _check_same_search(settings)
    storage.check_writable(settings.storage_path)
    cluster.start(settings.address, cluster.user_code_env(settings.space))
    workers = settings.workers_per_trial
    # with several workers the trial only drives its Ray Train workers, which hold the CPUs or GPUs
    resources = {"cpu": 0.01} if workers > 1 else {"cpu": settings.cpus_per_worker, "gpu": settings.gpus_per_worker}
    have = ray.cluster_resources()
    if settings.address:
        cluster.warn_if_no_node_fits(
            settings.address,
            {"CPU": settings.cpus_per_worker, "GPU": settings.gpus_per_worker},
            f"a worker ({named('cpus_per_worker')}, {named('gpus_per_worker')})",
        )
    for kind, per_worker, extra in (
        ("CPU", settings.cpus_per_worker, 0.01 if workers > 1 else 0),
        ("GPU", settings.gpus_per_worker, 0),
    ):
        need = extra + workers * per_worker
        if not settings.address and need > have.get(kind, 0):  # a local Ray has no autoscaler: it would wait forever
            flag, many = named(f"{kind.lower()}s_per_worker"), named("workers_per_trial")
            raise ValueError(
                f"{many} {workers} with {flag} {per_worker:g} needs {need:g} {kind}s and this machine has "
                f"{have.get(kind, 0):g}; lower {flag} or {many}, or pass {named('address')} of a cluster that has them"
            )
    storage.write_text(
        settings.storage_path, f"{settings.name}/{SETTINGS_FILE}", json.dumps(settings.search_settings(), indent=2)
    )
    names = storage.list_names(settings.storage_path, settings.name)
    restorable = interrupted and experiment_state_readable(settings.storage_path, settings.name, names)
    # a trial without a checkpoint of its own goes on from the newest its seed left in the trial folders
    continue_from = newest_checkpoints(settings.storage_path, settings.name, names) if interrupted else {}
    if interrupted and not restorable and continue_from:  # Tune's record was cut short, not the trial folders
        logger.info(
            f"Tune's record of the interrupted DARTS search {settings.name!r} was cut short; "
            f"{len(continue_from)} seed(s) continue from their newest checkpoint"
        )
    trainable = tune.with_resources(
        tune.with_parameters(darts_search, settings={**settings.recipe(), "continue_from": continue_from}), resources
    )
    if restorable:
        logger.info(f"continuing the interrupted DARTS search {settings.name!r}")
        experiment.repair_checkpoints(settings.storage_path, settings.name)
        tuner = tune.Tuner.restore(
            storage.folder(settings.storage_path, settings.name), trainable=trainable, resume_errored=True
        )
    else:
        seeds = list(range(settings.seed, settings.seed + settings.seeds))
        candidates = None if settings.space == "darts" else candidate_names(model_space(settings.recipe()))
        tuner = tune.Tuner(
            trainable,
            param_space={"seed": tune.grid_search(seeds)},
            run_config=run_config(settings, [EpochLines(settings.epochs, last=True), *board.callbacks(candidates)]),
        )
    return finish(settings, tuner.fit())


def resume(storage_path: str, name: str, address: str | None = None, **resources: float | None) -> Outcome:
    """Continue the interrupted DARTS search ``name`` with the settings it was started with. A search that
    finished already is not run again: its results are returned as they are. Other resources per trial are
    refused (a DARTS search has them per worker)."""
    saved = storage.read_text(storage_path, f"{name}/{SETTINGS_FILE}")
    if saved is None:
        raise FileNotFoundError(
            f"no DARTS search named {name!r} under {storage.normalize(storage_path)} (no {name}/{SETTINGS_FILE})"
        )
    same_resources("DARTS", name, **resources)
    try:
        values = underscored(json.loads(saved))
    except ValueError as exc:  # not JSON, or not an object
        raise ValueError(
            f"{storage.normalize(storage_path)}/{name}/{SETTINGS_FILE} is not a usable raynas DARTS "
            f"search record ({exc}); restore it or start the search again under another {named('name')}"
        ) from None
    settings = DartsSettings.from_dict({**values, "storage_path": storage_path, "name": name, "address": address})
    results = storage.read_text(storage_path, f"{name}/results.csv")
    if results is not None and storage.read_text(storage_path, f"{name}/{settings.result_file()}") is not None:
        folder = storage.folder(storage_path, name)
        logger.info(
            f"the DARTS search {name!r} finished already; its results are {folder}/results.csv and "
            f"{folder}/{settings.result_file()}"
        )
        return _outcome(settings, pd.read_csv(io.StringIO(results)))
    return run(settings)


def newest_checkpoints(storage_path: str, name: str, names: list[str]) -> dict[str, str]:
    """Each seed's newest epoch checkpoint among the trial folders ``names`` of search ``name`` (seed -> path
    under ``storage_path``): where the seeds go on from when Tune's experiment state cannot be read. A seed
    continued this way before has several folders; its newest checkpoint is the one written last."""
    newest: dict[str, tuple[float, str]] = {}
    for trial in (n for n in names if n.startswith("darts_search_")):
        params = storage.read_text(storage_path, f"{name}/{trial}/params.json")
        if params is None:
            continue
        seed = str(json.loads(params)["seed"])
        for folder in (f"{name}/{trial}", f"{name}/{trial}/train"):  # a data-parallel trial's Train run
            relpath = storage.newest_checkpoint(storage_path, folder)
            if relpath is None:
                continue
            fs, path = storage.locate(storage_path, relpath)
            written = fs.get_file_info(path).mtime.timestamp()
            if seed not in newest or written > newest[seed][0]:
                newest[seed] = (written, relpath)
    return {seed: relpath for seed, (_, relpath) in newest.items()}


def epoch_results(storage_path: str, name: str, seed: int, trainable: str = "darts_search") -> list[dict[str, Any]]:
    """Each epoch's result of seed ``seed`` of search ``name``, in epoch order, from the result.json of its trial
    folders (a seed continued in a new folder has several: of an epoch reported twice, the newer folder's).
    ``trainable``: the trial function, whose name begins each trial folder's (``train_enas`` for ENAS's)."""
    epochs: dict[int, dict[str, Any]] = {}
    trials = [n for n in storage.list_names(storage_path, name) if n.startswith(f"{trainable}_")]
    for trial in sorted(trials, key=lambda n: n[-19:]):  # Tune ends a trial folder's name with its start time
        params = storage.read_text(storage_path, f"{name}/{trial}/params.json")
        if params is None or json.loads(params).get("seed") != seed:
            continue
        for line in (storage.read_text(storage_path, f"{name}/{trial}/result.json") or "").splitlines():
            if line.strip():
                result = json.loads(line)
                epochs[int(result["epoch"])] = result
    return [epochs[epoch] for epoch in sorted(epochs)]


def _check_same_search(settings: DartsSettings) -> bool:
    """Whether an interrupted search of this name exists; it must have been started with the same settings."""
    if storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}") is None:
        return False
    changed = _changes(settings)
    if changed:
        raise ValueError(
            f"an interrupted DARTS search named {settings.name!r} was started with other settings "
            f"({changed}); run it again with its settings to continue it, or pick another {named('name')}"
        )
    return True


def _changes(settings: DartsSettings) -> str:
    """The settings that differ from those the search of this name was started with, as ``setting old -> new``
    (see :func:`raynas.settings.named`)."""
    saved = storage.read_text(settings.storage_path, f"{settings.name}/{SETTINGS_FILE}")
    if saved is None:
        return ""
    before, now = json.loads(saved), settings.search_settings()
    return ", ".join(f"{named(k)} {before.get(k)} -> {now[k]}" for k in now if before.get(k) != now[k])


def finish(settings: DartsSettings, grid: tune.ResultGrid) -> Outcome:
    """Write results.csv, each seed's architecture and the best seed's genotype.json (or best_arch.json)."""
    rows, records = [], {}
    finished = experiment.ended(grid, settings.storage_path, settings.name)
    for result, config in zip([grid[i] for i in range(len(grid))], finished):
        if config is None:  # interrupted: resuming runs it again
            continue
        m = result.metrics or {}
        seed = config["seed"]
        rows.append(
            {
                "seed": seed,
                "trial_id": m.get("trial_id"),
                "status": "ERROR" if result.error else "TERMINATED",
                "val_acc": m.get("val_acc"),
                "train_acc": m.get("train_acc"),
                "epochs": m.get("epoch"),
                "wall_time_s": m.get("time_total_s"),
                "genotype": m.get("genotype"),
                "skip_connects_normal": m.get("skip_connects_normal"),
                "arch": m.get("arch"),
                "params": m.get("params"),
                "error": str(result.error).strip().splitlines()[-1] if result.error else None,
            }
        )
        if result.error:
            continue
        if m.get("genotype_json"):
            records[seed] = (f"genotype_seed{seed}.json", _pretty(m["genotype_json"]))
        elif m.get("arch"):
            records[seed] = (f"arch_seed{seed}.json", json.dumps(_arch_record(settings, m), indent=2))
        if seed in records:
            storage.write_text(settings.storage_path, f"{settings.name}/{records[seed][0]}", records[seed][1])
    frame = pd.DataFrame(rows, columns=DARTS_COLUMNS).sort_values("seed", ignore_index=True)
    path = storage.write_text(settings.storage_path, f"{settings.name}/results.csv", frame.to_csv(index=False))
    experiment.check_ended(finished, settings.name)
    done = frame[frame.status == "TERMINATED"].dropna(subset=["val_acc"])
    if done.empty:
        logger.warning(f"no DARTS search finished; see {path}")
        return Outcome(frame, None, path, None, grid)
    best = done.loc[done.val_acc.astype(float).idxmax()]
    best_path = storage.write_text(
        settings.storage_path, f"{settings.name}/{settings.result_file()}", records[best.seed][1]
    )
    found = best.genotype if settings.space == "darts" else best.arch
    logger.info(
        f"{len(done)} of {len(frame)} DARTS seeds finished; best seed {best.seed} "
        f"(val acc {float(best.val_acc):.4f})\n  {found}\nwrote {path} and {best_path}"
    )
    return Outcome(frame, json.loads(records[best.seed][1]), path, best_path, grid)


def _outcome(settings: DartsSettings, frame: pd.DataFrame) -> Outcome:
    """The outcome of a finished search, from its results.csv: the best seed's genotype or architecture."""
    folder = storage.folder(settings.storage_path, settings.name)
    best_text = storage.read_text(settings.storage_path, f"{settings.name}/{settings.result_file()}")
    best_path = f"{folder}/{settings.result_file()}" if best_text is not None else None
    return Outcome(frame, None if best_text is None else json.loads(best_text), f"{folder}/results.csv", best_path)


def _arch_record(settings: DartsSettings, metrics: dict[str, Any]) -> dict[str, Any]:
    """The best_arch.json record of one seed's search on a model space."""
    space = model_space(settings.recipe())
    return {
        "space": space.name,
        "space_kwargs": space.kwargs(),
        "tokens": json.loads(metrics["tokens"]),
        "arch": json.loads(metrics["arch"]),
        "params": int(metrics["params"]),
        "val_acc": float(metrics["val_acc"]),
        "arch_weights": json.loads(metrics["arch_weights"]),
        "seed": int(metrics["seed"]),
        "data": settings.data,
    }


def _pretty(genotype_json: str) -> str:
    """The genotype JSON, checked and indented."""
    genotype_from_dict(json.loads(genotype_json))
    return json.dumps(json.loads(genotype_json), indent=2)
