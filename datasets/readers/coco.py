"""COCO instance annotations: ``annotations/instances_<tag>.json`` + the image folder ``<tag>/``.

Person categories are found by name (never by assuming id 1). All non-crowd person instances of an
image merge into one mask (``persons`` = their count); crowd regions go to the ignore mask.
Segmentations may be polygons (several parts), uncompressed RLE (``counts`` a list) or compressed
RLE (``counts`` a string). RLE is validated before decoding (pycocotools writes past its buffer when
the counts overrun the image). Images without a person are counted, not stored; so are images whose
only persons are crowd regions (no individual person to learn from).

Splits: the tag's split word (``train2017`` -> train) when the source has files for at least two
splits; a lone file (COCO128's ``instances_train2017.json``) is split by id.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from core.io import BadFile
from datasets.readers.common import (Item, Labels, UnusableInput, check_declared_size, inside,
                                     outside_defect, relative, splits_by_name)

log = logging.getLogger(__name__)

DEFAULT_PERSON_CLASSES = ("person",)


@dataclass(frozen=True)
class CocoImage:
    """An image's declared size and its person annotations: (segmentation, iscrowd, annotation id)."""
    width: int
    height: int
    annotations: tuple[tuple[Any, bool, Any], ...]


@dataclass(frozen=True)
class Part:
    """One annotation file and its image folder."""
    annotations: Path
    image_dir: Path
    split: str | None


class CocoSource:
    def __init__(self, src: Path, parts: list[Part], person_classes: tuple[str, ...]):
        self.src = src
        self.parts = parts
        self.person_classes = person_classes

    def items(self) -> Iterator[Item]:
        seen_names: set[str] = set()  # across parts: two JSONs naming one file give one sample
        for part in self.parts:  # one JSON in memory at a time
            yield from self._part_items(part, seen_names)

    def _part_items(self, part: Part, seen_names: set[str]) -> Iterator[Item]:
        data = _load(part.annotations)
        person_ids = _person_ids(data, part.annotations, self.person_classes)
        by_image: dict[Any, list[tuple[Any, bool, Any]]] = {}
        for ann in data["annotations"]:
            if isinstance(ann, dict) and ann.get("category_id") in person_ids:
                entry = (ann.get("segmentation"), bool(ann.get("iscrowd", 0)), ann.get("id"))
                by_image.setdefault(_key(ann.get("image_id")), []).append(entry)
        json_origin = relative(part.annotations, self.src)
        prefix = relative(part.image_dir, self.src)
        seen_ids: set = set()
        for index, image in enumerate(data["images"]):
            problem = _image_problem(image)
            if problem:
                if isinstance(image, dict) and "id" in image:  # its annotations go with it
                    by_image.pop(_key(image["id"]), None)
                yield Item(origin=f"{json_origin}#images[{index}]", split=part.split,
                           defect=("bad_annotation", f"{json_origin}: images[{index}] {problem}"))
                continue
            name = image["file_name"]
            origin = f"{prefix}/{name}" if prefix != "." else name
            path = inside(self.src, origin)
            anns = tuple(by_image.pop(_key(image["id"]), ()))
            if path is None:
                yield Item(origin=origin, split=part.split, defect=outside_defect(name, self.src))
                continue
            origin = relative(path, self.src)
            if image["id"] in seen_ids or origin in seen_names:
                yield Item(origin=f"{json_origin}#images[{index}]", split=part.split,
                           defect=("duplicate_image", f"{json_origin}: images[{index}] repeats image id "
                                   f"{image['id']} or file {name!r}; the first entry is used"))
                continue
            seen_ids.add(image["id"])
            seen_names.add(origin)
            yield Item(origin=origin, image=path, split=part.split,
                       data=CocoImage(image["width"], image["height"], anns))
        for image_id, anns in sorted(by_image.items(), key=lambda kv: str(kv[0])):
            yield Item(origin=f"{json_origin}#image_id={image_id}", split=part.split,
                       defect=("unknown_image", f"{len(anns)} person annotation(s) refer to image id "
                               f"{image_id!r}, which {json_origin} does not list"))


def open_source(src: Path, annotations: Path | None = None,
                person_classes: tuple[str, ...] = DEFAULT_PERSON_CLASSES) -> CocoSource:
    """Find the annotation file(s) and image folder(s) of a COCO folder; UnusableInput if none."""
    src = Path(src)
    if not src.is_dir():
        raise UnusableInput(f"{src}: no such folder (expected a COCO folder with "
                            "annotations/instances_*.json and its image folder)")
    if annotations is not None:
        files = [Path(annotations)]
        if not files[0].is_file():
            raise UnusableInput(f"{files[0]}: annotations file not found (--annotations)")
    else:
        files = sorted((src / "annotations").glob("instances_*.json"))
        if not files:
            raise UnusableInput(f"{src}: no annotations file (expected annotations/instances_*.json; "
                                "pass --annotations)")
    tags = [f.stem.removeprefix("instances_") for f in files]
    splits = splits_by_name(tags)
    parts = []
    for file, tag in zip(files, tags):
        candidates = [src / tag, src / "images" / tag, src / "images", src]
        image_dir = next(c for c in candidates if c.is_dir())
        parts.append(Part(file, image_dir, splits[tag]))
        log.info("COCO %s: images in %s, split %s", file, image_dir, splits[tag] or "by id")
    return CocoSource(src, parts, tuple(person_classes))


def labels(item: Item) -> Labels | None:
    """Merge the item's person instances into one mask; crowd regions into the ignore mask."""
    image: CocoImage = item.data
    h, w = image.height, image.width
    check_declared_size(item.image, w, h, item.origin)
    persons, crowds = [], []
    for segmentation, iscrowd, ann_id in image.annotations:
        rle = segmentation_rle(segmentation, h, w, f"{item.origin}: annotation {ann_id}")
        (crowds if iscrowd else persons).append(rle)
    if not persons:
        return None
    alpha = _decode(persons)
    alpha *= 255
    ignore = _decode(crowds) * np.uint8(255) if crowds else None
    return Labels(alpha=alpha, persons=len(persons), ignore=ignore)


def decode_segmentation(segmentation: Any, h: int, w: int, where: str = "segmentation") -> np.ndarray:
    """A COCO segmentation (polygons, uncompressed or compressed RLE) -> (h, w) uint8 0/1."""
    return _decode([segmentation_rle(segmentation, h, w, where)])


def segmentation_rle(segmentation: Any, h: int, w: int, where: str) -> dict:
    """A validated COCO segmentation as one pycocotools RLE; BadFile (bad_annotation, bad_rle) if invalid."""
    if isinstance(segmentation, list):
        _check_polygons(segmentation, where)
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation, dict) and "counts" in segmentation:
        size = segmentation.get("size")
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
            raise BadFile("bad_rle", f"{where}: RLE size should be [height, width], got {size!r}")
        if tuple(size) != (h, w):
            raise BadFile("bad_rle", f"{where}: RLE size {size[1]}x{size[0]} differs from the "
                          f"image's declared {w}x{h}")
        counts = segmentation["counts"]
        if isinstance(counts, str):
            _check_total(rle_counts_from_string(counts, where), h, w, where)
            return {"counts": counts.encode(), "size": [h, w]}
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise BadFile("bad_rle", f"{where}: RLE counts should be non-negative integers")
            _check_total(counts, h, w, where)
            return mask_utils.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
        raise BadFile("bad_rle", f"{where}: RLE counts should be a list or a string, "
                      f"got {type(counts).__name__}")
    raise BadFile("bad_annotation", f"{where}: segmentation should be polygons or RLE, got "
                  f"{type(segmentation).__name__}")


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a (h, w) 0/1 mask: column-major runs, starting with background."""
    flat = np.asarray(mask).reshape(-1, order="F") > 0
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return ([0] if flat.size and flat[0] else []) + runs


def rle_counts_from_string(text: str, where: str = "RLE") -> list[int]:
    """Compressed COCO RLE string -> run lengths (a port of pycocotools' rleFrString, validated)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise BadFile("bad_rle", f"{where}: compressed RLE ends inside a number")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise BadFile("bad_rle", f"{where}: compressed RLE has an invalid character {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise BadFile("bad_rle", f"{where}: compressed RLE decodes to a negative run length")
        counts.append(x)
    return counts


def _check_total(counts: list[int], h: int, w: int, where: str) -> None:
    """pycocotools decodes without bounds checks: runs must cover the image exactly."""
    total = sum(counts)
    if total != h * w:
        raise BadFile("bad_rle", f"{where}: RLE counts cover {total} pixels, expected {h}x{w} = {h * w}")


def _decode(rles: list) -> np.ndarray:
    """The union of pycocotools RLEs (or segmentations already made RLE) -> (h, w) uint8 0/1."""
    merged = rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    decoded = mask_utils.decode(merged)  # Fortran order: its transpose is C-contiguous
    return cv2.transpose(decoded.T)  # to C order, ~10x faster than np.ascontiguousarray


def _check_polygons(polygons: list, where: str) -> None:
    if not polygons:
        raise BadFile("bad_annotation", f"{where}: segmentation has no polygons")
    for i, poly in enumerate(polygons):
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            n = len(poly) if isinstance(poly, list) else type(poly).__name__
            raise BadFile("bad_annotation", f"{where}: polygon {i} has {n} coordinates "
                          "(expected an even count >= 6)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in poly):
            raise BadFile("bad_annotation", f"{where}: polygon {i} has non-numeric or infinite coordinates")


def _image_problem(image: Any) -> str | None:
    if not isinstance(image, dict):
        return "is not an object"
    if not isinstance(image.get("file_name"), str) or not image["file_name"]:
        return "has no file_name"
    if "id" not in image:
        return "has no id"
    for key in ("width", "height"):
        value = image.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return f"has {key}={value!r} (expected a positive integer)"
    return None


def _key(image_id: Any) -> Any:
    """Image ids as dict keys (unhashable junk becomes its repr)."""
    try:
        hash(image_id)
    except TypeError:
        return repr(image_id)
    return image_id


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnusableInput(f"{path}: annotations file does not parse as JSON ({e})") from e
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ("images", "annotations", "categories")):
        raise UnusableInput(f"{path}: not a COCO instances file (expected an object with lists "
                            "'images', 'annotations', 'categories')")
    return data


def _person_ids(data: dict, path: Path, person_classes: tuple[str, ...]) -> set:
    wanted = {c.lower() for c in person_classes}
    ids = {c.get("id") for c in data["categories"]
           if isinstance(c, dict) and str(c.get("name", "")).lower() in wanted}
    if not ids:
        names = sorted(str(c.get("name")) for c in data["categories"] if isinstance(c, dict))
        raise UnusableInput(f"{path}: no category named {sorted(wanted)} (categories: {names[:20]}); "
                            "pass --person-classes")
    return ids

