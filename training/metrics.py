"""Evaluation metrics, as RobustVideoMatting's evaluation (``evaluation/evaluate_lr.py``) defines them.

All take float arrays (H, W) in [0, 1] (uint8 0..255 is converted): ``pred`` first, ``true`` second.
- ``mad``  mean |pred - true| x 1e3;  ``mse``  mean (pred - true)^2 x 1e3
- ``grad`` sum of squared differences of Gaussian-derivative gradient magnitudes (sigma 1.4) of the
  min-max normalised mattes, / 1e3
- ``conn`` connectivity error (Rhemann et al. 2009, threshold step 0.1, 4-connectivity, theta 0.15), / 1e3
- ``dtssd`` temporal coherence on clips: sqrt(sum(((p_t - p_t-1) - (t_t - t_t-1))^2) / N) x 1e2
- ``iou``, ``boundary_iou`` at 0.5 come from ``datasets.masks`` (shared with labeling).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from datasets.masks import boundary_iou, iou, to_float

GRAD_SIGMA = 1.4  # RVM's MetricGRAD default
CONN_STEP = 0.1  # threshold step of the connectivity error
CONN_THETA = 0.15  # differences below this do not count (Rhemann et al.)


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = to_float(pred), to_float(true)
    if pred.shape != true.shape:
        raise ValueError(f"prediction and ground truth differ in size: {pred.shape} vs {true.shape}")
    return pred, true


def mad(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute difference x 1e3."""
    pred, true = _pair(pred, true)
    return float(np.abs(pred - true).mean() * 1e3)


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared error x 1e3."""
    pred, true = _pair(pred, true)
    return float(((pred - true) ** 2).mean() * 1e3)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))


@lru_cache(maxsize=4)
def gaussian_derivative_filters(sigma: float = GRAD_SIGMA, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """(filter_x, filter_y): G(y) * dG(x)/dx on a square support, unit L2 norm (9x9 for sigma 1.4)."""
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    rows = _gaussian(offsets, sigma)  # along i (y)
    cols = -offsets * _gaussian(offsets, sigma) / sigma ** 2  # derivative along j (x)
    filter_x = rows[:, None] * cols[None, :]
    filter_x /= np.sqrt((filter_x ** 2).sum())
    return filter_x, filter_x.T.copy()


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """|grad alpha| with Gaussian-derivative filters, replicated borders; float (H, W)."""
    fx, fy = gaussian_derivative_filters(sigma)
    gx = cv2.filter2D(alpha, -1, fx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(alpha, -1, fy, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx ** 2 + gy ** 2)


def grad(pred: np.ndarray, true: np.ndarray, sigma: float = GRAD_SIGMA) -> float:
    """Gradient error / 1e3 (each matte min-max normalised to [0, 1] first, as RVM does)."""
    pred, true = _pair(pred, true)
    pred_n = cv2.normalize(pred, None, 1.0, 0.0, cv2.NORM_MINMAX)
    true_n = cv2.normalize(true, None, 1.0, 0.0, cv2.NORM_MINMAX)
    diff = gradient_magnitude(true_n, sigma).astype(np.float32) - gradient_magnitude(pred_n, sigma).astype(np.float32)
    return float((diff ** 2).sum() / 1000)


def conn(pred: np.ndarray, true: np.ndarray, step: float = CONN_STEP, theta: float = CONN_THETA) -> float:
    """Connectivity error / 1e3.

    For each threshold t in (step, 2 step, ..., 1], the largest 4-connected component of
    (true >= t) & (pred >= t) is the source region; a pixel's level ``l`` is the last threshold before
    it leaves that region (1 if it never does). phi = 1 - (alpha - l) where alpha - l >= theta, else 1;
    the error is sum |phi_true - phi_pred|.
    """
    pred, true = _pair(pred, true)
    thresholds = np.arange(0, 1 + step, step)
    level = -np.ones_like(true)
    for i in range(1, len(thresholds)):
        both = ((true >= thresholds[i]) & (pred >= thresholds[i])).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        areas = stats[1:, cv2.CC_STAT_AREA]
        largest = np.zeros(true.shape, bool)
        if len(areas):
            largest = labels == (int(np.argmax(areas)) + 1)
        level[(level == -1) & ~largest] = thresholds[i - 1]
    level[level == -1] = 1
    true_d, pred_d = true - level, pred - level
    true_phi = 1 - true_d * (true_d >= theta)
    pred_phi = 1 - pred_d * (pred_d >= theta)
    return float(np.abs(true_phi - pred_phi).sum() / 1000)


def dtssd(pred_t: np.ndarray, pred_tm1: np.ndarray, true_t: np.ndarray, true_tm1: np.ndarray) -> float:
    """Temporal coherence between frames t-1 and t, x 1e2."""
    pred_t, true_t = _pair(pred_t, true_t)
    pred_tm1, true_tm1 = _pair(pred_tm1, true_tm1)
    d = (pred_t - pred_tm1) - (true_t - true_tm1)
    return float(np.sqrt((d ** 2).sum() / true_t.size) * 1e2)


def clip_dtssd(preds: list[np.ndarray], trues: list[np.ndarray]) -> float:
    """Mean dtSSD of a clip; the first frame counts 0, as in RVM's per-clip average."""
    if len(preds) != len(trues) or not preds:
        raise ValueError(f"a clip needs as many predictions as ground-truth frames (>0), "
                         f"got {len(preds)} and {len(trues)}")
    values = [0.0] + [dtssd(preds[t], preds[t - 1], trues[t], trues[t - 1]) for t in range(1, len(preds))]
    return float(np.mean(values))


METRICS = ("iou", "boundary_iou", "mad", "mse", "grad", "conn")
HIGHER_IS_BETTER = {"iou": True, "boundary_iou": True, "mad": False, "mse": False, "grad": False, "conn": False}


def image_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Every per-image metric of ``METRICS`` for one (pred, true) pair of the same size."""
    pred, true = _pair(pred, true)
    return {"iou": float(iou(pred, true)), "boundary_iou": float(boundary_iou(pred, true)),
            "mad": mad(pred, true), "mse": mse(pred, true), "grad": grad(pred, true), "conn": conn(pred, true)}
