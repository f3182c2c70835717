"""DARTS on labelled-choice model spaces: the relaxed forward, the export, the hypergradient, the CLI search."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from test_darts import check_hypergradient, tiny_setup
from torch import nn

from raynas import cli, spaces
from raynas.spaces.choices import InputChoice, LayerChoice, ModelSpace
from raynas.spaces.export import apply_arch
from raynas.spaces.relaxed import RelaxedSupernet
from raynas.trainables.architect import Architect
from raynas.trainables.darts import DartsSearch, recipe

NET = "user_spaces:net"  # NNI's example: two LayerChoice convolutions and an InputChoice skip


class Mix(nn.Module):
    """One LayerChoice of three candidates feeding one InputChoice over three tensors."""

    def __init__(self, reduction: str = "sum", n_chosen: int = 2):
        super().__init__()
        self.layer = LayerChoice([nn.Linear(4, 4), nn.Linear(4, 4), nn.Tanh()], label="layer")
        self.inputs = InputChoice(3, n_chosen=n_chosen, reduction=reduction, label="inputs")

    def forward(self, x):
        h = self.layer(x)
        return self.inputs([x, h, 2 * h])


def hand_set(net: RelaxedSupernet) -> None:
    with torch.no_grad():
        net.arch_parameters()[0].copy_(torch.tensor([1.0, 2.0, 0.5]))
        net.arch_parameters()[1].copy_(torch.tensor([0.3, -1.0, 2.0]))


@pytest.mark.parametrize("reduction, n_chosen", [("sum", 2), ("mean", 2), ("concat", 2), ("concat", 3)])
def test_relaxed_forward_is_the_softmax_weighted_mix(reduction, n_chosen):
    space = ModelSpace(lambda: Mix(reduction, n_chosen), input_shape=[4])
    torch.manual_seed(0)
    net = RelaxedSupernet(space)
    hand_set(net)
    x = torch.randn(5, 4)
    a, b = F.softmax(torch.tensor([1.0, 2.0, 0.5]), 0), F.softmax(torch.tensor([0.3, -1.0, 2.0]), 0)
    layer = net.model.layer.candidates
    h = a[0] * layer["0"](x) + a[1] * layer["1"](x) + a[2] * torch.tanh(x)
    inputs = [x, h, 2 * h]
    mix = b[0] * x + b[1] * h + b[2] * 2 * h
    expected = {
        "sum": n_chosen * mix,
        "mean": mix,
        "concat": torch.cat([3 * w * t for w, t in zip(b, inputs)], 1) if n_chosen == 3 else torch.cat([mix, mix], 1),
    }[reduction]
    out = net(x)
    torch.testing.assert_close(out, expected)
    # the relaxed output has the shape of every fixed network of the space
    assert out.shape == space.build(net.tokens())(x).shape


def test_export_picks_the_argmax_and_the_top_n_chosen():
    space = ModelSpace(lambda: Mix("sum", 2), input_shape=[4])
    net = RelaxedSupernet(space)
    hand_set(net)
    arch = net.export()
    assert arch == {"layer": 1, "inputs": [0, 2]}  # argmax of (1, 2, 0.5); the two largest of (0.3, -1, 2)
    assert apply_arch(space, arch) == net.tokens()
    weights = net.arch_weights()
    assert weights["layer"] == pytest.approx(F.softmax(torch.tensor([1.0, 2.0, 0.5]), 0).tolist())
    assert sum(weights["inputs"]) == pytest.approx(1.0)
    arch_ids = {id(p) for p in net.arch_parameters()}
    assert len(arch_ids) == 2 and not arch_ids & {id(p) for p in net.weight_parameters()}
    assert len(net.weight_parameters()) + 2 == len(list(net.parameters()))


def test_hypergradient_on_a_relaxed_model_space_matches_the_exact_one():
    space = spaces.get("user_spaces:tiny", in_channels=1, num_classes=10, width=3, input_shape=[1, 8, 8])
    check_hypergradient(*tiny_setup(make=lambda: RelaxedSupernet(space)))


def test_second_order_step_on_relaxed_mobile_moves_every_choice_and_the_weights():
    torch.manual_seed(0)
    # two stages, one skippable block, two kernels: every kind of choice, few convolution shapes to set up
    net = RelaxedSupernet(
        spaces.get(
            "mobile",
            input_shape=[1, 8, 8],
            widths=[8, 16],
            depths=[2, 1],
            strides=[1, 2],
            min_depths=[1, 1],
            kernels=[3, 5],
            expansions=[3, 6],
        )
    )
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    architect = Architect(net, w_opt, a_opt, order=2)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    weights = [w.detach().clone() for w in net.weight_parameters()]
    architect.step(x, y, x.flip(0), y.flip(0))
    assert all(not torch.equal(a, b) for a, b in zip(net.arch_parameters(), alphas))
    assert any(not torch.equal(w, b) for w, b in zip(net.weight_parameters(), weights))


def test_an_epoch_moves_the_architecture_and_reports_its_export():
    s = recipe({"seed": 0}, {"space": NET, "epochs": 2, "order": 1, "batch_size": 128})
    search = DartsSearch(s, "cpu")
    before = [a.detach().clone() for a in search.model.arch_parameters()]
    metrics = search.run_epoch()
    assert any(not torch.equal(a, b) for a, b in zip(search.model.arch_parameters(), before))
    model_space = search.model.space
    assert apply_arch(model_space, json.loads(metrics["arch"])) == json.loads(metrics["tokens"])
    assert metrics["params"] == model_space.num_params(json.loads(metrics["tokens"]))
    weights = json.loads(metrics["arch_weights"])
    assert list(weights) == model_space.labels()
    assert all(abs(sum(w) - 1) < 1e-3 for w in weights.values())


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_darts_cli_on_a_user_model_space_exports_an_arch_that_retrains(tmp_path):
    out = tmp_path / "net"
    assert (
        cli.main(
            [
                "search",
                "darts",
                "--space",
                NET,
                "--epochs",
                "2",
                "--order",
                "2",
                "--batch-size",
                "128",
                "--seeds",
                "2",
                "--storage-path",
                str(tmp_path),
                "--name",
                "net",
            ]
        )
        == 0
    )
    best = json.loads((out / "best_arch.json").read_text())
    assert best["space"] == NET and set(best["arch"]) == {"conv1", "conv2", "skipconnect"}
    space = spaces.get(NET, **best["space_kwargs"])
    assert apply_arch(space, best["arch"]) == best["tokens"]
    assert best["params"] == space.num_params(best["tokens"])
    results = pd.read_csv(out / "results.csv")
    assert best["val_acc"] == pytest.approx(results.val_acc.max())
    progress = pd.read_csv(next(out.glob("darts_search_*/progress.csv")))
    assert list(progress.epoch) == [1, 2]
    assert set(json.loads(progress.arch_weights.iloc[-1])) == {"conv1", "conv2", "skipconnect"}
    assert not (out / "genotype.json").exists()
    # `raynas analyze` reads the DARTS search: a row per seed, one column per label, the best seed's record
    from raynas import analysis

    frame = analysis.load(str(tmp_path), "net")
    assert frame.seed.tolist() == [0, 1] and frame.reward.tolist() == results.val_acc.tolist()
    assert frame.tokens.tolist() == [space.from_arch(json.loads(a)) for a in results.arch]
    assert frame.conv1.notna().all() and frame.params.tolist() == results.params.tolist()
    analysis.analyze(str(tmp_path), ["net"])
    assert json.loads((out / "analysis" / "net" / "best_arch.json").read_text()) == best
    assert (
        cli.main(
            [
                "retrain",
                "--arch",
                str(out / "best_arch.json"),
                "--epochs",
                "1",
                "--storage-path",
                str(tmp_path),
                "--name",
                "retrain",
            ]
        )
        == 0
    )
    retrained = json.loads((tmp_path / "retrain" / "best_arch.json").read_text())
    assert retrained["arch"] == best["arch"] and retrained["val_acc"] > 0.2


@pytest.mark.parametrize(
    "space, message",
    [
        ("small_channel", "DARTS searches the 'darts' cell space or a space of labelled choices"),
        ("user_spaces:missing", "module 'user_spaces' has no callable 'missing'"),
    ],
)
def test_darts_cli_rejects_a_space_without_labelled_choices(tmp_path, capsys, space, message):
    assert cli.main(["search", "darts", "--space", space, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.iterdir())
