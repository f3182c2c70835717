"""Searchers: Ray Tune ``Searcher`` classes that propose token vectors under a parameter budget."""

from __future__ import annotations

from raynas.searchers.base import SearchExhausted, TokenSearcher
from raynas.searchers.evolution import RegularizedEvolutionSearcher
from raynas.searchers.random import RandomSearcher
from raynas.searchers.sa import SimulatedAnnealingSearcher
from raynas.searchers.tpe import TPESearcher

#: CLI name -> searcher class
SEARCHERS: dict[str, type[TokenSearcher]] = {
    "sanas": SimulatedAnnealingSearcher,
    "random": RandomSearcher,
    "evolution": RegularizedEvolutionSearcher,
    "tpe": TPESearcher,
}

__all__ = [
    "SEARCHERS",
    "RandomSearcher",
    "RegularizedEvolutionSearcher",
    "SearchExhausted",
    "SimulatedAnnealingSearcher",
    "TPESearcher",
    "TokenSearcher",
]
