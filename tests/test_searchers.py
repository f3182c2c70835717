"""One conformance suite run over every searcher, plus the simulated annealing math."""
from __future__ import annotations

import math

import pytest
from ray.tune.search import Searcher

from raynas import spaces
from raynas.searchers import SEARCHERS, SearchExhausted, SimulatedAnnealingSearcher
from raynas.spaces.tabular import TabularSpace

from conftest import CHANNEL_BENCH

ALL = sorted(SEARCHERS.items())


def small_space():
    return spaces.get("small_channel")


def reward_of(space, tokens):
    """A deterministic stand-in reward with structure a searcher can climb."""
    return sum((t + 1) * (i + 1) for i, t in enumerate(tokens)) / 100 - 0.02 * (tokens[0] % 3)


def drive(searcher, space, n, start=0):
    """Suggest and complete ``n`` trials one by one; return the suggested token vectors."""
    seen = []
    for i in range(start, start + n):
        config = searcher.suggest(f"t{i}")
        if config is Searcher.FINISHED or config is None:
            seen.append(config)
            break
        seen.append(config["tokens"])
        searcher.on_trial_complete(f"t{i}", {"reward": reward_of(space, config["tokens"])})
    return seen


@pytest.mark.parametrize("name,cls", ALL)
def test_never_infeasible_or_out_of_range(name, cls):
    space = small_space()
    budget = 20_000
    searcher = cls(space, max_params=budget, min_params=2_000, seed=3, num_samples=60)
    for tokens in drive(searcher, space, 60):
        assert space.validate(tokens) == tokens
        assert 2_000 <= space.num_params(tokens) <= budget


@pytest.mark.parametrize("name,cls", ALL)
def test_deterministic_for_a_seed(name, cls):
    space = small_space()
    runs = [drive(cls(space, max_params=30_000, seed=7, num_samples=25), space, 25) for _ in range(2)]
    assert runs[0] == runs[1]
    other = drive(cls(space, max_params=30_000, seed=8, num_samples=25), space, 25)
    assert other != runs[0]


@pytest.mark.parametrize("name,cls", ALL)
def test_save_restore_continues_identical_stream(name, cls, tmp_path):
    space = small_space()
    reference = cls(space, max_params=30_000, seed=11, num_samples=30)
    first = drive(reference, space, 12)
    pending = reference.suggest("t_pending")  # a trial that is running when the state is saved
    path = tmp_path / "state.json"
    reference.save(str(path))
    restored = cls(space, max_params=30_000, seed=999, num_samples=30)
    restored.restore(str(path))
    assert restored.pending == {"t_pending": pending["tokens"]}
    for s in (reference, restored):
        s.on_trial_complete("t_pending", {"reward": reward_of(space, pending["tokens"])})
    assert drive(restored, space, 17, start=13) == drive(reference, space, 17, start=13)
    assert len(first) == 12
    assert not list(tmp_path.glob(".searcher-*"))  # the atomic write left no temporary file


@pytest.mark.parametrize("name,cls", ALL)
def test_finished_after_num_samples_and_no_repeats(name, cls):
    space = small_space()
    searcher = cls(space, max_params=40_000, seed=1, num_samples=15)
    tokens = drive(searcher, space, 16)
    assert tokens[-1] is Searcher.FINISHED
    assert len({tuple(t) for t in tokens[:-1]}) == 15


@pytest.mark.parametrize("name,cls", ALL)
def test_known_architecture_is_replayed_not_retrained(name, cls, small_table):
    space = TabularSpace.from_json(str(small_table))  # 27 architectures
    searcher = cls(space, seed=0, num_samples=40)
    tokens = drive(searcher, space, 40)
    issued = [t for t in tokens if isinstance(t, list)]
    assert len(issued) == len({tuple(t) for t in issued}) == space.size()
    assert tokens[-1] is Searcher.FINISHED


@pytest.mark.parametrize("name,cls", ALL)
def test_failed_trial_is_not_learnt_from(name, cls):
    space = small_space()
    searcher = cls(space, max_params=30_000, seed=2, num_samples=5)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", error=True)
    assert searcher.best_tokens is None and not searcher.evaluated
    assert tuple(config["tokens"]) in searcher.failed


@pytest.mark.parametrize("name,cls", ALL)
def test_budget_below_smallest_architecture_is_rejected(name, cls):
    space = small_space()
    smallest = space.params_range()[0]
    with pytest.raises(ValueError, match=f"smallest architecture.*{smallest}"):
        cls(space, max_params=smallest - 1)


@pytest.mark.parametrize("name,cls", ALL)
def test_budget_with_no_architecture_inside_is_a_clear_error(name, cls, tmp_path):
    from conftest import write_table

    space = TabularSpace.from_json(str(write_table(tmp_path / "t.json", positions=2, choices=2)))
    low, high = space.params_range()
    with pytest.raises(SearchExhausted, match="widen the budget"):  # a gap between rows: found at once
        cls(space, min_params=low + 1, max_params=low + 2, seed=0)


@pytest.mark.parametrize("name,cls", ALL)
def test_tight_budget_in_a_huge_space_is_still_reached(name, cls):
    space = spaces.get("darts_channel")  # 14^20 architectures from 423,912 to 23M params
    searcher = cls(space, max_params=600_000, seed=0, num_samples=5)
    for tokens in drive(searcher, space, 5):
        assert space.num_params(tokens) <= 600_000


def test_sa_acceptance_and_temperature_by_hand():
    sa = SimulatedAnnealingSearcher(small_space(), init_temperature=0.5, decay=0.9, reward_scale=10.0)
    assert sa.temperature(0) == 0.5
    assert sa.temperature(3) == pytest.approx(0.5 * 0.9 ** 3)
    assert sa.acceptance_probability(0.8, 0.7) == 1.0
    # exp(10 * (0.7 - 0.8) / 0.5) = exp(-2)
    assert sa.acceptance_probability(0.7, 0.8, step=0) == pytest.approx(math.exp(-2))
    # at step 2, T = 0.405: exp(-1 / 0.405)
    assert sa.acceptance_probability(0.7, 0.8, step=2) == pytest.approx(math.exp(-1 / 0.405))


def test_sa_starts_at_init_tokens_and_mutates_one_position():
    space = small_space()
    sa = SimulatedAnnealingSearcher.sanas(space, seed=4, num_samples=50)
    first = sa.suggest("0")["tokens"]
    assert first == space.init_tokens()
    sa.on_trial_complete("0", {"reward": 0.5})
    for i in range(1, 20):
        current = list(sa.current_tokens)
        proposal = sa.suggest(str(i))["tokens"]
        assert sum(a != b for a, b in zip(proposal, current)) == 1
        sa.on_trial_complete(str(i), {"reward": reward_of(space, proposal)})


def test_sa_concurrent_proposals_come_from_the_current_state():
    space = small_space()
    sa = SimulatedAnnealingSearcher.sanas(space, seed=5, num_samples=50)
    start = sa.suggest("0")["tokens"]
    others = [sa.suggest(str(i))["tokens"] for i in (1, 2, 3)]  # issued before any result
    assert all(sum(a != b for a, b in zip(o, start)) == 1 for o in others)
    assert len({tuple(t) for t in [start, *others]}) == 4


def test_sa_accepts_better_and_keeps_current_on_much_worse():
    space = small_space()
    sa = SimulatedAnnealingSearcher.sanas(space, seed=0, init_temperature=1e-6)
    sa.observe([1, 1, 1, 1], 0.5)
    sa.observe([2, 1, 1, 1], 0.6)
    assert sa.current_tokens == [2, 1, 1, 1]
    sa.observe([3, 1, 1, 1], 0.1)  # exp(-0.5 / 1e-6) is 0: never accepted
    assert sa.current_tokens == [2, 1, 1, 1] and sa.current_reward == 0.6


def test_sa_over_budget_init_tokens_start_from_a_feasible_architecture():
    space = small_space()
    budget = space.num_params(space.init_tokens()) - 1
    sa = SimulatedAnnealingSearcher.sanas(space, max_params=budget, seed=0)
    assert space.num_params(sa.suggest("0")["tokens"]) <= budget


def test_mode_min_prefers_lower_metric():
    space = small_space()
    sa = SimulatedAnnealingSearcher(space, metric="loss", mode="min", seed=0, num_samples=3)
    a, b = sa.suggest("a")["tokens"], sa.suggest("b")["tokens"]
    sa.on_trial_complete("a", {"loss": 0.3})
    sa.on_trial_complete("b", {"loss": 0.1})
    assert sa.best_tokens == b and a != b


@pytest.mark.skipif(not CHANNEL_BENCH.exists(), reason="needs ../shared/data beside the repository")
def test_sa_beats_random_on_the_real_table():
    """The search quality claimed in bench/README.md, on a few seeds of the real benchmark table."""
    space = TabularSpace.from_json(str(CHANNEL_BENCH))
    low, high = space.params_range()
    budget = int(low + 0.3 * (high - low))
    feasible = sorted((acc for acc, p in space.rows().values() if p <= budget), reverse=True)
    best_found = {}
    for name, cls in ALL:
        found = []
        for seed in range(8):
            s = cls(space, max_params=budget, seed=seed, num_samples=100)
            for i in range(100):
                config = s.suggest(str(i))
                assert space.num_params(config["tokens"]) <= budget
                s.on_trial_complete(str(i), {"reward": space.accuracy(config["tokens"])})
            found.append(s.best_reward)
        best_found[name] = sorted(found)[len(found) // 2]
    assert best_found["sanas"] > best_found["random"]
    assert sum(a > best_found["sanas"] for a in feasible) / len(feasible) < 0.01
