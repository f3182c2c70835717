"""A user-written model space with labelled choices, imported by module path in tests (``user_spaces:tiny``)."""
from __future__ import annotations

from torch import nn

from raynas.spaces.choices import InputChoice, LayerChoice


def conv_bn(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Tiny(nn.Module):
    """Stem, two searchable conv layers, a searchable skip from any earlier feature map, classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.stem = conv_bn(in_channels, width, 3)
        self.layer1 = LayerChoice({"conv3x3": conv_bn(width, width, 3), "conv5x5": conv_bn(width, width, 5),
                                   "identity": nn.Identity()}, label="layer1")
        self.layer2 = LayerChoice([conv_bn(width, width, 1), conv_bn(width, width, 3)], label="layer2")
        self.skip = InputChoice(3, n_chosen=2, reduction="sum", label="skip")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x):
        x0 = self.stem(x)
        x1 = self.layer1(x0)
        x2 = self.layer2(x1)
        return self.head(self.skip([x0, x1, x2]))


def tiny(in_channels: int = 1, num_classes: int = 10, width: int = 8) -> nn.Module:
    return Tiny(in_channels, num_classes, width)
