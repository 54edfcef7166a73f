"""Throughput of `python -m datasets synthesize` at 640x360, and the share of time in the TPS warp.

    .venv/bin/python benchmarks/synthesize.py [--coco ../shared/data/coco128] [--backgrounds ../shared/data/backgrounds]
        [--count 200] [--workers 1 2]

Builds a temporary sample store from the COCO persons (instance polygons merged per image), then
prints, measured in the same run:
- the warp alone: albumentations ``A.ThinPlateSpline`` evaluated per pixel (the baseline) vs this
  project's coarse-grid spline + one remap, on a 640x360 RGBA frame;
- the whole stage (decontamination, warp, compositing, camera effects, priors, JPEG/PNG writes)
  in composites/s for each worker count, with the warp's share of the busy time, and composites per
  CPU-second (independent of other load on a shared machine: an idle core's rate).
The target is >= 20 composites/s on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.

from core import io  # noqa: E402
from datasets.store import Sample, sample_id, split_for, write_tables  # noqa: E402
from datasets.synthesis import warp  # noqa: E402
from datasets.synthesis.params import SynthesisParams  # noqa: E402
from datasets.synthesize import run  # noqa: E402


def coco_store(coco: Path, root: Path) -> int:
    """A sample store of the COCO images with persons (polygons rasterised); returns its size."""
    data = json.loads((coco / "annotations" / "instances_train2017.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    polys: dict[int, list] = {}
    for ann in data["annotations"]:
        if ann["category_id"] == 1 and not ann.get("iscrowd") and isinstance(ann["segmentation"], list):
            polys.setdefault(ann["image_id"], []).extend(ann["segmentation"])
    samples = []
    for image_id, segs in sorted(polys.items()):
        im = images[image_id]
        alpha = np.zeros((im["height"], im["width"]), np.uint8)
        for seg in segs:
            cv2.fillPoly(alpha, [np.round(np.array(seg).reshape(-1, 2)).astype(np.int32)], 255)
        sid = sample_id("coco128", im["file_name"])
        io.link_or_copy(coco / "train2017" / im["file_name"], root / "images" / f"{sid}.jpg")
        io.write_png(root / "alpha" / f"{sid}.png", alpha)
        samples.append(Sample(sid, "coco128", split_for(sid, {"train": 0.8, "val": 0.1, "test": 0.1}),
                              f"images/{sid}.jpg", f"alpha/{sid}.png", None, im["width"], im["height"],
                              len(segs), "mask", im["file_name"]))
    write_tables(root, samples, [])
    return len(samples)


def warp_baseline(repeats: int = 10) -> tuple[float, float]:
    """Seconds per 640x360 RGBA warp: albumentations per pixel, and the coarse grid + remap."""
    import albumentations as A

    rgba = np.random.default_rng(0).integers(0, 255, (360, 640, 4), dtype=np.uint8)
    tps_a = A.ThinPlateSpline(scale_range=(0.02, 0.04), num_control_points=4, p=1.0,
                              mask_interpolation=cv2.INTER_LINEAR)
    tps_a.set_random_seed(0)
    tps_a(image=rgba[..., :3], mask=rgba[..., 3])  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        tps_a(image=rgba[..., :3], mask=rgba[..., 3])
    albu = (time.perf_counter() - t) / repeats
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(repeats):
        tps = warp.draw_tps(rng, (0.02, 0.04), 4)
        d = warp.displacement(tps, (640, 360), 8)
        mx, my = warp.source_maps(np.eye(3), (640, 360), d, (640, 360), ())
        warp.remap(rgba, mx, my)
    ours = (time.perf_counter() - t) / repeats
    return albu, ours


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coco", type=Path, default=REPO.parent / "shared" / "data" / "coco128")
    parser.add_argument("--backgrounds", type=Path, default=REPO.parent / "shared" / "data" / "backgrounds")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import os
    print(f"cpus: {os.cpu_count()}  load average: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    albu, ours = warp_baseline()
    print(f"warp 640x360 RGBA: albumentations ThinPlateSpline per pixel {albu * 1e3:.1f} ms, "
          f"coarse grid + remap {ours * 1e3:.1f} ms ({albu / ours:.0f}x faster)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        n = coco_store(args.coco, store)
        print(f"store: {n} COCO128 images with persons")
        for workers in args.workers:
            params = SynthesisParams(workers=workers, count=args.count, seed=0, clip_count=0)
            out = Path(tmp) / f"out{workers}"
            t, cpu = time.perf_counter(), _cpu_seconds()
            m = run(params, store, out, backgrounds=args.backgrounds)
            wall, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
            shares = ", ".join(f"{k} {v:.0%}" for k, v in m["time_share"].items())
            print(f"workers={workers} ({m['workers']} used): {args.count} composites in {m['render_s']:.1f}s render "
                  f"({wall:.1f}s with scan) -> {m['frames_per_s']:.1f} composites/s; {cpu:.1f} CPU-s "
                  f"({args.count / cpu:.1f} composites per CPU-second, what one idle core gives); "
                  f"warp share {m['warp_share']:.1%} ({shares})")


if __name__ == "__main__":
    main()
