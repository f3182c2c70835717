"""MnasNet-style block-choice space (like PaddleSlim's SuperMnasnet), written with labelled choices.

Each searchable block is a :class:`~raynas.spaces.choices.LayerChoice` of inverted-residual ops (kernel
{3, 5, 7} x expansion {3, 6}), plus ``"skip"`` (identity) at skippable positions: blocks past a stage's
minimum depth, which keep stride 1 and the stage's width. The default is sized for 8x8 digits or MNIST, so
an epoch of its supernet takes seconds on a CPU.

Example:
    >>> space = MobileSpace()
    >>> space.labels()[:3]
    ['s1_b1', 's1_b2', 's2_b1']
    >>> space.choices()[1]
    ['skip', 'k3_e3', 'k3_e6', 'k5_e3', 'k5_e6', 'k7_e3', 'k7_e6']
    >>> space.num_params(space.init_tokens())
    4562
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from raynas.spaces.choices import LayerChoice, ModelSpace

SKIP = "skip"


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, kxk depthwise (stride), 1x1 project; residual when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.body = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x):
        out = self.body(x)
        return x + out if self.residual else out


class MobileNet(nn.Module):
    """Stem conv, stages of block choices, global average pool, linear classifier."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        stem_width: int = 8,
        widths: Sequence[int] = (8, 16, 24),
        depths: Sequence[int] = (2, 2, 2),
        strides: Sequence[int] = (1, 2, 2),
        min_depths: Sequence[int] = (1, 1, 1),
        kernels: Sequence[int] = (3, 5, 7),
        expansions: Sequence[int] = (3, 6),
    ):
        super().__init__()
        if not len(widths) == len(depths) == len(strides) == len(min_depths):
            raise ValueError("widths, depths, strides and min_depths need one entry per stage each")
        for s, (depth, low) in enumerate(zip(depths, min_depths)):
            if not 1 <= low <= depth:
                raise ValueError(f"stage {s + 1}: min_depth must be in [1, depth={depth}], got {low}")
        for name, values in (
            ("stem_width", [stem_width]),
            ("widths", widths),
            ("strides", strides),
            ("expansions", expansions),
            ("kernels", kernels),
        ):
            if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
                raise ValueError(f"{name} must be positive whole numbers, got {values!r}")
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be odd (a block keeps its input size), got {list(kernels)}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU6(inplace=True),
        )
        blocks, c_in = [], stem_width
        for s, (width, depth, stride, low) in enumerate(zip(widths, depths, strides, min_depths)):
            for b in range(depth):
                ops: dict[str, nn.Module] = {} if b < low else {SKIP: nn.Identity()}
                for k in kernels:
                    for e in expansions:
                        ops[f"k{k}_e{e}"] = InvertedResidual(c_in, width, k, e, stride if b == 0 else 1)
                blocks.append(LayerChoice(ops, label=f"s{s + 1}_b{b + 1}"))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class MobileSpace(ModelSpace):
    """The MnasNet-style space; arguments are those of :class:`MobileNet` plus the sample ``input_shape``.

    A block past a stage's ``min_depths`` is skippable; the first block of a stage changes stride and width.
    """

    name = "mobile"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        stem_width: int = 8,
        widths: Sequence[int] = (8, 16, 24),
        depths: Sequence[int] = (2, 2, 2),
        strides: Sequence[int] = (1, 2, 2),
        min_depths: Sequence[int] = (1, 1, 1),
        kernels: Sequence[int] = (3, 5, 7),
        expansions: Sequence[int] = (3, 6),
        input_shape: Sequence[int] | None = None,
    ):
        args: dict[str, Any] = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            stem_width=stem_width,
            widths=list(widths),
            depths=list(depths),
            strides=list(strides),
            min_depths=list(min_depths),
            kernels=list(kernels),
            expansions=list(expansions),
        )
        super().__init__(MobileNet, factory_kwargs=args, input_shape=input_shape)
