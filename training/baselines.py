"""Baselines the model is compared against, behind the same ``predict`` protocol as ``predict.py``.

- ``mediapipe-selfie``: MediaPipe's general selfie segmentation (256x256, 193K parameters; the
  Google Meet-era model), ``mp.solutions.selfie_segmentation`` with ``model_selection=0``.
- ``mediapipe-landscape``: the 144x256 landscape variant (``model_selection=1``).
- ``ensemble``: the labeling stage's fused ensemble (slow; an upper reference, not a real-time model).

Both MediaPipe models ship inside the mediapipe wheel (no download). MediaPipe runs XNNPACK with
its own thread setting (one thread on desktop Linux); ``set_threads`` cannot change it, so thread
limits for it come from CPU affinity (see ``bench.py``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BASELINES = {
    "mediapipe-selfie": 0,  # -> mp.solutions.selfie_segmentation model_selection
    "mediapipe-landscape": 1,
    "ensemble": None,
}


class MediaPipeSelfie:
    """MediaPipe selfie segmentation: rgb (H, W, 3) uint8 -> (H, W) float32 person probability."""

    def __init__(self, name: str = "mediapipe-selfie"):
        import mediapipe as mp

        if BASELINES.get(name) is None:
            raise ValueError(f"not a MediaPipe baseline: {name!r} (expected one of "
                             f"{[k for k, v in BASELINES.items() if v is not None]})")
        self.name = name
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=BASELINES[name])

    def set_threads(self, threads: int) -> None:
        """No-op: MediaPipe's XNNPACK thread count is fixed by its graph (see the module docstring)."""

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        result = self._segmenter.process(np.ascontiguousarray(rgb))
        mask = result.segmentation_mask
        if mask is None:
            return np.zeros(rgb.shape[:2], np.float32)
        return np.clip(mask, 0.0, 1.0)

    def close(self) -> None:
        self._segmenter.close()


def load_baseline(name: str, params_path: Path | str = "params.yaml"):
    """A predictor for baseline ``name`` (a key of ``BASELINES``); the ensemble reads `autolabel:` there."""
    if name not in BASELINES:
        raise ValueError(f"`--model` baseline should be one of {sorted(BASELINES)}, got {name!r}")
    if name == "ensemble":
        return EnsemblePredictor(params_path)
    return MediaPipeSelfie(name)


class EnsemblePredictor:
    """The labeling stage's ensemble (``labeling.ensemble.Ensemble`` of params `autolabel:`) as a predictor.

    At test time no label exists: as for an unlabelled photo, zoom crops surround the ensemble's own
    people, and SAM, if a member, is prompted by the fusion of the others.
    """

    name = "ensemble"

    def __init__(self, params_path: Path | str = "params.yaml"):
        from core.config import load_section
        from labeling.autolabel import AutolabelParams
        from labeling.ensemble import Ensemble

        self.ensemble = Ensemble.from_params(load_section("autolabel", AutolabelParams, params_path))

    def set_threads(self, threads: int) -> None:
        """No-op: members keep their own thread settings (`autolabel.models.onnx_threads`)."""

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        return self.ensemble.predict(np.ascontiguousarray(rgb)).alpha
