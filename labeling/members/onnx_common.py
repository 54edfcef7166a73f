"""A member that runs one ONNX segmentation graph: resize -> preprocess -> run -> postprocess -> resize back."""
from __future__ import annotations

import abc
from pathlib import Path

import cv2
import numpy as np

from labeling.members.base import Member, check_rgb, onnx_session, resize_alpha


class OnnxSegmenter(Member):
    """Subclasses say how pixels are normalised and how the output becomes a probability.

    The input size comes from the graph's first input (N, 3, H, W); a dynamic H/W falls back to
    ``default_size``. Images are stretched to that size, or letterboxed where the subclass measured
    that better (``letterbox``), and the probability is resized back bilinearly.
    """

    default_size: tuple[int, int] = (256, 256)  # (H, W) when the graph leaves it dynamic
    letterbox: bool = False  # keep the image's aspect (pad with grey) instead of stretching it

    def __init__(self, path: Path, threads: int = 1):
        self.path = Path(path)
        self._session = onnx_session(self.path, threads)
        self._outputs: list[str] | None = None  # None: the graph's first output
        first = self._session.get_inputs()[0]
        self._input = first.name
        shape = list(first.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise ValueError(f"{self.path}: expected an (N, 3, H, W) input, got {first.name} {shape}")
        h, w = shape[2], shape[3]
        self.size = (h if isinstance(h, int) else self.default_size[0],
                     w if isinstance(w, int) else self.default_size[1])

    @abc.abstractmethod
    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 RGB 0..255 at the model's size -> (H, W, 3) float32 network input."""

    @abc.abstractmethod
    def postprocess(self, output: np.ndarray) -> np.ndarray:
        """The graph's first output for one image (C, H, W) -> (H, W) probability of person."""

    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        rgb = check_rgb(rgb, self.name)
        h, w = self.size
        if self.letterbox:  # the image's aspect kept, scaled to fit, centred on mid grey
            height, width = rgb.shape[:2]
            scale = min(w / width, h / height)
            nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
            x0, y0 = (w - nw) // 2, (h - nh) // 2
            small = np.full((h, w, 3), 127.5, np.float32)
            small[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        else:
            small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = np.ascontiguousarray(self.preprocess(small).transpose(2, 0, 1)[None], dtype=np.float32)
        prob = self.postprocess(self._session.run(self._outputs, {self._input: x})[0][0])
        if self.letterbox:
            prob = prob[y0:y0 + nh, x0:x0 + nw]
        return resize_alpha(prob, *rgb.shape[:2])


def softmax_person(logits: np.ndarray) -> np.ndarray:
    """(2, H, W) logits (background, person) -> (H, W) float32 p(person), a stable softmax."""
    logits = logits.astype(np.float32)
    logits = logits - logits.max(axis=0, keepdims=True)
    e = np.exp(logits)
    return e[1] / e.sum(axis=0)
