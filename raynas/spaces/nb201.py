"""NAS-Bench-201 cells: the operations, the edges, and exact parameter counts of the CIFAR network.

A cell has 4 nodes; node ``j`` sums one operation applied to each earlier node ``i`` (6 edges). The
benchmark's network (``TinyNetwork``, C=16, 5 cells per stage) is: a 3x3 conv stem with BatchNorm; three
stages of 5 cells at C, 2C and 4C channels, joined by two stride-2 ResNet basic blocks; BatchNorm + ReLU;
global pooling and a linear classifier. Convolutions in cells are ReLU-Conv-BN without bias, BN affine.

Example:
    >>> num_params(["nor_conv_3x3"] * 6)
    1531546
    >>> parse_arch("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    ['nor_conv_3x3', 'none', 'skip_connect', 'avg_pool_3x3', 'nor_conv_1x1', 'none']
"""

from __future__ import annotations

from collections.abc import Sequence

#: the operations of an edge, in NAS-Bench-201's order
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
#: edges (target node, source node) in the order of the architecture string
EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
#: classes of each dataset of the benchmark
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
CHANNELS, CELLS_PER_STAGE = 16, 5


def edge_labels() -> list[str]:
    """``"node1<-node0"`` ... one label per edge."""
    return [f"node{j}<-node{i}" for j, i in EDGES]


def parse_arch(text: str) -> list[str]:
    """The 6 edge operations of an architecture string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    ops = []
    try:
        for j, node in enumerate(text.strip().strip("|").split("|+|"), start=1):
            inputs = node.split("|")
            if len(inputs) != j:
                raise ValueError
            for i, item in enumerate(inputs):
                op, source = item.split("~")
                if int(source) != i or op not in OPS:
                    raise ValueError
                ops.append(op)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a NAS-Bench-201 architecture string like "
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|"
        ) from None
    if len(ops) != len(EDGES):
        raise ValueError(f"{text!r} names {len(ops)} edges, a NAS-Bench-201 cell has {len(EDGES)}")
    return ops


def _relu_conv_bn(c_in: int, c_out: int, kernel: int) -> int:
    return c_in * c_out * kernel * kernel + 2 * c_out


def op_params(op: str, channels: int) -> int:
    """Parameters of one edge operation inside a cell of ``channels`` channels (stride 1)."""
    return {
        "nor_conv_1x1": _relu_conv_bn(channels, channels, 1),
        "nor_conv_3x3": _relu_conv_bn(channels, channels, 3),
    }.get(op, 0)


def num_params(ops: Sequence[str], num_classes: int = 10) -> int:
    """Exact parameter count of the benchmark's network with cell ``ops`` for ``num_classes`` classes."""
    c = CHANNELS
    stem = 3 * c * 9 + 2 * c
    cells = sum(CELLS_PER_STAGE * sum(op_params(op, width) for op in ops) for width in (c, 2 * c, 4 * c))
    # ResNet basic block: ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, shortcut avgpool + conv1x1 (no bias)
    reductions = sum(_relu_conv_bn(w, 2 * w, 3) + _relu_conv_bn(2 * w, 2 * w, 3) + w * 2 * w for w in (c, 2 * c))
    head = 2 * 4 * c + 4 * c * num_classes + num_classes
    return stem + cells + reductions + head
