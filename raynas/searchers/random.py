"""Uniform random sampling under the budget: the baseline every searcher must beat."""

from __future__ import annotations

from raynas.searchers.base import Tokens, TokenSearcher


class RandomSearcher(TokenSearcher):
    """Draws architectures uniformly at random from those inside the budget.

    Under a budget that leaves only a small corner of the space, draws are repaired towards the budget
    (see :meth:`TokenSearcher.random_feasible`) and so are no longer uniform.
    """

    def propose(self) -> Tokens:
        return self.random_feasible()
