"""The ENAS controller: an LSTM policy over a space's token positions, trained by REINFORCE.

One decision per position with more than one choice, in the order of the positions (for a space of labelled
choices: the labels in definition order). Each step feeds the embedding of the previous decision to an
LSTM cell (hidden size 64, as in ENAS and NNI); a linear head per position turns its output into logits over
that position's choices, divided by ``temperature`` and squashed to ``tanh_constant * tanh(.)``.
An ``InputChoice`` choosing k of n is one position whose choices are its k-subsets, as the space lists them:
the controller then works on every token space alike (channel spaces and tables too), and each decision
stays one softmax whose entropy and log-probability are exact.

The policy is trained by REINFORCE: ``-(reward + entropy_weight * entropy - baseline) * log p(arch)``,
averaged over the samples of a step (NNI aggregates 20), with Adam. The baseline is an exponential moving
average of the rewards (it starts at the first step's mean reward rather than at 0, so the first steps do
not push up whatever was sampled). With ``normalize`` the advantage is divided by a moving average of the
rewards' spread, so the step size does not depend on the scale of the reward.

Sampling draws from a ``random.Random`` the caller owns, so a seeded caller samples the same architectures,
and its state (weights, Adam, baseline) round-trips through :meth:`Controller.state` as JSON.

Example:
    >>> import random
    >>> policy = Controller([3, 1, 2], seed=0)
    >>> tokens = policy.sample(random.Random(0))
    >>> len(tokens), tokens[1]
    (3, 0)
    >>> policy.learn([tokens], [1.0])
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

Tokens = list[int]

#: ENAS's controller: LSTM size, initial weight range, Adam learning rate, tanh constant, entropy weight,
#: baseline decay (NNI's ``EnasTrainer`` / ``ReinforceController`` defaults)
HIDDEN, INIT_RANGE, LR, TANH_CONSTANT, ENTROPY_WEIGHT, BASELINE_DECAY = 64, 0.1, 3.5e-4, 1.5, 1e-4, 0.999


class Controller(nn.Module):
    """LSTM policy over token vectors whose position ``i`` takes ``choices[i]`` values.

    Args:
        choices: the number of values of each position (a space's ``range_table()``).
        seed: seed of the initial weights.
        hidden: LSTM hidden size.
        temperature: logits are divided by it before the tanh (``None``: not divided).
        tanh_constant: logits become ``tanh_constant * tanh(logits)`` (``None``: no squashing).
        lr: Adam learning rate.
        entropy_weight: weight of the policy's entropy added to each reward.
        baseline_decay: decay of the rewards' moving average that is subtracted from each reward.
        normalize: divide the advantage by a moving average of the rewards' spread.
    """

    def __init__(
        self,
        choices: Sequence[int],
        seed: int = 0,
        hidden: int = HIDDEN,
        temperature: float | None = None,
        tanh_constant: float | None = TANH_CONSTANT,
        lr: float = LR,
        entropy_weight: float = ENTROPY_WEIGHT,
        baseline_decay: float = BASELINE_DECAY,
        normalize: bool = False,
    ):
        super().__init__()
        if any(n < 1 for n in choices):
            raise ValueError(f"every position needs at least one choice, got {list(choices)}")
        self.choices = list(choices)
        #: the positions the controller decides (none in a space of one architecture: it always gives that one)
        self.decided = [i for i, n in enumerate(self.choices) if n > 1]
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.entropy_weight, self.baseline_decay, self.normalize = entropy_weight, baseline_decay, normalize
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList(nn.Embedding(self.choices[i], hidden) for i in self.decided)
        self.heads = nn.ModuleList(nn.Linear(hidden, self.choices[i]) for i in self.decided)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():  # ENAS: every weight uniform in [-0.1, 0.1]
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * INIT_RANGE - INIT_RANGE)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        self.baseline: float | None = None
        self.spread: float | None = None
        self.steps = 0

    # -- the policy ----------------------------------------------------------------------------------------
    def _logits(self, step: int, h: torch.Tensor) -> torch.Tensor:
        logits = self.heads[step](h)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _walk(self, pick: Callable[[int, torch.Tensor], torch.Tensor], batch: int) -> list[torch.Tensor]:
        """Run the LSTM over the decided positions; ``pick(step, logits)`` gives each step's choices
        (shape ``[batch]``), fed back as the next input. Returns the logits of every step."""
        x = self.start.expand(batch, -1)
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        out = []
        for step in range(len(self.decided)):
            state = self.cell(x, state)
            logits = self._logits(step, state[0])
            out.append(logits)
            x = self.embed[step](pick(step, logits))
        return out

    def probabilities(self, tokens: Sequence[int] | None = None) -> list[list[float]]:
        """The probability of each choice at each position, given the earlier positions of ``tokens``
        (``None``: the policy's most likely path). A position with one choice has ``[1.0]``."""
        chosen = list(tokens) if tokens is not None else self.most_likely()
        with torch.no_grad():
            logits = self._walk(lambda step, _: torch.tensor([chosen[self.decided[step]]]), 1)
        out: list[list[float]] = [[1.0] for _ in self.choices]
        for step, i in enumerate(self.decided):
            out[i] = torch.softmax(logits[step][0], -1).tolist()
        return out

    def most_likely(self) -> Tokens:
        """The path that takes the most likely choice at every step (greedy decoding)."""
        tokens = [0] * len(self.choices)

        def pick(step: int, logits: torch.Tensor) -> torch.Tensor:
            tokens[self.decided[step]] = int(logits[0].argmax())
            return torch.tensor([tokens[self.decided[step]]])

        with torch.no_grad():
            self._walk(pick, 1)
        return tokens

    def sample(
        self, rng: random.Random, feasible: Callable[[Tokens], bool] | None = None, attempts: int = 100
    ) -> Tokens:
        """One architecture drawn from the policy with ``rng``; with ``feasible``, drawn again until it passes
        (reject and resample: ``feasible`` is exact, e.g. a parameter budget), ``attempts`` times at most.

        Raises:
            ValueError: no draw passed ``feasible``.
        """
        for _ in range(attempts):
            tokens = [0] * len(self.choices)

            def pick(step: int, logits: torch.Tensor) -> torch.Tensor:
                probs = torch.softmax(logits[0], -1).tolist()
                u, total, value = rng.random(), 0.0, len(probs) - 1
                for j, p in enumerate(probs):
                    total += p
                    if u < total:
                        value = j
                        break
                tokens[self.decided[step]] = value
                return torch.tensor([value])

            with torch.no_grad():
                self._walk(pick, 1)
            if feasible is None or feasible(tokens):
                return tokens
        raise ValueError(f"no architecture the controller drew in {attempts} draws is inside the budget")

    def log_prob_entropy(self, batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy (summed over the positions) of each architecture of ``batch``."""
        chosen = torch.tensor([[tokens[i] for i in self.decided] for tokens in batch])
        logits = self._walk(lambda step, _: chosen[:, step], len(batch))
        log_prob = torch.zeros(len(batch))
        entropy = torch.zeros(len(batch))
        for step, step_logits in enumerate(logits):
            logp = torch.log_softmax(step_logits, -1)
            log_prob = log_prob + logp.gather(1, chosen[:, step : step + 1]).squeeze(1)
            entropy = entropy - (logp.exp() * logp).sum(-1)
        return log_prob, entropy

    def entropy(self, rng: random.Random, samples: int = 20) -> float:
        """The policy's entropy (nats, summed over positions), estimated from ``samples`` draws."""
        batch = [self.sample(rng) for _ in range(samples)]
        with torch.no_grad():
            return float(self.log_prob_entropy(batch)[1].mean())

    # -- learning ------------------------------------------------------------------------------------------
    def learn(self, batch: Sequence[Sequence[int]], rewards: Sequence[float]) -> float:
        """One REINFORCE step on the architectures of ``batch`` and their rewards (larger is better).
        Returns the step's loss."""
        if len(batch) != len(rewards) or not batch:
            raise ValueError(f"learn takes one reward per architecture, got {len(batch)} and {len(rewards)}")
        mean = sum(rewards) / len(rewards)
        if not self.decided:
            return 0.0
        if self.baseline is None:
            self.baseline = mean
        log_prob, entropy = self.log_prob_entropy(batch)
        rewards_t = torch.tensor(rewards, dtype=torch.float32) + self.entropy_weight * entropy.detach()
        advantage = rewards_t - self.baseline
        if self.normalize:
            deviation = float(advantage.abs().mean())
            self.spread = deviation if self.spread is None else self._moving(self.spread, deviation)
            advantage = advantage / max(self.spread, 1e-8)
        loss = -(advantage * log_prob).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = self._moving(self.baseline, mean)
        self.steps += 1
        return float(loss.detach())

    def _moving(self, average: float, value: float) -> float:
        return self.baseline_decay * average + (1 - self.baseline_decay) * value

    # -- state ---------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Weights, Adam's state, baseline and spread, as JSON-serialisable values."""
        return {
            "choices": self.choices,
            "weights": _plain(self.state_dict()),
            "optimizer": _plain(self.optimizer.state_dict()),
            "baseline": self.baseline,
            "spread": self.spread,
            "steps": self.steps,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` output."""
        if list(state["choices"]) != self.choices:
            raise ValueError(f"controller state is for positions with {state['choices']} choices, not {self.choices}")
        self.load_state_dict(_tensors(state["weights"]))
        self.optimizer.load_state_dict(_tensors(state["optimizer"]))
        self.baseline, self.spread, self.steps = state["baseline"], state["spread"], state["steps"]


def _plain(value: Any) -> Any:
    """Tensors (nested in dicts and lists) as ``{"tensor": values, "dtype": name}``; float32 round-trips exactly."""
    if isinstance(value, torch.Tensor):
        return {"tensor": value.tolist(), "dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape)}
    if isinstance(value, dict):
        return {"keys": [_plain(k) for k in value], "values": [_plain(v) for v in value.values()]}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": str(value)}
    return value


def _tensors(value: Any) -> Any:
    """The inverse of :func:`_plain`."""
    if isinstance(value, dict) and "tensor" in value:
        return torch.tensor(value["tensor"], dtype=getattr(torch, value["dtype"])).reshape(value["shape"])
    if isinstance(value, dict) and "keys" in value:
        return {_tensors(k): _tensors(v) for k, v in zip(value["keys"], value["values"], strict=True)}
    if isinstance(value, dict) and "float" in value:
        return float(value["float"])
    if isinstance(value, list):
        return [_tensors(v) for v in value]
    return value
