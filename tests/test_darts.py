"""DARTS: the second-order hypergradient, the virtual step, genotypes, the schedule, resume and bad settings."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from raynas.spaces.darts import PRIMITIVES, SearchNetwork
from raynas.trainables.architect import Architect
from raynas.trainables.darts import DartsSearch, check_recipe, recipe

TINY = {"layers": 3, "init_channels": 2, "steps": 2, "batch_size": 128}


def smooth(net: torch.nn.Module) -> torch.nn.Module:
    """ReLU -> SiLU and max -> average pooling, so that second derivatives exist everywhere.

    A ReLU/max-pool supernet has kinks about every 1e-6 along a direction of the weights, so no finite
    difference (the step is 0.01) matches its exact derivative; a smooth one must match closely.
    """
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, torch.nn.SiLU())
            elif isinstance(child, torch.nn.MaxPool2d):
                setattr(module, name, torch.nn.AvgPool2d(3, child.stride, 1, count_include_pad=False))
    return net


def tiny_setup(dtype=torch.float64, make=lambda: SearchNetwork(C=2, layers=3, steps=2, in_channels=1)):
    """A smooth supernet from ``make`` (anything with weight_parameters/arch_parameters taking 1x8x8 images),
    its optimizers and second-order architect, and train/val batches."""
    torch.manual_seed(0)
    net = smooth(make()).to(dtype)
    with torch.no_grad():  # spread the architecture weights so every term matters
        for alpha in net.arch_parameters():
            alpha.normal_(0, 0.5)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    architect = Architect(net, w_opt, a_opt, order=2)
    x = torch.randn(3, 6, 1, 8, 8, dtype=dtype)
    y = torch.randint(0, 10, (3, 6))
    architect.weight_step(x[0], y[0])  # a non-zero momentum buffer
    return net, w_opt, architect, (x[1], y[1], x[2], y[2])


def exact_hypergradient(net, w_opt, x_train, y_train, x_val, y_val) -> list[torch.Tensor]:
    """d/d alpha of L_val(w - eta (mu buf + grad_w L_train(w, alpha) + lambda w), alpha), by autograd."""
    group = w_opt.param_groups[0]
    eta, mu, decay = group["lr"], group["momentum"], group["weight_decay"]
    names = {id(p): n for n, p in net.named_parameters()}
    weights = {names[id(p)]: p.detach().clone() for p in net.weight_parameters()}
    alphas = {names[id(p)]: p.detach().clone().requires_grad_() for p in net.arch_parameters()}
    buffers = {n: b.clone() for n, b in net.named_buffers()}

    def loss(w, x, y):
        return F.cross_entropy(functional_call(net, {**w, **alphas, **buffers}, (x,)), y)

    for w in weights.values():
        w.requires_grad_()
    grads = torch.autograd.grad(loss(weights, x_train, y_train), list(weights.values()), create_graph=True)
    unrolled = {}
    for (name, w), g in zip(weights.items(), grads):
        buffer = w_opt.state[dict(net.named_parameters())[name]]["momentum_buffer"]
        unrolled[name] = w - eta * (mu * buffer + g + decay * w)
    return list(torch.autograd.grad(loss(unrolled, x_val, y_val), list(alphas.values())))


def check_hypergradient(net, w_opt, architect, batches) -> None:
    """The finite-difference hypergradient agrees with the exact one, and differs from the first-order one."""
    exact = torch.cat([g.flatten() for g in exact_hypergradient(net, w_opt, *batches)])
    approx = torch.cat([g.flatten() for g in architect.arch_gradient_second_order(*batches)])
    cosine = F.cosine_similarity(exact, approx, dim=0).item()
    relative_error = ((approx - exact).norm() / exact.norm()).item()
    print(f"hypergradient: cosine {cosine:.8f}, relative error {relative_error:.2e}")
    assert cosine >= 0.999
    assert relative_error < 1e-3
    # the unrolled term matters: first order alone is measurably different
    first = torch.cat([g.flatten() for g in architect._grads(batches[2], batches[3], architect.alphas)])
    assert ((first - exact).norm() / exact.norm()).item() > 10 * relative_error


def test_finite_difference_hypergradient_matches_the_exact_one():
    check_hypergradient(*tiny_setup())


def test_virtual_step_moves_the_weights_it_uses_and_restores_everything():
    net, w_opt, architect, (x_train, y_train, x_val, y_val) = tiny_setup()
    weights = [w.detach().clone() for w in net.weight_parameters()]
    momentum = [w_opt.state[w]["momentum_buffer"].clone() for w in net.weight_parameters()]
    virtual = architect.virtual_weights(x_train, y_train)
    moved = max((v - w).abs().max().item() for v, w in zip(virtual, weights))
    assert moved > 1e-4  # not a no-op
    group = w_opt.param_groups[0]
    # w' = w - eta (mu buf + g + lambda w), checked against the gradient at w
    grads = architect._grads(x_train, y_train, architect.weights)
    for v, w, g, m in zip(virtual, weights, grads, momentum):
        expected = w - group["lr"] * (group["momentum"] * m + g + group["weight_decay"] * w)
        torch.testing.assert_close(v, expected)
    buffers = [b.clone() for b in net.buffers()]
    grad_alpha = architect.arch_gradient_second_order(x_train, y_train, x_val, y_val)
    assert all(g.abs().sum() > 0 for g in grad_alpha)
    assert all(torch.equal(w, w0) for w, w0 in zip(net.weight_parameters(), weights))
    assert all(torch.equal(b, b0) for b, b0 in zip(net.buffers(), buffers))  # BN statistics
    assert all(torch.equal(w_opt.state[w]["momentum_buffer"], m) for w, m in zip(net.weight_parameters(), momentum))


def test_step_updates_alpha_then_weights_with_clipping():
    net, w_opt, architect, batches = tiny_setup()
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    weights = [w.detach().clone() for w in net.weight_parameters()]
    architect.grad_clip = 1e-3
    architect.step(*batches)
    assert all(not torch.equal(a, a0) for a, a0 in zip(net.arch_parameters(), alphas))
    assert all(a.grad is not None for a in net.arch_parameters())
    total = math.sqrt(sum(float((w.grad**2).sum()) for w in net.weight_parameters()))
    assert total == pytest.approx(1e-3, rel=1e-4)  # the real step is clipped
    assert any(not torch.equal(w, w0) for w, w0 in zip(net.weight_parameters(), weights))
    frozen = [a.detach().clone() for a in net.arch_parameters()]
    architect.step(*batches, update_arch=False)  # a warm-up step leaves alpha alone
    assert all(torch.equal(a, a0) for a, a0 in zip(net.arch_parameters(), frozen))


def test_genotype_from_hand_set_alphas():
    net = SearchNetwork(C=2, layers=3, steps=3, in_channels=1)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.zero_()
            alpha[:, PRIMITIVES.index("none")] = 8.0  # none is the strongest everywhere and never chosen
        # node 0: edges 0, 1; node 1: edges 2..4; node 2: edges 5..8 (inputs 0..3)
        net.alphas_normal[1, PRIMITIVES.index("sep_conv_5x5")] = 2.0
        net.alphas_normal[0, PRIMITIVES.index("skip_connect")] = 1.0
        net.alphas_normal[4, PRIMITIVES.index("dil_conv_3x3")] = 3.0
        net.alphas_normal[2, PRIMITIVES.index("avg_pool_3x3")] = 2.5
        net.alphas_normal[8, PRIMITIVES.index("skip_connect")] = 4.0
        net.alphas_normal[6, PRIMITIVES.index("max_pool_3x3")] = 1.5
        net.alphas_reduce[:, PRIMITIVES.index("sep_conv_3x3")] = 1.0
    genotype = net.genotype()
    assert genotype.normal == [
        ("sep_conv_5x5", 1),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
        ("avg_pool_3x3", 0),
        ("skip_connect", 3),
        ("max_pool_3x3", 1),
    ]
    assert all(op == "sep_conv_3x3" for op, _ in genotype.reduce)
    assert genotype.normal_concat == [2, 3, 4]
    weights = net.arch_weights()
    assert torch.allclose(weights["normal"].sum(1), torch.ones(9))


def test_lr_follows_the_cosine_schedule_and_resume_equals_uninterrupted():
    s = recipe({"seed": 3}, {**TINY, "epochs": 3, "order": 2, "epochs_no_archopt": 1})
    whole = DartsSearch(s, "cpu")
    reports = []
    whole.run(lambda metrics, state: reports.append(metrics))
    lr, lr_min = s["lr"], s["lr_min"]
    expected = [lr_min + (lr - lr_min) * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    assert [r["lr"] for r in reports] == pytest.approx(expected)
    assert [r["arch_updated"] for r in reports] == [False, True, True]
    assert reports[0]["genotype"] == str(SearchNetworkAtSeed(s).genotype())  # warm-up kept alpha

    first = DartsSearch(s, "cpu")
    first.run_epoch()
    resumed = DartsSearch(s, "cpu")
    resumed.load_state(first.state())
    resumed.run(lambda metrics, state: reports.append(metrics))
    assert reports[-1]["epoch"] == 3 and reports[-1]["lr"] == pytest.approx(expected[2])
    for a, b in zip(whole.model.arch_parameters(), resumed.model.arch_parameters()):
        assert torch.equal(a, b)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert reports[-1]["genotype"] == reports[2]["genotype"]
    for key in ("alphas_normal", "alphas_reduce", "genotype_json", "skip_connects_normal", "val_acc", "train_acc"):
        assert key in reports[-1]


def SearchNetworkAtSeed(s) -> SearchNetwork:
    """The supernet as initialised for seed ``s["seed"]``."""
    torch.manual_seed(s["seed"])
    return SearchNetwork(C=s["init_channels"], layers=s["layers"], steps=s["steps"], in_channels=1)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"order": 3}, "^order must be 1 .* or 2"),
        ({"epochs": 2, "epochs_no_archopt": 2}, r"^epochs_no_archopt \(2\) must be smaller than epochs \(2\)"),
        ({"layers": 0}, "^layers must be at least 1"),
    ],
)
def test_bad_settings(change, message):
    with pytest.raises(ValueError, match=message):
        check_recipe(recipe({}, change))
