"""How good the ensemble is, and how well label_quality finds bad labels, on real COCO person labels.

    .venv/bin/python benchmarks/label_quality.py [--coco ../shared/data/coco128] [--out /tmp/label-quality]
        [--members mediapipe-selfie,...] [--fraction 0.2] [--seed 0]
    .venv/bin/python benchmarks/label_quality.py --store STORE [--split val] ...   (any labelled store, e.g.
        ccp-voc or portraits-aisegment ingested with python -m datasets ingest, instead of coco128)

1. Reads the COCO instances JSON with pycocotools, merges each image's person instances into one
   label (crowd regions -> ignore), and writes a sample store (datasets.store) of those images.
2. Runs `autolabel` and `clean` on it: each member's and the ensemble's IoU against the COCO label,
   with and without zoom crops; how label_quality ranks the labels; a contact sheet of the worst ten
   (OUT/worst10.png: image, label in green, ensemble contour in red).
3. Corrupts a fraction of the labels (dilate, erode, shift, cut off a part, replace by the boxes, add
   a blob; equal shares, seeded), re-runs autolabel + clean on that store, and reports the AUROC of
   label_quality (corrupted = positive, lower quality = more suspicious) and the recall / precision
   of `flagged`, overall and per corruption.
Prints the figures and writes OUT/label_quality.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.

from core import io  # noqa: E402
from datasets import masks  # noqa: E402
from core.config import load_section  # noqa: E402
from datasets.store import Sample, Store, sample_id, write_tables  # noqa: E402
from labeling import autolabel, clean  # noqa: E402
from labeling.ensemble import Ensemble, Prediction  # noqa: E402
from labeling.members.zoom import ZoomParams  # noqa: E402

log = logging.getLogger("label_quality")


# ---------------------------------------------------------------- COCO -> store
def coco_store(coco: Path, root: Path) -> Path:
    """A sample store of the COCO images with persons: merged person masks, crowd -> ignore."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    ann_file = next((coco / "annotations").glob("instances_*.json"))
    api = COCO(str(ann_file))
    person = api.getCatIds(catNms=["person"])
    samples = []
    for image_id in sorted(api.getImgIds(catIds=person)):
        info = api.loadImgs(image_id)[0]
        h, w = info["height"], info["width"]
        label, ignore = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        persons = 0
        for ann in api.loadAnns(api.getAnnIds(imgIds=image_id, catIds=person, iscrowd=None)):
            rle = api.annToRLE(ann)
            m = mask_utils.decode(rle).astype(bool)
            if ann.get("iscrowd", 0):
                ignore[m] = 255
            else:
                label[m] = 255
                persons += 1
        if not persons:
            continue
        origin = f"train2017/{info['file_name']}"
        sid = sample_id("coco128", origin)
        io.link_or_copy(coco / origin, root / "images" / f"{sid}.jpg")
        io.write_png(root / "alpha" / f"{sid}.png", label)
        ignore_rel = None
        if ignore.any():
            io.write_png(root / "ignore" / f"{sid}.png", ignore)
            ignore_rel = f"ignore/{sid}.png"
        samples.append(Sample(id=sid, source="coco128", split="train", image=f"images/{sid}.jpg",
                              alpha=f"alpha/{sid}.png", ignore=ignore_rel, width=w, height=h,
                              persons=persons, label_kind="mask", origin=origin))
    write_tables(root, samples, [])
    return root


# ---------------------------------------------------------------- corruptions
def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _size(m: np.ndarray) -> float:
    return float(np.sqrt(max(np.count_nonzero(m), 1)))


def dilate(m, rng, strength=1.0):
    return cv2.dilate(m.astype(np.uint8), _disk(max(2, round(0.05 * strength * _size(m))))).astype(bool)


def erode(m, rng, strength=1.0):
    return cv2.erode(m.astype(np.uint8), _disk(max(2, round(0.05 * strength * _size(m))))).astype(bool)


def shift(m, rng, strength=1.0):
    d, a = 0.15 * strength * _size(m), rng.uniform(0, 2 * np.pi)
    M = np.float32([[1, 0, round(d * np.cos(a))], [0, 1, round(d * np.sin(a))]])
    return cv2.warpAffine(m.astype(np.uint8), M, (m.shape[1], m.shape[0]), flags=cv2.INTER_NEAREST).astype(bool)


def cut(m, rng, strength=1.0):
    """Remove 25-35% of the label's box extent from one side (a head, feet, an arm, a person)."""
    ys, xs = np.nonzero(m)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    f = min(0.6, rng.uniform(0.25, 0.35) * strength)
    side, out = rng.choice(["top", "bottom", "left", "right"]), m.copy()
    if side == "top":
        out[:y0 + int(f * (y1 - y0))] = False
    elif side == "bottom":
        out[y1 - int(f * (y1 - y0)):] = False
    elif side == "left":
        out[:, :x0 + int(f * (x1 - x0))] = False
    else:
        out[:, x1 - int(f * (x1 - x0)):] = False
    return out


def box(m, rng, strength=1.0):
    """Each part (>= 1% of the label) replaced by its bounding box (a detector's box as a mask)."""
    n, _, st, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8))
    out = m.copy()
    for i in range(1, n):
        x, y, w, h, a = st[i]
        if a >= 0.01 * m.sum():
            out[y:y + h, x:x + w] = True
    return out


def blob(m, rng, strength=1.0):
    """An ellipse of 25-40% of the label's area centred on a random point of its contour."""
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=len)[:, 0]
    p = c[rng.integers(len(c))]
    axis, ratio = np.sqrt(m.sum() * strength * rng.uniform(0.25, 0.4) / np.pi), rng.uniform(0.6, 1.6)
    out = np.zeros(m.shape, np.uint8)
    cv2.ellipse(out, (int(p[0]), int(p[1])), (max(2, int(axis * ratio)), max(2, int(axis / ratio))),
                rng.uniform(0, 180), 0, 360, 1, -1)
    return m | out.astype(bool)


CORRUPTIONS = {"dilate": dilate, "erode": erode, "shift": shift, "cut": cut, "box": box, "blob": blob}
MAX_IOU = 0.9  # a corruption must move the label at least this far from the original (IoU <= 0.9)


def corrupt(kind: str, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``kind`` applied to ``m`` (bool), redrawn with 1.25x the strength until IoU(result, m) <= MAX_IOU.

    Boxes are not redrawn: a label that already fills its box is barely changed by one (it stays).
    """
    out = m
    for attempt in range(8):
        out = CORRUPTIONS[kind](m, rng, 1.25 ** attempt)
        if kind == "box" or masks.iou(out, m) <= MAX_IOU:
            break
    return out


def corrupt_store(src: Path, dst: Path, fraction: float, seed: int) -> dict[str, str]:
    """Copy the store to ``dst`` with ``fraction`` of its labels corrupted; returns id -> corruption."""
    store = Store(src)
    rng = np.random.default_rng(seed)
    ids = list(store.samples["id"])
    chosen = rng.permutation(len(ids))[:round(fraction * len(ids))]
    kinds = {ids[i]: list(CORRUPTIONS)[j % len(CORRUPTIONS)] for j, i in enumerate(chosen)}
    samples = []
    for row in store.samples.itertuples():
        io.link_or_copy(src / row.image, dst / row.image)
        if row.ignore is not None and not pd.isna(row.ignore):
            io.link_or_copy(src / row.ignore, dst / row.ignore)
        label = store.alpha(row) >= 128
        if row.id in kinds:
            label = corrupt(kinds[row.id], label, rng)
        io.write_png(dst / row.alpha, label.astype(np.uint8) * 255)
        samples.append(Sample(**{k: getattr(row, k) for k in Sample.__dataclass_fields__}))
    write_tables(dst, samples, [])
    return kinds


# ---------------------------------------------------------------- figures
def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties count half."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def member_ious(store_root: Path, labels: Path, names: list[str]) -> dict[str, float]:
    """Mean IoU of each member's and the ensemble's alpha against the store's labels (ignore excluded)."""
    store = Store(store_root)
    sums = defaultdict(list)
    for row in store.samples.itertuples():
        gt = store.alpha(row)
        ignore = store.ignore(row)
        valid = None if ignore is None else ignore < 128
        for name in [*names, autolabel.ENSEMBLE]:
            sums[name].append(masks.iou(io.read_mask(autolabel.member_path(labels, name, row.id)), gt, valid))
    return {k: round(float(np.mean(v)), 4) for k, v in sums.items()}


def contact_sheet(store_root: Path, labels: Path, ids: list[str], path: Path, captions: dict[str, str]) -> None:
    """Tiles of image + label (green fill) + ensemble contour (red), 5 per row."""
    store = Store(store_root)
    rows = store.samples.set_index("id").loc[ids]
    tiles = []
    for sid, row in zip(ids, rows.itertuples()):
        rgb, gt = store.image(row), store.alpha(row) >= 128
        fused = io.read_mask(autolabel.member_path(labels, autolabel.ENSEMBLE, sid)) >= 128
        view = rgb.astype(np.float32)
        view[gt] = 0.5 * view[gt] + 0.5 * np.array([0, 255, 0])
        view = view.astype(np.uint8)
        contours, _ = cv2.findContours(fused.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(view, contours, -1, (255, 0, 0), max(1, rgb.shape[1] // 200))
        scale = 256 / rgb.shape[1]
        view = cv2.resize(view, (256, int(rgb.shape[0] * scale)))
        tile = np.zeros((230, 256, 3), np.uint8)
        tile[:min(200, view.shape[0])] = view[:200]
        cv2.putText(tile, captions.get(sid, sid)[:42], (2, 220), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        tiles.append(tile)
    while len(tiles) % 5:
        tiles.append(np.zeros_like(tiles[0]))
    io.write_png(path, np.vstack([np.hstack(tiles[i:i + 5]) for i in range(0, len(tiles), 5)]))


def cached_autolabel(params, store_root: Path, labels: Path, cache: Path) -> None:
    """autolabel's LABELS (the ensemble of ``params.members``), with each image's member alphas cached
    under ``cache`` by (id, members, zoom windows).

    The members see the label only through the zoom windows it gives, so a corrupted label whose
    windows equal the clean one's reuses its alphas; any other label runs the members (honest: a
    boxed or shifted label zooms elsewhere). Member alphas are cached as uint8, as autolabel writes them.
    """
    import hashlib

    from labeling.members.zoom import crop_windows

    store = Store(store_root)
    if params.fusion.method == "learned":
        raise ValueError("cached_autolabel supports the weighted and file fusions only")
    ensemble = Ensemble.from_params(params)
    names = ensemble.names
    for row in store.samples.itertuples():
        rgb, gt = autolabel.load_sample(store, row, True)
        windows = crop_windows(gt, params.zoom) if gt is not None else []
        if gt is None and params.zoom.enabled:  # no label: the crops go where the ensemble's fusion says
            windows = ("ensemble", params.zoom, params.fusion)
        key = hashlib.sha1(repr((names, windows)).encode()).hexdigest()[:12]
        path = cache / f"{row.id}-{key}.npz"
        if path.is_file():
            alphas = dict(np.load(path))
        else:
            alphas = {n: autolabel.to_uint8(a) for n, a in ensemble.predict(rgb, gt, fuse=False).alphas.items()}
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **alphas)
        autolabel.write_sample(labels, row.id, rgb, Prediction({n: alphas[n] for n in names}), ensemble)


def split_store(src: Path, dst: Path, split: str) -> Path:
    """A store of ``src``'s samples of ``split`` (''/'all': every sample), files linked, not copied."""
    store = Store(src)
    rows = store.samples if split in ("", "all") else store.samples[store.samples["split"] == split]
    for row in rows.itertuples():
        for rel in (row.image, row.alpha, row.ignore):
            if isinstance(rel, str):
                io.link_or_copy(store.path(rel), dst / rel)
    io.write_parquet(dst / "samples.parquet", rows.reset_index(drop=True))
    io.write_parquet(dst / "quarantine.parquet", store.quarantine)
    return dst


def label_and_clean(params, clean_params, store_root: Path, labels: Path,
                    reuse: bool = False, cache: Path | None = None) -> pd.DataFrame:
    """autolabel (the ensemble of ``params.members``) and clean on ``store_root``; clean's quality table."""
    if not (reuse and (labels / autolabel.ENSEMBLE).is_dir()):
        if cache is not None:
            cached_autolabel(params, store_root, labels, cache)
        else:
            autolabel.run(params, store_root, labels)
    clean.run(clean_params, store_root, labels)
    return pd.read_parquet(labels / "quality.parquet")


def precision_at_recall(bad: np.ndarray, suspicion: np.ndarray, recall: float) -> float:
    """Precision of flagging the most suspicious labels until ``recall`` of the bad ones are caught."""
    order = np.argsort(-suspicion, kind="stable")
    caught = np.cumsum(bad[order])
    k = int(np.searchsorted(caught, recall * bad.sum() - 1e-9)) + 1
    return float(caught[k - 1] / k)


def figures(qc: pd.DataFrame) -> dict:
    """AUROC of -label_quality, recall / precision of `flagged`, per-kind AUROC (kind vs the clean labels)."""
    bad = (qc.kind != "clean").to_numpy()
    suspicion = -qc.label_quality.to_numpy()
    flagged = qc.flagged.to_numpy()
    tp = int((flagged & bad).sum())
    clean_rows = qc.kind == "clean"
    return {
        "auroc": round(auroc(bad, suspicion), 4),
        "recall": round(tp / max(bad.sum(), 1), 4),
        "precision": round(tp / max(flagged.sum(), 1), 4),
        "flagged": int(flagged.sum()),
        "precision_at_recall_0.9": round(precision_at_recall(bad, suspicion, 0.9), 4),
        "per_kind_auroc": {k: round(auroc((qc.kind == k).to_numpy()[(qc.kind == k) | clean_rows],
                                          suspicion[((qc.kind == k) | clean_rows).to_numpy()]), 4)
                           for k in CORRUPTIONS if (qc.kind == k).any()},
        "per_kind": {k: {"n": int((qc.kind == k).sum()), "flagged": int(qc.flagged[qc.kind == k].sum())}
                     for k in CORRUPTIONS},
        "corrupted_reasons": {k: sorted({f for fl in qc[qc.kind == k]["flags"] for f in fl}) for k in CORRUPTIONS},
        "clean_flagged_reasons": qc[~bad & flagged]["flags"].explode().value_counts().to_dict(),
    }


def corruption_run(params, clean_params, store_root: Path, out: Path, fraction: float, seed: int,
                   suffix: str, reuse: bool, cache: Path | None = None, modes: tuple[str, ...] = (),
                   cv_train: dict | None = None, cv_folds: int = 5) -> dict:
    """Corrupt ``fraction`` of the labels, autolabel + clean that store; AUROC, recall, precision.

    ``modes``: clean.scorer modes to compare on the same corrupted store (the params' mode first);
    ``cv_train`` (image_examples of the original store): also a fixed-weights scorer cross-validated by image.
    """
    kinds = corrupt_store(store_root, out / f"store-corrupt{suffix}", fraction, seed)
    qc = label_and_clean(params, clean_params, out / f"store-corrupt{suffix}", out / f"labels-corrupt{suffix}",
                         reuse, cache)
    qc["kind"] = qc.id.map(kinds).fillna("clean")
    original, damaged = Store(store_root), Store(out / f"store-corrupt{suffix}")
    corrupted_iou = [masks.iou(damaged.alpha(r), original.alpha(r)) for r in damaged.samples.itertuples() if r.id in kinds]
    result = {"seed": seed, "n_corrupted": int((qc.kind != "clean").sum()),
              "iou_corrupted_vs_original": round(float(np.mean(corrupted_iou)), 4), **figures(qc)}
    qc.to_parquet(out / f"quality-corrupt{suffix}.parquet")
    if not suffix:
        contact_sheet(out / "store-corrupt", out / "labels-corrupt", list(qc.sort_values("label_quality").id.head(15)),
                      out / "worst15-corrupt.png",
                      {r.id: f"{r.kind} q={r.label_quality:.2f} {','.join(r.flags)}" for r in qc.itertuples()})
    result["modes"] = {}
    if cv_train is not None:
        test = image_examples(clean_params, out / f"store-corrupt{suffix}", out / f"labels-corrupt{suffix}")
        result["modes"]["cv"] = cross_validated(clean_params, cv_train, test, kinds, cv_folds, seed)
    for mode in modes:
        if mode == clean_params.scorer.mode:
            continue
        other = dataclasses.replace(clean_params, scorer=dataclasses.replace(clean_params.scorer, mode=mode))
        q = label_and_clean(params, other, out / f"store-corrupt{suffix}", out / f"labels-corrupt{suffix}",
                            reuse=True)
        q["kind"] = q.id.map(kinds).fillna("clean")
        result["modes"][mode] = figures(q)
    return result


def image_examples(clean_params, store_root: Path, labels: Path) -> dict[str, tuple[list, list, np.ndarray]]:
    """id -> (clean rows, corrupted rows, the label's own feature row): per image, for image-level folds."""
    from labeling.scorer import features

    store, names = Store(store_root), clean.label_members(labels)
    out = {}
    for row in store.samples.itertuples():
        ex = clean.Examples()
        a = clean.assess_sample(store, row, labels, names, clean_params, ex)
        out[row.id] = (ex.clean, ex.bad, features(a))
    return out


def cross_validated(clean_params, train: dict, test: dict, kinds: dict[str, str], folds: int, seed: int) -> dict:
    """Fixed-weights scorer, cross-validated by image: fitted on the self-corruption of the ORIGINAL
    labels of (folds-1)/folds of the images, it scores the other images' (possibly corrupted) labels."""
    from labeling.scorer import fit

    ids = sorted(test)
    fold = {sid: k % folds for k, sid in enumerate(np.random.default_rng(seed).permutation(ids))}
    quality, flagged = {}, {}
    for k in range(folds):
        fit_ids = [i for i in ids if fold[i] != k]
        x_clean = np.array([r for i in fit_ids for r in train[i][0]])
        x_bad = np.array([r for i in fit_ids for r in train[i][1]])
        scorer = fit(x_clean, x_bad, clean_params.scorer)
        for i in ids:
            if fold[i] == k:
                quality[i] = float(scorer.quality(test[i][2])[0])
                flagged[i] = quality[i] < scorer.threshold
    q = pd.DataFrame({"id": ids, "label_quality": [quality[i] for i in ids], "flagged": [flagged[i] for i in ids],
                      "flags": [[] for _ in ids]})
    q["kind"] = q.id.map(kinds).fillna("clean")
    return figures(q)


def summary(runs: list[dict]) -> dict:
    """mean / min / max over seeds of the headline figures and of each kind's AUROC."""
    out = {k: {"mean": round(float(np.mean([r[k] for r in runs])), 4), "min": round(float(min(r[k] for r in runs)), 4),
               "max": round(float(max(r[k] for r in runs)), 4)}
           for k in ("auroc", "recall", "precision", "precision_at_recall_0.9")}
    out["per_kind_auroc_mean"] = {k: round(float(np.mean([r["per_kind_auroc"][k] for r in runs if k in r["per_kind_auroc"]])), 4)
                                  for k in CORRUPTIONS}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coco", type=Path, default=REPO.parent / "shared" / "data" / "coco128")
    parser.add_argument("--store", type=Path, help="a labelled sample store to use instead of coco128 "
                        "(e.g. ccp-voc or portraits-aisegment ingested with python -m datasets ingest)")
    parser.add_argument("--split", default="all", help="with --store: only this split (e.g. val)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/label-quality"))
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--members", help="comma-separated (default: autolabel.members)")
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="corruption draws (seeds seed, seed+1, ...)")
    parser.add_argument("--skip-nozoom", action="store_true", help="skip the run without zoom crops")
    parser.add_argument("--reuse", action="store_true", help="reuse OUT's stores and labels (re-run clean only)")
    parser.add_argument("--cache", type=Path, help="cache member alphas here (by image and zoom windows)")
    parser.add_argument("--cv-folds", type=int, default=0,
                        help="also evaluate fixed weights fitted on the original labels, cross-validated by image")
    parser.add_argument("--modes", default="checks",
                        help="other clean.scorer modes to compare on the same corrupted stores (comma-separated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    params = load_section("autolabel", autolabel.AutolabelParams, args.params)
    clean_params = load_section("clean", clean.CleanParams, args.params)
    names = args.members.split(",") if args.members else list(params.members)
    params = dataclasses.replace(params, members=names)  # the ensemble every autolabel run below labels with
    modes = tuple(m for m in args.modes.split(",") if m)
    out = args.out
    if args.reuse and (out / "store").is_dir():
        store_root = out / "store"
    elif args.store:
        store_root = split_store(args.store, out / "store", args.split)
    else:
        store_root = coco_store(args.coco, out / "store")
    n = len(Store(store_root).samples)
    report: dict = {"n": n, "members": names}

    if not args.skip_nozoom and not args.reuse:
        nozoom = dataclasses.replace(params, zoom=ZoomParams(enabled=False))
        if args.cache:
            cached_autolabel(nozoom, store_root, out / "labels-nozoom", args.cache)
        else:
            autolabel.run(nozoom, store_root, out / "labels-nozoom")
        report["iou_vs_coco_nozoom"] = member_ious(store_root, out / "labels-nozoom", names)
    q = label_and_clean(params, clean_params, store_root, out / "labels", args.reuse, args.cache)
    report["iou_vs_coco"] = member_ious(store_root, out / "labels", names)
    best_member = max(report["iou_vs_coco"][m] for m in names)
    report["ensemble_beats_best_member"] = report["iou_vs_coco"][autolabel.ENSEMBLE] > best_member
    report["clean_store"] = {"flagged": int(q.flagged.sum()), "decisions": q.decision.value_counts().to_dict(),
                             "label_quality_mean": round(float(q.label_quality.mean()), 4)}
    worst = q.sort_values("label_quality").head(10)
    report["worst10"] = [{"id": r.id, "label_quality": round(r.label_quality, 3), "gt_iou": round(r.gt_iou, 3),
                          "flags": list(r.flags), "origin": Store(store_root).samples.set_index("id").loc[r.id, "origin"]}
                         for r in worst.itertuples()]
    contact_sheet(store_root, out / "labels", list(worst.id), out / "worst10.png",
                  {r.id: f"q={r.label_quality:.2f} {','.join(r.flags)}" for r in worst.itertuples(index=False)})

    cv_train = image_examples(clean_params, store_root, out / "labels") if args.cv_folds else None
    runs = []
    for seed in range(args.seed, args.seed + args.repeats):
        suffix = "" if seed == args.seed else f"-{seed}"
        runs.append(corruption_run(params, clean_params, store_root, out, args.fraction, seed, suffix,
                                   args.reuse, args.cache, modes, cv_train, args.cv_folds))
    report["corrupted"] = runs[0]
    report["corrupted_repeats"] = {"scorer": clean_params.scorer.mode, **summary(runs),
                                   "seeds": list(range(args.seed, args.seed + args.repeats))}
    if args.cv_folds:
        report["corrupted_repeats_cv"] = summary([r["modes"]["cv"] for r in runs])
    for mode in modes:
        if mode != clean_params.scorer.mode:
            report[f"corrupted_repeats_{mode}"] = summary([r["modes"][mode] for r in runs])
    io.write_json(out / "label_quality.json", report)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
