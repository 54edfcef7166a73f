"""Foreground decontamination: the person's colours without the old background mixed in at the edge.

Where alpha is soft (hair, motion blur) or just outside a hard edge, the source pixels hold the old
background; pasting them as they are draws a halo. ``estimate_foreground`` solves for F in
I = alpha*F + (1-alpha)*B with pymatting's multi-level estimator (``estimate_foreground_ml``) on the
cutout downscaled to ``max_side``, and keeps the full-resolution source pixels where the person is
opaque well inside the edge, so only the edge band gets the (smoother) estimate. F is also
extrapolated outside the person, which is what bilinear resampling at the edge then blends in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthesis.checks import check_between


@dataclass(frozen=True)
class ForegroundParams:
    """How the foreground colours are estimated."""
    decontaminate: bool = True  # estimate F with pymatting; false: reuse the source pixels (halo at the edge)
    max_side: int = 320  # the estimate runs on the cutout downscaled to this longer side, 64..2048
    keep_inside: int = 2  # keep source pixels where alpha = 1 this many estimate pixels inside the edge, 0..16

    def __post_init__(self):
        check_between("max_side", self.max_side, 64, 2048)
        check_between("keep_inside", self.keep_inside, 0, 16)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, max_side: int, keep_inside: int) -> np.ndarray:
    """(H, W, 3) uint8 decontaminated foreground of ``image`` ((H, W, 3) uint8) under ``alpha`` ((H, W) uint8)."""
    import numba
    from pymatting import estimate_foreground_ml  # slow first import (numba compiles, then caches)

    # pymatting's numba kernels run parallel; on these small crops one thread is ~8x faster than two
    # (measured: 9 ms vs 71 ms for 320x240 on 2 busy cores), and worker processes must not oversubscribe
    threads = numba.get_num_threads()
    numba.set_num_threads(1)

    h, w = alpha.shape
    f = min(1.0, max_side / max(h, w))
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    if (sw, sh) != (w, h):
        small_image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        small_alpha = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    else:
        small_image, small_alpha = image, alpha
    try:
        fg_small = estimate_foreground_ml(small_image.astype(np.float64) / 255.0,
                                          small_alpha.astype(np.float64) / 255.0)
    finally:
        numba.set_num_threads(threads)
    fg_small = np.clip(fg_small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    fg = cv2.resize(fg_small, (w, h), interpolation=cv2.INTER_LINEAR) if (sw, sh) != (w, h) else fg_small
    # opaque pixels far enough inside the edge keep their full-resolution source colours
    radius = keep_inside * max(1, math.ceil(1 / f))
    opaque = (alpha == 255).astype(np.uint8)
    if radius > 0:
        opaque = cv2.erode(opaque, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return np.where(opaque[..., None].astype(bool), image, fg)
