"""The project's own exported matting model (ONNX), as an ensemble member.

Contract (training's export writes it): input ``input`` (1, 3, H, W) float32 RGB in [0, 1];
output ``alpha`` (1, 1, H, W) in [0, 1]. H, W come from the model's input shape; when the export
leaves them dynamic, 144x256 (MediaPipe landscape's size, the model's training size).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from labeling.members.onnx_common import OnnxSegmenter


class OwnModel(OnnxSegmenter):
    name = "own"
    default_size = (144, 256)

    def __init__(self, path: Path, threads: int = 1):
        super().__init__(path, threads)
        names = [o.name for o in self._session.get_outputs()]
        if self._input != "input" or "alpha" not in names:
            raise ValueError(f"{self.path}: expected input `input` and output `alpha` (the export "
                             f"contract), got input `{self._input}` and outputs {names}")
        self._outputs = ["alpha"]

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return rgb / 255.0

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return output[0]
