"""Run folders written by raynas 0.1 (tests/fixtures/v0_1) resume and analyse with today's code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import raynas
from raynas import cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0_1" / "runs"


@pytest.fixture
def runs(tmp_path) -> Path:
    """A copy of the 0.1 folders in another place than they were written (every run there is moved)."""
    return Path(shutil.copytree(FIXTURES, tmp_path / "runs"))


@pytest.mark.parametrize(
    "name, trials, best",
    [("oneshot", 4, 0.1215), ("darts", 2, 0.125), ("pipeline", 2, 0.1007), ("retrain", 1, 0.1007)],
)
def test_a_finished_run_of_each_kind_resumes_to_its_results_and_analyses(ray_session, runs, capsys, name, trials, best):
    outcome = raynas.resume(runs, name)
    assert outcome.best is not None and outcome.best_path and Path(outcome.best_path).is_file()
    assert cli.main(["resume", "--storage-path", str(runs), "--name", name]) == 0
    assert cli.main(["analyze", "--storage-path", str(runs), "--name", name]) == 0
    frame = raynas.load(runs, name)
    assert len(frame) == trials and frame.reward.max() == pytest.approx(best, abs=1e-4)
    out = capsys.readouterr().out
    assert f"{name}: best -> {runs}/{name}/analysis/{name}/" in out


@pytest.mark.slow
def test_a_token_search_killed_by_the_old_version_finishes_with_the_new(ray_session, runs, capsys):
    before = raynas.load(runs, "token")
    assert len(before) == 4
    assert cli.main(["resume", "--storage-path", str(runs), "--name", "token"]) == 0
    after = raynas.load(runs, "token")
    assert sorted(after.trial_index) == list(range(8))  # the 4 left, none run twice
    assert len({json.dumps(t) for t in after.tokens}) == 8
    assert after.reward.max() >= before.reward.max()
    best = json.loads((runs / "token" / "best_arch.json").read_text())
    assert best["reward"] == pytest.approx(after.reward.max()) and best["test_acc"] is not None
