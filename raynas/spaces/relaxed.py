"""The continuous relaxation of any labelled-choice model space, for DARTS.

:class:`RelaxedSupernet` holds a fresh model of a :class:`~raynas.spaces.choices.ModelSpace` in which every
:class:`~raynas.spaces.choices.LayerChoice` is a softmax(α)-weighted sum of its candidates and every
:class:`~raynas.spaces.choices.InputChoice` a softmax(β)-weighted mix of its inputs. The architecture
parameters (one vector per choice, initialised ``1e-3 * randn``) are kept apart from the weights, with the
interface of the DARTS cell supernet: :meth:`~RelaxedSupernet.weight_parameters`,
:meth:`~RelaxedSupernet.arch_parameters`, :meth:`~RelaxedSupernet.arch_weights` (the softmaxed weights) and
:meth:`~RelaxedSupernet.export` (the ``label -> choice`` dict that ``raynas retrain --arch`` accepts: the
strongest candidate of each LayerChoice, the ``n_chosen`` strongest inputs of each InputChoice).

An InputChoice's mix follows its reduction, so that the relaxed output has the fixed network's shape and scale:

- ``mean``: ``sum_i w_i x_i``;
- ``sum``: ``n_chosen * sum_i w_i x_i`` (the sum of ``n_chosen`` inputs);
- ``concat``: with ``n_chosen == n_candidates`` each input scaled by ``n_candidates * w_i`` (uniform weights
  give the plain concatenation), then concatenated; with fewer chosen, inputs of differing weights cannot be
  concatenated into the fixed network's ``n_chosen`` slots, so each slot holds ``sum_i w_i x_i``.

Example:
    >>> from raynas import spaces
    >>> space = spaces.get("mobile", input_shape=[1, 8, 8])
    >>> net = RelaxedSupernet(space)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> sorted(net.export()) == sorted(space.labels())
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raynas.spaces.choices import InputChoice, LayerChoice, ModelSpace, choice_paths, named_choices, replace_module


def candidate_names(space: ModelSpace) -> dict[str, list[str]]:
    """What each weight of :meth:`RelaxedSupernet.arch_weights` weighs, per label: a LayerChoice's candidate
    names (their class names when given as a list), an InputChoice's input names (``in0``, ``in1``, ... when it
    has none).

    Example:
        >>> from raynas import spaces
        >>> candidate_names(spaces.get("mobile", input_shape=[1, 8, 8]))["s1_b2"][:3]
        ['skip', 'k3_e3', 'k3_e6']
    """
    names = {}
    for label, choice in space.named_choices():
        if isinstance(choice, LayerChoice):
            names[label] = choice.option_names()
        else:
            assert isinstance(choice, InputChoice)  # the other kind of choice
            names[label] = choice.input_names()
    return names


class MixedLayer(nn.Module):
    """A relaxed LayerChoice: the softmax(``alpha``)-weighted sum of all candidates' outputs.

    The candidates keep their keys (``candidates.<name>``), so weights map to a fixed network as a LayerChoice's do.
    """

    def __init__(self, choice: LayerChoice):
        super().__init__()
        self.label = choice.label
        self.candidates = choice.candidates
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(choice.names)))

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        weights = F.softmax(self.alpha, dim=-1)
        return sum(w * m(*args, **kwargs) for w, m in zip(weights, self.candidates.values()))

    def token(self) -> int:
        """The strongest candidate."""
        return int(self.alpha.argmax())


class MixedInput(nn.Module):
    """A relaxed InputChoice: a softmax(``alpha``)-weighted mix of its inputs, as the module docstring states."""

    def __init__(self, choice: InputChoice):
        super().__init__()
        self.label, self.n_candidates, self.n_chosen = choice.label, choice.n_candidates, choice.n_chosen
        self.reduction, self.subsets = choice.reduction, list(choice.subsets)
        self.alpha = nn.Parameter(1e-3 * torch.randn(choice.n_candidates))

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        n, k = self.n_candidates, self.n_chosen
        if len(inputs) != n:
            raise ValueError(f"InputChoice {self.label!r} expects {n} inputs, got {len(inputs)}")
        weights = F.softmax(self.alpha, dim=-1)
        if self.reduction == "concat" and k == n:
            return torch.cat([n * w * x for w, x in zip(weights, inputs)], dim=1)
        mix = sum(w * x for w, x in zip(weights, inputs))
        if self.reduction == "sum":
            return k * mix
        return torch.cat([mix] * k, dim=1) if self.reduction == "concat" else mix

    def token(self) -> int:
        """The subset of the ``n_chosen`` strongest inputs, as an index into the choice's options."""
        top = torch.topk(self.alpha.detach(), self.n_chosen).indices.tolist()
        return self.subsets.index(tuple(sorted(top)))


class RelaxedSupernet(nn.Module):
    """A fresh model of ``space`` with every choice relaxed; see the module docstring."""

    def __init__(self, space: ModelSpace):
        super().__init__()
        self.space = space
        model = space.fresh()
        self.mixed: list[MixedLayer | MixedInput] = []
        # labels unlabelled choices by path, as in the space: one label per choice, in choice_paths' order
        self.labels = [label for label, _ in named_choices(model)]
        for path, choice in choice_paths(model):
            mixed: MixedLayer | MixedInput
            if isinstance(choice, LayerChoice):
                mixed = MixedLayer(choice)
            else:
                assert isinstance(choice, InputChoice)  # the other kind of choice
                mixed = MixedInput(choice)
            model = replace_module(model, path, mixed)
            self.mixed.append(mixed)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def arch_parameters(self) -> list[nn.Parameter]:
        """One vector of architecture logits per choice, in the space's label order."""
        return [m.alpha for m in self.mixed]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the architecture's."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_weights(self) -> dict[str, list[float]]:
        """The softmaxed architecture weights of each label."""
        return {label: F.softmax(m.alpha.detach(), dim=-1).tolist() for label, m in zip(self.labels, self.mixed)}

    def tokens(self) -> list[int]:
        """The space's tokens of the strongest choices."""
        return [m.token() for m in self.mixed]

    def export(self) -> dict[str, Any]:
        """The NNI-format ``label -> choice`` dict of the strongest choices."""
        return self.space.to_arch(self.tokens())
