"""The DARTS evaluation network of a fixed genotype, with one node width per cell, and its exact parameter count.

The evaluation network takes one width per cell, as in PaddleSlim's DARTS channel space: cell ``i`` has nodes
of ``cell_widths[i]`` channels and outputs ``len(concat) * cell_widths[i]`` channels. Parameter counts are
computed exactly without building modules, so a parameter budget can be checked for free.

Example:
    >>> net_args = dict(cell_widths=[16] * 3 + [32] * 3, reduction_cells=[2, 4], genotype=DARTS_V2)
    >>> eval_network_params(**net_args) == sum(p.numel() for p in EvalNetwork(**net_args).parameters())
    True
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from raynas.spaces.darts.genotypes import DARTS_V2, Genotype, genotype_from_dict, genotype_to_dict
from raynas.spaces.darts.operations import OPS, FactorizedReduce, ReLUConvBN, drop_path, op_params

_CellPlan = namedtuple("_CellPlan", "C_prev_prev C_prev C reduction reduction_prev")


def _plan(
    cell_widths: Sequence[int],
    reduction_cells: Sequence[int],
    genotype: Genotype,
    in_channels: int,
    num_classes: int,
    auxiliary: bool,
    aux_after: int | None,
    stem_channels: int | None,
) -> tuple[int, list[_CellPlan], int | None, int | None, int]:
    """Check the arguments; return the stem width, the cells' widths, the cell after which the auxiliary head
    reads and its width (``None`` without one), and the last cell's output width."""
    n = len(cell_widths)
    if n == 0 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in cell_widths):
        raise ValueError(f"cell_widths must be a non-empty list of positive integers, got {cell_widths!r}")
    if any(not 0 <= r < n for r in reduction_cells):
        raise ValueError(f"reduction_cells must be cell indices in [0, {n - 1}], got {reduction_cells!r}")
    if in_channels < 1 or num_classes < 1:
        raise ValueError("in_channels and num_classes must be positive")
    genotype_from_dict(genotype_to_dict(genotype))  # raises ValueError on a malformed genotype
    stem = 3 * cell_widths[0] if stem_channels is None else stem_channels
    if stem < 1:
        raise ValueError(f"stem_channels must be positive, got {stem}")
    if auxiliary:
        if aux_after is None:
            aux_after = max(reduction_cells) if reduction_cells else 2 * n // 3
        if not 0 <= aux_after < n:
            raise ValueError(f"aux_after must be a cell index in [0, {n - 1}], got {aux_after}")
    else:
        aux_after = None
    cells, C_aux = [], None
    C_prev_prev, C_prev, reduction_prev = stem, stem, False
    for i, C in enumerate(cell_widths):
        reduction = i in reduction_cells
        cells.append(_CellPlan(C_prev_prev, C_prev, C, reduction, reduction_prev))
        multiplier = len(genotype.reduce_concat if reduction else genotype.normal_concat)
        C_prev_prev, C_prev, reduction_prev = C_prev, multiplier * C, reduction
        if i == aux_after:
            C_aux = C_prev
    return stem, cells, aux_after, C_aux, C_prev


def _cell_params(genotype: Genotype, plan: _CellPlan) -> int:
    C = plan.C
    pre0 = plan.C_prev_prev * C + 2 * C  # FactorizedReduce or 1x1 ReLUConvBN: the same count
    pre1 = plan.C_prev * C + 2 * C
    edges = genotype.reduce if plan.reduction else genotype.normal
    ops = sum(op_params(name, C, 2 if plan.reduction and index < 2 else 1, True) for name, index in edges)
    return pre0 + pre1 + ops


def _aux_params(C: int, num_classes: int) -> int:
    return C * 128 + 2 * 128 + 128 * 768 * 2 * 2 + 2 * 768 + 768 * num_classes + num_classes


def eval_network_params(
    cell_widths: Sequence[int],
    reduction_cells: Sequence[int],
    genotype: Genotype = DARTS_V2,
    in_channels: int = 3,
    num_classes: int = 10,
    auxiliary: bool = False,
    aux_after: int | None = None,
    stem_channels: int | None = None,
) -> int:
    """Exact parameter count of ``EvalNetwork`` with the same arguments, auxiliary head included when built."""
    stem, cells, _, C_aux, C_last = _plan(
        cell_widths, reduction_cells, genotype, in_channels, num_classes, auxiliary, aux_after, stem_channels
    )
    total = in_channels * stem * 9 + 2 * stem
    total += sum(_cell_params(genotype, plan) for plan in cells)
    if C_aux is not None:
        total += _aux_params(C_aux, num_classes)
    return total + C_last * num_classes + num_classes


class Cell(nn.Module):
    """A cell of a fixed genotype: two preprocessed inputs, nodes that each sum two operations."""

    def __init__(
        self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self._concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.multiplier = len(self._concat)
        self._indices = [index for _, index in edges]
        self._ops = nn.ModuleList(OPS[name](C, 2 if reduction and index < 2 else 1, True) for name, index in edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self._ops) // 2):
            s = 0
            for op, index in (
                (self._ops[2 * i], self._indices[2 * i]),
                (self._ops[2 * i + 1], self._indices[2 * i + 1]),
            ):
                h = op(states[index])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                s = s + h
            states.append(s)
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's CIFAR auxiliary head.

    On an 8x8 map (32x32 input) it pools with ``AvgPool2d(5, stride=3)`` to 2x2 as DARTS does; any other map
    size is average-pooled adaptively to 2x2, so small inputs work and the parameters are the same.
    """

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if x.shape[-2:] == (8, 8):
            x = F.avg_pool2d(x, 5, stride=3, padding=0, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        x = self.features(x)
        return self.classifier(x.flatten(1))


class EvalNetwork(nn.Module):
    """DARTS's CIFAR network for a fixed genotype, with one node width per cell.

    Cell ``i`` has nodes of ``cell_widths[i]`` channels; cells listed in ``reduction_cells`` halve the
    resolution, and the cell after one starts with a ``FactorizedReduce`` of its older input. The stem is a
    3x3 conv to ``stem_channels`` (default ``3 * cell_widths[0]``). With ``auxiliary`` an auxiliary head reads
    the output of cell ``aux_after`` (default: the last reduction cell).

    Set ``drop_path_prob`` before a training epoch. ``forward`` returns ``(logits, logits_aux)`` in training
    mode when the network has an auxiliary head, otherwise ``logits``.
    """

    def __init__(
        self,
        cell_widths: Sequence[int],
        reduction_cells: Sequence[int],
        genotype: Genotype = DARTS_V2,
        in_channels: int = 3,
        num_classes: int = 10,
        auxiliary: bool = False,
        aux_after: int | None = None,
        stem_channels: int | None = None,
    ):
        super().__init__()
        stem, plans, self._aux_after, C_aux, C_last = _plan(
            cell_widths, reduction_cells, genotype, in_channels, num_classes, auxiliary, aux_after, stem_channels
        )
        self.drop_path_prob = 0.0
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
        )
        self.cells = nn.ModuleList(Cell(genotype, *plan) for plan in plans)
        if C_aux is not None:
            self.auxiliary_head = AuxiliaryHead(C_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        if logits_aux is not None:
            return logits, logits_aux
        return logits
