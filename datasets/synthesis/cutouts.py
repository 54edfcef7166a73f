"""Person cutouts from a sample store: which samples can be used (and why not), and their RGBA crops.

``scan`` checks every row of samples.parquet once (split, readable image and alpha, same size, a
person present) and returns the usable ones plus a reason for each one it skips; ``load`` crops a
usable sample to its person (the crop keeps the borders the person touches) with decontaminated
foreground colours, as an RGBA image with a mip pyramid for strong downscaling.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

from core import io
from datasets.store import SPLITS, Store
from datasets.synthesis.foreground import ForegroundParams, estimate_foreground
from datasets.synthesis import placement as pl
from datasets.synthesis.placement import Geometry, PlacementParams

log = logging.getLogger(__name__)
CROP_PAD = 2  # pixels of zero alpha kept around the person on sides it does not touch


@dataclass(frozen=True)
class Source:
    """A usable sample: its id, split and the image and alpha files (the alpha may come from --labels), and
    the store's name of where it came from (`source`)."""
    id: str
    split: str
    image: Path
    alpha: Path
    source: str


@dataclass(frozen=True)
class Skipped:
    """A sample that cannot be used, with a reason code and a message."""
    sample_id: str
    # bad_split, missing_label, missing_image, bad_image, bad_mask, decompression_bomb, size_mismatch,
    # empty_alpha (no pixel > 0), tiny_alpha (fewer than min_person_pixels >= 0.5 in the person crop)
    reason: str
    detail: str


def scan(store: Store, labels: Path | None, min_person_pixels: int, placement: PlacementParams,
         splits: Sequence[str] = SPLITS) -> tuple[list[Source], list[Skipped], int]:
    """Usable samples of ``splits`` (sorted by id), the skipped ones, each with its reason, and how many
    samples of the other valid splits were left out (not drawn from)."""
    threshold = placement.edge_threshold
    sources, skipped = [], []
    rows = store.samples.sort_values("id", kind="stable")
    other = rows["split"].isin(set(SPLITS) - set(splits))
    rows = rows[~other]
    for row in rows.itertuples(index=False):
        sid = str(row.id)
        if row.split not in SPLITS:
            skipped.append(Skipped(sid, "bad_split", f"split {row.split!r} is not one of {list(SPLITS)}"))
            continue
        alpha_path = labels / f"{sid}.png" if labels is not None else store.path(row.alpha)
        if labels is not None and not alpha_path.is_file():
            skipped.append(Skipped(sid, "missing_label", f"{alpha_path}: no label for this sample in --labels"))
            continue
        image_path = store.path(row.image)
        try:
            image = io.read_image(image_path)
            alpha = io.read_mask(alpha_path)
        except io.BadFile as e:
            skipped.append(Skipped(sid, e.reason, e.detail))
            continue
        if image.shape[:2] != alpha.shape:
            skipped.append(Skipped(sid, "size_mismatch", f"{alpha_path}: alpha is {alpha.shape[1]}x{alpha.shape[0]}, "
                                   f"image {image_path.name} is {image.shape[1]}x{image.shape[0]}"))
            continue
        hard = 0
        if alpha.any():
            x0, y0, x1, y1 = person_crop(alpha, placement)
            hard = int(np.count_nonzero(alpha[y0:y1, x0:x1] >= round(threshold * 255)))
        if not alpha.any():
            skipped.append(Skipped(sid, "empty_alpha", f"{alpha_path}: alpha is 0 everywhere (no person)"))
            continue
        if hard < min_person_pixels:
            skipped.append(Skipped(sid, "tiny_alpha", f"{alpha_path}: {hard} person pixels, fewer than "
                                   f"min_person_pixels={min_person_pixels}"))
            continue
        sources.append(Source(sid, str(row.split), image_path, alpha_path, str(row.source)))
    for s in skipped:
        log.warning("sample %s skipped (%s): %s", s.sample_id, s.reason, s.detail)
    return sources, skipped, int(other.sum())


def skipped_frame(skipped: list[Skipped]) -> pd.DataFrame:
    return pd.DataFrame([vars(s) for s in skipped], columns=["sample_id", "reason", "detail"])


@dataclass
class Cutout:
    """A person crop: ``rgba`` (h, w, 4) uint8 (decontaminated colours + alpha), its ``geometry``, and
    downscaled levels (``level(k)`` is 2^k times smaller, area-averaged)."""
    id: str
    split: str
    rgba: np.ndarray
    geometry: Geometry
    _levels: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def level(self, k: int) -> np.ndarray:
        if k == 0:
            return self.rgba
        if k not in self._levels:
            h, w = self.rgba.shape[:2]
            size = (max(1, round(w / 2 ** k)), max(1, round(h / 2 ** k)))
            self._levels[k] = cv2.resize(self.rgba, size, interpolation=cv2.INTER_AREA)
        return self._levels[k]

    def cut(self, row: int) -> Cutout:
        """The cutout's rows [0, ``row``) only (a webcam cut; see ``placement.Geometry.cut``): nothing
        below the cut is sampled, and its pyramid is built from the cut rows."""
        return Cutout(self.id, self.split, self.rgba[:row], self.geometry.cut(row))

    def level_for(self, scale: float) -> int:
        """The pyramid level to sample at ``scale`` without aliasing (downscaling by at most 2 in the remap)."""
        if scale >= 0.5:
            return 0
        h, w = self.rgba.shape[:2]
        k = int(math.floor(math.log2(0.999 / scale)))
        return max(0, min(k, int(math.log2(max(1, min(h, w) / 8)))))


def crop_box(alpha: np.ndarray, near: list[str], band: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the person crop: on the ``near`` sides the image border minus the ``band``
    (the gap a label leaves short of the border goes, so the crop's border line crosses the body);
    elsewhere the bounding box of alpha > 0 plus ``CROP_PAD`` pixels, inside the image."""
    h, w = alpha.shape
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    x0 = band if "left" in near else max(0, int(cols[0]) - CROP_PAD)
    y0 = band if "top" in near else max(0, int(rows[0]) - CROP_PAD)
    x1 = w - band if "right" in near else min(w, int(cols[-1]) + 1 + CROP_PAD)
    y1 = h - band if "bottom" in near else min(h, int(rows[-1]) + 1 + CROP_PAD)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def person_crop(alpha: np.ndarray, placement: PlacementParams) -> tuple[int, int, int, int]:
    """The crop box of ``alpha``'s person under the placement params' near-border band."""
    band = pl.band_pixels(alpha.shape, placement.edge_band)
    near = pl.near_edges(alpha, placement.edge_threshold, placement.edge_min_pixels, band)
    return crop_box(alpha, near, band)


def make_cutout(sid: str, split: str, image: np.ndarray, alpha: np.ndarray, placement: PlacementParams,
                foreground: ForegroundParams) -> Cutout:
    """Crop ``image`` ((H, W, 3) uint8) and ``alpha`` ((H, W) uint8) to the person and estimate its colours.

    The touched borders are those of the crop (its border lines), so placement and the warp's
    clamping agree; persons near a border (``placement.edge_band``) are cropped onto it.
    """
    x0, y0, x1, y1 = person_crop(alpha, placement)
    image, alpha = image[y0:y1, x0:x1], np.ascontiguousarray(alpha[y0:y1, x0:x1])
    if not alpha.any():
        raise ValueError(f"{sid}: the person crop is empty (the person lies only in the border band; "
                         "`scan` skips such samples as tiny_alpha)")
    if foreground.decontaminate:
        fg = estimate_foreground(image, alpha, foreground.max_side, foreground.keep_inside)
    else:
        fg = image
    rgba = np.ascontiguousarray(np.dstack([fg, alpha]))
    geom = pl.geometry_of(alpha, placement.edge_threshold, placement.edge_min_pixels)
    return Cutout(sid, split, rgba, geom)


def load(source: Source, placement: PlacementParams, foreground: ForegroundParams) -> Cutout:
    """The cutout of a scanned sample (files already checked by ``scan``)."""
    return make_cutout(source.id, source.split, io.read_image(source.image), io.read_mask(source.alpha),
                       placement, foreground)
