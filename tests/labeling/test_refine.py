"""Refinement: the trimap is cut from the mask's edge band; pymatting softens only inside it."""
from __future__ import annotations

import numpy as np
import pytest

from datasets import masks
from labeling.refine import UNKNOWN, RefineParams, refine, trimap


def test_trimap_exact():
    mask = np.zeros((9, 9), np.uint8)
    mask[3:6, 3:6] = 255
    tri = trimap(mask, 1)
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = UNKNOWN  # dilate - erode of a 3x3 square with a 3x3 kernel: a 5x5 ring
    expected[4, 4] = 1.0  # the eroded square's one pixel stays known foreground
    np.testing.assert_array_equal(tri, expected)


def test_trimap_widens_where_the_guide_is_unsure():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    guide = masks.to_float(mask).copy()
    guide[5:15, 2:4] = 0.5  # the ensemble is unsure left of the edge (column 5), beyond the 1-px band
    plain, widened = trimap(mask, 1), trimap(mask, 1, guide)
    assert (plain[5:15, 3] == 0).all() and (widened[5:15, 3] == UNKNOWN).all()  # within 2 x band
    assert (widened[5:15, 2] == 0).all()  # 3 px from the edge: too far to matter
    assert (widened[0, :] == 0).all() and widened[10, 10] == 1.0  # far pixels stay known


def soft_disc(h=80, w=80, r=25):
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy - h / 2, xx - w / 2)
    alpha = np.clip(r + 2 - d, 0, 4) / 4  # a 4-px soft edge
    fg, bg = np.array([230, 60, 40.]), np.array([20, 90, 200.])
    rgb = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.uint8)
    return rgb, alpha.astype(np.float32)


def test_refine_recovers_a_soft_edge_inside_the_band_only():
    rgb, true_alpha = soft_disc()
    hard = (true_alpha >= 0.5).astype(np.uint8) * 255
    params = RefineParams(band_ratio=0.05)  # 6 px on an 80x80 image
    refined = refine(rgb, hard, params)
    assert refined.shape == hard.shape and refined.dtype == np.float32
    band = masks.edge_band(hard, masks.boundary_width(hard.shape, 0.05))
    np.testing.assert_array_equal(refined[~band], masks.to_float(hard)[~band])
    before = np.abs(masks.to_float(hard) - true_alpha)[band].mean()
    after = np.abs(refined - true_alpha)[band].mean()
    assert after < 0.5 * before


@pytest.mark.parametrize("value", [0, 255])
def test_refine_leaves_empty_and_full_masks(value):
    rgb, _ = soft_disc(20, 20, 5)
    mask = np.full((20, 20), value, np.uint8)
    np.testing.assert_array_equal(refine(rgb, mask, RefineParams()), masks.to_float(mask))


def test_refine_params_validated():
    with pytest.raises(ValueError, match="band_ratio"):
        RefineParams(band_ratio=0.0)
