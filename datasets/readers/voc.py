"""PascalVOC segmentation (VOC2012 layout): ``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/``.

``src`` may be the ``VOC2012`` folder itself, ``VOCdevkit/`` or the folder holding ``VOCdevkit/``.
``SegmentationClass/<name>.png`` is palette-indexed: person = 15; 255 (void, the band VOC draws
around every object) goes to the ignore mask; every other class is background. Splits come from
``ImageSets/Segmentation/{train,val}.txt`` (a name in neither is split by id).
``SegmentationObject/<name>.png``, where present, gives the person count (instances overlapping the
person class); without it the count is the number of connected person regions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from core.io import BadFile
from datasets.readers.common import (Item, Labels, UnusableInput, inside, outside_defect, read_label_png,
                                     relative, sorted_files)

log = logging.getLogger(__name__)

# The 21 VOC classes by palette index (255 is void).
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")
VOID = 255
DEFAULT_PERSON_CLASSES = ("person",)
SPLIT_FILES = ("train", "val")  # ImageSets/Segmentation/<split>.txt, in order of precedence
MIN_REGION_PIXELS = 16  # connected person regions smaller than this do not count as a person


@dataclass(frozen=True)
class VocItem:
    """The item's class mask, its object mask (may not exist) and the person class indices."""
    class_png: Path
    object_png: Path
    person_indices: tuple[int, ...]


class VocSource:
    def __init__(self, root: Path, person_indices: tuple[int, ...]):
        self.root = root
        self.person_indices = person_indices

    def items(self) -> Iterator[Item]:
        splits: dict[str, str] = {}
        for split in SPLIT_FILES:
            list_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
            if list_file.is_file():
                for line in list_file.read_text().split("\n"):
                    name = line.strip()
                    if name:
                        splits.setdefault(name, split)
        names = set(splits) | {p.stem for p in sorted_files(self.root / "SegmentationClass", (".png",))}
        if not splits:
            log.info("VOC %s: no ImageSets/Segmentation/{train,val}.txt; splitting by id", self.root)
        for name in sorted(names):
            origin = f"JPEGImages/{name}.jpg"
            image = inside(self.root, origin)
            class_png = inside(self.root, f"SegmentationClass/{name}.png")
            object_png = inside(self.root, f"SegmentationObject/{name}.png")
            if image is None or class_png is None or object_png is None:
                yield Item(origin=origin, split=splits.get(name), defect=outside_defect(name, self.root))
                continue
            yield Item(origin=relative(image, self.root), image=image, split=splits.get(name),
                       data=VocItem(class_png, object_png, self.person_indices))


def find_root(src: Path) -> Path:
    """The VOC2012 folder under ``src`` (itself, VOC2012/, VOCdevkit/VOC2012/); UnusableInput if none."""
    src = Path(src)
    if not src.is_dir():
        raise UnusableInput(f"{src}: no such folder (expected a PascalVOC folder: VOCdevkit/VOC2012 "
                            "with JPEGImages/ and SegmentationClass/)")
    for candidate in (src, src / "VOC2012", src / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir() and (candidate / "SegmentationClass").is_dir():
            return candidate
    raise UnusableInput(f"{src}: not a PascalVOC folder (expected JPEGImages/ and SegmentationClass/ in "
                        "it, in VOC2012/ or in VOCdevkit/VOC2012/)")


def open_source(src: Path, annotations: Path | None = None,
                person_classes: tuple[str, ...] = DEFAULT_PERSON_CLASSES) -> VocSource:
    if annotations is not None:
        raise UnusableInput("--annotations does not apply to PascalVOC (its masks are "
                            "SegmentationClass/*.png)")
    unknown = sorted(set(person_classes) - set(VOC_CLASSES))
    if unknown:
        raise UnusableInput(f"unknown VOC class(es) {unknown} in --person-classes; "
                            f"VOC's classes: {list(VOC_CLASSES)}")
    root = find_root(src)
    return VocSource(root, tuple(VOC_CLASSES.index(c) for c in person_classes))


def labels(item: Item) -> Labels | None:
    """Person pixels -> 255, void -> ignore, other classes -> background; None without a person."""
    voc: VocItem = item.data
    classes = _class_mask(voc.class_png)
    person = np.isin(classes, voc.person_indices)
    if not person.any():
        return None
    void = classes == VOID
    return Labels(alpha=person.astype(np.uint8) * np.uint8(255), persons=_count(voc, classes, person),
                  ignore=void.astype(np.uint8) * np.uint8(255) if void.any() else None)


def palette() -> list[int]:
    """PascalVOC's 256-colour palette (the bit-interleaved colour map), for writing class PNGs."""
    colours = []
    for index in range(256):
        r = g = b = 0
        c = index
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours += [r, g, b]
    return colours


def _class_mask(path: Path) -> np.ndarray:
    if not path.is_file():
        raise BadFile("missing_mask", f"{path}: SegmentationClass mask not found")
    try:
        with Image.open(path) as im:
            mode = im.mode
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_mask", f"{path}: not a readable PNG ({e})") from e
    if mode not in ("P", "L"):
        raise BadFile("bad_mask", f"{path}: expected a palette-indexed PNG (mode P), got mode {mode}")
    classes = read_label_png(path)
    values = np.unique(classes)
    bad = [int(v) for v in values if v >= len(VOC_CLASSES) and v != VOID]
    if bad:
        raise BadFile("bad_mask", f"{path}: class indices {bad[:10]} are not VOC classes "
                      f"(expected 0..{len(VOC_CLASSES) - 1} or {VOID})")
    return classes


def _count(voc: VocItem, classes: np.ndarray, person: np.ndarray) -> int:
    if voc.object_png.is_file():
        objects = read_label_png(voc.object_png)
        if objects.shape != classes.shape:
            raise BadFile("size_mismatch", f"{voc.object_png}: {objects.shape[1]}x{objects.shape[0]} "
                          f"differs from SegmentationClass {classes.shape[1]}x{classes.shape[0]}")
        ids = np.unique(objects[person])
        return max(1, int(np.count_nonzero((ids != 0) & (ids != VOID))))
    n, _, stats, _ = cv2.connectedComponentsWithStats(person.astype(np.uint8), connectivity=8)
    return max(1, int(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_REGION_PIXELS)))
