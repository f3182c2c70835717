"""The ``raynas`` command line.

Examples:
    raynas search sanas --data digits --max-params 20k --num-samples 6 --epochs 3
    raynas search random --space tabular --table channel_bench_macro_resnet.json --max-params 4.2M
    raynas search sanas --config search.yaml --seed 3     # flags override the file
    raynas resume --storage-path ./runs --name search
    raynas search darts --data digits --epochs 2 --layers 3 --init-channels 4 --seeds 2
    raynas search sanas --space darts_channel --genotype runs/darts/genotype.json
    raynas retrain --arch runs/darts/genotype.json
    raynas pipeline --data digits --max-params 60k
    raynas spaces
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from typing import Any

from raynas import data, spaces
from raynas.searchers import SEARCHERS
from raynas.settings import SearchSettings


def _config_file(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path, "rb") as f:
        if path.endswith(".toml"):
            values = tomllib.load(f)
        else:
            import yaml

            values = yaml.safe_load(f) or {}
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a mapping of setting -> value")
    return values


def _search_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run an architecture search",
                       description="Search architectures with Ray Tune under a parameter budget. Settings come "
                                   "from the defaults, then --config, then the flags given.",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("searcher", choices=sorted([*SEARCHERS, "darts"]),
                   help="sanas: simulated annealing; random: baseline; darts: differentiable search (own flags)")
    p.add_argument("--config", help="YAML or TOML file whose keys mirror these flags (e.g. max-params: 20k)")
    g = p.add_argument_group("what to search")
    g.add_argument("--space", help=f"search space: {', '.join(spaces.names())} (default small_channel)")
    g.add_argument("--table", help="benchmark table JSON for --space tabular (replayed, nothing is trained)")
    g.add_argument("--space-kwargs", type=json.loads,
                   help='JSON object of extra space arguments, e.g. \'{"auxiliary": false}\'')
    g.add_argument("--max-params", help="parameter budget, e.g. 20000, 20k, 3.77M (default: none)")
    g.add_argument("--min-params", help="smallest parameter count allowed (default: none)")
    g.add_argument("--num-samples", type=int, help="distinct architectures to evaluate (default 20)")
    g.add_argument("--seed", type=int, help="seed of the searcher and the data split (default 0)")
    g.add_argument("--init-temperature", type=float, help="SA starting temperature T0 (default 0.005)")
    g.add_argument("--decay", type=float, help="SA temperature decay per evaluation (default 0.97)")
    g.add_argument("--reward-scale", type=float, help="SA multiplies rewards by this (default 1)")
    g = p.add_argument_group("data and training")
    g.add_argument("--data", help=f"dataset: {', '.join(data.DATASETS)} (default digits, bundled)")
    g.add_argument("--data-dir", help="folder holding the torchvision files of --data (never downloaded)")
    g.add_argument("--epochs", type=int, help="training epochs per architecture (default 3)")
    g.add_argument("--batch-size", type=int, help="default 96")
    g.add_argument("--lr", type=float, help="SGD learning rate, cosine schedule (default 0.025)")
    g.add_argument("--reward-epochs", type=int, help="reward = mean val accuracy of the last N epochs (default 2)")
    g.add_argument("--val-fraction", type=float, help="share of training data held out for validation (0.2)")
    g = p.add_argument_group("resources and storage")
    g.add_argument("--concurrency", type=int, help="trials run at the same time (default 2)")
    g.add_argument("--cpus-per-trial", type=float, help="default 1")
    g.add_argument("--gpus-per-trial", type=float, help="fractions allowed, e.g. 0.5 (default 0)")
    g.add_argument("--address", help="address of a running Ray cluster (default: start Ray locally)")
    g.add_argument("--storage-path", help="local folder or URI for all outputs (default ./runs)")
    g.add_argument("--name", help="search name; outputs go to <storage-path>/<name> (default search)")
    g.add_argument("--max-failures", type=int, help="retries of a trial whose worker died (default 0)")
    g = p.add_argument_group("DARTS channel space (search sanas|random --space darts_channel)")
    g.add_argument("--genotype", help="genotype.json written by `raynas search darts`: the cell of every layer")
    _darts_flags(p.add_argument_group("DARTS (search darts; also --space darts|module:factory, --data, --epochs, "
                                      "--batch-size, --seed, --storage-path, --name, --address)"))


def _darts_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--order", type=int, help="1: first order, 2: second order (unrolled) (default 1)")
    g.add_argument("--layers", type=int, help="search cells of the supernet (default 8)")
    g.add_argument("--init-channels", type=int, help="node width C of the first cells (default 16)")
    g.add_argument("--arch-lr", type=float, help="Adam learning rate of the architecture (default 3e-4)")
    g.add_argument("--epochs-no-archopt", type=int, help="warm-up epochs without architecture steps (default 0)")
    g.add_argument("--seeds", type=int, help="independent searches run as parallel trials (default 1)")
    g.add_argument("--workers-per-trial", type=int, help="data-parallel Ray Train workers per search (default 1)")


def _retrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="train one architecture file from scratch",
                       description="Train the architecture of a genotype.json (DARTS) or a best_arch.json "
                                   "(token search) and report its validation and test accuracy.")
    p.add_argument("--arch", required=True, help="genotype.json or best_arch.json")
    p.add_argument("--layers", type=int, default=20, help="cells of the network built from a genotype (default 20)")
    p.add_argument("--epochs", type=int, default=10, help="default 10")
    p.add_argument("--batch-size", type=int, default=96, help="default 96")
    _run_flags(p, "retrain")


def _run_flags(p: argparse.ArgumentParser, name: str) -> None:
    """Data, seed and output flags of the retrain and pipeline commands."""
    p.add_argument("--data", default="digits", help="dataset (default digits)")
    p.add_argument("--data-dir", help="folder holding the torchvision files of --data")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--storage-path", default="./runs", help="default ./runs")
    p.add_argument("--name", default=name, help=f"outputs go to <storage-path>/<name> (default {name})")


def _pipeline_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="DARTS -> SA channel search under a budget -> retrain",
                       description="Each stage writes under <storage-path>/<name>/<stage>/ and is skipped when "
                                   "it has finished, so re-running an interrupted pipeline continues it.")
    p.add_argument("--max-params", required=True, help="parameter budget of the channel search, e.g. 60k")
    p.add_argument("--order", type=int, default=1, help="DARTS order 1 or 2 (default 1)")
    p.add_argument("--darts-epochs", type=int, default=6, help="default 6")
    p.add_argument("--num-samples", type=int, default=8, help="architectures the SA search trains (default 8)")
    p.add_argument("--search-epochs", type=int, default=3, help="epochs per SA trial (default 3)")
    p.add_argument("--retrain-epochs", type=int, default=10, help="default 10")
    _run_flags(p, "pipeline")


def _resume_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue an interrupted search and finish it",
                       description="Restore a search with Tune (searcher state included) and finish it.")
    p.add_argument("--storage-path", default="./runs", help="where the search was stored (default ./runs)")
    p.add_argument("--name", required=True, help="the search's --name")
    p.add_argument("--address", help="address of a running Ray cluster")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raynas", description="Neural architecture search on Ray Tune.",
                                epilog="Outputs: <storage-path>/<name>/results.csv and best_arch.json.")
    sub = p.add_subparsers(dest="command", required=True)
    _search_parser(sub)
    _resume_parser(sub)
    _retrain_parser(sub)
    _pipeline_parser(sub)
    sub.add_parser("spaces", help="list the search spaces with their sizes and parameter ranges")
    p_params = sub.add_parser("params", help="exact parameter count of one architecture",
                              description="Print the exact parameter count and the choices of TOKENS.")
    p_params.add_argument("--space", default="small_channel", help="search space (default small_channel)")
    p_params.add_argument("--table", help="benchmark table JSON for --space tabular")
    p_params.add_argument("--data", default="digits", help="dataset, for the input channels (default digits)")
    p_params.add_argument("--tokens", required=True, type=_tokens, help="comma-separated tokens, e.g. 3,3,4,4")
    return p


def _tokens(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").strip("[]").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"tokens must be comma-separated integers, got {text!r}") from None


def _params(args: argparse.Namespace) -> None:
    from raynas.search import space_for

    space = space_for(args.space, {"path": args.table} if args.table else {}, args.data)
    tokens = space.validate(args.tokens)
    print(f"{space.num_params(tokens):,} params  {json.dumps(space.to_arch(tokens))}")


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """Defaults, overridden by ``--config``, overridden by the flags given."""
    given = dict(vars(args))
    given.pop("command")
    values = _config_file(given.pop("config")) if "config" in given else {}
    values.update(given)
    if "genotype" in values:
        values["space_kwargs"] = {**values.get("space_kwargs", {}), "genotype": _read_genotype(values.pop("genotype"))}
    table = values.pop("table", None)
    if table is not None:
        values.setdefault("space", "tabular")
        values["space_kwargs"] = {**values.get("space_kwargs", {}), "path": table}
    return SearchSettings.from_dict(values)


def _read_genotype(path: str) -> dict[str, Any]:
    from raynas.spaces.darts import genotype_from_dict, genotype_to_dict

    if not os.path.isfile(path):
        raise FileNotFoundError(f"genotype file {path} does not exist")
    with open(path) as f:
        try:
            return genotype_to_dict(genotype_from_dict(json.load(f)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"genotype file {path} is not valid JSON ({exc})") from None


def _darts(args: argparse.Namespace) -> int:
    from raynas import darts_search

    given = {k: v for k, v in vars(args).items() if k not in ("command", "searcher")}
    values = _config_file(given.pop("config")) if "config" in given else {}
    values.update(given)
    frame = darts_search.run(darts_search.DartsSettings.from_dict(values))
    return 0 if (frame.status == "TERMINATED").any() else 1


def _retrain(args: argparse.Namespace) -> int:
    from raynas import pipeline

    arch = pipeline.load_arch(args.arch, args.layers)
    pipeline.retrain(arch, {"data": args.data, "data_dir": args.data_dir, "epochs": args.epochs,
                            "batch_size": args.batch_size, "seed": args.seed}, args.storage_path, args.name)
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from raynas import pipeline

    values = {k: v for k, v in vars(args).items() if k != "command"}
    pipeline.run_pipeline(pipeline.PipelineSettings(**values))
    return 0


def _list_spaces() -> None:
    for name in spaces.names():
        if name == "tabular":
            print(f"{name:15s} a benchmark table given with --table")
            continue
        space = spaces.get(name)
        low, high = space.params_range()
        print(f"{name:15s} {len(space.range_table())} tokens, {space.size():.3g} architectures, "
              f"{low:,} to {high:,} params")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from raynas import search  # imports Ray; kept out of --help

    try:
        if args.command == "spaces":
            _list_spaces()
            return 0
        if args.command == "params":
            _params(args)
            return 0
        if args.command == "search" and args.searcher == "darts":
            return _darts(args)
        if args.command == "retrain":
            return _retrain(args)
        if args.command == "pipeline":
            return _pipeline(args)
        if args.command == "resume":
            outcome = search.resume(args.storage_path, args.name, args.address)
        else:
            outcome = search.run(settings_from_args(args))
    except (ValueError, FileNotFoundError, ConnectionError, PermissionError, OSError) as exc:
        print(f"raynas: error: {exc}", file=sys.stderr)
        return 2
    return 0 if outcome.best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
