"""The ensemble and each member against human masks, on a labelled store treated as unlabeled.

    .venv/bin/python benchmarks/ensemble_iou.py --store STORE [--split val] [--out /tmp/ensemble-iou]
        [--extra deeplab-aiseg,prisma] [--refine] [--params params.yaml]

STORE is a labelled sample store (python -m datasets ingest of ../shared/data/ccp-voc or
portraits-aisegment). Its samples of ``--split`` are copied (linked) into a store whose rows say
label_kind 'none' (no alpha): ``autolabel.run`` then labels them as it labels a folder of photos,
zoom crops from the ensemble's own people. Measured in the same run:
  ensemble   the params' ensemble (members, fitted fusion file) and each of its members
  baseline   the previous default: the three MediaPipe members, weighted vote (params' weights, threshold)
  extra      other members alone (``--extra``), full view
  refined    with ``--refine``: the ensemble refined by pymatting in its edge band (autolabel.refine)
  trust      ``clean`` on the unlabeled store: AUROC of the ensemble's own trust (label_quality) at
             finding its worse labels (IoU < 0.9 against the human mask), and the IoU of what it keeps
             vs what it sends to review
IoU and boundary IoU at alpha 0.5, MAD x1e3 (soft mattes: portraits). Writes OUT/ensemble_iou.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.
sys.path.insert(0, str(REPO / "benchmarks"))

from core import io  # noqa: E402
from core.config import load_section  # noqa: E402
from datasets.store import Store  # noqa: E402
from label_quality import auroc, split_store  # noqa: E402
from labeling import autolabel, clean, members as registry  # noqa: E402
from labeling.fusion import FusionParams  # noqa: E402
from labeling.refine import RefineParams  # noqa: E402
from labeling.score import figures  # noqa: E402

BAD_IOU = 0.9  # an ensemble label below this IoU against the human mask is a bad auto-label


def unlabeled_copy(labelled: Path, dst: Path) -> Path:
    """The same images as a store of label_kind 'none' (alpha, ignore and persons null)."""
    store = Store(labelled)
    rows = store.samples.assign(alpha=None, ignore=None, persons=pd.NA, label_kind="none")
    for row in rows.itertuples():
        io.link_or_copy(store.path(row.image), dst / row.image)
    io.write_parquet(dst / "samples.parquet", rows.astype({"persons": "Int64"}))
    io.write_parquet(dst / "quarantine.parquet", store.quarantine)
    return dst


def score_folders(truths: Store, labels: Path, folders: list[str]) -> pd.DataFrame:
    """Per sample and folder: iou, boundary_iou, mad of LABELS/<folder>/<id>.png against the store's alpha."""
    rows = []
    for row in truths.samples.itertuples():
        truth = truths.alpha(row)
        for folder in folders:
            rows.append({"id": row.id, "model": folder, **figures(io.read_mask(labels / folder / f"{row.id}.png"), truth)})
    return pd.DataFrame(rows)


def extra_members(params, truths: Store, names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        member = registry.get(name, params.settings)
        for row in truths.samples.itertuples():
            rows.append({"id": row.id, "model": name, **figures(member.predict(truths.image(row)), truths.alpha(row))})
    return pd.DataFrame(rows)


def table(per_sample: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {m: {k: round(float(g[k].mean()), 4) for k in ("iou", "boundary_iou", "mad")}
            for m, g in per_sample.groupby("model", sort=False)}


def trust_figures(quality: pd.DataFrame, ensemble_iou: pd.Series) -> dict:
    q = quality.set_index("id").join(ensemble_iou.rename("ensemble_iou"))
    bad = (q["ensemble_iou"] < BAD_IOU).to_numpy()
    kept = q["decision"] == "keep"
    return {"bad_share": round(float(bad.mean()), 4),
            "auroc": round(auroc(bad, -q["label_quality"].to_numpy()), 4) if 0 < bad.sum() < len(bad) else None,
            "decisions": q["decision"].value_counts().to_dict(),
            "kept_iou": round(float(q.loc[kept, "ensemble_iou"].mean()), 4) if kept.any() else None,
            "review_iou": round(float(q.loc[~kept, "ensemble_iou"].mean()), 4) if (~kept).any() else None,
            "bad_caught": int((bad & ~kept.to_numpy()).sum()), "bad": int(bad.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a labelled sample store")
    parser.add_argument("--split", default="val", help="samples of this split ('all': every one)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ensemble-iou"))
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--extra", default="deeplab-aiseg,prisma", help="other members scored alone ('' = none)")
    parser.add_argument("--refine", action="store_true", help="also the ensemble refined by pymatting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    params = load_section("autolabel", autolabel.AutolabelParams, args.params)
    clean_params = load_section("clean", clean.CleanParams, args.params)
    labelled = split_store(args.store, args.out / "labelled", args.split)
    unlabeled = unlabeled_copy(labelled, args.out / "unlabeled")
    truths = Store(labelled)
    report: dict = {"store": str(args.store), "split": args.split, "n": len(truths.samples),
                    "members": list(params.members), "fusion": params.fusion.method}
    start = time.perf_counter()
    metrics = autolabel.run(params, unlabeled, args.out / "labels")
    report["ensemble_seconds"] = round(time.perf_counter() - start, 1)
    report["zoom_crops"] = metrics["zoom_crops"]
    per_sample = score_folders(truths, args.out / "labels", [*params.members, autolabel.ENSEMBLE])
    baseline = dataclasses.replace(params, members=list(registry.DEFAULT), fusion=FusionParams(
        method="weighted", weights=params.fusion.weights, vote_threshold=params.fusion.vote_threshold))
    autolabel.run(baseline, unlabeled, args.out / "labels-baseline")
    base = score_folders(truths, args.out / "labels-baseline", [autolabel.ENSEMBLE]).assign(model="baseline")
    parts = [per_sample, base]
    if args.refine:
        refined = dataclasses.replace(params, refine=dataclasses.replace(params.refine, enabled=True))
        autolabel.run(refined, unlabeled, args.out / "labels-refined")
        parts.append(score_folders(truths, args.out / "labels-refined", [autolabel.ENSEMBLE]).assign(model="refined"))
    extra = [m for m in args.extra.split(",") if m and m not in params.members]
    if extra:
        parts.append(extra_members(params, truths, extra))
    scores = pd.concat(parts, ignore_index=True)
    report["iou"] = table(scores)
    clean.run(clean_params, unlabeled, args.out / "labels")
    ens = per_sample[per_sample["model"] == autolabel.ENSEMBLE].set_index("id")["iou"]
    report["trust"] = trust_figures(pd.read_parquet(args.out / "labels" / "quality.parquet"), ens)
    best = max(report["iou"][m]["iou"] for m in [*params.members, *extra])
    report["ensemble_above_every_member"] = report["iou"][autolabel.ENSEMBLE]["iou"] > best
    scores.to_parquet(args.out / "per_sample.parquet")
    io.write_json(args.out / "ensemble_iou.json", report)
    print(f"{args.store.name} ({args.split}, n={report['n']}), as unlabeled photos:")
    for model, f in sorted(report["iou"].items(), key=lambda kv: -kv[1]["iou"]):
        print(f"  {model:22s} IoU {f['iou']:.4f}  boundary IoU {f['boundary_iou']:.4f}  MAD {f['mad']:6.1f}")
    print(json.dumps({k: v for k, v in report.items() if k != "iou"}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
