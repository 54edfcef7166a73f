"""Compositing: I = alpha*F + (1 - alpha)*B, colour harmonisation of the person, optional light wrap.

Arrays: ``fg``, ``bg`` (H, W, 3) uint8 RGB or float32 0..255; ``alpha`` (H, W) uint8 0..255.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthesis.checks import check_between, check_range, check_unit


@dataclass(frozen=True)
class LookParams:
    """How the person is blended into the scene."""
    harmonise_prob: float = 0.8  # probability of colour harmonisation, [0, 1]
    harmonise_strength: tuple[float, float] = (0.1, 0.5)  # share of the colour-mean gap closed, within [0, 1]
    light_wrap_prob: float = 0.3  # probability of a light wrap, [0, 1]
    light_wrap_strength: tuple[float, float] = (0.2, 0.6)  # blend weight at the very edge, within [0, 1]
    light_wrap_radius: float = 0.01  # width of the wrap as a share of the frame diagonal, [0.001, 0.05]

    def __post_init__(self):
        check_unit("harmonise_prob", self.harmonise_prob)
        check_range("harmonise_strength", self.harmonise_strength, 0.0, 1.0)
        check_unit("light_wrap_prob", self.light_wrap_prob)
        check_range("light_wrap_strength", self.light_wrap_strength, 0.0, 1.0)
        check_between("light_wrap_radius", self.light_wrap_radius, 0.001, 0.05)


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 0..255: alpha*fg + (1 - alpha)*bg, exact where alpha is 0 or 255."""
    a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255)
    fg = fg.astype(np.float32)
    bg = bg.astype(np.float32)
    return bg + a * (fg - bg)


def _person_box(alpha: np.ndarray) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def harmonise(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray, strength: float) -> np.ndarray:
    """``fg`` (uint8) with the Lab mean colour of its opaque part (alpha >= 0.5) moved ``strength`` of
    the way to the background's mean (lightness by half as much: a person is not as bright as a window)."""
    box = _person_box(alpha)
    if box is None or strength <= 0:
        return fg
    sample = np.ascontiguousarray(bg[::8, ::8])  # a mean needs no filtering
    lab_bg = np.array(cv2.mean(cv2.cvtColor(sample, cv2.COLOR_RGB2LAB))[:3], np.float32)
    lab = cv2.cvtColor(fg[box], cv2.COLOR_RGB2LAB)
    opaque = (alpha[box] >= 128).astype(np.uint8)
    if not opaque.any():
        return fg
    mean = np.array(cv2.mean(lab, mask=opaque)[:3], np.float32)
    shift = strength * (lab_bg - mean) * np.array([0.5, 1.0, 1.0], np.float32)
    lab = lab.astype(np.float32) + shift
    out = fg.copy()
    out[box] = cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return out


def light_wrap(image: np.ndarray, bg: np.ndarray, alpha: np.ndarray, radius: int, strength: float) -> np.ndarray:
    """Background light spilling over the person's edge: ``image`` (float32) blended with a blurred
    background where the person is near its edge (weight ``strength`` at the edge, fading inward)."""
    if strength <= 0 or radius < 1:
        return image
    k = 2 * radius + 1
    a = alpha.astype(np.float32) * np.float32(1 / 255)
    outside = cv2.blur(1.0 - a, (k, k), borderType=cv2.BORDER_REPLICATE)
    weight = (strength * a * np.clip(2.0 * outside, 0.0, 1.0))[..., None]
    glow = cv2.blur(bg, (k, k)).astype(np.float32)
    return image + weight * (glow - image)
