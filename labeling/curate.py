"""The final training labels: `python -m labeling curate --stores S --labels L --out data/curated`.

For every sample of every store (STORES/<name>, labels in LABELS/<name>) one final alpha is
chosen, first rule that applies:

1. tagged ``reject`` in FiftyOne                        -> dropped (reason ``review_reject``)
2. a Label Studio correction exists                     -> ``correction-round-N`` (the newest N)
3. decision ``drop``, not tagged ``approve``            -> dropped (reason ``decision_drop``)
4. waiting for a person (decision ``review`` not tagged ``approve``, or tagged ``fix``) with
   ``curate.pending: drop``                             -> dropped (reason ``pending_review``)
5. decision ``replace`` -> ``ensemble``; ``refine`` -> ``refined``; anything else (``keep``,
   ``review``, approved ``drop``, no quality row) -> ``ground_truth``, or ``ensemble`` for a sample
   without a label of its own (label_kind ``none``: the ensemble's alpha is the label; its person
   count is that of the alpha's parts).

OUT is itself a sample store (DESIGN.md): samples.parquet with every kept sample (label_kind from
the final alpha's values), images/ and ignore/ hard-linked (or copied) from the sources, alpha/ the
final labels, quarantine.parquet the sources' quarantine rows; plus OUT/label_sources.parquet
(id, store, source, label_source, decision, review_tag, reason) with one row per sample, dropped
ones included (label_source ``dropped``): nothing vanishes.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd

from core import io
from core.cli import progress, stage_main
from datasets.store import QUARANTINE_COLUMNS, SAMPLE_COLUMNS, Store
from labeling.corrections import corrected_ids, correction_rounds
from labeling.review import read_review_tags

log = logging.getLogger(__name__)

SOURCE_COLUMNS = ["id", "store", "source", "label_source", "decision", "review_tag", "reason"]
ENSEMBLE = "ensemble"
DECISION_LABEL = {"replace": ENSEMBLE, "refine": "refined"}  # decision -> LABELS folder; else ground truth


@dataclass(frozen=True)
class CurateParams:
    """params.yaml `curate:`."""
    pending: Literal["keep", "drop"] = "keep"  # samples still waiting for a person: keep their label or leave out


def choose(decision: str | None, tag: str | None, correction_round: int | None,
           pending: str = "keep", unlabeled: bool = False) -> tuple[str, str]:
    """(label_source, reason) of one sample by the rules in the module docstring.

    unlabeled: the sample has no label of its own (label_kind 'none'): what is kept is the ensemble's.
    """
    if tag == "reject":
        return "dropped", "review_reject"
    if correction_round is not None:
        return f"correction-round-{correction_round}", "corrected"
    if decision == "drop" and tag != "approve":
        return "dropped", "decision_drop"
    waiting = tag == "fix" or (decision == "review" and tag != "approve")
    if waiting and pending == "drop":
        return "dropped", "pending_review"
    reason = "pending_review" if waiting else "approved" if tag == "approve" else \
        "no_quality_row" if decision is None else "decision"
    return DECISION_LABEL.get(decision or "", ENSEMBLE if unlabeled else "ground_truth"), reason


def run(params: CurateParams, stores: Path, labels: Path, out: Path, corrections: Path | None = None,
        review: Path | None = None) -> dict[str, Any]:
    """Write the curated store OUT from every store under ``stores``; returns the counts."""
    names = sorted(p.name for p in Path(stores).iterdir() if (p / "samples.parquet").is_file())
    if not names:
        raise FileNotFoundError(f"{stores}: no sample stores (expected {stores}/<name>/samples.parquet)")
    tags = read_review_tags([review]) if review else {}
    fixes = {}
    if corrections and Path(corrections).is_dir():
        fixes = corrected_ids(Path(corrections))
    else:
        log.info("no corrections folder %s: no Label Studio round yet", corrections)
    round_dirs = dict(correction_rounds(Path(corrections))) if fixes else {}
    out = Path(out)
    loaded = {name: Store(Path(stores) / name) for name in names}
    ids = pd.concat([s.samples["id"] for s in loaded.values()])
    if ids.duplicated().any():
        raise ValueError(f"sample ids {ids[ids.duplicated()].tolist()[:5]} occur in more than one store under "
                         f"{stores} (two stores of one source?)")
    qualities = {name: _quality(Path(labels) / name) for name in names}  # all present before writing
    kept, sources, quarantine = [], [], []
    for name, store in loaded.items():
        decisions = dict(zip(qualities[name]["id"], qualities[name]["decision"]))
        quarantine.append(store.quarantine)
        for row in progress(store.samples.itertuples(index=False), f"curate {name}", len(store.samples)):
            decision, tag = decisions.get(row.id), tags.get(row.id)
            label_source, reason = choose(decision, tag, fixes.get(row.id), params.pending, row.label_kind == "none")
            if label_source != "dropped":
                alpha_src = _alpha_path(store, Path(labels) / name, row, label_source, round_dirs)
                kind, problem = _check(alpha_src, row, label_source)
                if problem:
                    log.warning("%s/%s: %s; dropped", name, row.id, problem)
                    label_source, reason = "dropped", problem.split(":")[0]
                else:
                    kept.append(_place(store, row, alpha_src, kind, out))
            sources.append({"id": row.id, "store": name, "source": row.source, "label_source": label_source,
                            "decision": decision, "review_tag": tag, "reason": reason})
    table = pd.DataFrame(sources, columns=SOURCE_COLUMNS)
    samples = pd.DataFrame(kept, columns=SAMPLE_COLUMNS).sort_values("id", kind="stable").reset_index(drop=True)
    _remove_stale(out, samples)
    io.write_parquet(out / "quarantine.parquet", pd.concat(quarantine, ignore_index=True)[QUARANTINE_COLUMNS])
    io.write_parquet(out / "label_sources.parquet", table)
    io.write_parquet(out / "samples.parquet", samples.astype({"width": "int64", "height": "int64",
                                                              "persons": "int64"}))
    counts = table["label_source"].value_counts()
    figures = {"samples": len(table), "kept": len(samples), "dropped": int(counts.get("dropped", 0)),
               "stores": len(names), "by_label_source": {k: int(v) for k, v in counts.items()},
               "pending_review": int((table["reason"] == "pending_review").sum()),
               "alpha_kind": {k: int(v) for k, v in samples["label_kind"].value_counts().items()}}
    log.info("curated %d of %d samples into %s: %s", len(samples), len(table), out, figures["by_label_source"])
    return figures


def _quality(labels: Path) -> pd.DataFrame:
    path = labels / "quality.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no quality table for this store (run `python -m labeling clean`)")
    return pd.read_parquet(path, columns=["id", "decision"])


def _alpha_path(store: Store, labels: Path, row: Any, label_source: str, round_dirs: dict[int, Path]) -> Path:
    if label_source == "ground_truth":
        return store.path(row.alpha)
    if label_source.startswith("correction-round-"):
        return round_dirs[int(label_source.rsplit("-", 1)[1])] / f"{row.id}.png"
    return labels / label_source / f"{row.id}.png"


def _check(path: Path, row: Any, label_source: str) -> tuple[str, str | None]:
    """(label_kind, problem or None) of the chosen alpha file."""
    if label_source == "ground_truth":
        return row.label_kind, None  # checked at ingest
    if not path.is_file():
        return "", f"missing_label: {path} not found"
    try:
        alpha = io.read_mask(path)
    except io.BadFile as e:
        return "", f"bad_label: {e.detail}"
    if alpha.shape != (row.height, row.width):
        return "", f"label_size_mismatch: {path} is {alpha.shape[1]}x{alpha.shape[0]}, image {row.width}x{row.height}"
    soft = np.count_nonzero((alpha > 0) & (alpha < 255))
    return ("alpha" if soft else "mask"), None


def _place(store: Store, row: Any, alpha_src: Path, kind: str, out: Path) -> dict[str, Any]:
    """Link the image, alpha and ignore mask into OUT; the curated samples row."""
    image = f"images/{row.id}{Path(row.image).suffix}"
    io.link_or_copy(store.path(row.image), out / image)
    io.link_or_copy(alpha_src, out / "alpha" / f"{row.id}.png")
    ignore = None
    if row.ignore is not None and not pd.isna(row.ignore):
        ignore = f"ignore/{row.id}.png"
        io.link_or_copy(store.path(row.ignore), out / ignore)
    persons = count_persons(io.read_mask(alpha_src)) if row.label_kind == "none" else row.persons
    return {**row._asdict(), "image": image, "alpha": f"alpha/{row.id}.png", "ignore": ignore, "label_kind": kind,
            "persons": persons}


def count_persons(alpha: np.ndarray, share: float = 0.1) -> int:
    """People in an ensemble alpha (label_kind 'none' has no count): its parts (alpha >= 128) of at least
    ``share`` of the largest part's area."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((alpha >= 128).astype(np.uint8))
    if n <= 1:
        return 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int(np.count_nonzero(areas >= share * areas.max()))


def _remove_stale(out: Path, samples: pd.DataFrame) -> None:
    """Delete files a previous run left in OUT for samples no longer kept."""
    wanted = set(samples["image"]) | set(samples["alpha"]) | set(samples["ignore"].dropna())
    for folder in ("images", "alpha", "ignore"):
        for path in (out / folder).glob("*") if (out / folder).is_dir() else []:
            if f"{folder}/{path.name}" not in wanted:
                path.unlink()


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stores", type=Path, required=True, help="folder of sample stores (data/stores)")
    parser.add_argument("--labels", type=Path, required=True, help="folder of their labels (data/labels)")
    parser.add_argument("--corrections", type=Path, help="Label Studio corrections (data/corrections/round-N)")
    parser.add_argument("--review", type=Path, help="FiftyOne review tables (data/review/*.parquet)")
    parser.add_argument("--out", type=Path, required=True, help="the curated store (data/curated)")


def _run(params: CurateParams, args: argparse.Namespace) -> dict:
    return run(params, args.stores, args.labels, args.out, args.corrections, args.review)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling curate", __doc__, "curate", CurateParams, _add_args, _run, argv,
                      metrics_help="write the counts as JSON here")
