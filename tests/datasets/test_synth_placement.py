"""Boundary-preserving placement, checked on the rendered alpha (placement + rotation + TPS + remap)."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from datasets import masks
from datasets.synthesis import placement as pl
from datasets.synthesis import scene as sc
from datasets.synthesis import warp
from datasets.synthesis.cutouts import make_cutout
from datasets.synthesis.foreground import ForegroundParams
from datasets.synthesis.params import SynthesisParams

OUT = (160, 90)
EDGE_SETS = [tuple(c) for r in range(5) for c in itertools.combinations(pl.EDGES, r)]
PARAMS = SynthesisParams(placement=pl.PlacementParams(rotation_prob=0.8),
                         warp=warp.WarpParams(prob=0.8), foreground=ForegroundParams(decontaminate=False))


def person(rng: np.random.Generator, edges: tuple[str, ...], soft: bool) -> np.ndarray:
    """(H, W) uint8 alpha: a blob (head and torso) plus limbs reaching exactly the ``edges``."""
    h, w = int(rng.integers(60, 120)), int(rng.integers(60, 120))
    alpha = np.zeros((h, w), np.uint8)
    cx, cy = int(w * rng.uniform(0.4, 0.6)), int(h * rng.uniform(0.4, 0.6))
    cv2.ellipse(alpha, (cx, cy), (int(w * 0.2), int(h * 0.25)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    half = int(rng.integers(4, 12))
    if "bottom" in edges:
        alpha[cy:, cx - half:cx + half] = 255
    if "top" in edges:
        alpha[:cy, cx - half:cx + half] = 255
    if "left" in edges:
        alpha[cy - half:cy + half, :cx] = 255
    if "right" in edges:
        alpha[cy - half:cy + half, cx:] = 255
    if soft:
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)
        for e, line in {"top": alpha[0], "bottom": alpha[-1], "left": alpha[:, 0], "right": alpha[:, -1]}.items():
            if e not in edges:
                line[:] = 0  # blur must not make new contacts
    return alpha


def render_alpha(alpha: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    rgb = np.zeros(alpha.shape + (3,), np.uint8)
    cutout = make_cutout("x", "train", rgb, alpha, PARAMS.placement, PARAMS.foreground)
    scene = sc.draw_scene(rng, cutout.geometry, OUT, 1, PARAMS)
    disp = warp.displacement(scene.tps, OUT, PARAMS.warp.grid_step) if scene.tps is not None else None
    _, out = sc.place(cutout, scene.placement, disp, OUT)
    return cutout, scene, out


def visible_cut(geom: pl.Geometry, p: pl.Placement, edge: str) -> float:
    """Length of the placed cut at (source) ``edge``, projected on its frame edge and clipped to the frame."""
    a, b = geom.cuts[edge]
    w, h = geom.width, geom.height
    ends = {"top": [(a, 0), (b, 0)], "bottom": [(a, h), (b, h)], "left": [(0, a), (0, b)],
            "right": [(w, a), (w, b)]}[edge]
    pts = (pl.matrix(geom, p) @ np.array([[x, y, 1.0] for x, y in ends]).T)[:2].T
    axis, size = (0, OUT[0]) if edge in ("top", "bottom") else (1, OUT[1])
    lo, hi = sorted(np.clip(pts[:, axis], 0, size))
    return float(hi - lo)


@pytest.mark.parametrize("edges", EDGE_SETS, ids=lambda e: "+".join(e) or "free")
def test_touched_edges_stay_on_the_frame_edge_and_free_sides_stay_clear(edges):
    flips = set()
    for seed in range(30):
        rng = np.random.default_rng([seed, len(edges)])
        alpha = person(rng, edges, soft=bool(seed % 2))
        cutout, scene, out = render_alpha(alpha, seed)
        p = scene.placement
        flips.add(p.flip)
        expected = [pl.FLIPPED_EDGE[e] if p.flip else e for e in edges]
        recorded = pl.composite_edges(cutout.geometry, p)
        assert sorted(recorded) == sorted(expected), (seed, recorded, expected)
        touched = masks.touched_edges(out)
        lines = {"top": out[0], "bottom": out[-1], "left": out[:, 0], "right": out[:, -1]}
        for e in expected:
            # a body larger than the frame may have a cut pushed out of it (the frame cuts deeper);
            # whatever part of the cut lies along the frame stays on the frame edge, wholly covered
            visible = visible_cut(cutout.geometry, p, pl.FLIPPED_EDGE[e] if p.flip else e)
            if visible < 2:
                continue
            assert e in touched, f"seed {seed}: the cut at {e} left the frame edge ({touched})"
            covered = np.count_nonzero(lines[e] >= 128)
            assert covered >= 0.7 * visible, (seed, e, covered, visible, p)
        if not p.overflow:
            assert set(touched) <= set(expected), f"seed {seed}: {touched} touched, only {expected} expected"
        if not p.overflow and not pl.pinned_pair(edges):
            assert sorted(touched) == sorted(expected), f"seed {seed}: {touched} touched, {expected} expected"
        if not edges:
            # wholly inside: margin clear on every side and nothing cropped away
            margin = int(PARAMS.placement.margin * min(OUT)) - 1
            ys, xs = np.nonzero(out)
            assert ys.min() >= margin and xs.min() >= margin
            assert ys.max() < OUT[1] - margin and xs.max() < OUT[0] - margin
            mass = out.astype(float).sum() / (alpha.astype(float).sum() * p.scale ** 2)
            assert 0.75 < mass < 1.3, (seed, mass)
    assert flips == {False, True}


def test_flip_maps_left_to_right_and_keeps_top_bottom():
    g = pl.Geometry(100, 80, (0.0, 10.0, 60.0, 80.0), ("bottom", "left"), {"bottom": (0.0, 40.0), "left": (30.0, 80.0)})
    f = g.flipped()
    assert f.edges == ("bottom", "right")
    assert f.cuts == {"bottom": (60.0, 100.0), "right": (30.0, 80.0)}
    assert f.bbox == (40.0, 10.0, 100.0, 80.0)
    assert f.flipped() == g


def test_opposite_edges_span_the_frame_without_rotation():
    rng = np.random.default_rng(0)
    alpha = person(rng, ("top", "bottom"), soft=False)
    for seed in range(10):
        cutout, scene, out = render_alpha(alpha, seed)
        assert scene.placement.rotation == 0.0
        assert scene.placement.scale * cutout.geometry.height >= OUT[1] - 1e-6
        assert {"top", "bottom"} <= set(masks.touched_edges(out))


def test_rotation_is_bounded_and_smaller_for_edge_cut_bodies():
    params = pl.PlacementParams(rotation_prob=1.0)
    free = pl.Geometry(50, 50, (10.0, 10.0, 40.0, 40.0), (), {})
    cut = pl.Geometry(50, 50, (10.0, 10.0, 40.0, 50.0), ("bottom",), {"bottom": (20.0, 30.0)})
    rng = np.random.default_rng(1)
    free_rot = [pl.draw_placement(rng, free, OUT, params, 3).rotation for _ in range(300)]
    cut_rot = [pl.draw_placement(rng, cut, OUT, params, 3).rotation for _ in range(300)]
    assert max(map(abs, free_rot)) <= params.rotation_max_free and max(map(abs, free_rot)) > 20
    assert max(map(abs, cut_rot)) <= params.rotation_max_cut


def test_near_border_labels_count_as_touching_and_the_gap_is_cropped():
    alpha = np.zeros((400, 320), np.uint8)  # edge band: 1% of 320 -> 3 px
    alpha[100:398, 100:200] = 255  # a polygon that stops 2 px short of the bottom
    rgb = np.zeros((400, 320, 3), np.uint8)
    cutout = make_cutout("x", "train", rgb, alpha, PARAMS.placement, PARAMS.foreground)
    assert cutout.geometry.edges == ("bottom",)
    assert cutout.rgba.shape[0] == 400 - 3 - (100 - 2)  # cropped onto the label, 2 px kept above the person
    strict = pl.PlacementParams(edge_band=0.0)
    cutout = make_cutout("x", "train", rgb, alpha, strict, PARAMS.foreground)
    assert cutout.geometry.edges == ()


def test_params_are_validated_on_construction():
    with pytest.raises(ValueError, match="rotation_max_free"):
        pl.PlacementParams(rotation_max_free=45.0)
    with pytest.raises(ValueError, match="height_free"):
        pl.PlacementParams(height_free=(0.9, 0.5))
