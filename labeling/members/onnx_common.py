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
    ``default_size``. Images are stretched to that size (not letterboxed: measured better, see the
    subclasses) and the probability is resized back bilinearly.
    """

    default_size: tuple[int, int] = (256, 256)  # (H, W) when the graph leaves it dynamic

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
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = np.ascontiguousarray(self.preprocess(small).transpose(2, 0, 1)[None], dtype=np.float32)
        out = self._session.run(self._outputs, {self._input: x})[0][0]
        return resize_alpha(self.postprocess(out), *rgb.shape[:2])
