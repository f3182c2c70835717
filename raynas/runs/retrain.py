"""Retrain given architectures from scratch through Tune, in parallel trials, and report the best.

The trials are the ordinary retrain trials of a search, so ``<storage_path>/<name>/`` gets the same
``results.csv`` and ``best_arch.json`` (best by validation reward, with its test accuracy). An interrupted
run continues with ``Tuner.restore`` when called again with the same settings and architectures; other ones
under the same name are an error (``RETRAIN_FILE`` records what a run trains).

Example:
    >>> from raynas.settings import SearchSettings
    >>> from raynas.tune.build import make_space
    >>> settings = SearchSettings(epochs=2)
    >>> outcome = retrain(settings, make_space(settings), [[3, 3, 4, 4]])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ray import tune

from raynas import results, storage
from raynas.log import logger
from raynas.results import Outcome
from raynas.runs.base import same_resources
from raynas.settings import SearchSettings, named, upgrade_record
from raynas.spaces.base import SearchSpace
from raynas.spaces.export import apply_arch, export_arch, read_arch_file
from raynas.tune import cluster
from raynas.tune.build import make_space, make_trainable
from raynas.tune.experiment import repair_checkpoints
from raynas.tune.finish import BEST_FILE, finish, run_config, trial_dirname
from raynas.tune.progress import EpochLines, Progress

#: what a retrain run trains, written when it starts: a run of the same name must train the same
RETRAIN_FILE = storage.RETRAIN_RECORD


def retrain(settings: SearchSettings, space: SearchSpace, architectures: list[list[int]]) -> Outcome:
    """Train every token vector of ``architectures`` from scratch, ``settings.concurrency`` at a time."""
    if not architectures:
        raise ValueError("no architecture to retrain")
    if settings.space == "tabular":
        raise ValueError(
            "a benchmark table's architecture has no network to train: its accuracy is the table's "
            "(see `raynas params --table`); retrain architectures of a network space"
        )
    if space.name != settings.space:  # trials build settings.space: another space would train other networks
        raise ValueError(
            f"the space given is {space.name!r} but the settings name {settings.space!r}; pass "
            "raynas.tune.build.make_space(settings), or set settings.space to the space's name"
        )
    architectures = [space.validate(t) for t in architectures]
    settings = dataclasses.replace(settings, num_samples=len(architectures))  # the caller's settings stay as given
    storage.check_kind(settings.storage_path, settings.name, RETRAIN_FILE)
    storage.check_writable(settings.storage_path)
    cluster.connect(settings)
    path = storage.folder(settings.storage_path, settings.name)
    trainable = make_trainable(settings, space)
    started = _claim(settings, architectures)
    if tune.Tuner.can_restore(path):
        if started != path:  # Tune's records name the old folder: results and new trials would go back there
            raise ValueError(
                f"the retrain {settings.name!r} was started in {started} and is now in {path}, and "
                "Ray Tune continues a run only where it started; move it back to continue it there, "
                f"or retrain under another {named('name')}"
            )
        repair_checkpoints(settings.storage_path, settings.name)
        tuner = tune.Tuner.restore(path, trainable=trainable, restart_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={
                "trial_index": tune.grid_search(list(range(len(architectures)))),
                "tokens": tune.sample_from(lambda spec: architectures[spec.config.trial_index]),  # type: ignore[attr-defined]
            },
            tune_config=tune.TuneConfig(
                max_concurrent_trials=settings.concurrency, reuse_actors=True, trial_dirname_creator=trial_dirname
            ),
            run_config=run_config(settings, [Progress(settings), EpochLines(settings.epochs)]),
        )
    return finish(settings, space, tuner.fit())


def _claim(settings: SearchSettings, architectures: list[list[int]]) -> str:
    """Record what this run trains; a run of that name before must have trained the same. Returns the folder the
    run was started in."""
    here = {**settings.to_dict(), "storage_path": storage.normalize(settings.storage_path)}
    differ = storage.claim(
        settings.storage_path,
        f"{settings.name}/{RETRAIN_FILE}",
        {**here, "architectures": architectures},
        ignore=("address", "storage_path", "name"),
        upgrade=upgrade_record,
    )
    if differ:
        raise FileExistsError(
            f"a retrain named {settings.name!r} under {storage.normalize(settings.storage_path)} "
            f"trained other settings ({', '.join(named(k) for k in differ)}); pick "
            f"another {named('name')}, or give the same ones to continue it"
        )
    saved = storage.read_json(settings.storage_path, f"{settings.name}/{RETRAIN_FILE}")
    return storage.folder(saved["storage_path"], saved["name"])


def settings_for_file(
    path: str, values: dict[str, Any], layers: int | None = None
) -> tuple[SearchSettings, SearchSpace, list[int]]:
    """Settings, space and tokens to retrain the architecture file at ``path``.

    The file's ``space``, ``space_kwargs`` and ``data`` are used unless ``values`` (setting -> value) give
    them; a flat NNI architecture needs ``space`` in ``values``. ``layers`` sets the cells of a
    ``darts_channel`` network (a genotype.json), reductions at 1/3 and 2/3.
    """
    found = read_arch_file(path)
    values = dict(values)
    for key in ("space", "data"):
        if found.get(key) is not None:  # a table replay's record has no data
            values.setdefault(key, found[key])
    if "space" not in values:
        raise ValueError(
            f"{path} does not name its space; pass {named('space')} (e.g. mobile or package.module:factory)"
        )
    if values.get("data_dir") and values.get("data", SearchSettings.data) == "digits":
        raise ValueError(
            f"{named('data_dir')} applies to {named('data')} mnist, fashion_mnist or cifar10 (digits is bundled) only; "
            "drop it from `raynas retrain`"
        )
    same_space = values["space"] == found.get("space")
    if not same_space and "arch" not in found:  # its tokens (a genotype: its start widths) mean nothing elsewhere
        what = f"tokens of space {found['space']!r}" if "tokens" in found else "a DARTS genotype"
        raise ValueError(
            f"{path} holds {what}, which retrains in space {found['space']!r}, not {values['space']!r}; "
            f"drop {named('space')}"
        )
    if same_space:  # arguments given override the file's
        kept = found.get("space_kwargs", {})
        if found.get("data") and values.get("data") != found["data"]:  # another dataset's shape comes from --data
            kept = {k: v for k, v in kept.items() if k not in ("in_channels", "num_classes", "input_shape")}
        values["space_kwargs"] = {**kept, **values.get("space_kwargs", {})}
    if layers is not None:
        if layers < 3:
            raise ValueError(
                f"{named('layers')} must be at least 3 (cells at 1/3 and 2/3 are reductions), got {layers}"
            )
        if values["space"] != "darts_channel":
            raise ValueError(
                f"{named('layers')} sets the cells of a DARTS genotype's network; {path} is an architecture of "
                f"space {values['space']!r}: drop {named('layers')} (that space's own arguments go in "
                f"{named('space_kwargs')})"
            )
        cells = values["space_kwargs"].get("num_cells", 20) if same_space else None
        if same_space and ("arch" in found or "tokens" in found) and cells != layers:  # a width per cell: fixed
            raise ValueError(
                f"{named('layers')} sets the cells of the network built from a genotype.json; {path} holds the "
                f"widths of {cells} cells, which retrain as they are: drop {named('layers')}, or give the "
                "search's genotype.json"
            )
        values["space_kwargs"] = {
            **values.get("space_kwargs", {}),
            "num_cells": layers,
            "reduction_cells": [layers // 3, 2 * layers // 3],
        }
    settings = SearchSettings.from_dict(values)
    space = make_space(settings)
    if "arch" in found:
        tokens = apply_arch(space, found["arch"])
    else:  # a record of tokens only, or a genotype (the start widths of its channel space)
        tokens = _recorded(space, found["tokens"], path) if "tokens" in found else space.init_tokens()
    if same_space and "tokens" in found and list(found["tokens"]) != tokens:
        recorded = _recorded(space, found["tokens"], path)
        if export_arch(space, recorded) != export_arch(space, tokens):
            raise ValueError(
                f"{path}: 'tokens' {found['tokens']} disagree with 'arch' (tokens {tokens}); fix or drop one of them"
            )
        tokens = recorded  # a position whose options repeat a value: the tokens say which one
    return settings, space, tokens


def _recorded(space: SearchSpace, tokens: Any, path: str) -> list[int]:
    """The tokens a file records, valid in ``space``; an invalid one says the space may have changed since."""
    try:
        return space.validate(list(tokens))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}; has space {space.name!r} changed since the file was written?") from None


def resume(storage_path: str, name: str, address: str | None = None, **resources: float | None) -> Outcome:
    """Continue retrain ``name`` with the settings and architectures it was started with."""
    record = _record(storage_path, name)
    same_resources("retrain", name, **resources)
    architectures = record["architectures"]
    frame = results.parse(results.read(storage_path, name) or "")
    best = storage.read_text(storage_path, f"{name}/{BEST_FILE}")
    if best is not None and len(frame) >= len(architectures):  # finished, wherever it is now
        folder = storage.folder(storage_path, name)
        logger.info(f"the retrain {name!r} finished already; its results are {folder}/{results.RESULTS_FILE}")
        return Outcome(frame, json.loads(best), f"{folder}/{results.RESULTS_FILE}", f"{folder}/{BEST_FILE}")
    settings = dataclasses.replace(_settings(record, storage_path, name), address=address)
    return retrain(settings, make_space(settings), architectures)


def load_settings(storage_path: str, name: str) -> SearchSettings:
    """The settings retrain ``name`` was started with, for where it is now."""
    return _settings(_record(storage_path, name), storage_path, name)


def _record(storage_path: str, name: str) -> dict[str, Any]:
    """What retrain ``name`` recorded when it started: its settings and ``architectures``."""
    text = storage.read_text(storage_path, f"{name}/{RETRAIN_FILE}")
    if text is None:
        raise FileNotFoundError(f"no retrain named {name!r} under {storage.normalize(storage_path)}")
    return json.loads(text)


def _settings(record: dict[str, Any], storage_path: str, name: str) -> SearchSettings:
    """The settings of a retrain ``record``, for where the retrain is now."""
    values = {k: v for k, v in record.items() if k != "architectures"}
    return SearchSettings.from_dict({**values, "storage_path": storage_path, "name": name})
