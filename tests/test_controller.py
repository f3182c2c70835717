"""The ENAS controller: what it samples, what REINFORCE teaches it, and that its state round-trips."""

from __future__ import annotations

import json
import random

import pytest

from raynas.controller import Controller


def test_samples_cover_every_choice_and_a_position_of_one_choice_stays_0():
    policy = Controller([3, 1, 4, 2], seed=0)
    draws = [policy.sample(random.Random(i)) for i in range(300)]
    for position, n in enumerate([3, 1, 4, 2]):
        assert {tokens[position] for tokens in draws} == set(range(n))


def test_samples_are_drawn_again_until_inside_the_budget():
    policy = Controller([5, 5], seed=0)
    inside = lambda tokens: sum(tokens) <= 2  # noqa: E731  (an exact budget: 6 of 25 architectures)
    draws = [policy.sample(random.Random(i), inside) for i in range(200)]
    assert all(inside(t) for t in draws) and len({tuple(t) for t in draws}) == 6
    with pytest.raises(ValueError, match="inside the budget"):
        policy.sample(random.Random(0), lambda tokens: False, attempts=5)


def test_the_same_seed_and_stream_give_the_same_samples():
    a, b = Controller([4, 4, 4], seed=3), Controller([4, 4, 4], seed=3)
    assert [a.sample(random.Random(1)) for _ in range(5)] == [b.sample(random.Random(1)) for _ in range(5)]
    assert Controller([4, 4, 4], seed=4).state()["weights"] != a.state()["weights"]


def test_reinforce_raises_the_probability_of_the_rewarded_choice():
    policy = Controller([4, 4], seed=0, lr=0.05, baseline_decay=0.9)
    rng = random.Random(0)
    before = policy.probabilities([2, 0])[0][2]
    for _ in range(60):
        batch = [policy.sample(rng) for _ in range(8)]
        policy.learn(batch, [1.0 if tokens[0] == 2 else 0.0 for tokens in batch])
    assert policy.probabilities([2, 0])[0][2] > max(0.6, 2 * before)
    assert policy.most_likely()[0] == 2


def test_state_round_trips_through_json_and_gives_the_same_next_samples_and_steps():
    policy = Controller([3, 5, 2], seed=1, lr=0.01)
    rng = random.Random(2)
    for _ in range(3):
        batch = [policy.sample(rng) for _ in range(4)]
        policy.learn(batch, [rng.random() for _ in batch])
    copy = Controller([3, 5, 2], seed=9, lr=0.01)
    copy.load(json.loads(json.dumps(policy.state())))
    assert copy.state() == policy.state()
    batch = [policy.sample(random.Random(5)) for _ in range(4)]
    assert batch == [copy.sample(random.Random(5)) for _ in range(4)]
    policy.learn(batch, [1.0, 0.0, 0.5, 0.2])
    copy.learn(batch, [1.0, 0.0, 0.5, 0.2])
    assert copy.state() == policy.state()  # Adam's moments came back exactly


def test_a_space_of_one_architecture_always_gives_it():
    policy = Controller([1, 1])
    assert policy.sample(random.Random(0)) == [0, 0] == policy.most_likely()
    assert policy.learn([[0, 0]], [1.0]) == 0.0


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="at least one choice"):
        Controller([2, 0])
    with pytest.raises(ValueError, match="one reward per architecture"):
        Controller([2]).learn([[0], [1]], [1.0])
    with pytest.raises(ValueError, match=r"positions with \[2\] choices, not \[3\]"):
        Controller([3]).load(Controller([2]).state())
