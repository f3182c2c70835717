"""Pictures of a DARTS search (cells, architecture weights over the epochs) and its architecture in TensorBoard."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import FancyArrowPatch

from raynas import analysis, drawing, spaces
from raynas.runs import darts as darts_search
from raynas.spaces.darts import DARTS_V2, PRIMITIVES, genotype_from_dict
from raynas.spaces.relaxed import RelaxedSupernet, candidate_names
from raynas.tune import board

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0_1" / "runs"
NODES = {"$c_{k-2}$", "$c_{k-1}$", "0", "1", "2", "3", "$c_{k}$"}


def texts(ax, gid: str) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def test_a_cell_has_every_node_and_one_arrow_labelled_with_its_operation_per_edge():
    fig = drawing.draw_cell(DARTS_V2.reduce, DARTS_V2.reduce_concat, "reduction cell")
    ax = fig.axes[0]
    assert set(texts(ax, "node")) == NODES and len(texts(ax, "node")) == len(NODES)
    assert Counter(texts(ax, "edge")) == Counter(op for op, _ in DARTS_V2.reduce)
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(DARTS_V2.reduce) + len(DARTS_V2.reduce_concat)  # the edges, and into c_{k}
    assert ax.get_title() == "reduction cell"


def test_cell_weights_have_a_panel_per_edge_and_a_line_per_operation():
    rng = np.random.default_rng(0)
    weights = [rng.dirichlet([1] * len(PRIMITIVES), size=5).tolist() for _ in range(3)]  # 3 epochs, 2 nodes
    fig = drawing.plot_cell_weights([1, 2, 3], weights, "normal")
    panels = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in panels] == [
        "$c_{k-2}$ → 0",
        "$c_{k-1}$ → 0",
        "$c_{k-2}$ → 1",
        "$c_{k-1}$ → 1",
        "0 → 1",
    ]
    for edge, ax in enumerate(panels):
        assert [line.get_label() for line in ax.lines] == PRIMITIVES
        for op, line in enumerate(ax.lines):
            assert list(line.get_xdata()) == [1, 2, 3]
            assert list(line.get_ydata()) == [w[edge][op] for w in weights]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == PRIMITIVES
    with pytest.raises(ValueError, match="6 edges are no DARTS cell"):
        drawing.plot_cell_weights([1], [[[1.0]] * 6], "x")


def trial_folder(root: Path, name: str, seed: int, results: list[dict]) -> None:
    """A DARTS trial folder as Tune leaves it: params.json and a result.json line per epoch."""
    folder = root / name / f"darts_search_00000_{seed}_seed={seed}_2026-01-01_00-00-0{seed}"
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"seed": seed}))
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results))


def test_a_labelled_choice_search_plots_each_candidate_of_each_label_over_the_epochs(tmp_path):
    space = spaces.get("mobile", input_shape=[1, 8, 8])
    net, history = RelaxedSupernet(space), []
    for epoch in (1, 2, 3):
        for alpha in net.arch_parameters():
            alpha.data[0] += 0.5  # the first candidate grows
        history.append({"epoch": epoch, "arch_weights": json.dumps(net.arch_weights())})
    trial_folder(tmp_path, "mob", 0, history)
    trial_folder(tmp_path, "mob", 1, [{"epoch": 1, "arch_weights": "{}"}])  # another seed: not plotted
    [path] = analysis.darts_plots(str(tmp_path), "mob", space, {}, 0, str(tmp_path / "out"))
    assert path == str(tmp_path / "out" / "arch_weights.png") and Path(path).read_bytes()[:4] == b"\x89PNG"

    names = candidate_names(space)
    fig = drawing.plot_choice_weights([1, 2, 3], [json.loads(r["arch_weights"]) for r in history], names, "mob")
    panels = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in panels] == space.labels()
    for ax, label in zip(panels, space.labels()):
        assert [line.get_label() for line in ax.lines] == names[label]
        first = list(ax.lines[0].get_ydata())
        assert first == sorted(first) and first[-1] > 1 / len(names[label])


def test_analyze_draws_the_best_seeds_cells_and_weights_of_a_finished_darts_search(tmp_path, capsys):
    runs = Path(shutil.copytree(FIXTURES / "darts", tmp_path / "darts"))
    summary = analysis.analyze(tmp_path, "darts")
    out = runs / "analysis" / "darts"
    expected = [
        out / f"{what}{cell}.{ext}"
        for cell in ("normal", "reduce")
        for what, ext in (("cell_", "png"), ("cell_", "svg"), ("alphas_", "png"))
    ]
    assert summary.plots[0] == [str(p) for p in expected]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in expected if p.suffix == ".png")
    genotype = genotype_from_dict(json.loads((runs / "genotype.json").read_text()))  # seed 1, the best
    svg = (out / "cell_normal.svg").read_text()
    assert all(f">{op}<" in svg for op, _ in genotype.normal)  # the operations, as text
    assert str(out / "alphas_reduce.png") in analysis.report(summary)

    [epoch] = darts_search.epoch_results(str(tmp_path), "darts", 1)
    progress = pd.read_csv(next(runs.glob("darts_search_*_seed=1_*/progress.csv")))
    assert epoch["alphas_normal"] == json.loads(progress.alphas_normal.iloc[0])


def test_tensorboard_tags_name_each_edge_and_candidate_and_the_text_the_chosen_architecture():
    result = json.loads((next((FIXTURES / "darts").glob("darts_search_*_seed=1_*")) / "result.json").read_text())
    tags = board.scalars(result, {})
    assert len(tags) == 2 * 14 * len(PRIMITIVES)
    assert tags["alpha/reduce/node3_from_node2/sep_conv_3x3"] == result["alphas_reduce"][-1][4]
    assert tags["alpha/normal/node0_from_c_k-2/none"] == result["alphas_normal"][0][0]
    text = board.architecture_text(result)
    assert text is not None and text.startswith("**normal**: 0 ← skip_connect(c_k-1) + sep_conv_5x5(c_k-2);")

    choices = {"arch_weights": json.dumps({"conv 1": [0.25, 0.75]}), "arch": json.dumps({"conv 1": "k5"})}
    assert board.scalars(choices, {"conv 1": ["k3", "k5"]}) == {"alpha/conv_1/k3": 0.25, "alpha/conv_1/k5": 0.75}
    assert board.architecture_text(choices) == "| label | choice |\n| --- | --- |\n| conv 1 | k5 |"


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_tensorboard_shows_the_architecture_weights_of_a_darts_search(tmp_path):
    pytest.importorskip("tensorboardX")
    multiplexer = pytest.importorskip("tensorboard.backend.event_processing.event_multiplexer")
    settings = {"epochs": 2, "layers": 3, "init_channels": 2, "steps": 2, "batch_size": 128}
    darts_search.run({**settings, "storage_path": str(tmp_path), "name": "tb"})
    runs = multiplexer.EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tb"))  # as `tensorboard --logdir`
    runs.Reload()
    [(run, tags)] = runs.Runs().items()  # the seed's trial folder
    assert "ray/tune/val_acc" in tags["scalars"]  # Tune's own event file
    progress = pd.read_csv(tmp_path / "tb" / run / "progress.csv")
    for cell, edge, source in (("normal", 0, "c_k-2"), ("reduce", 4, "node0")):
        node = 0 if edge < 2 else 1
        events = runs.Scalars(run, f"alpha/{cell}/node{node}_from_{source}/skip_connect")
        assert [e.step for e in events] == [1, 2]
        expected = [json.loads(a)[edge][PRIMITIVES.index("skip_connect")] for a in progress[f"alphas_{cell}"]]
        assert [e.value for e in events] == pytest.approx(expected, abs=1e-6)
    texts = runs.Tensors(run, "architecture/text_summary")
    last = json.loads((tmp_path / "tb" / run / "result.json").read_text().splitlines()[-1])
    assert [t.step for t in texts] == [1, 2]
    assert texts[-1].tensor_proto.string_val[0].decode() == board.architecture_text(last)
