"""Mask and alpha math shared by labeling (quality scores) and training (metrics).

Conventions: ``alpha`` arrays are float32 in [0, 1] or uint8 in 0..255, shape (H, W); a "hard" mask
is alpha >= 0.5. ``valid`` (optional, bool (H, W)) excludes pixels where no label speaks.
"""
from __future__ import annotations

import cv2
import numpy as np

BOUNDARY_DILATION_RATIO = 0.02  # Boundary IoU's band: 2% of the image diagonal (Cheng et al. 2021)


def to_float(alpha: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1] from uint8 0..255, bool, or float input."""
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) / 255.0
    if alpha.dtype == bool:
        return alpha.astype(np.float32)
    return np.clip(alpha.astype(np.float32), 0.0, 1.0)


def to_uint8(alpha: np.ndarray) -> np.ndarray:
    """uint8 (H, W) 0..255 from float [0, 1] (rounded) or uint8/bool input."""
    if alpha.dtype == np.uint8:
        return alpha
    return np.round(to_float(alpha) * 255.0).astype(np.uint8)


def binarize(alpha: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """bool (H, W): alpha >= threshold."""
    return to_float(alpha) >= threshold


def iou(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> float:
    """IoU of two masks binarized at 0.5; 1.0 when both are empty."""
    a, b = binarize(a), binarize(b)
    if valid is not None:
        a, b = a & valid, b & valid
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def boundary_width(shape: tuple[int, ...], ratio: float = BOUNDARY_DILATION_RATIO) -> int:
    """Band width in pixels: ``ratio`` of the diagonal, at least 1."""
    h, w = shape[:2]
    return max(1, int(round(ratio * np.hypot(h, w))))


def inner_boundary(mask: np.ndarray, width: int) -> np.ndarray:
    """bool (H, W): mask pixels within ``width`` pixels of the mask's contour (inside the mask).

    As in Boundary IoU: ``mask & ~erode(mask, width)``, with the image border counting as outside.
    """
    mask = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    kernel = np.ones((3, 3), np.uint8)
    eroded = cv2.erode(padded, kernel, iterations=width)[1:-1, 1:-1]
    return (mask - eroded).astype(bool)


def boundary_iou(a: np.ndarray, b: np.ndarray, ratio: float = BOUNDARY_DILATION_RATIO,
                 valid: np.ndarray | None = None) -> float:
    """Boundary IoU (Cheng et al. 2021): IoU of the masks' inner boundary bands; 1.0 if both empty."""
    a, b = binarize(a), binarize(b)
    width = boundary_width(a.shape, ratio)
    ba, bb = inner_boundary(a, width), inner_boundary(b, width)
    if valid is not None:
        ba, bb = ba & valid, bb & valid
    union = np.count_nonzero(ba | bb)
    return 1.0 if union == 0 else np.count_nonzero(ba & bb) / union


def edge_band(alpha: np.ndarray, width: int) -> np.ndarray:
    """bool (H, W): dilate(mask) - erode(mask) with a (2*width+1) square: the band around the edge."""
    mask = binarize(alpha).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(mask, kernel) - cv2.erode(mask, kernel)).astype(bool)


def touched_edges(alpha: np.ndarray, threshold: float = 0.5, min_pixels: int = 1) -> list[str]:
    """Which image borders the person touches: a subset of ['top', 'bottom', 'left', 'right']."""
    mask = binarize(alpha, threshold)
    edges = {"top": mask[0, :], "bottom": mask[-1, :], "left": mask[:, 0], "right": mask[:, -1]}
    return [name for name, line in edges.items() if np.count_nonzero(line) >= min_pixels]
