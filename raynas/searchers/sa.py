"""Simulated annealing over tokens (the SANAS algorithm), made robust on plateaued spaces.

SANAS, as in PaddleSlim: each step mutates one uniformly chosen position of the current architecture to a
different, uniformly chosen value. A result better than the current reward is always accepted; a worse one
with probability ``exp(reward_scale * (reward - current) / T)``, where ``T = T0 * decay ** step`` and
``step`` counts distinct evaluations.

Five additions, each can be switched off (``SimulatedAnnealingSearcher.sanas(...)`` switches all off and
takes PaddleSlim's T0 = 1, decay = 0.85):

* **warm start**: the first ``warm_start`` evaluations are random architectures inside the budget and the
  walk starts from the best of them, instead of from one fixed start (for a table, its smallest
  architecture, which on NAS-Bench-201 is a disconnected cell on a 10 %-accuracy plateau);
* **restarts**: after ``restart_after`` distinct evaluations without a new best, the walk jumps back to
  the best architecture found (``restart_from="best"``) or to a fresh random one (``"random"``);
* **calibrated temperature**: with ``init_temperature=None``, T0 is ``temperature_spread`` times the
  interquartile range of the warm-start rewards, so the same setting works for rewards in [0, 1] or in
  percent, on a flat table or a steep one;
* **screened moves**: a share ``screened`` of the moves (half by default) draws ``screen_size`` untried
  one-position mutations instead of one and takes the one whose new value has the best mean reward so
  far at its position, relative to the value it replaces (:class:`~raynas.searchers.choice_means.ChoiceMeans`);
  the other moves are SANAS's uniform ones, and every move still goes through the Metropolis test;
* **far moves** (``far_moves``; 2 by default where the space has two positions with a choice): when every
  one-position move from the current architecture is known (evaluated, pending, failed or over the budget),
  the walk tries moves of ``far_moves`` positions at once, still through the Metropolis test, instead of
  restarting at random. With screening on, a far move is the best of ``screen_size * far_moves`` untried ones
  by the summed mean-reward gains of its new values: under a parameter budget the best architectures sit on
  the budget's edge, where a one-position move either leaves the budget or shrinks a layer, and the step to a
  better one trades width between two layers. Measured in bench/README.md: much better on Channel-Bench-Macro,
  a little worse on NAS-Bench-201 under a budget, where a random restart often finds a better basin
  (``far_moves=1`` restarts at random, the walk before).

A trial stopped early by a scheduler (``full=False``) is a rejected move: its partial reward is never
compared with a full one and it never becomes the current architecture.

Example:
    >>> from raynas import spaces
    >>> sa = SimulatedAnnealingSearcher(spaces.get("small_channel"), init_temperature=0.005, seed=1)
    >>> sa.acceptance_probability(reward=0.90, current=0.91, step=0)  # doctest: +ELLIPSIS
    0.1353...
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from raynas.searchers.base import Option, Tokens, TokenSearcher, auto_int
from raynas.searchers.choice_means import ChoiceMeans

#: PaddleSlim SANAS's schedule (rewards in [0, 1])
PADDLESLIM = {"init_temperature": 1.0, "decay": 0.85}
RESTART_FROM = ("best", "random")
#: T0 when there is no warm start to calibrate from (rewards in [0, 1])
FIXED_T0 = 0.005


def warm_start_size(num_samples: int | None) -> int:
    """The default warm start: 10 random architectures, but at most a quarter of a short search (at least 2).

    Example:
        >>> warm_start_size(100), warm_start_size(24), warm_start_size(None)
        (10, 6, 10)
    """
    return 10 if num_samples is None else min(10, max(2, num_samples // 4))


def restart_stall(num_samples: int | None) -> int:
    """The default stall length: a tenth of the evaluations, at least 10 (20 when unknown).

    Example:
        >>> restart_stall(50), restart_stall(200), restart_stall(None)
        (10, 20, 20)
    """
    return 20 if num_samples is None else max(10, num_samples // 10)


def far_moves_for(positions: int) -> int:
    """The default far move: two positions at once, where the space has two positions with a choice.

    Example:
        >>> far_moves_for(7), far_moves_for(1)
        (2, 1)
    """
    return 2 if positions >= 2 else 1


class SimulatedAnnealingSearcher(TokenSearcher):
    """SANAS token mutation with an explicit temperature schedule, warm start and restarts.

    Args:
        init_temperature: T0, in units of the scaled reward; ``None`` calibrates it from the warm start
            (:data:`FIXED_T0` without one).
        decay: T is multiplied by this after every evaluation.
        reward_scale: rewards are multiplied by this before the acceptance test.
        init_tokens: first architecture when there is no warm start; the space's ``init_tokens()`` by
            default (random if over budget).
        warm_start: random architectures evaluated first; the walk starts from the best (0: off;
            ``"auto"``: :func:`warm_start_size` of ``num_samples``).
        restart_after: stall length, in distinct evaluations without a new best, before a restart
            (0 or ``None``: never; ``"auto"``: :func:`restart_stall` of ``num_samples``).
        restart_from: ``"best"`` or ``"random"``.
        far_moves: positions changed at once when every one-position move from the current architecture
            is known (1: restart instead, as SANAS's one-position walk would; ``"auto"``: :func:`far_moves_for`).
        screened: share of moves screened by the mean reward of each value (0: SANAS's uniform moves only).
        screen_size: untried one-position mutations drawn for a screened move; the best estimated is taken.
        temperature_spread: T0 = this times the interquartile range of the warm-start rewards, when
            ``init_temperature`` is ``None``.
        Other arguments: see :class:`TokenSearcher`. ``OPTIONS`` declares those that settings, config files
        and flags set (``init_tokens``, ``restart_from`` and ``temperature_spread`` are Python's only).
    """

    OPTIONS = (
        Option(
            "init_temperature",
            float,
            None,
            "starting temperature T0, in units of the scaled reward (none: 0.3 x the interquartile range of the "
            "warm start's rewards; PaddleSlim's SANAS: 1, with decay 0.85, warm-start 0, restart-after 0 and "
            "screened 0)",
            fits=lambda v: v > 0,
            must="above 0",
        ),
        Option(
            "warm_start",
            int,
            "auto",
            "start from the best of this many random architectures (auto: 10, at most num-samples/4; 0: from "
            "the space's start)",
            words=("auto",),
            fits=lambda v: v >= 0,
            must="a whole number of evaluations (0: off) or auto",
        ),
        Option(
            "restart_after",
            int,
            "auto",
            "restart from the best after this many evaluations without a new best (auto: num-samples/10, at "
            "least 10; 0: never)",
            words=("auto",),
            fits=lambda v: v >= 0,
            must="a whole number of evaluations (0: off) or auto",
        ),
        Option(
            "far_moves",
            int,
            "auto",
            "change this many positions at once when every one-position move is known, instead of restarting "
            "at random (auto: 2 where the space has two positions with a choice; 1: restart)",
            words=("auto",),
            fits=lambda v: v >= 1,
            must="a whole number of positions, at least 1 (1: restart instead), or auto",
        ),
        Option(
            "screened",
            float,
            0.5,
            "share of the moves that draw screen-size untried mutations and take the one whose new value has "
            "the best mean reward so far (0: SANAS's uniform moves)",
            fits=lambda v: 0 <= v <= 1,
            must="between 0 and 1",
        ),
        Option(
            "screen_size", int, 5, "untried mutations drawn per screened move", fits=lambda v: v >= 1, must="at least 1"
        ),
        Option(
            "decay",
            float,
            0.97,
            "T is multiplied by this after every evaluation",
            fits=lambda v: 0 < v <= 1,
            must="above 0 and at most 1 (T is multiplied by it each step)",
        ),
        Option(
            "reward_scale",
            float,
            1.0,
            "rewards are multiplied by this before the acceptance test",
            fits=lambda v: v > 0,
            must="above 0",
        ),
    )

    def __init__(
        self,
        space,
        *,
        init_temperature: float | None = None,
        decay: float = 0.97,
        reward_scale: float = 1.0,
        init_tokens: list[int] | None = None,
        warm_start: int | str = "auto",
        restart_after: int | str | None = "auto",
        restart_from: str = "best",
        temperature_spread: float = 0.3,
        far_moves: int | str = "auto",
        screened: float = 0.5,
        screen_size: int = 5,
        **kwargs: Any,
    ):
        num_samples = kwargs.get("num_samples")
        stall = None if restart_after is None else auto_int("restart_after", restart_after, restart_stall(num_samples))
        if stall == 0:  # never, as settings say it
            stall = None
        warm = auto_int("warm_start", warm_start, warm_start_size(num_samples))
        if (init_temperature is not None and init_temperature <= 0) or not 0 < decay <= 1 or reward_scale <= 0:
            raise ValueError(
                "need init_temperature > 0, 0 < decay <= 1 and reward_scale > 0, got "
                f"{init_temperature}, {decay}, {reward_scale}"
            )
        if init_temperature is None and warm < 2:  # nothing to calibrate from
            init_temperature = FIXED_T0
        if restart_from not in RESTART_FROM or (stall is not None and stall < 1):
            raise ValueError(
                f"restart_from must be one of {RESTART_FROM} and restart_after >= 1 or None, got "
                f"{restart_from!r}, {stall}"
            )
        if far_moves != "auto" and (isinstance(far_moves, str) or far_moves < 1):
            raise ValueError(f"far_moves must be >= 1 or 'auto', got {far_moves!r}")
        if not 0 <= screened <= 1 or screen_size < 1:
            raise ValueError(f"need 0 <= screened <= 1 and screen_size >= 1, got {screened}, {screen_size}")
        super().__init__(space, **kwargs)
        moves = auto_int("far_moves", far_moves, far_moves_for(len(self.movable_positions())))
        if moves > max(1, len(self.movable_positions())):
            raise ValueError(
                f"far_moves must be at most the {len(self.movable_positions())} positions with a "
                f"choice in this space, got {moves}"
            )
        self.init_temperature = init_temperature
        self.decay = decay
        self.reward_scale = reward_scale
        self.warm_start = warm
        self.restart_after = stall
        self.restart_from = restart_from
        self.temperature_spread = temperature_spread
        self.far_moves = moves
        self.screened = screened
        self.screen_size = screen_size
        self.means = ChoiceMeans()
        self.start_tokens = space.validate(init_tokens if init_tokens is not None else space.init_tokens())
        self.current_tokens: Tokens | None = None
        self.current_reward: float | None = None
        self.warm_rewards: list[float] = []
        #: step at the last new best or restart, and the best reward then: the stall is measured from it
        self.mark: int = 0
        self.mark_reward: float | None = None
        self.restarts = 0

    @classmethod
    def sanas(cls, space, **kwargs: Any) -> SimulatedAnnealingSearcher:
        """Plain SANAS with PaddleSlim's schedule: one start, no restarts, uniform one-position moves, T0 = 1,
        decay = 0.85."""
        return cls(
            space, **{**PADDLESLIM, "warm_start": 0, "restart_after": None, "screened": 0.0, "far_moves": 1, **kwargs}
        )

    @property
    def step(self) -> int:
        """Number of distinct architectures evaluated so far (a replayed result is not a new step)."""
        return len(self.evaluated)

    def t0(self) -> float:
        """The starting temperature: given, or calibrated from the warm-start rewards."""
        if self.init_temperature is not None:
            return self.init_temperature
        spread = 0.0
        if len(self.warm_rewards) > 1:  # interquartile range: a few degenerate outliers do not inflate it
            low, _, high = statistics.quantiles(self.warm_rewards, n=4, method="inclusive")
            spread = high - low
        return self.temperature_spread * self.reward_scale * spread

    def temperature(self, step: int | None = None) -> float:
        """T at ``step`` (the current step by default)."""
        return self.t0() * self.decay ** (self.step if step is None else step)

    def acceptance_probability(self, reward: float, current: float, step: int | None = None) -> float:
        """Probability of moving from ``current`` to an architecture scoring ``reward``."""
        delta = self.reward_scale * (reward - current)
        if delta >= 0:
            return 1.0
        temperature = self.temperature(step)
        return math.exp(delta / temperature) if temperature > 0 else 0.0

    def propose(self) -> Tokens:
        if self.issued < self.warm_start:
            return self.random_feasible()
        if self.current_tokens is not None:
            if self.screened and self.rng.random() < self.screened:
                move = self.screened_neighbour(self.current_tokens)
            else:
                move = self.fresh_neighbour(self.current_tokens)
            if move is None and self.far_moves > 1:  # a local optimum for one-position moves: look further
                move = self.fresh_far_move(self.current_tokens)
            if move is not None:
                return move
            self.restart(exhausted=True)  # every neighbour is known: a local optimum, fully explored
            return self.propose()
        if self.warm_start or self.restarts:  # waiting for warm-start results, or restarting afresh
            return self.random_feasible()
        if not self.feasible(self.start_tokens):
            self.start_tokens = self.random_feasible()
        # before the first result arrives, concurrent proposals are mutations of the start
        return list(self.start_tokens) if self.issued == 0 else self.mutate(self.start_tokens)

    def fresh_far_move(self, tokens: Tokens, attempts: int = 50) -> Tokens | None:
        """A mutation of ``far_moves`` uniformly chosen positions of ``tokens``, each to a different uniformly
        chosen value, not evaluated, pending or failed yet and inside the budget (up to ``attempts`` draws, then
        ``None``). With screening on, the best of up to ``screen_size * far_moves`` such mutations by their
        estimated gain (:class:`ChoiceMeans`, summed over the changed positions; ties broken at random)."""
        pending = self.pending_keys()
        movable = self.movable_positions()
        wanted = self.screen_size * self.far_moves if self.screened else 1
        found: list[tuple[float, Tokens]] = []
        for _ in range(attempts):
            positions = self.rng.sample(movable, min(self.far_moves, len(movable)))
            move = self.with_other_values(tokens, positions)
            if self.untried(tuple(move), pending):
                found.append((sum(self.means.gain(tokens, i, move[i]) for i in positions), move))
                if len(found) == wanted:
                    break
        if not found:
            return None
        top = max(gain for gain, _ in found)
        best = [move for gain, move in found if gain == top]
        return best[0] if len(best) == 1 else self.rng.choice(best)

    def screened_neighbour(self, tokens: Tokens) -> Tokens | None:
        """Of ``screen_size`` uniformly drawn untried one-position mutations of ``tokens``, the one with the
        largest estimated gain (:class:`ChoiceMeans`; ties broken at random); ``None`` when there is none."""
        options = self.untried_neighbours(tokens)
        moves = [(i, v) for i in sorted(options) for v in options[i]]
        if not moves:
            return None
        drawn = [
            (self.means.gain(tokens, i, v), i, v) for i, v in self.rng.sample(moves, min(self.screen_size, len(moves)))
        ]
        top = max(gain for gain, _, _ in drawn)
        _, i, v = self.rng.choice([move for move in drawn if move[0] == top])
        return [*tokens[:i], v, *tokens[i + 1 :]]

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        if not full:  # a trial stopped early is a rejected move: never compared with a full reward
            return
        self.means.add(tokens, reward)
        if self.best_reward != self.mark_reward:
            self.mark, self.mark_reward = self.step, self.best_reward
        if len(self.warm_rewards) < self.warm_start:
            self.warm_rewards.append(reward)
            if self.current_reward is None or reward > self.current_reward:
                self.current_tokens, self.current_reward = list(tokens), reward
            return
        if self.current_reward is None or self.rng.random() < self.acceptance_probability(reward, self.current_reward):
            self.current_tokens, self.current_reward = list(tokens), reward
        if self.restart_after is not None and self.step - self.mark >= self.restart_after:
            self.restart()

    def restart(self, exhausted: bool = False) -> None:
        """Continue from the best architecture found, or from a fresh random one (the next proposal).

        When the neighbourhood of the current architecture is ``exhausted``, a restart from the best that
        would land on an exhausted neighbourhood too starts from a random architecture instead.
        """
        self.mark = self.step
        self.restarts += 1
        if (
            self.restart_from == "best"
            and self.best_tokens is not None  # always set by then: a walk starts from a full result
            and not (exhausted and self.current_tokens == self.best_tokens)
        ):
            self.current_tokens, self.current_reward = list(self.best_tokens), self.best_reward
        else:
            self.current_tokens = self.current_reward = None

    def _state(self) -> dict[str, Any]:
        return {
            "current_tokens": self.current_tokens,
            "current_reward": self.current_reward,
            "step": self.step,
            "temperature": self.temperature(),
            "start_tokens": self.start_tokens,
            "init_temperature": self.init_temperature,
            "decay": self.decay,
            "reward_scale": self.reward_scale,
            "warm_start": self.warm_start,
            "restart_after": self.restart_after,
            "restart_from": self.restart_from,
            "temperature_spread": self.temperature_spread,
            "warm_rewards": self.warm_rewards,
            "mark": self.mark,
            "mark_reward": self.mark_reward,
            "restarts": self.restarts,
            "far_moves": self.far_moves,
            "screened": self.screened,
            "screen_size": self.screen_size,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        for name in (
            "current_tokens",
            "current_reward",
            "start_tokens",
            "init_temperature",
            "decay",
            "reward_scale",
            "warm_start",
            "restart_after",
            "restart_from",
            "temperature_spread",
            "warm_rewards",
            "mark",
            "mark_reward",
            "restarts",
        ):
            setattr(self, name, state[name])
        # states saved before these options existed: the walk they ran
        self.far_moves = state.get("far_moves", 1)
        self.screened, self.screen_size = state.get("screened", 0.0), state.get("screen_size", 1)
        sign = 1 if self.mode == "max" else -1
        self.means = ChoiceMeans()
        for key, reward in self.evaluated.items():  # in the order they were observed: the identical model
            if key not in self.partial:
                self.means.add(key, sign * reward)
