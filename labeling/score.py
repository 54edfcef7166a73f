"""`python -m labeling score`: what each member (and the ensemble) is worth on a team's trusted masks.

```
python -m labeling score --images DIR --masks DIR --out OUT [--members a,b,...] [--params params.yaml]

OUT/score.json          n, and per model (each member, 'ensemble'): mean iou, boundary_iou, mad (x1e3)
OUT/per_sample.parquet  stem, model, iou, boundary_iou, mad (x1e3)
```
Masks are matched to images by file stem, hard or soft (uint8, 255 = person). A mask whose size
differs from its image with the same aspect ratio is resized (nearest) with a warning; any other
mismatch, or an image without a mask, is reported in score.json's ``skipped``, not fatal. Members
see only the image, as for a photo without a label: zoom crops around the ensemble's own people,
SAM prompted by the other members' fusion, so the truth never helps the model being scored.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from core import io
from datasets import masks
from core.cli import comma_list, progress, stage_main
from datasets.pairs import IMAGE_SUFFIXES, fit_mask
from labeling.autolabel import ENSEMBLE, AutolabelParams
from labeling.ensemble import Ensemble

log = logging.getLogger(__name__)


def pairs(images: Path, masks_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[dict]]:
    """([(stem, image, mask)], [skipped {stem, reason}]) matched by file stem."""
    mask_by_stem = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    matched, skipped = [], []
    for image in sorted(images.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if image.stem in mask_by_stem:
            matched.append((image.stem, image, mask_by_stem[image.stem]))
        else:
            skipped.append({"stem": image.stem, "reason": "no_mask", "detail": f"{image}: no mask named {image.stem}.*"})
    return matched, skipped


def figures(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """iou, boundary_iou (hard, at 0.5) and mad (mean |alpha difference| x 1e3) of one prediction."""
    p, t = masks.to_float(pred), masks.to_float(truth)
    return {"iou": masks.iou(p, t), "boundary_iou": masks.boundary_iou(p, t),
            "mad": float(np.abs(p - t).mean() * 1e3)}


def run(params: AutolabelParams, images: Path | str, masks_dir: Path | str, out: Path | str) -> dict:
    """Score each member of ``params.members`` and the ensemble; writes OUT/score.json and OUT/per_sample.parquet."""
    images, masks_dir, out = Path(images), Path(masks_dir), Path(out)
    # the truth must not guide the models being scored: no label is given to them
    ensemble = Ensemble.from_params(dataclasses.replace(params, sam_prompt="ensemble"))
    matched, skipped = pairs(images, masks_dir)
    rows = []
    for stem, image_path, mask_path in progress(matched, "score", len(matched)):
        try:
            rgb, truth = io.read_image(image_path), io.read_mask(mask_path)
        except io.BadFile as e:
            skipped.append({"stem": stem, "reason": e.reason, "detail": e.detail})
            continue
        truth = fit_mask(truth, rgb.shape[:2], mask_path)
        if truth is None:
            skipped.append({"stem": stem, "reason": "size_mismatch",
                            "detail": f"{mask_path}: size differs from {image_path} in aspect ratio"})
            continue
        result = ensemble.predict(rgb)
        for model, alpha in [*result.alphas.items(), (ENSEMBLE, result.alpha)]:
            rows.append({"stem": stem, "model": model, **figures(alpha, truth)})
    per_sample = pd.DataFrame(rows, columns=["stem", "model", "iou", "boundary_iou", "mad"])
    summary = {
        "n": len(matched) - sum(1 for s in skipped if s["reason"] != "no_mask"),
        "models": {m: {k: float(g[k].mean()) for k in ("iou", "boundary_iou", "mad")}
                   for m, g in per_sample.groupby("model", sort=False)},
        "skipped": skipped,
    }
    io.write_parquet(out / "per_sample.parquet", per_sample)
    io.write_json(out / "score.json", summary)
    for model, s in summary["models"].items():
        log.info("score %-22s IoU %.3f  boundary IoU %.3f  MAD %.1f", model, s["iou"], s["boundary_iou"], s["mad"])
    return summary


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=Path, help="folder of images")
    parser.add_argument("--masks", required=True, type=Path, help="folder of trusted masks, same stems")
    parser.add_argument("--out", required=True, type=Path, help="folder for score.json and per_sample.parquet")
    parser.add_argument("--members", type=comma_list, help="comma-separated members (default: autolabel.members in params)")


def _run(params: AutolabelParams, args: argparse.Namespace) -> dict:
    summary = run(params, args.images, args.masks, args.out)
    return {k: v for k, v in summary.items() if k != "skipped"}


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling score", __doc__, "autolabel", AutolabelParams, _add_args, _run, argv,
                      overrides={"members": "members"}, metrics_help="also write score.json's figures here")
