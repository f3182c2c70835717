"""Pictures of a DARTS search: a cell of a genotype, and the architecture weights over the epochs.

Matplotlib only (no graphviz): each function returns a :class:`~matplotlib.figure.Figure` and :func:`save` writes
it. A cell is drawn as the original DARTS code draws it: the inputs ``c_{k-2}`` and ``c_{k-1}``, the intermediate
nodes ``0 .. n-1``, each with an arrow from each of its two inputs labelled with the operation, and the output
``c_{k}`` joining the nodes it concatenates. Node labels are texts with gid ``node``, operation labels texts with
gid ``edge``.

Example:
    >>> from raynas.spaces.darts import DARTS_V2
    >>> fig = draw_cell(DARTS_V2.normal, DARTS_V2.normal_concat, "normal cell")
    >>> sorted({t.get_text() for t in fig.axes[0].texts if t.get_gid() == "edge"})
    ['dil_conv_3x3', 'sep_conv_3x3', 'skip_connect']
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch
from matplotlib.ticker import MaxNLocator

from raynas.spaces.darts import PRIMITIVES

COLORS = {"input": "#b4eeb4", "node": "#add8e6", "output": "#eee8aa"}  # as in DARTS's visualize.py
RADIUS = 0.42
GAP = 2.2  # between intermediate nodes


def node_name(index: int) -> str:
    """The name of a cell's node by its index in a genotype: 0 and 1 the cell's inputs, then the nodes.

    Example:
        >>> [node_name(i) for i in range(4)]
        ['$c_{k-2}$', '$c_{k-1}$', '0', '1']
    """
    return ("$c_{k-2}$", "$c_{k-1}$")[index] if index < 2 else str(index - 2)


def steps_of(edges: int) -> int:
    """The intermediate nodes of a cell with ``edges`` mixed edges (node ``i`` has ``2 + i`` inputs).

    Example:
        >>> steps_of(14)
        4
    """
    steps = int((math.sqrt(9 + 8 * edges) - 3) / 2)
    if steps * (steps + 3) // 2 != edges:
        raise ValueError(f"{edges} edges are no DARTS cell (node i of n has 2 + i inputs: 2, 5, 9, 14, ... edges)")
    return steps


def draw_cell(edges: Sequence[tuple[str, int]], concat: Sequence[int], title: str) -> Figure:
    """A cell of a genotype: ``edges`` two ``(operation, input)`` pairs per node, ``concat`` the nodes
    (genotype indices) the output joins.

    The nodes lie on a line from left to right; arrows from ``c_{k-2}`` arch above it, those from ``c_{k-1}``
    below, and one between nodes further apart arches below, the higher the further."""
    steps = len(edges) // 2
    places = {0: (0.0, 1.7), 1: (0.0, -1.7), **{2 + i: (2.0 + GAP * i, 0.0) for i in range(steps)}}
    out = (2.0 + GAP * steps, 0.0)
    fig = Figure(figsize=(1.6 + 1.1 * GAP * steps, 4.2))
    ax = fig.add_subplot()
    circles = {i: _node(ax, place, node_name(i), COLORS["input" if i < 2 else "node"]) for i, place in places.items()}
    output = _node(ax, out, "$c_{k}$", COLORS["output"])
    for position, (op, source) in enumerate(edges):
        target = 2 + position // 2
        rad = {0: -0.2, 1: 0.2}.get(source, 0.0 if target - source == 1 else _arch(places[source], places[target]))
        middle = _arrow(ax, places[source], places[target], circles[source], circles[target], rad, "0.2")
        ax.text(
            *middle,
            op,
            gid="edge",
            ha="center",
            va="center",
            fontsize=7,
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )
    for index in concat:
        rad = 0.0 if index == 1 + steps else -_arch(places[index], out)
        _arrow(ax, places[index], out, circles[index], output, rad, "0.65")
    ax.set_xlim(-0.7, out[0] + 0.7)
    ax.set_ylim(-2.4, 2.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return fig


def _arch(start: tuple[float, float], end: tuple[float, float]) -> float:
    """The ``arc3`` bend that lifts an arrow between two nodes on the line clear of the nodes between them
    (below the line going right)."""
    span = abs(end[0] - start[0])
    return 2 * (0.25 + 0.2 * span / GAP) / span


def _node(ax: Axes, place: tuple[float, float], name: str, color: str) -> Circle:
    circle = Circle(place, RADIUS, facecolor=color, edgecolor="0.3", zorder=2)
    ax.add_patch(circle)
    ax.text(*place, name, gid="node", ha="center", va="center", fontsize=10, zorder=3)
    return circle


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    source: Circle,
    target: Circle,
    rad: float,
    color: str,
) -> tuple[float, float]:
    """An arrow from ``source`` to ``target`` bent by ``rad`` (matplotlib's ``arc3``); returns its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            patchA=source,
            patchB=target,
            arrowstyle="-|>",
            mutation_scale=10,
            color=color,
            lw=1.0,
            connectionstyle=f"arc3,rad={rad}",
            zorder=1,
        )
    )
    # the middle of arc3's quadratic curve (equal aspect: data and display directions agree)
    (x1, y1), (x2, y2) = start, end
    return (x1 + x2) / 2 + rad * (y2 - y1) / 2, (y1 + y2) / 2 - rad * (x2 - x1) / 2


def plot_cell_weights(epochs: Sequence[int], weights: Sequence[Sequence[Sequence[float]]], title: str) -> Figure:
    """The softmaxed weight of each operation on each edge of a cell over the epochs: one panel per edge
    (row: its node, column: its input), one line per operation. ``weights[e]`` is epoch ``epochs[e]``'s
    ``edges x operations`` matrix."""
    edges = len(weights[0]) if weights else 0
    steps = steps_of(edges)
    fig = Figure(figsize=(2.6 * (steps + 1), 1.9 * steps + 1.0), layout="constrained")
    panels = fig.subplots(steps, steps + 1, squeeze=False, sharex=True, sharey=True)
    edge = 0
    for node in range(steps):
        for source in range(steps + 1):
            ax = panels[node][source]
            if source >= 2 + node:
                ax.axis("off")
                continue
            for op, name in enumerate(PRIMITIVES):
                ax.plot(epochs, [w[edge][op] for w in weights], marker=".", lw=1.2, label=name)
            ax.set_title(f"{node_name(source)} → {node}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            edge += 1
    handles, names = panels[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize=8, title="operation")
    fig.supxlabel("epoch")
    fig.supylabel("softmaxed architecture weight")
    fig.suptitle(title)
    return fig


def plot_choice_weights(
    epochs: Sequence[int],
    weights: Sequence[Mapping[str, Sequence[float]]],
    names: Mapping[str, Sequence[str]],
    title: str,
) -> Figure:
    """The softmaxed weight of each candidate of each label over the epochs: one panel per label, one line per
    candidate. ``weights[e]`` is epoch ``epochs[e]``'s ``label -> weights``; ``names`` the candidates' names."""
    labels = list(names)
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.6 * rows + 0.6), layout="constrained")
    panels = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for ax, label in zip(panels.flat, labels):
        for index, candidate in enumerate(names[label]):
            ax.plot(epochs, [w[label][index] for w in weights], marker=".", lw=1.2, label=candidate)
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6, loc="best")
    for ax in list(panels.flat)[len(labels) :]:
        ax.axis("off")
    fig.supxlabel("epoch")
    fig.supylabel("softmaxed architecture weight")
    fig.suptitle(title)
    return fig


def save(fig: Figure, path: str) -> str:
    """Write ``fig`` to ``path`` (its format by the suffix: ``.png``, ``.svg`` with its texts as text); returns
    ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
