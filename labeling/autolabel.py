"""Stage `autolabel`: every ensemble member's alpha and the fused alpha for every sample of a store.

```
python -m labeling autolabel --store STORE --out LABELS [--members a,b,...] [--params params.yaml] [--metrics PATH]

LABELS/<member>/<id>.png      each member's alpha, uint8 (H, W) at the image's size
LABELS/ensemble/<id>.png      the fused alpha (fusion.fuse; refined in its edge band if refine.enabled)
LABELS/disagreement/<id>.png  per-pixel disagreement of the members, uint8 (0 = all agree)
```
Nothing else is written under LABELS (DVC tracks each folder as its own output).

The members and their fusion are ``labeling.ensemble.Ensemble``. The work is split into steps over
batches of samples (``batches``): ``label_batch`` per batch, and with learned fusion weights
``learn_fusion`` then ``fuse_batch`` per batch. ``label_store`` runs them through a ``Mapper``: threads
here (`autolabel.workers`), Prefect tasks on threads or a Dask cluster in the flow (flows/autolabel.py).
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
from typing import Callable, Iterable, Iterator, Literal, NamedTuple, Sequence, TypeVar

import cv2
import numpy as np

from core import io
from core.cli import comma_list, progress, stage_main
from datasets.store import Store
from labeling import fusion, members as registry
from labeling.ensemble import Ensemble, Prediction
from labeling.fusion import FusionParams
from labeling.members.base import ModelFiles, MemberSettings
from labeling.members.zoom import ZoomParams
from labeling.refine import RefineParams

T = TypeVar("T")
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


def write_fused(out: Path, sample_id: str, result: Prediction) -> None:
    io.write_png(member_path(out, ENSEMBLE, sample_id), to_uint8(result.alpha))
    io.write_png(member_path(out, DISAGREEMENT, sample_id), to_uint8(result.disagreement))


def write_sample(out: Path, sample_id: str, rgb: np.ndarray, result: Prediction, ensemble: Ensemble | None) -> None:
    """Write each member's alpha, and (fused by ``ensemble``, when given) the fused alpha and disagreement."""
    for name, alpha in result.alphas.items():
        io.write_png(member_path(out, name, sample_id), to_uint8(alpha))
    if ensemble is not None:
        write_fused(out, sample_id, ensemble.fuse(rgb, result))


def label_batch(params: AutolabelParams, store_root: Path | str, out: Path | str, ids: Sequence[str]) -> list[dict]:
    """Run the members on the samples ``ids`` and write their alphas; fuse them too, unless the fusion
    weights are learned from every sample's alphas first (`fusion.method: learned`: ``fuse_batch``).

    Pipelined: while the members run on sample i (in this thread, which owns their sessions), an
    I/O thread decodes sample i+1 and another fuses and writes sample i-1 (PNG encoding, file I/O and
    numpy release the GIL). The files written do not depend on it.
    Returns one record per sample: id, crops (zoom crops used), seconds (inference), worker
    ("pid:thread") and sessions (members this worker thread has created so far: sessions are made
    once per worker, not per batch or image).
    """
    store, out = Store(store_root), Path(out)
    rows = list(store.samples.set_index("id").loc[list(ids)].itertuples())
    ensemble = Ensemble.from_params(params)
    fuser = None if params.fusion.method == "learned" else ensemble
    records, pending = [], []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="autolabel-io") as pool:
        loading = pool.submit(load_sample, store, rows[0], ensemble.needs_label) if rows else None
        for i, (sample_id, row) in enumerate(zip(ids, rows)):
            rgb, gt = loading.result()
            if i + 1 < len(rows):
                loading = pool.submit(load_sample, store, rows[i + 1], ensemble.needs_label)
            start = time.perf_counter()
            result = ensemble.predict(rgb, gt, fuse=False)
            seconds = time.perf_counter() - start
            pending.append(pool.submit(write_sample, out, sample_id, rgb, result, fuser))
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


class LearnedFusion(NamedTuple):
    """The weighted vote learned from the store's trusted samples (the params' own below `min_trusted`)."""
    weights: dict[str, float]
    threshold: float
    trusted: int  # trusted samples it was learned from (0: the params' weights and threshold)


def learn_fusion(params: AutolabelParams, store_root: Path | str, out: Path | str) -> LearnedFusion:
    """Vote weights and threshold learned from label_kind 'alpha' samples and the members' written alphas.

    Falls back to the params' weights and threshold (with a warning) below `fusion.min_trusted`.
    """
    store, out = Store(store_root), Path(out)
    trusted = store.samples[store.samples["label_kind"] == "alpha"]
    if len(trusted) < params.fusion.min_trusted:
        log.warning("fusion.method is 'learned' but the store has %d trusted (label_kind 'alpha') samples, "
                    "fewer than fusion.min_trusted=%d: using fusion.weights", len(trusted), params.fusion.min_trusted)
        return LearnedFusion(dict(params.fusion.weights), params.fusion.vote_threshold, 0)
    samples, truths = [], []
    for row in trusted.itertuples():
        truth = store.alpha(row)
        scale = min(1.0, LEARN_SIDE / max(truth.shape))
        size = (max(1, int(truth.shape[1] * scale)), max(1, int(truth.shape[0] * scale)))
        shrink = (lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)) if scale < 1 else (lambda a: a)
        samples.append({n: shrink(a) for n, a in read_members(out, row.id, params.members).items()})
        truths.append(shrink(truth))
    weights = fusion.learn_weights(samples, truths, params.fusion.learn_pixels)
    threshold = fusion.learn_threshold(samples, truths, weights)
    log.info("learned fusion weights from %d trusted samples: %s, vote threshold %.2f", len(trusted), weights, threshold)
    return LearnedFusion(weights, threshold, len(trusted))


def fuse_batch(params: AutolabelParams, store_root: Path | str, out: Path | str, ids: Sequence[str],
               learned: LearnedFusion) -> int:
    """Fuse the members' written alphas for ``ids`` with the ``learned`` vote (learned fusion's second pass)."""
    store, out = Store(store_root), Path(out)
    rows = store.samples.set_index("id").loc[list(ids)]
    ensemble = Ensemble.from_params(params, learned.weights, learned.threshold)
    for sample_id, row in zip(ids, rows.itertuples()):
        rgb = store.image(row) if ensemble.fuses_with_image else None
        write_fused(out, sample_id, ensemble.fuse(rgb, Prediction(read_members(out, sample_id, ensemble.names))))
    return len(ids)


def summarize(ensemble: Ensemble, records: list[dict], learned: LearnedFusion | None, seconds: float) -> dict:
    """The stage's metrics; with a fitted fusion file the weights are the file's, not listed here."""
    n, names = len(records), ensemble.names
    weights, threshold, trusted = learned or (ensemble.params.fusion.weights, ensemble.params.fusion.vote_threshold, 0)
    fusion_file = ensemble.fusion_file
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


Mapper = Callable[[Callable[..., T], list[tuple]], Iterable[T]]  # (step, [its arguments]) -> its results in order


def thread_map(workers: int) -> Mapper:
    """A Mapper running the calls on ``workers`` threads (in the calling thread when 1)."""
    def run_all(step: Callable[..., T], calls: list[tuple]) -> Iterator[T]:
        if workers == 1:
            yield from (step(*args) for args in calls)
            return
        with ThreadPoolExecutor(workers) as pool:
            yield from pool.map(lambda args: step(*args), calls)
    return run_all


def label_store(params: AutolabelParams, store_root: Path | str, out: Path | str,
                mapper: Mapper) -> tuple[dict, list[dict]]:
    """Label every sample of the store, each step through ``mapper``; (the stage's metrics, the
    ``label_batch`` records)."""
    start = time.perf_counter()
    store = Store(store_root)
    ensemble = Ensemble.from_params(params).load()  # a missing fusion or model file stops before anything is written
    work = batches(store, params.batch_size)
    labelled = mapper(label_batch, [(params, store_root, out, ids) for ids in work])
    records = [r for done in progress(labelled, "autolabel", len(store.samples), "sample", len) for r in done]
    learned = None
    if params.fusion.method == "learned":
        [learned] = mapper(learn_fusion, [(params, store_root, out)])
        for _ in mapper(fuse_batch, [(params, store_root, out, ids, learned) for ids in work]):
            pass
    metrics = summarize(ensemble, records, learned, time.perf_counter() - start)
    log.info("autolabel: %d samples, members %s, %.2f samples/s", metrics["n"], ensemble.names,
             metrics["samples_per_s"] or 0)
    return metrics, records


def run(params: AutolabelParams, store_root: Path | str, out: Path | str) -> dict:
    """Label every sample of the store with the ensemble of ``params`` on `autolabel.workers` threads;
    returns the stage's metrics (see ``summarize``)."""
    return label_store(params, store_root, out, thread_map(params.workers))[0]


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="sample store (python -m datasets ingest)")
    parser.add_argument("--out", required=True, type=Path, help="LABELS folder to write")
    parser.add_argument("--members", type=comma_list, help="comma-separated members (default: autolabel.members in params)")


def _run(params: AutolabelParams, args: argparse.Namespace) -> dict:
    return run(params, args.store, args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling autolabel", __doc__, "autolabel", AutolabelParams, _add_args, _run, argv,
                      overrides={"members": "members"}, metrics_help="write the stage's metrics JSON here")
