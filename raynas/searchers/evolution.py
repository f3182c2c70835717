"""Regularized evolution (Real et al., 2019, "aging evolution") over tokens.

The first ``population`` architectures are random (inside the budget). After that, each proposal samples
``sample_size`` members of the population, takes the best as parent and mutates each of its positions with
probability ``mutation_prob`` to a different value (at least one position always changes). Every evaluated
child joins the population and the *oldest* member leaves, whatever its reward. A child that was evaluated
already is replaced by an untried one-position neighbour of its parent (a random architecture when there is
none): a converged population would otherwise mutate into known architectures again and again before a new
one comes up, so each proposal costs the same at trial 2,000 as at trial 20.

NNI's defaults are population 100, sample 25, mutation probability 0.05. With fewer evaluations than a few
populations they would spend the whole search on random draws, so when ``num_samples`` is given and small
the population is scaled to a fifth of it (at least 10) and the sample to a quarter of the population.

A trial stopped early by a scheduler (``full=False``) ranks below every completed member.

Example:
    >>> from raynas import spaces
    >>> evo = RegularizedEvolutionSearcher(spaces.get("small_channel"), num_samples=100)
    >>> evo.population_size, evo.sample_size
    (20, 5)
"""

from __future__ import annotations

from typing import Any

from raynas.searchers.base import Option, Tokens, TokenSearcher, auto_int

#: NNI's regularized evolution defaults
POPULATION, SAMPLE, MUTATION_PROB = 100, 25, 0.05


def scaled_sizes(num_samples: int | None) -> tuple[int, int]:
    """Population and sample size for a search of ``num_samples`` evaluations.

    Example:
        >>> scaled_sizes(None), scaled_sizes(50), scaled_sizes(200), scaled_sizes(10_000)
        ((100, 25), (10, 2), (40, 10), (100, 25))
    """
    if num_samples is None:
        return POPULATION, SAMPLE
    population = min(POPULATION, max(10, num_samples // 5))
    return population, max(2, population * SAMPLE // POPULATION)


class RegularizedEvolutionSearcher(TokenSearcher):
    """Aging evolution: tournament selection, per-position mutation, the oldest member dies.

    Args:
        population: population size P (``"auto"`` or ``None``: :func:`scaled_sizes` of ``num_samples``).
        sample_size: tournament size S (``"auto"`` or ``None``: :func:`scaled_sizes`, at most P).
        mutation_prob: probability that each position of the parent is mutated.
        Other arguments: see :class:`TokenSearcher`.
    """

    OPTIONS = (
        Option(
            "population",
            int,
            "auto",
            f"population size P (auto: a fifth of num-samples, 10 to {POPULATION})",
            words=("auto",),
            fits=lambda v: v >= 1,
            must="a whole number of at least 1, or auto",
        ),
        Option(
            "sample_size",
            int,
            "auto",
            "members drawn for each tournament, whose best is the parent (auto: a quarter of the population, "
            "at least 2)",
            words=("auto",),
            fits=lambda v: v >= 1,
            must="a whole number of at least 1, or auto",
        ),
        Option(
            "mutation_prob",
            float,
            MUTATION_PROB,
            "probability that each position of the parent is mutated (one at least always is)",
            fits=lambda v: 0 <= v <= 1,
            must="between 0 and 1",
        ),
    )

    def __init__(
        self,
        space,
        *,
        population: int | str | None = "auto",
        sample_size: int | str | None = "auto",
        mutation_prob: float = MUTATION_PROB,
        **kwargs: Any,
    ):
        super().__init__(space, **kwargs)
        default_p, default_s = scaled_sizes(self.num_samples)
        self.population_size = default_p if population is None else auto_int("population", population, default_p)
        default_s = min(default_s, self.population_size)
        self.sample_size = default_s if sample_size is None else auto_int("sample_size", sample_size, default_s)
        if not 1 <= self.sample_size <= self.population_size:
            raise ValueError(
                f"sample_size must be between 1 and the population ({self.population_size}), got {self.sample_size}"
            )
        if not 0 <= mutation_prob <= 1:
            raise ValueError(f"mutation_prob must be between 0 and 1, got {mutation_prob}")
        self.mutation_prob = mutation_prob
        #: members, oldest first: [tokens, reward, full]
        self.population: list[list[Any]] = []

    def propose(self) -> Tokens:
        if len(self.population) < self.population_size:
            return self.random_feasible()
        contenders = self.rng.sample(self.population, self.sample_size)
        parent = max(contenders, key=lambda m: (m[2], m[1]))[0]
        child = self.mutate(parent, self.mutation_prob)
        if tuple(child) in self.evaluated:  # known already: an untried neighbour of the parent instead
            return self.fresh_neighbour(parent) or self.random_feasible()
        return child

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        self.population.append([list(tokens), reward, full])
        if len(self.population) > self.population_size:
            self.population.pop(0)  # ageing: the oldest leaves

    def _state(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "mutation_prob": self.mutation_prob,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.population = [list(m) for m in state["population"]]
        self.population_size, self.sample_size = state["population_size"], state["sample_size"]
        self.mutation_prob = state["mutation_prob"]
