"""Stage `autolabel`: every ensemble member's alpha and the fused alpha for every sample of a store.

```
python -m labeling autolabel --store STORE --out LABELS [--members a,b,...] [--params params.yaml] [--metrics PATH]

LABELS/<member>/<id>.png      each member's alpha, uint8 (H, W) at the image's size
LABELS/ensemble/<id>.png      the fused alpha (fusion.fuse; refined in its edge band if refine.enabled)
LABELS/disagreement/<id>.png  per-pixel disagreement of the members, uint8 (0 = all agree)
```
Nothing else is written under LABELS (DVC tracks each folder as its own output).

The work is split so that a Prefect flow can map it over samples (flows/autolabel.py) with the same
functions the stage calls here: ``batches`` -> ``label_batch`` per batch -> (learned weights only:
``learn_fusion`` then ``fuse_batch`` per batch) -> ``summarize``.
"""
from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from core import io
from datasets import masks
from core.cli import comma_list, progress, stage_main
from datasets.store import Store
from labeling import fusion, members as registry
from labeling.fusion import FusionParams
from labeling.members.base import ModelFiles, MemberSettings
from labeling.members.zoom import ZoomParams, add_crops, crop_windows
from labeling.refine import RefineParams, refine

log = logging.getLogger(__name__)
ENSEMBLE, DISAGREEMENT = "ensemble", "disagreement"
RESERVED = (ENSEMBLE, DISAGREEMENT, "refined")  # LABELS folders that are not members
LEARN_SIDE = 256  # trusted samples are downscaled to this longer side to learn fusion weights


@dataclass(frozen=True)
class AutolabelParams:
    model_dir: str = "../shared/models"  # where member weight files live (relative to the repo root)
    members: list[str] = field(default_factory=lambda: list(registry.DEFAULT))  # the ensemble (--members overrides)
    models: ModelFiles = field(default_factory=ModelFiles)  # member weight files under model_dir
    zoom: ZoomParams = field(default_factory=ZoomParams)  # extra member passes on crops around the labelled people
    fusion: FusionParams = field(default_factory=FusionParams)  # weighted soft voting
    refine: RefineParams = field(default_factory=RefineParams)  # pymatting in the fused alpha's edge band
    sam_prompt: Literal["gt", "ensemble"] = "ensemble"  # where SAM's box and points come from
    runner: str = "threads"  # flow only: 'threads', 'dask' (a local cluster) or a Dask scheduler address
    workers: int = 1  # threads (stage) or Dask workers (flow) labelling batches in parallel
    batch_size: int = 16  # samples per task

    def __post_init__(self):
        for name in self.members:
            registry.validate(name)
        if not self.members:
            raise ValueError("`autolabel.members` is empty: name at least one ensemble member")
        if self.batch_size < 1 or self.workers < 1:
            raise ValueError(f"`batch_size` and `workers` should be >= 1, got {self.batch_size}, {self.workers}")

    @property
    def settings(self) -> MemberSettings:
        return MemberSettings.of(self.model_dir, self.models)


def to_uint8(alpha: np.ndarray) -> np.ndarray:
    """(H, W) float alpha in [0, 1] -> uint8 0..255, rounded and saturated in one pass (cv2)."""
    return cv2.convertScaleAbs(alpha, alpha=255.0) if alpha.dtype != np.uint8 else alpha


def member_path(out: Path, member: str, sample_id: str) -> Path:
    return Path(out) / member / f"{sample_id}.png"


def batches(store: Store, batch_size: int) -> list[list[str]]:
    """The store's sample ids in batches of ``batch_size`` (the unit of work a task gets)."""
    ids = list(store.samples["id"])
    return [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]


@dataclass
class Prediction:
    """One image's member alphas ({member: (H, W) float32}), its zoom crops, and its fusion when the
    zoom guide already was the final one (no crops changed the alphas: it is not computed twice)."""
    alphas: dict[str, np.ndarray]
    crops: int
    fused: tuple[np.ndarray, np.ndarray] | None = None


def predict(params: AutolabelParams, rgb: np.ndarray, gt: np.ndarray | None, names: Sequence[str],
            fuse: fusion.Fuser | None = None) -> Prediction:
    """Run the members on one image: the full view, then zoom crops, then prompted members.

    Zoom crops surround the people of ``gt`` (a labelled sample) or, without a label (label_kind
    'none', scoring), of the ensemble's own first fusion of the full-view alphas (``fuse``, default
    the weighted vote of params). Prompted members (SAM) run last, prompted by ``gt`` or by the
    fusion of the others (`sam_prompt`).
    """
    settings = params.settings
    members = {n: registry.get(n, settings) for n in names}
    plain = [n for n in names if not members[n].prompted]
    alphas = {n: members[n].predict(rgb) for n in plain}
    fuse_plain = fuse if fuse is not None and len(plain) == len(names) else \
        (lambda a: fusion.fuse(a, params.fusion.weights, params.fusion.vote_threshold))
    guide, fused = gt, None
    if params.zoom.enabled and gt is None and alphas:
        fused = fuse_plain(alphas)
        guide = (fused[0] >= params.zoom.guide_threshold).astype(np.uint8) * np.uint8(255)
    windows = crop_windows(guide, params.zoom) if guide is not None and params.zoom.enabled else []
    for name in plain:
        add_crops(members[name], rgb, alphas[name], windows)
    if windows:
        fused = None
    for name in names:
        if members[name].prompted:
            if params.sam_prompt == "gt" or not plain:
                hint = masks.to_float(gt) if gt is not None else None
            else:
                hint = (fused or fuse_plain({n: alphas[n] for n in plain}))[0]
            alphas[name] = members[name].predict(rgb, hint)
            fused = None
    return Prediction({n: alphas[n] for n in names}, len(windows), fused if fuse is not None else None)


def predict_members(params: AutolabelParams, rgb: np.ndarray, gt: np.ndarray | None,
                    names: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """({member: alpha (H, W) float32}, number of zoom crops) for one image (see ``predict``)."""
    result = predict(params, rgb, gt, names)
    return result.alphas, result.crops


def fuser(params: AutolabelParams, names: Sequence[str], weights: dict[str, float] | None = None,
          threshold: float | None = None) -> fusion.Fuser:
    """The ensemble's fusion for ``names`` (fusion.fuser: the fitted file, or the weighted vote)."""
    return fusion.fuser(params.fusion, names, weights, threshold)


def fuse_and_write(params: AutolabelParams, out: Path, sample_id: str, rgb: np.ndarray,
                   alphas: dict[str, np.ndarray], fuse: fusion.Fuser,
                   fused: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    fused, disagreement = fused if fused is not None else fuse(alphas)
    io.write_png(member_path(out, ENSEMBLE, sample_id), to_uint8(finish(params, rgb, fused)))
    io.write_png(member_path(out, DISAGREEMENT, sample_id), to_uint8(disagreement))


def finish(params: AutolabelParams, rgb: np.ndarray | None, fused: np.ndarray) -> np.ndarray:
    """The fused alpha after the image-guided edge filter and pymatting (each when enabled)."""
    fused = fusion.guided(rgb, fused, params.fusion)
    if params.refine.enabled:
        fused = refine(rgb, fused, params.refine, guide=fused)
    return fused


def needs_label(params: AutolabelParams, names: Sequence[str]) -> bool:
    """Whether the members need the sample's label (zoom crops, SAM prompted by it), where it has one."""
    return params.zoom.enabled or (params.sam_prompt == "gt" and "sam" in names)


def load_sample(store: Store, row, with_label: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb, label or None) of a samples row; a label whose size is not the image's is an error.

    Samples of label_kind 'none' have no label: their zoom crops come from the ensemble.
    """
    rgb = store.image(row)
    if not with_label or row.label_kind == "none":
        return rgb, None
    gt = store.alpha(row)
    if gt.shape != rgb.shape[:2]:
        raise ValueError(f"{store.root / row.alpha}: alpha is {gt.shape}, image {rgb.shape[:2]} "
                         "(the store contract says image size; re-run ingest)")
    return rgb, gt


def write_sample(params: AutolabelParams, out: Path, sample_id: str, rgb: np.ndarray, result: Prediction,
                 fuse: fusion.Fuser | None) -> None:
    """Write each member's alpha, and the fused alpha and disagreement when ``fuse`` is given."""
    for name, alpha in result.alphas.items():
        io.write_png(member_path(out, name, sample_id), to_uint8(alpha))
    if fuse is not None:
        fuse_and_write(params, out, sample_id, rgb, result.alphas, fuse, result.fused)


def label_batch(params: AutolabelParams, store_root: Path | str, out: Path | str, ids: Sequence[str],
                names: Sequence[str], fuse_weights: dict[str, float] | None = None,
                threshold: float | None = None) -> list[dict]:
    """Run the members on the samples ``ids``, write their alphas; fuse too when weights are given.

    With `fusion.method: file` the fitted file fuses (any ``fuse_weights`` only says: fuse now);
    otherwise the weighted vote with ``fuse_weights`` and ``threshold``.

    Pipelined: while the members run on sample i (in this thread, which owns their sessions), an
    I/O thread decodes sample i+1 and another fuses and writes sample i-1 (PNG encoding, file I/O and
    numpy release the GIL). The files written do not depend on it.
    Returns one record per sample: id, crops (zoom crops used), seconds (inference), worker
    ("pid:thread") and sessions (members this worker thread has created so far: sessions are made
    once per worker, not per batch or image).
    """
    store, out = Store(store_root), Path(out)
    rows = list(store.samples.set_index("id").loc[list(ids)].itertuples())
    fuse = None if fuse_weights is None else fuser(params, names, fuse_weights, threshold)
    with_label = needs_label(params, names)
    records, pending = [], []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="autolabel-io") as pool:
        loading = pool.submit(load_sample, store, rows[0], with_label) if rows else None
        for i, (sample_id, row) in enumerate(zip(ids, rows)):
            rgb, gt = loading.result()
            if i + 1 < len(rows):
                loading = pool.submit(load_sample, store, rows[i + 1], with_label)
            start = time.perf_counter()
            result = predict(params, rgb, gt, names, fuse)
            seconds = time.perf_counter() - start
            pending.append(pool.submit(write_sample, params, out, sample_id, rgb, result, fuse))
            while len(pending) > 1:  # bound the memory held by samples waiting to be written
                pending.pop(0).result()
            records.append({"id": sample_id, "seconds": seconds,
                            "worker": f"{os.getpid()}:{threading.get_ident()}", "sessions": registry.created(),
                            "crops": result.crops})
        for job in pending:
            job.result()
    return records


def read_members(out: Path, sample_id: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {n: io.read_mask(member_path(out, n, sample_id)) for n in names}


def fuse_batch(params: AutolabelParams, store_root: Path | str, out: Path | str, ids: Sequence[str],
               names: Sequence[str], weights: dict[str, float], threshold: float) -> int:
    """Fuse the members' written alphas for ``ids`` (the second pass of learned fusion)."""
    store, out = Store(store_root), Path(out)
    rows = store.samples.set_index("id").loc[list(ids)]
    fuse = fuser(params, names, weights, threshold)
    for sample_id, row in zip(ids, rows.itertuples()):
        rgb = store.image(row) if params.refine.enabled or params.fusion.guided_radius > 0 else None
        fuse_and_write(params, out, sample_id, rgb, read_members(out, sample_id, names), fuse)
    return len(ids)


def learn_fusion(params: AutolabelParams, store_root: Path | str, out: Path | str,
                 names: Sequence[str]) -> tuple[dict[str, float], float, int]:
    """(weights, vote threshold, trusted samples used) learned from label_kind 'alpha' samples.

    Falls back to the params' weights and threshold (with a warning) below `fusion.min_trusted`.
    """
    store, out = Store(store_root), Path(out)
    trusted = store.samples[store.samples["label_kind"] == "alpha"]
    if len(trusted) < params.fusion.min_trusted:
        log.warning("fusion.method is 'learned' but the store has %d trusted (label_kind 'alpha') samples, "
                    "fewer than fusion.min_trusted=%d: using fusion.weights", len(trusted), params.fusion.min_trusted)
        return dict(params.fusion.weights), params.fusion.vote_threshold, 0
    samples, truths = [], []
    for row in trusted.itertuples():
        truth = store.alpha(row)
        scale = min(1.0, LEARN_SIDE / max(truth.shape))
        size = (max(1, int(truth.shape[1] * scale)), max(1, int(truth.shape[0] * scale)))
        shrink = (lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)) if scale < 1 else (lambda a: a)
        samples.append({n: shrink(a) for n, a in read_members(out, row.id, names).items()})
        truths.append(shrink(truth))
    weights = fusion.learn_weights(samples, truths, params.fusion.learn_pixels)
    threshold = fusion.learn_threshold(samples, truths, weights)
    log.info("learned fusion weights from %d trusted samples: %s, vote threshold %.2f", len(trusted), weights, threshold)
    return weights, threshold, len(trusted)


def summarize(records: list[dict], names: Sequence[str], weights: dict[str, float], threshold: float,
              trusted: int, seconds: float, fusion_file: str | None = None) -> dict:
    """The stage's metrics; with ``fusion_file`` (method file) the weights are the file's, not listed here."""
    n = len(records)
    return {
        "n": n,
        "members": list(names),
        **({"fusion_file": fusion_file} if fusion_file else {
            "weights": {m: float(w) for m, w in zip(names, fusion.normalized_weights(names, weights))},
            "vote_threshold": threshold}),
        "trusted_samples": trusted,
        "zoomed_samples": sum(1 for r in records if r["crops"]),
        "zoom_crops": sum(r["crops"] for r in records),
        "seconds": round(seconds, 3),
        "samples_per_s": round(n / seconds, 3) if seconds > 0 else None,
    }


def run(params: AutolabelParams, store_root: Path | str, out: Path | str,
        names: Sequence[str] | None = None) -> dict:
    """Label every sample of the store; returns the stage's metrics (see ``summarize``)."""
    start = time.perf_counter()
    names = list(names or params.members)
    for name in names:
        registry.validate(name)
    store = Store(store_root)
    for name in names:  # a missing weight file stops the stage before anything is written
        registry.get(name, params.settings)
    fuser(params, names)  # as does a missing fusion file
    learned = params.fusion.method == "learned"
    weights, threshold = dict(params.fusion.weights), params.fusion.vote_threshold
    work = batches(store, params.batch_size)
    label = lambda ids: label_batch(params, store_root, out, ids, names, None if learned else weights)  # noqa: E731
    records: list[dict] = []
    if params.workers > 1:
        with ThreadPoolExecutor(params.workers) as pool:
            for done in progress(pool.map(label, work), "autolabel", len(store.samples), "sample", len):
                records.extend(done)
    else:
        for ids in progress(work, "autolabel", len(store.samples), "sample", len):
            records.extend(label(ids))
    trusted = 0
    if learned:
        weights, threshold, trusted = learn_fusion(params, store_root, out, names)
        for ids in work:
            fuse_batch(params, store_root, out, ids, names, weights, threshold)
    metrics = summarize(records, names, weights, threshold, trusted, time.perf_counter() - start,
                        params.fusion.weights_file if fusion.file_model(params.fusion, names) else None)
    log.info("autolabel: %d samples, members %s, %.2f samples/s", metrics["n"], names, metrics["samples_per_s"] or 0)
    return metrics


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="sample store (python -m datasets ingest)")
    parser.add_argument("--out", required=True, type=Path, help="LABELS folder to write")
    parser.add_argument("--members", type=comma_list, help="comma-separated members (default: autolabel.members in params)")


def _run(params: AutolabelParams, args: argparse.Namespace) -> dict:
    return run(params, args.store, args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling autolabel", __doc__, "autolabel", AutolabelParams, _add_args, _run, argv,
                      overrides={"members": "members"}, metrics_help="write the stage's metrics JSON here")
