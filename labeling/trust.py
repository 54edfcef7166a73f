"""How far the ensemble's own label can be trusted where no label exists (label_kind 'none').

Without a label to check, ``clean`` scores the fused alpha by what the ensemble says about itself.
Each doubt is an evidence in [0, 1] through a linear ramp (``quality.Ramp``) of a measured quantity:

  doubt (flag code)   measured quantity
  members_disagree    1 - agreement, the mean pairwise IoU of the members
  disputed_area       pixels where the members split (disagreement >= 0.5) / the ensemble's person area
  uncertain_area      pixels the fused alpha leaves open (|alpha - 0.5| < 0.25) / the person area
  fragmented          share of the person area in parts smaller than a tenth of the largest part
  no_person           the ensemble's person covers less than ``empty_fraction`` of the image

``trust = prod(1 - evidence)`` is written as ``label_quality``; a doubt whose evidence reaches
``fire`` becomes a flag. Decisions: drop when the ensemble sees no person, keep when trust >=
``keep_above``, else review (people look at it).

The ramps were set on 300 ccp-voc train photos treated as unlabeled, with the default fusion and
its guided edge filter (grid search for the AUROC of -trust at finding ensemble labels with IoU <
0.9 against the human masks, keep_above for ~20% review): AUROC 0.80 there (22% to review, 17 of
28 bad labels among them), 0.86 on the 85 val photos (25% to review, 5 of 8 bad ones; the kept
average IoU 0.958); alone, uncertain_area 0.80 / 0.90, agreement 0.76 / 0.75, disputed_area
0.74 / 0.70. benchmarks/ensemble_iou.py reruns the figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Mapping

import cv2
import numpy as np

from datasets import masks
from labeling.quality import Assessment, Ramp

DOUBTS = ("members_disagree", "disputed_area", "uncertain_area", "fragmented", "no_person")


def _ramps() -> dict[str, Ramp]:
    return {
        "members_disagree": Ramp(0.1, 0.5),  # 1 - mean pairwise member IoU
        "disputed_area": Ramp(0.8, 2.0),  # split pixels / person area
        "uncertain_area": Ramp(0.03, 0.08),  # open pixels / person area (the best single sign)
        "fragmented": Ramp(0.01, 0.1),  # share of the area in small parts
    }


@dataclass(frozen=True)
class TrustParams:
    ramps: dict[str, Ramp] = field(default_factory=_ramps)  # doubt -> evidence ramp (see module doc)
    fire: float = 0.5  # evidence at which a doubt becomes a flag
    keep_above: float = 0.5  # trust at or above this keeps the ensemble's label; below: review
    empty_fraction: float = 0.0005  # an ensemble person below this share of the image is no person

    def __post_init__(self):
        defaults = _ramps()
        unknown = sorted(set(self.ramps) - set(defaults))
        if unknown:
            raise ValueError(f"unknown trust ramp(s) {unknown}; known: {sorted(defaults)}")
        object.__setattr__(self, "ramps", {**defaults, **self.ramps})
        if not 0.0 <= self.keep_above <= 1.0:
            raise ValueError(f"`keep_above` should be in [0, 1], got {self.keep_above!r}")


def measure(fused: np.ndarray, disagreement: np.ndarray, members: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The quantities of the module doc for one image (alphas (H, W), float [0, 1] or uint8)."""
    fused_f, dis = masks.to_float(fused), masks.to_float(disagreement)
    person = fused_f >= 0.5
    area = max(np.count_nonzero(person), 1)
    pairs = [masks.iou(members[a], members[b]) for a, b in combinations(members, 2)]
    n, _, stats, _ = cv2.connectedComponentsWithStats(person.astype(np.uint8))
    parts = stats[1:, cv2.CC_STAT_AREA] if n > 1 else np.zeros(1)
    return {
        "agreement": float(np.mean(pairs)) if pairs else 1.0,
        "disputed_area": float(np.count_nonzero(dis >= 0.5)) / area,
        "uncertain_area": float(np.count_nonzero(np.abs(fused_f - 0.5) < 0.25)) / area,
        "fragmented": float(parts[parts < 0.1 * parts.max()].sum()) / area,
        "ensemble_area": float(np.count_nonzero(person)) / person.size,
    }


def assess_unlabeled(fused: np.ndarray, disagreement: np.ndarray, members: Mapping[str, np.ndarray],
                     params: TrustParams) -> Assessment:
    """An Assessment of the ensemble's own label: label_quality = trust, gt figures NaN."""
    m = measure(fused, disagreement, members)
    quantities = {"members_disagree": 1.0 - m["agreement"],
                  **{d: m[d] for d in ("disputed_area", "uncertain_area", "fragmented")}}
    evidence = {d: params.ramps[d](x) for d, x in quantities.items()}
    evidence["no_person"] = 1.0 if m["ensemble_area"] < params.empty_fraction else 0.0
    trust = float(np.prod([1.0 - e for e in evidence.values()]))
    return Assessment(member_iou={n: masks.iou(a, fused) for n, a in members.items()}, agreement=m["agreement"],
                      gt_iou=float("nan"), gt_boundary_iou=float("nan"), evidence=evidence, measures=m,
                      label_quality=trust, flags=[d for d in DOUBTS if evidence[d] >= params.fire])


def decide_unlabeled(a: Assessment, params: TrustParams) -> tuple[bool, str]:
    """(flagged, decision): drop (no person), keep (trusted) or review."""
    if "no_person" in a.flags:
        return True, "drop"
    if a.label_quality >= params.keep_above:
        return False, "keep"
    return True, "review"


def doubts(a: Assessment) -> list[str]:
    """The flags of a doubted ensemble label: the doubts that fire, or else the strongest one."""
    if a.flags:
        return list(a.flags)
    strongest = max(DOUBTS, key=lambda d: a.evidence.get(d, 0.0))
    return [strongest] if a.evidence.get(strongest, 0.0) > 0 else []
