"""Boundary-preserving placement: where a person cutout goes in the composite frame.

Coordinates are continuous pixel coordinates, y down: pixel (row i, column j) covers [j, j+1) x [i, i+1).

A person whose alpha touches a border of its source image is a body cut by that frame (half-body
portraits are cut at the bottom). Placement keeps every touched border on the same border of the
composite: the body's *pivot* lies on the cut (the middle of the cut segment, or the corner when two
adjacent borders are touched) and is put on the frame border, so the body is only scaled about it and
shifted along that border. A horizontal flip mirrors the cutout first (left <-> right). A person that
touches no border is placed wholly inside, ``margin`` clear of every border.

Rotation (at most ``rotation_max_free`` degrees; ``rotation_max_cut`` for edge-cut bodies) turns the
body about its pivot, so the cut stays on the frame border; a tilted cut would lift part of the cut
line off the border, so the warp (``warp.source_maps``) clamps source coordinates on touched sides:
the body is re-extended beyond its cut (the cut line's pixels continued outward) down to the frame
border. Because that re-extension is a straight continuation, edge-cut bodies get a smaller maximum
rotation. A body touching two opposite borders spans the frame along that axis and is not rotated.

Webcam cut (``webcam_cut_prob``): a tall person (bbox height / width >= ``webcam_min_aspect``) that
touches no border, or only the bottom one, is cut horizontally at a share ``webcam_cut_range`` of its
height measured from the top of the head (0.3-0.55: chest to hips). Only the rows above the cut are
used (``Geometry.cut``, ``Cutout.cut``); the cut line becomes the body's bottom edge, so it is placed
like any bottom-cut body (pivot on the bottom border, ``rotation_max_cut``, re-extended below the cut)
at webcam scale: its height (head top to cut) is ``webcam_height`` of the frame (0.7-0.95 puts the
head top in the upper third), horizontally within the middle ``webcam_spread`` of its range (clips
drift from there as usual). Upscaling is capped by ``webcam_max_upscale`` rather than
``max_upscale``: a webcam frame of a small figure needs more enlargement than a free placement, and
a cap that would stop the figure from reaching the lowest ``webcam_height`` leaves that composite a
normal placement (as does a cut row where the body is too thin to touch the bottom line).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from datasets import masks
from datasets.synthesis.checks import check_between, check_range, check_unit

EDGES = ("top", "bottom", "left", "right")
FLIPPED_EDGE = {"top": "top", "bottom": "bottom", "left": "right", "right": "left"}


@dataclass(frozen=True)
class PlacementParams:
    """How persons are placed. Heights are the person's bounding-box height / the frame height."""
    margin: float = 0.02  # free sides stay this fraction of the frame's short side clear, [0, 0.2]
    height_free: tuple[float, float] = (0.45, 0.85)  # height range for persons touching no border, within (0, 1]
    height_cut: tuple[float, float] = (0.55, 1.0)  # height range for edge-cut bodies, within (0, 1.5]
    max_upscale: float = 2.0  # never enlarge a cutout more than this (blur), unless opposite cuts need it, [1, 8]
    flip_prob: float = 0.5  # probability of a horizontal flip, [0, 1]
    rotation_prob: float = 0.5  # probability that a composite is rotated at all, [0, 1]
    rotation_max_free: float = 30.0  # max |rotation| in degrees for persons touching no border, [0, 30]
    rotation_max_cut: float = 12.0  # max |rotation| in degrees for edge-cut bodies, [0, 30]
    edge_threshold: float = 0.5  # alpha >= this on a border line counts as touching it, (0, 1]
    edge_min_pixels: int = 1  # ... on at least this many pixels of the line, >= 1
    # polygon labels often stop a pixel or two short of the border: a person within this share of the
    # image's short side of a border counts as touching it, and that gap is cropped away, [0, 0.05]
    edge_band: float = 0.01
    webcam_cut_prob: float = 0.5  # probability of a webcam cut of an eligible person (see module doc), [0, 1]
    # cut height as a share of the person's height from the top of the head (0.3-0.55: chest to hips;
    # 0.6 is mid-thigh on ccp-voc people), within [0.1, 0.95]
    webcam_cut_range: tuple[float, float] = (0.3, 0.55)
    webcam_height: tuple[float, float] = (0.7, 0.95)  # cut person's height / frame height, within [0.3, 1]
    webcam_max_upscale: float = 4.0  # enlargement cap for webcam cuts (replaces max_upscale), [1, 8]
    webcam_min_aspect: float = 1.6  # only persons with bbox height / width >= this (standing, not portraits), [0, 10]
    webcam_spread: float = 0.6  # webcam cuts' horizontal position: this share of its allowed range, centred, [0, 1]

    def __post_init__(self):
        check_between("margin", self.margin, 0.0, 0.2)
        check_range("height_free", self.height_free, 1e-3, 1.0)
        check_range("height_cut", self.height_cut, 1e-3, 1.5)
        check_between("max_upscale", self.max_upscale, 1.0, 8.0)
        check_unit("flip_prob", self.flip_prob)
        check_unit("rotation_prob", self.rotation_prob)
        check_between("rotation_max_free", self.rotation_max_free, 0.0, 30.0)
        check_between("rotation_max_cut", self.rotation_max_cut, 0.0, 30.0)
        if not 0.0 < self.edge_threshold <= 1.0:
            raise ValueError(f"`edge_threshold` should be in (0, 1], got {self.edge_threshold!r}")
        check_between("edge_band", self.edge_band, 0.0, 0.05)
        if self.edge_min_pixels < 1:
            raise ValueError(f"`edge_min_pixels` should be >= 1, got {self.edge_min_pixels!r}")
        check_unit("webcam_cut_prob", self.webcam_cut_prob)
        check_range("webcam_cut_range", self.webcam_cut_range, 0.1, 0.95)
        check_range("webcam_height", self.webcam_height, 0.3, 1.0)
        check_between("webcam_max_upscale", self.webcam_max_upscale, 1.0, 8.0)
        check_between("webcam_min_aspect", self.webcam_min_aspect, 0.0, 10.0)
        check_unit("webcam_spread", self.webcam_spread)


@dataclass(frozen=True)
class RowProfile:
    """Per-row extents of a cutout's alpha, so that a horizontal cut's geometry needs no pixels.

    ``first``/``last``: first and last+1 column with alpha > 0 (``width``/0 when none); ``hard_first``/
    ``hard_last``/``hard_count``: the same for alpha >= the edge threshold, and how many such pixels.
    """
    first: np.ndarray
    last: np.ndarray
    hard_first: np.ndarray
    hard_last: np.ndarray
    hard_count: np.ndarray
    min_pixels: int


@dataclass(frozen=True)
class Geometry:
    """What placement needs to know about a cutout of ``width`` x ``height`` pixels.

    ``bbox`` (x0, y0, x1, y1) bounds alpha > 0; ``edges`` are the borders the person touches;
    ``cuts`` maps each touched border to the (start, end) of the touched segment along it.
    """
    width: int
    height: int
    bbox: tuple[float, float, float, float]
    edges: tuple[str, ...]
    cuts: dict[str, tuple[float, float]]
    rows: RowProfile | None = field(default=None, compare=False, repr=False)  # None: cannot be cut

    def cut(self, row: int) -> Geometry:
        """The geometry of rows [0, row) only (a webcam cut), for a cutout touching at most the bottom border.

        The bottom border is touched when the body covers the cut line on ``min_pixels`` pixels.
        """
        if self.rows is None or set(self.edges) - {"bottom"} or not 0 < row <= self.height:
            raise ValueError(f"Geometry.cut: cannot cut a {self.width}x{self.height} cutout touching "
                             f"{list(self.edges)} at row {row} (profile: {self.rows is not None})")
        r = self.rows
        any_rows = np.flatnonzero(r.last[:row] > 0)
        if any_rows.size == 0:
            raise ValueError(f"Geometry.cut: no alpha above row {row}")
        bbox = (float(r.first[:row].min()), float(any_rows[0]), float(r.last[:row].max()), float(any_rows[-1] + 1))
        if r.hard_count[row - 1] >= r.min_pixels:
            return Geometry(self.width, row, bbox, ("bottom",),
                            {"bottom": (float(r.hard_first[row - 1]), float(r.hard_last[row - 1]))})
        return Geometry(self.width, row, bbox, (), {})

    def flipped(self) -> Geometry:
        """The same cutout mirrored horizontally."""
        x0, y0, x1, y1 = self.bbox
        w = self.width
        cuts = {}
        for edge, (a, b) in self.cuts.items():
            cuts[FLIPPED_EDGE[edge]] = (w - b, w - a) if edge in ("top", "bottom") else (a, b)
        edges = tuple(e for e in EDGES if e in {FLIPPED_EDGE[e] for e in self.edges})
        return Geometry(w, self.height, (w - x1, y0, w - x0, y1), edges, cuts)


def geometry_of(alpha: np.ndarray, threshold: float = 0.5, min_pixels: int = 1) -> Geometry:
    """Geometry of ``alpha`` ((H, W) uint8 or float), which must have a pixel > 0."""
    height, width = alpha.shape
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        raise ValueError("geometry_of: alpha is empty (no pixel > 0)")
    bbox = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
    edges = tuple(masks.touched_edges(alpha, threshold, min_pixels))
    hard = masks.binarize(alpha, threshold)
    lines = {"top": hard[0, :], "bottom": hard[-1, :], "left": hard[:, 0], "right": hard[:, -1]}
    cuts = {}
    for edge in edges:
        idx = np.flatnonzero(lines[edge])
        cuts[edge] = (float(idx[0]), float(idx[-1] + 1))
    return Geometry(width, height, bbox, edges, cuts, _row_profile(alpha > 0, hard, min_pixels))


def _row_profile(soft: np.ndarray, hard: np.ndarray, min_pixels: int) -> RowProfile:
    width = soft.shape[1]
    cols = np.arange(width)

    def extents(mask):
        first = np.where(mask, cols, width).min(axis=1)
        last = np.where(mask, cols + 1, 0).max(axis=1)
        return first, last

    first, last = extents(soft)
    hard_first, hard_last = extents(hard)
    return RowProfile(first, last, hard_first, hard_last, np.count_nonzero(hard, axis=1), min_pixels)


def band_pixels(shape: tuple[int, ...], edge_band: float) -> int:
    """The near-border band in pixels for an image of ``shape`` (0: only the border line itself)."""
    return int(round(edge_band * min(shape[:2])))


def near_edges(alpha: np.ndarray, threshold: float, min_pixels: int, band: int) -> list[str]:
    """Borders with alpha >= ``threshold`` on at least ``min_pixels`` positions within ``band`` pixels of them."""
    k = max(1, band)
    hard = masks.binarize(alpha, threshold)
    lines = {"top": hard[:k].any(axis=0), "bottom": hard[-k:].any(axis=0),
             "left": hard[:, :k].any(axis=1), "right": hard[:, -k:].any(axis=1)}
    return [e for e in EDGES if np.count_nonzero(lines[e]) >= min_pixels]


@dataclass(frozen=True)
class Placement:
    """A drawn placement: the pivot of the (flipped) cutout goes to (x, y) of the frame, scaled and
    rotated about it. ``overflow``: opposite touched borders forced the body past a free side."""
    scale: float
    x: float
    y: float
    rotation: float  # degrees, counter-clockwise on screen
    flip: bool
    overflow: bool = False
    cut_row: int | None = None  # webcam cut: only the cutout's rows [0, cut_row) are placed (None: no cut)


def pinned_pair(edges: tuple[str, ...] | list[str]) -> bool:
    """True when two opposite borders are touched (the body spans the frame along that axis)."""
    e = set(edges)
    return {"top", "bottom"} <= e or {"left", "right"} <= e


def pivot(geom: Geometry) -> tuple[float, float]:
    """The point of the cutout that placement pins: on the cut when there is one, else the bbox centre."""
    x0, y0, x1, y1 = geom.bbox
    e = geom.edges
    if "left" in e:
        px = 0.0
    elif "right" in e:
        px = float(geom.width)
    elif "bottom" in e or "top" in e:
        a, b = geom.cuts["bottom" if "bottom" in e else "top"]
        px = (a + b) / 2
    else:
        px = (x0 + x1) / 2
    if "bottom" in e:
        py = float(geom.height)
    elif "top" in e:
        py = 0.0
    elif "left" in e or "right" in e:
        a, b = geom.cuts["left" if "left" in e else "right"]
        py = (a + b) / 2
    else:
        py = (y0 + y1) / 2
    return px, py


def rotation_matrix(degrees: float) -> np.ndarray:
    """(2, 2) rotation, counter-clockwise on screen for y-down coordinates (OpenCV's convention)."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, s], [-s, c]])


def extents(geom: Geometry, rotation: float) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of the rotated bbox corners relative to the pivot, at scale 1."""
    x0, y0, x1, y1 = geom.bbox
    px, py = pivot(geom)
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) - [px, py]
    r = corners @ rotation_matrix(rotation).T
    return float(r[:, 0].min()), float(r[:, 0].max()), float(r[:, 1].min()), float(r[:, 1].max())


def _axis(lo_edge: str, hi_edge: str, size: float, out: float, lo: float, hi: float, edges, margin: float):
    """Scale bounds and pivot position rule along one axis (see ``constrain``)."""
    smin, smax = 0.0, math.inf
    if lo_edge in edges and hi_edge in edges:
        smin = out / size
    elif lo_edge in edges:
        if hi > 0:
            smax = (out - margin) / hi
    elif hi_edge in edges:
        if lo < 0:
            smax = (out - margin) / -lo
    elif hi - lo > 0:
        smax = (out - 2 * margin) / (hi - lo)
    return smin, smax


def constrain(geom: Geometry, scale: float, rotation: float, u: float, v: float,
              out_size: tuple[int, int], margin: float) -> tuple[float, float, float, bool]:
    """The valid (scale, x, y, overflow) closest to ``scale``, with the free position at fractions
    (u, v) in [0, 1] of its allowed range. ``geom`` is the (already flipped) cutout geometry.

    Pinned axes: a touched border's pivot coordinate is the frame border (0 or the frame size).
    Free sides keep ``margin`` pixels clear; opposite touched borders force scale >= frame/cutout size.
    """
    out_w, out_h = out_size
    e = geom.edges
    xmin, xmax, ymin, ymax = extents(geom, rotation)
    smin_x, smax_x = _axis("left", "right", geom.width, out_w, xmin, xmax, e, margin)
    smin_y, smax_y = _axis("top", "bottom", geom.height, out_h, ymin, ymax, e, margin)
    smin, smax = max(smin_x, smin_y), min(smax_x, smax_y)
    overflow = smin > smax
    s = max(min(scale, smax), smin)

    def position(lo_edge, hi_edge, out, lo, hi, frac):
        if lo_edge in e:
            return 0.0
        if hi_edge in e:
            return float(out)
        a, b = margin - s * lo, out - margin - s * hi
        return (a + b) / 2 if a > b else a + frac * (b - a)

    x = position("left", "right", out_w, xmin, xmax, u)
    # the pivot sits on the bottom border when both top and bottom are touched (see ``pivot``)
    y = float(out_h) if "bottom" in e else position("top", "bottom", out_h, ymin, ymax, v)
    return s, x, y, overflow


def webcam_cut(geom: Geometry, params: PlacementParams, cut_u: float, out_h: int) -> tuple[int, Geometry] | None:
    """(cut row, cut geometry) of a webcam cut at ``cut_u`` of ``webcam_cut_range``, or None when ``geom``
    is not eligible: a border other than the bottom touched, too short for its width (a portrait), no row
    profile, a cut line the body does not touch, or more enlargement than ``webcam_max_upscale`` needed."""
    x0, y0, x1, y1 = geom.bbox
    if geom.rows is None or set(geom.edges) - {"bottom"} or (y1 - y0) < params.webcam_min_aspect * (x1 - x0):
        return None
    lo, hi = params.webcam_cut_range
    row = int(round(y0 + (lo + cut_u * (hi - lo)) * (y1 - y0)))
    if not y0 < row <= geom.height:
        return None
    g = geom.cut(row)
    if g.edges != ("bottom",) or params.webcam_height[0] * out_h > params.webcam_max_upscale * (g.bbox[3] - g.bbox[1]):
        return None
    return row, g


def draw_placement(rng: np.random.Generator, geom: Geometry, out_size: tuple[int, int],
                   params: PlacementParams, margin: float) -> Placement:
    """Draw a valid placement of the cutout ``geom`` (unflipped) in a frame of ``out_size`` (w, h).

    ``margin`` (pixels) is what free sides keep clear: the params' margin plus the warp's largest
    displacement. Draws the same number of random values whatever the branch.
    """
    flip_u, rot_on, rot_u, height_u, u, v, cut_on, cut_u = rng.random(8)
    cut_row, upscale, heights = None, params.max_upscale, None
    if cut_on < params.webcam_cut_prob and (cut := webcam_cut(geom, params, cut_u, out_size[1])) is not None:
        (cut_row, geom), upscale, heights = cut, params.webcam_max_upscale, params.webcam_height
        u = 0.5 + (u - 0.5) * params.webcam_spread  # a webcam's subject sits near the middle
    flip = bool(flip_u < params.flip_prob)
    g = geom.flipped() if flip else geom
    cut = bool(g.edges)
    max_rot = 0.0 if pinned_pair(g.edges) else (params.rotation_max_cut if cut else params.rotation_max_free)
    rotation = (2 * rot_u - 1) * max_rot if rot_on < params.rotation_prob else 0.0
    lo, hi = heights or (params.height_cut if cut else params.height_free)
    height_frac = lo + height_u * (hi - lo)
    bbox_h = g.bbox[3] - g.bbox[1]
    scale = min(height_frac * out_size[1] / bbox_h, upscale)
    s, x, y, overflow = constrain(g, scale, rotation, u, v, out_size, margin)
    return Placement(scale=s, x=x, y=y, rotation=rotation, flip=flip, overflow=overflow, cut_row=cut_row)


def placed(geom: Geometry, placement: Placement) -> Geometry:
    """The geometry of the part of the cutout that is placed (its rows above a webcam cut), unflipped."""
    return geom if placement.cut_row is None else geom.cut(placement.cut_row)


def cut_fraction(geom: Geometry, placement: Placement) -> float | None:
    """Where a webcam cut lies, as a share of the person's height from the top of the head (None: no cut)."""
    if placement.cut_row is None:
        return None
    x0, y0, x1, y1 = geom.bbox
    return (placement.cut_row - y0) / (y1 - y0)


def oriented(geom: Geometry, placement: Placement) -> Geometry:
    """The geometry as placement sees it (cut when the placement cuts, mirrored when it flips)."""
    g = placed(geom, placement)
    return g.flipped() if placement.flip else g


def matrix(geom: Geometry, placement: Placement) -> np.ndarray:
    """(3, 3) affine from the *unflipped* cutout's continuous coordinates to the frame's."""
    g = oriented(geom, placement)
    px, py = pivot(g)
    flip = np.array([[-1.0, 0, geom.width], [0, 1, 0], [0, 0, 1]]) if placement.flip else np.eye(3)
    to_pivot = np.array([[1.0, 0, -px], [0, 1, -py], [0, 0, 1]])
    rs = np.eye(3)
    rs[:2, :2] = placement.scale * rotation_matrix(placement.rotation)
    to_frame = np.array([[1.0, 0, placement.x], [0, 1, placement.y], [0, 0, 1]])
    return to_frame @ rs @ to_pivot @ flip


def composite_edges(geom: Geometry, placement: Placement) -> list[str]:
    """The borders the person touched in its source, after flip mapping (what composites.parquet records);
    a webcam cut is the 'bottom' border."""
    return list(oriented(geom, placement).edges)


def with_position(placement: Placement, x: float, y: float) -> Placement:
    return replace(placement, x=x, y=y)
