"""A learned policy (the ENAS controller, trained by REINFORCE) that proposes whole architectures.

The policy is :class:`raynas.controller.Controller`: an LSTM that makes one decision per position. Each
proposal is drawn from it (drawn again while it is over the budget or known already; after a few draws an
untried one-position neighbour of the last draw, then a random architecture). Every ``policy_batch`` full
results make one REINFORCE step, with the moving-average baseline and the advantage divided by the rewards'
moving spread, so one step size fits accuracies, losses and any table. A trial a scheduler stopped early
(``full=False``) teaches the policy nothing: its reward is from fewer epochs.

The defaults are ENAS's controller (LSTM 64, tanh constant 1.5, entropy weight 1e-4) with the learning rate,
batch and baseline decay measured for searches of tens to hundreds of evaluations: ENAS's 3.5e-4, 20 samples
a step and decay 0.999 are made for thousands of steps and barely move the policy in 100 evaluations
(bench/README.md, "Learned policy").

Example:
    >>> from raynas import spaces
    >>> policy = ReinforceSearcher(spaces.get("small_channel"), max_params=20000, seed=0, num_samples=20)
    >>> len(policy.suggest("t0")["tokens"])
    4
"""

from __future__ import annotations

from typing import Any

from raynas.controller import ENTROPY_WEIGHT, TANH_CONSTANT, Controller
from raynas.searchers.base import Option, Tokens, TokenSearcher

#: draws from the policy for one proposal before an untried neighbour of the last draw is taken
DRAWS = 10

#: measured defaults for searches of 50-200 evaluations (bench/README.md, "Learned policy")
POLICY_LR, POLICY_BATCH, POLICY_BASELINE_DECAY = 0.05, 10, 0.5


class ReinforceSearcher(TokenSearcher):
    """Proposes architectures drawn from an LSTM policy that REINFORCE trains on the trial rewards.

    Args:
        policy_lr: Adam learning rate of the policy.
        policy_batch: full results per REINFORCE step.
        baseline_decay: decay of the rewards' moving average (the baseline).
        entropy_weight: weight of the policy's entropy added to each reward.
        tanh_constant: logits are squashed to ``tanh_constant * tanh(logits)``, which bounds how sure the
            policy can get.
        Other arguments: see :class:`TokenSearcher`.
    """

    OPTIONS = (
        Option("policy_lr", float, POLICY_LR, "Adam learning rate of the policy", fits=lambda v: v > 0, must="above 0"),
        Option(
            "policy_batch", int, POLICY_BATCH, "results per REINFORCE step", fits=lambda v: v >= 1, must="at least 1"
        ),
        Option(
            "baseline_decay",
            float,
            POLICY_BASELINE_DECAY,
            "decay of the moving-average reward baseline",
            fits=lambda v: 0 <= v < 1,
            must="at least 0 and below 1",
        ),
        Option(
            "entropy_weight",
            float,
            ENTROPY_WEIGHT,
            "weight of the policy's entropy added to each reward",
            fits=lambda v: v >= 0,
            must="at least 0",
        ),
        Option(
            "tanh_constant",
            float,
            TANH_CONSTANT,
            "logits are squashed to C*tanh(logits): how sure the policy can get",
            fits=lambda v: v > 0,
            must="above 0",
        ),
    )

    def __init__(
        self,
        space,
        *,
        policy_lr: float = POLICY_LR,
        policy_batch: int = POLICY_BATCH,
        baseline_decay: float = POLICY_BASELINE_DECAY,
        entropy_weight: float = ENTROPY_WEIGHT,
        tanh_constant: float = TANH_CONSTANT,
        **kwargs: Any,
    ):
        super().__init__(space, **kwargs)
        for option, value in zip(
            self.OPTIONS, (policy_lr, policy_batch, baseline_decay, entropy_weight, tanh_constant)
        ):
            option.convert(value)  # the same check and message as the settings give
        self.options = {
            "policy_lr": policy_lr,
            "policy_batch": policy_batch,
            "baseline_decay": baseline_decay,
            "entropy_weight": entropy_weight,
            "tanh_constant": tanh_constant,
        }
        self.policy = self._controller(self.rng.randrange(2**31))
        #: full results not learnt from yet: [tokens, reward]
        self.batch: list[list[Any]] = []

    def _controller(self, seed: int) -> Controller:
        o = self.options
        return Controller(
            self.space.range_table(),
            seed=seed,
            tanh_constant=o["tanh_constant"],
            lr=o["policy_lr"],
            entropy_weight=o["entropy_weight"],
            baseline_decay=o["baseline_decay"],
            normalize=True,
        )

    def propose(self) -> Tokens:
        taken = self.pending_keys()
        tokens: Tokens = []
        for _ in range(DRAWS):
            tokens = self.policy.sample(self.rng)
            if self.untried(tuple(tokens), taken):
                return tokens
        if not self.feasible(tokens):
            tokens = self.repair(tokens, self.rng)
        return self.fresh_neighbour(tokens) or self.random_feasible()

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        if not full:
            return
        self.batch.append([list(tokens), reward])
        if len(self.batch) >= self.options["policy_batch"]:
            self.policy.learn([t for t, _ in self.batch], [r for _, r in self.batch])
            self.batch = []

    def _state(self) -> dict[str, Any]:
        return {"options": self.options, "policy": self.policy.state(), "batch": self.batch}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.options = dict(state["options"])
        self.policy = self._controller(0)
        self.policy.load(state["policy"])
        self.batch = [list(item) for item in state["batch"]]
