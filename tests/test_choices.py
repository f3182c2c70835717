"""Model spaces written with labelled choices: counts, builds, errors, the supernet, architecture JSON."""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest
import torch
import user_spaces
from torch import nn

from raynas import spaces
from raynas.runs.retrain import settings_for_file
from raynas.spaces import sampling
from raynas.spaces.choices import Choice, InputChoice, LayerChoice, ModelSpace, named_choices
from raynas.spaces.export import apply_arch, export_arch, read_arch_file
from raynas.spaces.sampling import extreme_feasible
from raynas.trainables.calibration import recalibrate
from raynas.trainables.supernet import PathSampler, make_optimizer, train_step


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def user_space() -> ModelSpace:
    return spaces.get("user_spaces:tiny", in_channels=1, num_classes=10, input_shape=[1, 8, 8])


def mobile_space() -> ModelSpace:
    return spaces.get("mobile", input_shape=[1, 8, 8])


@pytest.mark.parametrize("make, n", [(user_space, 300), (mobile_space, 150)], ids=["user", "mobile"])
def test_num_params_is_exact_without_building(make, n):
    space = make()
    rng = random.Random(0)
    low, high = space.params_range()
    for tokens in [space.init_tokens()] + [space.random_tokens(rng) for _ in range(n)]:
        net = space.build(tokens)
        assert space.num_params(tokens) == count(net), tokens
        assert low <= count(net) <= high
        assert not any(isinstance(m, Choice) for m in net.modules())
    if space.size() < 100:  # the range is the true extremes
        every = [space.num_params(list(t)) for t in itertools.product(*map(range, space.range_table()))]
        assert (low, high) == (min(every), max(every))


def test_labels_choices_and_kwargs_in_definition_order():
    space = user_space()
    assert space.labels() == ["layer1", "layer2", "skip"]
    assert space.choices() == [["conv3x3", "conv5x5", "identity"], [0, 1], [[0, 1], [0, 2], [1, 2]]]
    assert space.size() == 18
    again = spaces.get(space.name, **space.kwargs())  # how a trial on another worker recreates it
    assert again.labels() == space.labels() and again.params_range() == space.params_range()
    net = space.build([1, 0, 2])
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert isinstance(net.layer1[0], nn.Conv2d) and net.layer1[0].kernel_size == (5, 5)


def test_mobile_skip_only_where_allowed_and_listed():
    space = mobile_space()
    assert "mobile" in spaces.names()
    firsts = [c for label, c in zip(space.labels(), space.choices()) if label.endswith("_b1")]
    rest = [c for label, c in zip(space.labels(), space.choices()) if not label.endswith("_b1")]
    assert all("skip" not in c and len(c) == 6 for c in firsts)
    assert all(c[0] == "skip" and len(c) == 7 for c in rest)
    deep = spaces.get("mobile", depths=[3, 2, 2], min_depths=[2, 1, 1])
    assert "skip" not in deep.choices()[1] and "skip" in deep.choices()[2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernels": [3, 4]}, "kernels must be odd (a block keeps its input size), got [3, 4]"),
        ({"widths": [8, 0, 24]}, "widths must be positive whole numbers, got [8, 0, 24]"),
        ({"expansions": [0]}, "expansions must be positive whole numbers, got [0]"),
        ({"min_depths": [3, 1, 1]}, "stage 1: min_depth must be in [1, depth=2], got 3"),
    ],
)
def test_bad_mobile_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        spaces.get("mobile", **kwargs)


class Pair(nn.Module):
    def __init__(self, first: nn.Module, second: nn.Module):
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x):
        return self.second(self.first(x))


class Inputs(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(1, w, 1) for w in widths)
        self.pick = InputChoice(len(widths), 1, label="pick")

    def forward(self, x):
        return self.pick([c(x) for c in self.convs])


class Unused(nn.Module):
    """A choice that forward never calls: searching it would change nothing."""

    def __init__(self):
        super().__init__()
        self.used = LayerChoice([nn.Identity(), nn.ReLU()], label="used")
        self.spare = LayerChoice([nn.Identity(), nn.ReLU()], label="spare")

    def forward(self, x):
        return self.used(x)


class AuxiliaryHead(nn.Module):
    """A choice that forward calls only while training, as an auxiliary head is: it is searched."""

    def __init__(self):
        super().__init__()
        self.op = LayerChoice([nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 3, padding=1)], label="op")
        self.bn = nn.BatchNorm2d(2)
        self.aux = LayerChoice([nn.Identity(), nn.ReLU()], label="aux")

    def forward(self, x):
        y = self.bn(self.op(x))
        return y + self.aux(y) if self.training else y


def test_a_choice_called_only_while_training_is_searched_and_the_check_leaves_batch_norm_as_it_was():
    model = AuxiliaryHead()
    space = ModelSpace(model, input_shape=(1, 4, 4))
    assert space.labels() == ["op", "aux"] and space.size() == 4
    assert model.bn.num_batches_tracked == 0 and torch.equal(model.bn.running_mean, torch.zeros(2))


def placed_twice() -> nn.Module:
    """One LayerChoice object at two places of the model."""
    shared = LayerChoice([nn.Conv2d(1, 1, 1), nn.Identity()], label="shared")
    return Pair(shared, nn.Sequential(shared, nn.ReLU()))


def tied(between_choices: bool) -> nn.Module:
    """A conv that is a candidate of two choices, or a candidate and a fixed layer."""
    conv = nn.Conv2d(1, 1, 3, padding=1)
    if between_choices:
        return Pair(LayerChoice([conv, nn.Identity()], label="a"), LayerChoice([conv, nn.Identity()], label="b"))
    return Pair(conv, LayerChoice([conv, nn.Identity()], label="op"))


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Pair(LayerChoice([nn.Conv2d(1, 2, 1)], label="a"), LayerChoice([nn.Identity()], label="a")),
            "duplicate choice label 'a'",
        ),
        (lambda: LayerChoice([], label="empty"), "LayerChoice 'empty' has an empty candidate list"),
        (
            lambda: LayerChoice({"wide": nn.Conv2d(1, 4, 1), "narrow": nn.Conv2d(1, 2, 1)}, label="width"),
            "LayerChoice 'width': candidates disagree on output shape",
        ),
        (lambda: Inputs([2, 3]), "InputChoice 'pick': candidate inputs disagree on output shape"),
        (
            lambda: LayerChoice([LayerChoice([nn.Identity()], label="inner")], label="outer"),
            "'inner' is nested inside choice 'outer'",
        ),
        (lambda: nn.Conv2d(1, 2, 1), "has no LayerChoice or InputChoice"),
        (
            placed_twice,
            "LayerChoice 'shared' sits at two places in the model ('first' and 'second.0'); create one LayerChoice per place",  # noqa: E501
        ),
        (
            lambda: tied(between_choices=True),
            "LayerChoice 'b' shares parameter 'first.candidates.0.weight' with LayerChoice 'a'; give each choice",
        ),
        (
            lambda: tied(between_choices=False),
            "LayerChoice 'op' shares parameter 'first.weight' with the fixed part of the model",
        ),
        (
            lambda: Pair(LayerChoice([nn.Identity()], label="params"), LayerChoice([nn.Identity()], label="reward")),
            "choice label 'params' is the name of a results column; rename it (reserved: trial_index, ",
        ),
        (
            lambda: LayerChoice({"good": nn.Conv2d(1, 2, 1), "bad": nn.Conv2d(3, 2, 1)}, label="op"),
            "LayerChoice 'op': candidate 'bad' fails on a sample input (RuntimeError: ",
        ),
        (
            lambda: Pair(LayerChoice([nn.Identity()], label="op"), nn.Conv2d(3, 1, 1)),
            "space 'Pair' fails on a sample input of shape (1, 4, 4) (RuntimeError: ",
        ),
        (
            lambda: LayerChoice({"conv.3x3": nn.Identity(), "id": nn.Identity()}, label="op"),
            "LayerChoice 'op': candidate name 'conv.3x3' cannot name a torch module",
        ),
        (lambda: LayerChoice({"training": nn.Identity()}, label="op"), "LayerChoice 'op': attribute 'training'"),
        (
            lambda: InputChoice(3, n_chosen=None, label="inp"),
            "InputChoice 'inp': n_chosen must be a whole number in [1, 3], got None; any number of inputs (None) is not",  # noqa: E501
        ),
        (
            lambda: Pair(LayerChoice([nn.Identity()], label="op"), nn.Sequential(nn.Flatten(), nn.LazyLinear(2))),
            "module 'second.1' (LazyLinear) is lazy, so its parameters cannot be counted",
        ),
        (
            lambda: LayerChoice({1: nn.Identity(), "1": nn.ReLU()}, label="op"),
            "LayerChoice 'op': two candidates are named '1' (names are compared as text",
        ),
        (
            lambda: InputChoice(candidate_names=["a", "a", "b"], label="inp"),
            "InputChoice 'inp': candidate name 'a' appears twice",
        ),
        (
            lambda: InputChoice(30, n_chosen=15, label="inp"),
            "InputChoice 'inp': choosing 15 of 30 inputs gives 155,117,520 options, more than the 100,000 one choice can "  # noqa: E501
            "hold",
        ),
        (
            Unused,
            "space 'Unused': LayerChoice 'spare' is never called in the model's forward, so its choice would change "
            "nothing; call it in forward or remove it",
        ),
    ],
)
def test_bad_spaces_are_one_clear_error(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelSpace(make(), input_shape=(1, 4, 4))


def test_every_results_column_is_a_reserved_label():
    from raynas.results import DARTS_COLUMNS, SEARCH_COLUMNS

    for column in [*SEARCH_COLUMNS, *DARTS_COLUMNS, "search", "retrained_reward"]:
        with pytest.raises(ValueError, match=f"choice label {column!r} is the name of a results column"):
            ModelSpace(Pair(nn.Identity(), LayerChoice([nn.Identity(), nn.ReLU()], label=column)))


class Reused(nn.Module):
    """Weights shared where counts stay exact: within one choice's candidates, and within the fixed part."""

    def __init__(self):
        super().__init__()
        stem = nn.Conv2d(1, 2, 3, padding=1)
        self.stem, self.again = stem, nn.Sequential(stem)
        conv = nn.Conv2d(2, 2, 3, padding=1)
        self.op = LayerChoice(
            {
                "conv": conv,
                "conv_bn": nn.Sequential(conv, nn.BatchNorm2d(2)),
                "wide": nn.Conv2d(2, 2, 5, padding=2),
                "id": nn.Identity(),
            },
            label="op",
        )
        self.pick = InputChoice(3, n_chosen=2, reduction="sum", label="pick")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))

    def forward(self, x):
        x0 = self.stem(x)
        x1 = self.op(x0)
        return self.head(self.pick([x0, x1, self.again[0](x)]))


def test_counts_are_exact_for_every_architecture_with_weights_shared_where_allowed():
    space = ModelSpace(Reused(), input_shape=(1, 4, 4))
    every = list(itertools.product(*map(range, space.range_table())))
    counts = [count(space.build(list(t))) for t in every]
    assert [space.num_params(list(t)) for t in every] == counts
    assert space.params_range() == (min(counts), max(counts))
    supernet = space.supernet()
    unused = {id(p) for p in space.unused_parameters(supernet, [1, 0])}  # conv_bn chosen: its conv is used
    assert not any(id(p) in unused for p in supernet.op.candidates["conv_bn"].parameters())
    assert all(id(p) in unused for p in supernet.op.candidates["wide"].parameters())


def test_user_space_names_that_do_not_import_are_clear():
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        spaces.get("no_such_module:factory")
    with pytest.raises(ValueError, match="has no callable 'missing'"):
        spaces.get("user_spaces:missing")
    with pytest.raises(
        ValueError,
        match=r"^space '__main__:net' is defined in the running script or notebook, "
        r"which the trials cannot import; move it to a module file",
    ):
        spaces.get("__main__:net")


def test_forward_without_a_path_says_what_to_do():
    with pytest.raises(RuntimeError, match="'layer1' has no path set; call ModelSpace.set_path"):
        user_space().supernet()(torch.randn(2, 1, 8, 8))


class Aliased(nn.Module):
    """Choices reached in forward through a plain list: a built network would still call them."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.a = LayerChoice({"conv": nn.Conv2d(4, 4, 3, padding=1), "id": nn.Identity()}, label="a")
        self.order = [self.a]
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x):
        x = self.stem(x)
        for op in self.order:
            x = op(x)
        return self.head(x)


class MyBatchNorm(nn.BatchNorm2d):
    """A common wrapper: batch norm with its own momentum, and a constructor of its own."""

    def __init__(self, channels: int):
        super().__init__(channels, momentum=0.01)


class WrappedNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), MyBatchNorm(4))
        self.op = LayerChoice(
            [nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), MyBatchNorm(4)), nn.Identity()], label="op"
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x):
        return self.head(self.op(self.stem(x)))


class CheapestLast(nn.Module):
    """Eight choices whose cheapest candidate is listed last: token order says nothing about size."""

    def __init__(self):
        super().__init__()
        self.ops = nn.ModuleList(
            LayerChoice([nn.Conv2d(4, 4, 5, padding=2), nn.Conv2d(4, 4, 3, padding=1), nn.Identity()], label=f"op{i}")
            for i in range(8)
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x):
        for op in self.ops:
            x = op(x)
        return self.head(x)


def test_a_tight_budget_is_reached_whatever_order_the_candidates_are_listed_in():
    from raynas.spaces.sampling import count_feasible, random_feasible

    space = ModelSpace(CheapestLast(), input_shape=(4, 8, 8))
    low, high = space.params_range()
    for budget in ({"max_params": low + 200}, {"min_params": high - 200}):  # 9 and 1 of 6,561 fit
        assert 0 < count_feasible(space, **budget) < space.size() / 700
        for seed in range(5):
            tokens = random_feasible(space, random.Random(seed), **budget)
            assert (
                tokens is not None and low + 200 >= space.num_params(tokens)
                if "max_params" in budget
                else tokens is not None and space.num_params(tokens) >= high - 200
            )


def test_a_choice_reached_through_a_plain_list_is_refused_before_anything_runs():
    with pytest.raises(
        ValueError,
        match=r"^space 'Aliased': forward reaches LayerChoice 'a' through a reference a "
        r"built network cannot swap \(a plain list",
    ):
        ModelSpace(Aliased(), input_shape=(1, 8, 8))


def test_the_supernet_of_a_model_with_a_batch_norm_subclass_has_torchs_batch_norm_without_affine():
    space = ModelSpace(WrappedNorm(), input_shape=(1, 8, 8))
    supernet = space.supernet()
    norms = [m for m in supernet.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 and all(not m.affine and m.momentum == 0.01 for m in norms)
    space.set_path(supernet, [0])
    assert supernet(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# -- supernet --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [user_space, mobile_space], ids=["user", "mobile"])
def test_built_subnet_with_supernet_weights_matches_the_supernet_path(make):
    space = make()
    torch.manual_seed(0)
    supernet = space.supernet()
    assert not any(m.affine for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    images, x = torch.randn(64, 1, 8, 8), torch.randn(5, 1, 8, 8)
    rng = random.Random(1)
    for tokens in [space.random_tokens(rng) for _ in range(3)]:
        space.set_path(supernet, tokens)
        recalibrate(supernet, images, batch_size=64)
        expected = supernet(x)
        subnet = space.build(tokens, supernet_state=supernet.state_dict())
        recalibrate(subnet, images, batch_size=64)
        torch.testing.assert_close(subnet(x), expected, rtol=1e-5, atol=1e-5)
        assert count(subnet) == space.num_params(tokens)


def test_recalibration_is_the_exact_mean_and_variance_of_the_calibration_activations():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3, momentum=0.5), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)
    )
    images = torch.randn(203, 1, 8, 8) * 2 + 1
    net[1].running_mean.fill_(7.0)  # stale statistics from earlier paths must not survive
    recalibrate(net, images, batch_size=50)  # uneven chunks: 50, 50, 50, 50, 3
    acts = net[0](images).detach().double()
    torch.testing.assert_close(net[1].running_mean.double(), acts.mean((0, 2, 3)), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        net[1].running_var.double(), acts.transpose(0, 1).reshape(3, -1).var(1), rtol=1e-6, atol=1e-6
    )
    assert not net.training
    single = nn.Sequential(*[m for m in net])  # one chunk: the second BatchNorm is exact too
    recalibrate(single, images, batch_size=len(images))
    with torch.no_grad():
        hidden = single[3](single[2](nn.functional.batch_norm(single[0](images), None, None, training=True)))
    torch.testing.assert_close(single[4].running_mean, hidden.mean((0, 2, 3)), rtol=1e-5, atol=1e-5)


def test_path_sampling_reaches_every_choice_and_repeats_for_a_seed():
    space = mobile_space()
    paths = [t for epoch in range(3) for [t] in PathSampler(space, seed=4).epoch(epoch, 60)]
    for i, n in enumerate(space.range_table()):
        assert {t[i] for t in paths} == set(range(n))
    again = [t for epoch in range(3) for [t] in PathSampler(space, seed=4).epoch(epoch, 60)]
    assert again == paths
    assert [t for [t] in PathSampler(space, seed=5).epoch(0, 60)] != paths[:60]
    assert PathSampler(space, seed=4).fixed(3) == PathSampler(space, seed=4).fixed(3)
    budget = 12_000
    budgeted = [t for [t] in PathSampler(space, seed=4, max_params=budget).epoch(0, 100)]
    assert all(space.num_params(t) <= budget for t in budgeted) and len(set(map(tuple, budgeted))) > 50


def test_fair_sampling_trains_every_candidate_of_every_label_once_per_batch():
    space = mobile_space()
    sizes = space.range_table()
    groups = list(PathSampler(space, seed=4, sampling="fair").epoch(0, 20))
    assert groups == list(PathSampler(space, seed=4, sampling="fair").epoch(0, 20))
    for group in groups:
        assert len(group) == max(sizes)
        for i, n in enumerate(sizes):
            assert {t[i] for t in group} == set(range(n))
    budget = 12_000
    budgeted = list(PathSampler(space, seed=4, max_params=budget, sampling="fair").epoch(0, 20))
    assert all(space.num_params(t) <= budget for group in budgeted for t in group)


def test_sandwich_sampling_trains_the_largest_and_smallest_paths_in_the_budget_beside_random_ones():
    space = mobile_space()
    every = [list(t) for t in itertools.product(*map(range, space.range_table()))]
    for budget in (None, 12_000):
        inside = [t for t in every if budget is None or space.num_params(t) <= budget]
        counts = [space.num_params(t) for t in inside]
        groups = list(PathSampler(space, seed=4, max_params=budget, sampling="sandwich").epoch(0, 20))
        assert all(len(group) == 4 for group in groups)
        assert {space.num_params(group[0]) for group in groups} == {max(counts)}
        assert {space.num_params(group[1]) for group in groups} == {min(counts)}
        randoms = [tuple(t) for group in groups for t in group[2:]]
        assert len(set(randoms)) > 30 and all(list(t) in inside for t in randoms)


def test_the_greedy_extremes_of_a_large_space_stay_in_the_budget_near_the_exact_ones(monkeypatch):
    space, budget = mobile_space(), 12_000
    exact = [space.num_params(extreme_feasible(space, big, budget)) for big in (True, False)]
    monkeypatch.setattr(sampling, "EXTREME_EXACT_LIMIT", 0)
    greedy = [space.num_params(extreme_feasible(space, big, budget)) for big in (True, False)]
    assert exact[0] * 0.99 <= greedy[0] <= budget and exact[1] <= greedy[1] <= exact[1] * 1.01
    assert extreme_feasible(space, True, max_params=exact[1] - 1) is None


def test_in_place_distillation_teaches_the_other_paths_the_first_paths_predictions():
    space = user_space()
    torch.manual_seed(0)
    model = space.supernet()
    images, labels = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    big, small = [1, 1, 1], [0, 0, 0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # keeps the weights: the gradients are compared
    train_step(space, model, optimizer, [big, small], images, labels, grad_clip=0.0, distil=True)
    distilled = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    space.set_path(model, big)
    teacher = model(images)
    nn.functional.cross_entropy(teacher, labels).backward()
    space.set_path(model, small)
    nn.functional.cross_entropy(model(images), teacher.detach().softmax(dim=1)).backward()
    expected = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert distilled.keys() == expected.keys()
    assert all(torch.allclose(distilled[k], expected[k], atol=1e-6) for k in expected)
    train_step(space, model, optimizer, [big, small], images, labels, grad_clip=0.0)  # without: labels for both
    assert not all(
        torch.allclose(distilled[k], p.grad, atol=1e-6) for k, p in model.named_parameters() if k in expected
    )


def test_unsampled_candidates_are_not_moved_by_momentum_or_weight_decay():
    space = user_space()
    torch.manual_seed(0)
    model = space.supernet()
    optimizer = make_optimizer(model, {"supernet_lr": 0.1, "momentum": 0.9, "weight_decay": 0.01})
    images, labels = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    train_step(space, model, optimizer, [[0, 0, 0]], images, labels)  # conv3x3 gets momentum
    conv3 = [p.detach().clone() for p in model.layer1.candidates["conv3x3"].parameters()]
    stem = [p.detach().clone() for p in model.stem.parameters()]
    train_step(space, model, optimizer, [[1, 0, 0]], images, labels)  # conv5x5 sampled, conv3x3 not
    assert all(torch.equal(a, b) for a, b in zip(conv3, model.layer1.candidates["conv3x3"].parameters()))
    assert all(p.grad is None for p in model.layer1.candidates["conv3x3"].parameters())
    fives = [p.detach().clone() for p in model.layer1.candidates["conv5x5"].parameters()]
    train_step(space, model, optimizer, [[0, 0, 0], [1, 0, 0]], images, labels)  # a group trains both
    assert not any(torch.equal(a, b) for a, b in zip(conv3, model.layer1.candidates["conv3x3"].parameters()))
    assert not any(torch.equal(a, b) for a, b in zip(fives, model.layer1.candidates["conv5x5"].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(stem, model.stem.parameters()))
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert all((id(p) in decayed) == (p.dim() > 1) for p in model.parameters())


# -- architecture JSON -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make", [user_space, mobile_space, lambda: spaces.get("small_channel")], ids=["user", "mobile", "small_channel"]
)
def test_export_apply_round_trip(make):
    space = make()
    rng = random.Random(2)
    for tokens in [space.random_tokens(rng) for _ in range(50)]:
        arch = json.loads(json.dumps(export_arch(space, tokens)))
        assert apply_arch(space, arch) == tokens


def test_export_writes_names_and_lists():
    assert export_arch(user_space(), [1, 0, 2]) == {"layer1": "conv5x5", "layer2": 0, "skip": [1, 2]}


@pytest.mark.parametrize(
    "arch, message",
    [
        ({"layer1": "conv3x3", "layer2": 0}, "label 'skip' is missing"),
        ({"layer1": "conv3x3", "layer2": 0, "skip": [0, 1], "extra": 1}, "unknown label 'extra'"),
        ({"layer1": 3, "layer2": 0, "skip": [0, 1]}, "layer1: index 3 is out of range"),
        ({"layer1": "conv9x9", "layer2": 0, "skip": [0, 1]}, "layer1: 'conv9x9' is not one of the candidates"),
        ({"layer1": [True, False], "layer2": 0, "skip": [0, 1]}, "layer1: a boolean mask needs exactly 3 entries"),
        ({"layer1": [True, True, False], "layer2": 0, "skip": [0, 1]}, "layer1: choose exactly 1"),
        ({"layer1": "conv3x3", "layer2": True, "skip": [0, 1]}, "layer2: True is not a candidate name or index"),
        ({"layer1": "conv3x3", "layer2": 0, "skip": [0]}, "skip: choose exactly 2"),
        ({"layer1": "conv3x3", "layer2": 0, "skip": [0, 0]}, "skip: choose exactly 2 distinct"),
        ({"layer1": "conv3x3", "layer2": 0, "skip": [0, 5]}, "skip: index 5 is out of range"),
        ({"layer1": "conv3x3", "layer2": 0, "skip": [True, True]}, "skip: a boolean mask needs exactly 3 entries"),
        (["layer1"], "must be a JSON object"),
    ],
)
def test_every_bad_architecture_is_one_clear_error(arch, message):
    with pytest.raises(ValueError, match=message):
        apply_arch(user_space(), arch)


@pytest.mark.parametrize("width", [5, "5", 3])
def test_a_number_that_is_no_candidate_is_not_read_as_an_index(width):
    space = spaces.get("small_channel")  # widths 4, 8, 12, 16, 24, 32, 48, 64: a typo is no index
    with pytest.raises(ValueError, match=rf"conv1_width: {width} is not one of the candidates \[4, 8, 12, 16, 24"):
        apply_arch(space, {"conv1_width": width, "conv2_width": 8, "conv3_width": 12, "conv4_width": 16})
    assert apply_arch(space, {"conv1_width": 8, "conv2_width": 8, "conv3_width": 12, "conv4_width": 16})[0] == 1


def test_every_accepted_form_applies():
    space = user_space()
    forms = [
        {"layer1": 1, "layer2": [1], "skip": [False, True, True]},
        {"layer1": "conv5x5", "layer2": [False, True], "skip": [2, 1]},
        {"layer1": [False, True, False], "layer2": 1, "skip": [1, 2]},
    ]
    assert all(apply_arch(space, arch) == [1, 1, 2] for arch in forms)


class NNIDocs(nn.Module):
    """The labels of the architecture JSON example in NNI's documentation."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.layer1 = LayerChoice(
            {"conv3x3": nn.Conv2d(in_channels, 4, 3, padding=1), "conv5x5": nn.Conv2d(in_channels, 4, 5, padding=2)},
            label="LayerChoice1",
        )
        self.layer2 = LayerChoice([nn.Conv2d(4, 4, 1) for _ in range(7)], label="LayerChoice2")
        self.layer3 = nn.Conv2d(4, 4, 3, padding=1)
        self.input3 = InputChoice(n_chosen=2, candidate_names=["layer1", "layer2", "layer3"], label="InputChoice3")
        self.input4 = InputChoice(4, n_chosen=2, reduction="mean", label="InputChoice4")
        self.input5 = InputChoice(5, n_chosen=2, reduction="concat", label="InputChoice5")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))

    def forward(self, x):
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        y = self.input3([x1, x2, x3])
        y = self.input4([x1, x2, x3, y])
        return self.head(self.input5([x1, x2, x3, y, x1 + y]))


def test_the_nni_documentation_example_applies():
    space = ModelSpace(NNIDocs, input_shape=(1, 8, 8), name="nni_docs")
    arch = {
        "LayerChoice1": "conv5x5",
        "LayerChoice2": 6,
        "InputChoice3": ["layer1", "layer3"],
        "InputChoice4": [1, 2],
        "InputChoice5": [False, True, False, False, True],
    }
    tokens = apply_arch(space, arch)
    assert space.to_arch(tokens) == {
        "LayerChoice1": "conv5x5",
        "LayerChoice2": 6,
        "InputChoice3": ["layer1", "layer3"],
        "InputChoice4": [1, 2],
        "InputChoice5": [1, 4],
    }
    net = space.build(tokens)
    assert net.layer1.kernel_size == (5, 5) and net.input5.indices == [1, 4]
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert count(net) == space.num_params(tokens)
    assert apply_arch(space, {**arch, "LayerChoice2": "6"}) == tokens  # an unnamed candidate's index as text
    # NNI's container interface of a LayerChoice
    layer1, layer2 = NNIDocs().layer1, NNIDocs().layer2
    assert len(layer1) == 2 and len(layer2) == 7 and layer1["conv5x5"].kernel_size == (5, 5)
    assert layer1[1] is layer1["conv5x5"] and list(layer2) == [layer2[i] for i in range(7)]


def test_read_arch_file(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"layer1": "conv5x5"}))
    assert read_arch_file(str(flat)) == {"arch": {"layer1": "conv5x5"}}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_arch_file(str(bad))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_arch_file(str(tmp_path / "none.json"))
    tokens_only = tmp_path / "tokens.json"  # a best_arch.json record without 'arch': its tokens
    tokens_only.write_text(json.dumps({"space": "small_channel", "tokens": [1, 2, 3, 4]}))
    assert settings_for_file(str(tokens_only), {})[2] == [1, 2, 3, 4]
    tokens_only.write_text(json.dumps({"space": "small_channel", "tokens": [1, 2, 3, 40]}))
    with pytest.raises(
        ValueError,
        match=r"tokens.json: .*40.*; has space 'small_channel' changed since the file was "
        r"written\?$",
    ):
        settings_for_file(str(tokens_only), {})
    tokens_only.write_text(json.dumps({"space": "small_channel"}))
    with pytest.raises(ValueError, match="names space 'small_channel' but holds neither 'arch'"):
        read_arch_file(str(tokens_only))


def test_a_record_of_any_json_choice_reads_back_to_its_tokens(tmp_path):
    space = spaces.get("user_spaces:JsonChoices")
    for tokens in itertools.product(*map(range, space.range_table())):
        arch = json.loads(json.dumps(export_arch(space, list(tokens))))  # as best_arch.json holds it
        record = tmp_path / "best_arch.json"
        record.write_text(json.dumps({"space": "user_spaces:JsonChoices", "tokens": list(tokens), "arch": arch}))
        assert settings_for_file(str(record), {})[2] == list(tokens)  # true is not 1, [3, 1] not two indices
        if tokens[0] != 1:  # width 4 is the first of two 4s: the arch alone says token 0
            assert apply_arch(space, arch) == list(tokens)
    record.write_text(
        json.dumps({"space": "user_spaces:JsonChoices", "tokens": [2, 0, 0, 0], "arch": {**arch, "width": 4}})
    )
    with pytest.raises(ValueError, match="'tokens' \\[2, 0, 0, 0\\] disagree with 'arch'"):
        settings_for_file(str(record), {})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("space_kwargs", "oops", "'space_kwargs' in .* must be a JSON object, got 'oops'"),
        ("tokens", "1,2,3,4", "'tokens' in .* must be a JSON list of integers, got '1,2,3,4'"),
        ("space", 3, "'space' in .* must be a string, got 3"),
    ],
)
def test_a_hand_edited_record_of_the_wrong_type_is_one_error(tmp_path, field, value, message):
    record = tmp_path / "best_arch.json"
    record.write_text(json.dumps({"space": "small_channel", "tokens": [1, 2, 3, 4], field: value}))
    with pytest.raises(ValueError, match=message):
        settings_for_file(str(record), {})


def test_layers_set_the_cells_of_a_genotype_network_only(tmp_path):
    genotype = tmp_path / "genotype.json"
    genotype.write_text(
        json.dumps(
            {
                "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["sep_conv_3x3", 2], ["max_pool_3x3", 0]],
                "normal_concat": [2, 3],
                "reduce_concat": [2, 3],
                "reduce": [["max_pool_3x3", 0], ["skip_connect", 1], ["avg_pool_3x3", 2], ["skip_connect", 1]],
            }
        )
    )
    settings, space, _ = settings_for_file(str(genotype), {}, layers=6)
    assert settings.space_kwargs["num_cells"] == 6 and settings.space_kwargs["reduction_cells"] == [2, 4]
    three = tmp_path / "three_cells.json"  # a searched network of 3 cells: its widths fix its cells
    settings, space, tokens = settings_for_file(str(genotype), {}, layers=3)
    three.write_text(json.dumps({"space": "darts_channel", "space_kwargs": settings.space_kwargs, "tokens": tokens}))
    assert settings_for_file(str(three), {}, layers=3)[2] == tokens
    with pytest.raises(
        ValueError,
        match=r"three_cells.json holds the widths of 3 cells, which retrain as they are: "
        r"drop layers, or give the search's genotype.json",
    ):
        settings_for_file(str(three), {}, layers=6)
    tokens_only = tmp_path / "best_arch.json"  # another space's architecture: --layers means nothing there
    tokens_only.write_text(json.dumps({"space": "small_channel", "tokens": [1, 2, 3, 4]}))
    with pytest.raises(ValueError, match="layers sets the cells of a DARTS genotype's network; .* drop layers"):
        settings_for_file(str(tokens_only), {}, layers=6)
    # another --data: the network takes that dataset's shape, not the one the file was searched on
    searched = tmp_path / "searched.json"
    searched.write_text(
        json.dumps(
            {
                "space": "mobile",
                "data": "digits",
                "tokens": [0, 0, 0, 0, 0, 0],
                "space_kwargs": {"in_channels": 1, "num_classes": 10, "input_shape": [1, 8, 8]},
            }
        )
    )
    from test_data import make_mnist

    settings, space, _ = settings_for_file(
        str(searched), {"data": "mnist", "data_dir": str(make_mnist(tmp_path, flat=True))}
    )
    assert settings.data == "mnist" and "input_shape" not in settings.space_kwargs
    assert space.kwargs()["input_shape"] == [1, 28, 28]
    # with another --space, a genotype or another space's tokens would silently train that space's start
    with pytest.raises(
        ValueError,
        match="genotype.json holds a DARTS genotype, which retrains in space "
        "'darts_channel', not 'small_channel'; drop space",
    ):
        settings_for_file(str(genotype), {"space": "small_channel"})
    with pytest.raises(
        ValueError,
        match="holds tokens of space 'small_channel', which retrains in space "
        "'small_channel', not 'mobile'; drop space",
    ):
        settings_for_file(str(tokens_only), {"space": "mobile"})


def test_named_choices_labels_unlabelled_choices_by_path():
    model = Pair(LayerChoice([nn.Identity(), nn.ReLU()]), nn.Identity())
    assert [label for label, _ in named_choices(model)] == ["first"]
    # labels are JSON keys of best_arch.json: a label given as a number is its text, 0 included
    numbered = ModelSpace(
        Pair(LayerChoice([nn.Identity(), nn.ReLU()], label=0), LayerChoice([nn.Identity(), nn.ReLU()], label=1)),
        input_shape=(1, 4, 4),
    )
    assert numbered.labels() == ["0", "1"]
    assert numbered.from_arch(json.loads(json.dumps(numbered.to_arch([1, 0])))) == [1, 0]
    assert user_spaces.tiny().layer1.label == "layer1"


@pytest.mark.parametrize("head, got", [(nn.Linear(16, 7), "shape (2, 7)"), (nn.Identity(), "shape (2, 16)")])
def test_a_model_that_does_not_score_every_class_is_refused_before_training(head, got):
    def factory(num_classes: int = 10):
        return Pair(LayerChoice([nn.Identity(), nn.ReLU()], label="op"), nn.Sequential(nn.Flatten(), head))

    with pytest.raises(ValueError, match=re.escape(f"returns {got} for 2 samples, not their logits of shape (2, 10)")):
        ModelSpace(factory, factory_kwargs={"num_classes": 10}, input_shape=(1, 4, 4))
    right = ModelSpace(
        lambda num_classes: Pair(
            LayerChoice([nn.Identity(), nn.ReLU()], label="op"), nn.Sequential(nn.Flatten(), nn.Linear(16, num_classes))
        ),
        factory_kwargs={"num_classes": 10},
        input_shape=(1, 4, 4),
    )
    assert right.num_params([0]) == 16 * 10 + 10


# -- a user's own token space: a SearchSpace subclass named module:Class ------------------------------------
def test_a_token_space_class_is_a_user_space_with_its_exact_counts():
    from raynas.spaces.build import space_for

    space = space_for("user_spaces:Widths", {}, "cifar10")  # it takes in_channels: the dataset's are passed
    assert isinstance(space, user_spaces.Widths) and space.name == "user_spaces:Widths" and space.in_channels == 3
    assert not spaces.is_model_space("user_spaces:Widths") and spaces.is_model_space("user_spaces:tiny")
    for tokens in itertools.product(range(3), repeat=2):
        assert space.num_params(tokens) == sum(p.numel() for p in space.build(tokens).parameters())
    with pytest.raises(ValueError, match="the choices of position 'conv2_width' must be a non-empty list, got \\[\\]"):
        space_for("user_spaces:NoChoice", {}, "digits")


def test_a_model_factory_without_the_dataset_arguments_is_told_which_one_it_must_take():
    from raynas.spaces.build import space_for

    with pytest.raises(
        ValueError,
        match="space 'user_spaces:conv_bn' must take the argument 'in_channels', which "
        r"raynas sets from the dataset \(1 for digits\); add it to its signature",
    ):
        space_for("user_spaces:conv_bn", {}, "digits")


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_token_space_class_is_searched_and_retrained_from_the_cli(tmp_path, capsys):
    from raynas import cli

    assert (
        cli.main(
            [
                "search",
                "evolution",
                "--space",
                "user_spaces:Widths",
                "--num-samples",
                "3",
                "--epochs",
                "1",
                "--max-params",
                "600",
                "--storage-path",
                str(tmp_path),
                "--name",
                "w",
            ]
        )
        == 0
    )
    best = json.loads((tmp_path / "w" / "best_arch.json").read_text())
    space = user_spaces.Widths()
    assert best["space"] == "user_spaces:Widths" and best["params"] == space.num_params(best["tokens"]) <= 600
    assert (
        cli.main(
            [
                "retrain",
                "--arch",
                str(tmp_path / "w" / "best_arch.json"),
                "--epochs",
                "1",
                "--storage-path",
                str(tmp_path),
                "--name",
                "again",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "again" / "best_arch.json").read_text())["tokens"] == best["tokens"]


class _NumpyChoices(user_spaces.Widths):
    def choices(self):
        import numpy as np

        return [list(np.array(self.WIDTHS)), self.WIDTHS]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"labels": lambda self: ["conv", "conv"]}, "labels() must be distinct strings, got ['conv', 'conv']"),
        ({"labels": lambda self: [1, 2]}, "labels() must be distinct strings, got [1, 2]"),
        ({"labels": lambda self: ["reward", "b"]}, "choice label 'reward' is the name of a results column"),
        ({"choices": lambda self: ["abc", [1, 2]]}, "the choices of position 'conv1_width' must be a non-empty list"),
        (
            {"choices": _NumpyChoices.choices},
            "choice np.int64(2) of position 'conv1_width' is a int64, not a JSON value",
        ),
        (
            {"choices": lambda self: [[(2, "a"), (4, "b")], [1, 2]]},
            "choice (2, 'a') of position 'conv1_width' is a tuple",
        ),
        ({"num_params": None}, "does not implement num_params() of SearchSpace; add them"),
    ],
)
def test_a_token_space_that_breaks_the_interface_is_one_clear_error(monkeypatch, change, message):
    from raynas.spaces.build import space_for

    for name, method in change.items():
        if method is None:
            monkeypatch.delattr(user_spaces.Widths, name)
            monkeypatch.setattr(user_spaces.Widths, "__abstractmethods__", frozenset({name}))
        else:
            monkeypatch.setattr(user_spaces.Widths, name, method)
    with pytest.raises(ValueError, match=re.escape(message)):
        space_for("user_spaces:Widths", {}, "digits")


@pytest.mark.parametrize(
    "space, message",
    [
        ("user_spaces:WrongCount", r"num_params\(\[0, 0\]\) = 616 but build\(\[0, 0\]\) has 88 parameters"),
        (
            "user_spaces:FiveScores",
            r"build\(\[0, 0\]\) returns shape \(2, 5\) for 2 samples, not their logits of "
            r"shape \(2, 10\)",
        ),
    ],
)
def test_a_token_space_whose_network_cannot_train_is_refused_before_any_trial(space, message):
    from raynas.settings import SearchSettings
    from raynas.tune.build import make_space

    with pytest.raises(ValueError, match=message):
        make_space(SearchSettings(space=space))


@pytest.mark.parametrize("width, error", [(-1, "RuntimeError"), (8.5, "ValueError")])
def test_an_error_in_a_space_factory_says_where_in_the_users_code(width, error):
    """torch's own errors, whatever their type, come out as one line naming the space and the user's line."""
    with pytest.raises(
        ValueError,
        match=rf"space 'user_spaces:tiny' fails to build from its arguments "
        rf"\{{'width': {width}}} \({error}: .*, at .*user_spaces.py:\d+\); check ",
    ):
        spaces.get("user_spaces:tiny", width=width)


def test_a_token_space_is_recreated_with_its_arguments_and_counted_exactly():
    from raynas.spaces.build import space_for
    from raynas.trainables.retrain import build_model

    scaled = space_for("user_spaces:Scaled", {"scale": 4}, "digits")  # no kwargs() of its own: the given ones
    assert scaled.kwargs() == {"scale": 4, "in_channels": 1, "num_classes": 10}
    assert spaces.get("user_spaces:Scaled", **scaled.kwargs()).choices() == [[8, 16, 32]] * 2
    descending = space_for("user_spaces:Descending", {}, "digits")  # token 0 is the largest: counted, not assumed
    assert descending.params_range() == (descending.num_params([2, 2]), descending.num_params([0, 0]))
    wrong = {"space": "user_spaces:WrongCount", "space_kwargs": {"in_channels": 1, "num_classes": 10}}
    with pytest.raises(ValueError, match=r"num_params\(\[1, 1\]\) = 1,666 but build\(\[1, 1\]\) has 238 parameters"):
        build_model(wrong, [1, 1])
    with pytest.raises(ValueError, match=r"num_params\(\[0, 0\]\) returned None, not a whole number"):
        from raynas.spaces import sampling

        sampling.count_feasible(
            type("NoneCount", (user_spaces.Widths,), {"num_params": lambda self, t: None})(), max_params=1000
        )


@pytest.mark.parametrize(
    "before,after",
    [
        (lambda: ModelSpace(user_spaces.tiny, {"width": 8}), lambda: ModelSpace(user_spaces.tiny, {"width": 16})),
        (user_spaces.Widths, user_spaces.WrongCount),
    ],
    ids=["model", "token-class"],
)
def test_a_space_whose_code_changed_its_networks_is_refused_on_resume(tmp_path, before, after):
    from raynas.spaces import record

    record.write(str(tmp_path), "s", before())
    record.check_unchanged(str(tmp_path), "s", before())  # the same code: fine
    changed = after()  # the same labels and choices, other networks: the recorded params would be wrong
    assert changed.labels() == before().labels() and changed.choices() == before().choices()
    with pytest.raises(
        ValueError,
        match=r"changed since search 's' started \(its networks' parameter counts differ: "
        r"its code changed\), so the results recorded before and after would not",
    ):
        record.check_unchanged(str(tmp_path), "s", changed)


_SHARED: list[nn.Module] = []


def shared_model(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """A memoised factory: the same model on every call."""
    if not _SHARED:
        _SHARED.append(user_spaces.tiny(in_channels, num_classes))
    return _SHARED[0]


def test_a_factory_that_hands_out_one_shared_model_is_one_error_before_the_search(tmp_path):
    from raynas.settings import SearchSettings
    from raynas.tune.build import make_space

    settings = SearchSettings(space="test_choices:shared_model", storage_path=str(tmp_path))
    with pytest.raises(
        ValueError,
        match=r"^space factory shared_model returned the same model object on a second "
        r"call; make it build a new model on every call$",
    ):
        make_space(settings)
    assert len(named_choices(_SHARED[0])) == 3  # the model the space holds is left as it was
