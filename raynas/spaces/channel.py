"""Token channel spaces: one width choice per layer or cell.

``DartsChannelSpace`` is PaddleSlim's DARTS channel space (20 cells of a fixed genotype, one node width per
cell). ``SmallChannelSpace`` is a four-layer CNN for 8x8 digits or 28x28 MNIST that trains in seconds on a CPU.

Example:
    >>> space = DartsChannelSpace()
    >>> space.num_params(space.init_tokens())
    3825768
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn as nn

from raynas.spaces.base import SearchSpace
from raynas.spaces.darts import (
    DARTS_V2,
    EvalNetwork,
    Genotype,
    eval_network_params,
    genotype_from_dict,
    genotype_to_dict,
    parse_genotype,
)

#: node widths of the DARTS channel space
FILTER_NUM = [4, 8, 12, 16, 20, 36, 54, 72, 90, 108, 144, 180, 216, 252]


class DartsChannelSpace(SearchSpace):
    """``num_cells`` cells of a fixed genotype; token ``i`` picks the node width of cell ``i`` from ``FILTER_NUM``.

    The defaults are SANAS's: 20 cells, cells 6 and 13 are reduction cells, the stem has 108 channels
    (3 x 36, as for DARTS with C=36) and the auxiliary head, when ``auxiliary``, reads the output of the last
    reduction cell (13) and is counted in ``num_params``. A small variant for 8x8 digits, e.g.
    ``num_cells=5, reduction_cells=(1, 3), stem_channels=12``, trains in seconds.
    ``genotype`` may be a ``Genotype``, its ``str()`` form, or a dict from ``genotype_to_dict``.
    """

    name = "darts_channel"

    def __init__(
        self,
        genotype: Genotype | str | dict = DARTS_V2,
        in_channels: int = 3,
        num_classes: int = 10,
        auxiliary: bool = True,
        num_cells: int = 20,
        reduction_cells: Sequence[int] = (6, 13),
        stem_channels: int = 108,
    ):
        if isinstance(genotype, str):
            genotype = parse_genotype(genotype)
        elif isinstance(genotype, dict):
            genotype = genotype_from_dict(genotype)
        else:
            genotype = genotype_from_dict(genotype_to_dict(genotype))
        if isinstance(num_cells, bool) or not isinstance(num_cells, int) or num_cells < 1:
            raise ValueError(f"num_cells must be a positive integer, got {num_cells!r}")
        reduction_cells = tuple(sorted(set(reduction_cells)))
        if any(not 0 <= r < num_cells for r in reduction_cells):
            raise ValueError(f"reduction_cells must be cell indices in [0, {num_cells - 1}], got {reduction_cells}")
        self.genotype = genotype
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.auxiliary = auxiliary
        self.num_cells = num_cells
        self.reduction_cells = reduction_cells
        self.stem_channels = stem_channels
        #: the auxiliary head reads the last reduction cell (cell 13 of 20)
        self.aux_after = max(reduction_cells) if reduction_cells else 2 * num_cells // 3

    def labels(self) -> list[str]:
        return [f"cell_{i:02d}" for i in range(self.num_cells)]

    def choices(self) -> list[list[int]]:
        return [list(FILTER_NUM) for _ in range(self.num_cells)]

    def init_tokens(self) -> list[int]:
        """DARTS's C=36 widths: 36 before the first reduction, 72 from it, 144 from the second on."""
        return [(5, 7, 10)[min(2, sum(r <= i for r in self.reduction_cells))] for i in range(self.num_cells)]

    def network_args(self, tokens: Sequence[int]) -> dict[str, Any]:
        """The ``EvalNetwork`` arguments the tokens describe."""
        return dict(
            cell_widths=[FILTER_NUM[t] for t in self.validate(tokens)],
            reduction_cells=list(self.reduction_cells),
            genotype=self.genotype,
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            auxiliary=self.auxiliary,
            aux_after=self.aux_after,
            stem_channels=self.stem_channels,
        )

    def num_params(self, tokens: Sequence[int]) -> int:
        return eval_network_params(**self.network_args(tokens))

    def build(self, tokens: Sequence[int]) -> EvalNetwork:
        """The network; see ``EvalNetwork`` for what ``forward`` returns in training mode."""
        return EvalNetwork(**self.network_args(tokens))

    def kwargs(self) -> dict[str, Any]:
        return {
            "genotype": genotype_to_dict(self.genotype),
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "auxiliary": self.auxiliary,
            "num_cells": self.num_cells,
            "reduction_cells": list(self.reduction_cells),
            "stem_channels": self.stem_channels,
        }


#: layer widths of the small channel space
WIDTHS = [4, 8, 12, 16, 24, 32, 48, 64]


class SmallChannelSpace(SearchSpace):
    """Four 3x3 conv -> BatchNorm -> ReLU layers (strides 1, 2, 1, 2), global average pool, linear classifier.

    Token ``i`` picks the width of conv layer ``i + 1`` from ``WIDTHS``.
    """

    name = "small_channel"
    strides = (1, 2, 1, 2)

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        self.in_channels = in_channels
        self.num_classes = num_classes

    def labels(self) -> list[str]:
        return [f"conv{i + 1}_width" for i in range(len(self.strides))]

    def choices(self) -> list[list[int]]:
        return [list(WIDTHS) for _ in self.strides]

    def init_tokens(self) -> list[int]:
        return [3, 3, 4, 4]

    def num_params(self, tokens: Sequence[int]) -> int:
        widths = [WIDTHS[t] for t in self.validate(tokens)]
        total, c_in = 0, self.in_channels
        for c_out in widths:
            total += c_in * c_out * 9 + 2 * c_out
            c_in = c_out
        return total + c_in * self.num_classes + self.num_classes

    def build(self, tokens: Sequence[int]) -> nn.Sequential:
        widths = [WIDTHS[t] for t in self.validate(tokens)]
        layers, c_in = [], self.in_channels
        for c_out, stride in zip(widths, self.strides):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, self.num_classes)]
        return nn.Sequential(*layers)

    def kwargs(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "num_classes": self.num_classes}
