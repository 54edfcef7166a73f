"""`python -m training evaluate --model M --images DIR --masks DIR --out OUT [--baselines a,b]`.

M is a .pt checkpoint, an .onnx file, or a baseline name (``training.baselines.BASELINES``).
Masks are matched to images by file stem, hard or soft. A mask whose size differs from its image
with the same aspect ratio is resized (nearest) with a warning; any other mismatch, a missing
partner or an unreadable file is reported per pair (``error`` column), not fatal.

Writes ``OUT/metrics.json`` (``n``, ``iou``, ``boundary_iou``, ``mad``, ``mse``, ``grad``, ``conn``,
``fps`` and ``fps_<size>_<1t|all>``; MAD/MSE x1e3, Grad/Conn /1e3 as in RobustVideoMatting),
``OUT/per_sample.parquet``, ``OUT/worst.png`` (the worst 20 by IoU: image | truth | prediction |
error), with ``--clips`` (a synthesize output with ``clips.parquet``) ``dtssd`` and ``clip_mad`` over its
test clips (each prediction is the next frame's prior) and, with ``--baselines``, ``OUT/comparison.json`` + ``OUT/comparison.md`` (the model and the
baselines on the same images, fps measured in the same run).
"""
from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pandas as pd

from core import io
from core.cli import comma_list, progress, stage_main
from core.config import ParamsError
from training import bench
from datasets.masks import to_uint8
from datasets.pairs import Pair, load_pair, match_pairs
from training.metrics import HIGHER_IS_BETTER, METRICS, clip_dtssd, image_metrics, mad
from training.predict import load_predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateParams:
    """params.yaml `evaluate:`."""
    fps_frames: int = 100  # timed frames per fps row (the median is reported; the CPU is shared)
    fps_sizes: list[str] = field(default_factory=lambda: list(bench.FRAME_SIZES))  # frame sizes timed
    worst: int = 20  # images on the worst-cases contact sheet
    tile_width: int = 192  # contact-sheet tile width in pixels (height follows 4:3)
    max_images: int = 0  # evaluate at most this many pairs (0 = all)
    model_threads: int = 1  # intra-op threads of our model's runtime, also in the 'all' rows (0 = every CPU);
    # one, like MediaPipe's single XNNPACK thread: a 0.3M-parameter model gains ~5% from a second
    # thread on an idle CPU and loses 2-3x when the other core is busy

    RANGES: ClassVar[dict[str, str]] = {"tile_width": ">= 16"}  # other numbers: >= 0 (core.config)

    def __post_init__(self):
        unknown = sorted(set(self.fps_sizes) - set(bench.FRAME_SIZES))
        if unknown:
            raise ParamsError(f"`evaluate.fps_sizes` should be among {list(bench.FRAME_SIZES)}, got {unknown}")


def score(predictor, pairs: list[Pair], keep: int) -> tuple[pd.DataFrame, list[tuple]]:
    """Per-pair metrics for ``predictor``; also (stem, image, true, pred) of the ``keep`` lowest-IoU pairs."""
    rows, kept = [], []
    for pair in progress(pairs, desc=f"evaluate {predictor.name}"):
        row = {"stem": pair.stem, "image": str(pair.image) if pair.image else None}
        loaded = None if pair.error else load_pair(pair)
        if loaded is not None:
            image, true = loaded
            pred = predictor.predict(image)
            row.update(image_metrics(pred, true))
            row.update(width=image.shape[1], height=image.shape[0])
            if keep:
                kept.append((row["iou"], pair.stem, image, true, pred))
                kept = sorted(kept, key=lambda c: c[0])[:keep]
        else:
            row.update({m: math.nan for m in METRICS})
        row.update(error=pair.error, detail=pair.detail)
        rows.append(row)
    return pd.DataFrame(rows), [c[1:] for c in kept]


def clip_frames(root: Path, split: str) -> dict[str, list[tuple[Path, Path]]]:
    """clip id -> [(image, alpha)] in frame order, from ``root/clips.parquet`` (``python -m datasets
    synthesize --clips``), rows of ``split`` only (all rows when the table has no split column)."""
    table = Path(root) / "clips.parquet"
    if not table.is_file():
        raise FileNotFoundError(f"{root}: no clips.parquet (write clips with `python -m datasets synthesize "
                                "--clips K`, or leave out --clips)")
    df = pd.read_parquet(table)
    key = "clip_id" if "clip_id" in df.columns else "clip"
    missing = {key, "t", "image", "alpha"} - set(df.columns)
    if missing:
        raise ValueError(f"{table}: missing column(s) {sorted(missing)} (expected clip_id, t, image, alpha)")
    if "split" in df.columns:
        df = df[df["split"] == split]
    return {str(clip): [(Path(root) / r.image, Path(root) / r.alpha) for r in rows.sort_values("t").itertuples()]
            for clip, rows in df.groupby(key, sort=True)}


def score_clips(predictor, clips: dict[str, list[tuple[Path, Path]]]) -> dict:
    """``dtssd`` (mean of per-clip dtSSD, RVM's definition) and ``clip_mad`` over every frame of the clips.

    Frames run in order and each prediction is the next frame's prior (4-channel models use it).
    """
    dtssds, mads = [], []
    for clip, frames in progress(list(clips.items()), desc=f"clips {predictor.name}"):
        preds, trues, prior = [], [], None
        for image_path, alpha_path in frames:
            image, true = io.read_image(image_path), io.read_mask(alpha_path)
            prior = predictor.predict(image, prior)
            preds.append(prior)
            trues.append(true)
            mads.append(mad(prior, true))
        dtssds.append(clip_dtssd(preds, trues))
    return {"clips": len(dtssds), "dtssd": float(np.mean(dtssds)) if dtssds else math.nan,
            "clip_mad": float(np.mean(mads)) if mads else math.nan}


def summary(table: pd.DataFrame) -> dict:
    scored = table[table["error"].isna()]
    out = {"n": int(len(scored)), "n_errors": int(len(table) - len(scored))}
    for m in METRICS:
        out[m] = float(scored[m].mean()) if len(scored) else math.nan
    return out


def _tile(array: np.ndarray, width: int, height: int) -> np.ndarray:
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    h, w = array.shape[:2]
    s = min(width / w, height / h)
    small = cv2.resize(array, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    tile = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def contact_sheet(cases: list[tuple], table: pd.DataFrame, tile_width: int) -> np.ndarray:
    """Rows of image | truth | prediction | |error| for ``cases`` ((stem, image, true, pred), worst first)."""
    tw, th = tile_width, tile_width * 3 // 4
    figures = table.set_index("stem")
    rows = []
    for stem, image, true, pred in cases:
        true_u8 = to_uint8(true)
        pred_u8 = to_uint8(pred)
        err = cv2.applyColorMap(cv2.absdiff(true_u8, pred_u8), cv2.COLORMAP_INFERNO)[..., ::-1]
        row = np.hstack([_tile(image, tw, th), _tile(true_u8, tw, th), _tile(pred_u8, tw, th),
                         _tile(np.ascontiguousarray(err), tw, th)])
        r = figures.loc[stem]
        cv2.putText(row, f"{stem} IoU {r['iou']:.3f} MAD {r['mad']:.0f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    if not rows:
        return np.zeros((th, 4 * tw, 3), np.uint8)
    return np.vstack(rows)


def _cell(value, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def comparison_markdown(results: dict[str, dict], rows: list[dict], n: int) -> str:
    names = list(results)
    lines = [f"Evaluated on the same {n} images; fps = end-to-end frames/s (resize, inference, upsample, "
             "composite) measured in the same run.", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for m in METRICS:
        arrow = "higher is better" if HIGHER_IS_BETTER[m] else "lower is better"
        lines.append(f"| {m} ({arrow}) | " + " | ".join(_cell(results[k].get(m), ".4g") for k in names) + " |")
    for key in ("dtssd", "clip_mad"):
        if any(key in r for r in results.values()):
            lines.append(f"| {key} (lower is better) | " + " | ".join(_cell(results[k].get(key), ".4g") for k in names)
                         + " |")
    for key in sorted({k for r in results.values() for k in r if k.startswith("fps_")}):
        lines.append(f"| {key} | " + " | ".join(_cell(results[k].get(key), ".1f") for k in names) + " |")
    lines += ["", bench.format_table(rows), ""] if rows else ["", "(fps not measured: evaluate.fps_frames is 0)", ""]
    return "\n".join(lines)


def _json_number(value):
    """NaN (nothing scored, fps not measured) -> None, so metrics.json stays valid JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


class NoPairs(ValueError):
    """Nothing to evaluate: no image has a usable mask (a user error, exit 2)."""


def run(params: EvaluateParams, model: str, images: Path, masks: Path, out: Path,
        baselines: list[str] = (), params_path: Path | str = "params.yaml", clips: Path | None = None,
        clip_split: str = "test") -> dict:
    """Evaluate ``model`` (and ``baselines``) on the pairs; write the report files; returns metrics.json."""
    pairs = match_pairs(Path(images), Path(masks))
    if params.max_images:
        pairs = pairs[:params.max_images]
    if not any(p.error is None for p in pairs):
        raise NoPairs(f"{images}, {masks}: no image has a mask with the same file stem ({len(pairs)} unmatched "
                      "files); nothing to evaluate (check that the folders belong together)")
    names = [model] + [b for b in baselines if b != model]
    predictors = {name: load_predictor(name, params_path=params_path, max_threads=params.model_threads)
                  for name in names}
    results: dict[str, dict] = {}
    first_image = None
    for i, (name, predictor) in enumerate(predictors.items()):
        table, cases = score(predictor, pairs, keep=params.worst if i == 0 else 0)
        results[name] = summary(table)
        log.info("%s: %s", name, ", ".join(f"{k} {v:.4g}" for k, v in results[name].items()))
        if i == 0:
            out.mkdir(parents=True, exist_ok=True)
            io.write_parquet(out / "per_sample.parquet", table)
            io.write_png(out / "worst.png", contact_sheet(cases, table, params.tile_width))
            first_image = cases[-1][1] if cases else None
            for r in table[table["error"].notna()].itertuples(index=False):
                log.warning("not scored: %s (%s) %s", r.stem, r.error, r.detail)
            if results[name]["n"] == 0:
                raise NoPairs(f"{images}, {masks}: none of the {len(pairs)} pairs could be scored (reasons in "
                              f"{out / 'per_sample.parquet'}); nothing to evaluate")
    if clips is not None:
        frames = clip_frames(clips, clip_split)
        if not frames:
            log.warning("%s: no clips of split %r: dtSSD is not measured", clips, clip_split)
        for name, predictor in predictors.items():
            results[name].update(score_clips(predictor, frames))
    sizes = {s: bench.FRAME_SIZES[s] for s in params.fps_sizes}
    rows = bench.fps_table(predictors, frames=params.fps_frames, sizes=sizes, image=first_image) \
        if params.fps_frames else []
    for name in names:
        results[name].update(bench.fps_metrics(rows, name) if rows else {"fps": math.nan})
    results = {name: {k: _json_number(v) for k, v in r.items()} for name, r in results.items()}
    metrics = dict(results[model])
    io.write_json(out / "metrics.json", metrics)
    if len(names) > 1:
        fps = {}  # model -> size -> threads -> {fps, ms}: nested dicts, so `dvc metrics` can read it
        for r in rows:
            fps.setdefault(r["model"], {}).setdefault(r["size"], {})[r["threads"]] = {"fps": r["fps"], "ms": r["ms"]}
        io.write_json(out / "comparison.json", {"models": results, "fps": fps})
        io.write_text(out / "comparison.md", comparison_markdown(results, rows, results[model]["n"]))
    return metrics


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=".pt checkpoint, .onnx file or a baseline name")
    parser.add_argument("--images", type=Path, required=True, help="folder of images")
    parser.add_argument("--masks", type=Path, required=True, help="folder of masks (matched by stem)")
    parser.add_argument("--out", type=Path, required=True, help="report folder (metrics.json, ...)")
    parser.add_argument("--baselines", type=comma_list, default=[], help="comma-separated baselines to compare against, "
                        "e.g. mediapipe-selfie,mediapipe-landscape")
    parser.add_argument("--clips", type=Path, help="synthesize output with clips.parquet: adds dtssd and clip_mad")
    parser.add_argument("--clip-split", default="test", choices=["train", "val", "test"],
                        help="which clips to score (default: test)")


def _run(params: EvaluateParams, args: argparse.Namespace) -> dict:
    return run(params, args.model, args.images, args.masks, args.out, args.baselines or [], args.params, args.clips,
               args.clip_split)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training evaluate", __doc__, "evaluate", EvaluateParams, _add_args, _run, argv,
                      metrics_help="also write metrics.json's content here")
