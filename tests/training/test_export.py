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
from training.predict import OnnxPredictor, TorchPredictor


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
    capped = OnnxPredictor(onnx_path, max_threads=1)
    capped.set_threads(4)
    assert capped.threads == 1 and capped.session.get_session_options().intra_op_num_threads == 1


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
