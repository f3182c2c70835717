"""Simulated annealing over tokens (the SANAS algorithm).

Each step mutates one uniformly chosen position of the current architecture to a different, uniformly
chosen value. A result better than the current reward is always accepted; a worse one with probability
``exp(reward_scale * (reward - current) / T)``, where ``T = init_temperature * decay ** step``
and ``step`` counts distinct evaluations.

The defaults suit accuracies in [0, 1], where neighbouring architectures differ by about 0.01: T0 = 0.005
keeps worse moves plausible early and rare later. PaddleSlim's T0 = 1 on the same rewards accepts nearly
every move for ~40 steps (a random walk) before turning greedy; on Channel-Bench-Macro both reach the same
quality at 100 evaluations, a third of random's rank fraction (bench/README.md).

Example:
    >>> from raynas import spaces
    >>> sa = SimulatedAnnealingSearcher(spaces.get("small_channel"), max_params=20000, seed=1)
    >>> sa.acceptance_probability(reward=0.90, current=0.91, step=0)  # doctest: +ELLIPSIS
    0.1353...
"""
from __future__ import annotations

import math
from typing import Any

from raynas.searchers.base import Tokens, TokenSearcher


class SimulatedAnnealingSearcher(TokenSearcher):
    """SANAS token mutation with an explicit temperature schedule and reward scale.

    Args:
        init_temperature: T0, in units of the scaled reward.
        decay: T is multiplied by this after every evaluation.
        reward_scale: rewards are multiplied by this before the acceptance test (e.g. 100 for rewards
            given in percent, so the same T0 applies).
        init_tokens: first architecture; the space's ``init_tokens()`` by default (random if over budget).
        Other arguments: see :class:`TokenSearcher`.
    """

    def __init__(self, space, *, init_temperature: float = 0.005, decay: float = 0.97,
                 reward_scale: float = 1.0, init_tokens: list[int] | None = None, **kwargs: Any):
        if init_temperature <= 0 or not 0 < decay <= 1 or reward_scale <= 0:
            raise ValueError("need init_temperature > 0, 0 < decay <= 1 and reward_scale > 0, got "
                             f"{init_temperature}, {decay}, {reward_scale}")
        super().__init__(space, **kwargs)
        self.init_temperature = init_temperature
        self.decay = decay
        self.reward_scale = reward_scale
        self.start_tokens = space.validate(init_tokens if init_tokens is not None else space.init_tokens())
        self.current_tokens: Tokens | None = None
        self.current_reward: float | None = None

    @property
    def step(self) -> int:
        """Number of distinct architectures evaluated so far (a replayed result is not a new step)."""
        return len(self.evaluated)

    def temperature(self, step: int | None = None) -> float:
        """T at ``step`` (the current step by default)."""
        return self.init_temperature * self.decay ** (self.step if step is None else step)

    def acceptance_probability(self, reward: float, current: float, step: int | None = None) -> float:
        """Probability of moving from ``current`` to an architecture scoring ``reward``."""
        delta = self.reward_scale * (reward - current)
        if delta >= 0:
            return 1.0
        temperature = self.temperature(step)
        return math.exp(delta / temperature) if temperature > 0 else 0.0

    def propose(self) -> Tokens:
        if self.current_tokens is not None:
            return self.mutate(self.current_tokens)
        if not self.feasible(self.start_tokens):
            self.start_tokens = self.random_feasible()
        # before the first result arrives, concurrent proposals are mutations of the start
        return list(self.start_tokens) if self.issued == 0 else self.mutate(self.start_tokens)

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        if not full:  # a trial stopped early is a rejected move: never compared with a full reward
            return
        if self.current_reward is None or \
                self.rng.random() < self.acceptance_probability(reward, self.current_reward):
            self.current_tokens, self.current_reward = list(tokens), reward

    def _state(self) -> dict[str, Any]:
        return {"current_tokens": self.current_tokens, "current_reward": self.current_reward,
                "step": self.step, "temperature": self.temperature(), "start_tokens": self.start_tokens,
                "init_temperature": self.init_temperature, "decay": self.decay,
                "reward_scale": self.reward_scale}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.current_tokens, self.current_reward = state["current_tokens"], state["current_reward"]
        self.start_tokens = state["start_tokens"]
        self.init_temperature, self.decay = state["init_temperature"], state["decay"]
        self.reward_scale = state["reward_scale"]
