"""Throughput of the autolabel stage vs the bare inference of its members, measured in the same run.

    .venv/bin/python benchmarks/autolabel.py [--coco ../shared/data/coco128] [--n 40] [--rounds 2]
        [--members a,b,...] [--out /tmp/autolabel-bench]
    .venv/bin/python benchmarks/autolabel.py --images ../shared/data/ccp-unlabeled/images --n 60 --workers 2

With ``--images`` the store is the first ``n`` photos of a plain folder at their own size (ingest
--format images: label_kind 'none', zoom crops from the ensemble), and the previous default ensemble
(the three MediaPipe members, weighted vote) is timed in the same run as the baseline. CPU time
per sample gives the rate two free cores would reach (2 / CPU seconds per sample) on a shared machine.
Without it:

Builds a store of the coco128 person images resized to 640x480 (with their COCO labels, which guide
the zoom crops), then per round:
  bare      each member's ``predict`` alone on every image (and on the same zoom crops the stage will
            use), timed around the calls only: the sum of the members' inference time;
  stage     ``labeling.autolabel.run`` end to end: read image and label, crops, members, fusion,
            disagreement map, five PNG writes per sample.
overhead = stage time / bare time - 1 (goal: < 30%), in wall time (throughput) and in CPU time
(process time, which other load on a shared machine does not inflate). Printed for zoom on (the
params) and off. The stage overlaps image decoding and PNG writing with inference (label_batch),
so its wall overhead depends on a free core; its CPU overhead is the work added per sample.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.

from core import io  # noqa: E402
from core.config import load_section  # noqa: E402
from datasets.store import Sample, Store, write_tables  # noqa: E402
from labeling import autolabel, members as registry  # noqa: E402
from labeling.fusion import FusionParams  # noqa: E402
from labeling.members.zoom import ZoomParams, crop_windows  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from label_quality import coco_store  # noqa: E402

SIZE = (640, 480)


def store_640x480(coco: Path, root: Path, n: int) -> Path:
    """The first ``n`` coco128 person images and labels, resized to 640x480, as a sample store."""
    src = coco_store(coco, root / "src")
    store, samples = Store(src), []
    for row in list(store.samples.itertuples())[:n]:
        rgb = cv2.resize(store.image(row), SIZE, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(store.alpha(row), SIZE, interpolation=cv2.INTER_NEAREST)
        io.write_jpeg(root / "store" / f"images/{row.id}.jpg", rgb, 95)
        io.write_png(root / "store" / f"alpha/{row.id}.png", alpha)
        samples.append(Sample(id=row.id, source=row.source, split=row.split, image=f"images/{row.id}.jpg",
                              alpha=f"alpha/{row.id}.png", ignore=None, width=SIZE[0], height=SIZE[1],
                              persons=row.persons, label_kind="mask", origin=row.origin))
    write_tables(root / "store", samples, [])
    return root / "store"


def photo_store(images: Path, root: Path, n: int) -> Path:
    """The first ``n`` photos of a plain folder (sorted), ingested as a store of label_kind 'none'."""
    from datasets import ingest

    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]:
        io.link_or_copy(path, root / "src" / path.name)
    ingest.run(ingest.IngestParams(), "images", root / "src", root / "store", name="photos", workers=1)
    return root / "store"


def bare_seconds(params, store: Store, names: list[str]) -> dict[str, float]:
    """Seconds each member spends in predict() over the store (full image + the stage's zoom crops;
    samples without a label: the full image only)."""
    settings = params.settings
    inputs = []
    for row in store.samples.itertuples():
        rgb, gt = autolabel.load_sample(store, row, True)
        windows = crop_windows(gt, params.zoom) if gt is not None else []
        crops = [np.ascontiguousarray(rgb[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
        inputs.append((rgb, crops))
    seconds, cpu = {}, {}
    for name in names:
        member = registry.get(name, settings)
        start, start_cpu = time.perf_counter(), time.process_time()
        for rgb, crops in inputs:
            member.predict(rgb)
            for crop in crops:
                member.predict(crop)
        seconds[name], cpu[name] = time.perf_counter() - start, time.process_time() - start_cpu
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coco", type=Path, default=REPO.parent / "shared" / "data" / "coco128")
    parser.add_argument("--out", type=Path, default=Path("/tmp/autolabel-bench"))
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--members", help="comma-separated (default: autolabel.members)")
    parser.add_argument("--n", type=int, default=40, help="samples")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--images", type=Path, help="a plain folder of photos (timed at their own size)")
    parser.add_argument("--workers", type=int, help="autolabel.workers for the stage (default: params)")
    args = parser.parse_args(argv)
    params = load_section("autolabel", autolabel.AutolabelParams, args.params)
    if args.workers:
        params = dataclasses.replace(params, workers=args.workers)
    names = args.members.split(",") if args.members else list(params.members)
    shutil.rmtree(args.out, ignore_errors=True)
    root = photo_store(args.images, args.out, args.n) if args.images else store_640x480(args.coco, args.out, args.n)
    store = Store(root)
    n = len(store.samples)
    sizes = store.samples[["width", "height"]].median()
    configs = [("ensemble", True, params, names), ("ensemble", False, dataclasses.replace(
        params, zoom=ZoomParams(enabled=False)), names)]
    if args.images:  # the baseline: the previous default ensemble, in the same run
        baseline = dataclasses.replace(params, members=list(registry.DEFAULT), fusion=FusionParams(
            method="weighted", weights=params.fusion.weights, vote_threshold=params.fusion.vote_threshold))
        configs = [configs[0], ("baseline", True, baseline, list(registry.DEFAULT))]
    for name in {m for _, _, _, ms in configs for m in ms}:  # build the sessions and warm them up before timing
        registry.get(name, params.settings).predict(store.image(next(store.samples.itertuples())))
    report = {"n": n, "size": f"{int(sizes.width)}x{int(sizes.height)}", "members": names, "workers": params.workers,
              "runs": []}
    for label, zoom, p, run_names in configs:
        for r in range(args.rounds):
            bare, bare_cpu = bare_seconds(p, store, run_names)
            start, start_cpu = time.perf_counter(), time.process_time()
            metrics = autolabel.run(p, root, args.out / f"labels-{label}-{int(zoom)}-{r}", run_names)
            stage, stage_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            total = sum(bare.values())
            report["runs"].append({
                "config": label, "members": run_names, "zoom": zoom, "round": r, "zoom_crops": metrics["zoom_crops"],
                "stage_samples_per_s": round(n / stage, 2), "stage_ms_per_sample": round(1e3 * stage / n, 1),
                "bare_ms_per_sample": round(1e3 * total / n, 1),
                "bare_ms_per_member": {k: round(1e3 * v / n, 1) for k, v in bare.items()},
                "overhead": round(stage / total - 1, 3),
                "cpu_ms_per_sample": {"stage": round(1e3 * stage_cpu / n, 1),
                                      "bare": round(1e3 * sum(bare_cpu.values()) / n, 1)},
                "cpu_overhead": round(stage_cpu / sum(bare_cpu.values()) - 1, 3),
                "two_free_cores_samples_per_s": round(2 * n / stage_cpu, 2),
            })
            print(json.dumps(report["runs"][-1]))
    io.write_json(args.out / "autolabel_bench.json", report)
    for label, zoom, _, _ in configs:
        runs = [r for r in report["runs"] if r["zoom"] == zoom and r["config"] == label]
        print(f"{label} zoom {'on ' if zoom else 'off'} at {report['size']}, {params.workers} worker(s): "
              f"{max(r['stage_samples_per_s'] for r in runs):.1f} samples/s "
              f"({max(r['two_free_cores_samples_per_s'] for r in runs):.1f} on two free cores by CPU time), "
              f"wall overhead best {min(r['overhead'] for r in runs):.1%} median {np.median([r['overhead'] for r in runs]):.1%}, "
              f"CPU overhead median {np.median([r['cpu_overhead'] for r in runs]):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
