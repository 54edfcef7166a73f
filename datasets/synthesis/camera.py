"""Camera effects applied to the whole composite (never to its alpha): exposure, blur, sensor noise,
JPEG quality (the quality the frame is written at).

Noise is a window of a fixed Gaussian noise field twice the frame's size (drawn once per process
from a constant seed, so every process gives the same bytes), at an offset drawn per frame with a
random channel order and sign: drawing 640x360x3 fresh normals per frame cost ~15% of a composite.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthesis.checks import check_range, check_unit


@dataclass(frozen=True)
class CameraParams:
    """Ranges of the camera effects (each drawn uniformly)."""
    exposure_ev: tuple[float, float] = (-0.4, 0.4)  # exposure change in stops (gain 2^ev), within [-2, 2]
    blur_prob: float = 0.3  # probability of a Gaussian blur (defocus, cheap webcam optics), [0, 1]
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # blur sigma in pixels at the output size, within [0, 5]
    noise_prob: float = 0.7  # probability of sensor noise, [0, 1]
    noise_std: tuple[float, float] = (1.0, 6.0)  # Gaussian noise std in 0..255 units, within [0, 30]
    jpeg_quality: tuple[int, int] = (70, 95)  # JPEG quality the frame is written at, within [30, 100]

    def __post_init__(self):
        check_range("exposure_ev", self.exposure_ev, -2.0, 2.0)
        check_unit("blur_prob", self.blur_prob)
        check_range("blur_sigma", self.blur_sigma, 0.0, 5.0)
        check_unit("noise_prob", self.noise_prob)
        check_range("noise_std", self.noise_std, 0.0, 30.0)
        check_range("jpeg_quality", self.jpeg_quality, 30, 100)


@dataclass(frozen=True)
class Camera:
    """Drawn camera effects; ``noise_seed`` seeds the noise image."""
    exposure_ev: float
    blur_sigma: float  # 0: none
    noise_std: float  # 0: none
    jpeg_quality: int
    noise_seed: int


def draw_camera(rng: np.random.Generator, params: CameraParams) -> Camera:
    ev_u, blur_on, blur_u, noise_on, noise_u, q_u = rng.random(6)
    noise_seed = int(rng.integers(0, 2**31))
    lo, hi = params.exposure_ev
    blur = params.blur_sigma[0] + blur_u * (params.blur_sigma[1] - params.blur_sigma[0])
    noise = params.noise_std[0] + noise_u * (params.noise_std[1] - params.noise_std[0])
    qlo, qhi = params.jpeg_quality
    return Camera(exposure_ev=float(lo + ev_u * (hi - lo)),
                  blur_sigma=float(blur) if blur_on < params.blur_prob else 0.0,
                  noise_std=float(noise) if noise_on < params.noise_prob else 0.0,
                  jpeg_quality=int(qlo + min(int(q_u * (qhi - qlo + 1)), qhi - qlo)),
                  noise_seed=noise_seed)


@functools.lru_cache(maxsize=4)
def _noise_field(height: int, width: int) -> np.ndarray:
    """(2H, 2W, 3) float32 standard normal noise (constant seed)."""
    return np.random.default_rng(0x5EED).standard_normal((2 * height, 2 * width, 3), dtype=np.float32)


def noise(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """(H, W, 3) float32 standard normal noise for ``seed``: a window of the shared field."""
    h, w = shape[:2]
    field = _noise_field(h, w)
    rng = np.random.default_rng(seed)
    y, x = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
    order = rng.permutation(3)
    sign = np.float32(1.0 if rng.random() < 0.5 else -1.0)
    return field[y:y + h, x:x + w][..., order] * sign


def apply_camera(image: np.ndarray, camera: Camera) -> np.ndarray:
    """(H, W, 3) uint8 from ``image`` (float32 0..255): exposure gain, blur, additive noise, clipped."""
    out = image * np.float32(2.0 ** camera.exposure_ev) if camera.exposure_ev else image
    if camera.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), camera.blur_sigma)
    if camera.noise_std > 0:
        out = out + noise(out.shape, camera.noise_seed) * np.float32(camera.noise_std * 1.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
