"""The searched network as a file: written by a run, loaded in one call, exported for deployment."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import raynas
from raynas import data
from raynas.trainables.loops import evaluate, make_loader


@pytest.fixture(scope="module")
def retrained(ray_session, tmp_path_factory):
    from raynas.tune.build import make_space

    folder = tmp_path_factory.mktemp("model")
    settings = raynas.SearchSettings(epochs=2, concurrency=1, storage_path=str(folder), name="r")
    return raynas.retrain(settings, make_space(settings), [[1, 2, 1, 2]])


def test_the_loaded_model_has_the_accuracy_the_run_reported(retrained):
    assert retrained.model_path and retrained.model_path.endswith("/r/model.pt")
    model = raynas.load_model(retrained.model_path.removesuffix("/model.pt"))  # the run's folder works too
    assert model.searched_arch == retrained.best["arch"] and not model.training
    assert sum(p.numel() for p in model.parameters()) == retrained.best["params"]
    splits = data.load("digits", None, 0.2, 0)
    accuracy, _ = evaluate(model, make_loader(splits.test, 96, shuffle=False), "cpu")
    assert accuracy == pytest.approx(retrained.best["test_acc"])


def test_torchscript_export_computes_what_the_model_does(retrained, tmp_path):
    out = raynas.export_model(retrained.model_path, str(tmp_path / "net.pt"))
    images = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(out)(images), raynas.load_model(retrained.model_path)(images), atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None, reason="pip install 'raynas[onnx]' to run this")
def test_onnx_export_names_its_input_and_output(retrained, tmp_path):
    import onnx

    graph = onnx.load(raynas.export_model(retrained.model_path, str(tmp_path / "net.onnx"), "onnx")).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["logits"]


def test_a_missing_or_foreign_file_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="^no model.pt at .*; a search, retrain or pipeline writes it"):
        raynas.load_model(tmp_path)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a raynas model file"):
        raynas.load_model(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="^unknown export format 'tflite'; choose one of: torchscript, onnx"):
        raynas.export_model(tmp_path / "other.pt", str(tmp_path / "x"), "tflite")


def test_the_export_command_writes_beside_the_model_and_explains_a_missing_one(retrained, tmp_path, capsys):
    from pathlib import Path

    from raynas import cli

    folder = Path(retrained.model_path).parent
    assert cli.main(["export", "--storage-path", str(folder.parent), "--name", folder.name]) == 0
    assert f"wrote {folder}/model.torchscript.pt" in capsys.readouterr().out
    assert torch.jit.load(str(folder / "model.torchscript.pt"))(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert cli.main(["export", "--storage-path", str(tmp_path), "--name", "none"]) == 2
    assert "raynas: error: no model.pt at" in capsys.readouterr().err
