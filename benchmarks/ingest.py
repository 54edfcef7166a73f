"""Throughput and memory of `python -m datasets ingest` on COCO-like input, next to its floor.

    .venv/bin/python benchmarks/ingest.py [--count 2000] [--workers N] [--repeat 3] [--keep DIR]

Generates ``--count`` 640x480 JPEGs (a shaded room, a few boxes, 1-3 elliptical "persons" given
as 32-point polygons; ~10% without a person, ~15% with another category too) and an
``instances_bench.json`` in a temporary folder, then measures in the same run, with the same
number of worker processes:
- the floor: decode each JPEG that holds a person (PIL, full decode) and encode one PNG mask of
  its size (cv2), nothing else;
- the floor plus the two files a sample needs (the mask PNG written, the image hard-linked, with
  ``core.io``): what is left of the gap after this is the ingester's own work;
- the ingester: ``datasets.ingest.run`` on the folder (JSON load, polygon rasterisation, header
  check, full decode, alpha PNG written, image hard-linked, tables, stale-file sweep).
Both run ``--repeat`` times, interleaved; it prints the best and median samples/s (wall) and the
best samples per CPU-second for both, and the ratios of the bests (target: the ingester within 2x
of the floor), and peak memory: this process's and the largest child's peak RSS
(``getrusage``), their sum with one child per worker as a bound on the process tree, and the
tree's largest summed RSS sampled every 20 ms (psutil). Target: < 1 GB for 5000 images, the COCO
JSON aside. Other jobs on a shared machine slow both sides alike; the CPU-second rates do not
depend on them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.

from core import io  # noqa: E402
from datasets.ingest import IngestParams, run  # noqa: E402

W, H = 640, 480


def make_image(i: int) -> tuple[bytes, list[list[float]]]:
    """JPEG bytes of image ``i`` and its person polygons (deterministic per index)."""
    rng = np.random.default_rng(i)
    wall = rng.uniform(90, 220, 3)
    image = np.empty((H, W, 3), np.float32)
    image[:] = wall * np.linspace(1.1, 0.8, W)[None, :, None]
    image[int(H * 0.7):] *= 0.6
    for _ in range(3):
        x, y = rng.integers(0, W - 80), rng.integers(0, H - 80)
        cv2.rectangle(image, (int(x), int(y)), (int(x + rng.integers(30, 160)), int(y + rng.integers(30, 120))),
                      tuple(rng.uniform(0, 255, 3)), -1)
    polygons = []
    n_people = 0 if rng.random() < 0.1 else int(rng.integers(1, 4))
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    for _ in range(n_people):
        cx, cy = rng.uniform(80, W - 80), rng.uniform(150, H - 60)
        rx, ry = rng.uniform(30, 110), rng.uniform(60, 200)
        pts = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)
        cv2.fillPoly(image, [pts.astype(np.int32)], tuple(rng.uniform(0, 255, 3)))
        polygons.append(np.clip(pts, 0, [W - 1, H - 1]).round(2).reshape(-1).tolist())
    image += rng.normal(0, 4, image.shape)
    ok, buf = cv2.imencode(".jpg", np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes(), polygons


def _write_image(args: tuple[Path, int]) -> list[list[float]]:
    root, i = args
    data, polygons = make_image(i)
    (root / "bench" / f"{i:08d}.jpg").write_bytes(data)
    return polygons


def generate(root: Path, count: int, workers: int) -> list[Path]:
    """Write the images and annotations/instances_bench.json; return the images that hold a person."""
    (root / "bench").mkdir(parents=True)
    with ProcessPoolExecutor(workers) as pool:
        all_polygons = list(pool.map(_write_image, [(root, i) for i in range(count)], chunksize=32))
    images, anns = [], []
    for i, polygons in enumerate(all_polygons):
        images.append({"id": i, "file_name": f"{i:08d}.jpg", "width": W, "height": H})
        for poly in polygons:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "segmentation": [poly],
                         "iscrowd": 0, "area": 0.0, "bbox": [0, 0, 0, 0]})
        if i % 7 == 0:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 62, "iscrowd": 0,
                         "segmentation": [[10, 10, 60, 10, 60, 50, 10, 50]], "area": 0.0, "bbox": [0, 0, 0, 0]})
    coco = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person"}, {"id": 62, "name": "chair"}]}
    io.write_text(root / "annotations" / "instances_bench.json", json.dumps(coco))
    return [root / "bench" / f"{i:08d}.jpg" for i, p in enumerate(all_polygons) if p]


_MASK: np.ndarray | None = None


def _floor_chunk(paths: list[Path]) -> int:
    """Decode each JPEG fully and encode one PNG mask of its size: the least an ingester must do."""
    from PIL import Image
    global _MASK
    if _MASK is None:
        _MASK = np.zeros((H, W), np.uint8)
        cv2.ellipse(_MASK, (W // 2, H // 2), (120, 200), 0, 0, 360, 255, -1)
    for path in paths:
        with Image.open(path) as im:
            im.load()
        ok, _ = cv2.imencode(".png", _MASK)
    return len(paths)


def _floor_writes_chunk(args: tuple[list[Path], Path]) -> int:
    """The floor plus the two files every sample needs: the PNG written and the image linked (io)."""
    paths, out = args
    _floor_chunk(paths)
    for path in paths:
        io.write_bytes(out / "alpha" / f"{path.stem}.png", cv2.imencode(".png", _MASK)[1].tobytes())
        io.link_or_copy(path, out / "images" / path.name)
    return len(paths)


def floor(paths: list[Path], workers: int, out: Path | None = None) -> None:
    """Decode + encode each image in ``workers`` processes; with ``out``, also write both files there."""
    chunks = [paths[i:i + 8] for i in range(0, len(paths), 8)]
    with ProcessPoolExecutor(workers) as pool:
        if out is None:
            assert sum(pool.map(_floor_chunk, chunks)) == len(paths)
        else:
            assert sum(pool.map(_floor_writes_chunk, [(c, out) for c in chunks])) == len(paths)


class TreeRss:
    """Samples the summed RSS of this process and its descendants every 20 ms; ``peak`` in bytes."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.02)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children) of ``fn(*args)``."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    fn(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="images to generate (e.g. 5000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side (best is reported)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        t0 = time.perf_counter()
        persons = generate(root / "src", args.count, args.workers)
        json_mb = (root / "src" / "annotations" / "instances_bench.json").stat().st_size / 1e6
        print(f"generated {args.count} {W}x{H} images ({len(persons)} with persons), JSON {json_mb:.1f} MB, "
              f"in {time.perf_counter() - t0:.1f} s; workers {args.workers}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        params = IngestParams()
        figures: dict = {}
        floors, writes, ingests = [], [], []
        for _ in range(args.repeat):  # interleaved, so a burst of load on the shared machine hits all
            floors.append(timed(floor, persons, args.workers))
            shutil.rmtree(root / "written", ignore_errors=True)
            writes.append(timed(floor, persons, args.workers, root / "written"))
            shutil.rmtree(root / "store", ignore_errors=True)
            ingests.append(timed(lambda: figures.update(
                run(params, "coco", root / "src", root / "store", name="bench", workers=args.workers))))
        shutil.rmtree(root / "store", ignore_errors=True)
        with TreeRss() as tree:  # memory in a run of its own: the sampler's CPU is not the ingester's
            run(params, "coco", root / "src", root / "store", name="bench", workers=args.workers)
        n = figures["samples"]
        assert n == len(persons), (n, len(persons))
        for label, runs in (("floor (decode JPEG + encode PNG)  ", floors),
                            ("floor + write PNG + link image    ", writes),
                            ("ingester (datasets.ingest.run)    ", ingests)):
            walls = sorted(n / wall for wall, _ in runs)
            cpus = sorted(n / cpu for _, cpu in runs)
            print(f"{label}: best {walls[-1]:6.1f} samples/s wall (median {walls[len(walls) // 2]:6.1f}), "
                  f"best {cpus[-1]:6.1f} samples/CPU-s")
        wall_ratio = min(w for w, _ in floors) / min(w for w, _ in ingests)
        cpu_ratio = min(c for _, c in floors) / min(c for _, c in ingests)
        print(f"ingester / floor (best of {args.repeat} each): {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x per "
              "CPU-second (target >= 0.5x, i.e. within 2x)")
        print(f"ingester / (floor + writes): {min(w for w, _ in writes) / min(w for w, _ in ingests):.2f}x wall, "
              f"{min(c for _, c in writes) / min(c for _, c in ingests):.2f}x per CPU-second")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: this process {own:.0f} MB (holds the COCO JSON), largest child {child:.0f} MB, "
              f"bound self + {args.workers} x child = {own + args.workers * child:.0f} MB; "
              f"sampled tree peak during ingest {tree.peak / 2**20:.0f} MB (target < 1024 MB)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
