"""Fit the ensemble's fusion on labelled stores: `python -m labeling fit-fusion --stores S [S ...] --out JSON`.

```
python -m labeling fit-fusion --stores data/stores/ccp-voc data/stores/portraits --out labeling/fusion_weights.json
    [--members a,b,...] [--split train] [--params params.yaml] [--max-samples 400]
```
(``python -m labeling.fit_fusion ...`` is the same command.)
Runs the members on each store's labelled samples of ``--split`` (full view only: the label must
not guide what is fitted) and fits a ``fusion.FusionModel``: a logistic regression of the label on
the members' clipped logits, over pixels drawn half uniformly and half from the band where the label
or the members change (where fusion decides anything), then the bias that maximises the mean IoU.
With ``--kinds`` (the default) one regression per scene kind too (portrait / full body by the 'all'
fusion's person box, split at ``--portrait-aspect``), used where a kind has ``--min-kind`` samples.
The file is versioned with the code (`autolabel.fusion.weights_file`; the autolabel and clean
stages depend on it in dvc.yaml). Refit it when the members change.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from datasets import masks
from core.cli import comma_list, progress, stage_main
from datasets.store import Store
from labeling import fusion, members as registry
from labeling.autolabel import AutolabelParams
from labeling.fusion import FusionModel, member_logits, scene_kind

log = logging.getLogger(__name__)
FIT_SIDE = 320  # samples are fitted at this longer side (IoU is a shape measure; the pixels are many)
BIAS_GRID = np.round(np.arange(-3.0, 3.01, 0.1), 2)

Sample = tuple[dict[str, np.ndarray], np.ndarray]  # ({member: alpha uint8 (H, W)}, truth uint8 (H, W))


def shrink(alpha: np.ndarray, side: int = FIT_SIDE) -> np.ndarray:
    scale = min(1.0, side / max(alpha.shape))
    if scale >= 1.0:
        return alpha
    size = (max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale)))
    return cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)


def draw_pixels(alphas: dict[str, np.ndarray], truth: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices: half uniform over the image, half from the band where the truth or a member changes."""
    edges = np.zeros(truth.shape, bool)
    kernel = np.ones((5, 5), np.uint8)
    for a in [truth, *alphas.values()]:
        hard = (a >= 128).astype(np.uint8)
        edges |= cv2.dilate(hard, kernel) != cv2.erode(hard, kernel)
    uniform = rng.choice(truth.size, size=min(count // 2, truth.size), replace=False)
    band = np.flatnonzero(edges)
    near = rng.choice(band, size=min(count - len(uniform), len(band)), replace=False) if len(band) else band
    return np.concatenate([uniform, near])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for any z


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 100) -> tuple[np.ndarray, float]:
    """(coef (D,), bias) of an L2-penalised logistic regression, classes weighted to equal total weight.

    x: (N, D) standardised features; y: (N,) 0/1. Newton steps (the problem is small and convex).
    """
    y = np.asarray(y, np.float64)
    if y.min() == y.max():
        raise ValueError(f"fit_logistic: both classes are needed, got only {int(y[0])}s ({len(y)} examples)")
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1.0 - y.mean()))
    reg = np.full(d + 1, float(l2))
    reg[-1] = 0.0  # no penalty on the bias
    w = np.zeros(d + 1)
    for _ in range(iters):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (weight * (p - y)) + reg * w
        hess = (xb * (weight * p * (1.0 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


def _regress(samples: Sequence[Sample], names: Sequence[str], pixels: int, l2: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows, target = [], []
    for alphas, truth in samples:
        take = draw_pixels(alphas, truth, pixels, rng)
        rows.append(np.stack([member_logits(alphas[n]).ravel()[take] for n in names], axis=1))
        target.append(truth.ravel()[take] >= 128)
    coef, bias = fit_logistic(np.concatenate(rows).astype(np.float64), np.concatenate(target).astype(np.float64), l2)
    return {"coef": {n: round(float(c), 5) for n, c in zip(names, coef)}, "bias": round(float(bias), 5)}


def mean_iou(model: FusionModel, samples: Sequence[Sample], kind: str | None = None) -> float:
    """Mean IoU of the model's fusion (``kind`` forced, or chosen per sample) against the truths."""
    ious = []
    for alphas, truth in samples:
        fused = model.combine({n: member_logits(alphas[n]) for n in model.members}, kind) if kind else \
            model.fuse(alphas)[0]
        ious.append(masks.iou(fused, truth))
    return float(np.mean(ious)) if ious else float("nan")


def _tune_bias(model: FusionModel, kind: str, samples: Sequence[Sample]) -> None:
    """Shift the kind's bias to the grid offset with the best mean IoU (the regression optimises log loss)."""
    base = model.kinds[kind]["bias"]
    scores = {}
    for offset in BIAS_GRID:
        model.kinds[kind]["bias"] = base + float(offset)
        scores[float(offset)] = mean_iou(model, samples, kind)
    best = max(scores, key=lambda o: (round(scores[o], 6), -abs(o)))
    model.kinds[kind]["bias"] = round(base + best, 5)


def fit(samples: Sequence[Sample], names: Sequence[str], kinds: bool = True, portrait_aspect: float = 1.9,
        min_kind: int = 20, pixels: int = 4000, l2: float = 1.0, seed: int = 0, fitted_on: str = "") -> FusionModel:
    """A FusionModel for ``names`` from labelled samples (member alphas and truths, uint8 at any size)."""
    if not samples:
        raise ValueError("fit_fusion: no labelled samples to fit on")
    samples = [({n: shrink(a[n]) for n in names}, shrink(t)) for a, t in samples]
    model = FusionModel(members=list(names), kinds={"all": _regress(samples, names, pixels, l2, seed)},
                        fitted_on=fitted_on)
    _tune_bias(model, "all", samples)
    if kinds:
        model.portrait_aspect = portrait_aspect
        by_kind: dict[str, list[Sample]] = {k: [] for k in fusion.SCENE_KINDS}
        for alphas, truth in samples:
            fused = model.combine({n: member_logits(alphas[n]) for n in names}, "all")
            by_kind[scene_kind(fused, portrait_aspect)].append((alphas, truth))
        for kind, group in by_kind.items():
            if len(group) >= min_kind:
                model.kinds[kind] = _regress(group, names, pixels, l2, seed)
                _tune_bias(model, kind, group)
            log.info("scene kind %s: %d samples%s", kind, len(group), "" if len(group) >= min_kind else
                     f" (fewer than {min_kind}: the 'all' weights serve it)")
        if len(model.kinds) == 1:
            model.portrait_aspect = None
    model.measured = {"fit_iou": round(mean_iou(model, samples), 5),
                      "member_fit_iou": {n: round(float(np.mean([masks.iou(a[n], t) for a, t in samples])), 5)
                                         for n in names},
                      "samples": len(samples)}
    return model


def store_samples(params: AutolabelParams, store_root: Path, split: str | None, max_samples: int) -> list[Sample]:
    """The full-view alphas of ``params.members`` and the labels of a store's labelled samples (``split``
    only, if given)."""
    store = Store(store_root)
    rows = store.samples[store.samples["label_kind"] != "none"]
    if split:
        rows = rows[rows["split"] == split]
    rows = rows.head(max_samples) if max_samples else rows
    settings = params.settings
    out = []
    for row in progress(list(rows.itertuples()), f"fit-fusion {store.root.name}", len(rows)):
        rgb = store.image(row)
        alphas = {n: masks.to_uint8(np.clip(registry.get(n, settings).predict(rgb), 0, 1)) for n in params.members}
        out.append((alphas, store.alpha(row)))
    return out


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stores", nargs="+", required=True, type=Path, help="labelled sample stores")
    parser.add_argument("--out", required=True, type=Path, help="the fusion weights JSON to write")
    parser.add_argument("--members", type=comma_list, help="comma-separated members (default: autolabel.members)")
    parser.add_argument("--split", default="train", help="fit on this split only ('' = every split)")
    parser.add_argument("--max-samples", type=int, default=400, help="per store (0 = all)")
    parser.add_argument("--no-kinds", action="store_true", help="one set of weights for every scene")
    parser.add_argument("--portrait-aspect", type=float, default=1.9,
                        help="person box height / width below which a scene is a portrait")
    parser.add_argument("--min-kind", type=int, default=20, help="samples a scene kind needs for its own weights")


def _run(params: AutolabelParams, args: argparse.Namespace) -> dict:
    """Fit on ``args.stores`` with the members of ``params``; write ``args.out``; its figures."""
    names = list(params.members)
    samples: list[Sample] = []
    for root in args.stores:
        samples += store_samples(params, root, args.split or None, args.max_samples)
    model = fit(samples, names, kinds=not args.no_kinds, portrait_aspect=args.portrait_aspect, min_kind=args.min_kind,
                fitted_on=", ".join(f"{r.name} ({args.split or 'all'})" for r in args.stores) + f": {len(samples)} samples")
    model.save(args.out)
    log.info("fusion weights written to %s: %s", args.out, model.measured)
    return model.measured


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling fit-fusion", __doc__, "autolabel", AutolabelParams, _add_args, _run, argv,
                      overrides={"members": "members"}, metrics_help="write the fitted file's figures here (JSON)")


if __name__ == "__main__":  # `python -m labeling.fit_fusion`, as `python -m labeling fit-fusion`
    from labeling.__main__ import main as labeling_main

    raise SystemExit(labeling_main(["fit-fusion", *sys.argv[1:]]))
