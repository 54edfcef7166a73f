"""Clips: short sequences in which the person moves smoothly (and sometimes walks in from a side).

A clip keeps one cutout, background, warp, look and camera; its placement follows a smooth path:
scale, rotation and the free position (as fractions of the allowed range, so every frame is a valid
placement, see ``placement.constrain``) ease from a start to an end value, plus a slow sway. An
entry slides the person in from outside the frame along the horizontal axis during the first
``entry_share`` of the clip (a body pinned to the left or right border enters from that side).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from datasets.synthesis import placement as pl
from datasets.synthesis.checks import check_between, check_unit


@dataclass(frozen=True)
class ClipParams:
    """How clips move."""
    frames: int = 16  # frames per clip when --frames is not given, 2..600
    entry_prob: float = 0.3  # probability that the person enters from a side, [0, 1]
    entry_share: float = 0.4  # share of the clip the entry takes, [0.1, 1]
    drift: float = 0.3  # largest change of the free position over a clip (share of its allowed range), [0, 1]
    scale_drift: float = 0.1  # largest relative scale change over a clip, [0, 0.5]
    rotation_drift: float = 5.0  # largest rotation change over a clip, degrees, [0, 30]
    sway: float = 0.03  # amplitude of a slow sway of the free position (share of its range), [0, 0.2]

    def __post_init__(self):
        check_between("frames", self.frames, 2, 600)
        check_unit("entry_prob", self.entry_prob)
        check_between("entry_share", self.entry_share, 0.1, 1.0)
        check_unit("drift", self.drift)
        check_between("scale_drift", self.scale_drift, 0.0, 0.5)
        check_between("rotation_drift", self.rotation_drift, 0.0, 30.0)
        check_between("sway", self.sway, 0.0, 0.2)


@dataclass(frozen=True)
class Motion:
    """A drawn path: start and end fractions (u, v) of the free position range, end scale factor and
    rotation change, sway phase and cycles, and the entry side ('left', 'right' or None)."""
    u0: float
    v0: float
    u1: float
    v1: float
    scale1: float
    rotation1: float
    sway_phase: float
    sway_cycles: float
    entry: str | None


def draw_motion(rng: np.random.Generator, params: ClipParams, edges: tuple[str, ...]) -> Motion:
    """Draw a clip's path for a cutout touching ``edges`` (after flip mapping)."""
    u0, v0, du, dv, ds, dr, phase, cycles, entry_on, side = rng.random(10)
    u1 = float(np.clip(u0 + (2 * du - 1) * params.drift, 0, 1))
    v1 = float(np.clip(v0 + (2 * dv - 1) * params.drift, 0, 1))
    entry = None
    if entry_on < params.entry_prob and not {"left", "right"} <= set(edges):
        entry = "left" if "left" in edges else "right" if "right" in edges else ("left" if side < 0.5 else "right")
    return Motion(float(u0), float(v0), u1, v1, scale1=float(1 + (2 * ds - 1) * params.scale_drift),
                  rotation1=float((2 * dr - 1) * params.rotation_drift), sway_phase=float(2 * math.pi * phase),
                  sway_cycles=float(0.5 + cycles), entry=entry)


def ease(t: float) -> float:
    """Smoothstep: 0 -> 0, 1 -> 1, zero velocity at both ends."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def placement_at(start: pl.Placement, motion: Motion, t: int, frames: int, geom: pl.Geometry,
                 out_size: tuple[int, int], margin: float, max_rotation: float, params: ClipParams) -> pl.Placement:
    """The placement of frame ``t`` of ``frames``; ``geom`` is the oriented (flipped if ``start.flip``) geometry."""
    k = ease(t / max(1, frames - 1))
    sway = params.sway * math.sin(motion.sway_phase + 2 * math.pi * motion.sway_cycles * t / max(1, frames - 1))
    u = float(np.clip(motion.u0 + k * (motion.u1 - motion.u0) + sway, 0, 1))
    v = float(np.clip(motion.v0 + k * (motion.v1 - motion.v0), 0, 1))
    scale = start.scale * (1 + k * (motion.scale1 - 1))
    rotation = 0.0 if pl.pinned_pair(geom.edges) else \
        float(np.clip(start.rotation + k * motion.rotation1, -max_rotation, max_rotation))
    s, x, y, overflow = pl.constrain(geom, scale, rotation, u, v, out_size, margin)
    if motion.entry is not None:
        entry_frames = max(1, round(params.entry_share * (frames - 1)))
        xmin, xmax, _, _ = pl.extents(geom, rotation)
        outside = -s * xmax - 2.0 if motion.entry == "left" else out_size[0] - s * xmin + 2.0
        x = outside + ease(t / entry_frames) * (x - outside)
    return replace(start, scale=s, x=x, y=y, rotation=rotation, overflow=overflow)
