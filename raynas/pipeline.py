"""Retrain an architecture file, and the DARTS -> SA channel search -> retrain pipeline.

Each pipeline stage writes under ``<storage_path>/<name>/<stage>/`` and is skipped when its output exists, so
a re-run after an interruption continues with the first unfinished stage:

- ``darts/genotype.json``: the cell found by DARTS;
- ``sanas/best_arch.json``: the per-cell widths SA found for that cell under the parameter budget;
- ``retrain/result.json``: the best architecture trained longer, with its validation and test accuracy.

Example:
    >>> genotype_arch({"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]], "normal_concat": [2],
    ...                "reduce": [["max_pool_3x3", 0], ["skip_connect", 1]], "reduce_concat": [2]},
    ...               num_cells=5)["tokens"]
    [5, 7, 7, 10, 10]
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from raynas import storage

STAGES = ("darts", "sanas", "retrain")
RESULT_FILE = "result.json"


def genotype_arch(genotype: dict[str, Any], num_cells: int = 20, **space_kwargs: Any) -> dict[str, Any]:
    """A DARTS genotype as an architecture of the ``darts_channel`` space: DARTS's C=36 evaluation network
    of ``num_cells`` cells, reductions at 1/3 and 2/3 of the depth."""
    from raynas.spaces.channel import DartsChannelSpace

    space = DartsChannelSpace(genotype=genotype, num_cells=num_cells,
                              reduction_cells=(num_cells // 3, 2 * num_cells // 3), **space_kwargs)
    return {"space": space.name, "space_kwargs": space.kwargs(), "tokens": space.init_tokens()}


def retrain(arch: dict[str, Any], settings: dict[str, Any], storage_path: str, name: str) -> dict[str, Any]:
    """Train ``arch`` from scratch as one Tune trial; write and return ``<name>/result.json``."""
    import ray
    from ray import tune

    from raynas import spaces
    from raynas.trainables.retrain import retrain as retrain_trial, test_accuracy

    space = spaces.get(arch["space"], **arch["space_kwargs"])
    tokens = space.validate(arch["tokens"])
    s = {**settings, "space": arch["space"], "space_kwargs": space.kwargs()}
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    tuner = tune.Tuner(tune.with_resources(tune.with_parameters(retrain_trial, settings=s), {"cpu": 1}),
                       param_space={"tokens": tokens},
                       run_config=tune.RunConfig(name=name, storage_path=storage.normalize(storage_path), verbose=0,
                                                 checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    result = tuner.fit()[0]
    if result.error:
        raise RuntimeError(f"retraining failed: {str(result.error).strip().splitlines()[-1]}")
    out = {**arch, "tokens": tokens, "arch": space.to_arch(tokens), "params": space.num_params(tokens),
           "val_acc": result.metrics["val_acc"], "reward": result.metrics["reward"],
           "epochs": result.metrics["epoch"],
           "test_acc": ray.get(ray.remote(test_accuracy).remote(result.checkpoint, s))}
    path = storage.write_text(storage_path, f"{name}/{RESULT_FILE}", json.dumps(out, indent=2))
    print(f"[raynas] retrained {out['params']:,} params: val acc {out['val_acc']:.4f}, test acc "
          f"{out['test_acc']:.4f}; wrote {path}", flush=True)
    return out


@dataclass
class PipelineSettings:
    """DARTS -> SA channel search -> retrain; defaults sized for digits on 2 CPUs (a few minutes)."""
    data: str = "digits"
    data_dir: str | None = None
    max_params: Any = None
    storage_path: str = "./runs"
    name: str = "pipeline"
    seed: int = 0
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


def run_pipeline(p: PipelineSettings) -> dict[str, Any]:
    """Run the stages not finished yet; return the retrained result."""
    from raynas import darts_search, search
    from raynas.settings import SearchSettings

    if p.max_params is None:
        raise ValueError("raynas pipeline needs --max-params, the parameter budget of the channel search")
    root = f"{storage.normalize(p.storage_path).rstrip('/')}/{p.name}"
    storage.check_writable(root)
    if storage.read_text(root, f"darts/{darts_search.GENOTYPE_FILE}") is None:
        print("[raynas] pipeline stage 1/3: DARTS search", flush=True)
        darts_search.run(darts_search.DartsSettings(
            data=p.data, data_dir=p.data_dir, epochs=p.darts_epochs, layers=p.darts_layers,
            init_channels=p.darts_init_channels, order=p.order, seed=p.seed, storage_path=root, name="darts"))
    genotype_text = storage.read_text(root, f"darts/{darts_search.GENOTYPE_FILE}")
    if genotype_text is None:
        raise RuntimeError(f"the DARTS stage wrote no genotype; see {root}/darts/results.csv")
    best_text = storage.read_text(root, f"sanas/{search.BEST_FILE}")
    if best_text is None:
        print("[raynas] pipeline stage 2/3: SA channel search", flush=True)
        settings = SearchSettings.from_dict({
            "searcher": "sanas", "space": "darts_channel", "data": p.data, "data_dir": p.data_dir,
            "space_kwargs": {"genotype": json.loads(genotype_text), "num_cells": p.num_cells,
                             "reduction_cells": list(p.reduction_cells), "stem_channels": p.stem_channels,
                             "auxiliary": False},
            "max_params": p.max_params, "num_samples": p.num_samples, "epochs": p.search_epochs, "seed": p.seed,
            "storage_path": root, "name": "sanas"})
        if storage.read_text(root, "sanas/raynas_search.json") is None:
            outcome = search.run(settings)
        else:
            outcome = search.resume(root, "sanas")
        if outcome.best is None:
            raise RuntimeError(f"the SA channel search finished no trial; see {outcome.results_path}")
        best_text = storage.read_text(root, f"sanas/{search.BEST_FILE}")
    result_text = storage.read_text(root, f"retrain/{RESULT_FILE}")
    if result_text is not None:
        print(f"[raynas] pipeline finished earlier: {root}/retrain/{RESULT_FILE}", flush=True)
        return json.loads(result_text)
    print("[raynas] pipeline stage 3/3: retrain the best architecture", flush=True)
    best = json.loads(best_text)
    arch = {"space": best["space"], "space_kwargs": best["space_kwargs"], "tokens": best["tokens"]}
    return retrain(arch, {"data": p.data, "data_dir": p.data_dir, "epochs": p.retrain_epochs, "seed": p.seed},
                   root, "retrain")
