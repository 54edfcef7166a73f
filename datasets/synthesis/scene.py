"""One composite: every random parameter drawn in one place (``draw_scene``), then rendered (``render``).

Render order: background crop -> placement affine and TPS as one remap of the cutout's RGBA (edges
clamped on the sides the person touches) -> colour harmonisation -> I = alpha*F + (1-alpha)*B ->
light wrap -> camera effects; the prior is made from the composite's alpha.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from datasets.synthesis import backgrounds as bgs
from datasets.synthesis import camera as cam
from datasets.synthesis import composite as comp
from datasets.synthesis import placement as pl
from datasets.synthesis import priors, warp
from datasets.synthesis.cutouts import Cutout
from datasets.synthesis.params import SynthesisParams


@dataclass(frozen=True)
class Scene:
    """The drawn parameters of one composite (or of a clip, with ``placement`` its first frame's)."""
    background: bgs.BackgroundCrop
    placement: pl.Placement
    tps: warp.Tps | None
    margin: float  # pixels free sides keep clear (params' margin + the spline's largest displacement)
    harmonise: float  # 0: none
    light_wrap: float  # 0: none
    camera: cam.Camera
    prior: priors.Prior


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # (H, W, 3) uint8, camera effects applied (JPEG quality: scene.camera.jpeg_quality)
    alpha: np.ndarray  # (H, W) uint8
    prior: np.ndarray | None  # (H, W) uint8


def draw_scene(rng: np.random.Generator, geom: pl.Geometry, out_size: tuple[int, int], n_backgrounds: int,
               params: SynthesisParams) -> Scene:
    """Draw a composite's parameters, always in the same order and the same number of draws per component."""
    warp_on = rng.random() < params.warp.prob
    tps = warp.draw_tps(rng, params.warp.scale_range, params.warp.control_points)
    tps = tps if warp_on else None
    margin = params.placement.margin * min(out_size) + warp.max_displacement(tps, out_size, params.warp.grid_step) + 1.0
    placement = pl.draw_placement(rng, geom, out_size, params.placement, margin)
    background = bgs.draw_crop(rng, n_backgrounds, params.backgrounds)
    look = params.look
    h_on, h_u, w_on, w_u = rng.random(4)
    harmonise = look.harmonise_strength[0] + h_u * (look.harmonise_strength[1] - look.harmonise_strength[0])
    wrap = look.light_wrap_strength[0] + w_u * (look.light_wrap_strength[1] - look.light_wrap_strength[0])
    camera = cam.draw_camera(rng, params.camera)
    prior = priors.draw_prior(rng, params.priors, params.warp.control_points)
    return Scene(background=background, placement=placement, tps=tps, margin=float(margin),
                 harmonise=float(harmonise) if h_on < look.harmonise_prob else 0.0,
                 light_wrap=float(wrap) if w_on < look.light_wrap_prob else 0.0,
                 camera=camera, prior=prior)


def place(cutout: Cutout, placement: pl.Placement, tps_disp: np.ndarray | None,
          out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The cutout's (fg (H, W, 3) uint8, alpha (H, W) uint8) in the frame: placement and warp as one remap.

    A webcam cut samples only the rows above the cut, clamped (re-extended) at the cut like a bottom border.
    """
    src = cutout if placement.cut_row is None else cutout.cut(placement.cut_row)
    level = src.level_for(placement.scale)
    rgba = src.level(level)
    f = 2.0 ** level
    to_level = np.diag([1 / f, 1 / f, 1.0]) if level else np.eye(3)
    frame_to_source = to_level @ np.linalg.inv(pl.matrix(cutout.geometry, placement))
    map_x, map_y = warp.source_maps(frame_to_source, out_size, tps_disp, (rgba.shape[1], rgba.shape[0]),
                                    src.geometry.edges)
    out = warp.remap(rgba, map_x, map_y)
    return out[..., :3], np.ascontiguousarray(out[..., 3])


def render(cutout: Cutout, background: np.ndarray, scene: Scene, params: SynthesisParams, out_size: tuple[int, int],
           placement: pl.Placement | None = None, tps_disp: np.ndarray | None = None, with_prior: bool = True,
           noise_seed: int | None = None, timings: dict[str, float] | None = None) -> Rendered:
    """Render ``scene`` on ``background`` ((H, W, 3) uint8 at ``out_size``).

    ``placement`` overrides the scene's (clip frames); ``tps_disp`` is the spline's displacement when
    already computed; ``noise_seed`` overrides the camera's; ``timings`` accumulates seconds per step.
    """
    timings = timings if timings is not None else defaultdict(float)
    t0 = time.perf_counter()
    if tps_disp is None and scene.tps is not None:
        tps_disp = warp.displacement(scene.tps, out_size, params.warp.grid_step)
    fg, alpha = place(cutout, placement or scene.placement, tps_disp, out_size)
    t1 = time.perf_counter()
    timings["warp"] += t1 - t0
    if scene.harmonise > 0:
        fg = comp.harmonise(fg, alpha, background, scene.harmonise)
    image = comp.composite(fg, background, alpha)
    if scene.light_wrap > 0:
        radius = max(1, round(params.look.light_wrap_radius * math.hypot(*out_size)))
        image = comp.light_wrap(image, background, alpha, radius, scene.light_wrap)
    camera = scene.camera if noise_seed is None else cam.Camera(**{**vars(scene.camera), "noise_seed": noise_seed})
    image = cam.apply_camera(image, camera)
    t2 = time.perf_counter()
    timings["composite"] += t2 - t1
    prior = priors.render_prior(alpha, scene.prior, params.priors, params.warp.grid_step) if with_prior else None
    timings["prior"] += time.perf_counter() - t2
    return Rendered(image=image, alpha=alpha, prior=prior)
