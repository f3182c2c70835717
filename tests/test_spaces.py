"""Tests of the channel spaces and the DARTS building blocks."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from raynas import spaces
from raynas.spaces.channel import FILTER_NUM, WIDTHS, DartsChannelSpace, SmallChannelSpace
from raynas.spaces.darts import (
    DARTS_V1,
    DARTS_V2,
    OPS,
    PADDLESLIM_DARTS,
    PRIMITIVES,
    EvalNetwork,
    Genotype,
    SearchNetwork,
    eval_network_params,
    genotype_from_dict,
    genotype_to_dict,
    op_params,
    parse_genotype,
)

SANAS_FINAL = [5, 5, 0, 5, 5, 10, 7, 7, 5, 7, 7, 11, 10, 12, 10, 0, 5, 3, 10, 8]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


SPACES = [
    pytest.param(SmallChannelSpace(), 200, id="small_channel"),
    pytest.param(SmallChannelSpace(in_channels=3, num_classes=7), 50, id="small_channel_rgb"),
    pytest.param(DartsChannelSpace(), 12, id="darts_channel"),
    pytest.param(DartsChannelSpace(auxiliary=False), 12, id="darts_channel_noaux"),
    pytest.param(DartsChannelSpace(genotype=DARTS_V1, num_classes=100), 12, id="darts_channel_v1"),
    pytest.param(DartsChannelSpace(genotype=PADDLESLIM_DARTS, in_channels=1), 12, id="darts_channel_paddleslim"),
]


@pytest.mark.parametrize("space, n", SPACES)
def test_num_params_is_exact(space, n):
    rng = random.Random(0)
    for tokens in [space.init_tokens()] + [space.random_tokens(rng) for _ in range(n)]:
        assert space.num_params(tokens) == count(space.build(tokens)), tokens


@pytest.mark.parametrize("space, n", SPACES)
def test_params_grow_with_every_token(space, n):
    rng = random.Random(1)
    table = space.range_table()
    low, high = space.params_range()
    for _ in range(n):
        tokens = space.random_tokens(rng)
        params = space.num_params(tokens)
        assert low <= params <= high
        for i, size in enumerate(table):
            if tokens[i] + 1 < size:
                bigger = tokens[:i] + [tokens[i] + 1] + tokens[i + 1 :]
                assert space.num_params(bigger) > params, (tokens, i)


def test_op_params():
    for name in PRIMITIVES:
        for C in (2, 5, 16):
            for stride in (1, 2):
                for affine in (True, False):
                    assert op_params(name, C, stride, affine) == count(OPS[name](C, stride, affine))
    with pytest.raises(ValueError, match="conv_7x7"):
        op_params("conv_7x7", 8, 1)


ODD_GENOTYPE = Genotype(
    normal=[
        ("none", 0),
        ("sep_conv_5x5", 1),
        ("avg_pool_3x3", 2),
        ("dil_conv_5x5", 0),
        ("skip_connect", 3),
        ("max_pool_3x3", 1),
    ],
    normal_concat=[3, 4],
    reduce=[("skip_connect", 0), ("sep_conv_3x3", 1), ("dil_conv_3x3", 1), ("none", 2)],
    reduce_concat=[2, 3, 3],
)

ODD_CONFIGS = [
    dict(cell_widths=[5, 7, 9], reduction_cells=[1], genotype=DARTS_V2, auxiliary=True),
    dict(cell_widths=[3, 6, 6, 11], reduction_cells=[0, 1], genotype=DARTS_V1, auxiliary=True, aux_after=0),
    dict(cell_widths=[4, 4], reduction_cells=[], genotype=DARTS_V2, auxiliary=True, aux_after=1),
    dict(cell_widths=[8], reduction_cells=[0], genotype=ODD_GENOTYPE, in_channels=1, num_classes=3, stem_channels=5),
    dict(
        cell_widths=[6, 9, 4, 13, 8],
        reduction_cells=[1, 3],
        genotype=ODD_GENOTYPE,
        in_channels=2,
        num_classes=4,
        auxiliary=True,
        stem_channels=7,
    ),
    dict(cell_widths=[2, 3, 5], reduction_cells=[2], genotype=PADDLESLIM_DARTS, auxiliary=False, aux_after=0),
]


@pytest.mark.parametrize("config", ODD_CONFIGS)
def test_eval_network_params_odd_configs(config):
    net = EvalNetwork(**config)
    assert eval_network_params(**config) == count(net)
    x = torch.randn(2, config.get("in_channels", 3), 13, 13)
    num_classes = config.get("num_classes", 10)
    net.drop_path_prob = 0.2
    out = net.train()(x)
    if config.get("auxiliary"):
        assert [o.shape for o in out] == [(2, num_classes), (2, num_classes)]
    else:
        assert out.shape == (2, num_classes)
    assert net.eval()(x).shape == (2, num_classes)


def test_eval_network_rejects_bad_arguments():
    with pytest.raises(ValueError, match="reduction_cells"):
        eval_network_params([8, 8], [2])
    with pytest.raises(ValueError, match="aux_after"):
        EvalNetwork([8, 8], [1], auxiliary=True, aux_after=5)
    with pytest.raises(ValueError, match="cell_widths"):
        eval_network_params([8, 0], [1])


def test_darts_c36_matches_darts_paper():
    widths = [36] * 6 + [72] * 7 + [144] * 7
    assert eval_network_params(widths, [6, 13], DARTS_V2, stem_channels=108) == 3_349_342


def test_small_channel_forward():
    space = SmallChannelSpace()
    net = space.build(space.init_tokens())
    for size in (8, 28):
        assert net(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_darts_channel_forward():
    space = DartsChannelSpace()
    net = space.build(space.init_tokens())
    x = torch.randn(2, 3, 32, 32)
    assert net.eval()(x).shape == (2, 10)
    net.train()
    net.drop_path_prob = 0.2
    out = net(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 10), (2, 10)]
    net = DartsChannelSpace(auxiliary=False).build([0] * 20)
    assert net.train()(x).shape == (2, 10)


def test_darts_channel_init_and_sanas_figures():
    space = DartsChannelSpace()
    init = space.num_params(space.init_tokens())
    final = space.num_params(SANAS_FINAL)
    print(f"darts_channel DARTS_V2 with aux: init {init}, seed-003 final {final}, ratio {final / init - 1:+.4f}")
    assert 3_300_000 < init < 4_000_000
    assert final < init
    # SANAS's figures are PaddleSlim's own cells counted without the auxiliary head
    paddle = DartsChannelSpace(genotype=PADDLESLIM_DARTS, auxiliary=False)
    init, final = paddle.num_params(paddle.init_tokens()), paddle.num_params(SANAS_FINAL)
    assert round(init / 1e6, 2) == 3.77
    assert round(100 * (final / init - 1), 1) == -11.2


@pytest.mark.parametrize("space", [SmallChannelSpace(), DartsChannelSpace()], ids=lambda s: s.name)
def test_validate(space):
    n = len(space.range_table())
    top = len(space.choices()[0]) - 1
    good = space.init_tokens()
    with pytest.raises(ValueError, match=f"takes {n} tokens, got {n - 1}"):
        space.validate(good[:-1])
    with pytest.raises(ValueError, match=rf"token 1 \({space.labels()[1]}\).*\[0, {top}\].*got {top + 1}"):
        space.validate([good[0], top + 1] + good[2:])
    with pytest.raises(ValueError, match=rf"token 0 \({space.labels()[0]}\).*\[0, {top}\]"):
        space.validate([-1] + good[1:])
    for bad in (1.5, "3"):
        with pytest.raises(ValueError, match=rf"token 2 \({space.labels()[2]}\).*\[0, {top}\]"):
            space.validate(good[:2] + [bad] + good[3:])
    with pytest.raises(ValueError, match=rf"token 0 \({space.labels()[0]}\)"):
        space.build([top + 1] + good[1:])
    assert space.validate(np.array(good)) == good
    assert space.validate([np.int64(t) for t in good]) == good
    assert space.num_params(np.array(good)) == space.num_params(good)


@pytest.mark.parametrize(
    "space",
    [
        SmallChannelSpace(num_classes=5),
        DartsChannelSpace(genotype=DARTS_V1),
        DartsChannelSpace(genotype=str(PADDLESLIM_DARTS), auxiliary=False),
    ],
    ids=lambda s: s.name,
)
def test_arch_round_trip_and_registry(space):
    rng = random.Random(2)
    for _ in range(20):
        tokens = space.random_tokens(rng)
        arch = space.to_arch(tokens)
        assert list(arch) == space.labels()
        assert space.from_arch(arch) == tokens
        assert space.from_arch(json.loads(json.dumps(arch))) == tokens
    kwargs = json.loads(json.dumps(space.kwargs()))
    again = spaces.get(space.name, **kwargs)
    assert type(again) is type(space)
    assert again.labels() == space.labels()
    assert again.choices() == space.choices()
    assert again.init_tokens() == space.init_tokens()
    for _ in range(20):
        tokens = space.random_tokens(rng)
        assert again.num_params(tokens) == space.num_params(tokens)


def test_labels_and_choices():
    darts = DartsChannelSpace()
    assert darts.labels()[0] == "cell_00" and darts.labels()[-1] == "cell_19"
    assert darts.choices() == [FILTER_NUM] * 20 and darts.size() == 14**20
    small = SmallChannelSpace()
    assert small.labels() == ["conv1_width", "conv2_width", "conv3_width", "conv4_width"]
    assert small.choices() == [WIDTHS] * 4


def test_registry_unknown_name():
    with pytest.raises(ValueError, match="darts_channel.*small_channel"):
        spaces.get("nope")


def test_parse_genotype():
    assert parse_genotype(str(DARTS_V2)) == DARTS_V2
    assert parse_genotype(json.dumps(genotype_to_dict(DARTS_V1))) == DARTS_V1
    assert genotype_from_dict(json.loads(json.dumps(genotype_to_dict(DARTS_V2)))) == DARTS_V2
    with_range = str(DARTS_V2._replace(normal_concat=range(2, 6), reduce_concat=range(2, 6)))
    assert "range(2, 6)" in with_range
    assert parse_genotype(with_range) == DARTS_V2
    positional = "Genotype([('sep_conv_3x3', 0), ('skip_connect', 1)], [2], [('max_pool_3x3', 1), ('none', 0)], [2])"
    assert parse_genotype(positional).reduce == [("max_pool_3x3", 1), ("none", 0)]


@pytest.mark.parametrize(
    "text, message",
    [
        (str(DARTS_V2).replace("dil_conv_3x3", "conv_7x1_1x7"), "conv_7x1_1x7.*sep_conv_3x3"),
        ("__import__('os').system('echo hi')", "expected 'Genotype"),
        (
            str(DARTS_V2).replace("range", "").replace("[2, 3, 4, 5]", "__import__('os').system('echo hi')", 1),
            "literals",
        ),
        (str(DARTS_V2).replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), r"normal\[7\].*\[0, 4\]"),
        (str(DARTS_V2).replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 9]"), "normal_concat"),
        ("Genotype(normal=[], normal_concat=[2])", "expected 'Genotype"),
        ('{"normal": [["sep_conv_3x3", 0]]}', "fields"),
        ("{not json", "JSON"),
        ("Genotype(", "cannot parse"),
        (str(DARTS_V2).replace("[2, 3, 4, 5]", "range(10**12)", 1), "literals"),
        (str(DARTS_V2).replace("[2, 3, 4, 5]", "range(999999999999)", 1), "literals"),
    ],
)
def test_parse_genotype_rejects(text, message, capfd):
    with pytest.raises(ValueError, match=message):
        parse_genotype(text)
    assert "hi" not in capfd.readouterr().out


def test_darts_channel_accepts_genotype_forms():
    tokens = DartsChannelSpace().init_tokens()
    counts = {
        DartsChannelSpace(genotype=g).num_params(tokens)
        for g in (DARTS_V1, str(DARTS_V1), genotype_to_dict(DARTS_V1), json.dumps(genotype_to_dict(DARTS_V1)))
    }
    assert len(counts) == 1
    with pytest.raises(ValueError, match="conv_3x1"):
        DartsChannelSpace(genotype=DARTS_V1._replace(normal=[("conv_3x1", 0), ("sep_conv_3x3", 1)]))


def test_search_network():
    net = SearchNetwork(C=4, layers=5)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert [a.shape for a in SearchNetwork().arch_parameters()] == [(14, 8), (14, 8)]
    arch = {id(a) for a in net.arch_parameters()}
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 2
    assert not any(id(p) in arch for p in net.weight_parameters())
    assert parse_genotype(str(net.genotype())) == net.genotype()

    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_normal[:, PRIMITIVES.index("none")] = 10.0  # none never wins
        node3 = 2 + 3 + 4  # first edge into node 3
        net.alphas_normal[node3 + 4, PRIMITIVES.index("dil_conv_5x5")] = 5.0
        net.alphas_normal[node3 + 1, PRIMITIVES.index("max_pool_3x3")] = 3.0
    genotype = net.genotype()
    assert genotype.normal[6:] == [("dil_conv_5x5", 4), ("max_pool_3x3", 1)]
    assert all(op != "none" for op, _ in genotype.normal + genotype.reduce)
    assert genotype.normal_concat == genotype.reduce_concat == [2, 3, 4, 5]
