"""Stage `clean`: score every label against the ensemble and the image, flag the doubtful, decide.

```
python -m labeling clean --store STORE --labels LABELS [--params params.yaml] [--metrics PATH]

LABELS/quality.parquet     id, iou_<member> (each member vs the ensemble), agreement (mean pairwise
                           member IoU), gt_iou, gt_boundary_iou, label_quality ([0, 1], low = the label
                           is probably wrong), flagged, flags (reason codes), decision
LABELS/refined/<id>.png    the label refined with pymatting in its edge band (decision 'refine' only;
                           the folder exists, possibly empty, after every run)
```
Decisions, first match wins (thresholds in params `clean.decide`):
  keep     not flagged
  drop     label_quality < drop_below and nothing to replace it with: the ensemble sees no person
           either (an empty or hopeless label on an image without a usable person)
  refine   every flag is a boundary flag (refine_flags) and gt_iou >= refine_min_iou
  replace  the ensemble is sure here (agreement >= replace_min_agreement, no members_disagree)
  review   the rest: a person should look
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from datasets import io, masks
from datasets.cli import progress, setup_logging, write_metrics
from datasets.config import load_section
from datasets.store import Store
from labeling.autolabel import DISAGREEMENT, ENSEMBLE, RESERVED, member_path
from labeling.quality import CHECKS, Assessment, QualityParams, assess
from labeling.refine import RefineParams, refine

log = logging.getLogger(__name__)
DECISIONS = ("keep", "refine", "replace", "review", "drop")
FLAGS = CHECKS + ("members_disagree",)
REFINED = "refined"


@dataclass(frozen=True)
class DecideParams:
    flag_below: float = 0.5  # label_quality below this -> flagged (sent to people or fixed)
    drop_below: float = 0.1  # flagged with quality below this and an empty ensemble -> drop
    drop_ensemble_area: float = 0.0005  # the ensemble is empty below this share of the image
    refine_flags: list[str] = field(default_factory=lambda: ["off_edges"])  # flags a band refinement can fix
    refine_min_iou: float = 0.7  # refine only labels this close to the ensemble
    replace_min_agreement: float = 0.7  # replace by the ensemble only where members agree this well

    def __post_init__(self):
        unknown = sorted(set(self.refine_flags) - set(FLAGS))
        if unknown:
            raise ValueError(f"`refine_flags` has unknown flag(s) {unknown}; known: {list(FLAGS)}")


@dataclass(frozen=True)
class CleanParams:
    quality: QualityParams = field(default_factory=QualityParams)  # scores, evidence ramps, flag thresholds
    decide: DecideParams = field(default_factory=DecideParams)  # decision rules
    refine: RefineParams = field(default_factory=RefineParams)  # pymatting for 'refine' decisions


def label_members(labels: Path) -> list[str]:
    """The member folders autolabel wrote under LABELS (sorted), or an error if there is no ensemble."""
    labels = Path(labels)
    if not (labels / ENSEMBLE).is_dir():
        raise FileNotFoundError(f"{labels}: no {ENSEMBLE}/ folder (run `python -m labeling autolabel "
                                f"--out {labels}` first)")
    return sorted(p.name for p in labels.iterdir() if p.is_dir() and p.name not in RESERVED
                  and not p.name.startswith(".") and any(p.glob("*.png")))


def decide(a: Assessment, params: DecideParams, flag_below: float | None = None) -> tuple[bool, str]:
    """(flagged, decision) for one assessment, by the rules in the module docstring."""
    flagged = a.label_quality < (params.flag_below if flag_below is None else flag_below) or bool(
        set(a.flags) - {"members_disagree"})
    if not flagged:
        return False, "keep"
    ensemble_area = a.measures.get("ensemble_area", 0.0)
    if a.label_quality < params.drop_below and ensemble_area < params.drop_ensemble_area:
        return True, "drop"
    ensemble_usable = ensemble_area > 0 and "members_disagree" not in a.flags
    label_flags = set(a.flags) - {"members_disagree"}
    if label_flags and label_flags <= set(params.refine_flags) and a.gt_iou >= params.refine_min_iou:
        return True, "refine"
    if ensemble_usable and a.agreement >= params.replace_min_agreement:
        return True, "replace"
    return True, "review"


def clean_sample(store: Store, row, labels: Path, names: list[str], params: CleanParams) -> tuple[dict, Assessment]:
    """Assess one sample, write its refined label if the decision is 'refine'; the quality row."""
    ensemble_file = member_path(labels, ENSEMBLE, row.id)
    if not ensemble_file.is_file():
        raise FileNotFoundError(f"{ensemble_file}: no ensemble alpha for sample {row.id} (autolabel's "
                                "output does not match this store: re-run autolabel)")
    rgb, gt = store.image(row), store.alpha(row)
    ignore = store.ignore(row)
    valid = None if ignore is None else ignore < 128
    fused = io.read_mask(ensemble_file)
    disagreement = io.read_mask(member_path(labels, DISAGREEMENT, row.id))
    members = {n: io.read_mask(member_path(labels, n, row.id)) for n in names}
    a = assess(gt, fused, disagreement, members, rgb, params.quality, valid)
    flagged, decision = decide(a, params.decide)
    if decision == "refine":
        refined = refine(rgb, gt, params.refine, guide=fused)
        if ignore is not None:  # where no label speaks, keep the label as it was
            refined[~valid] = masks.to_float(gt)[~valid]
        io.write_png(member_path(labels, REFINED, row.id), masks.to_uint8(refined))
    record = {"id": row.id, **{f"iou_{n}": a.member_iou[n] for n in names}, "agreement": a.agreement,
              "gt_iou": a.gt_iou, "gt_boundary_iou": a.gt_boundary_iou, "label_quality": a.label_quality,
              "flagged": flagged, "flags": list(a.flags) if flagged else [], "decision": decision}
    return record, a


def quality_frame(records: list[dict], names: list[str]) -> pd.DataFrame:
    columns = ["id", *[f"iou_{n}" for n in names], "agreement", "gt_iou", "gt_boundary_iou", "label_quality",
               "flagged", "flags", "decision"]
    df = pd.DataFrame(records, columns=columns)
    floats = [c for c in columns if c.startswith("iou_")] + ["agreement", "gt_iou", "gt_boundary_iou", "label_quality"]
    return df.astype({c: "float64" for c in floats} | {"flagged": "bool"})


def run(params: CleanParams, store_root: Path | str, labels: Path | str) -> dict:
    """Write LABELS/quality.parquet (and refined/ labels); returns counts per decision and flag."""
    store, labels = Store(store_root), Path(labels)
    names = label_members(labels)
    log.info("clean: members found in %s: %s", labels, names)
    (labels / REFINED).mkdir(exist_ok=True)  # always there (possibly empty): DVC tracks it as an output
    records = []
    for row in progress(store.samples.itertuples(), "clean", len(store.samples)):
        record, _ = clean_sample(store, row, labels, names, params)
        records.append(record)
    df = quality_frame(records, names)
    refined = {f"{r['id']}.png" for r in records if r["decision"] == "refine"}
    for stale in (labels / REFINED).glob("*.png"):  # from an earlier run whose decisions differed
        if stale.name not in refined:
            stale.unlink()
    io.write_parquet(labels / "quality.parquet", df)
    decisions = Counter(df["decision"])
    flags = Counter(f for fl in df["flags"] for f in fl)
    metrics = {
        "n": int(len(df)),
        "members": names,
        "flagged": int(df["flagged"].sum()),
        "decisions": {d: int(decisions.get(d, 0)) for d in DECISIONS},
        "flags": {f: int(flags.get(f, 0)) for f in FLAGS},
        "label_quality_mean": float(df["label_quality"].mean()) if len(df) else None,
        "gt_iou_mean": float(df["gt_iou"].mean()) if len(df) else None,
        "agreement_mean": float(df["agreement"].mean()) if len(df) else None,
    }
    log.info("clean: %d labels, %d flagged, decisions %s", metrics["n"], metrics["flagged"], metrics["decisions"])
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labeling clean", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, type=Path, help="sample store (python -m datasets ingest)")
    parser.add_argument("--labels", required=True, type=Path, help="LABELS folder written by autolabel")
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--metrics", type=Path, help="write counts per decision and flag here (JSON)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    params = load_section("clean", CleanParams, args.params)
    write_metrics(args.metrics, run(params, args.store, args.labels))
    return 0

