"""DARTS genotypes: the published cells, JSON and text forms, validated on the way in.

Example:
    >>> parse_genotype(str(DARTS_V2)) == DARTS_V2
    True
"""

from __future__ import annotations

import ast
import json
from collections import namedtuple
from typing import Any

from raynas.spaces.darts.operations import PRIMITIVES

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

DARTS_V1 = Genotype(
    normal=[
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("avg_pool_3x3", 0),
    ],
    reduce_concat=[2, 3, 4, 5],
)

DARTS_V2 = Genotype(
    normal=[
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
    reduce_concat=[2, 3, 4, 5],
)

#: the cells PaddleSlim's DARTS channel space builds (written out by hand there); SANAS's 3.77M parameter
#: budget and its -11.2% result are counts of this genotype without the auxiliary head
PADDLESLIM_DARTS = Genotype(
    normal=[
        ("dil_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0),
        ("skip_connect", 1),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("dil_conv_5x5", 3),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
    reduce_concat=[2, 3, 4, 5],
)


def genotype_to_dict(genotype: Genotype) -> dict[str, list]:
    """JSON-serialisable form of a genotype: ``{"normal": [[op, input], ...], "normal_concat": [...], ...}``."""
    return {
        "normal": [[op, index] for op, index in genotype.normal],
        "normal_concat": list(genotype.normal_concat),
        "reduce": [[op, index] for op, index in genotype.reduce],
        "reduce_concat": list(genotype.reduce_concat),
    }


def _check_edges(edges: Any, field: str) -> list[tuple[str, int]]:
    if not isinstance(edges, (list, tuple)) or len(edges) == 0 or len(edges) % 2:
        raise ValueError(f"genotype {field} must be a non-empty list of (op, input) pairs, two per node")
    out = []
    for position, edge in enumerate(edges):
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            raise ValueError(f"genotype {field}[{position}] must be an (op, input) pair, got {edge!r}")
        op, index = edge
        if op not in PRIMITIVES:
            raise ValueError(
                f"genotype {field}[{position}] has unknown operation {op!r}; choose one of: {', '.join(PRIMITIVES)}"
            )
        node = position // 2
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < node + 2:
            raise ValueError(f"genotype {field}[{position}] input must be an integer in [0, {node + 1}], got {index!r}")
        out.append((op, index))
    return out


def _check_concat(concat: Any, steps: int, field: str) -> list[int]:
    concat = list(concat) if isinstance(concat, (list, tuple, range)) else None
    if not concat or any(isinstance(i, bool) or not isinstance(i, int) or not 2 <= i < steps + 2 for i in concat):
        raise ValueError(f"genotype {field} must be a non-empty list of node indices in [2, {steps + 1}]")
    return concat


def genotype_from_dict(d: dict[str, Any]) -> Genotype:
    """Inverse of :func:`genotype_to_dict`; checks operation names and node indices."""
    if not isinstance(d, dict) or sorted(d) != sorted(Genotype._fields):
        raise ValueError(f"a genotype needs exactly the fields {', '.join(Genotype._fields)}")
    normal = _check_edges(d["normal"], "normal")
    reduce = _check_edges(d["reduce"], "reduce")
    return Genotype(
        normal=normal,
        normal_concat=_check_concat(d["normal_concat"], len(normal) // 2, "normal_concat"),
        reduce=reduce,
        reduce_concat=_check_concat(d["reduce_concat"], len(reduce) // 2, "reduce_concat"),
    )


def _literal(node: ast.expr) -> Any:
    """A literal, or ``range(...)`` with literal integer arguments; nothing is evaluated."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        values = range(*(_literal(a) for a in node.args))
        if len(values) > 64:
            raise ValueError("range too long for a genotype")
        return list(values)
    return ast.literal_eval(node)


def parse_genotype(text: str) -> Genotype:
    """Parse ``str(genotype)`` (``Genotype(normal=[...], normal_concat=range(2, 6), ...)``) or its JSON dict.

    The text is parsed, never evaluated.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            return genotype_from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ValueError(f"genotype is not valid JSON: {e}") from None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError):
        raise ValueError(f"cannot parse genotype {text[:80]!r}") from None
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == "Genotype"
        and len(tree.args) + len(tree.keywords) == len(Genotype._fields)
    ):
        raise ValueError(
            f"expected 'Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)', got {text[:80]!r}"
        )
    fields = dict(zip(Genotype._fields, tree.args))
    for keyword in tree.keywords:
        if keyword.arg not in Genotype._fields or keyword.arg in fields:
            raise ValueError(f"unexpected or repeated genotype field {keyword.arg!r}")
        fields[keyword.arg] = keyword.value
    try:
        values = {name: _literal(node) for name, node in fields.items()}
    except (ValueError, TypeError, SyntaxError):
        raise ValueError(f"genotype fields must be literals or range(...), got {text[:80]!r}") from None
    return genotype_from_dict(values)
