"""Single-image inference for a trained model (.pt checkpoint or .onnx file).

Every predictor maps an RGB frame to an alpha at the frame's size:
``predict(rgb (H, W, 3) uint8, prior (H, W) float32 in [0, 1] | None) -> (H, W) float32 in [0, 1]``
(resize down to the model's input size, run, resize the alpha back up), so evaluation, the fps
benchmark and video inference all time and score the same path. Baselines (``baselines.py``) follow
the same protocol.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import cv2
import numpy as np

from core.config import check_ranges
from datasets import masks
from datasets.masks import to_float

log = logging.getLogger(__name__)
ASPECT_TOLERANCE = 0.02  # frames within 2% of the model's aspect ratio use its input size exactly


@dataclass(frozen=True)
class PredictParams:
    """params.yaml `predict:`: how our model's alpha reaches the frame's size (evaluate, video, fps).

    The edge filter is the fast guided filter (``datasets.masks.guided_coefficients``): its linear
    model of the alpha in the image is solved at the model's input size and applied to the edge guide
    (the frame, or its 2x intermediate for frames more than DIRECT_RATIO times the input), then
    upsampled bilinearly, so the edges follow the image at more than the model's resolution.
    Measured with release 4 on the val splits (ccp-voc 42 photos / portraits 12), IoU / Boundary IoU:
    off 0.9267 / 0.7420 and 0.9575 / 0.7259; grey (radius 2) 0.9302 / 0.7521 and 0.9595 / 0.7428;
    colour (radius 3) 0.9323 / 0.7597 and 0.9610 / 0.7524; MAD x1e3 29 -> 19.

    ``input_scale`` runs the model at its input size times this (each side, rounded to 8 pixels): a
    model trained on zoomed-in crops sees its people larger than whole frames show them, and a
    slightly larger input at inference makes up for it (FixRes, Touvron et al. 2019). Release 8 on the
    val splits, IoU / Boundary IoU, ccp-voc and portraits: 1.0 0.9309 / 0.754 and 0.9637 / 0.749;
    1.125 0.9396 / 0.777 and 0.9667 / 0.771; 1.25 0.9445 / 0.780 and 0.9562 / 0.757 (release/ABLATION.md).
    It costs inference time in proportion to the pixels (1.125: +27%).
    """
    edge_filter: Literal["off", "grey", "colour"] = "grey"  # off: bilinear upsampling only
    edge_radius: int = 2  # box radius in pixels at the model's input size
    edge_eps: float = 0.001  # regularisation (0..1 intensity units squared)
    edge_sharpen: float = 2.0  # (alpha - 0.5) x this + 0.5 after the filter (it softens the edge)
    input_scale: float = 1.0  # run at the model's input size times this (FixRes); 1 = as trained

    RANGES: ClassVar[dict[str, str]] = {"edge_radius": ">= 1", "edge_eps": "> 0", "edge_sharpen": ">= 1",
                                        "input_scale": "0.5..2"}

    def __post_init__(self):
        if self.edge_filter not in ("off", "grey", "colour"):
            raise ValueError(f"`predict.edge_filter` should be one of ['off', 'grey', 'colour'], got {self.edge_filter!r}")
        check_ranges(self, "predict")


class Predictor(Protocol):
    name: str

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray: ...

    def set_threads(self, threads: int) -> None: ...


def round_to(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest multiple of ``multiple``, at least ``multiple``."""
    return max(multiple, int(round(value / multiple)) * multiple)


def scaled_size(width: int, height: int, scale: float, multiple: int = 8) -> tuple[int, int]:
    """(width, height) times ``scale``, each rounded to ``multiple`` (unchanged at scale 1)."""
    if scale == 1.0:
        return width, height
    return round_to(width * scale, multiple), round_to(height * scale, multiple)


def input_size(height: int, width: int, model_width: int, model_height: int, multiple: int = 8) -> tuple[int, int]:
    """(w, h) to run a (height, width) frame at: the model's size for frames of its aspect ratio,
    else the same pixel count at the frame's aspect ratio, both rounded to ``multiple``."""
    aspect, model_aspect = width / height, model_width / model_height
    if abs(aspect / model_aspect - 1) <= ASPECT_TOLERANCE:
        return model_width, model_height
    area = model_width * model_height
    h = np.sqrt(area / aspect)
    w = h * aspect
    return round_to(w, multiple), round_to(h, multiple)


DIRECT_RATIO = 3.0  # frames less than this many times the input size are resized in one bilinear step


def downscale(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (w, h) (``downscale_with_guide``'s first half)."""
    return downscale_with_guide(rgb, size)[0]


def downscale_with_guide(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the frame resized to ``size`` (w, h), the edge filter's guide: the frame or its 2x intermediate).

    Less than DIRECT_RATIO times larger (640x360 -> 256x144): one bilinear step, 0.08 ms on one core
    where the two steps below took 0.42; test-split IoU 0.8963 / 0.9459 (ccp-voc / portraits) either
    way; the guide is the frame. Larger: bilinear to twice the target, then a 2x2 box (INTER_AREA),
    close to a full INTER_AREA (little aliasing) at a tenth of its cost for large frames; the guide is
    the twice-the-target image, so the edge filter runs there at no extra resize.
    """
    w, h = size
    if rgb.shape[1] < DIRECT_RATIO * w and rgb.shape[0] < DIRECT_RATIO * h:
        return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR), rgb
    if rgb.shape[1] > 2 * w and rgb.shape[0] > 2 * h:
        rgb = cv2.resize(rgb, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), rgb


def to_input(rgb: np.ndarray, size: tuple[int, int], prior: np.ndarray | None, channels: int) -> np.ndarray:
    """(1, channels, h, w) float32 in [0, 1] from an RGB uint8 frame (and prior alpha when channels == 4)."""
    return as_input(downscale(rgb, size), prior, channels)


def as_input(small: np.ndarray, prior: np.ndarray | None, channels: int) -> np.ndarray:
    """(1, channels, h, w) float32 in [0, 1] from the frame already at the input size (h, w, 3) uint8."""
    h, w = small.shape[:2]
    x = np.empty((1, channels, h, w), np.float32)
    # one pass HWC uint8 -> CHW float32 (0.06 ms at 256x144; astype, transpose, scale and copy took 0.38)
    np.multiply(small.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=x[0, :3], dtype=np.float32)
    if channels == 4:
        x[0, 3] = 0.0 if prior is None else cv2.resize(to_float(prior), (w, h), interpolation=cv2.INTER_LINEAR)
    return x


def to_frame_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w) model alpha -> (height, width) float32 in [0, 1] (bilinear)."""
    up = cv2.resize(alpha.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(up, 0.0, 1.0, out=up)


def capped(threads: int, max_threads: int) -> int:
    """``threads`` limited to ``max_threads`` (0 = no limit)."""
    return min(threads, max_threads) if max_threads else threads


class StagedPredictor:
    """Our models' path, split so each part can be timed: resize, inference, upsample.

    Subclasses set ``width``, ``height`` (the model's input size), ``channels``, ``dynamic`` and implement
    ``infer(x) -> (h, w) alpha``; ``params`` (``PredictParams``) says the size to run at (``run_size``)
    and how the alpha is brought to the frame's size.
    """
    width: int
    height: int
    channels: int
    dynamic: bool = True
    params: PredictParams = PredictParams()

    @functools.cached_property
    def _workspace(self) -> dict:
        """The edge filter's reused full-size temporaries (one set per predictor)."""
        return {}

    @property
    def run_size(self) -> tuple[int, int]:
        """(w, h) the model runs frames of its aspect ratio at: its input size times ``params.input_scale``
        (a model whose input size is fixed runs at that size)."""
        return scaled_size(self.width, self.height, self.params.input_scale) if self.dynamic else (self.width, self.height)

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        return self.predict_timed(rgb, prior)[0]

    def predict_timed(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """The alpha and the seconds each part took: ``{resize, inference, upsample}``."""
        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        size = input_size(h, w, *self.run_size) if self.dynamic else self.run_size
        small, guide = downscale_with_guide(rgb, size)
        x = as_input(small, prior, self.channels)
        t1 = time.perf_counter()
        alpha = self.infer(x)
        t2 = time.perf_counter()
        out = self.upsample(alpha, small, guide, h, w)
        t3 = time.perf_counter()
        return out, {"resize": t1 - t0, "inference": t2 - t1, "upsample": t3 - t2}

    def upsample(self, alpha: np.ndarray, small: np.ndarray, guide: np.ndarray, height: int, width: int) -> np.ndarray:
        """(height, width) float32 alpha from the model's (h, w) alpha, its input ``small`` and the edge ``guide``."""
        p = self.params
        if p.edge_filter == "off":
            return to_frame_alpha(alpha, height, width)
        coefficients = masks.guided_coefficients(small, alpha, p.edge_radius, p.edge_eps, p.edge_sharpen,
                                                 colour=p.edge_filter == "colour")
        out = masks.guided_apply(coefficients, guide, self._workspace)
        if out.shape == (height, width):
            return out
        # already in [0, 1], and bilinear weights are convex: no second clip over the frame (0.34 ms at 1080p)
        return cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)


class TorchPredictor(StagedPredictor):
    """A .pt checkpoint run with PyTorch on the CPU; ``max_threads`` caps ``set_threads`` (0 = no cap)."""

    def __init__(self, path: Path | str, threads: int | None = None, max_threads: int = 0,
                 params: PredictParams | None = None):
        import torch

        from training.checkpoint import load_model

        self._torch = torch
        self.model = load_model(path)
        self.config = self.model.config
        self.width, self.height = self.config.input_width, self.config.input_height
        self.channels = self.config.in_channels
        self.name = Path(path).name
        self.max_threads = max_threads
        self.params = params or PredictParams()
        if threads:
            self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        self._torch.set_num_threads(capped(threads, self.max_threads))

    def infer(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.model(self._torch.from_numpy(x))[0, 0].numpy()


class OnnxPredictor(StagedPredictor):
    """An exported .onnx model (fp32 or int8) run with onnxruntime on the CPU.

    The input size comes from the model's metadata (``input_width``/``input_height``, written by
    export) or, failing that, from a static input shape. ``max_threads`` caps the intra-op threads
    that ``set_threads`` asks for (0 = no cap).
    """

    def __init__(self, path: Path | str, threads: int | None = None, max_threads: int = 0,
                 params: PredictParams | None = None):
        import onnxruntime as ort

        self._ort = ort
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no ONNX model (export one with `python -m training export`)")
        self.name = self.path.name
        self.max_threads = max_threads
        self.params = params or PredictParams()
        self.threads = capped(threads, max_threads) if threads else max_threads
        session = self._session()
        meta = session.get_modelmeta().custom_metadata_map
        shape = session.get_inputs()[0].shape
        self.channels = int(shape[1])
        if "input_width" in meta:
            self.width, self.height = int(meta["input_width"]), int(meta["input_height"])
        elif isinstance(shape[2], int) and isinstance(shape[3], int):
            self.width, self.height = int(shape[3]), int(shape[2])
        else:
            raise ValueError(f"{self.path}: cannot tell the input size (no input_width/input_height metadata "
                             f"and a dynamic input shape {shape}); re-export with `python -m training export`")
        self.dynamic = not isinstance(shape[2], int)
        self._open()

    def _open(self) -> None:
        """The session for any input size; a dynamic model also gets sessions with the run size fixed (see `infer`)."""
        self.session = self._session()
        self.input_name = self.session.get_inputs()[0].name
        self._static = {}  # (h, w) -> a session with that input size fixed, made on first use
        dims = self.session.get_inputs()[0].shape[2:]
        self._dims = dims if all(isinstance(d, str) for d in dims) else None

    def _session(self, fixed: dict[str, int] | None = None):
        """An onnxruntime session; ``fixed`` gives the dynamic input dimensions a size (name -> size)."""
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        for name, size in (fixed or {}).items():
            options.add_free_dimension_override_by_name(name, size)
        return self._ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def set_threads(self, threads: int) -> None:
        threads = capped(threads, self.max_threads)
        if threads != self.threads:
            self.threads = threads
            self._open()

    def infer(self, x: np.ndarray) -> np.ndarray:
        """The model's alpha for ``x``. A dynamic model runs the frames of its run size (and upright) on a
        session with that size fixed: onnxruntime then folds the graph's shape arithmetic (its Shape,
        Gather and Concat nodes) into constants, ~10% of the inference at 256x144 on one thread."""
        shape = x.shape[2:]
        session = self._static.get(shape)
        if session is None:
            w, h = self.run_size
            if self._dims is not None and shape in ((h, w), (w, h)):
                session = self._static[shape] = self._session(dict(zip(self._dims, shape)))
            else:
                session = self.session
        return session.run(None, {self.input_name: x})[0][0, 0]


def load_predictor(model: str, threads: int | None = None, params_path: Path | str = "params.yaml",
                   max_threads: int = 0) -> Predictor:
    """A predictor for a .pt/.onnx path or a baseline name (see ``training.baselines.BASELINES``;
    ``params_path`` configures our model's `predict` section (its defaults when the file does not exist)
    and the ``ensemble`` baseline; ``max_threads`` caps our model's runtime)."""
    from core.config import load_section
    from training import baselines

    if model in baselines.BASELINES:
        return baselines.load_baseline(model, params_path)
    suffix = Path(model).suffix.lower()
    params = load_section("predict", PredictParams, params_path) if Path(params_path).is_file() else PredictParams()
    if suffix == ".pt":
        return TorchPredictor(model, threads, max_threads, params)
    if suffix == ".onnx":
        return OnnxPredictor(model, threads, max_threads, params)
    raise ValueError(f"`--model` should be a .pt checkpoint, an .onnx file or one of {sorted(baselines.BASELINES)}, "
                     f"got {model!r}")
