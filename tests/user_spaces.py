"""User-written spaces, imported by module path in tests: models with labelled choices (``user_spaces:tiny``,
``user_spaces:net``) and a token space (``user_spaces:Widths``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raynas.spaces.base import SearchSpace
from raynas.spaces.choices import InputChoice, LayerChoice


def conv_bn(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Tiny(nn.Module):
    """Stem, two searchable conv layers, a searchable skip from any earlier feature map, classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.stem = conv_bn(in_channels, width, 3)
        self.layer1 = LayerChoice(
            {"conv3x3": conv_bn(width, width, 3), "conv5x5": conv_bn(width, width, 5), "identity": nn.Identity()},
            label="layer1",
        )
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


class Net(nn.Module):
    """NNI's example model: two searchable convolutions and a searchable skip connection (in or out)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.conv1 = LayerChoice(
            [nn.Conv2d(in_channels, 6, 3, padding=1), nn.Conv2d(in_channels, 6, 5, padding=2)], label="conv1"
        )
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = LayerChoice([nn.Conv2d(6, 16, 3, padding=1), nn.Conv2d(6, 16, 5, padding=2)], label="conv2")
        self.conv3 = nn.Conv2d(16, 16, 1)
        self.skipconnect = InputChoice(candidate_names=["skip", "none"], n_chosen=1, label="skipconnect")
        self.bn = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x0 = F.relu(self.conv2(x))
        x1 = F.relu(self.conv3(x0))
        x1 = x1 + self.skipconnect([x0, torch.zeros_like(x0)])
        return self.fc(torch.flatten(self.gap(self.bn(x1)), 1))


def net(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return Net(in_channels, num_classes)


def accented(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Labels and choice names as a user writes them in their own language."""
    return nn.Sequential(
        LayerChoice(
            {
                "faltung_3×3": nn.Conv2d(in_channels, 4, 3, padding=1),
                "faltung_5×5": nn.Conv2d(in_channels, 4, 5, padding=2),
            },
            label="schicht_ä",
        ),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, num_classes),
    )


class Widths(SearchSpace):
    """A token space written by hand: the widths of two convolutions, counted exactly without building."""

    WIDTHS = [2, 4, 8]

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        self.in_channels, self.num_classes = in_channels, num_classes

    def labels(self) -> list[str]:
        return ["conv1_width", "conv2_width"]

    def choices(self) -> list[list[int]]:
        return [self.WIDTHS, self.WIDTHS]

    def init_tokens(self) -> list[int]:
        return [0, 0]

    def num_params(self, tokens) -> int:
        w1, w2 = (self.WIDTHS[t] for t in self.validate(tokens))
        return (9 * self.in_channels + 1) * w1 + (9 * w1 + 1) * w2 + (w2 + 1) * self.num_classes

    def build(self, tokens) -> nn.Module:
        w1, w2 = (self.WIDTHS[t] for t in self.validate(tokens))
        return nn.Sequential(
            nn.Conv2d(self.in_channels, w1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(w2, self.num_classes),
        )

    def kwargs(self) -> dict:
        return {"in_channels": self.in_channels, "num_classes": self.num_classes}


class NoChoice(Widths):
    """A token space with a position that has nothing to choose from."""

    def choices(self) -> list[list[int]]:
        return [self.WIDTHS, []]


class Scaled(Widths):
    """Widths times ``scale``, an argument only ``--space-kwargs`` gives; it does not override ``kwargs()``."""

    def __init__(self, scale: int, in_channels: int = 1, num_classes: int = 10):
        super().__init__(in_channels, num_classes)
        self.WIDTHS = [w * scale for w in Widths.WIDTHS]

    kwargs = SearchSpace.kwargs  # as a user writes it: not overridden


class Descending(Widths):
    """Widths from the largest down: token 0 is not the smallest network."""

    WIDTHS = [8, 4, 2]


class WrongCount(Widths):
    """A count that disagrees with the network built."""

    def num_params(self, tokens) -> int:
        return 7 * super().num_params(tokens)


class FiveScores(Widths):
    """A network that ends in 5 scores whatever num_classes says."""

    def num_params(self, tokens) -> int:
        return super().num_params(tokens) - 5 * (self.WIDTHS[tokens[1]] + 1)

    def build(self, tokens) -> nn.Module:
        net = super().build(tokens)
        net[-1] = nn.Linear(self.WIDTHS[tokens[1]], 5)
        return net


class JsonChoices(SearchSpace):
    """Choices of every plain JSON kind: a width list that repeats a value, booleans, null and lists."""

    WIDTHS = [4, 4, 8]

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        self.in_channels, self.num_classes = in_channels, num_classes

    def labels(self) -> list[str]:
        return ["width", "batch_norm", "activation", "kernel_stride"]

    def choices(self) -> list[list]:
        return [self.WIDTHS, [False, True], [None, "relu"], [[3, 1], [5, 1], [3, 2]]]

    def init_tokens(self) -> list[int]:
        return [0, 0, 0, 0]

    def num_params(self, tokens) -> int:
        w, bn, _, ks = self.validate(tokens)
        w, (k, _) = self.WIDTHS[w], self.choices()[3][ks]
        return (k * k * self.in_channels + 1) * w + 2 * w * bn + (w + 1) * self.num_classes

    def build(self, tokens) -> nn.Module:
        w, bn, act, ks = self.validate(tokens)
        w, (k, s) = self.WIDTHS[w], self.choices()[3][ks]
        return nn.Sequential(
            nn.Conv2d(self.in_channels, w, k, stride=s, padding=k // 2),
            nn.BatchNorm2d(w) if bn else nn.Identity(),
            nn.ReLU() if act else nn.Identity(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(w, self.num_classes),
        )


def no_choices(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """A model with nothing to search: no LayerChoice or InputChoice."""
    return nn.Sequential(conv_bn(in_channels, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
