"""Webcam cut: a standing person cut at chest-to-hips height, the cut on the frame's bottom, head in the upper third."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest

from core import io
from datasets import masks
from datasets.synthesis import placement as pl
from datasets.synthesis import scene as sc
from datasets.synthesis import warp
from datasets.synthesis.cutouts import make_cutout
from datasets.synthesis.foreground import ForegroundParams
from datasets.synthesis.params import SynthesisParams
from datasets.synthesize import run

OUT = (160, 90)
WEBCAM = pl.PlacementParams(rotation_prob=0.8, webcam_cut_prob=1.0)
PARAMS = SynthesisParams(placement=WEBCAM, warp=warp.WarpParams(prob=0.8),
                         foreground=ForegroundParams(decontaminate=False))


def standing(rng: np.random.Generator, bottom: bool = False, size: tuple[int, int] = (60, 120)) -> np.ndarray:
    """(H, W) uint8 alpha of a standing figure: head, torso, legs; touching no border (``bottom``: the feet
    cut by the bottom border)."""
    w, h = size
    alpha = np.zeros((h, w), np.uint8)
    cx = int(w * rng.uniform(0.45, 0.55))
    top = int(rng.integers(3, 8))
    cv2.circle(alpha, (cx, top + 9), 9, 255, -1)  # head
    alpha[top + 17:top + 60, cx - 13:cx + 13] = 255  # torso
    alpha[top + 60:h if bottom else h - 4, cx - 10:cx + 10] = 255  # legs
    return alpha


def cutout_of(alpha: np.ndarray, params: SynthesisParams = PARAMS):
    rgb = np.zeros(alpha.shape + (3,), np.uint8)
    return make_cutout("x", "train", rgb, alpha, params.placement, params.foreground)


def rendered(cutout, seed: int, params: SynthesisParams = PARAMS):
    scene = sc.draw_scene(np.random.default_rng(seed), cutout.geometry, OUT, 1, params)
    disp = warp.displacement(scene.tps, OUT, params.warp.grid_step) if scene.tps is not None else None
    return scene, sc.place(cutout, scene.placement, disp, OUT)[1]


@pytest.mark.parametrize("bottom", [False, True], ids=["free", "feet-cut"])
def test_cut_person_sits_on_the_bottom_edge_with_the_head_in_the_upper_third(bottom):
    flips, fractions = set(), []
    for seed in range(30):
        cutout = cutout_of(standing(np.random.default_rng(seed), bottom))
        assert cutout.geometry.edges == (("bottom",) if bottom else ())
        scene, out = rendered(cutout, seed)
        p = scene.placement
        assert p.cut_row is not None, seed
        flips.add(p.flip)
        assert pl.composite_edges(cutout.geometry, p) == ["bottom"]
        fraction = pl.cut_fraction(cutout.geometry, p)
        fractions.append(fraction)
        assert WEBCAM.webcam_cut_range[0] - 0.02 <= fraction <= WEBCAM.webcam_cut_range[1] + 0.02
        assert abs(p.rotation) <= WEBCAM.rotation_max_cut and p.y == OUT[1]
        assert masks.touched_edges(out) == ["bottom"], seed  # on the bottom, clear of the other borders
        rows = np.flatnonzero((out >= 128).any(axis=1))
        assert rows[0] < OUT[1] / 3, (seed, rows[0])  # head top in the upper third
        assert rows[-1] == OUT[1] - 1
        # webcam scale: head top to cut is most of the frame height
        cut_h = p.cut_row - cutout.geometry.bbox[1]
        assert p.scale * cut_h >= 0.6 * OUT[1], (seed, p.scale * cut_h)
    assert flips == {False, True}
    assert max(fractions) - min(fractions) > 0.15


def test_alpha_and_colour_below_the_cut_are_not_used():
    alpha = standing(np.random.default_rng(0))
    cutout = cutout_of(alpha)
    for seed in range(10):
        scene = sc.draw_scene(np.random.default_rng(seed), cutout.geometry, OUT, 1, PARAMS)
        row = scene.placement.cut_row
        other = replace(cutout, rgba=cutout.rgba.copy(), _levels={})
        below = other.rgba[row:]
        below[:] = np.random.default_rng(seed).integers(0, 256, below.shape, dtype=np.uint8)  # noise below the cut
        disp = warp.displacement(scene.tps, OUT, PARAMS.warp.grid_step) if scene.tps is not None else None
        fg_a, alpha_a = sc.place(cutout, scene.placement, disp, OUT)
        fg_b, alpha_b = sc.place(other, scene.placement, disp, OUT)
        assert np.array_equal(alpha_a, alpha_b) and np.array_equal(fg_a, fg_b), seed
        # the frame below the placed cut is the cut line re-extended, not the legs
        assert (alpha_a[-1] >= 128).any()


def test_only_standing_persons_touching_no_border_or_the_bottom_are_cut():
    rng = np.random.default_rng(3)
    side = standing(rng)
    side[50:60, :30] = 255  # an arm reaching the left border
    portrait = np.zeros((80, 100), np.uint8)  # head and shoulders, wider than tall
    cv2.circle(portrait, (50, 25), 15, 255, -1)
    portrait[40:, 10:90] = 255
    for alpha in (side, portrait):
        cutout = cutout_of(alpha)
        assert all(rendered(cutout, s)[0].placement.cut_row is None for s in range(10))
    off = replace(PARAMS, placement=replace(WEBCAM, webcam_cut_prob=0.0))
    cutout = cutout_of(standing(rng), off)
    assert all(rendered(cutout, s, off)[0].placement.cut_row is None for s in range(10))
    # a geometry without a row profile (built by hand) is never cut
    g = pl.Geometry(40, 100, (10.0, 5.0, 30.0, 95.0), (), {})
    assert pl.webcam_cut(g, WEBCAM, 0.5, OUT[1]) is None


def test_cut_is_drawn_with_its_probability_and_the_upscale_cap():
    cutout = cutout_of(standing(np.random.default_rng(0)))
    half = replace(WEBCAM, webcam_cut_prob=0.5)
    rng = np.random.default_rng(0)
    cuts = [pl.draw_placement(rng, cutout.geometry, OUT, half, 3).cut_row is not None for _ in range(400)]
    assert 0.4 < np.mean(cuts) < 0.6
    # a cut of at most ~62 rows needs > 2x to reach 0.7 of a 180-pixel frame: a cap of 1.5 keeps the
    # usual placement
    big = (320, 180)
    capped = replace(WEBCAM, webcam_max_upscale=1.5)
    assert all(pl.draw_placement(rng, cutout.geometry, big, capped, 3).cut_row is None for _ in range(50))
    for _ in range(50):  # the webcam cap, not max_upscale (1.0 here), bounds the enlargement
        p = pl.draw_placement(rng, cutout.geometry, big, replace(WEBCAM, max_upscale=1.0), 3)
        assert p.cut_row is not None and 1.5 < p.scale <= WEBCAM.webcam_max_upscale


def test_webcam_params_are_validated():
    for key, value in [("webcam_cut_prob", 1.5), ("webcam_cut_range", (0.05, 0.5)), ("webcam_cut_range", (0.6, 0.4)),
                       ("webcam_height", (0.2, 0.9)), ("webcam_height", (0.7, 1.2)), ("webcam_max_upscale", 0.5),
                       ("webcam_max_upscale", 9.0), ("webcam_min_aspect", -1.0), ("webcam_min_aspect", 11.0),
                       ("webcam_spread", -0.1), ("webcam_spread", 1.1)]:
        with pytest.raises(ValueError, match=key):
            pl.PlacementParams(**{key: value})
    pl.PlacementParams(webcam_cut_prob=1.0, webcam_cut_range=(0.1, 0.95), webcam_height=(0.3, 1.0),
                       webcam_max_upscale=8.0, webcam_min_aspect=0.0, webcam_spread=0.0)


def test_stage_records_webcam_cuts_deterministically(tiny_store, tmp_path):
    store = tiny_store(n=3, size=(60, 120))
    for i, path in enumerate(sorted((store / "alpha").iterdir())):  # standing persons instead of portraits
        io.write_png(path, standing(np.random.default_rng(i)))
    params = replace(PARAMS, workers=1, count=6, seed=2, size="x".join(map(str, OUT)), clip_count=1,
                     clips=replace(PARAMS.clips, frames=3))
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        metrics = run(params, store, out)
    assert {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()} == \
           {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    table = pd.read_parquet(a / "composites.parquet")
    assert table["webcam_cut"].all() and metrics["webcam_cuts"] == 6
    lo, hi = WEBCAM.webcam_cut_range
    assert table["cut_fraction"].between(lo - 0.02, hi + 0.02).all()
    assert all(list(e) == ["bottom"] for e in table["edges"])
    for row in table.itertuples():
        assert "bottom" in masks.touched_edges(io.read_mask(a / row.alpha))
    clip = pd.read_parquet(a / "clips.parquet")
    assert clip["webcam_cut"].all()
