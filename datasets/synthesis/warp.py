"""Geometry as one remap: a thin-plate-spline warp of the frame composed with the placement affine.

The TPS is albumentations' ``ThinPlateSpline`` (its functional ``generate_control_points``,
``compute_tps_weights`` and ``tps_transform``, with the same displacement law: control points moved by
N(0, scale / 10) in normalised coordinates), so a composite's warp is what ``A.ThinPlateSpline`` would
give for the recorded control points. Note that in albumentations 2.0.8 the spline does not pass
through its control points (``compute_tps_weights`` solves with an r^4 log r^2 kernel while
``tps_transform`` evaluates r^2 log r^2), so the displacement is several times the control points'
one, largest at the frame's corners: ``scale_range`` defaults are small for that reason, and
placement keeps free sides clear by the spline's measured largest displacement. albumentations evaluates the spline at every pixel in
NumPy, which costs more than the rest of a composite; the spline is smooth, so here it is evaluated on
a coarse grid (every ``grid_step`` pixels, frame corners included) and its *displacement* is
interpolated bilinearly (error < 0.25 px at 640x360 with the default step of 8). The foreground and its alpha are sampled together by one ``cv2.remap`` of
a 4-channel image with linear interpolation, so soft alpha stays soft.

Source coordinates are clamped on the sides the person touches (replicate) and zero elsewhere: this
re-extends an edge-cut body beyond its cut, so rotation and the warp never lift it off the frame border.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from albumentations.augmentations.geometric import functional as fgeometric

from datasets.synthesis.checks import check_range, check_unit


@dataclass(frozen=True)
class WarpParams:
    """The TPS warp applied to person and alpha together (albumentations ThinPlateSpline's parameters)."""
    prob: float = 0.7  # probability that a composite is warped, [0, 1]
    # albumentations' scale_range, within [0, 1]. Its spline overshoots its control points (see module doc):
    # measured max displacement over a 640x360 frame, median (90th pct) as a share of the height:
    # 0.02 -> 3% (5%), 0.05 -> 8% (12%), 0.1 -> 17% (25%), 0.3 -> 50% (74%); so 0.01-0.04 is mild.
    scale_range: tuple[float, float] = (0.01, 0.04)
    control_points: int = 4  # control points per side (n x n grid), 2..8
    grid_step: int = 8  # evaluate the spline every grid_step pixels and upsample, 1..32 (1 = every pixel)

    def __post_init__(self):
        check_unit("prob", self.prob)
        check_range("scale_range", self.scale_range, 0.0, 1.0)
        if not 2 <= self.control_points <= 8:
            raise ValueError(f"`control_points` should be in 2..8, got {self.control_points!r}")
        if not 1 <= self.grid_step <= 32:
            raise ValueError(f"`grid_step` should be in 1..32, got {self.grid_step!r}")


@dataclass(frozen=True)
class Tps:
    """A drawn spline: the frame's control points ``src`` (N, 2) in [0, 1] go to ``dst`` (N, 2).

    As a backward map: the output pixel at ``src[i]`` samples the input at ``dst[i]``.
    """
    scale: float
    src: np.ndarray
    dst: np.ndarray

    def points(self) -> list[float]:
        """``dst`` flattened (x0, y0, x1, y1, ...), for the composites table."""
        return [round(float(v), 6) for v in self.dst.reshape(-1)]


def draw_tps(rng: np.random.Generator, scale_range: tuple[float, float], control_points: int) -> Tps:
    """Draw a spline as albumentations' ThinPlateSpline does (scale ~ U(range), dst = src + N(0, scale/10))."""
    scale = float(rng.uniform(*scale_range))
    src = fgeometric.generate_control_points(control_points).astype(np.float32)
    dst = (src + rng.normal(0.0, scale / 10, src.shape)).astype(np.float32)
    return Tps(scale=scale, src=src, dst=dst)


def _grid_displacement(tps: Tps, size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """(gh, gw, 2) displacement in pixels on a gw x gh grid spanning the frame's first to last pixel centres."""
    w, h = size
    gw, gh = grid
    xs = np.linspace(0.5, w - 0.5, gw, dtype=np.float32) / w
    ys = np.linspace(0.5, h - 0.5, gh, dtype=np.float32) / h
    pts = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    weights, affine = fgeometric.compute_tps_weights(tps.src, tps.dst)
    mapped = fgeometric.tps_transform(pts, tps.src, weights, affine)
    return ((mapped - pts) * np.array([w, h], np.float32)).reshape(gh, gw, 2)


def _grid(size: tuple[int, int], step: int) -> tuple[int, int]:
    w, h = size
    if step == 1:
        return w, h
    return max(2, math.ceil((w - 1) / step) + 1), max(2, math.ceil((h - 1) / step) + 1)


def displacement(tps: Tps, size: tuple[int, int], step: int) -> np.ndarray:
    """(H, W, 2) float32 backward displacement in pixels: output pixel p samples at p + d(p).

    Evaluated on a grid every ~``step`` pixels that includes the first and last pixel centres, then
    interpolated bilinearly (``step`` 1: every pixel). The corners, where the spline moves most, are
    grid points, so the error stays far below a pixel.
    """
    w, h = size
    gw, gh = _grid(size, step)
    coarse = _grid_displacement(tps, size, (gw, gh))
    if (gw, gh) == (w, h):
        return np.ascontiguousarray(coarse, dtype=np.float32)
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32) * ((gw - 1) / (w - 1)), (h, w))
    map_y = np.broadcast_to((np.arange(h, dtype=np.float32) * ((gh - 1) / (h - 1)))[:, None], (h, w))
    return cv2.remap(coarse, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def max_displacement(tps: Tps | None, size: tuple[int, int], step: int) -> float:
    """The largest displacement (pixels) of the spline over the frame; 0 without a spline."""
    if tps is None:
        return 0.0
    d = _grid_displacement(tps, size, _grid(size, step))
    return float(np.sqrt((d ** 2).sum(axis=-1)).max())


def source_maps(frame_to_source: np.ndarray, size: tuple[int, int], disp: np.ndarray | None,
                source_size: tuple[int, int], clamp: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (H, W) float32: where each output pixel samples the source image.

    ``frame_to_source`` (3, 3) maps the frame's continuous coordinates to the source's; ``disp`` is the
    TPS displacement (or None); ``clamp`` names the source sides whose border pixels are replicated
    outward (the borders the person touches).
    """
    w, h = size
    xs = np.arange(w, dtype=np.float32) + 0.5
    ys = np.arange(h, dtype=np.float32)[:, None] + 0.5
    if disp is not None:
        qx, qy = xs + disp[..., 0], ys + disp[..., 1]
    else:
        qx, qy = np.broadcast_to(xs, (h, w)), np.broadcast_to(ys, (h, w))
    m = frame_to_source.astype(np.float32)
    map_x = m[0, 0] * qx + m[0, 1] * qy + (m[0, 2] - 0.5)
    map_y = m[1, 0] * qx + m[1, 1] * qy + (m[1, 2] - 0.5)
    sw, sh = source_size
    if "left" in clamp:
        np.maximum(map_x, 0.0, out=map_x)
    if "right" in clamp:
        np.minimum(map_x, sw - 1.0, out=map_x)
    if "top" in clamp:
        np.maximum(map_y, 0.0, out=map_y)
    if "bottom" in clamp:
        np.minimum(map_y, sh - 1.0, out=map_y)
    return map_x, map_y


def remap(rgba: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Sample ``rgba`` ((h, w, C) uint8) at the maps: linear interpolation, zero outside."""
    return cv2.remap(rgba, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_mask(alpha: np.ndarray, tps: Tps, step: int) -> np.ndarray:
    """``alpha`` (H, W) uint8 warped by ``tps`` over its own frame; borders replicated (used for priors)."""
    h, w = alpha.shape
    d = displacement(tps, (w, h), step)
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    return cv2.remap(alpha, xs + d[..., 0], ys + d[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
