"""The mean reward of each value at each token position: a cheap additive model of the rewards seen.

The estimate for ``(position, value)`` is the mean reward of the evaluated architectures holding that value
there, shrunk towards the mean of all of them by ``prior`` pseudo-observations, so a value seen once is
not trusted as much as one seen often. Adding one architecture costs one update per position, whatever the
history's length.

Example:
    >>> means = ChoiceMeans()
    >>> means.add((0, 1), 0.9); means.add((1, 1), 0.7); means.add((0, 1), 0.9)  # a repeat is not counted
    >>> round(means.estimate(0, 0), 3), round(means.estimate(0, 1), 3)
    (0.85, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence


class ChoiceMeans:
    """Per-(position, value) mean rewards, shrunk towards the overall mean."""

    def __init__(self, prior: float = 1.0):
        self.prior = prior
        self.sums: dict[tuple[int, int], list[float]] = {}
        self.total, self.count = 0.0, 0
        self.seen: set[tuple[int, ...]] = set()

    def add(self, tokens: Sequence[int], reward: float) -> None:
        """Count one evaluated architecture (an architecture already counted is ignored)."""
        key = tuple(tokens)
        if key in self.seen:
            return
        self.seen.add(key)
        for position, value in enumerate(key):
            entry = self.sums.setdefault((position, value), [0.0, 0])
            entry[0] += reward
            entry[1] += 1
        self.total += reward
        self.count += 1

    def estimate(self, position: int, value: int) -> float:
        """The shrunk mean reward of ``value`` at ``position`` (0 before anything was added)."""
        if not self.count:
            return 0.0
        total, count = self.sums.get((position, value), (0.0, 0))
        return (total + self.prior * self.total / self.count) / (count + self.prior)

    def gain(self, tokens: Sequence[int], position: int, value: int) -> float:
        """Estimated change of reward when ``tokens[position]`` becomes ``value``."""
        return self.estimate(position, value) - self.estimate(position, tokens[position])
