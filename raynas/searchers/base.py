"""What every token searcher shares: the space, the parameter budget, memory of past evaluations, state.

A subclass implements :meth:`TokenSearcher.propose` (the next token vector to try) and
:meth:`TokenSearcher.observe` (learn from one evaluated architecture), plus ``_state``/``_load_state`` for
its own fields. It declares the options its constructor takes, once, in ``OPTIONS`` (:class:`Option` each):
settings take them in ``searcher_options``, config files as keys and ``raynas search`` as flags. The base
class guarantees what Tune's trials see: every suggested architecture is inside the budget, in range, and has
never been evaluated or handed out before.

Example:
    >>> from raynas import spaces
    >>> from raynas.searchers import RandomSearcher
    >>> s = RandomSearcher(spaces.get("small_channel"), max_params=5000, seed=0, num_samples=3)
    >>> s.suggest("t1")["tokens"]  # doctest: +SKIP
    [1, 0, 2, 3]
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ray.tune.search import Searcher

from raynas.settings import Option, named
from raynas.spaces import sampling
from raynas.spaces.base import SearchSpace
from raynas.spaces.sampling import MAX_ATTEMPTS, Tokens

#: a finished trial as results.csv records it: trial id, tokens, result (``None``: failed), trial_index
Finished = tuple[str, Tokens, dict | None, int | None]
#: a trial Tune's restored experiment runs again: trial id, tokens, trial_index
Running = tuple[str, Tokens, int | None]


def auto_int(name: str, value: int | str, auto: int) -> int:
    """A whole-number option that also takes ``"auto"``: ``auto`` for ``"auto"``, else ``value``.

    Example:
        >>> auto_int("population", "auto", 20), auto_int("population", 12, 20)
        (20, 12)
    """
    if value == "auto":
        return auto
    if isinstance(value, str):
        raise ValueError(f"{name} must be a whole number or 'auto', got {value!r}")
    return value


class SearchExhausted(ValueError):
    """No architecture inside the budget could be found."""


class TokenSearcher(Searcher):
    """A Ray Tune ``Searcher`` over the token vectors of a :class:`SearchSpace`.

    Args:
        space: the search space.
        metric: the reported result key to optimise (the trainables report ``reward``).
        mode: ``"max"`` or ``"min"``.
        max_params: largest parameter count allowed, or ``None``.
        min_params: smallest parameter count allowed, or ``None``.
        seed: seed of the searcher's random stream.
        num_samples: number of distinct architectures to evaluate; ``None`` lets Tune decide.
        full_epochs: epochs of a complete trial, when a scheduler may stop trials early: a result whose
            ``epoch`` is below it is *partial* (the trial was stopped at a rung) and reaches
            :meth:`observe` with ``full=False``. ``None``: every result is full.

    A subclass's own options are keyword-only arguments of its constructor, each declared in ``OPTIONS`` with
    the same name and default.
    """

    #: the options of this searcher's constructor (beyond the arguments above, which every searcher shares)
    OPTIONS: ClassVar[tuple[Option, ...]] = ()

    def __init__(
        self,
        space: SearchSpace,
        metric: str = "reward",
        mode: str = "max",
        max_params: int | None = None,
        min_params: int | None = None,
        seed: int = 0,
        num_samples: int | None = None,
        full_epochs: int | None = None,
    ):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.max_params = max_params
        self.min_params = min_params
        self.num_samples = num_samples
        self.full_epochs = full_epochs
        self.rng = random.Random(seed)
        self.evaluated: dict[tuple[int, ...], float] = {}
        self.partial: set[tuple[int, ...]] = set()
        self.pending: dict[str, Tokens] = {}
        self.failed: set[tuple[int, ...]] = set()
        self.issued = 0
        self.next_index = 0  # the next trial's trial_index (after a crash, see :meth:`rewind`)
        self.replays = 0
        self.best_tokens: Tokens | None = None
        self.best_reward: float | None = None
        #: (issued, evaluated, failed) counts when a suggestion last found no architecture: until one of them
        #: changes, another scan would not find one either (and would hold up Tune's loop for nothing)
        self.fruitless: list[int] | None = None
        #: the search's finished trials as :meth:`recover` takes them, read when Tune restores this searcher
        self.finished_trials: Callable[[], list[Finished]] | None = None
        #: the trials Tune's restored experiment runs again, read when Tune restores this searcher
        self.running_trials: Callable[[], list[Running]] | None = None
        self._check_budget()

    # -- budget -----------------------------------------------------------------------------------------
    def _check_budget(self) -> None:
        low, high = self.space.params_range()
        start = self.space.init_tokens()
        if not low <= sampling.count(self.space, start) <= high:  # the default range can miss a far extreme
            raise ValueError(
                f"space {self.space.name!r}: params_range() gives ({low}, {high}) but init_tokens() "
                f"{list(start)} has {sampling.count(self.space, start)} params; override params_range() "
                "(the default changes one position at a time from the first and the last choice of "
                "every position)"
            )
        if self.max_params is not None and self.max_params < low:
            raise ValueError(
                f"{named('max_params')} {self.max_params} is below the smallest architecture of space "
                f"{self.space.name!r} ({low} params); raise the budget to at least {low}"
            )
        if self.min_params is not None and self.min_params > high:
            raise ValueError(
                f"{named('min_params')} {self.min_params} is above the largest architecture of space "
                f"{self.space.name!r} ({high} params); lower it to at most {high}"
            )
        if self.max_params is not None and self.min_params is not None and self.min_params > self.max_params:
            raise ValueError(
                f"{named('min_params')} {self.min_params} is above {named('max_params')} {self.max_params}"
            )
        self.random_feasible(random.Random(0))  # raises SearchExhausted now rather than inside a running search

    def feasible(self, tokens: Sequence[int]) -> bool:
        """Whether the architecture exists and is inside the parameter budget."""
        return sampling.feasible(self.space, tokens, self.max_params, self.min_params)

    def random_feasible(self, rng: random.Random | None = None) -> Tokens:
        """A random architecture inside the budget (see :func:`raynas.spaces.sampling.random_feasible`)."""
        tokens = sampling.random_feasible(self.space, rng or self.rng, self.max_params, self.min_params)
        if tokens is None:
            raise self._exhausted()
        return tokens

    def _exhausted(self) -> SearchExhausted:
        return SearchExhausted(
            f"no architecture of space {self.space.name!r} within the budget "
            f"({sampling.budget_flags(self.max_params, self.min_params)}) found in "
            f"{MAX_ATTEMPTS} draws; widen the budget"
        )

    def repair(self, tokens: Tokens, rng: random.Random) -> Tokens:
        """Move tokens towards the budget (see :func:`raynas.spaces.sampling.repair`)."""
        return sampling.repair(self.space, tokens, rng, self.max_params, self.min_params)

    def mutate(self, tokens: Sequence[int], prob: float = 0.0) -> Tokens:
        """Each position changes with probability ``prob`` to a different, uniformly chosen value; when
        none did (always, for ``prob=0``), one uniformly chosen position does (none can in a space of one
        architecture)."""
        movable = self.movable_positions()
        if not movable:
            return list(tokens)
        chosen = [i for i in movable if self.rng.random() < prob] if prob > 0 else []
        return self.with_other_values(tokens, chosen or [self.rng.choice(movable)])

    def movable_positions(self) -> list[int]:
        """The positions with more than one choice."""
        return [i for i, n in enumerate(self.space.range_table()) if n > 1]

    def with_other_values(self, tokens: Sequence[int], positions: Sequence[int]) -> Tokens:
        """``tokens`` with each of ``positions`` changed to a different, uniformly chosen value."""
        table = self.space.range_table()
        out = list(tokens)
        for i in positions:
            out[i] = self.rng.choice([v for v in range(table[i]) if v != tokens[i]])
        return out

    def pending_keys(self) -> set[tuple[int, ...]]:
        """The architectures of the trials running now (bounded by the concurrency, unlike the history)."""
        return {tuple(t) for t in self.pending.values()}

    def untried(self, move: tuple[int, ...], pending: set[tuple[int, ...]]) -> bool:
        """Whether ``move`` is inside the budget and neither evaluated, failed nor ``pending``."""
        return move not in self.evaluated and move not in self.failed and move not in pending and self.feasible(move)

    def untried_neighbours(self, tokens: Tokens) -> dict[int, list[int]]:
        """Position -> the values it can move to: one-position mutations of ``tokens`` inside the budget and
        not evaluated, pending or failed yet."""
        pending = self.pending_keys()
        options = {}
        for i, n in enumerate(self.space.range_table()):
            values = [
                v
                for v in range(n)
                if v != tokens[i] and self.untried(tuple(tokens[:i]) + (v,) + tuple(tokens[i + 1 :]), pending)
            ]
            if values:
                options[i] = values
        return options

    def fresh_neighbour(self, tokens: Tokens) -> Tokens | None:
        """A one-position mutation of ``tokens`` not evaluated, pending or failed yet and inside the budget:
        a uniformly chosen position, then a uniformly chosen other value; ``None`` when there is none."""
        options = self.untried_neighbours(tokens)
        if not options:
            return None
        i = self.rng.choice(sorted(options))
        return [*tokens[:i], self.rng.choice(options[i]), *tokens[i + 1 :]]

    # -- what subclasses implement ----------------------------------------------------------------------
    def propose(self) -> Tokens:
        """The next architecture to try (in range; feasibility and novelty are checked by the caller)."""
        raise NotImplementedError

    def observe(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        """Learn from one evaluation; ``reward`` is already oriented so that larger is better.

        ``full`` is False for a trial a scheduler stopped early: its reward is from fewer epochs and is
        not comparable with a full one.
        """

    def reject(self, tokens: Tokens, infeasible: bool) -> None:
        """A proposal was not handed out: over the budget (``infeasible``), or pending or failed already."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        pass

    # -- Tune Searcher API -------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    # Ray annotates Searcher.suggest as Optional[Dict], yet documents and handles Searcher.FINISHED (a str)
    def suggest(self, trial_id: str) -> dict | str | None:  # type: ignore[override]
        """A config ``{"tokens": [...], "trial_index": i}`` for the ``i``-th trial issued (from 0), ``None``
        (nothing to suggest now), or ``Searcher.FINISHED``."""
        if self.num_samples is not None and self.issued >= self.num_samples:
            return Searcher.FINISHED
        progress = [self.issued, len(self.evaluated), len(self.failed)]
        if progress == self.fruitless:  # nothing issued or learnt since a scan found nothing
            return None if self.pending else Searcher.FINISHED
        taken = self.pending_keys()
        for attempt in range(MAX_ATTEMPTS):
            # half the attempts follow the algorithm; then fall back to uniform sampling, so a search whose
            # neighbourhood is used up still finds the architectures that are left
            tokens = self.propose() if attempt < MAX_ATTEMPTS // 2 else self.space.random_tokens(self.rng)
            key, feasible = tuple(tokens), self.feasible(tokens)
            if not feasible or key in taken or key in self.failed:
                self.reject(list(key), infeasible=not feasible)
                continue
            if key in self.evaluated:  # never pay twice for one architecture
                self.replays += 1
                self._learn(list(key), self.evaluated[key], key not in self.partial)
                continue
            self.pending[trial_id] = list(key)
            self.issued += 1
            self.next_index += 1
            # the trial's place in the search, kept in Tune's saved config so it survives a resume
            return {"tokens": list(key), "trial_index": self.next_index - 1}
        if self.issued == 0:
            raise self._exhausted()
        self.fruitless = progress
        return None if self.pending else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        tokens = self.pending.pop(trial_id, None)
        if tokens is None:
            return
        if error or not result or self.metric not in result or not _finite(result[self.metric]):
            self.failed.add(tuple(tokens))
            return
        reward = float(result[self.metric])
        full = self.is_full(result)
        self.evaluated[tuple(tokens)] = reward
        if not full:
            self.partial.add(tuple(tokens))
        self._learn(tokens, reward, full)

    def is_full(self, result: dict) -> bool:
        """Whether ``result`` comes from a trial that trained all ``full_epochs`` (see the class doc)."""
        epoch = result.get("epoch", result.get("training_iteration"))
        return self.full_epochs is None or epoch is None or int(epoch) >= self.full_epochs

    def _learn(self, tokens: Tokens, reward: float, full: bool = True) -> None:
        oriented = reward if self.mode == "max" else -reward
        if full and (self.best_reward is None or oriented > self.best_reward):
            self.best_reward, self.best_tokens = oriented, list(tokens)
        self.observe(list(tokens), oriented, full)

    # -- state ---------------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue the identical search, JSON-serialisable."""
        version, internal, gauss = self.rng.getstate()
        return {
            "class": type(self).__name__,
            "space": self.space.name,
            "metric": self.metric,
            "mode": self.mode,
            "max_params": self.max_params,
            "min_params": self.min_params,
            "num_samples": self.num_samples,
            "full_epochs": self.full_epochs,
            "partial": [list(k) for k in self.partial],
            "rng": [version, list(internal), gauss],
            "evaluated": [[list(k), v] for k, v in self.evaluated.items()],
            "pending": self.pending,
            "failed": [list(k) for k in self.failed],
            "issued": self.issued,
            "next_index": self.next_index,
            "replays": self.replays,
            "best_tokens": self.best_tokens,
            "best_reward": self.best_reward,
            "fruitless": self.fruitless,
            "own": self._state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`get_state` output."""
        if state.get("class") != type(self).__name__ or state.get("space") != self.space.name:
            raise ValueError(
                f"saved state is for {state.get('class')} on space {state.get('space')!r}, "
                f"not {type(self).__name__} on {self.space.name!r}"
            )
        self._metric, self._mode = state["metric"], state["mode"]
        self.max_params, self.min_params = state["max_params"], state["min_params"]
        self.num_samples, self.full_epochs = state["num_samples"], state["full_epochs"]
        self.partial = {tuple(k) for k in state["partial"]}
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.evaluated = {tuple(k): v for k, v in state["evaluated"]}
        self.pending = {k: list(v) for k, v in state["pending"].items()}
        self.failed = {tuple(k) for k in state["failed"]}
        self.issued, self.replays = state["issued"], state["replays"]
        self.next_index = state.get("next_index", self.issued)  # absent from states saved before it existed
        self.best_tokens, self.best_reward = state["best_tokens"], state["best_reward"]
        self.fruitless = state.get("fruitless")  # absent from states saved before it existed
        self._load_state(state["own"])

    def recover(self, finished: list[Finished], keep_running: bool = False) -> None:
        """Catch up with trials that finished after this state was saved.

        ``finished`` holds ``(trial_id, tokens, result, trial_index)`` of every finished trial (``result``
        ``None`` for a failed one), as results.csv records them; those the state already knows are skipped.
        Then the trials still running are forgotten and handed out again, when the Tune experiment they
        belonged to was lost; with ``keep_running`` (Tune restored its experiment and runs them again) they stay.
        """
        for trial_id, tokens, result, index in finished:
            key = tuple(tokens)
            if key in self.evaluated or key in self.failed:
                continue
            if trial_id not in self.pending:  # issued after the state was saved
                self.pending[trial_id] = list(key)
                self.issued += 1
            if index is not None:
                self.next_index = max(self.next_index, index + 1)
            self.on_trial_complete(trial_id, result, error=result is None)
        if not keep_running:  # no trial runs again
            self.follow([])
            self.rewind(finished)

    def rewind(self, trials: Sequence[Finished | Running]) -> None:
        """The next trial_index follows the last of ``trials`` (every trial that still exists, finished or
        running): the places of trials handed out after it and lost in a crash are handed out again."""
        indices = [trial[-1] for trial in trials if trial[-1] is not None]
        self.next_index = max(indices) + 1 if indices else self.issued

    def follow(self, running: list[Running]) -> None:
        """Make the pending trials exactly those Tune's restored experiment runs again (``running``).

        Tune copies its experiment state and this searcher's state one after the other, so a kill between the
        two copies leaves them out of step: a trial the searcher never heard of would be proposed again, and
        one the experiment lost would be waited for forever.
        """
        ids = {trial_id for trial_id, _, _ in running}
        for trial_id in [t for t in self.pending if t not in ids]:
            del self.pending[trial_id]
            self.issued -= 1
        for trial_id, tokens, index in running:
            key = tuple(tokens)
            if trial_id in self.pending or key in self.evaluated or key in self.failed:
                continue
            self.pending[trial_id] = list(key)
            self.issued += 1
            if index is not None:
                self.next_index = max(self.next_index, index + 1)

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Tune's restore: the state saved with the experiment's last snapshot, then the trials that finished
        after it (:attr:`finished_trials`), which the restored experiment does not know and would run again,
        then the trials the experiment runs again (:attr:`running_trials`, see :meth:`follow`)."""
        super().restore_from_dir(checkpoint_dir)
        finished = self.finished_trials() if self.finished_trials is not None else []
        self.recover(finished, keep_running=True)
        if self.running_trials is not None:
            running = self.running_trials()
            self.follow(running)
            self.rewind([*finished, *running])

    def save(self, checkpoint_path: str) -> None:
        """Write the state as JSON atomically (a crash never leaves a half-written file)."""
        folder = os.path.dirname(os.path.abspath(checkpoint_path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".searcher-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.get_state(), f)
            os.replace(tmp, checkpoint_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def restore(self, checkpoint_path: str) -> None:
        """Load the state written by :meth:`save`."""
        with open(checkpoint_path) as f:
            self.set_state(json.load(f))


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
