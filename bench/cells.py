"""A second space for the one-shot benchmarks, written as a user writes one: an ordinary ``nn.Module`` with labelled
choices (``--space bench.cells:small_cnn``).

A stem, four blocks each choosing a 3x3, 5x5, separable 3x3 or dilated 3x3 convolution or nothing (the second and
fourth halve the resolution after their choice), and a classifier that reads the last block's output or the
third's, pooled to the same resolution (``head``): 5^4 x 2 = 1,250 architectures.
"""

from __future__ import annotations

from torch import nn

from raynas.spaces.choices import InputChoice, LayerChoice


def conv_bn(c_in: int, c_out: int, k: int, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def block(width: int, label: str) -> LayerChoice:
    return LayerChoice(
        {
            "conv3x3": conv_bn(width, width, 3),
            "conv5x5": conv_bn(width, width, 5),
            "sep3x3": nn.Sequential(conv_bn(width, width, 3, groups=width), conv_bn(width, width, 1)),
            "dil3x3": conv_bn(width, width, 3, dilation=2),
            "none": nn.Identity(),
        },
        label=label,
    )


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.stem = conv_bn(in_channels, width, 3)
        self.blocks = nn.ModuleList(block(width, f"block{i + 1}") for i in range(4))
        self.pools = nn.ModuleList(nn.MaxPool2d(2) if i in (1, 3) else nn.Identity() for i in range(4))
        self.head_input = InputChoice(2, n_chosen=1, reduction="sum", label="head")
        self.shortcut = nn.MaxPool2d(2)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x):
        x = self.stem(x)
        outputs = []
        for choice, pool in zip(self.blocks, self.pools):
            x = pool(choice(x))
            outputs.append(x)
        # the last block's output, or the third's brought to its resolution
        return self.classifier(self.head_input([outputs[3], self.shortcut(outputs[2])]))


def small_cnn(in_channels: int = 1, num_classes: int = 10, width: int = 16) -> nn.Module:
    return SmallCNN(in_channels, num_classes, width)
