"""`python -m datasets synthesize`: meeting-scene composites (and clips) from a sample store's cutouts.

```
python -m datasets synthesize --store STORE [--labels DIR] [--backgrounds DIR ...] --out OUT --count N --seed S
    [--size WxH] [--clips K --frames T] [--contact-sheet PNG] [--params params.yaml] [--metrics PATH]
```
Writes (contract "Composites" in DESIGN.md; deterministic for a seed, whatever ``workers``):
```
OUT/images/<cid>.jpg  OUT/alpha/<cid>.png  OUT/prior/<cid>.png        cid = s<seed>-<index:06d>
OUT/composites.parquet  one row per composite:
    cid, sample_id, split (the source sample's), background (path in its folder, after the folder's name when several; or generated:<k>),
    edges (list[str]: borders the person touched in its source, after flip mapping; a webcam cut is 'bottom'),
    scale, x, y (where the cutout's pivot went, frame pixels), flip, rotation (degrees, counter-clockwise),
    overflow (opposite touched borders forced the body past a free side), webcam_cut (bool: the person was
    cut horizontally and placed on the bottom border at webcam scale), cut_fraction (where: share of the
    person's height from the top of the head; null when not cut), tps_scale, tps_points
    (the spline's displaced control points, x0, y0, x1, ...; null / empty when not warped), prior_kind
    (empty | affine_small | affine_large | tps), harmonise, light_wrap, exposure_ev, blur_sigma,
    noise_std, jpeg_quality, image, alpha, prior (paths relative to OUT)
OUT/clips/<clip>/frame_<t>.jpg  OUT/clips/<clip>/alpha/frame_<t>.png   clip = s<seed>-clip<k:04d>
OUT/clips.parquet  one row per clip frame: clip_id, t, entry (left | right | null), and the columns above
```
Only samples whose split is train/val/test are used; every skipped sample is in the metrics with a
reason. The pivot, placement rules and rotation handling are described in ``synthesis/placement.py``.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import pandas as pd

from core import io
from core.cli import progress, stage_main
from datasets.store import SPLITS, Store
from datasets.synthesis import clips as clipping
from datasets.synthesis import cutouts, placement as pl, scene as sc, warp
from datasets.synthesis.backgrounds import Backgrounds
from datasets.synthesis.contact_sheet import write_contact_sheet
from datasets.synthesis.params import SynthesisParams
from core.workers import die_with_parent

log = logging.getLogger(__name__)
COMPOSITE_STREAM, CLIP_STREAM, ASSIGN_STREAM = 0xC0, 0xC1, 0xA5
OUTPUT_DIRS = ("images", "alpha", "prior", "clips")
# worker processes are spawned: forking after these imports is unsafe (measured: a preloaded forkserver
# aborts with "fork() called from a process already using GNU OpenMP"); spawned ones take 1-4 s
# to start (imports, pymatting's numba cache), a few seconds of rendering: each gets at least this many frames
MIN_FRAMES_PER_WORKER = 128


def parse_size(text: str) -> tuple[int, int]:
    """'640x360' -> (640, 360)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size should be WIDTHxHEIGHT such as 640x360, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ValueError(f"--size should be between 16x16 and 8192x8192, got {text!r}")
    return w, h


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


def assign(n_sources: int, count: int, seed: int, stream: int, repeat: Sequence[int] | None = None) -> list[int]:
    """Source index per item: shuffled round-robin, so every source is used count/n times (+-1), or with
    ``repeat`` (times per source) count * repeat / sum(repeat) times (+-repeat)."""
    rng = _rng(seed, ASSIGN_STREAM, stream)
    pool = np.arange(n_sources) if repeat is None else np.repeat(np.arange(n_sources), repeat)
    out: list[int] = []
    while len(out) < count:
        out.extend(int(i) for i in rng.permutation(pool))
    return out[:count]


def source_repeat(sources: Sequence[cutouts.Source], repeat: dict[str, int]) -> list[int] | None:
    """Times per usable sample from `synthesize.source_repeat` (None: every sample once); a source name
    that no usable sample has is an error."""
    if not repeat:
        return None
    unknown = sorted(set(repeat) - {s.source for s in sources})
    if unknown:
        raise ValueError(f"`synthesize.source_repeat` names {unknown}, which no usable sample of the store has "
                         f"(sources: {sorted({s.source for s in sources})})")
    return [repeat.get(s.source, 1) for s in sources]


# --- rendering (runs in the parent process or in worker processes) -----------------------------------

_CTX: dict[str, Any] = {}


def _init_worker(ctx: dict[str, Any], single_thread: bool, parent: int | None = None) -> None:
    if parent is not None:  # a pool worker ends with the stage (a killed stage leaves none behind)
        die_with_parent(parent)
    if single_thread:
        cv2.setNumThreads(1)
    _CTX.clear()
    _CTX.update(ctx)
    _CTX["bgs"] = Backgrounds(ctx["backgrounds"], ctx["size"], ctx["seed"], ctx["params"].backgrounds,
                              names=ctx["bg_names"])


def _common_row(cutout: cutouts.Cutout, scene: sc.Scene, placement: pl.Placement, bgs: Backgrounds) -> dict[str, Any]:
    cam = scene.camera
    return {
        "sample_id": cutout.id, "split": cutout.split, "background": bgs.names[scene.background.index],
        "edges": pl.composite_edges(cutout.geometry, placement),
        "scale": float(placement.scale), "x": float(placement.x), "y": float(placement.y),
        "flip": bool(placement.flip), "rotation": float(placement.rotation), "overflow": bool(placement.overflow),
        "webcam_cut": placement.cut_row is not None, "cut_fraction": pl.cut_fraction(cutout.geometry, placement),
        "tps_scale": scene.tps.scale if scene.tps is not None else None,
        "tps_points": scene.tps.points() if scene.tps is not None else [],
        "harmonise": scene.harmonise, "light_wrap": scene.light_wrap, "exposure_ev": cam.exposure_ev,
        "blur_sigma": cam.blur_sigma, "noise_std": cam.noise_std, "jpeg_quality": cam.jpeg_quality,
    }


def _render_group(task: tuple[int, list[int], list[int]]) -> tuple[list[dict], list[dict], dict[str, float]]:
    """Render the composites and clips of one source; returns (composite rows, clip rows, timings)."""
    source_index, composite_ids, clip_ids = task
    params: SynthesisParams = _CTX["params"]
    out: Path = _CTX["out"]
    size, seed, bgs = _CTX["size"], _CTX["seed"], _CTX["bgs"]
    timings: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    cutout = cutouts.load(_CTX["sources"][source_index], params.placement, params.foreground)
    timings["load"] += time.perf_counter() - t0
    rows, clip_rows = [], []
    for index in composite_ids:
        cid = f"s{seed}-{index:06d}"
        scene = sc.draw_scene(_rng(seed, COMPOSITE_STREAM, index), cutout.geometry, size, len(bgs), params)
        t = time.perf_counter()
        background = bgs.render(scene.background)
        timings["background"] += time.perf_counter() - t
        r = sc.render(cutout, background, scene, params, size, timings=timings)
        t = time.perf_counter()
        paths = {"image": f"images/{cid}.jpg", "alpha": f"alpha/{cid}.png", "prior": f"prior/{cid}.png"}
        io.write_jpeg(out / paths["image"], r.image, scene.camera.jpeg_quality)
        io.write_png(out / paths["alpha"], r.alpha)
        io.write_png(out / paths["prior"], r.prior)
        timings["write"] += time.perf_counter() - t
        rows.append({"cid": cid, **_common_row(cutout, scene, scene.placement, bgs), "prior_kind": scene.prior.kind,
                     **paths})
    frames = _CTX["frames"]
    for k in clip_ids:
        clip = f"s{seed}-clip{k:04d}"
        rng = _rng(seed, CLIP_STREAM, k)
        scene = sc.draw_scene(rng, cutout.geometry, size, len(bgs), params)
        geom = pl.oriented(cutout.geometry, scene.placement)
        motion = clipping.draw_motion(rng, params.clips, geom.edges)
        max_rot = params.placement.rotation_max_cut if geom.edges else params.placement.rotation_max_free
        background = bgs.render(scene.background)
        disp = warp.displacement(scene.tps, size, params.warp.grid_step) if scene.tps is not None else None
        for t in range(frames):
            placement = clipping.placement_at(scene.placement, motion, t, frames, geom, size, scene.margin, max_rot,
                                              params.clips)
            r = sc.render(cutout, background, scene, params, size, placement=placement, tps_disp=disp,
                          with_prior=False, noise_seed=scene.camera.noise_seed + t, timings=timings)
            paths = {"image": f"clips/{clip}/frame_{t:04d}.jpg", "alpha": f"clips/{clip}/alpha/frame_{t:04d}.png"}
            io.write_jpeg(out / paths["image"], r.image, scene.camera.jpeg_quality)
            io.write_png(out / paths["alpha"], r.alpha)
            clip_rows.append({"clip_id": clip, "t": t, "entry": motion.entry,
                              **_common_row(cutout, scene, placement, bgs), **paths})
    return rows, clip_rows, dict(timings)


def _remove_stale(out: Path, keep: set[str]) -> int:
    """Delete files under OUT's output folders that this run did not write (a previous, larger run's)."""
    removed = 0
    for name in OUTPUT_DIRS:
        folder = out / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):
            rel = path.relative_to(out).as_posix()
            if path.is_file() and rel not in keep:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


def _sheet_rows(out: Path, table: pd.DataFrame, rows: int) -> list:
    sheet = []
    for row in table.head(rows).itertuples(index=False):
        caption = f"{row.cid} {'+'.join(row.edges) or 'free'}{' webcam' if row.webcam_cut else ''} {row.prior_kind}"
        sheet.append((io.read_image(out / row.image), io.read_mask(out / row.alpha), io.read_mask(out / row.prior),
                      caption))
    return sheet


def run(params: SynthesisParams, store: Path | str, out: Path | str, labels: Path | str | None = None,
        backgrounds: Path | str | list[Path | str] | None = None,
        contact_sheet: Path | str | None = None) -> dict[str, Any]:
    """Write ``params.count`` composites (and ``params.clip_count`` clips of ``params.clips.frames`` frames,
    ``params.size``, drawn from ``params.seed``) to ``out``; returns the metrics."""
    count, seed, clips, frames = params.count, params.seed, params.clip_count, params.clips.frames
    size = parse_size(params.size)
    started = time.perf_counter()
    out = Path(out)
    labels = Path(labels) if labels is not None else None
    if labels is not None and not labels.is_dir():
        raise FileNotFoundError(f"{labels}: labels folder not found (expected <id>.png files; or leave out --labels)")
    st = Store(store)
    sources, skipped, other_splits = cutouts.scan(st, labels, params.min_person_pixels, params.placement,
                                                  params.splits)
    if not sources and (count or clips):
        reasons = Counter(s.reason for s in skipped)
        raise ValueError(f"{st.root}: no usable samples among {len(st.samples)} (skipped: {dict(reasons)}); "
                         "composites need samples with split train/val/test and a person in their alpha")
    bgs = Backgrounds(backgrounds, size, seed, params.backgrounds)
    scanned = time.perf_counter()
    by_source: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for index, src in enumerate(assign(len(sources), count, seed, 0, source_repeat(sources, params.source_repeat))):
        by_source[src][0].append(index)
    for k, src in enumerate(assign(len(sources), clips, seed, 1)):
        by_source[src][1].append(k)
    tasks = [(src, ids, clip_ids) for src, (ids, clip_ids) in sorted(by_source.items())]
    ctx = {"params": params, "sources": sources, "out": out, "size": size, "seed": seed, "frames": frames,
           "backgrounds": backgrounds, "bg_names": bgs.names}
    workers = max(1, min(params.workers, len(tasks), (count + clips * frames) // MIN_FRAMES_PER_WORKER))
    log.info("synthesize: %d composites, %d clips x %d frames from %d samples (%d skipped), %d backgrounds, "
             "%d worker(s)", count, clips, frames, len(sources), len(skipped), len(bgs), workers)
    results = []
    if workers == 1:
        _init_worker(ctx, single_thread=False)
        results = [_render_group(t) for t in progress(tasks, "synthesize", len(tasks))]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(ctx, True, os.getpid())) as pool:
            results = list(progress(pool.map(_render_group, tasks), "synthesize", len(tasks)))
    rendered = time.perf_counter()
    rows = sorted((r for res in results for r in res[0]), key=lambda r: r["cid"])
    clip_rows = sorted((r for res in results for r in res[1]), key=lambda r: (r["clip_id"], r["t"]))
    table = pd.DataFrame(rows, columns=["cid", *_columns(), "prior_kind", "image", "alpha", "prior"])
    clip_table = pd.DataFrame(clip_rows, columns=["clip_id", "t", "entry", *_columns(), "image", "alpha"])
    io.write_parquet(out / "composites.parquet", table)
    io.write_parquet(out / "clips.parquet", clip_table)
    keep = {p for r in rows for p in (r["image"], r["alpha"], r["prior"])} | \
           {p for r in clip_rows for p in (r["image"], r["alpha"])}
    removed = _remove_stale(out, keep)
    if contact_sheet is not None and len(table):
        write_contact_sheet(contact_sheet, _sheet_rows(out, table, params.contact_sheet_rows))
    timings: dict[str, float] = defaultdict(float)
    for res in results:
        for key, value in res[2].items():
            timings[key] += value
    busy = sum(timings.values())
    n_frames = count + clips * frames
    edges = Counter(e for r in rows for e in (r["edges"] or ["none"]))
    by_id = {src.id: src.source for src in sources}
    metrics = {
        "composites": count, "clips": clips, "clip_frames": clips * frames,
        "samples": int(len(st.samples)), "samples_used": len(sources), "samples_skipped": len(skipped),
        "samples_other_splits": other_splits,
        "skipped_reasons": dict(sorted(Counter(s.reason for s in skipped).items())),
        "skipped": [vars(s) for s in skipped],
        "backgrounds": len(bgs), "backgrounds_generated": not bgs.folders, "backgrounds_skipped": bgs.skipped,
        "edges": {e: edges.get(e, 0) for e in (*pl.EDGES, "none")},
        "prior_kinds": dict(sorted(Counter(r["prior_kind"] for r in rows).items())),
        "warped": sum(r["tps_scale"] is not None for r in rows), "overflow": sum(r["overflow"] for r in rows),
        "webcam_cuts": sum(r["webcam_cut"] for r in rows),
        "composites_per_source": dict(sorted(Counter(by_id[r["sample_id"]] for r in rows).items())),
        "clips_with_entry": len({r["clip_id"] for r in clip_rows if r["entry"]}),
        "stale_files_removed": removed, "workers": workers,
        "scan_s": round(scanned - started, 3), "render_s": round(rendered - scanned, 3),
        "total_s": round(time.perf_counter() - started, 3),
        "frames_per_s": round(n_frames / max(rendered - scanned, 1e-9), 2),
        "warp_share": round(timings["warp"] / busy, 4) if busy else 0.0,
        "time_share": {k: round(v / busy, 4) for k, v in sorted(timings.items())} if busy else {},
    }
    log.info("synthesize: wrote %d composites and %d clip frames to %s in %.1fs (%.1f frames/s, warp %.0f%%)",
             count, clips * frames, out, metrics["total_s"], metrics["frames_per_s"], 100 * metrics["warp_share"])
    return metrics


def _columns() -> list[str]:
    return ["sample_id", "split", "background", "edges", "scale", "x", "y", "flip", "rotation", "overflow",
            "webcam_cut", "cut_fraction", "tps_scale", "tps_points", "harmonise", "light_wrap", "exposure_ev", "blur_sigma", "noise_std",
            "jpeg_quality"]


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="sample store (samples.parquet)")
    parser.add_argument("--labels", type=Path, help="folder of <id>.png alphas overriding the store's")
    parser.add_argument("--backgrounds", type=Path, action="append",
                        help="folder of background photos; repeatable, the folders pool their images; a COCO folder "
                             "gives its images without people (default: generated rooms)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--count", type=int, help="number of composites (default: params count)")
    parser.add_argument("--seed", type=int, help="random seed, same seed same bytes (default: params seed)")
    parser.add_argument("--size", help="output WIDTHxHEIGHT (default: params size, 640x360)")
    parser.add_argument("--clips", type=int, help="number of clips (default: params clip_count)")
    parser.add_argument("--frames", type=int, help="frames per clip (default: params clips.frames)")
    parser.add_argument("--split", action="append", dest="splits", choices=SPLITS,
                        help="draw people from this split only (repeatable; default: params splits, all three)")
    parser.add_argument("--contact-sheet", type=Path, help="PNG of the first composites (image | alpha | prior)")


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m datasets synthesize", __doc__, "synthesize", SynthesisParams, _add_args,
                      lambda params, args: run(params, args.store, args.out, args.labels, args.backgrounds,
                                               args.contact_sheet), argv,
                      overrides={"count": "count", "seed": "seed", "size": "size", "clips": "clip_count",
                                 "frames": "clips.frames", "splits": "splits"},
                      metrics_help="metrics JSON to write")
