"""MediaPipe pose's segmentation mask (BlazePose, model_complexity=1, shipped in the wheel).

Complexity 0 and 2 try to download their model and fail offline, so 1 is fixed here.
``static_image_mode=True``: every image is independent (no tracking between calls). The pose
model segments the one person it detects; with no detection the alpha is all zero.
"""
from __future__ import annotations

import warnings

import numpy as np

from labeling.members.base import Member, check_rgb, resize_alpha

# mediapipe 0.10.14 calls a protobuf API that protobuf 4 deprecates, warning on every graph run
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


class MediaPipePose(Member):
    name = "mediapipe-pose"

    def __init__(self, min_detection_confidence: float = 0.5):
        import mediapipe as mp

        self._graph = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                             enable_segmentation=True,
                                             min_detection_confidence=min_detection_confidence)

    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        rgb = check_rgb(rgb, self.name)
        mask = self._graph.process(rgb).segmentation_mask
        if mask is None:  # no person detected
            return np.zeros(rgb.shape[:2], np.float32)
        return resize_alpha(mask, *rgb.shape[:2])

    def close(self) -> None:
        self._graph.close()
