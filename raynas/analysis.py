"""A search's results as a pandas DataFrame, its Pareto front, PNG plots and a best-architecture export.

Everything here reads the files a search wrote and needs no running Ray, so it works on a finished search, on
one whose driver is still running (its finished rows), and in a notebook::

    from raynas import analysis
    df = analysis.load("./runs", "digits-sanas")   # one row per trial, one column per label
    front = analysis.pareto(df)                     # fewest params for the reward, ties kept

Example:
    >>> table = pd.DataFrame({"params": [100, 200, 200, 300, 100], "reward": [0.5, 0.7, 0.7, 0.6, 0.4],
    ...                       "status": "TERMINATED"})
    >>> pareto(table).index.tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Sequence
from typing import Any

import pandas as pd

from raynas import drawing, results, storage
from raynas.log import logger
from raynas.runs import darts as darts_search
from raynas.runs import registry, retrain
from raynas.runs.search import load_settings
from raynas.settings import SearchSettings, named, parse_count
from raynas.spaces import record
from raynas.spaces.base import SearchSpace
from raynas.spaces.build import space_for
from raynas.spaces.choices import ModelSpace
from raynas.spaces.darts import genotype_from_dict
from raynas.spaces.relaxed import candidate_names
from raynas.spaces.tabular import TabularSpace
from raynas.tune.build import check_table_there
from raynas.tune.finish import BEST_FILE, best_arch

#: the columns analysis needs; any other column (another kind of search adds its own) is kept as it is
REQUIRED_COLUMNS = ("trial_index", "trial_id", "status", "tokens", "params", "reward")
NUMERIC_COLUMNS = (
    "trial_index",
    "params",
    "reward",
    "val_acc",
    "epochs",
    "wall_time_s",
    "retrained_reward",
    "seed",
    "train_acc",
    "skip_connects_normal",
)
#: share of the finished trials, by reward, whose chosen values are plotted
TOP_SHARE = 0.10
#: a label with more choices than this shows only its most chosen values among the top trials
MAX_BARS = 30
PARAMS_AXIS = "parameters (count)"
REWARD_AXIS = "reward (validation accuracy, fraction)"
#: a one-shot or ENAS search's axis: its subnets' score on the shared weights and, apart, the retrained accuracy
SHARED_AXIS = "one-shot score (shared weights) or retrained accuracy, fraction"
SHARED_SCORE = "one-shot score (shared weights)"
RETRAINED = "retrained (stand-alone validation accuracy)"


def reward_axis(space: SearchSpace | None, shared: bool = False) -> str:
    """What the reward of a search over ``space`` is: a table's accuracy, the validation accuracy, or for a
    search on shared weights (``shared``) the one-shot score beside the retrained accuracy.

    Example:
        >>> reward_axis(None)
        'reward (validation accuracy, fraction)'
    """
    if shared:
        return SHARED_AXIS
    if isinstance(space, TabularSpace):
        return f"reward ({space.metric or 'default'} accuracy of the table, fraction)"
    return REWARD_AXIS


def run_kind(settings: Any) -> registry.Kind:
    """The kind of run whose settings are ``settings`` (told apart by the registry)."""
    if isinstance(settings, darts_search.DartsSettings):
        return registry.DARTS
    return registry.kind_of({"searcher": getattr(settings, "searcher", None)})


def shares_weights(settings: Any) -> bool:
    """Whether a search's trials are scored on shared weights (a one-shot or ENAS search)."""
    return run_kind(settings).shared_weights


def load(storage_path: str, name: str) -> pd.DataFrame:
    """One row per trial of search ``name``, in the order the searcher proposed them.

    Columns: ``search``, the results.csv columns (``trial_index, trial_id, status, tokens, params, reward,
    val_acc, epochs, wall_time_s, node_ip, node_id, gpu_ids, device, error``, and any a search kind adds),
    with ``tokens`` as lists and one column per label of the space holding the chosen value: a list of them as a
    tuple, so that ``groupby`` takes it, and ``None`` as ``None`` (``groupby(label, dropna=False)`` keeps it); of
    a model space, the readable name of the choice (see :func:`chosen`). A
    one-shot search's trials are its subnets (``reward``: accuracy on the supernet's shared weights), and
    ``retrained_reward`` holds the reward of those retrained from scratch.
    """
    return _load(os.fspath(storage_path), name)[0]


def _load(storage_path: str, name: str) -> tuple[pd.DataFrame, Any, SearchSpace | None]:
    """The trials of run ``name``, its settings and its space (``None``: the DARTS cell space, no tokens).
    A pipeline's trials are those of its channel search; a retrain's, the architectures it trained."""
    kind = registry.kind_at(storage_path, name)
    if kind is registry.PIPELINE:
        frame, settings, space = _load(storage_path, f"{name}/sanas")
        frame["search"] = name
        return frame, settings, space
    if kind is registry.DARTS:
        settings, space, frame = _darts(storage_path, name)
    else:
        settings = (
            retrain.load_settings(storage_path, name) if kind is registry.RETRAIN else load_settings(storage_path, name)
        )
        check_table_there(settings, name)
        space = space_for(settings.space, settings.space_kwargs, settings.data)
        record.check_unchanged(storage_path, name, space, analyzing=True)
        frame = _rows(storage_path, name, settings)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"results file of search {name!r} ({storage.normalize(storage_path)}/{name}/"
            f"{results.RESULTS_FILE}) has no column {', '.join(missing)}; it needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    frame = frame.replace({"": None})
    for column in NUMERIC_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if "stopped" in frame.columns:
        frame["stopped"] = frame.stopped.map({"True": True, "False": False})
    frame["tokens"] = [json.loads(t) for t in frame.tokens]
    labels = space.labels() if space is not None else []
    arches = pd.DataFrame(
        [chosen(space, t) for t in frame.tokens] if space is not None and labels else [],
        columns=labels,
        index=frame.index,
        dtype=object,
    )  # object: a None choice stays None, not NaN
    at = frame.columns.get_loc("tokens") + 1
    frame = pd.concat([frame.iloc[:, :at], arches, frame.iloc[:, at:]], axis=1)
    frame.insert(0, "search", name)
    return frame.sort_values("trial_index", kind="stable", ignore_index=True), settings, space


def chosen(space: SearchSpace, tokens: list[int]) -> dict[str, Any]:
    """The value chosen at every label, a list as a tuple so that a column of them can be grouped by; of a model
    space, the choice's readable name (a candidate's name or class name, an InputChoice's inputs as ``in0+in2``).

    Example:
        >>> from raynas import spaces
        >>> chosen(spaces.get("small_channel"), [0, 1, 2, 3])
        {'conv1_width': 4, 'conv2_width': 8, 'conv3_width': 12, 'conv4_width': 16}
    """
    if not tokens:
        return {}
    if isinstance(space, ModelSpace):
        tokens = space.validate(tokens)
        return {label: names[t] for label, names, t in zip(space.labels(), space.option_names(), tokens)}
    return {label: tuple(v) if isinstance(v, list) else v for label, v in space.to_arch(tokens).items()}


def option_names(space: SearchSpace) -> list[list[str]]:
    """Per label, the name each option shows in plots: as :func:`chosen` writes it."""
    if isinstance(space, ModelSpace):
        return space.option_names()
    return [[str(tuple(o) if isinstance(o, list) else o) for o in options] for options in space.choices()]


def _rows(storage_path: str, name: str, settings: SearchSettings) -> pd.DataFrame:
    """The results file of search ``name`` as strings; for a one-shot search, its subnet trials with the
    reward of the retrained ones (matched by tokens) as ``retrained_reward``."""
    if not shares_weights(settings):
        return _read(storage_path, name)
    frame = _read(storage_path, f"{name}/subnets")
    retrained = _read(storage_path, f"{name}/retrain")
    if {"status", "tokens", "reward"} <= set(retrained.columns) and "tokens" in frame.columns:
        done = retrained[retrained.status == "TERMINATED"]
        frame["retrained_reward"] = frame.tokens.map(dict(zip(done.tokens, done.reward)))
    return frame


def _darts(storage_path: str, name: str) -> tuple[darts_search.DartsSettings, SearchSpace | None, pd.DataFrame]:
    """A DARTS search's seeds as trials: ``trial_index`` counts the seeds, ``reward`` is the validation
    accuracy of the derived architecture's supernet, and ``genotype`` (cell space) or the labels (a space of
    labelled choices) say what each seed found."""
    from raynas.trainables.darts import model_space

    saved = storage.read_json(storage_path, f"{name}/{darts_search.SETTINGS_FILE}")
    settings = darts_search.DartsSettings.from_dict({**saved, "storage_path": storage_path, "name": name})
    space = None if settings.space == "darts" else model_space(settings.recipe())
    frame = _read(storage_path, name)
    if {"seed", "val_acc", "arch"} <= set(frame.columns):
        frame.insert(0, "trial_index", [str(int(seed) - settings.seed) for seed in frame.seed])
        frame.insert(
            frame.columns.get_loc("status") + 1,
            "tokens",
            [json.dumps(space.from_arch(json.loads(a)) if a and space else []) for a in frame.arch],
        )
        frame.insert(frame.columns.get_loc("tokens") + 1, "reward", frame.val_acc)
    return settings, space, frame


def _read(storage_path: str, name: str) -> pd.DataFrame:
    text = results.read(storage_path, name) or ""
    try:
        return results.parse(text) if text.strip() else pd.DataFrame(columns=results.SEARCH_COLUMNS)
    except pd.errors.ParserError as exc:
        raise ValueError(
            f"{storage.normalize(storage_path)}/{name}/{results.RESULTS_FILE} cannot be read as CSV "
            f"({' '.join(str(exc).split())})"
        ) from None


def asked(settings: Any) -> int:
    """The trials the search was asked for: ``--num-samples``, a one-shot search's ``--num-subnets``, an ENAS
    search's ``--num-subnets`` per seed, DARTS's ``--seeds``; fewer rows than this mean a search still running,
    interrupted, or out of architectures (or ENAS seeds that derived the same ones)."""
    if isinstance(settings, darts_search.DartsSettings):
        return settings.seeds
    if shares_weights(settings):
        options = settings.oneshot()
        return options["num_subnets"] * options.get("seeds", 1)
    return settings.num_samples


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished with a reward; not those a scheduler stopped early (a reward of fewer epochs).
    A frame without ``status`` (or ``stopped``) counts every trial with a reward as finished."""
    _require(frame, ["reward"])
    done = frame[frame.reward.notna()]
    if "status" in done.columns:
        done = done[done.status == "TERMINATED"]
    return done[~done.stopped.eq(True)] if "stopped" in done.columns else done


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    """A frame of trials without one of ``columns`` is one error that names it."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the trials have no column {', '.join(map(repr, missing))}; pass a frame of "
            "raynas.analysis.load, or one with 'params' and 'reward'"
        )


def pareto(frame: pd.DataFrame) -> pd.DataFrame:
    """The finished trials no other trial beats with fewer or equal params and a higher or equal reward.

    Trials with the same params and the same reward are all kept. Sorted by params.

    Example:
        >>> pareto(pd.DataFrame({"params": [10, 20, 30], "reward": [0.5, 0.4, 0.9]})).params.tolist()
        [10, 30]
    """
    _require(frame, ["params", "reward"])
    done = (
        finished(frame)
        .dropna(subset=["params"])
        .sort_values(["params", "reward"], ascending=[True, False], kind="stable")
    )
    keep, best = [], -math.inf
    for _, group in done.groupby("params", sort=True):
        top = group.reward.iloc[0]
        if top > best:
            keep.extend(group.index[group.reward == top])
            best = top
    return done.loc[keep]


def within(frame: pd.DataFrame, max_params: int | None) -> pd.DataFrame:
    """The trials within ``max_params`` (all of them for ``None``)."""
    return frame if max_params is None else frame[frame.params <= max_params]


def ranking(frame: pd.DataFrame) -> str:
    """The column the best trial is chosen by: ``retrained_reward`` for a one-shot search whose retraining
    finished (its shared-weight ``reward`` ranks the very best poorly), else ``reward``."""
    retrained = "retrained_reward" in frame.columns and frame.retrained_reward.notna().any()
    return "retrained_reward" if retrained else "reward"


class NoFinishedTrial(ValueError):
    """A search has no finished trial to rank."""


class NoParameterCounts(ValueError):
    """``--max-params`` asked of a search without parameter counts (a DARTS cell search)."""


def best_row(frame: pd.DataFrame, max_params: int | None = None, name: str | None = None) -> pd.Series:
    """The finished trial with the highest :func:`ranking` column (then fewer params, then earliest) within
    ``max_params``; for a one-shot search, the best of the retrained subnets (by the shared-weight score when
    no retrained subnet is within ``max_params``)."""
    done, name = finished(frame), name or _name(frame)
    if done.empty:
        raise NoFinishedTrial(
            f"search {name!r} has no finished trial: none has finished yet, or every one failed "
            "or was stopped early (see the status, error and stopped columns of its results.csv)"
        )
    if max_params is not None:
        if done.params.isna().all():
            raise NoParameterCounts(
                f"search {name!r} has no parameter counts (a DARTS cell search), so {named('max_params')} does not "
                "apply to it"
            )
        smallest = int(done.params.min())
        done = done[done.params <= max_params]
        if done.empty:
            raise ValueError(
                f"{named('max_params')} {max_params:,} is below every finished trial of search "
                f"{name!r} (the smallest has {smallest:,} params); raise it"
            )
    key = ranking(done)
    return results.best_first(done[done[key].notna()], key).iloc[0]


def _name(frame: pd.DataFrame) -> str:
    return str(frame.search.iloc[0]) if len(frame) else "?"


def export_best(
    storage_path: str,
    name: str,
    frame: pd.DataFrame,
    settings: Any,
    space: SearchSpace | None,
    max_params: int | None = None,
) -> dict[str, Any]:
    """The best_arch.json record of the best trial (within ``max_params``), in the format the search writes.

    The test accuracy is the search's own when it is the same trial, the table's for a tabular space, else
    ``None`` (measuring it needs the trial's checkpoint and Ray). For a DARTS search, the best seed's own
    record: its genotype (cell space) or its best_arch.json record. For a one-shot search, a retrained subnet's
    retraining record with its shared-weight score as ``oneshot_val_acc``; a subnet never retrained has no
    ``val_acc``.
    """
    row = best_row(frame, max_params, name)
    if isinstance(settings, darts_search.DartsSettings):
        seed_file = f"genotype_seed{int(row.seed)}.json" if space is None else f"arch_seed{int(row.seed)}.json"
        return json.loads(storage.read_text(storage_path, f"{name}/{seed_file}") or "{}")
    assert space is not None  # a token search's space
    saved = json.loads(storage.read_text(storage_path, f"{name}/{BEST_FILE}") or "{}")
    if ranking(frame) == "retrained_reward" and saved.get("tokens") == list(row.tokens):
        return saved  # the one-shot search's own record of that retrained architecture
    if saved.get("trial_id") == row.trial_id:
        test_acc = saved.get("test_acc")
    else:
        test_acc = space.accuracy(row.tokens) if isinstance(space, TabularSpace) else None
    if not shares_weights(settings):
        return best_arch(settings, space, row, test_acc)
    # a subnet scored on the shared weights: its retrained row if it was retrained, else no trained accuracy
    retrained = _read(storage_path, f"{name}/retrain").replace({"": None})
    trained = retrained[(retrained.tokens == json.dumps(list(row.tokens))) & (retrained.status == "TERMINATED")]
    record = best_arch(settings, space, trained.iloc[0] if len(trained) else row, None)
    record.update(oneshot_val_acc=float(row.reward), **({} if len(trained) else {"val_acc": None}))
    return record


# -- plots -----------------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plot_best_so_far(
    frames: dict[str, pd.DataFrame], path: str, reward_label: str = REWARD_AXIS, shared: Collection[str] = ()
) -> str:
    """Best reward so far against the trial's place in the search, one curve per search (see
    :func:`best_so_far_figure`)."""
    return _save(best_so_far_figure(frames, reward_label, shared), path)


def best_so_far_figure(
    frames: dict[str, pd.DataFrame], reward_label: str = REWARD_AXIS, shared: Collection[str] = ()
) -> Any:
    """The figure of :func:`plot_best_so_far`; a search named in ``shared`` (scored on shared weights) has its
    curve labelled as its one-shot score and its retrained subnets as points of their own."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, frame in frames.items():
        done = finished(frame).sort_values("trial_index")
        what = f"{SHARED_SCORE}, " if name in shared else ""
        ax.step(done.trial_index + 1, done.reward.cummax(), where="post", label=f"{name} ({what}{len(done)} trials)")
        if name in shared and "retrained_reward" in done.columns:
            trained = done[done.retrained_reward.notna()]
            ax.scatter(
                trained.trial_index + 1,
                trained.retrained_reward,
                marker="*",
                s=90,
                zorder=3,
                label=f"{name}: {RETRAINED} ({len(trained)})",
            )
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("trial (in the order the searcher proposed it)")
    ax.set_ylabel(f"best {reward_label} so far")
    ax.set_title("Best reward so far by trial")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return fig


def plot_params_reward(
    frame: pd.DataFrame,
    path: str,
    budgets: dict[str, int | None],
    max_params: int | None = None,
    reward_label: str = REWARD_AXIS,
    shared: bool = False,
) -> str:
    """Every finished trial's params against its reward (see :func:`params_reward_figure`)."""
    return _save(params_reward_figure(frame, budgets, max_params, reward_label, shared), path)


def params_reward_figure(
    frame: pd.DataFrame,
    budgets: dict[str, int | None],
    max_params: int | None = None,
    reward_label: str = REWARD_AXIS,
    shared: bool = False,
) -> Any:
    """Every finished trial's params against its reward, the Pareto front (within ``max_params``) highlighted,
    budgets as lines, the best trial (:func:`best_row`, as the summary ranks it) ringed, the legend outside the
    axes. With ``shared`` (a search on shared weights) the rewards are one-shot scores, and the retrained
    subnets' accuracies are points of their own."""
    from matplotlib.ticker import EngFormatter

    plt = _pyplot()
    done, front = finished(frame), pareto(within(frame, max_params))
    score = f"{SHARED_SCORE}, " if shared else ""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.scatter(done.params, done.reward, s=18, color="0.6", label=f"trials ({score}{len(done)})")
    ax.step(front.params, front.reward, where="post", color="C3", alpha=0.6)
    ax.scatter(front.params, front.reward, s=36, color="C3", zorder=3, label=f"Pareto front ({score}{len(front)})")
    if shared and "retrained_reward" in done.columns:
        trained = done[done.retrained_reward.notna()]
        ax.scatter(
            trained.params,
            trained.retrained_reward,
            marker="*",
            s=90,
            color="C2",
            zorder=4,
            label=f"{RETRAINED} ({len(trained)})",
        )
    _ring_best(ax, frame, max_params, shared)
    for (what, budget), style in zip(budgets.items(), ("--", ":")):
        if budget is not None:
            ax.axvline(budget, color="k", linestyle=style, label=f"{what} {budget:,}")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel(PARAMS_AXIS)
    ax.set_ylabel(reward_label)
    ax.set_title(f"{_name(frame)}: parameters against reward")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return fig


def _ring_best(ax: Any, frame: pd.DataFrame, max_params: int | None, shared: bool) -> None:
    """A ring around the best trial within ``max_params``, at the value the summary reports as its best reward."""
    try:
        best = best_row(frame, max_params)
    except ValueError:  # no finished trial (within the budget): nothing to ring
        return
    key = ranking(within(finished(frame), max_params))
    what = "retrained" if key == "retrained_reward" else "one-shot score" if shared else "reward"
    ax.scatter(
        [best.params],
        [best[key]],
        s=160,
        facecolors="none",
        edgecolors="k",
        linewidths=1.5,
        zorder=5,
        label=f"best ({what} {best[key]:.4f})",
    )


def _legend_outside(ax: Any) -> None:
    """The legend right of the axes, where it covers no point."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)


def plot_top_labels(frame: pd.DataFrame, space: SearchSpace, path: str, share: float = TOP_SHARE) -> str:
    """For each label, how often each choice was picked among the top ``share`` of finished trials (of a label
    with more than :data:`MAX_BARS` choices, the values picked, most picked first)."""
    plt = _pyplot()
    done = finished(frame)
    top = done.nlargest(max(1, math.ceil(share * len(done))), "reward")
    labels, choices = space.labels(), option_names(space)
    cols = min(4, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows + 0.8), squeeze=False)
    for ax, label, options in zip(axes.flat, labels, choices):
        counts = top[label].map(str).value_counts()  # a list of values is a tuple here
        names = list(options)
        title = label
        if len(names) > MAX_BARS:  # one bar per choice would take minutes to draw, and be unreadable
            names = list(counts.index[:MAX_BARS])
            title = f"{label} ({len(names)} of {len(options):,} values)"
        ax.bar(names, [int(counts.get(n, 0)) for n in names], color="C0")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("chosen value", fontsize=8)
        ax.set_ylabel("trials", fontsize=8)
        _integer_ticks(ax.yaxis)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{_name(frame)}: chosen values among the top {share:.0%} of trials by reward ({len(top)} of {len(done)})"
    )
    return _save(fig, path)


def darts_plots(
    storage_path: str, name: str, space: SearchSpace | None, record: dict[str, Any], seed: int, folder: str
) -> list[str]:
    """The pictures of seed ``seed`` of DARTS search ``name`` under ``folder``: on the cell space its normal and
    reduction cells (``record`` its genotype; ``cell_normal.png``/``.svg``, ``cell_reduce.png``/``.svg``) and each
    cell's weights over the epochs (``alphas_normal.png``, ``alphas_reduce.png``); on a space of labelled choices,
    each label's candidate weights over the epochs (``arch_weights.png``)."""
    history = darts_search.epoch_results(storage_path, name, seed)
    written = []
    if space is None:
        genotype = genotype_from_dict(record)
        for cell, title in (("normal", "normal cell"), ("reduce", "reduction cell")):
            fig = drawing.draw_cell(getattr(genotype, cell), getattr(genotype, f"{cell}_concat"), f"{name}: {title}")
            written += [drawing.save(fig, os.path.join(folder, f"cell_{cell}.{ext}")) for ext in ("png", "svg")]
            epochs = [r for r in history if r.get(f"alphas_{cell}")]
            if epochs:
                fig = drawing.plot_cell_weights(
                    [r["epoch"] for r in epochs],
                    [r[f"alphas_{cell}"] for r in epochs],
                    f"{name} (seed {seed}): {title}, architecture weight of each operation on each edge",
                )
                written.append(drawing.save(fig, os.path.join(folder, f"alphas_{cell}.png")))
        return written
    assert isinstance(space, ModelSpace)  # a DARTS search's other kind of space
    return choice_weights_plot(history, space, f"{name} (seed {seed}): architecture weight", folder)


def choice_weights_plot(history: list[dict[str, Any]], space: ModelSpace, title: str, folder: str) -> list[str]:
    """``arch_weights.png``: each label's candidate weights over the epochs of ``history`` (a DARTS seed's softmaxed
    architecture weights, or an ENAS controller's probabilities); ``[]`` when no epoch reported them."""
    epochs = [r for r in history if r.get("arch_weights")]
    if not epochs:
        return []
    fig = drawing.plot_choice_weights(
        [r["epoch"] for r in epochs],
        [json.loads(r["arch_weights"]) for r in epochs],
        candidate_names(space),
        f"{title} of each candidate of each label",
    )
    return [drawing.save(fig, os.path.join(folder, "arch_weights.png"))]


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


# -- the command -----------------------------------------------------------------------------------------------
def default_out(storage_path: str, names: str | Sequence[str]) -> str:
    """Where the plots go for a local storage path: ``<storage-path>/<name>/analysis`` for one search,
    ``<storage-path>/analysis`` for several (none of them owns a comparison).

    Example:
        >>> default_out("/runs", ["a", "b"]), default_out("/runs", "a")
        ('/runs/analysis', '/runs/a/analysis')
    """
    if "://" in storage_path and not storage_path.startswith("file://"):
        raise ValueError(
            f"{named('storage_path')} {storage_path} is not a local folder; pass {named('out')} DIR for the plots"
        )
    names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    root = storage.normalize(storage_path).removeprefix("file://")
    return os.path.join(root, names[0], "analysis") if len(names) == 1 else os.path.join(root, "analysis")


def analyze(
    storage_path: str, names: str | Sequence[str], max_params: int | None = None, out: str | None = None
) -> pd.DataFrame:
    """Load each search (``names``: one name or several), write its plots and best_arch.json under ``out``, and
    return a summary (:func:`report` says it in words, as ``raynas analyze`` prints it).

    ``out`` (default: :func:`default_out`, ``analysis`` in the search's folder, or beside the searches for
    several) gets ``best_so_far.png`` (one curve per
    search) and, per search, ``<name>/params_reward.png``, ``<name>/top_labels.png`` and
    ``<name>/best_arch.json`` (the best within ``max_params`` when given); a DARTS search, its best seed's
    cells and architecture weights over the epochs (see :func:`darts_plots`); an ENAS search, its best seed's
    controller probabilities over the epochs (``arch_weights.png``). Each search's ``plots`` column
    lists the files written.
    """
    storage_path = os.fspath(storage_path)  # a pathlib.Path too
    names = [names] if isinstance(names, str) else list(names)  # one search by its name, too
    if not names:
        raise ValueError("no search to analyze: give the name of one or more searches")
    out = os.path.abspath(out) if out else default_out(storage_path, names)  # the paths it prints: all absolute
    if os.path.isfile(out):
        raise ValueError(f"{named('out')} {out} is a file; give a folder for the plots and best_arch.json files")
    # the search's own folder, or a run of that name in --out (another search's): its best_arch.json is its own
    clash = next(
        (
            name
            for name in names
            if storage.folder(out, name) == storage.folder(storage_path, name)
            or any(storage.read_text(out, f"{name}/{record}") is not None for record in storage.RUN_RECORDS)
        ),
        None,
    )
    if clash is not None:
        raise ValueError(
            f"{named('out')} {out} would write over the own best_arch.json of the search in {out}/{clash}; give "
            "another folder (by default the plots go to <storage-path>/<name>/analysis, or <storage-path>/analysis for "
            "several searches)"
        )
    if max_params is not None:
        max_params = parse_count(max_params, "max_params")  # 200k too, as the flag takes it
    loaded = {name: _load(storage_path, name) for name in dict.fromkeys(names)}
    bests, left_out = {}, []
    for name, (frame, settings, space) in loaded.items():  # every bad input fails before any write
        try:
            bests[name] = export_best(storage_path, name, frame, settings, space, max_params)
        except (NoFinishedTrial, NoParameterCounts) as exc:
            if len(loaded) == 1:
                raise
            left_out.append(exc)
            logger.info(f"{exc}; left out of the comparison")
    if not bests:
        if all(isinstance(exc, NoFinishedTrial) for exc in left_out):
            raise NoFinishedTrial(f"none of the searches {', '.join(map(repr, loaded))} has a finished trial")
        raise ValueError(
            f"none of the searches {', '.join(map(repr, loaded))} can be compared: {'; '.join(map(str, left_out))}"
        )
    loaded = {name: loaded[name] for name in bests}
    rows = []
    for name, (frame, settings, space) in loaded.items():
        folder = os.path.join(out, name)
        record = settings.result_file() if isinstance(settings, darts_search.DartsSettings) else BEST_FILE
        best_path = storage.write_text(folder, record, json.dumps(bests[name], indent=2))
        budgets = {"search budget": getattr(settings, "max_params", None), named("max_params"): max_params}
        plots = []
        if frame.params.notna().any():  # a DARTS cell search has no parameter counts
            plots.append(
                plot_params_reward(
                    frame,
                    os.path.join(folder, "params_reward.png"),
                    budgets,
                    max_params,
                    reward_axis(space, shares_weights(settings)),
                    shares_weights(settings),
                )
            )
        if space is not None and space.labels():  # the top trials within --max-params
            plots.append(plot_top_labels(within(frame, max_params), space, os.path.join(folder, "top_labels.png")))
        best, key = best_row(frame, max_params, name), ranking(within(finished(frame), max_params))
        if isinstance(settings, darts_search.DartsSettings):
            plots.extend(darts_plots(storage_path, name, space, bests[name], int(best.seed), folder))
        elif run_kind(settings) is registry.ENAS and isinstance(space, ModelSpace) and "seed" in best:
            seed = int(best.seed)
            history = darts_search.epoch_results(storage_path, f"{name}/supernet", seed, "train_enas")
            title = f"{name} (seed {seed}): the controller's probability"
            plots.extend(choice_weights_plot(history, space, title, folder))
        if key != ranking(frame):
            logger.info(
                f"{name}: no retrained subnet within {max_params:,} params; its best there is ranked by "
                "the one-shot score on the shared weights, not by a trained accuracy"
            )
        rows.append(
            {
                "search": name,
                "trials": f"{len(finished(frame))}/{len(frame)}",
                "asked": asked(settings),
                "best reward": round(float(best[key]), 4),
                "its params": None if pd.isna(best.params) else int(best.params),
                "Pareto front": len(pareto(within(frame, max_params))),
                "best_arch.json": best_path,
                "plots": plots,
            }
        )
    shared = [name for name, (_, settings, _) in loaded.items() if shares_weights(settings)]
    labels = {reward_axis(space, name in shared) for name, (_, _, space) in loaded.items()}
    combined = plot_best_so_far(
        {name: frame for name, (frame, _, _) in loaded.items()},
        os.path.join(out, "best_so_far.png"),
        labels.pop() if len(labels) == 1 else "reward",
        shared,
    )
    summary = pd.DataFrame(rows).astype({"its params": "Int64"})  # a DARTS cell search has none: <NA>, not 1.2e+05
    summary.attrs.update(best_so_far=combined, max_params=max_params)
    return summary


def report(summary: pd.DataFrame) -> str:
    """The summary of :func:`analyze` in words: its table, each search's best_arch.json and plots."""
    max_params = summary.attrs.get("max_params")
    limit = f" within {max_params:,} params" if max_params is not None else ""
    lines = [summary.drop(columns=["best_arch.json", "plots"]).to_string(index=False)]
    for row in summary.itertuples():
        plots = f"; plots {', '.join(row.plots)}" if row.plots else ""
        lines.append(f"{row.search}: best{limit} -> {row[summary.columns.get_loc('best_arch.json') + 1]}{plots}")
    lines.append(f"best reward so far, every search: {summary.attrs.get('best_so_far')}")
    return "\n".join(lines)
