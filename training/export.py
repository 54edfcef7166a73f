"""`python -m training export`: ONNX (fp32) and int8 (onnxruntime static quantization) from a checkpoint.

The ONNX model has one input ``input`` (1, C, H, W) float32 (RGB in [0, 1], plus the prior alpha as a
4th channel for 4-channel models) with dynamic H and W, and one output ``alpha`` (1, 1, H, W) in
[0, 1]. Metadata (``input_width``, ``input_height``, ``in_channels``, ``model_args``) tells
``predict.OnnxPredictor`` how to feed it. The int8 model uses QDQ static quantization calibrated on
images (``--calibration DIR``, else seeded synthetic frames, with a warning). Parity against PyTorch
is measured on the calibration inputs: the fp32 export must match within ``parity_tolerance``; the
int8 differences are reported.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import io
from core.cli import stage_main
from training.checkpoint import load_model
from training.model import MattingNet, count_parameters
from training.model.refine import RefineHead
from training.predict import to_input

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class ExportParams:
    """params.yaml `export:`."""
    opset: int = 17  # ONNX opset
    dynamic: bool = True  # dynamic H/W axes (the model runs at any multiple of 8)
    calibration_images: int = 64  # at most this many calibration images for int8
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"  # onnxruntime calibration
    per_channel: bool = True  # per-channel weight scales
    parity_images: int = 8  # inputs compared between PyTorch and ONNX
    parity_tolerance: float = 1.0e-3  # max |alpha_torch - alpha_onnx| allowed for the fp32 export
    seed: int = 0  # synthetic calibration frames when no --calibration folder is given


def calibration_inputs(model: MattingNet, folder: Path | None, limit: int, seed: int = 0) -> list[np.ndarray]:
    """(1, C, H, W) float32 inputs at the model's input size from the images in ``folder``.

    4-channel models get a prior: none for every other input, else a blurred ellipse.
    """
    cfg = model.config
    size = (cfg.input_width, cfg.input_height)
    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    if folder is not None:
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise FileNotFoundError(f"{folder}: no images for int8 calibration (expected {sorted(IMAGE_SUFFIXES)})")
        for p in paths[:limit]:
            try:
                images.append(io.read_image(p))
            except io.BadFile as e:
                log.warning("calibration: skipping %s (%s)", p, e.reason)
    else:
        log.warning("no --calibration folder: int8 calibration uses %d synthetic frames (accuracy will suffer)",
                    min(limit, 16))
        from training.bench import test_frame
        images = [test_frame(cfg.input_width, cfg.input_height, None, seed=i) for i in range(min(limit, 16))]
    inputs = []
    for i, image in enumerate(images):
        prior = None
        if cfg.in_channels == 4 and i % 2:
            import cv2

            prior = np.zeros((cfg.input_height, cfg.input_width), np.float32)
            center = (int(rng.integers(cfg.input_width // 4, 3 * cfg.input_width // 4)), cfg.input_height)
            cv2.ellipse(prior, center, (cfg.input_width // 5, int(cfg.input_height * 0.7)), 0, 0, 360, 1.0, -1)
            prior = cv2.GaussianBlur(prior, (0, 0), 2.0)
        inputs.append(to_input(image, size, prior, cfg.in_channels))
    return inputs


def pointwise(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution (weight (O, C), bias (O,)) of (B, C, H, W) as one matrix product over the pixels."""
    b, c, h, w = x.shape
    y = torch.matmul(weight, x.reshape(b, c, h * w))
    if bias is not None:
        y = y + bias[:, None]
    return y.reshape(b, weight.shape[0], h, w)


class ExportedRefineHead(nn.Module):
    """``RefineHead`` as the ONNX graph runs it: the same function, every 1x1 convolution of the head a
    matrix product and its BatchNorm folded in.

    The head's convolutions give 1-3 channels; onnxruntime pads such convolutions to its blocked layout
    (8 channels) and reorders their outputs back, which made this ~6 MFLOP head a third of the inference
    at 256x144. As matrix products (and the upsampling then on 3 channels, not 8), release 5's inference
    in 640x360 frames took 2.42 ms instead of 2.98 on one thread (``benchmarks/fps.py``, both in one
    run); the outputs differ by < 1e-6. (Splitting the head's concatenations into per-part products
    saved 2% more: not worth the graph.)
    """

    def __init__(self, head: RefineHead):
        super().__init__()
        self.hidden = head.hidden
        self.register_buffer("project_w", head.project.weight[:, :, 0, 0].detach().clone())
        self.register_buffer("project_b", head.project.bias.detach().clone())
        self.depthwise = nn.ModuleList(layer.depthwise for layer in head.layers)
        for i, layer in enumerate(head.layers):
            bn = layer.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            self.register_buffer(f"pointwise_w{i}", (layer.pointwise.weight[:, :, 0, 0] * scale[:, None]).detach())
            self.register_buffer(f"pointwise_b{i}", (bn.bias - bn.running_mean * scale).detach())
        self.register_buffer("out_w", head.out.weight[:, :, 0, 0].detach().clone())
        self.register_buffer("out_b", head.out.bias.detach().clone())

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = pointwise(self.project_w, self.project_b, features)
        up = F.interpolate(projected, size=image.shape[-2:], mode="bilinear", align_corners=False)
        x = torch.cat([image, up], dim=1)
        for i, depthwise in enumerate(self.depthwise):
            grown = pointwise(getattr(self, f"pointwise_w{i}"), getattr(self, f"pointwise_b{i}"), depthwise(x))
            x = torch.cat([x, torch.relu(grown)], dim=1)
        return up[:, self.hidden:] + pointwise(self.out_w, self.out_b, x), projected[:, self.hidden:]


def exported_form(model: MattingNet) -> MattingNet:
    """A copy of ``model`` (in eval mode) with its refinement head as ``ExportedRefineHead``."""
    exported = copy.deepcopy(model).eval()
    exported.refine = ExportedRefineHead(exported.refine)
    return exported


def export_onnx(model: MattingNet, path: Path, opset: int = 17, dynamic: bool = True) -> None:
    """Write ``model`` as ONNX (input ``input``, output ``alpha``) with metadata, atomically; the graph is
    ``exported_form(model)``'s, and ``parity`` compares it with ``model`` itself."""
    import onnx

    cfg = model.config
    dummy = torch.rand(1, cfg.in_channels, cfg.input_height, cfg.input_width)
    axes = {"input": {2: "height", 3: "width"}, "alpha": {2: "height", 3: "width"}} if dynamic else None
    with io.atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(exported_form(model), (dummy,), str(tmp), input_names=["input"], output_names=["alpha"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
        proto = onnx.load(str(tmp))
        _set_metadata(proto, model)
        onnx.save(proto, str(tmp))


def _set_metadata(proto, model: MattingNet) -> None:
    cfg = model.config
    meta = {"input_width": str(cfg.input_width), "input_height": str(cfg.input_height),
            "in_channels": str(cfg.in_channels), "model_args": json.dumps(model.model_args())}
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def quantize_int8(model: MattingNet, fp32_path: Path, int8_path: Path, inputs: list[np.ndarray],
                  params: ExportParams) -> None:
    """Static QDQ int8 quantization of ``fp32_path`` calibrated on ``inputs``, written atomically."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(inputs)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {"input": x}

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[params.calibrate_method]
    with io.atomic_path(int8_path) as tmp, tempfile.TemporaryDirectory() as scratch:
        pre = Path(scratch) / "preprocessed.onnx"
        # ORT's advised pre-processing (graph optimisation + ONNX shape inference; the slow symbolic
        # shape inference is not needed: all shapes but H and W are static)
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=params.per_channel, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=method)
        proto = onnx.load(str(tmp))
        _set_metadata(proto, model)
        onnx.save(proto, str(tmp))


def parity(model: MattingNet, onnx_path: Path, inputs: list[np.ndarray]) -> dict[str, float]:
    """Max and mean |alpha_torch - alpha_onnx| over ``inputs``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    diffs = []
    with torch.inference_mode():
        for x in inputs:
            ref = model(torch.from_numpy(x)).numpy()
            out = session.run(None, {"input": x})[0]
            diffs.append(np.abs(ref - out))
    all_diffs = np.concatenate([d.ravel() for d in diffs])
    return {"max_abs_diff": float(all_diffs.max()), "mean_abs_diff": float(all_diffs.mean())}


def run(params: ExportParams, checkpoint: Path, onnx_path: Path, int8_path: Path | None = None,
        calibration: Path | None = None) -> dict:
    """Export fp32 (and int8) ONNX from ``checkpoint`` and check parity; returns the figures."""
    model = load_model(checkpoint)
    export_onnx(model, onnx_path, params.opset, params.dynamic)
    inputs = calibration_inputs(model, calibration, params.calibration_images, params.seed)
    check = inputs[:params.parity_images]
    fp32 = parity(model, onnx_path, check)
    log.info("fp32 ONNX vs PyTorch: max |diff| %.2e, mean %.2e", fp32["max_abs_diff"], fp32["mean_abs_diff"])
    if fp32["max_abs_diff"] > params.parity_tolerance:
        raise RuntimeError(f"{onnx_path}: ONNX output differs from PyTorch by up to {fp32['max_abs_diff']:.3g} "
                           f"(expected <= export.parity_tolerance {params.parity_tolerance}); the export is wrong")
    figures = {"parameters": count_parameters(model), "onnx_bytes": onnx_path.stat().st_size,
               "onnx_max_abs_diff": fp32["max_abs_diff"], "calibration_inputs": len(inputs)}
    if int8_path is not None:
        quantize_int8(model, onnx_path, int8_path, inputs, params)
        q = parity(model, int8_path, check)
        log.info("int8 ONNX vs PyTorch: max |diff| %.3f, mean %.4f", q["max_abs_diff"], q["mean_abs_diff"])
        figures.update({"int8_bytes": int8_path.stat().st_size, "int8_max_abs_diff": q["max_abs_diff"],
                        "int8_mean_abs_diff": q["mean_abs_diff"]})
    return figures


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="trained .pt checkpoint")
    parser.add_argument("--onnx", type=Path, required=True, help="fp32 ONNX to write")
    parser.add_argument("--int8", type=Path, help="int8 ONNX to write (static quantization)")
    parser.add_argument("--calibration", type=Path, help="folder of images for int8 calibration")


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training export", __doc__, "export", ExportParams, _add_args,
                      lambda params, args: run(params, args.checkpoint, args.onnx, args.int8, args.calibration),
                      argv, metrics_help="write parity figures here (JSON)")
