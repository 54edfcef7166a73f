"""MediaPipe selfie segmentation, general (256x256) and landscape (144x256) models.

Both ship inside the ``mediapipe==0.10.14`` wheel and run offline. ``process`` returns a float32
mask in [0, 1] at the input's size (MediaPipe resizes internally). A graph instance is not safe to
call from two threads at once: the registry keeps one instance per thread.
"""
from __future__ import annotations

import warnings

import numpy as np

from labeling.members.base import Member, check_rgb, resize_alpha

# mediapipe 0.10.14 calls a protobuf API that protobuf 4 deprecates, warning on every graph run
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


class MediaPipeSelfie(Member):
    """``model_selection`` 0 = general (256x256 input), 1 = landscape (144x256 input, faster)."""

    def __init__(self, model_selection: int = 0):
        import mediapipe as mp

        if model_selection not in (0, 1):
            raise ValueError(f"`model_selection` should be 0 (general) or 1 (landscape), got {model_selection!r}")
        self.name = ("mediapipe-selfie", "mediapipe-landscape")[model_selection]
        self._graph = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        rgb = check_rgb(rgb, self.name)
        mask = self._graph.process(rgb).segmentation_mask
        return resize_alpha(mask, *rgb.shape[:2])

    def close(self) -> None:
        self._graph.close()
