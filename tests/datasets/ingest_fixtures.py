"""Tiny real files of the four source formats, written into tmp_path by the ingest tests.

Plain functions (imported by test_coco/test_voc/test_supervisely/test_aisegment/test_ingest) so the
tests read as "write this source, ingest it, check the store".
"""
from __future__ import annotations

import io as bytes_io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from core import io
from datasets.ingest import IngestParams, run
from datasets.readers.supervisely import encode_bitmap
from datasets.readers.voc import palette
from datasets.store import sample_id

# Tests use tiny images: every person pixel counts.
PARAMS = IngestParams(min_person_pixels=1, max_bad_fraction=1.0)


def rgb(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A seeded random (h, w, 3) uint8 image."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_jpeg(path: Path, w: int, h: int, seed: int = 0) -> Path:
    io.write_jpeg(path, rgb(w, h, seed))
    return path


def write_truncated_jpeg(path: Path, w: int = 32, h: int = 24) -> Path:
    write_jpeg(path, w, h)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    from datasets.sample import bomb_png as make
    return make(width, height)


def png(array: np.ndarray, palette: list[int] | None = None) -> bytes:
    """PNG bytes of a uint8 array: (h, w) L (P with ``palette``), (h, w, 3) RGB, (h, w, 4) RGBA."""
    im = Image.fromarray(array)
    if palette is not None:
        im.putpalette(palette)
    buf = bytes_io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def ingest(fmt: str, src: Path, out: Path, params: IngestParams = PARAMS, workers: int = 1,
           name: str = "t", **kwargs) -> dict:
    return run(params, fmt, src, out, name=name, workers=workers, **kwargs)


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "samples.parquet"), pd.read_parquet(out / "quarantine.parquet")


def reasons(out: Path) -> dict[str, str]:
    """origin -> reason of the quarantine table."""
    q = pd.read_parquet(out / "quarantine.parquet")
    return dict(zip(q.origin, q.reason))


def row(out: Path, origin: str, name: str = "t") -> pd.Series:
    samples = pd.read_parquet(out / "samples.parquet")
    match = samples[samples.id == sample_id(name, origin)]
    assert len(match) == 1, f"no sample for {origin}: {samples.origin.tolist()}"
    return match.iloc[0]


def mask_of(out: Path, rel: str) -> np.ndarray:
    return io.read_mask(out / rel)


def accounting_holds(figures: dict) -> bool:
    return figures["offered"] == figures["samples"] + figures["quarantined"] + figures["no_person"]


# ---------------------------------------------------------------- COCO

def coco_source(root: Path, images: list[dict], annotations: list[dict], person_id: int = 7,
                tag: str = "train2017", write_images: bool = True) -> Path:
    """annotations/instances_<tag>.json + <tag>/ images (each image entry may carry 'seed')."""
    categories = [{"id": 1, "name": "dog"}, {"id": person_id, "name": "person"}]
    for image in images:
        if (write_images and isinstance(image.get("file_name"), str) and ".." not in image["file_name"]
                and "width" in image and "height" in image):
            write_jpeg(root / tag / image["file_name"], image["width"], image["height"], image.get("id", 0))
    for i, ann in enumerate(annotations):
        ann.setdefault("id", i + 1)
        ann.setdefault("category_id", person_id)
        ann.setdefault("iscrowd", 0)
    io.write_json(root / "annotations" / f"instances_{tag}.json",
                  {"images": images, "annotations": annotations, "categories": categories})
    return root


def square(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    """A COCO polygon covering pixels x0..x1-1, y0..y1-1 (pycocotools' pixel-corner convention)."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


# ---------------------------------------------------------------- PascalVOC

def voc_source(root: Path, items: dict[str, dict], train: list[str] = (), val: list[str] = ()) -> Path:
    """VOCdevkit/VOC2012 under root. items: name -> {'classes': (h, w) uint8, 'objects': ..., 'image': (w, h)}."""
    voc = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    for name, spec in items.items():
        h, w = spec["classes"].shape if "classes" in spec else spec["image"][::-1]
        iw, ih = spec.get("image", (w, h))
        write_jpeg(voc / "JPEGImages" / f"{name}.jpg", iw, ih)
        if "classes" in spec:
            io.write_bytes(voc / "SegmentationClass" / f"{name}.png",
                           png(spec["classes"], palette()))
        if "objects" in spec:
            io.write_bytes(voc / "SegmentationObject" / f"{name}.png",
                           png(spec["objects"], palette()))
    if train or val:
        io.write_text(voc / "ImageSets" / "Segmentation" / "train.txt", "".join(f"{n}\n" for n in train))
        io.write_text(voc / "ImageSets" / "Segmentation" / "val.txt", "".join(f"{n}\n" for n in val))
    return voc


# ---------------------------------------------------------------- Supervisely

def sly_source(root: Path, anns: dict[str, dict | str], classes: tuple[str, ...] = ("person_poly", "person_bmp", "car"),
               dataset: str = "ds1", image_size: dict[str, tuple[int, int]] | None = None) -> Path:
    """meta.json + <dataset>/{img,ann}. anns: image name -> annotation dict (or raw text)."""
    io.write_json(root / "meta.json", {"classes": [{"title": c, "shape": "any"} for c in classes], "tags": []})
    for name, ann in anns.items():
        if isinstance(ann, dict):
            w, h = (image_size or {}).get(name, (ann["size"]["width"], ann["size"]["height"]))
            text = json.dumps(ann)
        else:
            w, h = (image_size or {}).get(name, (8, 6))
            text = ann
        write_jpeg(root / dataset / "img" / name, w, h)
        io.write_text(root / dataset / "ann" / f"{name}.json", text)
    return root


def sly_ann(w: int, h: int, *objects: dict) -> dict:
    return {"size": {"width": w, "height": h}, "objects": list(objects), "tags": []}


def sly_polygon(exterior, interior=(), title: str = "person_poly") -> dict:
    return {"classTitle": title, "geometryType": "polygon",
            "points": {"exterior": [list(p) for p in exterior], "interior": [[list(p) for p in c] for c in interior]}}


def sly_bitmap_object(mask: np.ndarray, origin: tuple[int, int], title: str = "person_bmp",
                      data: str | None = None) -> dict:
    return {"classTitle": title, "geometryType": "bitmap",
            "bitmap": {"data": data if data is not None else encode_bitmap(mask), "origin": list(origin)}}


# ---------------------------------------------------------------- AISegment

def ais_pair(root: Path, group: str, n: int, stem: str, alpha: np.ndarray | None, image: bool = True,
             mode: str = "RGBA") -> tuple[str, Path]:
    """clip_img/<group>/clip_<n>/<stem>.jpg and matting/<group>/matting_<n>/<stem>.png (alpha None: no matte)."""
    clip = f"clip_img/{group}/clip_{n:08d}/{stem}.jpg"
    matte = root / "matting" / group / f"matting_{n:08d}" / f"{stem}.png"
    if alpha is not None:
        h, w = alpha.shape
        if image:
            write_jpeg(root / clip, w, h)
        if mode == "RGBA":
            io.write_bytes(matte, png(np.dstack([rgb(w, h, 1), alpha])))
        elif mode == "RGB":
            io.write_bytes(matte, png(rgb(w, h, 1)))
        else:
            io.write_bytes(matte, png(alpha))
    elif image:
        write_jpeg(root / clip, 8, 6)
    return clip, matte
