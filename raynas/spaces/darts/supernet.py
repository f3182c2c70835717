"""The DARTS search supernet: every edge a softmax(alpha)-weighted mix of all primitives.

Example:
    >>> net = SearchNetwork(C=4, layers=3, steps=2, in_channels=1)
    >>> [tuple(a.shape) for a in net.arch_parameters()]
    [(5, 8), (5, 8)]
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from raynas.spaces.darts.genotypes import Genotype
from raynas.spaces.darts.operations import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN


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

    def __init__(
        self, steps: int, multiplier: int, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList(
            MixedOp(C, 2 if reduction and j < 2 else 1) for i in range(steps) for j in range(2 + i)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier :], dim=1)


class SearchNetwork(nn.Module):
    """The DARTS supernet: ``layers`` search cells of ``steps`` nodes, reductions at 1/3 and 2/3 of the depth.

    ``C`` is the node width of the first cells (doubled at each reduction); a cell outputs its last
    ``multiplier`` nodes (default: all ``steps``). The architecture weights ``alphas_normal`` and
    ``alphas_reduce`` (one row per edge, one column per primitive, initialised ``1e-3 * randn``) are kept apart
    from the weights: optimise :meth:`weight_parameters` and :meth:`arch_parameters` with separate optimizers.
    :meth:`genotype` and :meth:`arch_weights` export the choice and the softmaxed weights.
    """

    def __init__(
        self,
        C: int = 16,
        num_classes: int = 10,
        layers: int = 8,
        steps: int = 4,
        multiplier: int | None = None,
        stem_multiplier: int = 3,
        in_channels: int = 3,
    ):
        super().__init__()
        multiplier = steps if multiplier is None else multiplier
        for name, value, low in (
            ("C", C, 1),
            ("layers", layers, 1),
            ("steps", steps, 1),
            ("num_classes", num_classes, 1),
            ("in_channels", in_channels, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} of the DARTS supernet must be an integer >= {low}, got {value!r}")
        if not 1 <= multiplier <= steps:
            raise ValueError(f"multiplier must be in [1, steps={steps}], got {multiplier}")
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
            self.cells.append(SearchCell(steps, multiplier, C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
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

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """The softmaxed architecture weights, ``{"normal": (edges, primitives), "reduce": ...}``."""
        with torch.no_grad():
            return {
                "normal": F.softmax(self.alphas_normal, dim=-1).detach().cpu(),
                "reduce": F.softmax(self.alphas_reduce, dim=-1).detach().cpu(),
            }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        normal = F.softmax(self.alphas_normal, dim=-1)
        reduce = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> Genotype:
        """Per node, the 2 incoming edges with the strongest non-none weight, each with its best non-none op."""
        weights = self.arch_weights()
        concat = list(range(2 + self._steps - self._multiplier, self._steps + 2))
        return Genotype(
            normal=derive_edges(weights["normal"], self._steps),
            normal_concat=concat,
            reduce=derive_edges(weights["reduce"], self._steps),
            reduce_concat=concat,
        )


def derive_edges(weights: torch.Tensor, steps: int) -> list[tuple[str, int]]:
    """The genotype edges of one cell from its softmaxed weights (one row per edge, node by node).

    Example:
        >>> w = torch.zeros(5, len(PRIMITIVES)); w[:, 0] = 1.0  # "none" is strongest everywhere
        >>> w[1, PRIMITIVES.index("sep_conv_3x3")] = 0.5; w[4, PRIMITIVES.index("skip_connect")] = 0.3
        >>> derive_edges(w, steps=2)[2:]
        [('skip_connect', 2), ('max_pool_3x3', 0)]
    """
    weights = weights.clone()
    weights[:, PRIMITIVES.index("none")] = float("-inf")
    gene, start = [], 0
    for i in range(steps):
        best, ops = weights[start : start + i + 2].max(dim=1)
        for j in sorted(range(i + 2), key=lambda j: -best[j].item())[:2]:
            gene.append((PRIMITIVES[int(ops[j])], j))
        start += i + 2
    return gene
