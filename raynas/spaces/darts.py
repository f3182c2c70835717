"""DARTS building blocks: operations, genotypes, the fixed-genotype network and the search supernet.

The operations and cells follow the DARTS paper code (Liu et al., 2019). The evaluation network takes one
width per cell, as in PaddleSlim's DARTS channel space: cell ``i`` has nodes of ``cell_widths[i]`` channels
and outputs ``len(concat) * cell_widths[i]`` channels. Parameter counts are computed exactly without
building modules, so a parameter budget can be checked for free.

Example:
    >>> net_args = dict(cell_widths=[16] * 3 + [32] * 3, reduction_cells=[2, 4], genotype=DARTS_V2)
    >>> eval_network_params(**net_args) == sum(p.numel() for p in EvalNetwork(**net_args).parameters())
    True
"""
from __future__ import annotations

import ast
import json
from collections import namedtuple
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)

DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)

#: the cells PaddleSlim's DARTS channel space builds (written out by hand there); SANAS's 3.77M parameter
#: budget and its -11.2% result are counts of this genotype without the auxiliary head
PADDLESLIM_DARTS = Genotype(
    normal=[("dil_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 1), ("skip_connect", 2),
            ("skip_connect", 2), ("dil_conv_5x5", 3), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)


# ---------------------------------------------------------------------------------------------------------
# operations


class ReLUConvBN(nn.Module):
    """ReLU -> Conv -> BatchNorm."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BatchNorm."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in,
                      bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU -> depthwise conv -> pointwise conv -> BatchNorm); only the first has the stride."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` operation: zeros of the (strided) input's shape."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convs whose outputs are concatenated.

    An odd ``C_out`` is split as ``C_out // 2`` and ``C_out - C_out // 2`` channels.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # pad so that odd resolutions give the same output size on both branches
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": lambda C, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest."""
    keep_prob = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep_prob)
    return x / keep_prob * mask


# ---------------------------------------------------------------------------------------------------------
# exact parameter counts


def _bn_params(C: int, affine: bool) -> int:
    return 2 * C if affine else 0


def op_params(name: str, C: int, stride: int, affine: bool = True) -> int:
    """Exact parameter count of ``OPS[name](C, stride, affine)``."""
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; choose one of: {', '.join(PRIMITIVES)}")
    if name in ("none", "max_pool_3x3", "avg_pool_3x3"):
        return 0
    if name == "skip_connect":
        return 0 if stride == 1 else C * C + _bn_params(C, affine)
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return 2 * (C * k * k + C * C) + 2 * _bn_params(C, affine)
    return C * k * k + C * C + _bn_params(C, affine)  # dil_conv


# ---------------------------------------------------------------------------------------------------------
# genotypes


def genotype_to_dict(genotype: Genotype) -> dict[str, list]:
    """JSON-serialisable form of a genotype: ``{"normal": [[op, input], ...], "normal_concat": [...], ...}``."""
    return {
        "normal": [[op, index] for op, index in genotype.normal],
        "normal_concat": list(genotype.normal_concat),
        "reduce": [[op, index] for op, index in genotype.reduce],
        "reduce_concat": list(genotype.reduce_concat),
    }


def _check_edges(edges: Any, field: str) -> list[tuple[str, int]]:
    if not isinstance(edges, (list, tuple)) or len(edges) == 0 or len(edges) % 2:
        raise ValueError(f"genotype {field} must be a non-empty list of (op, input) pairs, two per node")
    out = []
    for position, edge in enumerate(edges):
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            raise ValueError(f"genotype {field}[{position}] must be an (op, input) pair, got {edge!r}")
        op, index = edge
        if op not in PRIMITIVES:
            raise ValueError(f"genotype {field}[{position}] has unknown operation {op!r}; "
                             f"choose one of: {', '.join(PRIMITIVES)}")
        node = position // 2
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < node + 2:
            raise ValueError(f"genotype {field}[{position}] input must be an integer in [0, {node + 1}], "
                             f"got {index!r}")
        out.append((op, index))
    return out


def _check_concat(concat: Any, steps: int, field: str) -> list[int]:
    concat = list(concat) if isinstance(concat, (list, tuple, range)) else None
    if not concat or any(isinstance(i, bool) or not isinstance(i, int) or not 2 <= i < steps + 2 for i in concat):
        raise ValueError(f"genotype {field} must be a non-empty list of node indices in [2, {steps + 1}]")
    return concat


def genotype_from_dict(d: dict[str, Any]) -> Genotype:
    """Inverse of :func:`genotype_to_dict`; checks operation names and node indices."""
    if not isinstance(d, dict) or sorted(d) != sorted(Genotype._fields):
        raise ValueError(f"a genotype needs exactly the fields {', '.join(Genotype._fields)}")
    normal = _check_edges(d["normal"], "normal")
    reduce = _check_edges(d["reduce"], "reduce")
    return Genotype(
        normal=normal,
        normal_concat=_check_concat(d["normal_concat"], len(normal) // 2, "normal_concat"),
        reduce=reduce,
        reduce_concat=_check_concat(d["reduce_concat"], len(reduce) // 2, "reduce_concat"),
    )


def _literal(node: ast.expr) -> Any:
    """A literal, or ``range(...)`` with literal integer arguments; nothing is evaluated."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" \
            and not node.keywords and 1 <= len(node.args) <= 3:
        values = range(*(_literal(a) for a in node.args))
        if len(values) > 64:
            raise ValueError("range too long for a genotype")
        return list(values)
    return ast.literal_eval(node)


def parse_genotype(text: str) -> Genotype:
    """Parse ``str(genotype)`` (``Genotype(normal=[...], normal_concat=range(2, 6), ...)``) or its JSON dict.

    The text is parsed, never evaluated.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            return genotype_from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ValueError(f"genotype is not valid JSON: {e}") from None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError):
        raise ValueError(f"cannot parse genotype {text[:80]!r}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"
            and len(tree.args) + len(tree.keywords) == len(Genotype._fields)):
        raise ValueError(f"expected 'Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)', "
                         f"got {text[:80]!r}")
    fields = dict(zip(Genotype._fields, tree.args))
    for keyword in tree.keywords:
        if keyword.arg not in Genotype._fields or keyword.arg in fields:
            raise ValueError(f"unexpected or repeated genotype field {keyword.arg!r}")
        fields[keyword.arg] = keyword.value
    try:
        values = {name: _literal(node) for name, node in fields.items()}
    except (ValueError, TypeError, SyntaxError):
        raise ValueError(f"genotype fields must be literals or range(...), got {text[:80]!r}") from None
    return genotype_from_dict(values)


# ---------------------------------------------------------------------------------------------------------
# evaluation network with per-cell widths

_CellPlan = namedtuple("_CellPlan", "C_prev_prev C_prev C reduction reduction_prev")


def _plan(cell_widths: Sequence[int], reduction_cells: Sequence[int], genotype: Genotype, in_channels: int,
          num_classes: int, auxiliary: bool, aux_after: int | None,
          stem_channels: int | None) -> tuple[int, list[_CellPlan], int | None, int | None, int]:
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


def eval_network_params(cell_widths: Sequence[int], reduction_cells: Sequence[int], genotype: Genotype = DARTS_V2,
                        in_channels: int = 3, num_classes: int = 10, auxiliary: bool = False,
                        aux_after: int | None = None, stem_channels: int | None = None) -> int:
    """Exact parameter count of ``EvalNetwork`` with the same arguments, auxiliary head included when built."""
    stem, cells, _, C_aux, C_last = _plan(cell_widths, reduction_cells, genotype, in_channels, num_classes,
                                          auxiliary, aux_after, stem_channels)
    total = in_channels * stem * 9 + 2 * stem
    total += sum(_cell_params(genotype, plan) for plan in cells)
    if C_aux is not None:
        total += _aux_params(C_aux, num_classes)
    return total + C_last * num_classes + num_classes


class Cell(nn.Module):
    """A cell of a fixed genotype: two preprocessed inputs, nodes that each sum two operations."""

    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C)
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
            for op, index in ((self._ops[2 * i], self._indices[2 * i]),
                              (self._ops[2 * i + 1], self._indices[2 * i + 1])):
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

    def __init__(self, cell_widths: Sequence[int], reduction_cells: Sequence[int], genotype: Genotype = DARTS_V2,
                 in_channels: int = 3, num_classes: int = 10, auxiliary: bool = False, aux_after: int | None = None,
                 stem_channels: int | None = None):
        super().__init__()
        stem, plans, self._aux_after, C_aux, C_last = _plan(cell_widths, reduction_cells, genotype, in_channels,
                                                            num_classes, auxiliary, aux_after, stem_channels)
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


# ---------------------------------------------------------------------------------------------------------
# search supernet


class MixedOp(nn.Module):
    """All primitives on one edge, summed with the edge's architecture weights."""

    def __init__(self, C: int, stride: int):
        super().__init__()
        self._ops = nn.ModuleList()
        for primitive in PRIMITIVES:
            op = OPS[primitive](C, stride, False)
            if "pool" in primitive:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self._ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class SearchCell(nn.Module):
    """A search cell: every node takes a mixed op from every earlier state."""

    def __init__(self, steps: int, multiplier: int, C_prev_prev: int, C_prev: int, C: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList(MixedOp(C, 2 if reduction and j < 2 else 1)
                                  for i in range(steps) for j in range(2 + i))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier:], dim=1)


class SearchNetwork(nn.Module):
    """The DARTS supernet: ``layers`` search cells, reductions at 1/3 and 2/3 of the depth.

    The architecture weights ``alphas_normal`` and ``alphas_reduce`` (one row per edge, one column per
    primitive) are parameters of the module: optimise :meth:`weight_parameters` and :meth:`arch_parameters`
    with separate optimizers.
    """

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, steps: int = 4, multiplier: int = 4,
                 stem_multiplier: int = 3, in_channels: int = 3):
        super().__init__()
        self._steps = steps
        self._multiplier = multiplier
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr),
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(SearchCell(steps, multiplier, C_prev_prev, C_prev, C_curr, reduction,
                                         reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        k = sum(2 + i for i in range(steps))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights ``[alphas_normal, alphas_reduce]``."""
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        """All parameters except the architecture weights."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        normal = F.softmax(self.alphas_normal, dim=-1)
        reduce = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> Genotype:
        """Per node, the 2 incoming edges with the strongest non-none weight, each with its best non-none op."""
        none = PRIMITIVES.index("none")

        def parse(weights: torch.Tensor) -> list[tuple[str, int]]:
            weights = weights.clone()
            weights[:, none] = float("-inf")
            gene, start = [], 0
            for i in range(self._steps):
                w = weights[start:start + i + 2]
                best, ops = w.max(dim=1)
                for j in sorted(range(i + 2), key=lambda j: -best[j].item())[:2]:
                    gene.append((PRIMITIVES[ops[j].item()], j))
                start += i + 2
            return gene

        with torch.no_grad():
            normal = parse(F.softmax(self.alphas_normal, dim=-1))
            reduce = parse(F.softmax(self.alphas_reduce, dim=-1))
        concat = list(range(2 + self._steps - self._multiplier, self._steps + 2))
        return Genotype(normal=normal, normal_concat=concat, reduce=reduce, reduce_concat=concat)
