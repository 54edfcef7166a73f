"""Stage `clean`: score every label against the ensemble and the image, flag the doubtful, decide.

```
python -m labeling clean --store STORE --labels LABELS [--params params.yaml] [--metrics PATH]
python -m labeling clean --store STORE --labels LABELS --fit-scorer scorer.json   (fit the scorer only)

LABELS/quality.parquet     id, iou_<member> (each member vs the ensemble), agreement (mean pairwise
                           member IoU), gt_iou, gt_boundary_iou, label_quality ([0, 1], low = the label
                           is probably wrong), flagged, flags (reason codes), decision
LABELS/refined/<id>.png    the label refined with pymatting in its edge band (decision 'refine' only;
                           the folder exists, possibly empty, after every run)
```
``label_quality`` comes from the learned scorer (labeling/scorer.py, params `clean.scorer`): by
default fitted on this store's own labels at run time (self-corruption: the labels the checks
consider clean against corrupted copies of them; each label scored by a forest fitted without it),
which also sets the flag threshold; the checks
give the reasons (``flags``: the checks that fire, or the strongest one when none does). With
`scorer.mode: checks`, label_quality is the product of the checks' evidences and a firing check
flags on its own (the rules before the scorer).

Decisions, first match wins (thresholds in params `clean.decide`):
  keep     not flagged
  drop     label_quality < drop_below and nothing to replace it with: the ensemble sees no person
           either (an empty or hopeless label on an image without a usable person)
  refine   every flag is a boundary flag (refine_flags) and gt_iou >= refine_min_iou
  replace  the ensemble is sure here (agreement >= replace_min_agreement, no members_disagree)
  review   the rest: a person should look

Samples without a label (label_kind 'none', format images) are judged by the ensemble's own trust
(labeling/trust.py, params `clean.trust`): drop (the ensemble sees no person), keep (the ensemble's
label is trusted) or review; gt_iou and gt_boundary_iou are null, label_quality is the trust.
"""
from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from core import io
from datasets import masks
from core.cli import progress, stage_main
from datasets.store import Store
from labeling.autolabel import DISAGREEMENT, ENSEMBLE, RESERVED, member_path
from labeling import scorer as learned
from labeling.quality import CHECKS, Assessment, QualityParams, assess, image_gradient
from labeling.refine import RefineParams, refine
from labeling.scorer import Scorer, ScorerParams
from labeling.trust import DOUBTS, TrustParams, assess_unlabeled, decide_unlabeled, doubts

log = logging.getLogger(__name__)
DECISIONS = ("keep", "refine", "replace", "review", "drop")
FLAGS = tuple(dict.fromkeys(CHECKS + ("members_disagree",) + DOUBTS))
REFINED = "refined"


@dataclass(frozen=True)
class DecideParams:
    flag_below: float = 0.5  # scorer mode checks: label_quality below this -> flagged (learned modes: the scorer's threshold)
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
    scorer: ScorerParams = field(default_factory=ScorerParams)  # the learned label_quality (labeling/scorer.py)
    decide: DecideParams = field(default_factory=DecideParams)  # decision rules
    refine: RefineParams = field(default_factory=RefineParams)  # pymatting for 'refine' decisions
    trust: TrustParams = field(default_factory=TrustParams)  # label_kind 'none': the ensemble's own trust
    workers: int = 0  # threads assessing labels (0 = one per CPU); the outputs do not depend on it

    def __post_init__(self):
        if self.workers < 0:
            raise ValueError(f"`workers` should be >= 0 (0 = one per CPU), got {self.workers!r}")


def label_members(labels: Path) -> list[str]:
    """The member folders autolabel wrote under LABELS (sorted), or an error if there is no ensemble."""
    labels = Path(labels)
    if not (labels / ENSEMBLE).is_dir():
        raise FileNotFoundError(f"{labels}: no {ENSEMBLE}/ folder (run `python -m labeling autolabel "
                                f"--out {labels}` first)")
    return sorted(p.name for p in labels.iterdir() if p.is_dir() and p.name not in RESERVED
                  and not p.name.startswith(".") and any(p.glob("*.png")))


def decide(a: Assessment, params: DecideParams, flag_below: float | None = None,
           checks_flag: bool = True) -> tuple[bool, str]:
    """(flagged, decision) for one assessment, by the rules in the module docstring.

    flag_below: the flag threshold on label_quality (default ``params.flag_below``); checks_flag:
    a firing check flags on its own (scorer mode checks).
    """
    flagged = a.label_quality < (params.flag_below if flag_below is None else flag_below) or (
        checks_flag and bool(set(a.flags) - {"members_disagree"}))
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


def reasons(a: Assessment) -> list[str]:
    """The flags of a flagged label: the checks that fire, or else the one with the most evidence."""
    if set(a.flags) - {"members_disagree"}:
        return list(a.flags)
    strongest = max(CHECKS, key=lambda c: a.evidence.get(c, 0.0))
    return ([strongest] if a.evidence.get(strongest, 0.0) > 0 else []) + list(a.flags)


@dataclass
class Examples:
    """Feature rows for fitting the scorer: the store's clean-looking labels and corrupted copies,
    with the sample id of each row (``clean_ids``, ``bad_ids``)."""
    clean: list = field(default_factory=list)
    bad: list = field(default_factory=list)
    clean_ids: list = field(default_factory=list)
    bad_ids: list = field(default_factory=list)

    def extend(self, other: Examples) -> None:
        """Append ``other``'s rows after this one's."""
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))


def assess_sample(store: Store, row, labels: Path, names: list[str], params: CleanParams,
                  examples: Examples | None = None) -> Assessment:
    """Assess one sample's label; with ``examples``, also add self-corruption rows for the scorer."""
    ensemble_file = member_path(labels, ENSEMBLE, row.id)
    if not ensemble_file.is_file():
        raise FileNotFoundError(f"{ensemble_file}: no ensemble alpha for sample {row.id} (autolabel's "
                                "output does not match this store: re-run autolabel)")
    fused = io.read_mask(ensemble_file)
    disagreement = io.read_mask(member_path(labels, DISAGREEMENT, row.id))
    members = {n: io.read_mask(member_path(labels, n, row.id)) for n in names}
    if row.label_kind == "none":  # no label: score the ensemble's own (labeling/trust.py)
        return assess_unlabeled(fused, disagreement, members, params.trust)
    rgb, gt = store.image(row), store.alpha(row)
    ignore = store.ignore(row)
    valid = None if ignore is None else ignore < 128
    grad = image_gradient(rgb)
    a = assess(gt, fused, disagreement, members, rgb, params.quality, valid, gradient=grad)
    if examples is not None and a.label_quality >= params.scorer.clean_min:
        examples.clean.append(learned.features(a))
        examples.clean_ids.append(row.id)
        label = masks.binarize(masks.to_float(gt))
        for bad in learned.corruptions(label, params.scorer.corruptions, learned.label_rng(params.scorer.seed, row.id)):
            b = assess(bad.astype(np.uint8) * 255, fused, disagreement, {}, rgb, params.quality, valid, gradient=grad)
            b.agreement = a.agreement  # the members do not depend on the label (skipped above: no members)
            examples.bad.append(learned.features(b))
            examples.bad_ids.append(row.id)
    return a


def assess_all(store: Store, rows: list, labels: Path, names: list[str], params: CleanParams,
               examples: Examples | None) -> list[Assessment]:
    """``assess_sample`` of every row, in ``params.workers`` threads (OpenCV and NumPy release the GIL:
    1.8x on 2 cores), the assessments and the scorer's examples in the rows' order whatever the count."""
    def one(row) -> tuple[Assessment, Examples | None]:
        own = Examples() if examples is not None else None
        return assess_sample(store, row, labels, names, params, own), own

    workers = max(1, min(params.workers or len(os.sched_getaffinity(0)), len(rows)))
    with ThreadPoolExecutor(workers, thread_name_prefix="clean") as pool:
        results = list(progress(pool.map(one, rows), "clean", len(rows)))
    if examples is not None:
        for _, own in results:
            examples.extend(own)
    return [a for a, _ in results]


def score_labels(params: ScorerParams, examples: Examples | None,
                 labelled: list[tuple[str, Assessment]]) -> tuple[float | None, str]:
    """Set the label_quality of each (sample id, assessment) by the scorer ``params.mode`` names; returns
    the flag threshold (None in mode checks: the checks' product and their firing flags decide) and
    what scored the labels.

    Mode self fits on this store's examples and scores each label with a forest fitted without it
    (``learned.cross_fit``); with fewer than ``min_labels`` clean-looking labels, the default weights.
    """
    if params.mode == "checks" or not labelled:
        return None, "checks" if labelled else "none: no labelled samples"
    ids, x = [i for i, _ in labelled], np.array([learned.features(a) for _, a in labelled])
    default = Path(params.weights) if params.weights else learned.DEFAULT_WEIGHTS
    if params.mode == "self" and examples is not None and len(examples.clean) >= params.min_labels and examples.bad:
        quality, threshold = learned.cross_fit((examples.clean_ids, np.array(examples.clean)),
                                               (examples.bad_ids, np.array(examples.bad)), (ids, x), params)
        kind = "self"
    else:
        if params.mode == "self":
            log.warning("clean: %d clean-looking labels, fewer than scorer.min_labels=%d: using the default weights %s",
                        len(examples.clean) if examples else 0, params.min_labels, default)
        scorer = Scorer.load(default)
        quality, threshold, kind = scorer.quality(x), scorer.threshold, "default"
    for (_, a), q in zip(labelled, quality):
        a.label_quality = float(q)
    return threshold, kind


def finish_sample(store: Store, row, labels: Path, names: list[str], a: Assessment, params: CleanParams,
                  threshold: float | None) -> dict:
    """Flag and decide one scored label (``score_labels``; threshold None: mode checks); write its
    refined label if 'refine'."""
    if row.label_kind == "none":
        flagged, decision = decide_unlabeled(a, params.trust)
        return _record(row, names, a, flagged, doubts(a) if flagged else [], decision)
    if threshold is not None:
        flagged, decision = decide(a, params.decide, flag_below=threshold, checks_flag=False)
    else:
        flagged, decision = decide(a, params.decide)
    if decision == "refine":
        rgb, gt = store.image(row), store.alpha(row)
        ignore = store.ignore(row)
        refined = refine(rgb, gt, params.refine, guide=io.read_mask(member_path(labels, ENSEMBLE, row.id)))
        if ignore is not None:  # where no label speaks, keep the label as it was
            refined[ignore >= 128] = masks.to_float(gt)[ignore >= 128]
        io.write_png(member_path(labels, REFINED, row.id), masks.to_uint8(refined))
    return _record(row, names, a, flagged, reasons(a) if flagged else [], decision)


def _record(row, names: list[str], a: Assessment, flagged: bool, flags: list[str], decision: str) -> dict:
    return {"id": row.id, **{f"iou_{n}": a.member_iou[n] for n in names}, "agreement": a.agreement,
            "gt_iou": a.gt_iou, "gt_boundary_iou": a.gt_boundary_iou, "label_quality": a.label_quality,
            "flagged": flagged, "flags": flags, "decision": decision}


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
    examples = Examples() if params.scorer.mode == "self" else None
    rows = list(store.samples.itertuples())
    assessed = assess_all(store, rows, labels, names, params, examples)
    labelled = [(row.id, a) for row, a in zip(rows, assessed) if row.label_kind != "none"]
    threshold, kind = score_labels(params.scorer, examples, labelled)
    records = [finish_sample(store, row, labels, names, a, params, threshold) for row, a in zip(rows, assessed)]
    df = quality_frame(records, names)
    refined = {f"{r['id']}.png" for r in records if r["decision"] == "refine"}
    for stale in (labels / REFINED).glob("*.png"):  # from an earlier run whose decisions differed
        if stale.name not in refined:
            stale.unlink()
    io.write_parquet(labels / "quality.parquet", df)
    decisions = Counter(df["decision"])
    unlabeled = store.samples.set_index("id").loc[df["id"], "label_kind"] == "none"
    flags = Counter(f for fl in df["flags"] for f in fl)
    metrics = {
        "n": int(len(df)),
        "members": names,
        "flagged": int(df["flagged"].sum()),
        "decisions": {d: int(decisions.get(d, 0)) for d in DECISIONS},
        "flags": {f: int(flags.get(f, 0)) for f in FLAGS},
        "label_quality_mean": _mean(df["label_quality"]),
        "gt_iou_mean": _mean(df["gt_iou"]),
        "agreement_mean": _mean(df["agreement"]),
        "scorer": kind,
        "flag_threshold": threshold if threshold is not None else params.decide.flag_below,
        "scorer_examples": {"clean": len(examples.clean), "corrupted": len(examples.bad)} if examples else None,
        "unlabeled": int(unlabeled.sum()),
        "unlabeled_decisions": {d: int(n) for d, n in Counter(df["decision"][unlabeled.to_numpy()]).items()},
    }
    log.info("clean: %d labels, %d flagged, decisions %s", metrics["n"], metrics["flagged"], metrics["decisions"])
    return metrics


def _mean(column: pd.Series) -> float | None:
    """The mean of the non-null values, None when there are none (JSON has no NaN)."""
    return float(column.mean()) if column.notna().any() else None


def fit_scorer(params: CleanParams, store_root: Path | str, labels: Path | str, out: Path | str) -> dict:
    """Fit the scorer on the store's self-corruption (whatever `scorer.mode` says) and save it to ``out``."""
    store, labels = Store(store_root), Path(labels)
    names = label_members(labels)
    examples = Examples()
    assess_all(store, list(store.samples.itertuples()), labels, names, params, examples)
    if not examples.clean or not examples.bad:
        raise ValueError(f"{store_root}: no clean-looking labels to corrupt (check product >= "
                         f"scorer.clean_min={params.scorer.clean_min}): nothing to fit the scorer on")
    scorer = learned.fit(np.array(examples.clean), np.array(examples.bad), params.scorer,
                         fitted_on=f"{Path(store_root).name}: {len(examples.clean)} clean, {len(examples.bad)} corrupted")
    scorer.save(out)
    log.info("scorer fitted on %s, threshold %.3f, written to %s", scorer.fitted_on, scorer.threshold, out)
    return {"clean": len(examples.clean), "corrupted": len(examples.bad), "threshold": scorer.threshold}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="sample store (python -m datasets ingest)")
    parser.add_argument("--labels", required=True, type=Path, help="LABELS folder written by autolabel")
    parser.add_argument("--fit-scorer", type=Path, metavar="JSON",
                        help="only fit the label-quality scorer on this store's self-corruption and write its "
                             "weights here (for clean.scorer.weights), then stop")


def _run(params: CleanParams, args: argparse.Namespace) -> dict:
    if args.fit_scorer:
        return fit_scorer(params, args.store, args.labels, args.fit_scorer)
    return run(params, args.store, args.labels)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling clean", __doc__, "clean", CleanParams, _add_args, _run, argv,
                      metrics_help="write counts per decision and flag here (JSON)")
