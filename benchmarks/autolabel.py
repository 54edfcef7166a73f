"""Throughput of the autolabel stage vs the bare inference of its members, measured in the same run.

    .venv/bin/python benchmarks/autolabel.py [--coco ../shared/data/coco128] [--n 40] [--rounds 2]
        [--members a,b,...] [--out /tmp/autolabel-bench]
    .venv/bin/python benchmarks/autolabel.py --images ../shared/data/ccp-unlabeled/images --n 60 --workers 2

With ``--images`` the store is the first ``n`` photos of a plain folder at their own size (ingest
--format images: label_kind 'none', zoom crops from the ensemble), and the previous default ensemble
(the three MediaPipe members, weighted vote; the params' edge filter and pymatting settings, as the
ensemble has them) is timed in the same run as the baseline. CPU time per sample gives the rate two
free cores would reach (2 / CPU seconds per sample) on a shared machine.
Without it:

Builds a store of the coco128 person images resized to 640x480 (with their COCO labels, which guide
the zoom crops), then per round:
  bare      the members' inference the stage's ensemble runs (``Ensemble.predict``): each member's
            ``predict`` on every image, on the zoom crops (around the label; for a photo without one,
            where the ensemble's fusion of the full views says) and, for a prompted member, with its
            prompt; timed around the members' calls only;
  stage     ``labeling.autolabel.run`` end to end: read image and label, crops, members, fusion, edge
            filter, disagreement map, PNG writes per sample.
overhead = everything the stage adds to the bare inference (fusion, the zoom guide's fusion, edge
filter, pymatting when on, reads, writes), per sample and as stage / bare - 1 (goal: < 30%), in wall
time (throughput) and in CPU time (process time, which other load on a shared machine does not
inflate). Printed for zoom on (the params) and off. The stage overlaps image decoding and PNG writing
with inference (label_batch), so its wall overhead depends on a free core (and with ``--workers`` > 1
the stage runs in parallel while bare is timed on one thread); its CPU overhead is the work added per
sample. With ``--workers`` > 1 the stage's worker threads also create their own member sessions each
run (a fixed cost, counted in the overhead; the calling thread's are made and warmed up before timing).
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
from labeling.ensemble import Ensemble  # noqa: E402
from labeling.members.zoom import ZoomParams  # noqa: E402

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


class TimedEnsemble(Ensemble):
    """The ensemble with its members' ``predict`` calls timed: wall and CPU seconds per member."""

    def __init__(self, params, fuse):
        super().__init__(params, fuse)
        self.seconds, self.cpu = dict.fromkeys(self.names, 0.0), dict.fromkeys(self.names, 0.0)

    @property
    def members(self) -> dict:
        return {name: _Timed(member, name, self) for name, member in super().members.items()}


class _Timed:
    """A member whose ``predict`` adds its wall and CPU seconds to its ensemble's (anything else: the member's)."""

    def __init__(self, member, name: str, ensemble: TimedEnsemble):
        self._member, self._name, self._ensemble = member, name, ensemble

    def __getattr__(self, attr):
        return getattr(self._member, attr)

    def predict(self, *args, **kwargs):
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return self._member.predict(*args, **kwargs)
        finally:
            self._ensemble.seconds[self._name] += time.perf_counter() - start
            self._ensemble.cpu[self._name] += time.process_time() - start_cpu


def bare_seconds(params, store: Store) -> tuple[dict[str, float], dict[str, float], int]:
    """({member: wall seconds}, {member: CPU seconds}, zoom crops): the members' inference over the store
    as the stage's ensemble runs it (full view, zoom crops, prompts), images decoded beforehand and the
    fusion (the zoom guide's included) left out of the timing."""
    ensemble = TimedEnsemble.from_params(params)
    inputs = [autolabel.load_sample(store, row, ensemble.needs_label) for row in store.samples.itertuples()]
    crops = sum(ensemble.predict(rgb, gt, fuse=False).crops for rgb, gt in inputs)
    return ensemble.seconds, ensemble.cpu, crops


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
    params = dataclasses.replace(params, members=names)
    configs = [("ensemble", True, params),
               ("ensemble", False, dataclasses.replace(params, zoom=ZoomParams(enabled=False)))]
    if args.images:  # the baseline: the previous default ensemble (weighted vote, same edge filter), in the same run
        baseline = dataclasses.replace(params, members=list(registry.DEFAULT), fusion=dataclasses.replace(
            params.fusion, method="weighted", weights_file=""))
        configs = [configs[0], ("baseline", True, baseline)]
    for name in {m for _, _, p in configs for m in p.members}:  # build the sessions and warm them up before timing
        registry.get(name, params.settings).predict(store.image(next(store.samples.itertuples())))
    report = {"n": n, "size": f"{int(sizes.width)}x{int(sizes.height)}", "members": names, "workers": params.workers,
              "runs": []}
    for label, zoom, p in configs:
        for r in range(args.rounds):
            bare, bare_cpu, bare_crops = bare_seconds(p, store)
            start, start_cpu = time.perf_counter(), time.process_time()
            metrics = autolabel.run(p, root, args.out / f"labels-{label}-{int(zoom)}-{r}")
            stage, stage_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if bare_crops != metrics["zoom_crops"]:
                raise RuntimeError(f"bare inference ran {bare_crops} zoom crops, the stage {metrics['zoom_crops']}")
            total, total_cpu = sum(bare.values()), sum(bare_cpu.values())
            report["runs"].append({
                "config": label, "members": list(p.members), "zoom": zoom, "round": r,
                "zoom_crops": metrics["zoom_crops"],
                "stage_samples_per_s": round(n / stage, 2), "stage_ms_per_sample": round(1e3 * stage / n, 1),
                "bare_ms_per_sample": round(1e3 * total / n, 1),
                "bare_ms_per_member": {k: round(1e3 * v / n, 1) for k, v in bare.items()},
                "overhead_ms_per_sample": round(1e3 * (stage - total) / n, 1),
                "overhead": round(stage / total - 1, 3),
                "cpu_ms_per_sample": {"stage": round(1e3 * stage_cpu / n, 1), "bare": round(1e3 * total_cpu / n, 1),
                                      "overhead": round(1e3 * (stage_cpu - total_cpu) / n, 1)},
                "cpu_overhead": round(stage_cpu / total_cpu - 1, 3),
                "two_free_cores_samples_per_s": round(2 * n / stage_cpu, 2),
            })
            print(json.dumps(report["runs"][-1]))
    io.write_json(args.out / "autolabel_bench.json", report)
    for label, zoom, _ in configs:
        runs = [r for r in report["runs"] if r["zoom"] == zoom and r["config"] == label]
        cpu = {k: np.median([r["cpu_ms_per_sample"][k] for r in runs]) for k in ("bare", "overhead")}
        print(f"{label} zoom {'on ' if zoom else 'off'} at {report['size']}, {params.workers} worker(s): "
              f"{max(r['stage_samples_per_s'] for r in runs):.1f} samples/s "
              f"({max(r['two_free_cores_samples_per_s'] for r in runs):.1f} on two free cores by CPU time), "
              f"wall overhead best {min(r['overhead'] for r in runs):.1%} median {np.median([r['overhead'] for r in runs]):.1%}, "
              f"CPU overhead median {np.median([r['cpu_overhead'] for r in runs]):.1%} "
              f"(CPU ms per sample, median: bare members' inference {cpu['bare']:.1f} "
              f"+ overhead {cpu['overhead']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
