"""The DARTS -> SA channel search -> retrain pipeline.

Each pipeline stage writes under ``<storage_path>/<name>/<stage>/`` and is skipped when its output exists, so
a re-run after an interruption continues with the first unfinished stage:

- ``darts/genotype.json``: the cell found by DARTS;
- ``sanas/best_arch.json``: the per-cell widths SA found for that cell under the parameter budget;
- ``retrain/result.json``: the best architecture trained longer, with its validation and test accuracy.

Example:
    >>> PipelineSettings(max_params="60k").num_cells  # a small channel space of the found cell, for digits
    5
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from raynas import results, storage
from raynas.log import logger
from raynas.results import Outcome
from raynas.runs.base import same_resources
from raynas.settings import RunSettings, named
from raynas.trainables.model_file import MODEL_FILE

STAGES = ("darts", "sanas", "retrain")
RESULT_FILE = "result.json"


def retrain(best: dict[str, Any], values: dict[str, Any], root: str) -> dict[str, Any]:
    """Train the architecture of the ``best_arch.json`` record ``best`` from scratch with the retrain command's
    trials (settings ``values``, outputs in ``root/retrain``); write and return ``retrain/result.json``."""
    from raynas.runs import retrain as fixed
    from raynas.settings import SearchSettings
    from raynas.tune.build import make_space

    settings = SearchSettings.from_dict(
        {
            **values,
            "space": best["space"],
            "space_kwargs": best["space_kwargs"],
            "storage_path": root,
            "name": "retrain",
        }
    )
    outcome = fixed.retrain(settings, make_space(settings), [best["tokens"]])
    if outcome.best is None:
        raise RuntimeError(f"retraining failed; see {outcome.results_path}")
    out = {**outcome.best, "epochs": int(outcome.results.epochs.max())}
    path = storage.write_text(root, f"retrain/{RESULT_FILE}", json.dumps(out, indent=2))
    logger.info(
        f"retrained {out['params']:,} params: val acc {out['val_acc']:.4f}, test acc "
        f"{out['test_acc']:.4f}; wrote {path}"
    )
    return out


@dataclass
class PipelineSettings(RunSettings):
    """DARTS -> SA channel search -> retrain; defaults sized for digits on 2 CPUs (a few minutes)."""

    max_params: Any = None
    name: str = "pipeline"
    darts_epochs: int = 6
    darts_layers: int = 3
    darts_init_channels: int = 4
    order: int = 1
    num_cells: int = 5
    reduction_cells: tuple[int, ...] = (1, 3)
    stem_channels: int = 12
    num_samples: int = 8
    search_epochs: int = 3
    retrain_epochs: int = 10


#: where a pipeline records the settings it was started with
SETTINGS_FILE = storage.PIPELINE_RECORD
#: the settings each stage is made with: once a stage has started, they cannot change
STAGE_SETTINGS = {
    "darts": ("data", "data_dir", "seed", "darts_epochs", "darts_layers", "darts_init_channels", "order"),
    "sanas": (
        "data",
        "data_dir",
        "seed",
        "max_params",
        "num_cells",
        "reduction_cells",
        "stem_channels",
        "num_samples",
        "search_epochs",
    ),
    "retrain": ("data", "data_dir", "seed", "retrain_epochs"),
}


def check(p: PipelineSettings) -> None:
    """Raise ``ValueError`` naming the setting (see :func:`raynas.settings.named`) when it cannot run, before any
    stage starts."""
    from raynas import data
    from raynas.settings import check_name, check_storage_path, coerce_fields, parse_count

    if p.max_params is None:
        raise ValueError(f"raynas pipeline needs {named('max_params')}, the parameter budget of the channel search")
    p.max_params = parse_count(p.max_params, "max_params")
    coerce_fields(p)
    for flag, low in (
        ("darts_epochs", 1),
        ("darts_layers", 3),
        ("darts_init_channels", 1),
        ("num_cells", 1),
        ("stem_channels", 1),
        ("num_samples", 1),
        ("search_epochs", 1),
        ("retrain_epochs", 1),
        ("seed", 0),
    ):
        value = getattr(p, flag)
        if value < low:
            raise ValueError(f"{named(flag)} must be a whole number of at least {low}, got {value!r}")
    if p.order not in (1, 2):
        raise ValueError(f"{named('order')} must be 1 (first order) or 2 (second order), got {p.order!r}")
    check_name(p.name)
    check_storage_path(p.storage_path)
    data.check(p.data, p.data_dir)
    smallest = smallest_network(p)
    if p.max_params < smallest:
        raise ValueError(
            f"{named('max_params')} {p.max_params:,} is below {smallest:,}, the fewest parameters a network of "
            f"the channel search has with any cell DARTS can find ({named('num_cells')} {p.num_cells}, "
            f"{named('stem_channels')} {p.stem_channels}); raise {named('max_params')} or lower those"
        )


def smallest_network(p: PipelineSettings) -> int:
    """Parameters of the smallest network of the channel search whatever cell DARTS finds: every edge a
    parameter-free pooling, every cell at its narrowest width."""
    from raynas.spaces.build import space_for
    from raynas.spaces.darts import Genotype, genotype_to_dict

    edges = [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4  # the DARTS stage's 4 nodes
    pools = Genotype(normal=edges, normal_concat=[2, 3, 4, 5], reduce=edges, reduce_concat=[2, 3, 4, 5])
    space = space_for(
        "darts_channel",
        {
            "genotype": genotype_to_dict(pools),
            "num_cells": p.num_cells,
            "reduction_cells": list(p.reduction_cells),
            "stem_channels": p.stem_channels,
            "auxiliary": False,
        },
        p.data,
    )
    return space.params_range()[0]


def claim(p: PipelineSettings, root: str) -> None:
    """Record the settings of the pipeline at ``root``; a stage that has started keeps the settings it was
    started with, a stage still to come takes the new ones."""
    record = json.loads(json.dumps(dataclasses.asdict(p)))  # as it reads back: tuples are lists
    differ = storage.claim(root, SETTINGS_FILE, record, ignore=("storage_path",))
    started = [stage for stage in STAGES if storage.list_names(root, stage)]
    made = {stage: [k for k in differ if k in STAGE_SETTINGS[stage]] for stage in started}
    stages = [stage for stage in started if made[stage]]
    if stages:
        flags = sorted({named(k) for stage in stages for k in made[stage]})
        raise ValueError(
            f"{root} holds a pipeline whose stage{'s' * (len(stages) > 1)} {', '.join(stages)} "
            f"started with other {', '.join(flags)}; re-run it with the same settings, or pick another "
            f"{named('name')}"
        )
    if differ:
        storage.write_text(root, SETTINGS_FILE, json.dumps(record, indent=2))


def run_pipeline(p: PipelineSettings) -> dict[str, Any]:
    """Run the stages not finished yet; return the retrained result."""
    from raynas.runs import darts as darts_search
    from raynas.runs import search
    from raynas.settings import SearchSettings
    from raynas.tune.finish import BEST_FILE

    check(p)
    storage.check_kind(p.storage_path, p.name, SETTINGS_FILE)
    root = storage.folder(p.storage_path, p.name)
    storage.check_writable(root)
    claim(p, root)
    if storage.read_text(root, f"darts/{darts_search.GENOTYPE_FILE}") is None:
        logger.info("pipeline stage 1/3: DARTS search")
        darts_search.run(
            darts_search.DartsSettings(
                data=p.data,
                data_dir=p.data_dir,
                epochs=p.darts_epochs,
                layers=p.darts_layers,
                init_channels=p.darts_init_channels,
                order=p.order,
                seed=p.seed,
                storage_path=root,
                name="darts",
            )
        )
    genotype_text = storage.read_text(root, f"darts/{darts_search.GENOTYPE_FILE}")
    if genotype_text is None:
        raise RuntimeError(f"the DARTS stage wrote no genotype; see {root}/darts/results.csv")
    best_text = storage.read_text(root, f"sanas/{BEST_FILE}")
    if best_text is None:
        logger.info("pipeline stage 2/3: SA channel search")
        settings = SearchSettings.from_dict(
            {
                "searcher": "sanas",
                "space": "darts_channel",
                "data": p.data,
                "data_dir": p.data_dir,
                "space_kwargs": {
                    "genotype": json.loads(genotype_text),
                    "num_cells": p.num_cells,
                    "reduction_cells": list(p.reduction_cells),
                    "stem_channels": p.stem_channels,
                    "auxiliary": False,
                },
                "max_params": p.max_params,
                "num_samples": p.num_samples,
                "epochs": p.search_epochs,
                "seed": p.seed,
                "storage_path": root,
                "name": "sanas",
            }
        )
        if storage.read_text(root, "sanas/raynas_search.json") is None:
            outcome = search.run(settings)
        else:
            outcome = search.resume(root, "sanas")
        if outcome.best is None:
            raise RuntimeError(f"the SA channel search finished no trial; see {outcome.results_path}")
        best_text = storage.read_text(root, f"sanas/{BEST_FILE}")
    result_text = storage.read_text(root, f"retrain/{RESULT_FILE}")
    if result_text is not None:
        logger.info(f"pipeline finished earlier: {root}/retrain/{RESULT_FILE}")
        return json.loads(result_text)
    logger.info("pipeline stage 3/3: retrain the best architecture")
    assert best_text is not None  # the SA stage wrote it
    return retrain(
        json.loads(best_text),
        {"data": p.data, "data_dir": p.data_dir, "epochs": p.retrain_epochs, "seed": p.seed},
        root,
    )


def run(p: PipelineSettings) -> Outcome:
    """Run the stages of pipeline ``p`` not finished yet: its results are the SA stage's trials, its best the
    retrained network (``retrain/result.json``)."""
    best = run_pipeline(p)
    root = storage.folder(p.storage_path, p.name)
    model = f"retrain/{MODEL_FILE}"
    return Outcome(
        results.parse(results.read(root, "sanas") or ""),
        best,
        f"{root}/sanas/{results.RESULTS_FILE}",
        f"{root}/retrain/{RESULT_FILE}",
        model_path=f"{root}/{model}" if storage.exists(root, model) else None,
    )


def resume(storage_path: str, name: str, address: str | None = None, **resources: float | None) -> Outcome:
    """Continue pipeline ``name`` with the settings it was started with (a finished one returns its result)."""
    same_resources("pipeline", name, **resources)
    if address is not None:
        raise ValueError("a pipeline runs on the Ray of this machine; drop the address")
    text = storage.read_text(storage_path, f"{name}/{SETTINGS_FILE}")
    if text is None:
        raise FileNotFoundError(f"no pipeline named {name!r} under {storage.normalize(storage_path)}")
    record = json.loads(text)
    record["reduction_cells"] = tuple(record.get("reduction_cells", ()))
    fields = {f.name for f in dataclasses.fields(PipelineSettings)} - {"storage_path", "name"}
    settings = PipelineSettings(**{k: v for k, v in record.items() if k in fields})
    return run(dataclasses.replace(settings, storage_path=storage_path, name=name))
