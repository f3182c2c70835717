"""The ``raynas`` command line.

Examples:
    raynas search sanas --data digits --max-params 20k --num-samples 6 --epochs 3
    raynas tables download channel-bench-macro-resnet
    raynas search random --table channel-bench-macro-resnet --max-params 4.2M
    raynas search sanas --config search.yaml --seed 3     # flags override the file
    raynas resume --storage-path ./runs --name search
    raynas analyze --storage-path ./runs --name search --max-params 15k
    raynas search oneshot --space mobile --data digits --num-subnets 100 --retrain-top 3
    raynas retrain --arch runs/search/best_arch.json --epochs 10
    raynas search darts --data digits --epochs 2 --layers 3 --init-channels 4 --seeds 2
    raynas search sanas --space darts_channel --genotype runs/darts/genotype.json
    raynas retrain --arch runs/darts/genotype.json --layers 8
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
from raynas.settings import (
    DARTS,
    ENAS,
    INTERNAL_SETTINGS,
    ONE_SHOT,
    WEIGHT_SHARING,
    Option,
    SearchSettings,
    check_applies,
    naming,
    oneshot_declared,
    underscored,
)
from raynas.spaces import sampling, tables
from raynas.spaces.base import SearchSpace
from raynas.spaces.tabular import TabularSpace
from raynas.tune.schedulers import OPTIONS as SCHEDULER_OPTIONS

#: what ``--table`` takes
TABLE_HELP = (
    "a published benchmark table's name (`raynas tables` lists them), or the path of a table file: JSON, or "
    "NAS-Bench-201 CSV"
)


def _config_file(path: str) -> dict[str, Any]:
    """The settings of a YAML or TOML file, keys spelled with ``_``; a key given both ways is an error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    import yaml

    with open(path, "rb") as f:
        try:
            values = tomllib.load(f) if path.endswith(".toml") else yaml.safe_load(f) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"config file {path} cannot be read: {' '.join(str(exc).split())}") from None
    return underscored(values, f"config file {path}")


def _search_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="run an architecture search",
        description="Search architectures with Ray Tune under a parameter budget. Settings come "
        "from the defaults, then --config, then the flags given.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "searcher",
        choices=sorted([*SEARCHERS, DARTS, *WEIGHT_SHARING]),
        help="sanas: simulated annealing; evolution: regularized evolution; tpe: Optuna TPE; "
        "reinforce: a learned policy (REINFORCE); random: baseline; oneshot: supernet, subnet search on its "
        "shared weights, retrain of the best; enas: a controller learns which paths of the shared weights to "
        "train, retrain of the best; darts: differentiable search (own flags)",
    )
    p.add_argument(
        "--config",
        help="YAML or TOML file whose keys mirror these flags (e.g. max-params: 20k); a searcher's options may "
        "also go under searcher-options",
    )
    g = p.add_argument_group("what to search")
    g.add_argument("--space", help=f"search space: {', '.join(spaces.names())} (default small_channel)")
    g.add_argument(
        "--table", metavar="NAME|PATH", help=f"{TABLE_HELP}; replayed, nothing is trained (implies --space tabular)"
    )
    g.add_argument(
        "--table-metric",
        help="accuracy column of --table: cifar10 (default), cifar100 or "
        "ImageNet16-120 for NAS-Bench-201; a record field for a JSON table",
    )
    g.add_argument(
        "--space-kwargs", type=_json_object, help="JSON object of extra space arguments, e.g. '{\"auxiliary\": false}'"
    )
    g.add_argument("--max-params", help="parameter budget, e.g. 20000, 20k, 3.77M (default: none)")
    g.add_argument("--min-params", help="smallest parameter count allowed (default: none)")
    g.add_argument("--num-samples", type=int, help="distinct architectures to evaluate (default 20)")
    g.add_argument("--seed", type=int, help="seed of the searcher and the data split (default 0)")
    _option_flags(p)
    g = p.add_argument_group("one-shot (raynas search oneshot)")
    for option in oneshot_declared():  # the subnets' searcher is --searcher
        _option_flag(
            g, option, **({"flag": "--searcher", "metavar": "SEARCHER"} if option.name == "subnet_searcher" else {})
        )
    g = p.add_argument_group("ENAS (raynas search enas; also the one-shot flags but --searcher)")
    shared = {option.name for option in oneshot_declared()} | {"seeds"}  # --seeds: DARTS's flag, read by both
    for option in oneshot_declared(ENAS):
        if option.name not in shared:
            _option_flag(g, option)
    g = p.add_argument_group("data and training")
    g.add_argument("--data", help=f"dataset: {', '.join(data.DATASETS)} (default digits, bundled)")
    g.add_argument("--data-dir", help="folder holding the torchvision files of --data (never downloaded)")
    g.add_argument(
        "--epochs", type=int, help="training epochs per architecture (default 3; darts: search epochs, default 50)"
    )
    g.add_argument("--batch-size", type=int, help="default 96 (darts: 64)")
    g.add_argument("--lr", type=float, help="SGD learning rate, cosine schedule (default 0.025)")
    g.add_argument(
        "--reward-epochs",
        type=int,
        help="reward = mean val accuracy of the last N epochs (default 2; with fewer --epochs, of all)",
    )
    g.add_argument("--val-fraction", type=float, help="share of training data held out for validation (0.2)")
    g.add_argument("--scheduler", help="stop weak trials early: asha (Tune's ASHAScheduler on the epoch); default none")
    for option in (option for options in SCHEDULER_OPTIONS.values() for option in options):
        _option_flag(g, option)
    g = p.add_argument_group("resources and storage")
    g.add_argument("--concurrency", type=int, help="trials run at the same time (default 2)")
    g.add_argument("--cpus-per-trial", type=float, help="default 1")
    g.add_argument("--gpus-per-trial", type=float, help="fractions allowed, e.g. 0.5 (default 0)")
    g.add_argument("--address", help="address of a running Ray cluster (default: start Ray locally)")
    g.add_argument("--storage-path", help="local folder or URI for all outputs (default ./runs)")
    g.add_argument("--name", help="search name; outputs go to <storage-path>/<name> (default search; darts: darts)")
    g.add_argument("--max-failures", type=int, help="retries of a trial whose worker died (default 0)")
    g = p.add_argument_group("DARTS channel space (search sanas|random --space darts_channel)")
    g.add_argument("--genotype", help="genotype.json written by `raynas search darts`: the cell of every layer")
    _darts_flags(
        p.add_argument_group(
            "DARTS (search darts; also --space darts|mobile|module:factory, --space-kwargs, "
            "--data, --epochs, --batch-size, --seed, --storage-path, --name, --address)"
        )
    )


def _option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per option each searcher declares (``OPTIONS``), in a group of its own: ``--decay`` for
    ``decay``, ``--multivariate``/``--no-multivariate`` for a true-or-false one. The values are converted as the
    settings convert them; one given to a searcher that does not declare it is refused (:func:`check_applies`)."""
    added: set[str] = set()
    for name, cls in SEARCHERS.items():
        fresh = [option for option in cls.OPTIONS if option.name not in added]  # an option of two: one flag
        if not fresh:
            continue
        title = "SA" if name == "sanas" else name
        g = p.add_argument_group(f"{title} (raynas search {name}, or oneshot --searcher {name})")
        for option in fresh:
            added.add(option.name)
            _option_flag(g, option)


def _option_flag(g: argparse._ArgumentGroup, option: Option, flag: str = "", metavar: str = "") -> None:
    """The flag of ``option`` (``--name``, unless ``flag``) in ``g``, its value given to the settings as text."""
    text = f"{option.help} (default {option.shown_default()})".replace("%", "%%")
    if option.type is bool:
        g.add_argument(flag or option.flag, dest=option.name, action=argparse.BooleanOptionalAction, help=text)
    else:
        words = [*option.words, *(["none"] if option.nullable and "none" not in option.words else [])]
        metavar = metavar or "|".join([option.type.__name__.upper(), *words])
        g.add_argument(flag or option.flag, dest=option.name, metavar=metavar, help=text)


def _darts_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--order", type=int, help="1: first order, 2: second order (unrolled) (default 1)")
    g.add_argument("--layers", type=int, help="search cells of the supernet (default 8)")
    g.add_argument("--init-channels", type=int, help="node width C of the first cells (default 16)")
    g.add_argument("--arch-lr", type=float, help="Adam learning rate of the architecture (default 3e-4)")
    g.add_argument("--epochs-no-archopt", type=int, help="warm-up epochs without architecture steps (default 0)")
    g.add_argument("--seeds", type=int, help="independent searches run as parallel trials (darts, enas; default 1)")
    g.add_argument("--workers-per-trial", type=int, help="data-parallel Ray Train workers per search (default 1)")
    g.add_argument("--cpus-per-worker", type=float, help="CPUs of each of those workers, fractions allowed (default 1)")
    g.add_argument(
        "--gpus-per-worker",
        type=float,
        help="GPUs of each of those workers, fractions allowed; nccl when above 0 (default 0)",
    )


def _run_flags(p: argparse.ArgumentParser, name: str) -> None:
    """Data, seed and output flags of the retrain and pipeline commands."""
    p.add_argument("--data", default="digits", help="dataset (default digits)")
    p.add_argument("--data-dir", help="folder holding the torchvision files of --data")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--storage-path", default="./runs", help="default ./runs")
    p.add_argument("--name", default=name, help=f"outputs go to <storage-path>/<name> (default {name})")


def _pipeline_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pipeline",
        help="DARTS -> SA channel search under a budget -> retrain",
        description="Each stage writes under <storage-path>/<name>/<stage>/ and is skipped when "
        "it has finished, so re-running an interrupted pipeline continues it.",
    )
    p.add_argument("--max-params", required=True, help="parameter budget of the channel search, e.g. 60k")
    p.add_argument("--order", type=int, default=1, help="DARTS order 1 or 2 (default 1)")
    p.add_argument("--darts-epochs", type=int, default=6, help="default 6")
    p.add_argument("--num-samples", type=int, default=8, help="architectures the SA search trains (default 8)")
    p.add_argument("--search-epochs", type=int, default=3, help="epochs per SA trial (default 3)")
    p.add_argument("--retrain-epochs", type=int, default=10, help="default 10")
    _run_flags(p, "pipeline")


def _resume_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "resume",
        help="continue an interrupted search and finish it",
        description="Restore a search with Tune (searcher state included) and finish it.",
    )
    p.add_argument("--storage-path", default="./runs", help="where the search was stored (default ./runs)")
    p.add_argument("--name", required=True, help="the search's --name")
    p.add_argument("--address", help="address of a running Ray cluster")
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        help="CPUs of each trial still to run (default: as the search started; sanas, evolution, tpe and "
        "random searches)",
    )
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        help="GPUs of each trial still to run, e.g. 0 to go on without GPUs (default: as it started)",
    )


def _analyze_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="summary, Pareto front, plots and best architecture of searches",
        description="Load searches (finished or still running) without Ray: print a summary, "
        "write PNG plots and the best architecture as best_arch.json.",
    )
    p.add_argument("--storage-path", default="./runs", help="where the searches are stored (default ./runs)")
    p.add_argument(
        "--name",
        required=True,
        action="append",
        help="a search's --name; repeat it to compare searches on one best-so-far plot",
    )
    p.add_argument("--max-params", help="export the best architecture within this tighter budget, e.g. 15k")
    p.add_argument(
        "--out",
        help="folder for the plots and best_arch.json (default <storage-path>/<name>/analysis; of several "
        "searches, <storage-path>/analysis)",
    )


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a run's trained network as TorchScript or ONNX",
        description="Write the trained network of a search, retrain, one-shot search or pipeline (its model.pt) "
        "as a TorchScript or ONNX file for deployment. ONNX needs: pip install 'raynas[onnx]'.",
    )
    p.add_argument("--storage-path", default="./runs", help="where the run is stored (default ./runs)")
    p.add_argument("--name", required=True, help="the run's --name")
    p.add_argument("--format", default="torchscript", choices=["torchscript", "onnx"], help="default torchscript")
    p.add_argument("--out", help="the file to write (default: beside model.pt, model.torchscript.pt or model.onnx)")


def _export(args: argparse.Namespace) -> None:
    from raynas import storage
    from raynas.trainables.model_file import export_model

    out = export_model(storage.folder(args.storage_path, args.name), args.out, args.format)
    print(f"[raynas] wrote {out}")


def _retrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrain",
        help="train the architecture of a JSON file from scratch",
        description="Train the architecture of a best_arch.json, a DARTS genotype.json (as the "
        "darts_channel network), or a flat NNI label -> choice JSON with --space, from "
        "scratch; report validation and test accuracy.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--arch", required=True, help="best_arch.json, genotype.json, or an NNI architecture JSON")
    p.add_argument(
        "--layers",
        type=int,
        help="cells of the network built from a genotype.json (default 20, reductions at 1/3 and 2/3)",
    )
    p.add_argument("--space", help="the space, when the file does not name it (mobile, package.module:factory)")
    p.add_argument("--space-kwargs", type=_json_object, help="JSON object of space arguments")
    p.add_argument("--data", help="dataset (default: the file's, else digits)")
    p.add_argument("--data-dir", help="folder holding the torchvision files of --data")
    p.add_argument("--epochs", type=int, help="training epochs (default 3)")
    p.add_argument("--seed", type=int, help="seed of the initialisation and the data split (default 0)")
    p.add_argument("--batch-size", type=int, help="default 96")
    p.add_argument("--lr", type=float, help="SGD learning rate, cosine schedule (default 0.025)")
    p.add_argument("--cpus-per-trial", type=float, help="default 1")
    p.add_argument("--gpus-per-trial", type=float, help="default 0")
    p.add_argument("--address", help="address of a running Ray cluster (default: start Ray locally)")
    p.add_argument("--storage-path", help="local folder or URI for all outputs (default ./runs)")
    p.add_argument("--name", default="retrain", help="outputs go to <storage-path>/<name> (default retrain)")


def _retrain(args: argparse.Namespace):
    from raynas.runs import retrain as fixed

    values = dict(vars(args))
    values.pop("command")
    layers = values.pop("layers", None)
    settings, space, tokens = fixed.settings_for_file(values.pop("arch"), values, layers)
    return fixed.retrain(settings, space, [tokens])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="raynas",
        description="Neural architecture search on Ray Tune.",
        epilog="Outputs: <storage-path>/<name>/results.csv and best_arch.json.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    _search_parser(sub)
    _resume_parser(sub)
    _analyze_parser(sub)
    _retrain_parser(sub)
    _export_parser(sub)
    _pipeline_parser(sub)
    _tables_parser(sub)
    p_spaces = sub.add_parser(
        "spaces",
        help="list the search spaces with their sizes and parameter ranges",
        description="List the built-in spaces, or describe one (--space, e.g. your own "
        "package.module:factory, or --table) to pick a budget for it.",
    )
    _space_flags(p_spaces, None)
    p_params = sub.add_parser(
        "params",
        help="exact parameter count of one architecture",
        description="Print the exact parameter count and the choices of an architecture (for a table, also its key).",
    )
    _space_flags(p_params, "small_channel")
    which = p_params.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--tokens",
        type=_tokens,
        help="comma-separated choice indices, one per position, 0 for its first choice, e.g. 3,3,4,4; "
        "for a JSON table, index j is a position's j-th smallest key digit, so key 1111111 is "
        "0,0,0,0,0,0,0",
    )
    which.add_argument(
        "--key",
        help="an architecture of --table by its key instead, e.g. 1111111 (NAS-Bench-201: its ArchitectureString)",
    )
    return p


def _tables_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tables",
        help="list the published benchmark tables --table takes by name, or download them",
        description="List the published benchmark tables --table takes by name: what each holds, its size, and "
        "whether it is downloaded. raynas ships none (their repositories state no licence): `raynas tables "
        "download` fetches them from the authors' repositories at pinned commits and checks their sha256. They "
        "are kept in $RAYNAS_TABLES, else $XDG_CACHE_HOME/raynas/tables, else ~/.cache/raynas/tables.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    d = actions.add_parser(
        "download",
        help="download tables by name, checking their sha256",
        description="Fetch each table named from its authors' repository at the pinned commit, check its sha256 "
        "and write it to the tables folder. Without internet, download the file elsewhere and pass it with --from.",
    )
    d.add_argument("names", nargs="*", metavar="NAME", help=f"a table: {', '.join(tables.TABLES)}")
    d.add_argument("--all", action="store_true", help="download every table")
    d.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="copy this local file, a copy of the table's URL fetched elsewhere, instead of downloading (one NAME)",
    )


def _tables(args: argparse.Namespace) -> None:
    """``raynas tables``: one entry per table; ``raynas tables download``: download the tables named."""
    if args.action == "download":
        _download(args.names, args.all, args.source)
        return
    for table in tables.TABLES.values():
        path = tables.downloaded(table.name)
        print(f"{table.name:30s} {table.megabytes():>7s}  {f'downloaded {path}' if path else 'not downloaded'}")
        print(f"    {table.description}; from {table.source}")
    print(f"download one with `raynas tables download NAME` (every one: --all) into {tables.folder()}")


def _download(names: list[str], every: bool, source: str | None) -> None:
    """Download the tables ``names`` (or ``every`` table), from the local file ``source`` when given."""
    if every and names:
        raise ValueError("--all downloads every table; give no NAME with it")
    if not (every or names):
        raise ValueError("name a table to download (`raynas tables` lists them), or pass --all")
    chosen = [tables.get(name) for name in names] if names else list(tables.TABLES.values())
    if source is not None and len(chosen) != 1:
        raise ValueError("--from copies one file: give one NAME with it")
    for table in chosen:
        print(f"[raynas] wrote {tables.download(table.name, source)}")


def _space_flags(p: argparse.ArgumentParser, default: str | None) -> None:
    """The flags that name one space: ``--space``, ``--table``, ``--table-metric``, ``--data``, ``--space-kwargs``."""
    p.add_argument(
        "--space", help=f"search space{f' (default {default}' if default else ' (default: all'}; tabular with --table)"
    )
    p.add_argument("--table", metavar="NAME|PATH", help=f"{TABLE_HELP} (implies --space tabular)")
    p.add_argument(
        "--table-metric",
        help="accuracy column of --table: cifar10 (default), cifar100 or "
        "ImageNet16-120 for NAS-Bench-201; a record field for a JSON table",
    )
    p.add_argument("--data", default="digits", help="dataset, for the input channels (default digits)")
    p.add_argument(
        "--space-kwargs",
        type=_json_object,
        default={},
        help="JSON object of extra space arguments, e.g. '{\"widths\": [8, 16, 24]}' for --space mobile",
    )


def _tokens(text: str) -> list[int]:
    try:
        return [int(t) for t in text.strip().strip("[]").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"tokens must be comma-separated integers (3,3,4,4), got {text!r}") from None


def _json_object(text: str) -> Any:
    """``--space-kwargs``: JSON text (checked to be an object with the other settings)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}), got {text!r}; e.g. '{{\"widths\": [8, 16]}}'") from None


def _params(args: argparse.Namespace) -> None:
    space = _space_of(args)
    table = space if isinstance(space, TabularSpace) else None
    tokens = space.validate(args.tokens) if table is None or args.key is None else table.tokens_of(args.key)
    key = f"key {table.key(tokens)}  " if table is not None else ""
    arch = json.dumps(space.to_arch(tokens), ensure_ascii=False)  # labels as written, not escaped
    print(f"{sampling.count(space, tokens):,} params  {key}{arch}")


def _space_of(args: argparse.Namespace) -> SearchSpace:
    """The space the flags of :func:`_space_flags` name (and ``--key``, for ``raynas params``)."""
    from raynas.spaces.build import space_for

    if not isinstance(args.space_kwargs, dict):
        raise ValueError(f"--space-kwargs must be a JSON object of argument -> value, got {args.space_kwargs!r}")
    if args.data not in data.SHAPES:  # its input channels are part of the count
        raise data.DataError(f"unknown dataset {args.data!r}; choose one of: {', '.join(data.DATASETS)}")
    name = _table_space(args.space, args.table)
    _needs_table(name, "--table-metric", args.table_metric)
    _needs_table(name, "--key", getattr(args, "key", None))
    kwargs = {**args.space_kwargs, **({"path": args.table} if args.table else {})}
    if args.table_metric is not None:
        kwargs["metric"] = args.table_metric
    return space_for(name, kwargs, args.data)


def _needs_table(space: str | None, flag: str, value: Any) -> None:
    """A table flag ``flag`` given as ``value`` needs a table to replay: ``space`` is then ``tabular``."""
    if value is not None and space != "tabular":
        raise ValueError(f"{flag} needs --table (a benchmark table)")


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """Defaults, overridden by ``--config``, overridden by the flags given."""
    given = dict(vars(args))
    given.pop("command")
    path = given.pop("config", None)
    values = _config_file(path) if path else {}
    internal = next((key for key in INTERNAL_SETTINGS if key in values), None)
    if internal:
        raise ValueError(f"config file {path}: {internal!r} is set by raynas itself, not by a config file; remove it")
    if given.get("searcher") == ONE_SHOT and values.get("searcher") not in (None, ONE_SHOT):
        # in a one-shot search the --searcher flag picks the subnet searcher: so does the file's key
        values.setdefault("subnet_searcher", values.pop("searcher"))
    elif values.get("searcher", given["searcher"]) != given["searcher"]:
        raise ValueError(
            f"config file {path} names searcher {values['searcher']!r} and the command is `raynas search "
            f"{given['searcher']}`; remove the key or run `raynas search {values['searcher']}`"
        )
    for key in ("searcher_options", "oneshot_options", "scheduler_options"):
        options = values.get(key)
        if isinstance(options, dict):  # an option the file gives there and a flag gives too: the flag's
            options = underscored(options, f"config file {path}: {key.replace('_', '-')}")
            values[key] = {name: value for name, value in options.items() if name not in given}
    values.update(given)
    check_applies(values)  # a key of the config file is checked as its flag would be
    if values.get("searcher") in WEIGHT_SHARING:
        values.setdefault("space", "mobile")
    extra: dict[str, Any] = {}  # space arguments given as flags of their own
    if "genotype" in values:
        if values.get("space") != "darts_channel":
            raise ValueError(
                "--genotype applies to --space darts_channel only (the channel search of a DARTS cell); "
                "add --space darts_channel"
            )
        extra["genotype"] = _read_genotype(values.pop("genotype"))
    table, metric = values.pop("table", None), values.pop("table_metric", None)
    if table is not None:  # a --table flag overrides the config file's space; one from the file goes with its space
        values["space"] = _table_space(given.get("space") if "table" in given else values.get("space"), table)
        extra["path"] = table
    if metric is not None:
        _needs_table(values.get("space"), "--table-metric", metric)
        extra["metric"] = metric
    if extra:
        kwargs = values.get("space_kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValueError(f"--space-kwargs must be a JSON object of argument -> value, got {kwargs!r}")
        twice = next((key for key in extra if key in kwargs), None)
        if twice:
            raise ValueError(f"--space-kwargs gives {twice!r} and so does its own flag; give it once")
        values["space_kwargs"] = {**kwargs, **extra}
    return SearchSettings.from_dict(values)


def _table_space(space: str | None, table: str | None) -> str:
    """The space to build: ``tabular`` for a ``--table``, which no other space takes."""
    if table is None:
        return space or "small_channel"
    if space not in (None, "tabular"):
        raise ValueError(
            f"--table replays a benchmark table and needs no --space (or --space tabular), got --space {space}"
        )
    return "tabular"


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
    from raynas.runs import darts as darts_search
    from raynas.tune.experiment import SearchInterrupted

    given = {k: v for k, v in vars(args).items() if k not in ("command", "searcher")}
    values = _config_file(given.pop("config")) if "config" in given else {}
    values.update(given)
    settings = darts_search.DartsSettings.from_dict(values)
    try:
        outcome = darts_search.run(settings)
    except SearchInterrupted as exc:
        return _interrupted(exc, args, settings)
    return 0 if outcome.best is not None else 1


def _interrupted(exc: Exception, args: argparse.Namespace, settings: Any = None) -> int:
    """Say that a search was interrupted and how to continue it; the exit status of a Ctrl-C."""
    where = args if args.command in ("resume", "pipeline") else settings
    if args.command in ("retrain", "pipeline"):
        how = "run the same command again to continue"
    elif where is not None:
        how = f"continue it with `raynas resume --storage-path {where.storage_path} --name {where.name}`"
    else:
        how = "continue it with `raynas resume` and the search's --storage-path and --name"
    text = str(exc)
    stage = getattr(exc, "name", None)
    if hasattr(exc, "describe") and where is not None and stage != where.name:  # a stage of a one-shot search
        kind = "pipeline" if args.command == "pipeline" else "search"
        text = exc.describe(f"{kind} {where.name!r} (its {stage} stage)")
    print(f"raynas: {text}; {how}", file=sys.stderr)
    return 130


def _pipeline(args: argparse.Namespace) -> int:
    from raynas.runs import pipeline

    values = {k: v for k, v in vars(args).items() if k != "command"}
    pipeline.run(pipeline.PipelineSettings(**values))
    return 0


def _list_spaces(args: argparse.Namespace) -> None:
    """One line per built-in space, or for the one space the flags name."""
    from raynas.tune.build import plural

    found: list[SearchSpace | str]
    if args.space is not None or args.table is not None:
        found = [_space_of(args)]
    else:  # counted for --data: its input channels and classes are part of the count
        from raynas.spaces.build import space_for

        _needs_table(None, "--table-metric", args.table_metric)
        if args.space_kwargs:
            raise ValueError("--space-kwargs needs --space (or --table): it gives the arguments of one space")
        if args.data not in data.SHAPES:
            raise data.DataError(f"unknown dataset {args.data!r}; choose one of: {', '.join(data.DATASETS)}")
        found = [space_for(name, {}, args.data) if name != "tabular" else name for name in spaces.names()]
    for space in found:
        if isinstance(space, str):  # the table space, which needs a table
            print(f"{space:15s} a benchmark table given with --table (`raynas tables` lists the published ones)")
            continue
        low, high = space.params_range()
        size = space.size()
        count = f"{size:,} architecture{'' if size == 1 else 's'}" if size < 10**9 else f"{size:.3g} architectures"
        print(f"{space.name:15s} {plural(len(space.range_table()), 'token')}, {count}, {low:,} to {high:,} params")


def main(argv: list[str] | None = None) -> int:
    with naming("flags"):  # the library's errors name the flags given, not the settings they set
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    from raynas.runs import registry  # imports Ray; kept out of --help
    from raynas.tune.experiment import SearchInterrupted

    settings = None  # a search's settings, once read

    try:
        if args.command == "spaces":
            _list_spaces(args)
            return 0
        if args.command == "tables":
            _tables(args)
            return 0
        if args.command == "params":
            _params(args)
            return 0
        if args.command == "analyze":
            from raynas.analysis import analyze, report
            from raynas.settings import parse_count

            budget = None if args.max_params is None else parse_count(args.max_params, "max_params")
            print(report(analyze(args.storage_path, args.name, budget, args.out)))
            return 0
        if args.command == "search" and args.searcher == DARTS:
            return _darts(args)
        if args.command == "pipeline":
            return _pipeline(args)
        if args.command == "export":
            _export(args)
            return 0
        if args.command == "resume":
            resources = {"cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial}
            outcome = registry.resume(args.storage_path, args.name, args.address, **resources)
        elif args.command == "retrain":
            outcome = _retrain(args)
        else:
            settings = settings_from_args(args)
            outcome = registry.run(settings)  # a token, one-shot or ENAS search, by its searcher
    except SearchInterrupted as exc:
        return _interrupted(exc, args, settings)
    except (ValueError, FileNotFoundError, ConnectionError, PermissionError, OSError) as exc:
        print(f"raynas: error: {exc}", file=sys.stderr)
        return 2
    return 0 if outcome.best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
