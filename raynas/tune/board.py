"""The architecture of a DARTS search in TensorBoard.

When tensorboardX imports (``pip install "raynas[tensorboard]"``), Tune writes each trial's numeric results to an
event file in the trial's folder, so ``tensorboard --logdir <storage-path>/<name>`` shows the accuracies and
losses; the softmaxed architecture weights, reported as lists or JSON, are not among them. :class:`ArchitectureBoard`
writes them beside Tune's, one scalar per candidate per epoch, ``alpha/<cell>/node<i>_from_<input>/<operation>`` on
the DARTS cell space (inputs ``c_k-2``, ``c_k-1``, ``node<j>``) and ``alpha/<label>/<candidate>`` on a space of
labelled choices, and the architecture chosen so far as the text ``architecture``.

Example:
    >>> sorted(scalars({"alphas_normal": [[0.9, 0.1], [0.2, 0.8]]}, {}).items())[:2]
    [('alpha/normal/node0_from_c_k-1/max_pool_3x3', 0.8), ('alpha/normal/node0_from_c_k-1/none', 0.2)]
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ray import tune

from raynas.spaces.darts import PRIMITIVES

#: characters TensorBoard keeps in a tag; tensorboardX replaces the others (and says so on every call)
_ODD = re.compile(r"[^-/\w.]")


def callbacks(names: Mapping[str, Sequence[str]] | None = None) -> list[tune.Callback]:
    """``[ArchitectureBoard(names)]`` when tensorboardX imports (Tune then writes its event files too), else
    ``[]``."""
    return [ArchitectureBoard(names)] if importlib.util.find_spec("tensorboardX") else []


def _tag(*parts: str) -> str:
    return "/".join(_ODD.sub("_", part) for part in parts)


def _input(index: int) -> str:
    return ("c_k-2", "c_k-1")[index] if index < 2 else f"node{index - 2}"


def scalars(result: Mapping[str, Any], names: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """The architecture weights of a DARTS result as ``tag -> weight``: ``alphas_normal``/``alphas_reduce`` (an
    ``edges x operations`` list each) or ``arch_weights`` (JSON ``label -> weights``, named by ``names``: a
    label's candidates; by position where it has none)."""
    tags = {}
    for cell in ("normal", "reduce"):
        edges = ((node, source) for node in itertools.count() for source in range(2 + node))  # the supernet's order
        for (node, source), weights in zip(edges, result.get(f"alphas_{cell}") or []):
            for op, weight in zip(PRIMITIVES, weights):
                tags[_tag("alpha", cell, f"node{node}_from_{_input(source)}", op)] = float(weight)
    if result.get("arch_weights"):
        for label, weights in json.loads(result["arch_weights"]).items():
            candidates = names.get(label) or [str(i) for i in range(len(weights))]
            for candidate, weight in zip(candidates, weights):
                tags[_tag("alpha", label, str(candidate))] = float(weight)
    return tags


def architecture_text(result: Mapping[str, Any]) -> str | None:
    """The architecture a DARTS result chose, as Markdown: each node's operations and inputs per cell, or a table
    of each label's choice; ``None`` for a result without one."""
    if result.get("genotype_json"):
        genotype = json.loads(result["genotype_json"])
        lines = []
        for cell in ("normal", "reduce"):
            edges = genotype[cell]
            nodes = [
                f"{i // 2} ← " + " + ".join(f"{op}({_input(j)})" for op, j in edges[i : i + 2])
                for i in range(0, len(edges), 2)
            ]
            lines.append(
                f"**{cell}**: "
                + "; ".join(nodes)
                + "; output: "
                + ", ".join(_input(i) for i in genotype[f"{cell}_concat"])
            )
        return "\n\n".join(lines)
    if result.get("arch"):
        rows = [f"| {label} | {choice} |" for label, choice in json.loads(result["arch"]).items()]
        return "\n".join(["| label | choice |", "| --- | --- |", *rows])
    return None


class ArchitectureBoard(tune.Callback):
    """Writes each DARTS trial's architecture weights and chosen architecture to an event file in its folder
    (see the module docstring); ``names``: a labelled-choice space's candidate names per label."""

    def __init__(self, names: Mapping[str, Sequence[str]] | None = None):
        self.names = dict(names or {})
        self.writers: dict[Any, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "writers": {}}  # Tune pickles its callbacks; open files stay out

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        from tensorboardX import SummaryWriter

        if trial not in self.writers:
            trial.init_local_path()
            self.writers[trial] = SummaryWriter(trial.local_path, filename_suffix=".architecture")
        writer, step = self.writers[trial], int(result.get("epoch") or result.get("training_iteration") or 0)
        for tag, weight in scalars(result, self.names).items():
            writer.add_scalar(tag, weight, global_step=step)
        text = architecture_text(result)
        if text is not None:
            writer.add_text("architecture", text, global_step=step)
        writer.flush()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for trial in list(self.writers):
            self._close(trial)

    def _close(self, trial: Any) -> None:
        writer = self.writers.pop(trial, None)
        if writer is not None:
            writer.close()
