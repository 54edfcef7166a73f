"""The TPS warp: albumentations' spline, evaluated on a coarse grid, alpha resampled linearly."""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest
from albumentations.augmentations.geometric import functional as fgeometric

from datasets.synthesis import placement as pl
from datasets.synthesis import scene as sc
from datasets.synthesis import warp
from datasets.synthesis.cutouts import make_cutout
from datasets.synthesis.foreground import ForegroundParams


def test_spline_is_albumentations_thin_plate_spline():
    """Per pixel, our map equals A.ThinPlateSpline's for the same control points (seeded alike)."""
    h, w, scale = 48, 64, 0.1
    t = A.ThinPlateSpline(scale_range=(scale, scale), num_control_points=4, p=1.0)
    t.set_random_seed(7)
    maps = t.get_params_dependent_on_data({"shape": (h, w)}, {})
    src = fgeometric.generate_control_points(4)
    dst = src + np.random.default_rng(7).normal(0, scale / 10, src.shape)
    tps = warp.Tps(scale, src.astype(np.float32), dst.astype(np.float32))
    d = warp.displacement(tps, (w, h), step=1)
    ours_x = np.arange(w)[None, :] + d[..., 0]  # output pixel j (centre j + 0.5) samples index j + d
    ours_y = np.arange(h)[:, None] + d[..., 1]
    # albumentations evaluates the spline at j / w, we at (j + 0.5) / w: read its map half a pixel on
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5)
    alb_x = cv2.remap(maps["map_x"], gx, gy, cv2.INTER_LINEAR) - 0.5
    alb_y = cv2.remap(maps["map_y"], gx, gy, cv2.INTER_LINEAR) - 0.5
    inner = (slice(0, h - 1), slice(0, w - 1))
    assert np.abs(d).max() > 3  # a visible warp
    assert np.abs(ours_x - alb_x)[inner].max() < 0.05
    assert np.abs(ours_y - alb_y)[inner].max() < 0.05


@pytest.mark.parametrize("seed", range(5))
def test_coarse_grid_matches_per_pixel_spline(seed):
    tps = warp.draw_tps(np.random.default_rng(seed), (0.04, 0.04), 4)
    fine = warp.displacement(tps, (640, 360), step=1)
    coarse = warp.displacement(tps, (640, 360), step=8)
    assert np.abs(fine - coarse).max() < 0.25  # pixels
    assert np.abs(fine).max() > 2  # a real warp, not the identity


def test_zero_scale_spline_is_identity():
    tps = warp.draw_tps(np.random.default_rng(0), (0.0, 0.0), 4)
    assert np.abs(warp.displacement(tps, (64, 36), step=4)).max() < 1e-3


def _place(alpha: np.ndarray, placement: pl.Placement, tps: warp.Tps | None, out=(160, 90)) -> np.ndarray:
    rgb = np.zeros(alpha.shape + (3,), np.uint8)
    cutout = make_cutout("x", "train", rgb, alpha, pl.PlacementParams(), ForegroundParams(decontaminate=False))
    disp = warp.displacement(tps, out, 8) if tps is not None else None
    return sc.place(cutout, placement, disp, out)[1]


def test_soft_alpha_stays_soft_through_the_warp():
    """A soft matte (a ramp 0..255 with a blurred outline) keeps its intermediate values and its mass."""
    alpha = np.zeros((80, 80), np.uint8)
    alpha[10:70, 10:70] = np.linspace(0, 255, 60, dtype=np.float32)[None, :].round().astype(np.uint8)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    soft_in = np.count_nonzero((alpha > 5) & (alpha < 250))
    for seed in range(5):
        tps = warp.draw_tps(np.random.default_rng(seed), (0.03, 0.04), 4)
        placement = pl.Placement(scale=1.0, x=80.0, y=45.0, rotation=7.0, flip=False)
        out = _place(alpha, placement, tps)
        soft_out = np.count_nonzero((out > 5) & (out < 250))
        assert soft_out > 0.8 * soft_in, (soft_out, soft_in)
        assert len(np.unique(out)) > 200  # not quantised to a few levels (nearest would copy them, not blend)
        assert abs(out.astype(float).sum() / alpha.astype(float).sum() - 1) < 0.15


def test_hard_edge_moved_by_a_fraction_of_a_pixel_is_blended_linearly():
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 10:30] = 255
    out = _place(alpha, pl.Placement(scale=1.0, x=80.25, y=45.0, rotation=0.0, flip=False), None)
    edge = out[45, :][(out[45, :] > 0) & (out[45, :] < 255)]
    assert edge.size == 2 and np.all(np.abs(edge.astype(int) - [191, 64]) <= 1)  # 0.75 and 0.25 coverage


def test_clamped_sides_replicate_and_others_are_zero():
    rgba = np.full((10, 10, 4), 200, np.uint8)
    shift = np.array([[1.0, 0, -5], [0, 1, -5], [0, 0, 1]])  # the frame samples 5 px up-left of the source
    mx, my = warp.source_maps(shift, (20, 20), None, (10, 10), ("left",))
    out = warp.remap(rgba, mx, my)[..., 3]
    assert out[7, 0] == 200  # left of the source: replicated
    assert out[0, 7] == 0  # above the source: zero
