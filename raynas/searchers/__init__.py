"""Searchers: Ray Tune ``Searcher`` classes that propose token vectors under a parameter budget."""

from __future__ import annotations

from raynas.searchers.base import Option, SearchExhausted, TokenSearcher
from raynas.searchers.evolution import RegularizedEvolutionSearcher
from raynas.searchers.random import RandomSearcher
from raynas.searchers.reinforce import ReinforceSearcher
from raynas.searchers.sa import SimulatedAnnealingSearcher
from raynas.searchers.tpe import TPESearcher
from raynas.settings import use_searchers

#: CLI name -> searcher class
SEARCHERS: dict[str, type[TokenSearcher]] = {
    "sanas": SimulatedAnnealingSearcher,
    "random": RandomSearcher,
    "evolution": RegularizedEvolutionSearcher,
    "tpe": TPESearcher,
    "reinforce": ReinforceSearcher,
}
use_searchers(SEARCHERS)  # settings check the options of each searcher by its declaration

__all__ = [
    "SEARCHERS",
    "Option",
    "RandomSearcher",
    "ReinforceSearcher",
    "RegularizedEvolutionSearcher",
    "SearchExhausted",
    "SimulatedAnnealingSearcher",
    "TPESearcher",
    "TokenSearcher",
]
