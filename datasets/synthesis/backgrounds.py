"""Backgrounds: real photos from folders, or generated simple room-like scenes when none is given.

A folder gives every image under it, except a COCO folder (``annotations/instances_*.json`` beside its
images): that gives only the images no person annotation touches, crowds included, since a person in a
background would be learned as background. Several folders pool their images in the order given,
each folder's sorted by path.

Each composite takes a crop of a background (a share of the largest crop with the output's aspect
ratio, at a drawn position, maybe mirrored) resized to the output size.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from core import io
from datasets.synthesis.checks import check_between, check_range, check_unit

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class BackgroundParams:
    """Where backgrounds come from and how they are cropped."""
    generated: int = 24  # room-like backgrounds generated when no folder is given, 1..1000
    crop_scale: tuple[float, float] = (0.6, 1.0)  # crop size / largest crop of the output's aspect, within (0, 1]
    flip_prob: float = 0.5  # probability of mirroring the background, [0, 1]
    cache: int = 64  # decoded backgrounds kept in memory, 1..10000
    max_side_factor: float = 2.0  # decoded backgrounds are downscaled to this many times the output size, [1, 8]

    def __post_init__(self):
        check_between("generated", self.generated, 1, 1000)
        check_range("crop_scale", self.crop_scale, 1e-3, 1.0)
        check_unit("flip_prob", self.flip_prob)
        check_between("cache", self.cache, 1, 10000)
        check_between("max_side_factor", self.max_side_factor, 1.0, 8.0)


@dataclass(frozen=True)
class BackgroundCrop:
    """A drawn crop: background ``index``, size share ``scale``, position fractions (u, v), ``flip``."""
    index: int
    scale: float
    u: float
    v: float
    flip: bool


def draw_crop(rng: np.random.Generator, count: int, params: BackgroundParams) -> BackgroundCrop:
    index = int(rng.integers(0, count))
    s_u, u, v, f = rng.random(4)
    lo, hi = params.crop_scale
    return BackgroundCrop(index, float(lo + s_u * (hi - lo)), float(u), float(v), bool(f < params.flip_prob))


def crop(image: np.ndarray, c: BackgroundCrop, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 crop of ``image`` with the aspect of ``size`` (w, h), resized to it."""
    out_w, out_h = size
    h, w = image.shape[:2]
    aspect = out_w / out_h
    cw, ch = (w, w / aspect) if w / h <= aspect else (h * aspect, h)
    cw, ch = max(1, int(round(cw * c.scale))), max(1, int(round(ch * c.scale)))
    x0 = int(round(c.u * (w - cw)))
    y0 = int(round(c.v * (h - ch)))
    region = image[y0:y0 + ch, x0:x0 + cw]
    interp = cv2.INTER_AREA if cw > 2 * out_w else cv2.INTER_LINEAR  # area is slow at non-integer ratios
    out = cv2.resize(region, (out_w, out_h), interpolation=interp)
    return np.ascontiguousarray(out[:, ::-1]) if c.flip else out


class Backgrounds:
    """The background pool: the images of ``folders`` (see the module doc), or ``params.generated`` rooms
    from ``seed`` when there are none.

    ``names`` identify them in the composites table: the path within the folder, prefixed by the
    folder's name when there are several (``generated:<k>`` for generated ones); ``skipped`` lists
    unreadable files as dicts (background, reason, detail). Passing ``names`` (an earlier instance's)
    skips listing and checking the folders again (worker processes).
    """

    def __init__(self, folders: Path | str | Sequence[Path | str] | None, size: tuple[int, int], seed: int,
                 params: BackgroundParams, names: list[str] | None = None):
        if folders is None or isinstance(folders, (str, Path)):
            folders = [] if folders is None else [folders]
        self.folders = [Path(f) for f in folders]
        self.size = size
        self.seed = seed
        self.params = params
        self.skipped: list[dict[str, str]] = []
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._roots = self._prefixes()
        if names is not None:
            self.names = list(names)
            return
        if not self.folders:
            self.names = [f"generated:{k}" for k in range(params.generated)]
            return
        self.names = []
        for prefix, folder in self._roots.items():
            for path in _images(folder):
                name = prefix + path.relative_to(folder).as_posix()
                try:
                    io.read_image(path)
                except io.BadFile as e:
                    log.warning("background %s skipped: %s", name, e.detail)
                    self.skipped.append({"background": name, "reason": e.reason, "detail": e.detail})
                    continue
                self.names.append(name)
        if not self.names:
            raise ValueError(f"{', '.join(map(str, self.folders))}: no readable background images (expected "
                             f"{', '.join(IMAGE_SUFFIXES)} files; {len(self.skipped)} unreadable)")

    def _prefixes(self) -> dict[str, Path]:
        """name prefix -> folder: '' for a lone folder, '<folder name>/' for each of several."""
        for folder in self.folders:
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: backgrounds folder not found (pass an existing --backgrounds "
                                        "DIR, or leave it out for generated backgrounds)")
        if len(self.folders) == 1:
            return {"": self.folders[0]}
        roots = {f"{folder.name}/": folder for folder in self.folders}
        if len(roots) < len(self.folders):
            raise ValueError(f"backgrounds folders {[str(f) for f in self.folders]}: two share a name, so their "
                             "images could not be told apart in the composites table (pass differently named folders)")
        return roots

    def path(self, index: int) -> Path:
        name = self.names[index]
        if "" in self._roots:
            return self._roots[""] / name
        head, rest = name.split("/", 1)
        return self._roots[head + "/"] / rest

    def __len__(self) -> int:
        return len(self.names)

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 background ``index`` (decoded, downscaled, cached)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if not self.folders:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xB6, index]))
            w, h = self.size
            img = room(rng, int(round(w * 1.25)), int(round(h * 1.25)))
        else:
            img = io.read_image(self.path(index))
            limit = self.params.max_side_factor * max(self.size)
            f = limit / max(img.shape[:2])
            if f < 1:
                img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        self._cache[index] = img
        while len(self._cache) > self.params.cache:
            self._cache.popitem(last=False)
        return img

    def render(self, c: BackgroundCrop) -> np.ndarray:
        return crop(self.image(c.index), c, self.size)


def _images(folder: Path) -> list[Path]:
    """A folder's background images, sorted: the person-free ones of a COCO folder, else every image under it."""
    if any((folder / "annotations").glob("instances_*.json")):
        from datasets.readers import coco

        items = [item for item in coco.open_source(folder).items() if item.image is not None]
        root = folder.resolve()  # the reader's paths are resolved (and checked to stay inside the folder)
        free = sorted(folder / item.image.relative_to(root) for item in items if not item.data.annotations)
        log.info("backgrounds: %s is a COCO folder: %d of its %d images have no person annotation", folder,
                 len(free), len(items))
        return free
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _colour(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float],
            val: tuple[float, float]) -> np.ndarray:
    """An RGB colour (0..255 floats) from hue (degrees), saturation and value ranges (0..1)."""
    hsv = np.array([[[rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val)]]], np.float32)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] * 255.0


def room(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A simple room-like scene (h, w, 3) uint8: two walls, a floor, and some of a window, shelves with
    books, picture frames, a plant, a lamp and a desk edge; slightly defocused, with a little grain."""
    img = np.empty((h, w, 3), np.float32)
    wall = _colour(rng, (0, 360), (0.03, 0.3), (0.55, 0.92))
    corner = int(rng.uniform(0.15, 0.85) * w)
    floor_y = int(rng.uniform(0.68, 0.88) * h)
    shade = rng.uniform(0.75, 0.92)
    ramp = np.linspace(1.05, 0.9, h, dtype=np.float32)[:, None, None]
    img[:] = wall * ramp
    if rng.random() < 0.5:
        img[:, :corner] *= shade
    else:
        img[:, corner:] *= shade
    floor = _colour(rng, (15, 40), (0.2, 0.6), (0.25, 0.6)) if rng.random() < 0.6 else \
        _colour(rng, (0, 360), (0.0, 0.15), (0.3, 0.7))
    img[floor_y:] = floor
    for y in range(floor_y, h, max(2, int(rng.uniform(0.01, 0.03) * h))):  # floorboards / carpet lines
        img[y:y + 1] *= 0.85
    if rng.random() < 0.6:  # window with a sky gradient and mullions
        ww, wh = int(rng.uniform(0.15, 0.35) * w), int(rng.uniform(0.25, 0.45) * h)
        x0, y0 = int(rng.uniform(0, w - ww)), int(rng.uniform(0.05, 0.25) * h)
        sky = _colour(rng, (190, 215), (0.1, 0.45), (0.85, 1.0))
        img[y0:y0 + wh, x0:x0 + ww] = np.linspace(1.0, 0.8, wh, dtype=np.float32)[:, None, None] * sky
        frame = (235, 235, 230)
        cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + wh), frame, max(2, w // 150))
        cv2.line(img, (x0 + ww // 2, y0), (x0 + ww // 2, y0 + wh), frame, max(1, w // 250))
        cv2.line(img, (x0, y0 + wh // 2), (x0 + ww, y0 + wh // 2), frame, max(1, w // 250))
    if rng.random() < 0.55:  # shelves with books
        sw = int(rng.uniform(0.15, 0.3) * w)
        x0 = int(rng.uniform(0, w - sw))
        wood = _colour(rng, (15, 35), (0.3, 0.7), (0.25, 0.6))
        for k in range(int(rng.integers(2, 5))):
            y = int((0.2 + 0.15 * k) * h)
            if y >= floor_y:
                break
            x = x0
            while x < x0 + sw:
                bw = int(rng.uniform(0.006, 0.02) * w) + 1
                bh = int(rng.uniform(0.06, 0.11) * h)
                book = _colour(rng, (0, 360), (0.3, 0.8), (0.3, 0.85)).tolist()
                cv2.rectangle(img, (x, y - bh), (x + bw, y), book, -1)
                x += bw + 1
            cv2.rectangle(img, (x0 - 3, y), (x0 + sw + 3, y + max(2, h // 80)), wood.tolist(), -1)
    for _ in range(int(rng.integers(0, 3))):  # framed pictures
        pw, ph = int(rng.uniform(0.06, 0.15) * w), int(rng.uniform(0.08, 0.2) * h)
        x0, y0 = int(rng.uniform(0, w - pw)), int(rng.uniform(0.08, 0.4) * h)
        a, b = _colour(rng, (0, 360), (0.2, 0.7), (0.3, 0.9)), _colour(rng, (0, 360), (0.2, 0.7), (0.3, 0.9))
        img[y0:y0 + ph, x0:x0 + pw] = np.linspace(0, 1, pw, dtype=np.float32)[None, :, None] * (b - a) + a
        cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (40, 35, 30), max(2, w // 200))
    if rng.random() < 0.45:  # a plant: pot and leaves
        px, py = int(rng.uniform(0.05, 0.95) * w), floor_y
        pot = _colour(rng, (0, 40), (0.3, 0.7), (0.3, 0.7)).tolist()
        cv2.rectangle(img, (px - w // 40, py - h // 12), (px + w // 40, py), pot, -1)
        for _ in range(14):
            c = (px + int(rng.normal(0, w / 40)), py - h // 12 - int(abs(rng.normal(h / 12, h / 18))))
            leaf = _colour(rng, (85, 140), (0.4, 0.8), (0.25, 0.6)).tolist()
            cv2.ellipse(img, c, (w // 60 + 1, h // 25 + 1), float(rng.uniform(0, 180)), 0, 360, leaf, -1)
    if rng.random() < 0.35:  # a lamp with a soft glow
        lx, ly = int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.3, 0.5) * h)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        glow = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (0.12 * w) ** 2))[..., None]
        img += glow * np.array([60, 50, 30], np.float32)
        cv2.line(img, (lx, ly), (lx, floor_y), (50, 50, 50), max(1, w // 300))
        cv2.rectangle(img, (lx - w // 40, ly - h // 20), (lx + w // 40, ly), (245, 235, 210), -1)
    if rng.random() < 0.3:  # a desk edge across the bottom
        dy = int(rng.uniform(0.8, 0.95) * h)
        img[dy:] = _colour(rng, (15, 40), (0.2, 0.6), (0.2, 0.7))
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.6, 2.5)))
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
