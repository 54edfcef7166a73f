"""Images and masks in two folders, matched by file stem: what `training evaluate` and `labeling score` read.

The contract (DESIGN.md, "Evaluation"): masks are matched to images by file stem, hard or soft; a mask
whose size differs from its image with the same aspect ratio is resized (nearest) with a warning; any
other mismatch is reported per pair, not fatal.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core import io

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
ASPECT_TOLERANCE = 0.01  # relative aspect difference still counted as "the same aspect"


@dataclass
class Pair:
    stem: str
    image: Path | None
    mask: Path | None
    error: str | None = None  # reason code when the pair cannot be scored
    detail: str = ""


def match_pairs(images: Path, masks: Path) -> list[Pair]:
    """Images and masks matched by stem; unmatched files become pairs with an error (``no_image``,
    ``no_mask``). FileNotFoundError when a folder is missing or holds no image."""
    imgs, msks = _by_stem(images), _by_stem(masks)
    if not imgs:
        raise FileNotFoundError(f"{images}: no images (expected {sorted(IMAGE_SUFFIXES)} files)")
    pairs = []
    for stem in sorted(set(imgs) | set(msks)):
        pair = Pair(stem, imgs.get(stem), msks.get(stem))
        if pair.image is None:
            pair.error, pair.detail = "no_image", f"{pair.mask}: no image with stem {stem!r} in {images}"
        elif pair.mask is None:
            pair.error, pair.detail = "no_mask", f"{pair.image}: no mask with stem {stem!r} in {masks}"
        pairs.append(pair)
    return pairs


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in found:
            found[p.stem] = p
    return found


def fit_mask(mask: np.ndarray, shape: tuple[int, int], where: Path | str) -> np.ndarray | None:
    """``mask`` (H', W') at ``shape`` (H, W): as is, resized (nearest, with a warning naming ``where``) when
    only the scale differs, None when the aspect ratio differs."""
    (mh, mw), (h, w) = mask.shape[:2], shape
    if (mh, mw) == (h, w):
        return mask
    if abs((mw / mh) / (w / h) - 1) > ASPECT_TOLERANCE:
        return None
    log.warning("%s: mask is %dx%d, image %dx%d (same aspect): resizing the mask (nearest)", where, mw, mh, w, h)
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray] | None:
    """(image (H, W, 3) uint8, mask (H, W) uint8 at the image's size), or None with ``pair.error`` set."""
    try:
        image = io.read_image(pair.image)
        mask = io.read_mask(pair.mask)
    except io.BadFile as e:
        pair.error, pair.detail = e.reason, e.detail
        return None
    (h, w), (mh, mw) = image.shape[:2], mask.shape
    fitted = fit_mask(mask, (h, w), pair.stem)
    if fitted is None:
        pair.error = "size_mismatch"
        pair.detail = f"{pair.mask}: mask is {mw}x{mh} but image {pair.image} is {w}x{h} (aspect differs)"
        log.warning("%s", pair.detail)
        return None
    if fitted is not mask:
        pair.detail = f"mask resized from {mw}x{mh}"
    return image, fitted
