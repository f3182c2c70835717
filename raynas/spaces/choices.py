"""Labelled choices inside any torch module, and the :class:`ModelSpace` that searches them.

A user writes an ordinary ``nn.Module`` and marks its open decisions with :class:`LayerChoice` (pick one of
several candidate modules) and :class:`InputChoice` (pick ``k`` of ``n`` incoming tensors), with NNI's
semantics. :class:`ModelSpace` turns the model, or a factory returning it, into a token
:class:`~raynas.spaces.base.SearchSpace`, so every searcher searches it unchanged. The same model is also a
single-path supernet: :meth:`ModelSpace.set_path` selects the candidates the next ``forward`` follows.

Public names that other algorithms build on (kept stable): :class:`Choice` (base of both choices, with
``label``, :meth:`Choice.options` and the ``active`` path), :class:`LayerChoice` (``candidates``, a
``ModuleDict`` keyed by :attr:`LayerChoice.names`), :class:`InputChoice` (``n_candidates``, ``n_chosen``,
``reduction``, :meth:`InputChoice.reduce`), :func:`named_choices` (every choice of a model with its label, in
definition order) and :class:`ModelSpace`.

Example:
    >>> from torch import nn
    >>> def factory(in_channels=1, num_classes=10):
    ...     return nn.Sequential(
    ...         LayerChoice({"conv3": nn.Conv2d(in_channels, 4, 3, padding=1),
    ...                      "conv5": nn.Conv2d(in_channels, 4, 5, padding=2)}, label="stem"),
    ...         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
    >>> space = ModelSpace(factory, input_shape=(1, 8, 8))
    >>> space.labels(), space.choices()
    (['stem'], [['conv3', 'conv5']])
    >>> space.num_params([1]) == sum(p.numel() for p in space.build([1]).parameters())
    True
    >>> any(isinstance(m, Choice) for m in space.build([1]).modules())
    False
"""

from __future__ import annotations

import copy
import importlib
import itertools
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from raynas.spaces.base import SearchSpace, digest

REDUCTIONS = ("sum", "mean", "concat")
#: most options one choice may have: an InputChoice lists its subsets, and a token indexes them
MAX_OPTIONS = 100_000


class NoPathSet(RuntimeError):
    """A choice ran in ``forward`` without a path: a supernet without ``set_path``, or a built network whose
    forward still reaches a choice through a reference ``build`` did not replace."""

    def __init__(self, choice: Choice):
        self.kind, self.label = choice.kind, choice.label
        super().__init__(
            f"{choice.kind} {choice.label!r} has no path set; call ModelSpace.set_path(model, tokens) "
            "before forward, or build a fixed network with ModelSpace.build"
        )


class Choice(nn.Module):
    """Base of the labelled choices: a label, the list of options, and the option the path selects.

    ``active`` is the index into :meth:`options` that ``forward`` follows (set by :meth:`ModelSpace.set_path`);
    ``None`` means no path was set and ``forward`` raises.
    """

    kind = "Choice"

    def __init__(self, label: str | None):
        super().__init__()
        self.label = None if label is None else str(label)  # labels are JSON keys: 0 and "0" alike
        self.active: int | None = None
        self._checking = False  # set during ModelSpace's dry run: every candidate runs and shapes are compared
        self._ran = False  # set when the dry run reaches this choice

    def options(self) -> list[Any]:
        """The values a token of this choice indexes."""
        raise NotImplementedError

    def option_names(self) -> list[str]:
        """A readable name of each option, for tables and plots (:meth:`options` stay what tokens index)."""
        raise NotImplementedError

    def _index(self) -> int:
        if self.active is None:
            raise NoPathSet(self)
        return self.active

    def _disagree(self, shapes: list[Any], what: str) -> ValueError:
        return ValueError(
            f"{self.kind} {self.label!r}: {what} disagree on output shape on a sample input "
            f"({', '.join(str(s) for s in shapes)}); every candidate must give the same shape"
        )


class LayerChoice(Choice):
    """Choose one candidate module.

    Args:
        candidates: a list of modules (options are their indices) or a ``name -> module`` mapping (options
            are the names).
        label: the decision's name; defaults to the module's path in the model.
    """

    kind = "LayerChoice"

    def __init__(self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module], label: str | None = None):
        super().__init__(label)
        self.named = isinstance(candidates, Mapping)
        items = (
            list(candidates.items())
            if isinstance(candidates, Mapping)
            else [(str(i), m) for i, m in enumerate(candidates)]
        )
        if not items:
            raise ValueError(f"LayerChoice {label!r} has an empty candidate list; give at least one module")
        for name, module in items:
            if not isinstance(module, nn.Module):
                raise ValueError(
                    f"LayerChoice {label!r}: candidate {name!r} is a {type(module).__name__}, not a torch.nn.Module"
                )
        self.names = [str(name) for name, _ in items]
        twice = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice:
            raise ValueError(
                f"LayerChoice {label!r}: two candidates are named {twice[0]!r} (names are compared as "
                "text, so 1 and '1' are the same); give each candidate its own name"
            )
        for name in self.names:
            if not name or "." in name:
                raise ValueError(
                    f"LayerChoice {label!r}: candidate name {name!r} cannot name a torch module "
                    "(empty, or has a '.'); rename it, e.g. 'conv3x3'"
                )
        try:
            self.candidates = nn.ModuleDict(dict(zip(self.names, (module for _, module in items))))
        except KeyError as exc:  # a name torch reserves, e.g. 'training'
            raise ValueError(f"LayerChoice {label!r}: {exc.args[0]}; rename that candidate") from None

    def options(self) -> list[Any]:
        return list(self.names) if self.named else list(range(len(self.names)))

    def option_names(self) -> list[str]:
        """The candidates' names; candidates given as a list: their class names, numbered where two share one.

        Example:
            >>> LayerChoice([nn.ReLU(), nn.Tanh(), nn.Tanh()]).option_names()
            ['ReLU', 'Tanh 1', 'Tanh 2']
        """
        if self.named:
            return list(self.names)
        classes = [type(m).__name__ for m in self]
        return [c if classes.count(c) == 1 else f"{c} {i}" for i, c in enumerate(classes)]

    # NNI's container interface: the candidates by position or name, their number, and iteration over them
    def __getitem__(self, key: int | str) -> nn.Module:
        return self.candidates[key] if isinstance(key, str) else self.candidates[self.names[key]]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.candidates.values())

    def chosen(self) -> nn.Module:
        """The candidate the current path selects."""
        return self.candidates[self.names[self._index()]]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._checking:
            self._ran = True
            outs = [self._try(name, m, *args, **kwargs) for name, m in self.candidates.items()]
            shapes = [_shape(o) for o in outs]
            if any(s != shapes[0] for s in shapes):
                raise self._disagree([f"{n}: {s}" for n, s in zip(self.names, shapes)], "candidates")
            return outs[0]
        return self.chosen()(*args, **kwargs)

    def _try(self, name: str, module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        """``module(*args, **kwargs)`` in the dry run; an exception becomes one line naming the candidate."""
        try:
            return module(*args, **kwargs)
        except Exception as exc:  # any error of user code: say where it is
            raise ValueError(
                f"LayerChoice {self.label!r}: candidate {name!r} fails on a sample input "
                f"({_first_line(exc)}); fix the candidate so that every one takes the same "
                "input"
            ) from exc


class InputChoice(Choice):
    """Choose ``n_chosen`` of ``n_candidates`` input tensors and reduce them.

    ``forward(inputs)`` takes the list of all candidate tensors. Options are the ``n_chosen``-subsets in
    lexicographic order, each a sorted list of indices, or of names when ``candidate_names`` are given.

    Args:
        n_candidates: number of incoming tensors (or give ``candidate_names``).
        n_chosen: how many are chosen.
        reduction: ``"sum"``, ``"mean"`` or ``"concat"`` (along dimension 1) of the chosen tensors.
        label: the decision's name; defaults to the module's path in the model.
        candidate_names: optional names of the inputs, e.g. ``["layer1", "layer2", "layer3"]``.
    """

    kind = "InputChoice"

    def __init__(
        self,
        n_candidates: int | None = None,
        n_chosen: int = 1,
        reduction: str = "sum",
        label: str | None = None,
        candidate_names: Sequence[str] | None = None,
    ):
        super().__init__(label)
        if candidate_names is not None:
            candidate_names = [str(n) for n in candidate_names]
            twice = sorted({n for n in candidate_names if candidate_names.count(n) > 1})
            if twice:
                raise ValueError(
                    f"InputChoice {label!r}: candidate name {twice[0]!r} appears twice; give each input its own name"
                )
            if n_candidates is not None and n_candidates != len(candidate_names):
                raise ValueError(
                    f"InputChoice {label!r}: n_candidates={n_candidates} but {len(candidate_names)} candidate_names"
                )
            n_candidates = len(candidate_names)
        if not n_candidates or n_candidates < 1:
            raise ValueError(f"InputChoice {label!r} has no candidates; set n_candidates >= 1")
        if not isinstance(n_chosen, int) or isinstance(n_chosen, bool) or not 1 <= n_chosen <= n_candidates:
            unsupported = "; any number of inputs (None) is not supported" if n_chosen is None else ""
            raise ValueError(
                f"InputChoice {label!r}: n_chosen must be a whole number in [1, {n_candidates}], got "
                f"{n_chosen!r}{unsupported}"
            )
        if reduction not in REDUCTIONS:
            raise ValueError(f"InputChoice {label!r}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        subsets = math.comb(n_candidates, n_chosen)
        if subsets > MAX_OPTIONS:
            raise ValueError(
                f"InputChoice {label!r}: choosing {n_chosen} of {n_candidates} inputs gives {subsets:,} "
                f"options, more than the {MAX_OPTIONS:,} one choice can hold; choose fewer inputs, or "
                "split the choice into several"
            )
        self.n_candidates, self.n_chosen, self.reduction = n_candidates, n_chosen, reduction
        self.candidate_names = candidate_names
        self.subsets = list(itertools.combinations(range(n_candidates), n_chosen))

    def options(self) -> list[Any]:
        names = self.candidate_names
        return [[names[i] for i in s] if names else list(s) for s in self.subsets]

    def input_names(self) -> list[str]:
        """The inputs' names: ``candidate_names``, else ``in0``, ``in1``, ..."""
        return list(self.candidate_names or [f"in{i}" for i in range(self.n_candidates)])

    def option_names(self) -> list[str]:
        """Each option's chosen inputs joined by ``+``.

        Example:
            >>> InputChoice(3, n_chosen=2).option_names()
            ['in0+in1', 'in0+in2', 'in1+in2']
        """
        names = self.input_names()
        return ["+".join(names[i] for i in subset) for subset in self.subsets]

    def reduce(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        """Combine chosen tensors with this choice's reduction."""
        return _reduce(tensors, self.reduction)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice {self.label!r} expects {self.n_candidates} inputs, got {len(inputs)}")
        if self._checking:
            self._ran = True
            shapes = [_shape(t) for t in inputs]
            if any(s != shapes[0] for s in shapes):
                raise self._disagree(shapes, "candidate inputs")
            return self.reduce([inputs[i] for i in self.subsets[0]])
        return self.reduce([inputs[i] for i in self.subsets[self._index()]])


class ChosenInputs(nn.Module):
    """What an :class:`InputChoice` becomes in a fixed network: select fixed inputs and reduce them."""

    def __init__(self, indices: Sequence[int], reduction: str):
        super().__init__()
        self.indices, self.reduction = list(indices), reduction

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return _reduce([inputs[i] for i in self.indices], self.reduction)

    def extra_repr(self) -> str:
        return f"indices={self.indices}, reduction={self.reduction!r}"


def _reduce(tensors: Sequence[torch.Tensor], reduction: str) -> torch.Tensor:
    if reduction == "concat":
        return torch.cat(list(tensors), dim=1)
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    return total / len(tensors) if reduction == "mean" else total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _shape(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return tuple(_shape(o) for o in out)
    return type(out).__name__


def named_choices(model: nn.Module) -> list[tuple[str, Choice]]:
    """Every choice in ``model`` with its label, in definition order.

    An unlabelled choice is labelled with its module path. Duplicate labels, one choice object at two places
    of the model and choices nested inside another choice's candidates are errors naming the label.
    """
    found: list[tuple[str, str, Choice]] = []
    seen: dict[int, str] = {}  # id of a choice -> its first path
    for path, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, Choice):
            if id(module) in seen:
                raise ValueError(
                    f"{module.kind} {module.label!r} sits at two places in the model "
                    f"({seen[id(module)]!r} and {path!r}); create one {module.kind} per place"
                )
            seen[id(module)] = path
            label = module.label or path or type(module).__name__
            module.label = label
            outer = next((lab for p, lab, _ in found if p == "" or path.startswith(p + ".")), None)
            if outer is not None:
                raise ValueError(
                    f"{module.kind} {label!r} is nested inside choice {outer!r}; nested choices "
                    "are not supported, lift it out or merge the decisions"
                )
            if any(lab == label for _, lab, _ in found):
                raise ValueError(f"duplicate choice label {label!r}; every LayerChoice/InputChoice needs its own")
            found.append((path, label, module))
    return [(label, module) for _, label, module in found]


def check_labels(labels: Sequence[str]) -> None:
    """Raise if a label is the name of a results column (its own column would collide with it)."""
    from raynas.results import RESERVED_LABELS  # imported when needed: it loads pandas

    clash = next((label for label in labels if label in RESERVED_LABELS), None)
    if clash is not None:
        raise ValueError(
            f"choice label {clash!r} is the name of a results column; rename it (reserved: "
            f"{', '.join(RESERVED_LABELS)})"
        )


def _fixed_parameters(model: nn.Module) -> dict[int, nn.Parameter]:
    """The parameters of ``model`` outside every choice, by identity."""
    out: dict[int, nn.Parameter] = {}
    stack, visited = [model], set()
    while stack:
        module = stack.pop()
        if isinstance(module, Choice) or id(module) in visited:
            continue
        visited.add(id(module))
        out.update((id(p), p) for p in module.parameters(recurse=False))
        stack.extend(module.children())
    return out


def _check_unshared(model: nn.Module, choices: Sequence[tuple[str, Choice]]) -> None:
    """Raise if a parameter is reachable from two choices, or from a choice and the fixed part of ``model``."""
    names = {id(p): n for n, p in model.named_parameters()}
    owner = {i: "the fixed part of the model" for i in _fixed_parameters(model)}
    for label, choice in choices:
        for p in choice.parameters():
            other = owner.setdefault(id(p), f"{choice.kind} {label!r}")
            if other != f"{choice.kind} {label!r}":
                raise ValueError(
                    f"{choice.kind} {label!r} shares parameter {names[id(p)]!r} with {other}; give "
                    "each choice its own candidate modules, shared weights make parameter counts wrong"
                )


def _check_not_lazy(model: nn.Module, name: str) -> None:
    """Raise if ``model`` has a lazy module: its parameters are unknown before a forward, so none can be counted."""
    lazy = next(
        (
            (path, m)
            for path, m in model.named_modules()
            if any(nn.parameter.is_lazy(p) for p in m.parameters(recurse=False))
        ),
        None,
    )
    if lazy is not None:
        raise ValueError(
            f"space {name!r}: module {lazy[0]!r} ({type(lazy[1]).__name__}) is lazy, so its "
            "parameters cannot be counted before training; give its input size (e.g. nn.Linear)"
        )


def choice_paths(model: nn.Module) -> list[tuple[str, Choice]]:
    return [(path, m) for path, m in model.named_modules() if isinstance(m, Choice)]


def replace_module(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    if not path:
        return new
    parent, _, attr = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, new)
    return model


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def load_factory(path: str) -> Callable[..., nn.Module]:
    """Import ``"package.module:factory"`` by module path (nothing is evaluated).

    As with ``python -m``, the current folder is searched too, after ``PYTHONPATH``.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"a user space must look like package.module:factory, got {path!r}")
    if module_name == "__main__":  # the running script or notebook: Ray's workers run other programs
        raise ValueError(
            f"space {path!r} is defined in the running script or notebook, which the trials cannot "
            f"import; move it to a module file (my_spaces.py) and pass my_spaces:{attr}"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} of space {path!r} ({exc}); put it on "
            "PYTHONPATH or run from the folder that holds it"
        ) from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
    if not callable(factory):
        raise ValueError(f"module {module_name!r} has no callable {attr!r} (space {path!r})")
    return factory


class ModelSpace(SearchSpace):
    """A :class:`SearchSpace` over the labelled choices of a model.

    Args:
        model: an ``nn.Module`` holding choices, or a factory returning one (called with ``factory_kwargs``).
            Only a factory can build fresh networks for retraining; a module is deep-copied instead.
        factory_kwargs: keyword arguments of the factory.
        input_shape: shape of one input sample, e.g. ``(1, 8, 8)``; when given, one dry run checks that
            every choice's candidates agree on output shape.
        name: the space's name; ``"package.module:factory"`` makes it recreatable with
            ``raynas.spaces.get(name, **space.kwargs())`` in any process.
    """

    def __init__(
        self,
        model: nn.Module | Callable[..., nn.Module],
        factory_kwargs: dict[str, Any] | None = None,
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
    ):
        self.factory_kwargs = dict(factory_kwargs or {})
        self.factory = None if isinstance(model, nn.Module) else model
        self.template = model if isinstance(model, nn.Module) else self._call_factory(model)
        self.input_shape = list(input_shape) if input_shape is not None else None
        self.name = name or getattr(self, "name", "") or type(self.template).__name__
        self._choices = named_choices(self.template)
        if not self._choices:
            raise ValueError(f"space {self.name!r} has no LayerChoice or InputChoice; nothing to search")
        check_labels(self.labels())
        _check_unshared(self.template, self._choices)
        _check_not_lazy(self.template, self.name)
        # with no parameter shared across choices or with the fixed part, a network's count is additive
        self._candidate_params: list[list[int]] = [
            [_count(m) for m in choice.candidates.values()]
            if isinstance(choice, LayerChoice)
            else [0] * len(choice.options())
            for _, choice in self._choices
        ]
        self._fixed_params = sum(p.numel() for p in _fixed_parameters(self.template).values())
        if self.input_shape is not None:
            self._dry_run(self.input_shape)

    def _call_factory(self, factory: Callable[..., nn.Module]) -> nn.Module:
        model = factory(**self.factory_kwargs)
        if not isinstance(model, nn.Module):
            raise ValueError(f"space factory {factory!r} returned a {type(model).__name__}, not an nn.Module")
        return model

    def _dry_run(self, input_shape: Sequence[int]) -> None:
        """Run every candidate of every choice once on a sample input; disagreeing shapes raise."""
        model = self.template
        was_training, state = model.training, {k: v.clone() for k, v in model.state_dict().items()}
        for _, choice in self._choices:
            choice._checking, choice._ran = True, False
        try:
            out = self._sample_forward(input_shape, training=False)
            if not all(choice._ran for _, choice in self._choices):  # e.g. an auxiliary head: run while training
                self._sample_forward(input_shape, training=True)
        finally:
            for _, choice in self._choices:
                choice._checking = False
            model.train(was_training)
            model.load_state_dict(state)  # batch norm's running statistics, as they were
        self._check_built(input_shape)
        unused = [choice for _, choice in self._choices if not choice._ran]
        if unused:
            raise ValueError(
                f"space {self.name!r}: {unused[0].kind} {unused[0].label!r} is never called in the "
                "model's forward, so its choice would change nothing; call it in forward or remove it"
            )
        classes = self.factory_kwargs.get("num_classes")
        if classes is not None and (not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, classes)):
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
            raise ValueError(
                f"space {self.name!r} returns {got} for 2 samples, not their logits of shape (2, "
                f"{classes}); end the model in one score per class (num_classes={classes})"
            )

    def _check_built(self, input_shape: Sequence[int]) -> None:
        """A network built from the template must not reach a choice any more: one held by a plain list, dict
        or a second attribute stays in forward when ``build`` swaps in the chosen candidate."""
        net = self.fix(copy.deepcopy(self.template), self.init_tokens()).eval()
        try:
            with torch.no_grad():
                net(torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0)))
        except NoPathSet as exc:
            raise ValueError(
                f"space {self.name!r}: forward reaches {exc.kind} {exc.label!r} through a reference a "
                "built network cannot swap (a plain list, tuple or dict holding it, or a second "
                "attribute); hold choices in nn.ModuleList or nn.ModuleDict, or one attribute each"
            ) from None

    def _sample_forward(self, input_shape: Sequence[int], training: bool) -> Any:
        """The template's output for 2 random samples, in training or evaluation mode."""
        self.template.train(training)
        try:
            with torch.no_grad():
                return self.template(torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0)))
        except ValueError:
            raise
        except Exception as exc:  # outside every choice: the fixed part, or the input shape
            raise ValueError(
                f"space {self.name!r} fails on a sample input of shape {tuple(input_shape)} "
                f"({_first_line(exc)}); check the model's forward and its in_channels"
            ) from exc

    # -- SearchSpace ------------------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return [label for label, _ in self._choices]

    def choices(self) -> list[list[Any]]:
        return [choice.options() for _, choice in self._choices]

    def named_choices(self) -> list[tuple[str, Choice]]:
        """The template's choices with their labels, in definition order."""
        return list(self._choices)

    def option_names(self) -> list[list[str]]:
        """Per label, a readable name of each option (see :meth:`Choice.option_names`)."""
        return [choice.option_names() for _, choice in self._choices]

    def init_tokens(self) -> list[int]:
        return [0] * len(self._choices)

    def num_params(self, tokens: Sequence[int]) -> int:
        tokens = self.validate(tokens)
        return self._fixed_params + sum(c[t] for c, t in zip(self._candidate_params, tokens))

    def fingerprint(self) -> str:
        """A digest of the parameter counts of the fixed part and of every candidate."""
        return digest([self._fixed_params, self._candidate_params])

    def params_range(self) -> tuple[int, int]:
        return (
            self._fixed_params + sum(min(c) for c in self._candidate_params),
            self._fixed_params + sum(max(c) for c in self._candidate_params),
        )

    def kwargs(self) -> dict[str, Any]:
        return {**self.factory_kwargs, **({"input_shape": self.input_shape} if self.input_shape else {})}

    def fresh(self) -> nn.Module:
        """A new model with every choice (from the factory, so initialised by torch's current RNG)."""
        if self.factory is None:
            return copy.deepcopy(self.template)
        model = self._call_factory(self.factory)
        if model is self.template:  # a memoised factory: building a network would change the space's own model
            raise ValueError(
                f"space factory {self.factory.__qualname__} returned the same model object on a second "
                "call; make it build a new model on every call"
            )
        return model

    def build(self, tokens: Sequence[int], supernet_state: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
        """A plain network with the chosen candidates and no choice modules left.

        With ``supernet_state`` (a supernet's ``state_dict``) the network gets the supernet's weights for
        that path; BatchNorm affine parameters, absent from an SPOS supernet, stay at 1 and 0.
        """
        tokens = self.validate(tokens)
        net = self.fix(self.fresh(), tokens)
        if supernet_state is not None:
            missing, unexpected = net.load_state_dict(self.subnet_state(supernet_state, tokens), strict=False)
            affine = {
                f"{p}.{n}"
                for p, m in net.named_modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for n in ("weight", "bias")
            }
            if unexpected or set(missing) - affine:
                raise ValueError(
                    f"supernet weights do not fit space {self.name!r}: missing "
                    f"{sorted(set(missing) - affine)[:3]}, unexpected {unexpected[:3]}"
                )
        return net

    def fix(self, model: nn.Module, tokens: Sequence[int]) -> nn.Module:
        """Replace every choice of ``model`` (in place) by what ``tokens`` choose; returns the model."""
        tokens = self.validate(tokens)
        for (path, choice), t in zip(choice_paths(model), tokens):
            if isinstance(choice, LayerChoice):
                new = choice.candidates[choice.names[t]]
            else:
                assert isinstance(choice, InputChoice)  # the other kind of choice
                new = ChosenInputs(choice.subsets[t], choice.reduction)
            model = replace_module(model, path, new)
        return model

    def subnet_state(self, supernet_state: Mapping[str, torch.Tensor], tokens: Sequence[int]) -> dict:
        """Map a supernet ``state_dict`` to the keys of ``build(tokens)``: chosen candidates only."""
        tokens = self.validate(tokens)
        renames: list[tuple[str, str | None]] = []  # key prefix in the supernet -> prefix in the subnet
        for (path, choice), t in zip(choice_paths(self.template), tokens):
            if isinstance(choice, LayerChoice):
                base = f"{path}." if path else ""
                for i, name in enumerate(choice.names):
                    renames.append((f"{base}candidates.{name}.", base if i == t else None))
        out = {}
        for key, value in supernet_state.items():
            for old, new in renames:
                if key.startswith(old):
                    if new is not None:
                        out[new + key[len(old) :]] = value
                    break
            else:
                out[key] = value
        return out

    # -- supernet -----------------------------------------------------------------------------------------------
    def supernet(self, affine: bool = False) -> nn.Module:
        """A new model holding every candidate; BatchNorm without affine parameters by default (SPOS)."""
        model = self.fresh()
        if not affine:
            for path, module in list(model.named_modules()):
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                    # torch's own class: a user's subclass may take other constructor arguments
                    torch_class = next(c for c in type(module).__mro__ if c.__module__.startswith("torch."))
                    bn = torch_class(
                        module.num_features,
                        eps=module.eps,
                        momentum=module.momentum,
                        affine=False,
                        track_running_stats=module.track_running_stats,
                    )
                    model = replace_module(model, path, bn)
        return model

    @staticmethod
    def set_path(model: nn.Module, tokens: Sequence[int]) -> None:
        """Make the next ``forward`` of ``model`` (a supernet of this space) follow ``tokens``."""
        found = choice_paths(model)
        if len(found) != len(tokens):
            raise ValueError(f"the model has {len(found)} choices but {len(tokens)} tokens were given")
        for (_, choice), t in zip(found, tokens):
            choice.active = int(t)

    def unused_parameters(self, model: nn.Module, tokens: Sequence[int]) -> Iterator[nn.Parameter]:
        """Parameters of ``model`` (a supernet) that the path ``tokens`` does not use."""
        tokens = self.validate(tokens)
        for (_, choice), t in zip(choice_paths(model), tokens):
            if isinstance(choice, LayerChoice):
                used = {id(p) for p in choice.candidates[choice.names[t]].parameters()}
                yield from (p for p in choice.parameters() if id(p) not in used)
