"""`python -m datasets sample --out DIR`: a small, deterministic sample in the four source formats.

```
DIR/coco/         annotations/instances_train2017.json + train2017/*.jpg
DIR/voc/          VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationObject,ImageSets/Segmentation}
DIR/supervisely/  meta.json + ds1/{img,ann}
DIR/aisegment/    clip_img/<group>/clip_<n>/*.jpg + matting/<group>/matting_<n>/*.png
DIR/defects.json  what was planted: per format, origin -> defect (quarantine reason or wrong label)
```
About 45 items, built only from what installed packages ship: scikit-image's real photos (the
astronaut and the cameraman, cut out with GrabCut from hand-placed seeds) composited with scale,
shift and flip over generated rooms and scikit-image textures, so the images hold a real person.
Deliberate defects: a truncated image, a decompression bomb, a path outside the root, bad RLE, a
mask of the wrong size, a missing mask, a bad bitmap, an annotation that does not parse, unpaired
AISegment files; and wrong labels (a shifted person mask, a person labelled by its box) for the
label-quality stages to catch. Every byte is the same on every run (seeded; deterministic encoders).
"""
from __future__ import annotations

import argparse
import base64
import functools
import io as bytes_io
import json
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

from core import io
from core.cli import stage_main
from datasets.readers import coco, supervisely, voc

log = logging.getLogger(__name__)

PERSON_VOC = voc.VOC_CLASSES.index("person")


@dataclass(frozen=True)
class SampleParams:
    """The ``sample`` section of params.yaml."""
    seed: int = 0  # every random choice of the sample draws from this seed


# ---------------------------------------------------------------- people and backgrounds

def _grabcut(bgr: np.ndarray, region: list, background: list, sure: list) -> np.ndarray:
    """(H, W) uint8 0/255 person mask from hand-placed seeds: ``region`` polygon (probable person),
    ``background`` and ``sure`` shapes (('poly', pts) | ('rect', x0, y0, x1, y1) | ('ellipse', cx, cy, rx, ry))."""
    mask = np.full(bgr.shape[:2], cv2.GC_BGD, np.uint8)
    cv2.fillPoly(mask, [np.array(region, np.int32)], cv2.GC_PR_FGD)
    seeds = np.zeros_like(mask)
    for target, shapes in ((mask, background), (seeds, sure)):
        value = cv2.GC_BGD if target is mask else 1
        for kind, *a in shapes:
            if kind == "poly":
                cv2.fillPoly(target, [np.array(a[0], np.int32)], value)
            elif kind == "rect":
                cv2.rectangle(target, (a[0], a[1]), (a[2], a[3]), value, -1)
            else:
                cv2.ellipse(target, (a[0], a[1]), (a[2], a[3]), 0, 0, 360, value, -1)
    mask[seeds > 0] = cv2.GC_FGD
    cv2.setRNGSeed(0)
    cv2.grabCut(bgr, mask, None, np.zeros((1, 65)), np.zeros((1, 65)), 8, cv2.GC_INIT_WITH_MASK)
    person = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    person = cv2.morphologyEx(person, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(person)
    keep = [i for i in range(1, n) if (seeds[labels == i] > 0).any()]
    person = np.isin(labels, keep)
    holes = ~person  # fill small enclosed holes
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8))
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if x > 0 and y > 0 and x + w < person.shape[1] and y + h < person.shape[0] and area < 3000:
            person[labels == i] = True
    return person.astype(np.uint8) * 255


@functools.lru_cache(maxsize=None)
def cutouts() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (RGB (H, W, 3), mask (H, W) 0/255), cropped to the person's box (cut by the bottom edge)."""
    astronaut = skimage.data.astronaut()
    astro_mask = _grabcut(
        astronaut[:, :, ::-1].copy(),
        region=[[150, 10], [305, 10], [315, 120], [360, 290], [372, 420], [300, 420], [280, 512],
                [15, 512], [20, 300], [60, 250], [110, 230], [145, 150]],
        background=[("ellipse", 395, 440, 112, 112)],  # the helmet she holds
        sure=[("ellipse", 225, 110, 50, 70), ("ellipse", 210, 215, 85, 60), ("rect", 80, 300, 260, 500),
              ("rect", 190, 160, 250, 200)])
    gray = skimage.data.camera()
    camera = np.dstack([gray, gray, gray])
    camera_mask = _grabcut(
        camera.copy(),
        region=[[150, 55], [275, 60], [275, 140], [335, 165], [335, 220], [300, 300], [250, 310],
                [160, 512], [0, 512], [0, 240], [100, 150]],
        background=[("rect", 252, 135, 326, 188),  # the camera
                    ("poly", [[255, 300], [330, 300], [410, 512], [225, 512]])],  # the tripod
        sure=[("ellipse", 212, 145, 28, 40), ("rect", 20, 220, 130, 500), ("rect", 130, 200, 230, 250)])
    out = {}
    for name, rgb, mask in (("astronaut", astronaut, astro_mask), ("cameraman", camera, camera_mask)):
        ys, xs = np.nonzero(mask)
        box = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        out[name] = (np.ascontiguousarray(rgb[box]), np.ascontiguousarray(mask[box]))
    return out


def room(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A generated room: a shaded wall, a floor, a window and a picture frame. (h, w, 3) uint8."""
    wall = rng.uniform(120, 230, 3)
    shade = np.linspace(1.05, 0.8, w)[None, :, None] * np.linspace(1.0, 0.9, h)[:, None, None]
    image = np.clip(wall * shade, 0, 255)
    floor = int(h * rng.uniform(0.65, 0.8))
    image[floor:] = rng.uniform(60, 140, 3) * np.linspace(0.8, 1.0, h - floor)[:, None, None]
    x0, y0 = int(w * rng.uniform(0.05, 0.55)), int(h * rng.uniform(0.08, 0.2))
    ww, wh = int(w * rng.uniform(0.25, 0.4)), int(h * rng.uniform(0.3, 0.45))
    sky = np.linspace([150, 190, 240], [220, 235, 250], wh)[:, None, :]
    image[y0:y0 + wh, x0:x0 + ww] = sky
    cv2.rectangle(image, (x0, y0), (x0 + ww, y0 + wh), (235, 235, 230), 4)
    px = int(w * rng.uniform(0.6, 0.85))
    cv2.rectangle(image, (px, y0 + 10), (px + w // 8, y0 + 10 + h // 7), tuple(rng.uniform(20, 200, 3)), -1)
    image = image + rng.normal(0, 3, image.shape)
    return cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)


TEXTURES = ("rocket", "coffee", "brick", "gravel", "grass")


def texture(name: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A crop of one of scikit-image's photos, resized to (h, w, 3)."""
    photo = getattr(skimage.data, name)()
    if photo.ndim == 2:
        photo = np.dstack([photo] * 3)
    ph, pw = photo.shape[:2]
    scale = max(w / pw, h / ph) * rng.uniform(1.0, 1.3)
    photo = cv2.resize(photo, (int(np.ceil(pw * scale)), int(np.ceil(ph * scale))), interpolation=cv2.INTER_AREA)
    y, x = rng.integers(0, photo.shape[0] - h + 1), rng.integers(0, photo.shape[1] - w + 1)
    return np.ascontiguousarray(photo[y:y + h, x:x + w])


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    if rng.random() < 0.6:
        return room(rng, w, h)
    return texture(TEXTURES[rng.integers(len(TEXTURES))], rng, w, h)


def compose(rng: np.random.Generator, w: int, h: int, n_people: int = 1,
            sizes: tuple[float, float] = (0.7, 0.95)) -> tuple[np.ndarray, list[np.ndarray]]:
    """A background with ``n_people`` cut-outs standing on the bottom edge, later ones in front.

    Returns the image (h, w, 3) uint8 and each person's visible soft alpha (h, w) float32 in [0, 1].
    """
    image = background(rng, w, h).astype(np.float32)
    alphas: list[np.ndarray] = []
    people = cutouts()
    for i in range(n_people):
        rgb, mask = people[("astronaut", "cameraman")[int(rng.random() < 0.35)]]
        scale = h * rng.uniform(*sizes) / mask.shape[0]
        pw, ph = max(1, int(mask.shape[1] * scale)), max(1, int(mask.shape[0] * scale))
        rgb = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA)
        soft = cv2.GaussianBlur(cv2.resize(mask, (pw, ph), interpolation=cv2.INTER_AREA), (5, 5), 1.0)
        if rng.random() < 0.5:
            rgb, soft = rgb[:, ::-1], soft[:, ::-1]
        centre = w * (rng.uniform(0.3, 0.7) if n_people == 1 else (i + 0.5) / n_people + rng.uniform(-0.05, 0.05))
        x0, y0 = int(centre - pw / 2), h - ph
        canvas = np.zeros((h, w), np.float32)
        fg = np.zeros((h, w, 3), np.float32)
        xs, xe = max(x0, 0), min(x0 + pw, w)
        canvas[y0:, xs:xe] = soft[:, xs - x0:xe - x0] / 255.0
        fg[y0:, xs:xe] = rgb[:, xs - x0:xe - x0]
        image = image * (1 - canvas[..., None]) + fg * canvas[..., None]
        alphas = [a * (1 - canvas) for a in alphas] + [canvas]
    noise = rng.normal(0, 2, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), alphas


def hard(alpha: np.ndarray) -> np.ndarray:
    """(H, W) uint8 0/1 from a soft alpha."""
    return (alpha >= 0.5).astype(np.uint8)


def shifted(mask: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """``mask`` moved by (dx, dy), zero-filled (a wrong label for later stages to catch)."""
    return cv2.warpAffine(mask, np.float32([[1, 0, dx], [0, 1, dy]]), mask.shape[::-1], flags=cv2.INTER_NEAREST)


def box_of(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box, filled (a person labelled by its box)."""
    out = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = 1
    return out


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


# ---------------------------------------------------------------- the four formats

def write_coco(root: Path, rng: np.random.Generator) -> dict[str, str]:
    """COCO: 16 images; person is category 5 (not 1). Returns origin -> planted defect."""
    from pycocotools import mask as mask_utils  # noqa: PLC0415  (only the sample writer needs it)
    w, h = 400, 300
    images, annotations, defects = [], [], {}
    categories = [{"id": 1, "name": "tv", "supercategory": "electronic"},
                  {"id": 5, "name": "person", "supercategory": "person"}]

    def add(kind: str, seg, iscrowd: int = 0, cat: int = 5) -> None:
        annotations.append({"id": len(annotations) + 1, "image_id": len(images), "category_id": cat,
                            "segmentation": seg, "iscrowd": iscrowd, "area": 0, "bbox": [0, 0, 0, 0]})

    def polygons(mask: np.ndarray) -> list:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3 and cv2.contourArea(c) > 4]

    plan = ["one", "one", "two", "pole", "one", "two", "rle+crowd", "compressed", "shifted", "box",
            "empty", "tv", "truncated", "outside", "bad_rle", "bomb"]
    for i, kind in enumerate(plan):
        name = f"{i + 1:012d}.jpg" if kind not in ("outside", "bomb") else (
            "../../outside.jpg" if kind == "outside" else f"{i + 1:012d}.png")
        image, alphas = compose(rng, w, h, n_people=2 if kind == "two" else (0 if kind in ("empty", "tv") else 1))
        if kind == "pole":  # a door frame in front of the person: a two-part polygon
            x = int(np.nonzero(hard(alphas[0]).any(0))[0].mean())
            image[:, x - 6:x + 6] = (120, 85, 60)
            alphas[0][:, x - 6:x + 6] = 0
        if kind == "tv":
            image[50:121, 50:151] = (35, 35, 40)
        images.append({"id": len(images) + 1, "file_name": name, "width": w, "height": h})
        data = jpeg_bytes(image)
        if kind == "truncated":
            data = data[: len(data) * 3 // 5]
        elif kind == "bomb":
            data = bomb_png()
        if kind != "outside":
            io.write_bytes(root / "train2017" / name, data)
        for alpha in alphas:
            mask = hard(alpha)
            if kind == "shifted":
                mask = shifted(mask, 40)
            elif kind == "box":
                mask = box_of(mask)
            if kind == "rle+crowd":
                add(kind, {"counts": coco.rle_counts(mask), "size": [h, w]})
            elif kind == "compressed":
                rle = mask_utils.encode(np.asfortranarray(mask))
                add(kind, {"counts": rle["counts"].decode(), "size": [h, w]})
            elif kind == "bad_rle":
                add(kind, {"counts": [5, 7, 11], "size": [h, w]})
            else:
                add(kind, polygons(mask))
        if kind == "rle+crowd":  # a crowd far away, top-left: goes to the ignore mask
            crowd = np.zeros((h, w), np.uint8)
            crowd[20:60, 10:120] = 1
            rle = mask_utils.encode(np.asfortranarray(crowd))
            add("crowd", {"counts": rle["counts"].decode(), "size": [h, w]}, iscrowd=1)
        if kind == "tv":  # a screen on the wall, annotated as tv (category 1)
            add("tv", [[50.0, 50.0, 150.0, 50.0, 150.0, 120.0, 50.0, 120.0]], cat=1)
        reason = {"truncated": "bad_image", "outside": "path_outside_root", "bad_rle": "bad_rle",
                  "bomb": "decompression_bomb", "shifted": "wrong_label:shifted", "box": "wrong_label:box",
                  "empty": "no_person", "tv": "no_person"}.get(kind)
        if reason:
            defects[f"train2017/{name}"] = reason
    document = {"info": {"description": "portrait-matting embedded sample"}, "licenses": [],
                "images": images, "annotations": annotations, "categories": categories}
    io.write_bytes(root / "annotations" / "instances_train2017.json", json.dumps(document).encode())
    return defects


def _indexed_png(path: Path, indices: np.ndarray) -> None:
    im = Image.fromarray(indices.astype(np.uint8))  # mode L; a palette makes it P, indices kept
    im.putpalette(voc.palette())
    buf = bytes_io.BytesIO()
    im.save(buf, format="PNG")
    io.write_bytes(path, buf.getvalue())


def write_voc(root: Path, rng: np.random.Generator) -> dict[str, str]:
    """PascalVOC: 10 names in ImageSets/Segmentation; void band 255 around every object."""
    w, h = 384, 288
    devkit = root / "VOCdevkit" / "VOC2012"
    plan = ["one", "two", "tv", "one", "chair", "one", "shifted", "sofa", "size_mismatch", "missing_mask"]
    splits: dict[str, list[str]] = {"train": [], "val": []}
    defects = {}
    for i, kind in enumerate(plan):
        name = f"2026_{i + 1:06d}"
        splits["train" if i % 3 else "val"].append(name)
        image, alphas = compose(rng, w, h, n_people=0 if kind == "sofa" else (2 if kind == "two" else 1))
        classes = np.zeros((h, w), np.uint8)
        objects = np.zeros((h, w), np.uint8)
        shapes = []
        if kind in ("tv", "chair", "sofa"):  # another VOC class, in front of the wall
            cls = voc.VOC_CLASSES.index({"tv": "tvmonitor", "chair": "chair", "sofa": "sofa"}[kind])
            other = np.zeros((h, w), np.uint8)
            x0 = 20 if kind != "sofa" else 100
            other[int(h * 0.45):int(h * 0.8), x0:x0 + 90] = 1
            image[other > 0] = (40, 40, 45) if kind == "tv" else (150, 60, 50)
            shapes.append((cls, other))
        for alpha in alphas:
            mask = hard(alpha)
            shapes.append((PERSON_VOC, shifted(mask, 30) if kind == "shifted" else mask))
        for k, (cls, mask) in enumerate(shapes, start=1):
            classes[mask > 0] = cls
            objects[mask > 0] = k
        for _, mask in shapes:
            band = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - cv2.erode(mask, np.ones((5, 5), np.uint8))
            classes[band > 0] = 255
            objects[band > 0] = 255
        io.write_bytes(devkit / "JPEGImages" / f"{name}.jpg", jpeg_bytes(image))
        if kind == "size_mismatch":
            classes = cv2.resize(classes, (320, 240), interpolation=cv2.INTER_NEAREST)
            objects = cv2.resize(objects, (320, 240), interpolation=cv2.INTER_NEAREST)
        if kind != "missing_mask":
            _indexed_png(devkit / "SegmentationClass" / f"{name}.png", classes)
            _indexed_png(devkit / "SegmentationObject" / f"{name}.png", objects)
        reason = {"shifted": "wrong_label:shifted", "sofa": "no_person", "size_mismatch": "size_mismatch",
                  "missing_mask": "missing_mask"}.get(kind)
        if reason:
            defects[f"JPEGImages/{name}.jpg"] = reason
    for split, names in splits.items():
        io.write_text(devkit / "ImageSets" / "Segmentation" / f"{split}.txt", "\n".join(names) + "\n")
    return defects


def write_supervisely(root: Path, rng: np.random.Generator) -> dict[str, str]:
    """Supervisely: meta.json + ds1 with polygons (with holes), bitmaps and another class."""
    w, h = 352, 264
    classes = [{"title": "person_poly", "shape": "polygon", "color": "#FF0000"},
               {"title": "person_bmp", "shape": "bitmap", "color": "#00FF00"},
               {"title": "laptop", "shape": "polygon", "color": "#0000FF"}]
    io.write_json(root / "meta.json", {"classes": classes, "tags": [], "projectType": "images"})
    plan = ["poly", "hole", "poly2", "poly", "bitmap", "bitmap", "box", "laptop", "bad_bitmap", "bad_json"]
    defects = {}
    for i, kind in enumerate(plan):
        name = f"sly_{i + 1:03d}.jpg"
        image, alphas = compose(rng, w, h, n_people=0 if kind == "laptop" else (2 if kind == "poly2" else 1))
        objects = []
        if kind in ("hole", "laptop"):  # a laptop held in front of the torso: a hole in the person
            ys, xs = np.nonzero(hard(alphas[0])) if alphas else (np.array([h // 2]), np.array([w // 2]))
            cx, cy = int(xs.mean()), int(ys.mean()) + h // 10
            x0, y0, x1, y1 = cx - 30, cy - 18, cx + 30, cy + 18
            image[y0:y1, x0:x1] = (60, 60, 70)
            for alpha in alphas:
                alpha[y0:y1, x0:x1] = 0
            objects.append({"classTitle": "laptop", "geometryType": "polygon",
                            "points": {"exterior": [[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]],
                                       "interior": []}})
        for alpha in alphas:
            mask = box_of(hard(alpha)) if kind == "box" else hard(alpha)
            if kind in ("bitmap", "bad_bitmap"):
                ys, xs = np.nonzero(mask)
                x0, y0 = int(xs.min()), int(ys.min())
                data = supervisely.encode_bitmap(mask[y0:ys.max() + 1, x0:xs.max() + 1])
                if kind == "bad_bitmap":
                    data = base64.b64encode(b"not zlib data").decode()
                objects.append({"classTitle": "person_bmp", "geometryType": "bitmap",
                                "bitmap": {"data": data, "origin": [x0, y0]}})
                continue
            contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            outer = max((k for k in range(len(contours)) if hierarchy[0][k][3] < 0),
                        key=lambda k: cv2.contourArea(contours[k]))
            holes = [contours[k].reshape(-1, 2).tolist() for k in range(len(contours))
                     if hierarchy[0][k][3] == outer and len(contours[k]) >= 3]
            objects.append({"classTitle": "person_poly", "geometryType": "polygon",
                            "points": {"exterior": contours[outer].reshape(-1, 2).tolist(), "interior": holes}})
        io.write_bytes(root / "ds1" / "img" / name, jpeg_bytes(image))
        ann = {"description": "", "tags": [], "size": {"height": h, "width": w}, "objects": objects}
        text = json.dumps(ann)
        io.write_text(root / "ds1" / "ann" / f"{name}.json", text[: len(text) // 2] if kind == "bad_json" else text)
        reason = {"box": "wrong_label:box", "laptop": "no_person", "bad_bitmap": "bad_bitmap",
                  "bad_json": "bad_annotation"}.get(kind)
        if reason:
            defects[f"ds1/img/{name}"] = reason
    return defects


def write_aisegment(root: Path, rng: np.random.Generator) -> dict[str, str]:
    """AISegment: portrait photos and RGBA mattes (soft edges) in two groups; one of each unpaired."""
    w, h = 240, 320
    defects = {}
    for i in range(9):
        group = "1803150001" if i < 5 else "1803150002"
        stem = f"{group}-{i + 1:08d}"
        clip = f"clip_img/{group}/clip_00000000/{stem}.jpg"
        matte_path = root / "matting" / group / "matting_00000000" / f"{stem}.png"
        image, alphas = compose(rng, w, h, sizes=(0.85, 1.0))
        alpha = cv2.GaussianBlur(alphas[0], (7, 7), 1.5)  # a matte's soft edge
        if i == 3:
            alpha = shifted(alpha, 25, 10)
            defects[clip] = "wrong_label:shifted"
        matte = np.dstack([image[:, :, ::-1], np.round(alpha * 255).astype(np.uint8)])  # BGRA
        if i != 6:
            io.write_bytes(root / clip, jpeg_bytes(image))
        else:
            defects[matte_path.relative_to(root).as_posix()] = "unpaired_matte"
        if i != 7:
            io.write_bytes(matte_path, cv2.imencode(".png", matte)[1].tobytes())
        else:
            defects[clip] = "unpaired_image"
    return defects


WRITERS = {"coco": write_coco, "voc": write_voc, "supervisely": write_supervisely, "aisegment": write_aisegment}


def run(params: SampleParams, out: Path) -> dict:
    """Write the sample under ``out``; return {format: number of planted defects and wrong labels}."""
    out = Path(out)
    defects = {}
    for offset, (fmt, writer) in enumerate(WRITERS.items()):
        rng = np.random.default_rng([params.seed, offset])
        defects[fmt] = writer(out / fmt, rng)
        log.info("sample %s: %d planted defects / wrong labels", fmt, len(defects[fmt]))
    io.write_json(out / "defects.json", defects)
    return {fmt: len(d) for fmt, d in defects.items()}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="folder to write the four formats into")


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m datasets sample", __doc__, "sample", SampleParams, _add_args,
                      lambda params, args: run(params, args.out), argv,
                      metrics_help="write the planted-defect counts here (JSON)")
