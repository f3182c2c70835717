"""Few-shot supernets (Few-shot NAS, Zhao et al. 2021) for the one-shot benches: split a trained supernet on one
choice, one sub-supernet per candidate.

Each sub-supernet starts from the trained supernet's weights and trains ``split_epochs`` more epochs on the paths
whose split label takes its candidate (drawn as the one-shot stage draws, inside the budget; SGD at a tenth of
``supernet_lr``, cosine). A subnet is then scored on the sub-supernet of its candidate, after the same exact
BatchNorm recalibration. The split label is the first of those with the most candidates.

Example (inside a bench, after the one-shot stage wrote ``location``):
    >>> scores, seconds = few_shot_scores(space, trial, location, subnets, split_epochs=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from typing import Any

import torch

from bench.oneshot import plain_loop
from raynas import data
from raynas.spaces.sampling import MAX_ATTEMPTS, feasible
from raynas.trainables.loops import make_loader
from raynas.trainables.retrain import RECIPE
from raynas.trainables.subnet import load_supernet_state
from raynas.trainables.supernet import SUPERNET, PathSampler, make_optimizer, train_paths


class SplitSampler(PathSampler):
    """Uniform paths inside the budget whose ``label`` takes ``candidate``."""

    def __init__(self, space, seed: int, max_params, min_params, label: int, candidate: int):
        super().__init__(space, seed, max_params, min_params)
        self.label, self.candidate = label, candidate

    def draw(self, rng: random.Random) -> list[int]:
        for _ in range(MAX_ATTEMPTS):
            tokens = super().draw(rng)
            tokens[self.label] = self.candidate
            if feasible(self.space, tokens, self.max_params, self.min_params):
                return tokens
        raise ValueError(f"no path inside the budget has candidate {self.candidate} at label {self.label}")


def split_label(space) -> int:
    """The first label with the most candidates."""
    sizes = space.range_table()
    return sizes.index(max(sizes))


def few_shot_scores(
    space, trial: dict[str, Any], location: str, subnets: list[list[int]], split_epochs: int
) -> tuple[list[float], float]:
    """Each subnet's accuracy on its sub-supernet, and the seconds the sub-supernets took to train."""
    s = {**RECIPE, **SUPERNET, **trial}
    s["supernet_lr"] /= 10
    budget = (s["max_params"], s["min_params"]) if s["supernet_budget"] else (None, None)
    label = split_label(space)
    splits = data.load(s["data"], s["data_dir"], s["val_fraction"], s["seed"])
    base = load_supernet_state(location)["model"]
    scores: dict[int, float] = {}
    train_s = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for candidate in sorted({t[label] for t in subnets}):
            start = time.perf_counter()
            torch.manual_seed(s["seed"])
            model = space.supernet()
            model.load_state_dict(base)
            optimizer = make_optimizer(model, s)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=split_epochs)
            sampler = SplitSampler(space, s["seed"] + 1 + candidate, *budget, label, candidate)
            for epoch in range(split_epochs):
                seed = s["seed"] * 1000 + 500 + epoch
                loader = make_loader(splits.train, s["supernet_batch_size"], shuffle=True, seed=seed)
                train_paths(space, model, optimizer, sampler.epoch(epoch, len(loader)), loader, "cpu", s["grad_clip"])
                scheduler.step()
            train_s += time.perf_counter() - start
            path = os.path.join(folder, f"split{candidate}.pt")
            torch.save({"model": model.state_dict()}, path)
            mine = [i for i, t in enumerate(subnets) if t[label] == candidate]
            accs = plain_loop(space, trial, path, [subnets[i] for i in mine])[1]
            scores.update(zip(mine, accs))
    return [scores[i] for i in range(len(subnets))], train_s
