"""Optuna's TPE sampler under the parameter budget, through Optuna's ask-and-tell interface.

Each position is one categorical parameter (``position_i`` -> token index). A suggestion over the budget is
told to Optuna as failed: it costs no trial, and :attr:`TPESearcher.infeasible` counts it.
After a suggestion over the budget, the next proposal is that suggestion repaired into the budget (or an
untried one-position neighbour of it) rather than another ask.
A suggestion already evaluated is told as failed too, and the next proposal is an untried one-position
neighbour of it: no architecture is paid twice, the model holds each evaluated architecture once, and a TPE
that has converged on known architectures does not ask again and again (each ask refits on every told
trial; after :data:`TPE_ATTEMPTS` asks for one trial the rest of its attempts are random).
A trial stopped early by a scheduler (``full=False``) is told as *pruned* with its rung's reward at its
epoch: TPE ranks pruned trials below every completed one.

Each ask refits on every trial of the study, so the study is bounded: once it holds ``2 * window`` trials it
is rebuilt with the best :data:`KEEP_BEST` completed ones and the newest others, ``window`` in all (failed
ones carry nothing TPE models and are dropped). Optuna's TPE takes its "good" group from the best 25 and
weights the others by recency, so what is dropped is the oldest, least weighted part of the "bad" group.
The architectures evaluated are still all remembered (by :class:`TokenSearcher`): none is paid twice.

The state is JSON: the study's trials (params, state, value) and the random stream. :meth:`_load_state`
rebuilds the study from them, so a restored search continues with the identical stream.

Example:
    >>> from raynas import spaces
    >>> tpe = TPESearcher(spaces.get("small_channel"), max_params=20000, seed=0, num_samples=20)
    >>> len(tpe.suggest("t0")["tokens"])
    4
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from raynas.searchers.base import Option, Tokens, TokenSearcher

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: TPE asks per trial before the rest of the attempts are random feasible draws: every ask is one more told
#: trial that each later ask refits on, and a TPE that has converged on known architectures repeats them
TPE_ATTEMPTS = 2

#: trials TPE's study keeps when it is trimmed (see the module doc); ``None`` keeps every trial
WINDOW = 200

#: completed trials kept first when the study is trimmed: Optuna's default ``gamma`` puts at most 25 trials in
#: TPE's "good" group
KEEP_BEST = 25


class TPESearcher(TokenSearcher):
    """Tree-structured Parzen Estimator (``optuna.samplers.TPESampler``) behind :class:`TokenSearcher`.

    Args:
        n_startup_trials: random trials before TPE models the results (Optuna's default 10).
        multivariate: model the positions jointly (Optuna's default False).
        window: trials the study keeps when it is trimmed, at least :data:`KEEP_BEST`; ``None`` never trims.
        Other arguments: see :class:`TokenSearcher`.
    """

    OPTIONS = (
        Option(
            "n_startup_trials",
            int,
            10,
            "random trials before TPE models the results",
            fits=lambda v: v >= 0,
            must="a whole number of 0 or more",
        ),
        Option("multivariate", bool, False, "model the positions jointly (Optuna's multivariate TPE)"),
        Option(
            "window",
            int,
            WINDOW,
            f"trials TPE's study keeps when it is trimmed, at least {KEEP_BEST} (none: never trimmed)",
            words=("none",),
            fits=lambda v: v >= KEEP_BEST,
            must=f"a whole number of at least {KEEP_BEST}, or none",
        ),
    )

    def __init__(
        self,
        space,
        *,
        n_startup_trials: int = 10,
        multivariate: bool = False,
        window: int | None = WINDOW,
        **kwargs: Any,
    ):
        if window is not None and window < KEEP_BEST:
            raise ValueError(f"window must be at least {KEEP_BEST} (or None), got {window}")
        super().__init__(space, **kwargs)
        self.n_startup_trials = n_startup_trials
        self.multivariate = multivariate
        self.window = window
        self.distributions: dict[str, BaseDistribution] = {
            f"position_{i}": CategoricalDistribution(list(range(n))) for i, n in enumerate(space.range_table())
        }
        self.infeasible = 0
        #: the study's trials, in order: [tokens, state name, value or None, step or None]
        self.history: list[list[Any]] = []
        self.study = self._new_study()
        self.asked: dict[tuple[int, ...], list[optuna.Trial]] = {}
        self.attempts, self.attempts_for = 0, 0  # TPE asks made for trial number ``attempts_for``
        self.near: Tokens | None = None  # TPE's last suggestion, when it was known or over the budget
        self.told: set[tuple[int, ...]] = set()  # architectures told as completed or pruned

    def _new_study(self) -> optuna.Study:
        return optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def _sampler(self) -> optuna.samplers.BaseSampler:
        # a fresh sampler seeded from the searcher's stream: the suggestions depend only on the saved state
        return optuna.samplers.TPESampler(
            n_startup_trials=self.n_startup_trials, multivariate=self.multivariate, seed=self.rng.randrange(2**31)
        )

    def propose(self) -> Tokens:
        if self.attempts_for != self.issued:
            self.attempts, self.attempts_for, self.near = 0, self.issued, None
        if self.near is not None:  # TPE asked for a known or over-budget architecture: try next to it
            around, self.near = self.near, None
            move = self.nearby(around)
            if move is not None:
                return move
        if self.attempts >= TPE_ATTEMPTS:
            return self.random_feasible()
        self.attempts += 1
        self.study.sampler = self._sampler()
        trial = self.study.ask(self.distributions)
        tokens = [trial.params[name] for name in self.distributions]
        self._open(trial, tokens)
        if tuple(tokens) in self.evaluated or not self.feasible(tokens):
            self.near = tokens
        return tokens

    def nearby(self, tokens: Tokens) -> Tokens | None:
        """An untried architecture inside the budget next to ``tokens``: ``tokens`` repaired into the budget
        when it is over, else a one-position neighbour; ``None`` when there is none."""
        if not self.feasible(tokens):
            repaired = self.repair(list(tokens), self.rng)
            if self.untried(tuple(repaired), self.pending_keys()):
                return repaired
        return self.fresh_neighbour(tokens)

    def _open(self, trial: optuna.Trial, tokens: Tokens) -> None:
        self.history.append([list(tokens), TrialState.RUNNING.name, None, None])
        self.asked.setdefault(tuple(tokens), []).append(trial)

    def _ask_fixed(self, tokens: Tokens) -> optuna.Trial:
        """An open trial whose params are ``tokens`` (Optuna's enqueue-then-ask)."""
        self.study.enqueue_trial(dict(zip(self.distributions, tokens)))
        return self.study.ask(self.distributions)

    def reject(self, tokens: Tokens, infeasible: bool) -> None:
        self.infeasible += infeasible
        self._tell(tokens, TrialState.FAIL)

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        self._tell(tokens, TrialState.COMPLETE if full else TrialState.PRUNED, reward)

    def _tell(self, tokens: Tokens, state: TrialState, value: float | None = None) -> None:
        """Tell the open trial that asked for ``tokens``; one is opened for a proposal TPE did not make."""
        key = tuple(tokens)
        if not self.asked.get(key):
            if key in self.told:  # a repeat TPE did not ask for: the study knows its value already
                return
            self._open(self._ask_fixed(tokens), tokens)
        if key in self.told:  # TPE asked for a known architecture: the model holds each one once
            state, value = TrialState.FAIL, None
        trial = self.asked[key].pop(0)
        if not self.asked[key]:
            del self.asked[key]
        step = 0 if state == TrialState.PRUNED else None
        if step is not None:
            if value is None:  # observe() gives a pruned trial its rung's reward
                raise ValueError(f"a pruned trial needs its reward, got none for {list(tokens)}")
            trial.report(value, step)
        self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        if state != TrialState.FAIL:
            self.told.add(key)
        self.history[trial.number] = [list(tokens), state.name, value, step]
        if self.window is not None and len(self.history) >= 2 * self.window:
            self._rebuild(self._trimmed())

    def _trimmed(self) -> list[list[Any]]:
        """The study's trials that a trim keeps, in their order: the best :data:`KEEP_BEST` completed ones,
        the newest completed or pruned others up to ``window``, and the open trials of running ones (all of
        them without a ``window``)."""
        if self.window is None:
            return list(self.history)
        done = [i for i, h in enumerate(self.history) if h[1] in (TrialState.COMPLETE.name, TrialState.PRUNED.name)]
        complete = [i for i in done if self.history[i][1] == TrialState.COMPLETE.name]
        best = set(sorted(complete, key=lambda i: -self.history[i][2])[:KEEP_BEST])
        others = [i for i in done if i not in best]
        newest = others[max(0, len(others) - (self.window - len(best))) :]
        running = self.pending_keys()
        keep = (
            best
            | set(newest)
            | {i for i, h in enumerate(self.history) if h[1] == TrialState.RUNNING.name and tuple(h[0]) in running}
        )
        return [self.history[i] for i in sorted(keep)]

    def _state(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "infeasible": self.infeasible,
            "attempts": self.attempts,
            "attempts_for": self.attempts_for,
            "near": self.near,
            "window": self.window,
            "n_startup_trials": self.n_startup_trials,
            "multivariate": self.multivariate,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.n_startup_trials, self.multivariate = state["n_startup_trials"], state["multivariate"]
        self.window = state.get("window")  # absent from a state saved before the study was bounded
        self.infeasible, self.attempts, self.attempts_for = (
            state["infeasible"],
            state["attempts"],
            state["attempts_for"],
        )
        self.near = state.get("near")  # absent from a state saved before neighbours replaced repeats
        # every architecture told as completed or pruned was evaluated, and the other way round
        self.told = set(self.evaluated)
        self._rebuild([list(h) for h in state["history"]])

    def _rebuild(self, history: list[list[Any]]) -> None:
        """A new study holding ``history``'s trials in order; its open trials are asked again."""
        self.history, self.study, self.asked = history, self._new_study(), {}
        for tokens, state_name, value, step in history:
            if state_name == TrialState.RUNNING.name:  # asked, not told yet
                self.asked.setdefault(tuple(tokens), []).append(self._ask_fixed(tokens))
                continue
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=dict(zip(self.distributions, tokens)),
                    distributions=self.distributions,
                    state=TrialState[state_name],
                    value=value if state_name == TrialState.COMPLETE.name else None,
                    intermediate_values={step: value} if step is not None else None,
                )
            )
