"""Previous-frame priors: a mask a temporal model gets as its 4th input channel, of a drawn kind.

- ``empty``: zeros (cold start, a person entering the frame);
- ``affine_small``: the true alpha moved by a small affine (the model should propagate it);
- ``affine_large``: moved by a large affine (a wrong prior the model should overrule);
- ``tps``: the alpha of a TPS-warped frame (fast camera motion, a non-rigid change).
Borders are replicated, so an edge-cut body's prior stays on its edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from datasets.synthesis import warp
from datasets.synthesis.checks import check_between, check_range

PRIOR_KINDS = ("empty", "affine_small", "affine_large", "tps")


@dataclass(frozen=True)
class AffineJitter:
    """Largest change of a prior's affine (each component drawn uniformly in +-)."""
    rotation: float  # degrees, [0, 45]
    shift: float  # share of the frame size, [0, 0.5]
    scale: float  # relative scale change, [0, 0.5]

    def __post_init__(self):
        check_between("rotation", self.rotation, 0.0, 45.0)
        check_between("shift", self.shift, 0.0, 0.5)
        check_between("scale", self.scale, 0.0, 0.5)


@dataclass(frozen=True)
class PriorParams:
    """How previous-frame priors are drawn."""
    # relative frequency of each kind (>= 0, not all 0; normalised)
    weights: dict[str, float] = field(default_factory=lambda: {
        "empty": 0.15, "affine_small": 0.4, "affine_large": 0.2, "tps": 0.25})
    small: AffineJitter = AffineJitter(rotation=3.0, shift=0.02, scale=0.03)  # affine_small's jitter
    large: AffineJitter = AffineJitter(rotation=15.0, shift=0.10, scale=0.15)  # affine_large's jitter
    tps_scale: tuple[float, float] = (0.02, 0.06)  # the tps kind's spline scale (see warp.WarpParams), within [0, 1]

    def __post_init__(self):
        unknown = sorted(set(self.weights) - set(PRIOR_KINDS))
        if unknown:
            raise ValueError(f"`weights`: unknown prior kind(s) {unknown}; known: {list(PRIOR_KINDS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"`weights` should be >= 0 and not all 0, got {self.weights!r}")
        check_range("tps_scale", self.tps_scale, 0.0, 1.0)


@dataclass(frozen=True)
class Prior:
    """A drawn prior: its kind and the affine components (fractions in [-1, 1] of the jitter) or spline."""
    kind: str
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # rotation, shift x, shift y, scale
    tps: warp.Tps | None = None


def draw_prior(rng: np.random.Generator, params: PriorParams, control_points: int) -> Prior:
    """Draw a prior kind by ``params.weights`` and its parameters (same random values whatever the kind)."""
    kinds = list(PRIOR_KINDS)
    p = np.array([params.weights.get(k, 0.0) for k in kinds], np.float64)
    kind = kinds[int(np.searchsorted(np.cumsum(p / p.sum()), rng.random(), side="right").clip(0, len(kinds) - 1))]
    jitter = tuple(float(v) for v in rng.uniform(-1.0, 1.0, 4))
    tps = warp.draw_tps(rng, params.tps_scale, control_points)
    if kind == "tps":
        return Prior(kind, tps=tps)
    if kind.startswith("affine"):
        return Prior(kind, jitter=jitter)
    return Prior(kind)


def affine_matrix(alpha: np.ndarray, jitter: tuple[float, float, float, float], limits: AffineJitter) -> np.ndarray:
    """(2, 3) affine about the alpha's centre of mass: rotation, scale, then shift (frame fractions)."""
    h, w = alpha.shape
    m = cv2.moments(alpha, binaryImage=False)
    cx, cy = (m["m10"] / m["m00"], m["m01"] / m["m00"]) if m["m00"] > 0 else (w / 2, h / 2)
    rot, sx, sy, sc = jitter
    matrix = cv2.getRotationMatrix2D((cx, cy), rot * limits.rotation, 1.0 + sc * limits.scale)
    matrix[0, 2] += sx * limits.shift * w
    matrix[1, 2] += sy * limits.shift * h
    return matrix


def render_prior(alpha: np.ndarray, prior: Prior, params: PriorParams, grid_step: int) -> np.ndarray:
    """(H, W) uint8 prior for the frame whose true alpha is ``alpha`` ((H, W) uint8)."""
    if prior.kind == "empty":
        return np.zeros_like(alpha)
    if prior.kind == "tps":
        return warp.warp_mask(alpha, prior.tps, grid_step)
    limits = params.small if prior.kind == "affine_small" else params.large
    h, w = alpha.shape
    return cv2.warpAffine(alpha, affine_matrix(alpha, prior.jitter, limits), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
