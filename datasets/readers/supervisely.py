"""Supervisely projects: ``meta.json`` + ``<dataset>/ann/<image>.json`` + ``<dataset>/img/<image>``.

Person objects are found by class title (by default ``person``, ``person_poly`` and ``person_bmp``,
the Supervisely Person dataset's); other classes are ignored. Geometries:
- ``polygon``: ``points.exterior`` [[x, y], ...] filled, each of ``points.interior`` cut out as a hole;
- ``bitmap``: ``bitmap.data`` is base64 of zlib-compressed PNG bytes (the mask is the PNG's alpha
  channel, or its values when it has one channel), placed with its top-left at ``bitmap.origin`` [x, y].
A dataset folder named ``train``/``val``/``test`` gives its split when the project has two such;
otherwise items are split by id.
"""
from __future__ import annotations

import base64
import binascii
import io as bytes_io
import json
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
from PIL import Image

from core.io import MAX_IMAGE_PIXELS, BadFile
from datasets.readers.common import (Item, Labels, UnusableInput, check_declared_size, relative, sorted_files,
                                     splits_by_name)

log = logging.getLogger(__name__)

DEFAULT_PERSON_CLASSES = ("person", "person_poly", "person_bmp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class SlyItem:
    annotation: Path
    person_classes: tuple[str, ...]


class SuperviselySource:
    def __init__(self, src: Path, datasets: list[Path], person_classes: tuple[str, ...]):
        self.src = src
        self.datasets = datasets
        self.person_classes = person_classes

    def items(self) -> Iterator[Item]:
        splits = splits_by_name([d.name for d in self.datasets])
        for dataset in self.datasets:
            split = splits[dataset.name]
            annotated = set()
            for ann in sorted_files(dataset / "ann", (".json",)):
                image = dataset / "img" / ann.name[: -len(".json")]
                annotated.add(image.name)
                yield Item(origin=relative(image, self.src), image=image, split=split,
                           data=SlyItem(ann, self.person_classes))
            for image in sorted_files(dataset / "img", IMAGE_SUFFIXES):
                if image.name not in annotated:
                    yield Item(origin=relative(image, self.src), split=split,
                               defect=("missing_annotation", f"{image}: no annotation "
                                       f"{dataset.name}/ann/{image.name}.json"))


def open_source(src: Path, annotations: Path | None = None,
                person_classes: tuple[str, ...] = DEFAULT_PERSON_CLASSES) -> SuperviselySource:
    """Check meta.json and find the dataset folders; UnusableInput when the project is not usable."""
    src = Path(src)
    if not src.is_dir():
        raise UnusableInput(f"{src}: no such folder (expected a Supervisely project: meta.json and "
                            "<dataset>/ann/, <dataset>/img/)")
    meta_path = Path(annotations) if annotations is not None else src / "meta.json"
    if not meta_path.is_file():
        raise UnusableInput(f"{src}: no meta.json (expected a Supervisely project: meta.json and "
                            "<dataset>/ann/, <dataset>/img/; or pass --annotations META)")
    try:
        meta = json.loads(meta_path.read_bytes())
        titles = {c["title"] for c in meta["classes"]}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise UnusableInput(f"{meta_path}: not a Supervisely meta.json (expected an object with "
                            f"'classes': [{{'title': ...}}]): {e}") from e
    found = [c for c in person_classes if c in titles]
    if not found:
        raise UnusableInput(f"{meta_path}: no person class {list(person_classes)} among the classes "
                            f"{sorted(titles)}; pass --person-classes")
    datasets = sorted(d for d in src.iterdir() if d.is_dir() and (d / "ann").is_dir())
    if not datasets:
        raise UnusableInput(f"{src}: no dataset folders (expected <dataset>/ann/*.json beside meta.json)")
    return SuperviselySource(src, datasets, tuple(found))


def labels(item: Item) -> Labels | None:
    """Union of the person objects' masks at the annotation's declared size; None without any."""
    sly: SlyItem = item.data
    ann = _load(sly.annotation)
    h, w = ann["size"]["height"], ann["size"]["width"]
    check_declared_size(item.image, w, h, str(sly.annotation))
    alpha = np.zeros((h, w), np.uint8)
    persons = 0
    for index, obj in enumerate(ann["objects"]):
        if not isinstance(obj, dict) or obj.get("classTitle") not in sly.person_classes:
            continue
        where = f"{sly.annotation}: objects[{index}]"
        geometry = obj.get("geometryType")
        if geometry == "polygon":
            alpha |= polygon_mask(obj.get("points"), h, w, where)
        elif geometry == "bitmap":
            alpha |= bitmap_mask(obj.get("bitmap"), h, w, where)
        else:
            raise BadFile("bad_annotation", f"{where}: person geometry {geometry!r} is not supported "
                          "(expected 'polygon' or 'bitmap')")
        persons += 1
    if persons == 0:
        return None
    return Labels(alpha=alpha * np.uint8(255), persons=persons)


def polygon_mask(points: Any, h: int, w: int, where: str) -> np.ndarray:
    """(h, w) uint8 0/1: the exterior filled, the interiors cut out (cv2.fillPoly, pixel centres)."""
    if not isinstance(points, dict):
        raise BadFile("bad_annotation", f"{where}: polygon has no 'points'")
    exterior = _contour(points.get("exterior"), where, "exterior")
    interiors = points.get("interior") or []
    if not isinstance(interiors, list):
        raise BadFile("bad_annotation", f"{where}: polygon 'interior' should be a list of contours")
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [exterior], 1)
    holes = [_contour(c, where, f"interior[{i}]") for i, c in enumerate(interiors)]
    if holes:
        cv2.fillPoly(mask, holes, 0)
    return mask


def bitmap_mask(bitmap: Any, h: int, w: int, where: str) -> np.ndarray:
    """(h, w) uint8 0/1 from a Supervisely bitmap (base64 zlib PNG at ``origin``), clipped to the image."""
    if not isinstance(bitmap, dict):
        raise BadFile("bad_bitmap", f"{where}: bitmap object has no 'bitmap'")
    origin = bitmap.get("origin")
    if (not isinstance(origin, list) or len(origin) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in origin)):
        raise BadFile("bad_bitmap", f"{where}: bitmap origin should be [x, y] integers, got {origin!r}")
    part = decode_bitmap(bitmap.get("data"), where)
    x, y = origin
    mask = np.zeros((h, w), np.uint8)
    ph, pw = part.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 <= x0 or y1 <= y0:
        raise BadFile("bad_bitmap", f"{where}: bitmap {pw}x{ph} at ({x}, {y}) lies outside the "
                      f"{w}x{h} image")
    mask[y0:y1, x0:x1] = part[y0 - y:y1 - y, x0 - x:x1 - x]
    return mask


def decode_bitmap(data: Any, where: str = "bitmap") -> np.ndarray:
    """Supervisely bitmap data -> (h, w) uint8 0/1 (the PNG's alpha if it has one, else its values)."""
    if not isinstance(data, str):
        raise BadFile("bad_bitmap", f"{where}: bitmap data should be a base64 string")
    try:
        png = zlib.decompress(base64.b64decode(data, validate=True))
    except (binascii.Error, zlib.error, ValueError) as e:
        raise BadFile("bad_bitmap", f"{where}: bitmap data is not base64 of zlib data ({e})") from e
    try:
        with Image.open(bytes_io.BytesIO(png)) as im:
            bw, bh = im.size
    except Image.DecompressionBombError as e:
        raise BadFile("decompression_bomb", f"{where}: bitmap: {e}") from e
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_bitmap", f"{where}: bitmap is not a readable PNG ({e})") from e
    if bw * bh > MAX_IMAGE_PIXELS:
        raise BadFile("decompression_bomb", f"{where}: bitmap {bw}x{bh} exceeds {MAX_IMAGE_PIXELS} pixels")
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise BadFile("bad_bitmap", f"{where}: bitmap PNG does not decode")
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        return (decoded[:, :, 3] > 0).astype(np.uint8)
    if decoded.ndim == 2:
        return (decoded > 0).astype(np.uint8)
    raise BadFile("bad_bitmap", f"{where}: bitmap PNG has {decoded.shape[2]} channels "
                  "(expected a mask: 1 channel or RGBA)")


def encode_bitmap(mask: np.ndarray) -> str:
    """The inverse of decode_bitmap, as Supervisely writes it: base64 of zlib of a palette PNG whose
    index 0 is transparent. mask: (h, w), nonzero = object."""
    im = Image.fromarray((mask > 0).astype(np.uint8))  # mode L; the palette makes it P
    im.putpalette([0, 0, 0, 255, 255, 255])
    buf = bytes_io.BytesIO()
    im.save(buf, format="PNG", transparency=0, optimize=False)
    return base64.b64encode(zlib.compress(buf.getvalue())).decode()


def _contour(points: Any, where: str, name: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise BadFile("bad_annotation", f"{where}: polygon {name} is not a list of [x, y]") from e
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < 3 or not np.isfinite(array).all():
        raise BadFile("bad_annotation", f"{where}: polygon {name} should be at least 3 [x, y] points")
    return np.round(array).astype(np.int32)


def _load(path: Path) -> dict:
    try:
        ann = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadFile("bad_annotation", f"{path}: annotation does not parse as JSON ({e})") from e
    try:
        h, w = ann["size"]["height"], ann["size"]["width"]
        objects = ann["objects"]
    except (KeyError, TypeError) as e:
        raise BadFile("bad_annotation", f"{path}: annotation lacks size.height/size.width/objects") from e
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)) \
            or not isinstance(objects, list):
        raise BadFile("bad_annotation", f"{path}: size should be positive integers and objects a list")
    return ann

