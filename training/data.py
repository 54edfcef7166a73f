"""Training data: curated store samples and synthesized composites, with the augmentations the data
stage does not already do (crop/zoom/rotate/flip to the model's 16:9 input, colour, blur, noise).

Readers:
- ``store_items(store, split)``: rows of a sample store (``datasets.store.Store``) of that split;
  ``ignore`` masks become zero loss weight; ``teacher`` (optional, a folder ``<id>.png``, e.g.
  ``LABELS/ensemble``) gives soft alphas for distillation.
- ``composite_items(root, split)``: ``composites.parquet`` rows of that split with
  ``images/<cid>.jpg``, ``alpha/<cid>.png`` and ``prior/<cid>.png``.

``MattingDataset`` yields dicts of tensors: ``image`` (3, H, W) float in [0, 1], ``alpha`` (1, H, W),
``weight`` (1, H, W) in {0, 1}, ``prior`` (1, H, W) (zeros for 3-channel models), ``teacher``
(1, H, W) and ``teacher_weight`` (1, 1, 1). Random parameters are drawn in one place
(``draw_augment``) from a generator seeded by (seed, epoch, index), so runs and resumes repeat.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, Dataset, Sampler

from core import io
from datasets.store import Store

log = logging.getLogger(__name__)
PREFETCH_SCALE = 2.0  # cached images keep 2x the output resolution over the whole-image box


@dataclass(frozen=True)
class Item:
    """One training pair; paths are absolute."""
    key: str  # sample id or composite id
    kind: str  # 'store' | 'composite'
    image: Path
    alpha: Path
    ignore: Path | None = None
    prior: Path | None = None
    teacher: Path | None = None
    source: str = ""  # the sample store's source name (a store item's)


def store_items(root: Path | str, split: str, teacher: Path | str | None = None) -> list[Item]:
    """Items of ``split`` in the sample store at ``root``."""
    store = Store(root)
    rows = store.samples[store.samples["split"] == split]
    items = []
    for row in rows.itertuples(index=False):
        ignore = None if row.ignore is None or pd.isna(row.ignore) else store.path(row.ignore)
        t = Path(teacher) / f"{row.id}.png" if teacher else None
        items.append(Item(row.id, "store", store.path(row.image), store.path(row.alpha), ignore,
                          teacher=t if t is not None and t.is_file() else None, source=row.source))
    return items


def composite_items(root: Path | str, split: str) -> list[Item]:
    """Items of ``split`` in a composites folder written by ``python -m datasets synthesize``."""
    root = Path(root)
    table = root / "composites.parquet"
    if not table.is_file():
        raise FileNotFoundError(f"{root}: no composites.parquet (run `python -m datasets synthesize` first, "
                                "or leave out --composites)")
    df = pd.read_parquet(table)
    missing = {"cid", "split"} - set(df.columns)
    if missing:
        raise ValueError(f"{table}: missing column(s) {sorted(missing)} (expected cid, sample_id, split, ...)")
    items = []
    for cid in df.loc[df["split"] == split, "cid"]:
        prior = root / "prior" / f"{cid}.png"
        items.append(Item(str(cid), "composite", root / "images" / f"{cid}.jpg", root / "alpha" / f"{cid}.png",
                          prior=prior if prior.is_file() else None))
    return items


@dataclass(frozen=True)
class AugmentParams:
    """Random augmentation ranges (params.yaml `train.augment`); recommended ranges in comments."""
    zoom: tuple[float, float] = (0.55, 1.1)  # crop box / whole-image box; 0.5-1.2 (smaller = closer)
    shift: float = 0.15  # max box-centre shift as a fraction of the box; 0-0.25
    rotate: float = 8.0  # max rotation in degrees; 0-15
    aspect: float = 0.1  # max relative aspect-ratio jitter of the box; 0-0.2
    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.25  # max relative brightness change; 0-0.4
    contrast: float = 0.25  # max relative contrast change; 0-0.4
    saturation: float = 0.3  # max relative saturation change; 0-0.5
    hue: float = 6.0  # max hue shift in degrees; 0-15
    blur: float = 0.2  # probability of a Gaussian blur (sigma 0.5-1.5)
    noise: float = 0.3  # probability of Gaussian noise (sigma up to 6/255)
    jpeg: float = 0.0  # probability of a JPEG round trip (quality 40-90, webcam compression); 0-0.5
    prior_empty: float = 0.3  # probability of an all-zero prior (4-channel models: no previous frame)
    prior_shift: float = 0.04  # max shift of a synthesized prior, fraction of the frame; 0-0.08
    person_crop: float = 0.0  # probability of a webcam framing of the labelled person instead (head in the
    # upper part, cut at chest-to-hips, 16:9; PortraitNet's portrait crops from full-body photos); 0.3-0.7
    person_width: tuple[float, float] = (1.2, 2.6)  # that box's width / the person's box width; 1-4
    person_top: tuple[float, float] = (0.03, 0.3)  # free space above the head, fraction of the box height; 0-0.5
    portrait: float = 0.0  # share of batches drawn upright (the input's width and height swapped: phone
    # framing, and tall photos, which run upright at the same pixel count); 0-0.5


@dataclass(frozen=True)
class Draw:
    """Every random parameter of one sample, drawn together."""
    zoom: float
    shift: tuple[float, float]
    angle: float
    aspect: float
    flip: bool
    brightness: float
    contrast: float
    saturation: float
    hue: float
    blur_sigma: float  # 0 = none
    noise_sigma: float  # 0 = none
    prior_empty: bool
    prior_shift: tuple[float, float]
    prior_scale: float
    prior_morph: int  # >0 dilate, <0 erode (pixels)
    jpeg_quality: int = 0  # 0 = none
    person: bool = False  # webcam framing around the person's box (when the alpha has one)
    person_width: float = 1.0  # box width / person box width
    person_top: float = 0.0  # free space above the head / box height


def draw_augment(rng: np.random.Generator, p: AugmentParams) -> Draw:
    def sym(x: float) -> float:
        return float(rng.uniform(-x, x)) if x else 0.0

    return Draw(zoom=float(rng.uniform(*p.zoom)), shift=(sym(p.shift), sym(p.shift)), angle=sym(p.rotate),
                aspect=sym(p.aspect), flip=bool(rng.random() < p.flip), brightness=sym(p.brightness),
                contrast=sym(p.contrast), saturation=sym(p.saturation), hue=sym(p.hue),
                blur_sigma=float(rng.uniform(0.5, 1.5)) if rng.random() < p.blur else 0.0,
                noise_sigma=float(rng.uniform(1.0, 6.0)) if rng.random() < p.noise else 0.0,
                prior_empty=bool(rng.random() < p.prior_empty),
                prior_shift=(sym(p.prior_shift), sym(p.prior_shift)), prior_scale=1.0 + sym(0.04),
                prior_morph=int(rng.integers(-3, 4)),
                jpeg_quality=int(rng.integers(40, 91)) if rng.random() < p.jpeg else 0, person=bool(rng.random() < p.person_crop),
                person_width=float(rng.uniform(*p.person_width)), person_top=float(rng.uniform(*p.person_top)))


IDENTITY = Draw(1.0, (0.0, 0.0), 0.0, 0.0, False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True, (0.0, 0.0), 1.0, 0)


def person_box(alpha: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of the alpha >= 0.5 pixels of a uint8 alpha, or None when there are none."""
    ys, xs = np.nonzero(alpha >= 128)
    if not len(xs):
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def crop_matrix(height: int, width: int, out_w: int, out_h: int, d: Draw,
                person: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """2x3 affine from the source image to the (out_h, out_w) output for draw ``d``.

    The box has the output's aspect ratio (jittered), fits the whole image at zoom 1 (padding the
    short side with replicated borders), is scaled by ``zoom``, shifted, rotated and flipped. With
    ``d.person`` and a ``person`` box (x0, y0, x1, y1) it is a webcam framing instead: ``person_width``
    times the person's width (at most the whole-image box), the head ``person_top`` of the box height
    below its top edge, so a full-body photo is cut at chest-to-hips height like a webcam frame.
    """
    aspect = out_w / out_h * (1.0 + d.aspect)
    box_w, box_h = (width, width / aspect) if width / height >= aspect else (height * aspect, height)
    if d.person and person is not None:
        x0, y0, x1, y1 = person
        box_w = min(box_w, (x1 - x0) * d.person_width)
        box_h = box_w / aspect
        cx = (x0 + x1) / 2 + d.shift[0] * box_w * 0.5
        cy = y0 - d.person_top * box_h + box_h / 2
    else:
        box_w, box_h = box_w * d.zoom, box_h * d.zoom
        cx = width / 2 + d.shift[0] * box_w
        cy = height / 2 + d.shift[1] * box_h
    sx, sy = out_w / box_w, out_h / box_h
    a = np.deg2rad(d.angle)
    cos, sin = np.cos(a), np.sin(a)
    # output = S R (p - c) + o, with an optional flip of the output x axis
    m = np.array([[sx * cos, sx * sin], [-sy * sin, sy * cos]])
    if d.flip:
        m[0] *= -1
    offset = np.array([out_w / 2, out_h / 2]) - m @ np.array([cx, cy])
    return np.hstack([m, offset[:, None]]).astype(np.float64)


def warp(array: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    return cv2.warpAffine(array, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def photometric(rgb: np.ndarray, d: Draw, rng: np.random.Generator) -> np.ndarray:
    """Colour, blur and noise on a float32 (H, W, 3) image in [0, 1]."""
    if d.hue or d.saturation:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # float: H in degrees, S and V in [0, 1]
        hsv[..., 0] = (hsv[..., 0] + d.hue) % 360.0
        hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + d.saturation), 0.0, 1.0)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if d.contrast or d.brightness:
        mean = float(rgb.mean())
        rgb = (rgb - mean) * (1.0 + d.contrast) + mean * (1.0 + d.brightness)
    if d.blur_sigma:
        rgb = cv2.GaussianBlur(rgb, (0, 0), d.blur_sigma)
    if d.noise_sigma:
        rgb = rgb + rng.normal(0.0, d.noise_sigma / 255.0, rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    if d.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", (rgb * 255.0 + 0.5).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, d.jpeg_quality])
        rgb = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    return rgb


def synth_prior(alpha: np.ndarray, d: Draw) -> np.ndarray:
    """A previous-frame alpha made from this frame's (float (H, W)): shifted, scaled, dilated or eroded."""
    if d.prior_empty:
        return np.zeros_like(alpha)
    h, w = alpha.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, d.prior_scale)
    m[:, 2] += (d.prior_shift[0] * w, d.prior_shift[1] * h)
    prior = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if d.prior_morph:
        kernel = np.ones((2 * abs(d.prior_morph) + 1,) * 2, np.uint8)
        prior = cv2.dilate(prior, kernel) if d.prior_morph > 0 else cv2.erode(prior, kernel)
    return prior


class MattingDataset(Dataset):
    """Items -> fixed-size (out_h, out_w) training tensors; ``augment=None`` gives the plain whole-image view."""

    def __init__(self, items: list[Item], out_w: int, out_h: int, augment: AugmentParams | None = None,
                 seed: int = 0, with_prior: bool = False, cache: bool = True):
        if not items:
            raise ValueError("no training items (the store/composites have no rows of this split)")
        self.items, self.out_w, self.out_h = items, out_w, out_h
        self.augment, self.seed, self.with_prior, self.cache = augment, seed, with_prior, cache
        self.epoch = 0
        self._cache: dict[int, dict[str, np.ndarray | None]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, index: int) -> dict[str, np.ndarray | None]:
        if index in self._cache:
            return self._cache[index]
        item = self.items[index]
        image = io.read_image(item.image)
        alpha = io.read_mask(item.alpha)
        h, w = image.shape[:2]
        if alpha.shape != (h, w):
            raise ValueError(f"{item.alpha}: alpha is {alpha.shape[1]}x{alpha.shape[0]} but its image "
                             f"{item.image} is {w}x{h} (fix the store: masks must match their images)")
        arrays = {"image": image, "alpha": alpha,
                  "ignore": io.read_mask(item.ignore) if item.ignore else None,
                  "prior": io.read_mask(item.prior) if item.prior and self.with_prior else None,
                  "teacher": io.read_mask(item.teacher) if item.teacher else None}
        # keep PREFETCH_SCALE x the output resolution over the whole-image box: decoding is the slow part
        scale = PREFETCH_SCALE * self.out_w / max(w, h * self.out_w / self.out_h)  # x 2 over the box
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            arrays = {k: None if v is None else cv2.resize(v, size, interpolation=cv2.INTER_AREA)
                      for k, v in arrays.items()}
        arrays["box"] = person_box(arrays["alpha"])
        if self.cache:
            self._cache[index] = arrays
        return arrays

    def __getitem__(self, index: int | tuple[int, bool]) -> dict[str, torch.Tensor]:
        index, upright = index if isinstance(index, tuple) else (index, False)  # from OrientedBatches
        arrays = self._load(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        d = draw_augment(rng, self.augment) if self.augment else IDENTITY
        h, w = arrays["image"].shape[:2]
        ow, oh = (self.out_h, self.out_w) if upright else (self.out_w, self.out_h)
        m = crop_matrix(h, w, ow, oh, d, arrays["box"])
        image = warp(arrays["image"], m, ow, oh).astype(np.float32) / 255.0
        if self.augment:
            image = photometric(image, d, rng)
        alpha = warp(arrays["alpha"], m, ow, oh).astype(np.float32) / 255.0
        weight = np.ones_like(alpha) if arrays["ignore"] is None else \
            (warp(arrays["ignore"], m, ow, oh) < 128).astype(np.float32)
        if not self.with_prior or (self.augment and d.prior_empty):
            prior = np.zeros_like(alpha)
        elif arrays["prior"] is not None:
            prior = warp(arrays["prior"], m, ow, oh).astype(np.float32) / 255.0
        else:
            prior = synth_prior(alpha, d) if self.augment else np.zeros_like(alpha)
        teacher = arrays["teacher"]
        teacher = np.zeros_like(alpha) if teacher is None else warp(teacher, m, ow, oh).astype(np.float32) / 255.0
        return {"image": torch.from_numpy(image.transpose(2, 0, 1).copy()),
                "alpha": torch.from_numpy(alpha)[None], "weight": torch.from_numpy(weight)[None],
                "prior": torch.from_numpy(prior)[None], "teacher": torch.from_numpy(teacher)[None],
                "teacher_weight": torch.full((1, 1, 1), float(arrays["teacher"] is not None))}


class OrientedBatches(Sampler):
    """Batches of ``(index, upright)`` from ``sampler``: a ``share`` of the batches (drawn from (seed,
    epoch, batch number)) is upright, the model input's width and height swapped, every item of a
    batch alike so it stacks. ``MattingDataset`` takes these keys as well as plain indices."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool, share: float, seed: int = 0):
        self.batches, self.share, self.seed, self.epoch = BatchSampler(sampler, batch_size, drop_last), share, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        for batch in self.batches:
            upright = bool(rng.random() < self.share)
            yield [(i, upright) for i in batch]
