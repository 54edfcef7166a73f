"""Guided zoom: run a member again on crops around where the guide says the people are.

Portrait models see a 256x256 (or smaller) version of the whole image, so a person covering 1% of
a COCO photo is a few pixels to them and is missed. With a guide (the sample's label or, for a
sample without one, the ensemble's own fusion of the members' full-view alphas), each of its
largest groups of parts gets a square crop (the group's box plus ``margin`` on every side), the
member segments the crop at its own resolution, and the crop's alpha is pasted back by maximum.
The guide only says where to look: what the member finds in the crop is its own, so a shifted,
boxed or blobbed label is still judged by what is really in the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from labeling.members.base import Member, resize_alpha


@dataclass(frozen=True)
class ZoomParams:
    enabled: bool = True  # also run every member on crops around the ground truth's people
    margin: float = 0.5  # context added on each side of a group's box, as a fraction of its larger side
    max_crops: int = 4  # crops per image (the largest groups)
    min_zoom: float = 1.5  # skip a crop that would magnify less than this (the full view is as good)
    group_ratio: float = 0.02  # parts closer than this fraction of the diagonal share a crop
    guide_threshold: float = 0.25  # no label: crops go where the ensemble's full-view alpha reaches this
    # (where to look leans to recall: a small person the full views half see fuses to ~0.3-0.5)


GRID = 256  # groups are found on a grid of at most this many cells along the longer side (cells of s x s pixels)


def crop_windows(guide: np.ndarray, params: ZoomParams) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) crops (exclusive ends) for the guide's largest groups of parts (alpha >= 0.5, or a
    bool mask's True).

    Parts and groups are found on a grid of s x s-pixel cells (a cell is set when any of its pixels
    is), so a box is at most s - 1 pixels larger than the parts' own: far below the crop's margin.
    """
    if not params.enabled:
        return []
    mask = (guide if guide.dtype == bool else guide >= (128 if guide.dtype == np.uint8 else 0.5)).view(np.uint8)
    h, w = mask.shape
    s = max(1, -(-max(h, w) // GRID))
    rows, cols = -(-h // s), -(-w // s)
    if s > 1:  # any pixel of a cell set -> the cell (the mean of 255s over the cell is > 0)
        padded = cv2.copyMakeBorder(mask * np.uint8(255), 0, rows * s - h, 0, cols * s - w, cv2.BORDER_CONSTANT)
        mask = (cv2.resize(padded, (cols, rows), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    k = max(1, int(round(params.group_ratio * np.hypot(h, w) / s)))
    grouped = cv2.dilate(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:params.max_crops]
    windows = []
    for i in order:
        gx, gy, gw, gh = stats[i, :4]  # the group's own cells (not the dilation), found within its box
        ys, xs = np.nonzero((labels[gy:gy + gh, gx:gx + gw] == i) & (mask[gy:gy + gh, gx:gx + gw] > 0))
        x, y = (gx + xs.min()) * s, (gy + ys.min()) * s
        bw, bh = min(w, (gx + xs.max() + 1) * s) - x, min(h, (gy + ys.max() + 1) * s) - y
        half = max(bw, bh) * (1 + 2 * params.margin) / 2
        cx, cy = x + bw / 2, y + bh / 2
        x0, x1 = int(max(0, cx - half)), int(min(w, np.ceil(cx + half)))
        y0, y1 = int(max(0, cy - half)), int(min(h, np.ceil(cy + half)))
        if (x1 - x0) * (y1 - y0) * params.min_zoom ** 2 > h * w or x1 - x0 < 8 or y1 - y0 < 8:
            continue
        windows.append((x0, y0, x1, y1))
    return windows


def predict_zoomed(member: Member, rgb: np.ndarray, windows: list[tuple[int, int, int, int]],
                   hint: np.ndarray | None = None) -> np.ndarray:
    """The member's alpha on the full image, raised by its alpha on each crop: (H, W) float32."""
    return add_crops(member, rgb, member.predict(rgb, hint), windows, hint)


def add_crops(member: Member, rgb: np.ndarray, alpha: np.ndarray, windows: list[tuple[int, int, int, int]],
              hint: np.ndarray | None = None) -> np.ndarray:
    """Raise ``alpha`` (the member's full-view alpha, (H, W) float32, in place) by its alpha on each crop."""
    for x0, y0, x1, y1 in windows:
        crop_hint = None if hint is None else hint[y0:y1, x0:x1]
        part = member.predict(np.ascontiguousarray(rgb[y0:y1, x0:x1]), crop_hint)
        part = resize_alpha(part, y1 - y0, x1 - x0)
        np.maximum(alpha[y0:y1, x0:x1], part, out=alpha[y0:y1, x0:x1])
    return alpha
