"""Pure converters between masks and Label Studio brush regions (no server needed).

Label Studio stores a brush region as the run-length code of an RGBA image, flattened (length
H * W * 4); the region's pixels are its alpha channel (``label_studio_sdk.converter.brush``).
A brush is hard: the editor paints fully opaque pixels, so a soft alpha matte does not survive a
round trip. The ensemble's alpha is pushed binarized at 0.5, a person's correction comes back as
a 0/255 mask, and :func:`soften` puts the soft ensemble alpha back where the two agree inside the
edge band (docs/people-in-the-loop.md).

Shapes: masks are (H, W) uint8, 0..255; a region result is Label Studio's JSON dict:
``{"type": "brushlabels", "from_name", "to_name", "value": {"format": "rle", "rle": [...],
"brushlabels": [label]}, "original_width": W, "original_height": H}``.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from label_studio_sdk.converter import brush as ls_brush

from datasets import masks

HARD_THRESHOLD = 128  # a decoded brush pixel belongs to the region when its alpha >= this


class BrushError(ValueError):
    """A brush region that cannot be decoded into a mask of the expected size."""


def mask_to_rle(alpha: np.ndarray, threshold: float = 0.5) -> list[int]:
    """Brush RLE of ``alpha`` (H, W) binarized at ``threshold``: region pixels 255, others 0."""
    hard = masks.binarize(alpha, threshold).astype(np.uint8) * 255
    return [int(v) for v in ls_brush.mask2rle(hard)]


def rle_to_mask(rle: list[int], height: int, width: int) -> np.ndarray:
    """The region's alpha channel (H, W) uint8 decoded from brush RLE; a wrong length is BrushError."""
    try:
        flat = ls_brush.decode_rle(rle)
    except (IndexError, ValueError, TypeError) as e:
        raise BrushError(f"undecodable brush RLE ({type(e).__name__}: {e})") from e
    if flat.size != height * width * 4:
        raise BrushError(f"brush RLE holds {flat.size} values, expected {height}x{width}x4 = "
                         f"{height * width * 4} (region drawn on an image of another size?)")
    return flat.reshape(height, width, 4)[:, :, 3].copy()


def mask_to_region(alpha: np.ndarray, *, from_name: str, to_name: str, label: str,
                   threshold: float = 0.5) -> dict[str, Any]:
    """One Label Studio brush result (prediction or annotation) painting ``alpha`` >= threshold."""
    height, width = alpha.shape[:2]
    return {
        "from_name": from_name,
        "to_name": to_name,
        "type": "brushlabels",
        "value": {"format": "rle", "rle": mask_to_rle(alpha, threshold), "brushlabels": [label]},
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
    }


def regions_to_mask(results: Iterable[dict[str, Any]], height: int, width: int, *,
                    from_name: str, label: str) -> tuple[np.ndarray, int]:
    """Merge the ``label`` brush regions of one annotation into one mask.

    Returns (mask (H, W) uint8 0/255, the union of every region's pixels with alpha >=
    HARD_THRESHOLD; the number of regions merged). Results of other controls or labels are left
    out. A region whose recorded image size differs from (height, width) is BrushError.
    """
    merged = np.zeros((height, width), bool)
    count = 0
    for result in results:
        if result.get("type") != "brushlabels" or result.get("from_name") != from_name:
            continue
        value = result.get("value") or {}
        if label not in value.get("brushlabels", []):
            continue
        if value.get("format") != "rle" or "rle" not in value:
            raise BrushError(f"brush region {result.get('id', '?')}: format {value.get('format')!r}, "
                             "expected 'rle'")
        size = (result.get("original_height", height), result.get("original_width", width))
        if size != (height, width):
            raise BrushError(f"brush region {result.get('id', '?')}: drawn on a {size[1]}x{size[0]} "
                             f"image, expected {width}x{height}")
        merged |= rle_to_mask(value["rle"], height, width) >= HARD_THRESHOLD
        count += 1
    return merged.astype(np.uint8) * 255, count


def soften(correction: np.ndarray, ensemble: np.ndarray, band: int) -> tuple[np.ndarray, int]:
    """Put the soft ensemble alpha back into a hard correction where both agree near the edge.

    ``correction``: (H, W) uint8 0/255 (a person's brush mask); ``ensemble``: (H, W) uint8 0..255
    (the fused soft alpha); ``band``: half-width in pixels of the band around the correction's
    edge. Inside that band, pixels where the ensemble binarized at 0.5 equals the correction take
    the ensemble's soft value; everywhere else the correction stands. Returns (alpha (H, W) uint8,
    number of pixels that took the ensemble's value and are neither 0 nor 255).
    """
    if correction.shape != ensemble.shape:
        raise ValueError(f"correction {correction.shape} and ensemble {ensemble.shape} differ in size")
    hard = correction >= HARD_THRESHOLD
    agree = masks.binarize(ensemble) == hard
    keep = masks.edge_band(hard, band) & agree
    out = np.where(hard, 255, 0).astype(np.uint8)
    out[keep] = ensemble[keep]
    soft = int(np.count_nonzero(keep & (ensemble > 0) & (ensemble < 255)))
    return out, soft
