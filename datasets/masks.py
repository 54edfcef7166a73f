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


def guided_coefficients(guide: np.ndarray, alpha: np.ndarray, radius: int, eps: float, sharpen: float = 1.0,
                        colour: bool = True) -> list[np.ndarray]:
    """The averaged linear model ``alpha ~ a . guide + b`` of He et al.'s guided filter, per pixel of a small guide.

    guide: (h, w, 3) uint8 RGB; alpha: (h, w) float32 in [0, 1]; radius: box radius in pixels of the
    guide; eps: regularisation in 0..1 intensity units squared; colour: the 3x3 colour model (else the
    grey level's). ``(alpha - 0.5) x sharpen + 0.5`` is folded into the coefficients (the filter
    softens the edge). Returns the slope maps per 0..255 level (3 colour or 1 grey) and the offset map,
    each (h, w) float32, for ``guided_apply`` on the same image at any larger size: the fast guided
    filter (He & Sun 2015), whose output keeps the larger image's edges.
    """
    p = np.asarray(alpha, np.float32)
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:  # the window mean (box filter, mirrored border)
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    e, mp = np.float32(eps), mean(p)
    if colour:
        small = guide.astype(np.float32) * np.float32(1 / 255)
        R, G, B = small[..., 0], small[..., 1], small[..., 2]
        mR, mG, mB = mean(R), mean(G), mean(B)
        cR, cG, cB = mean(R * p) - mR * mp, mean(G * p) - mG * mp, mean(B * p) - mB * mp  # cov(rgb, alpha)
        rr, rg, rb = mean(R * R) - mR * mR + e, mean(R * G) - mR * mG, mean(R * B) - mR * mB  # cov(rgb) + eps
        gg, gb, bb = mean(G * G) - mG * mG + e, mean(G * B) - mG * mB, mean(B * B) - mB * mB + e
        i_rr, i_rg, i_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb  # its adjugate (symmetric)
        i_gg, i_gb, i_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
        det = rr * i_rr + rg * i_rg + rb * i_rb
        slopes = [(i_rr * cR + i_rg * cG + i_rb * cB) / det, (i_rg * cR + i_gg * cG + i_gb * cB) / det,
                  (i_rb * cR + i_gb * cG + i_bb * cB) / det]
        offset = mp - slopes[0] * mR - slopes[1] * mG - slopes[2] * mB
    else:
        grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
        mI = mean(grey)
        slopes = [(mean(grey * p) - mI * mp) / (mean(grey * grey) - mI * mI + e)]
        offset = mp - slopes[0] * mI
    s, unit = np.float32(sharpen), np.float32(sharpen / 255)  # slopes per 0..255 level: the image is used as it is
    return [mean(a) * unit for a in slopes] + [(mean(offset) - np.float32(0.5)) * s + np.float32(0.5)]


def guided_apply(coefficients: list[np.ndarray], image: np.ndarray, workspace: dict | None = None) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1]: ``guided_coefficients`` upsampled (bilinear) to ``image`` (H, W, 3)
    uint8 RGB, the same image the coefficients were solved on at a smaller size, and applied to it.

    ``workspace``: a dict kept across calls (video frames) whose full-size temporaries are reused, as a
    real-time path does: fresh megabyte arrays every frame cost page faults. The result is always new.
    """
    h, w = image.shape[:2]
    space = {} if workspace is None else workspace

    def buffer(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        buf = space.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = space[name] = np.empty(shape, dtype)
        return buf

    up = [cv2.resize(c, (w, h), buffer(f"coefficient{i}", (h, w), np.float32), interpolation=cv2.INTER_LINEAR)
          for i, c in enumerate(coefficients)]
    # contiguous channels (one split) multiply twice as fast as strided views of the image
    channels = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY, buffer("grey", (h, w), np.uint8))] if len(up) == 2 \
        else cv2.split(image, [buffer(f"channel{c}", (h, w), np.uint8) for c in range(3)])
    for slope, channel in zip(up, channels):
        np.multiply(slope, channel, out=slope)
    out = np.add(up[-1], up[0])
    for slope in up[1:-1]:
        out += slope
    return np.clip(out, 0.0, 1.0, out=out)
