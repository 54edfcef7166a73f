"""A contact sheet PNG of composites for a person to look at: one row per composite, image | alpha | prior."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core import io


def _thumb(array: np.ndarray, width: int) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    h, w = array.shape[:2]
    height = max(1, round(h * width / w))
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> None:
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)


def contact_sheet(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]], width: int = 320) -> np.ndarray:
    """(H, W, 3) uint8 sheet: per row (image (h, w, 3), alpha (h, w), prior (h, w), caption), 3 tiles of ``width``."""
    if not rows:
        raise ValueError("contact_sheet: no composites to show")
    lines = []
    for image, alpha, prior, caption in rows:
        tiles = [_thumb(image, width), _thumb(alpha, width), _thumb(prior, width)]
        _label(tiles[0], caption)
        _label(tiles[1], "alpha")
        _label(tiles[2], "prior")
        line = np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=128) for t in tiles], axis=1)
        lines.append(line)
    return np.concatenate(lines, axis=0)


def write_contact_sheet(path: Path | str, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
                        width: int = 320) -> None:
    io.write_png(path, contact_sheet(rows, width))
