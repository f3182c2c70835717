"""Uniform random sampling under the budget: the baseline every searcher must beat."""
from __future__ import annotations

from raynas.searchers.base import Tokens, TokenSearcher


class RandomSearcher(TokenSearcher):
    """Draws architectures uniformly at random from the space (the budget is applied by the base class)."""

    def propose(self) -> Tokens:
        return self.space.random_tokens(self.rng)
