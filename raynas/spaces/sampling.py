"""Random architectures inside a parameter budget: uniform draws, then draws repaired towards the budget.

Shared by the searchers (their random proposals) and by supernet training (its per-batch paths), so both
respect a budget the same way.

Example:
    >>> import random
    >>> from raynas import spaces
    >>> space = spaces.get("small_channel")
    >>> tokens = random_feasible(space, random.Random(0), max_params=5000)
    >>> tokens is not None and space.num_params(tokens) <= 5000
    True
"""

from __future__ import annotations

import itertools
import math
import numbers
import random
from collections.abc import Sequence

from raynas.settings import named
from raynas.spaces.base import SearchSpace

Tokens = list[int]

#: how many proposals to draw before giving up on finding a feasible architecture
MAX_ATTEMPTS = 2000
#: uniform draws before random architectures are repaired towards the budget
UNIFORM_DRAWS = 200
#: largest space whose architectures inside a budget are counted one by one
COUNT_LIMIT = 50_000
#: largest space whose largest and smallest architectures inside a budget are found one by one
EXTREME_EXACT_LIMIT = 200_000


def budget_flags(max_params: int | None = None, min_params: int | None = None) -> str:
    """The budget as the settings (the CLI's flags, see :func:`raynas.settings.named`) that set it, for messages.

    Example:
        >>> budget_flags(20000), budget_flags(20000, 5000), budget_flags()
        ('max_params 20000', 'min_params 5000, max_params 20000', 'no budget')
    """
    flags = [
        f"{named(name)} {value}"
        for name, value in (("min_params", min_params), ("max_params", max_params))
        if value is not None
    ]
    return ", ".join(flags) or "no budget"


def feasible(
    space: SearchSpace, tokens: Sequence[int], max_params: int | None = None, min_params: int | None = None
) -> bool:
    """Whether the architecture exists and is inside the parameter budget."""
    if not space.contains(tokens):
        return False
    if max_params is None and min_params is None:
        return True
    n = count(space, tokens)
    return (max_params is None or n <= max_params) and (min_params is None or n >= min_params)


def count(space: SearchSpace, tokens: Sequence[int]) -> int:
    """``space.num_params(tokens)``, checked to be a whole number (a user's space may return anything)."""
    n = space.num_params(tokens)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(
            f"space {space.name!r}: num_params({list(tokens)}) returned {n!r}, not a whole number of "
            "parameters; fix the space's num_params"
        )
    return int(n)


def random_feasible(
    space: SearchSpace, rng: random.Random, max_params: int | None = None, min_params: int | None = None
) -> Tokens | None:
    """A random architecture inside the budget, or ``None`` after :data:`MAX_ATTEMPTS` draws.

    Uniform draws first; when the budget is a small corner of the space, uniform draws repaired by
    :func:`repair`, so a tight budget in a huge space (e.g. 14^20 DARTS widths) is still reached.
    """
    for attempt in range(MAX_ATTEMPTS):
        tokens = space.random_tokens(rng)
        if attempt >= UNIFORM_DRAWS:
            tokens = repair(space, tokens, rng, max_params, min_params)
        if feasible(space, tokens, max_params, min_params):
            return tokens
    return None


def repair(
    space: SearchSpace, tokens: Tokens, rng: random.Random, max_params: int | None = None, min_params: int | None = None
) -> Tokens:
    """Move random tokens to cheaper choices (over budget) or dearer ones (under ``min_params``) until the count
    fits; a position's choices are ranked by :func:`cost_order`, so each move heads towards the budget whatever
    order the choices are listed in."""
    order, rank = cost_order(space), _cost_rank(space)
    for _ in range(sum(map(len, order))):  # every move changes one token in one direction: this bounds the walk
        if not space.contains(tokens):
            break
        n = space.num_params(tokens)
        if max_params is not None and n > max_params:
            movable = [i for i, t in enumerate(tokens) if rank[i][t] > 0]
            down = True
        elif min_params is not None and n < min_params:
            movable = [i for i, t in enumerate(tokens) if rank[i][t] < len(order[i]) - 1]
            down = False
        else:
            break
        if not movable:
            break
        i = rng.choice(movable)
        r = rank[i][tokens[i]]
        tokens[i] = order[i][rng.randrange(r) if down else rng.randrange(r + 1, len(order[i]))]
    return tokens


def cost_order(space: SearchSpace) -> list[list[int]]:
    """Each position's choice indices from the fewest parameters to the most, measured by changing that position
    alone in the space's start architecture (kept in index order where that leaves the space, as in a table
    with gaps, or where the counts tie). Computed once per space.

    Example:
        >>> from raynas import spaces
        >>> cost_order(spaces.get("small_channel"))[0]
        [0, 1, 2, 3, 4, 5, 6, 7]
    """
    cached = space.__dict__.get("_cost_order")
    if cached is not None:
        return cached
    start = list(space.init_tokens())
    order = []
    for i, n in enumerate(space.range_table()):
        probes = [[*start[:i], v, *start[i + 1 :]] for v in range(n)]
        if all(space.contains(p) for p in probes):
            costs = [count(space, p) for p in probes]
            order.append(sorted(range(n), key=lambda v: (costs[v], v)))
        else:
            order.append(list(range(n)))
    space.__dict__["_cost_order"] = order
    return order


def _cost_rank(space: SearchSpace) -> list[dict[int, int]]:
    """Per position, each choice index's place in :func:`cost_order`. Computed once per space."""
    if "_cost_rank" not in space.__dict__:
        space.__dict__["_cost_rank"] = [{v: r for r, v in enumerate(o)} for o in cost_order(space)]
    return space.__dict__["_cost_rank"]


def extreme_feasible(
    space: SearchSpace, largest: bool, max_params: int | None = None, min_params: int | None = None
) -> Tokens | None:
    """The architecture inside the budget with the most (``largest``) or the fewest parameters; ``None`` when none
    is found. Exact for a space of at most :data:`EXTREME_EXACT_LIMIT` token vectors; in a larger one, what a
    greedy climb finds: each position at its dearest (or cheapest) choice by :func:`cost_order`, repaired into
    the budget, then moves of one token (or, where none helps, of two) towards the extreme while any stays
    inside it. Deterministic.

    Example:
        >>> from raynas import spaces
        >>> space = spaces.get("small_channel")
        >>> [space.num_params(extreme_feasible(space, big, max_params=5000)) for big in (True, False)]
        [4990, 550]
    """
    sign = 1 if largest else -1
    table = space.range_table()
    if math.prod(table) <= EXTREME_EXACT_LIMIT:
        inside = [list(t) for t in itertools.product(*map(range, table)) if feasible(space, t, max_params, min_params)]
        return max(inside, key=lambda t: sign * count(space, t)) if inside else None
    tokens = [o[-1] if largest else o[0] for o in cost_order(space)]
    if not feasible(space, tokens, max_params, min_params):
        tokens = repair(space, tokens, random.Random(0), max_params, min_params)
        if not feasible(space, tokens, max_params, min_params):
            found = random_feasible(space, random.Random(0), max_params, min_params)
            if found is None:
                return None
            tokens = found
    best = sign * count(space, tokens)
    while True:
        singles = [(i, v) for i, n in enumerate(table) for v in range(n) if v != tokens[i]]
        for moves in ([[m] for m in singles], [[a, b] for a, b in itertools.combinations(singles, 2) if a[0] < b[0]]):
            scored = []
            for move in moves:
                moved = list(tokens)
                for i, v in move:
                    moved[i] = v
                if feasible(space, moved, max_params, min_params):
                    scored.append((sign * count(space, moved), moved))
            if scored and max(scored)[0] > best:
                best, tokens = max(scored)
                break
        else:
            return tokens


def count_feasible(
    space: SearchSpace, max_params: int | None = None, min_params: int | None = None, limit: int = COUNT_LIMIT
) -> int | None:
    """How many architectures are inside the budget; ``None`` for a space of more than ``limit`` token vectors.

    Example:
        >>> from raynas import spaces
        >>> space = spaces.get("small_channel")
        >>> count_feasible(space), count_feasible(space, max_params=1000)
        (4096, 8)
    """
    table = space.range_table()
    if math.prod(table) > limit:
        return None
    return sum(feasible(space, tokens, max_params, min_params) for tokens in itertools.product(*map(range, table)))
