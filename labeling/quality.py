"""How far a label can be trusted: scores against the ensemble and the image, checks with readable reasons.

Every check yields an *evidence* in [0, 1] that the label has one kind of error (0 = none, 1 = sure),
from a measured quantity through a linear ramp ``(x - lo) / (hi - lo)`` clipped to [0, 1]:

  check (reason code)   measured quantity                                                   source
  low_iou               1 - IoU(label, ensemble), weighted by how confident the ensemble is  ensemble
  too_large             IoU gain when the label is eroded (the best of 3 radii)              ensemble
  too_small             IoU gain when the label is dilated (the best of 3 radii)             ensemble
  shifted               IoU gain when the label is moved by the ensemble's offset            ensemble
  missing_part          a part the ensemble has next to the label, across no image edge      ensemble + image
  extra_blob            a part of the label the ensemble rejects, bounded by no image edge   ensemble + image
  off_edges             the label's contour is not where the image's edges are               image
  box_shaped            the label fills its bounding box like a rectangle                    label
  empty_label           the label is (nearly) empty while the ensemble sees a person         ensemble

``label_quality = prod(1 - evidence)``: 1 when nothing is wrong, low when any check is sure. A
check *fires* (its code becomes a flag) when its evidence reaches ``fire``. Ensemble-relative checks
("would the label agree better with the ensemble if it were eroded / dilated / moved?") compare the
label with perturbed copies of itself on the same image, so they hold even where the ensemble is
only roughly right; the image checks need no model at all. ``members_disagree`` is no error of the
label: it says the ensemble itself is unsure here (mean pairwise IoU below ``members_disagree``).
Pixels under the store's ignore mask are excluded everywhere.

``measures`` also holds what the learned scorer (labeling/scorer.py) reads besides the checks: the
soft ensemble's support of the label (``_support_measures``), how much of the label's outline runs
along an image edge (``_contour_support``), how different the colours either side of the outline are
(``_outline_contrast``), which parts of the label look like its surroundings and which surroundings look
like the label (``_colour_parts``), and the checks' product (``check_quality``). The last two need no model:
they hold where the ensemble is poor (coco128's crowds and small people).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Mapping

import cv2
import numpy as np

from datasets import masks

CHECKS = ("low_iou", "too_large", "too_small", "shifted", "missing_part", "extra_blob", "off_edges",
          "box_shaped", "empty_label")


@dataclass(frozen=True)
class Ramp:
    lo: float  # measured value with no evidence
    hi: float  # measured value with full evidence

    def __call__(self, x: float) -> float:
        return float(np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0))


def _ramps() -> dict[str, Ramp]:
    """Defaults; set on coco128 with every label corrupted each way (benchmarks/label_quality.py)."""
    return {
        "low_iou": Ramp(0.7, 1.0),  # 1 - confident-weighted IoU
        "too_large": Ramp(0.02, 0.12),  # IoU gain from eroding the label
        "too_small": Ramp(0.04, 0.2),  # IoU gain from dilating the label (ensembles often run fat)
        "shifted": Ramp(0.03, 0.15),  # IoU gain from moving the label
        "missing_part": Ramp(0.03, 0.2),  # unlabelled ensemble part (share of the label's area x no-edge)
        "extra_blob": Ramp(0.03, 0.2),  # labelled part the ensemble rejects (share x no-edge)
        "off_edges": Ramp(0.15, 0.5),  # 1 - edge strength at the contour / the strongest nearby ring
        "box_shaped": Ramp(0.8, 0.95),  # label area / its bounding box area (a disc: 0.785)
    }


@dataclass(frozen=True)
class QualityParams:
    ramps: dict[str, Ramp] = field(default_factory=_ramps)  # check -> evidence ramp (see module doc)
    fire: float = 0.5  # evidence at which a check's code becomes a flag
    members_disagree: float = 0.5  # mean pairwise member IoU below this -> `members_disagree`
    confident: float = 0.3  # ensemble pixels with |alpha - 0.5| >= this and disagreement <= this count as sure
    empty_fraction: float = 0.0005  # a label (or ensemble) smaller than this share of the image is empty
    edge_ring_ratio: float = 0.02  # off_edges looks this far (fraction of the diagonal) either side of the contour
    part_open_ratio: float = 0.02  # parts thinner than this share of the person's size are ignored

    def __post_init__(self):
        defaults = _ramps()
        unknown = sorted(set(self.ramps) - set(defaults))
        if unknown:
            raise ValueError(f"unknown quality ramp(s) {unknown}; known: {sorted(defaults)}")
        object.__setattr__(self, "ramps", {**defaults, **self.ramps})  # params may override a few


@dataclass
class Assessment:
    """The scores of one label. ``evidence``: check -> [0, 1]; ``measures``: the raw quantities."""
    member_iou: dict[str, float]
    agreement: float
    gt_iou: float
    gt_boundary_iou: float
    evidence: dict[str, float]
    measures: dict[str, float]
    label_quality: float
    flags: list[str]


def assess(gt: np.ndarray, fused: np.ndarray, disagreement: np.ndarray, members: Mapping[str, np.ndarray],
           rgb: np.ndarray | None, params: QualityParams, valid: np.ndarray | None = None,
           gradient: np.ndarray | None = None) -> Assessment:
    """Score the label ``gt`` (H, W alpha) against the fused ensemble alpha and the image.

    disagreement: (H, W) in [0, 1] (fusion.fuse); members: name -> (H, W) alpha; rgb: (H, W, 3)
    uint8 or None (image checks are skipped); valid: bool (H, W), False where no label speaks;
    gradient: ``image_gradient(rgb)`` when the caller already has it (several labels of one image).
    """
    gt_f, fused_f = masks.to_float(gt), masks.to_float(fused)
    dis = masks.to_float(disagreement)
    valid = np.ones(gt_f.shape, bool) if valid is None else valid.astype(bool)
    label, ens = masks.binarize(gt_f) & valid, masks.binarize(fused_f) & valid
    member_iou = {n: masks.iou(a, fused_f, valid) for n, a in members.items()}
    pairs = [masks.iou(members[a], members[b], valid) for a, b in combinations(members, 2)]
    agreement = float(np.mean(pairs)) if pairs else 1.0
    gt_iou = masks.iou(label, ens)
    gt_biou = masks.boundary_iou(label, ens, valid=valid)
    sure = valid & (np.abs(fused_f - 0.5) >= params.confident) & (dis <= params.confident)
    m: dict[str, float] = {"gt_iou": gt_iou, "gt_boundary_iou": gt_biou}
    m.update(_ensemble_measures(label, ens, sure, params))
    m.update(_support_measures(label, ens, fused_f, dis, valid, params))
    if rgb is not None and label.any():
        m.update(_image_measures(label, ens, rgb, valid, params, gradient))
    m["box_extent"] = _extent(label)
    area = label.shape[0] * label.shape[1]
    m["label_area"] = label.sum() / area
    m["ensemble_area"] = ens.sum() / area
    r = params.ramps
    ev = {
        "low_iou": r["low_iou"](1.0 - m["confident_iou"]),
        "too_large": r["too_large"](m["shrink_gain"]),
        "too_small": r["too_small"](m["grow_gain"]),
        "shifted": r["shifted"](m["shift_gain"]),
        "missing_part": r["missing_part"](m.get("missing_part", 0.0)),
        "extra_blob": r["extra_blob"](m.get("extra_blob", 0.0)),
        "off_edges": r["off_edges"](1.0 - m.get("edge_alignment", 1.0)),
        "box_shaped": r["box_shaped"](m["box_extent"]),
        "empty_label": _empty_evidence(m["label_area"], m["ensemble_area"], params),
    }
    quality = float(np.prod([1.0 - e for e in ev.values()]))
    m["check_quality"] = quality
    flags = [c for c in CHECKS if ev[c] >= params.fire]
    if agreement < params.members_disagree:
        flags.append("members_disagree")
    return Assessment(member_iou=member_iou, agreement=agreement, gt_iou=gt_iou, gt_boundary_iou=gt_biou,
                      evidence=ev, measures=m, label_quality=quality, flags=flags)


def _empty_evidence(label_area: float, ensemble_area: float, params: QualityParams) -> float:
    """1 when the label is empty and the ensemble sees a person; 0 when the label is not empty."""
    if label_area >= params.empty_fraction:
        return 0.0
    return 1.0 if ensemble_area >= params.empty_fraction else 0.5


def _extent(mask: np.ndarray) -> float:
    """Area / bounding-box area of each part >= 5% of the mask, area-weighted (a box gives 1)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    if n <= 1:
        return 0.0
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    boxes = (stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    keep = areas >= 0.05 * areas.sum()
    return float((areas[keep]).sum() / boxes[keep].sum())


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def person_size(label: np.ndarray, ens: np.ndarray) -> float:
    """sqrt of the area of label or ensemble (pixels): the scale perturbations are measured in."""
    return float(np.sqrt(max(np.count_nonzero(label | ens), 1)))


def _ensemble_measures(label: np.ndarray, ens: np.ndarray, sure: np.ndarray, params: QualityParams) -> dict:
    """IoU on confident pixels, and the IoU gains of eroding / dilating / moving the label."""
    union_sure = np.count_nonzero((label | ens) & sure)
    confident_iou = 1.0 if union_sure == 0 else np.count_nonzero(label & ens & sure) / union_sure
    # weight by how much of the comparison rests on confident pixels: unsure ensembles judge softly
    share = union_sure / max(np.count_nonzero(label | ens), 1)
    out = {"confident_iou": 1.0 - share * (1.0 - confident_iou), "confident_share": share}
    base = _iou(label, ens)
    size = person_size(label, ens)
    lab8 = label.astype(np.uint8)
    # one distance transform each way gives every radius (a disc of radius r: distance <= r)
    outside = cv2.distanceTransform(1 - lab8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = cv2.distanceTransform(lab8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    grow, shrink = 0.0, 0.0
    for frac in (0.02, 0.05, 0.1):
        r = max(1, int(round(frac * size)))
        grow = max(grow, _iou(outside <= r, ens) - base)
        shrink = max(shrink, _iou(inside > r, ens) - base)
    out["grow_gain"], out["shrink_gain"] = grow, shrink
    out["shift_gain"], out["shift_px"] = _shift_gain(label, ens, base)
    return out


def _support_measures(label: np.ndarray, ens: np.ndarray, fused: np.ndarray, dis: np.ndarray, valid: np.ndarray,
                      params: QualityParams) -> dict:
    """How the soft ensemble supports the label, pixel by pixel (features of the learned scorer).

    sure = |2 fused - 1| x (1 - disagreement) in [0, 1] is how sure the ensemble is of a pixel.
      soft_precision   sum(fused over the label) / label area: low for blobs, boxes, dilations
      soft_recall      sum(fused over the label) / sum(fused): low for cuts, erosions
      sure_extra       sum(sure over label & ~ensemble) / label area (capped at 2)
      sure_missing     sum(sure over ensemble & ~label) / label area (capped at 2)
      extra_component  the same for the surest connected part of label & ~ensemble (after an opening
      missing_component   of part_open_ratio x person size): one blob or one cut-off limb, not a rim
      area_ratio       log(label area / ensemble area), clipped to [-3, 3]
    """
    fused = np.where(valid, fused, 0.0)
    sure = np.abs(2.0 * fused - 1.0) * (1.0 - dis) * valid
    area = max(np.count_nonzero(label), 1)
    supported = float((fused * label).sum())
    out = {"soft_precision": supported / area, "soft_recall": supported / max(float(fused.sum()), 1.0)}
    extra, missing = label & ~ens, ens & ~label
    out["sure_extra"] = min(2.0, float(sure[extra].sum()) / area)
    out["sure_missing"] = min(2.0, float(sure[missing].sum()) / area)
    opening = _disk(max(1, int(round(params.part_open_ratio * person_size(label, ens)))))
    for name, parts in (("extra_component", extra), ("missing_component", missing)):
        opened = cv2.morphologyEx(parts.astype(np.uint8), cv2.MORPH_OPEN, opening)
        n, comp = cv2.connectedComponents(opened)
        best = np.bincount(comp.ravel(), weights=sure.ravel(), minlength=n)[1:].max() if n > 1 else 0.0
        out[name] = min(2.0, float(best) / area)
    ens_area = np.count_nonzero(ens)
    out["area_ratio"] = float(np.clip(np.log((area if label.any() else 0.5) / max(ens_area, 0.5)), -3.0, 3.0))
    return out


def _shift_gain(label: np.ndarray, ens: np.ndarray, base: float) -> tuple[float, float]:
    """(IoU gain, distance in px) of moving the label by the phase-correlation offset to the ensemble."""
    if not label.any() or not ens.any():
        return 0.0, 0.0
    ys, xs = np.nonzero(label | ens)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = label[y0:y1, x0:x1].astype(np.float32)
    b = ens[y0:y1, x0:x1].astype(np.float32)
    if min(a.shape) < 4:
        return 0.0, 0.0
    (px, py), _ = cv2.phaseCorrelate(a, b)
    h, w = label.shape
    best = (0.0, 0, 0)
    # phase correlation is biased by the crop's edges: try the offsets around it, keep the best
    for dy in range(int(round(py)) - 2, int(round(py)) + 3):
        for dx in range(int(round(px)) - 2, int(round(px)) + 3):
            if dx == 0 and dy == 0:
                continue
            moved = cv2.warpAffine(label.astype(np.uint8), np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                                   flags=cv2.INTER_NEAREST).astype(bool)
            gain = _iou(moved, ens) - base
            if gain > best[0]:
                best = (gain, dx, dy)
    return best[0], float(np.hypot(best[1], best[2]))


def image_gradient(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 colour gradient magnitude (max over channels of Sobel on a sigma-1 blur)."""
    blurred = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
    return np.sqrt(gx * gx + gy * gy).max(axis=2)


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) int: distance to the mask's contour, negative inside, rounded to pixels."""
    m8 = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 3)
    return np.round(np.where(mask, -(inside - 0.5), outside - 0.5)).astype(np.int32)


def _image_measures(label: np.ndarray, ens: np.ndarray, rgb: np.ndarray, valid: np.ndarray,
                    params: QualityParams, grad: np.ndarray | None = None) -> dict:
    """edge_alignment, the missing / extra parts weighted by the lack of an image edge, the outline's
    contrast and the colour parts."""
    grad = image_gradient(rgb) if grad is None else grad
    h, w = label.shape
    ring = max(3, int(round(params.edge_ring_ratio * np.hypot(h, w))))
    dist = _signed_distance(label)
    near = (np.abs(dist) <= ring) & valid & ~_frame(h, w)
    sums = np.bincount(dist[near] + ring, weights=grad[near], minlength=2 * ring + 1)
    counts = np.bincount(dist[near] + ring, minlength=2 * ring + 1)
    profile = sums / np.maximum(counts, 1)  # mean gradient vs signed distance from the contour
    out = {"edge_alignment": float(profile[ring - 1:ring + 2].max() / max(profile.max(), 1e-6))}
    # edge strength reference: the 90th percentile of the gradient around the person
    ys, xs = np.nonzero(label)
    around = _around(label, max(4, int(0.25 * max(ys.max() - ys.min(), xs.max() - xs.min()))))
    reference = float(np.percentile(grad[around], 90)) + 1e-6
    support = cv2.dilate(grad, _disk(2)) / reference  # edge strength within 2 px, relative
    size = person_size(label, ens)
    opening = max(1, int(round(params.part_open_ratio * size)))
    contour_band = masks.edge_band(label, 2)
    area = max(np.count_nonzero(label), 1)
    out["missing_part"] = _part_evidence(ens & ~label & valid, contour_band, support, area, opening)
    out["extra_blob"] = _part_evidence(label & ~ens, contour_band, support, area, opening)
    out.update(_contour_support(label, valid, support, size))
    out.update(_outline_contrast(label, rgb, valid, size, around))
    out.update(_colour_parts(label, rgb, valid, size))
    return out


def _contour_support(label: np.ndarray, valid: np.ndarray, support: np.ndarray, size: float) -> dict:
    """How much of the label's outline runs along an image edge (features of the learned scorer).

    Per outline pixel (outer contours, not on the image border nor under the ignore mask): the
    relative edge strength within 2 px, capped at 1.
      contour_support   its mean over the outline (1: every outline pixel is on a strong edge)
      weakest_stretch   1 - the lowest mean over any stretch of the outline half the person's size
                        long: a cut line or a blob's arc is a long stretch with no edge
    """
    contours, _ = cv2.findContours(label.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    h, w = label.shape
    mean_sum, count, weakest = 0.0, 0, 0.0
    window = max(4, int(round(0.5 * size)))
    for c in contours:
        x, y = c[:, 0, 0], c[:, 0, 1]
        keep = (x > 1) & (y > 1) & (x < w - 2) & (y < h - 2) & valid[y, x]
        values = np.minimum(support[y, x], 1.0)
        mean_sum += float(values[keep].sum())
        count += int(keep.sum())
        # outline pixels on the frame or ignored count as supported
        weakest = max(weakest, 1.0 - _lowest_running_mean(np.where(keep, values, 1.0), window))
    return {"contour_support": mean_sum / count if count else 1.0, "weakest_stretch": weakest}


def _lowest_running_mean(ring: np.ndarray, window: int) -> float:
    """The lowest mean of ``window`` consecutive values of a closed outline (1 when it is shorter)."""
    if len(ring) < window:
        return 1.0
    cum = np.concatenate([[0.0], np.cumsum(np.concatenate([ring, ring[:window]]))])
    return float(((cum[window:window + len(ring)] - cum[:len(ring)]) / window).min())


def _outline_contrast(label: np.ndarray, rgb: np.ndarray, valid: np.ndarray, size: float,
                      around: tuple[slice, slice], band_ratio: float = 0.04, low: float = 0.3) -> dict:
    """How different the colours either side of the label's outline are (features of the learned scorer).

    Per outline pixel (outer contours, off the image border and the ignore mask): the Lab distance
    between the mean colour of the label's pixels and of the other pixels within a band of
    ``band_ratio`` x the person's size, over the colour spread in ``around`` (the person's box and a
    margin; capped at 2).
    Local means over a band, not the gradient at the pixel: a coarse polygon a few pixels off its
    edge still separates two regions, while a cut across the body, an eroded or dilated outline or
    a blob's arc has the same colours on both sides.
      outline_contrast   its mean over the outline
      low_contrast       the share of the outline below ``low``
      weakest_contrast   1 - the lowest mean over any stretch half the person's size long (capped at 1)
    """
    h, w = label.shape
    b = max(2, int(round(band_ratio * size)))
    spread = _colour_spread(_lab(rgb[around]))
    # the rest needs only the label's box and 2 bands around it (the same values as on the whole image)
    (y0, x0), crop = _origin(label, 2 * b + 2)
    label, lab, valid = label[crop], _lab(rgb[crop]), valid[crop]
    l8 = label.astype(np.uint8)
    inside = (label & (cv2.distanceTransform(l8, cv2.DIST_L2, 3) <= b)).astype(np.float32)
    outside = (~label & valid & (cv2.distanceTransform(1 - l8, cv2.DIST_L2, 3) <= b)).astype(np.float32)
    kernel = (2 * b + 1, 2 * b + 1)
    means = []
    for band in (inside, outside):
        count = cv2.boxFilter(band, -1, kernel, normalize=False)
        total = cv2.boxFilter(lab * band[..., None], -1, kernel, normalize=False)
        means.append((total / np.maximum(count, 1e-3)[..., None], count))
    (mean_in, n_in), (mean_out, n_out) = means
    contours, _ = cv2.findContours(l8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    window = max(4, int(round(0.5 * size)))
    values, weakest = [], 0.0
    for c in contours:
        x, y = c[:, 0, 0], c[:, 0, 1]
        on_image = (x + x0 > 1) & (y + y0 > 1) & (x + x0 < w - 2) & (y + y0 < h - 2)
        keep = on_image & valid[y, x] & (n_in[y, x] > 0.5) & (n_out[y, x] > 0.5)
        d = np.minimum(np.linalg.norm(mean_in[y, x] - mean_out[y, x], axis=1) / spread, 2.0)
        values.append(d[keep])
        weakest = max(weakest, 1.0 - min(1.0, _lowest_running_mean(np.where(keep, d, 2.0), window)))
    v = np.concatenate(values) if values else np.zeros(0)
    if not len(v):
        return {"outline_contrast": 1.0, "low_contrast": 0.0, "weakest_contrast": weakest}
    return {"outline_contrast": float(v.mean()), "low_contrast": float((v < low).mean()), "weakest_contrast": weakest}


def _origin(mask: np.ndarray, pad: int) -> tuple[tuple[int, int], tuple[slice, slice]]:
    """((y0, x0), slices) of the mask's bounding box grown by ``pad`` pixels, within the image."""
    ys, xs = np.nonzero(mask)
    y0, x0 = max(0, int(ys.min()) - pad), max(0, int(xs.min()) - pad)
    return (y0, x0), (slice(y0, int(ys.max()) + pad + 1), slice(x0, int(xs.max()) + pad + 1))


def _around(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    return _origin(mask, pad)[1]


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)


def _colour_spread(pixels: np.ndarray) -> float:
    """RMS distance of the pixels' colours from their mean (+ a small floor)."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return float(np.sqrt(((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean())) + 1e-3


def _colour_parts(label: np.ndarray, rgb: np.ndarray, valid: np.ndarray, size: float, bins: int = 16,
                  ring_ratio: float = 0.3, smooth_ratio: float = 0.05) -> dict:
    """Parts of the label coloured like its surroundings, and of the surroundings like the label.

    A colour model of the label (a ``bins``^3 RGB histogram of its pixels) against one of a ring of
    ``ring_ratio`` x the person's size around it gives each pixel P(label | colour), smoothed over
    ``smooth_ratio`` x the size. Features of the learned scorer:
      colour_extra       the largest part of the label with P < 0.4 (after an opening of 3% of the
                         size), as a share of the label's area (capped at 1): a blob over the background
      colour_missing     the same for ring pixels with P > 0.6: a limb or a person left out
      colour_separation  the total variation distance between the two histograms (1: no shared colour)
    """
    area = max(int(np.count_nonzero(label)), 1)
    reach = max(3.0, ring_ratio * size)
    r = max(1, int(round(smooth_ratio * size)))
    crop = _around(label, int(np.ceil(reach)) + r + 2)  # the ring and its smoothing: same values as on the whole image
    label, rgb, valid = label[crop], rgb[crop], valid[crop]
    l8 = label.astype(np.uint8)
    ring = ~label & valid & (cv2.distanceTransform(1 - l8, cv2.DIST_L2, 3) <= reach)
    q = (rgb // (256 // bins)).astype(np.int32)
    code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    hists = []
    for region in (label, ring):
        hist = np.bincount(code[region], minlength=bins ** 3).astype(np.float32)
        hist = cv2.GaussianBlur(hist.reshape(bins, bins * bins), (0, 0), 0.7).ravel()
        hists.append(hist / max(float(hist.sum()), 1e-9))
    h_in, h_out = hists
    p = cv2.blur((h_in / (h_in + h_out + 1e-9))[code].astype(np.float32), (2 * r + 1, 2 * r + 1))
    opening = _disk(max(1, int(round(0.03 * size))))
    out = {"colour_separation": float(np.abs(h_in - h_out).sum() / 2)}
    for name, parts in (("colour_extra", label & valid & (p < 0.4)), ("colour_missing", ring & (p > 0.6))):
        opened = cv2.morphologyEx(parts.astype(np.uint8), cv2.MORPH_OPEN, opening)
        n, _, stats, _ = cv2.connectedComponentsWithStats(opened)
        out[name] = min(1.0, float(stats[1:, cv2.CC_STAT_AREA].max()) / area) if n > 1 else 0.0
    return out


def _frame(h: int, w: int) -> np.ndarray:
    """bool (H, W): the 2-pixel image border (a person cut by the frame has no edge there)."""
    f = np.zeros((h, w), bool)
    f[:2], f[-2:], f[:, :2], f[:, -2:] = True, True, True, True
    return f


def _part_evidence(parts: np.ndarray, contour_band: np.ndarray, support: np.ndarray, area: int,
                   opening: int) -> float:
    """max over parts touching the label's contour of (part area / label area, capped at 1) x (1 - edge support).

    The edge support of a part is the mean relative edge strength where it meets the label's contour
    (capped at 1): a limb the label forgot meets it across the body (no edge); a blob drawn over the
    background ends in the background (no edge); a real boundary between person and background, that
    the ensemble merely draws elsewhere, has one.
    """
    opened = cv2.morphologyEx(parts.astype(np.uint8), cv2.MORPH_OPEN, _disk(opening))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened)
    best = 0.0
    for k in range(1, n):
        share = min(1.0, stats[k, cv2.CC_STAT_AREA] / area)
        if share * 1.0 <= best:
            continue
        x, y, bw, bh, _ = stats[k]
        sl = (slice(max(0, y - 3), y + bh + 3), slice(max(0, x - 3), x + bw + 3))
        part = cv2.dilate((labels[sl] == k).astype(np.uint8), _disk(2)).astype(bool)
        junction = part & contour_band[sl]
        if not junction.any():
            continue
        edge = float(np.clip(support[sl][junction], 0.0, 1.0).mean())
        best = max(best, share * (1.0 - edge))
    return best
