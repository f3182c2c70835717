"""The interface every search space implements.

A search space describes an architecture as a list of integer *tokens*: token ``i`` is an index into
``choices()[i]``, the options of the decision labelled ``labels()[i]``. A space knows the exact number of
parameters of the network the tokens describe without building it, so a parameter budget can be checked
before anything is trained.

Example:
    >>> from raynas import spaces
    >>> space = spaces.get("small_channel")
    >>> tokens = space.init_tokens()
    >>> space.num_params(tokens) == sum(p.numel() for p in space.build(tokens).parameters())
    True
"""

from __future__ import annotations

import abc
import hashlib
import itertools
import json
import numbers
import random
from collections.abc import Sequence
from typing import Any


def digest(value: Any) -> str:
    """SHA-256 of ``value`` as JSON."""
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def canonical(value: Any) -> str:
    """``value`` as JSON text with sorted keys: one form to compare choices by, and what a record holds.

    ``True`` stays apart from ``1``, a tuple matches the list read back, and what JSON cannot hold becomes its repr.

    Example:
        >>> canonical((1, True)), json.loads(canonical({"b": 1, "a": None}))
        ('[1, true]', {'a': None, 'b': 1})
    """
    return json.dumps(value, sort_keys=True, default=repr)


#: spaces of at most this many architectures get an exact :meth:`SearchSpace.params_range` by counting each
EXACT_RANGE = 5_000


class SearchSpace(abc.ABC):
    """Integer-token search space: labels, choices, exact parameter counts, and models."""

    #: registry name of the space
    name: str = ""
    #: the arguments ``raynas.spaces.get`` created a user's token space with (set there, absent otherwise)
    created_with: dict[str, Any]

    @abc.abstractmethod
    def labels(self) -> list[str]:
        """One readable label per token position."""

    @abc.abstractmethod
    def choices(self) -> list[list[Any]]:
        """The options of each position; token ``i`` indexes ``choices()[i]``."""

    @abc.abstractmethod
    def init_tokens(self) -> list[int]:
        """The architecture a search starts from."""

    @abc.abstractmethod
    def num_params(self, tokens: Sequence[int]) -> int:
        """Exact parameter count of ``build(tokens)``, computed without building it."""

    def build(self, tokens: Sequence[int]):
        """Return the ``torch.nn.Module`` the tokens describe."""
        raise NotImplementedError(f"space {self.name!r} has no network to build; it only replays a table")

    def contains(self, tokens: Sequence[int]) -> bool:
        """Whether the (valid) tokens name an architecture of the space; a table may have gaps."""
        return True

    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments that recreate this space with ``raynas.spaces.get(name, **kwargs)`` (by default
        those ``raynas.spaces.get`` created it with)."""
        return dict(getattr(self, "created_with", {}))

    def fingerprint(self) -> str | None:
        """A digest of what, besides the labels and choices, decides the architectures and their scores; a search
        records it and refuses to continue when it changed.

        By default the parameter counts of a few fixed architectures (every position's first choice, every
        position's last, and each position's last alone), so that code changing the networks' sizes (a width,
        a layer) is caught; a table digests its rows, a model its every candidate's count.
        """
        table = self.range_table()
        probes = [[0] * len(table), [n - 1 for n in table]]
        probes += [[n - 1 if j == i else 0 for j, n in enumerate(table)] for i in range(len(table))]
        return digest([self.num_params(tokens) for tokens in probes])

    def range_table(self) -> list[int]:
        """Number of choices per token position."""
        return [len(c) for c in self.choices()]

    def validate(self, tokens: Sequence[int]) -> list[int]:
        """Return ``tokens`` as a list of ints, or raise ``ValueError`` saying what is wrong."""
        table = self.range_table()
        if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__len__"):
            raise ValueError(
                f"tokens for space {self.name!r} must be a list of {len(table)} integers, got {type(tokens).__name__}"
            )
        if len(tokens) != len(table):
            raise ValueError(f"space {self.name!r} takes {len(table)} tokens, got {len(tokens)}")
        out: list[int] = []
        for i, (t, n) in enumerate(zip(tokens, table)):
            if isinstance(t, bool) or not isinstance(t, numbers.Integral):
                raise ValueError(f"token {i} ({self.labels()[i]}) must be an integer in [0, {n - 1}], got {t!r}")
            t = int(t)
            if not 0 <= t < n:
                raise ValueError(f"token {i} ({self.labels()[i]}) must be in [0, {n - 1}], got {t}")
            out.append(t)
        return out

    def to_arch(self, tokens: Sequence[int]) -> dict[str, Any]:
        """Map tokens to a readable ``label -> chosen value`` dict."""
        tokens = self.validate(tokens)
        return {label: opts[t] for label, opts, t in zip(self.labels(), self.choices(), tokens)}

    def from_arch(self, arch: dict[str, Any]) -> list[int]:
        """Inverse of :meth:`to_arch`; a value may be given as the choice itself or its index."""
        labels, choices = self.labels(), self.choices()
        unknown = sorted(set(arch) - set(labels))
        if unknown:
            raise ValueError(f"space {self.name!r} has no label {unknown[0]!r}")
        missing = [lab for lab in labels if lab not in arch]
        if missing:
            raise ValueError(f"architecture for space {self.name!r} is missing label {missing[0]!r}")
        tokens = []
        for label, opts in zip(labels, choices):
            value = arch[label]
            if value in opts:
                tokens.append(opts.index(value))
            else:
                raise ValueError(f"{label} must be one of {opts}, got {value!r}")
        return tokens

    def random_tokens(self, rng: random.Random) -> list[int]:
        """A uniformly random token vector."""
        return [rng.randrange(n) for n in self.range_table()]

    def params_range(self) -> tuple[int, int]:
        """Smallest and largest parameter count in the space.

        Exact for a space of at most :data:`EXACT_RANGE` architectures (every one is counted). Beyond, the
        default changes one position at a time while that makes the network smaller (larger), from every
        position's first (last) choice: exact when each position's best choice does not depend on the others
        (width spaces, whatever the order of their choices); a space where it does overrides this.
        """
        table = self.range_table()
        if self.size() <= EXACT_RANGE:
            counts = [self.num_params(list(t)) for t in itertools.product(*(range(n) for n in table))]
            return min(counts), max(counts)
        return self._descend([0] * len(table), -1), self._descend([n - 1 for n in table], 1)

    def _descend(self, tokens: list[int], sign: int) -> int:
        """The smallest (``sign`` -1) or largest (1) count reached from ``tokens`` by one-position changes."""
        best, table = self.num_params(tokens), self.range_table()
        improved = True
        while improved:
            improved = False
            for i, n in enumerate(table):
                for value in range(n):
                    move = [*tokens[:i], value, *tokens[i + 1 :]]
                    count = self.num_params(move)
                    if sign * (count - best) > 0:
                        tokens, best, improved = move, count, True
        return best

    def size(self) -> int:
        """Number of distinct architectures."""
        total = 1
        for n in self.range_table():
            total *= n
        return total
