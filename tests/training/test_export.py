"""Export through main([...]): fp32 ONNX with parity against PyTorch, int8 static quantization."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from core import io
from training.__main__ import main as training_main
from training.checkpoint import load_model
from training.export import export_onnx, exported_form
from training.model import MattingNet, ModelConfig
from training.predict import OnnxPredictor, PredictParams, TorchPredictor


@pytest.fixture
def calibration_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "calib"
    for i in range(4):
        io.write_png(folder / f"{i}.png", rng.integers(0, 255, (45, 80, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize("channels", [3, 4])
def test_export_fp32_and_int8(tiny_checkpoint, params_file, calibration_dir, tmp_path, channels):
    ckpt = tiny_checkpoint(in_channels=channels)
    onnx_path, int8_path, metrics = tmp_path / "m.onnx", tmp_path / "m.int8.onnx", tmp_path / "export.json"
    assert training_main(["export", "--checkpoint", str(ckpt), "--onnx", str(onnx_path), "--int8", str(int8_path),
                          "--calibration", str(calibration_dir), "--params", str(params_file()),
                          "--metrics", str(metrics)]) == 0
    figures = json.loads(metrics.read_text())
    assert figures["onnx_max_abs_diff"] < 1e-4
    assert figures["int8_max_abs_diff"] < 0.25  # reported, not enforced by the stage
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == "input" and inp.shape[:2] == [1, channels] and out.name == "alpha"
    meta = session.get_modelmeta().custom_metadata_map
    assert (meta["input_width"], meta["input_height"], meta["in_channels"]) == ("64", "40", str(channels))
    # dynamic H, W: another multiple of 8 runs and matches PyTorch
    x = np.random.default_rng(1).random((1, channels, 48, 48), dtype=np.float32)
    with torch.inference_mode():
        ref = load_model(ckpt)(torch.from_numpy(x)).numpy()
    assert np.abs(session.run(None, {"input": x})[0] - ref).max() < 1e-4
    quantized = onnx.load(str(int8_path))
    assert any(n.op_type == "QuantizeLinear" for n in quantized.graph.node)
    # the predictors agree with each other on a frame
    frame = np.random.default_rng(2).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    a, b = TorchPredictor(ckpt).predict(frame), OnnxPredictor(onnx_path).predict(frame)
    assert a.shape == b.shape == (90, 160) and np.abs(a - b).max() < 1e-4
    # the model's size and its upright transpose run on sessions with the size fixed, any other on the dynamic one
    onnx_predictor, torch_predictor = OnnxPredictor(onnx_path), TorchPredictor(ckpt)
    for shape in ((40, 64, 3), (128, 80, 3), (64, 64, 3)):
        frame = np.random.default_rng(3).integers(0, 255, shape, dtype=np.uint8)
        assert np.abs(onnx_predictor.predict(frame) - torch_predictor.predict(frame)).max() < 1e-4
    assert sorted(onnx_predictor._static) == [(40, 64), (64, 40)]
    # predict.input_scale: both run at the scaled size (here 2x: 128x80), on a session with it fixed
    frame = np.random.default_rng(4).integers(0, 255, (80, 128, 3), dtype=np.uint8)
    at_scale = PredictParams(input_scale=2.0)
    onnx_2x, torch_2x = OnnxPredictor(onnx_path, params=at_scale), TorchPredictor(ckpt, params=at_scale)
    assert onnx_2x.run_size == torch_2x.run_size == (128, 80) and onnx_predictor.run_size == (64, 40)
    alpha, _ = onnx_2x.predict_timed(frame)
    assert np.abs(alpha - torch_2x.predict(frame)).max() < 1e-4 and list(onnx_2x._static) == [(80, 128)]
    assert np.abs(alpha - onnx_predictor.predict(frame)).max() > 1e-3  # it did run at another size
    capped = OnnxPredictor(onnx_path, max_threads=1)
    capped.set_threads(4)
    assert capped.threads == 1 and capped.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("overrides", [{}, {"in_channels": 4, "refine_layers": 2, "refine_hidden": 3}])
def test_exported_graph_computes_the_model_with_the_head_as_matrix_products(tiny_model_args, overrides, tmp_path):
    torch.manual_seed(0)
    model = MattingNet(ModelConfig(**{**tiny_model_args, **overrides}))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # trained-like statistics
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5), bn.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    x = torch.rand(2, model.config.in_channels, 40, 64)
    with torch.inference_mode():
        expected = model(x)
        assert (exported_form(model)(x) - expected).abs().max() < 1e-5
    export_onnx(model, tmp_path / "m.onnx")
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    # the head's 1x1 convolutions (project, each layer's pointwise, out) are matrix products
    assert sum(n.op_type == "MatMul" for n in graph.node) == model.config.refine_layers + 2
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"input": x[:1].numpy()})[0] - expected[:1].numpy()).max() < 1e-5


def test_export_without_calibration_warns(tiny_checkpoint, params_file, tmp_path, caplog):
    assert training_main(["export", "--checkpoint", str(tiny_checkpoint()), "--onnx", str(tmp_path / "m.onnx"),
                          "--params", str(params_file())]) == 0
    assert (tmp_path / "m.onnx").is_file() and not list(tmp_path.glob("*.int8*"))


def test_missing_checkpoint_is_a_clear_error(params_file, tmp_path, caplog):
    assert training_main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--onnx", str(tmp_path / "m.onnx"),
                          "--params", str(params_file())]) == 2
    assert "no checkpoint" in caplog.text and "FileNotFoundError" in caplog.text
    with pytest.raises(FileNotFoundError, match="no checkpoint"):  # -v: the traceback
        training_main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--onnx", str(tmp_path / "m.onnx"),
                       "--params", str(params_file()), "-v"])
