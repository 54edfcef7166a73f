"""Fusing member alphas into one: weighted soft voting, a per-pixel disagreement map, learned weights.

For members i with weights w_i (normalised to sum 1) and alphas a_i (H, W) in [0, 1]:

    vote         = sum_i w_i a_i                                  the weighted soft vote
    fused        = calibrate(vote, t)                             piecewise linear, t -> 0.5
    disagreement = 2 * sqrt(sum_i w_i (a_i - vote)^2)             in [0, 1]; 1 = an even split of 0s and 1s

``t`` (``vote_threshold``) is the share of the weighted vote at which a pixel counts as person:
0.5 is a weighted majority; lower leans towards the union of the members, which suits members that
each miss different parts (MediaPipe pose segments only the person it detects). Calibrating keeps
the fused alpha soft while making 0.5 the decision point everyone else uses (masks.binarize).

Learned weights (``method: learned``) come from samples whose labels are trusted (label_kind 'alpha',
e.g. AISegment mattes): non-negative least squares of the truth on the member alphas over sampled
pixels, normalised to sum 1, then the vote threshold that maximises their mean IoU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np

from datasets import masks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionParams:
    method: Literal["weighted", "learned"] = "weighted"  # learned: from trusted (label_kind 'alpha') samples
    weights: dict[str, float] = field(default_factory=dict)  # member -> weight; unlisted members weigh 1
    vote_threshold: float = 0.5  # share of the weighted vote that makes a pixel person (0.5 = majority)
    min_trusted: int = 3  # learned: fewer trusted samples than this -> use `weights` (with a warning)
    learn_pixels: int = 20000  # learned: pixels sampled per trusted sample

    def __post_init__(self):
        if not 0.0 < self.vote_threshold < 1.0:
            raise ValueError(f"`vote_threshold` should be in (0, 1), got {self.vote_threshold!r}")
        bad = {k: v for k, v in self.weights.items() if v < 0}
        if bad:
            raise ValueError(f"fusion weights should be >= 0, got {bad}")


def normalized_weights(members: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    """(M,) float64 weights summing to 1, in ``members`` order (unlisted members weigh 1)."""
    w = np.array([float(weights.get(m, 1.0)) for m in members], np.float64)
    if w.sum() <= 0:
        raise ValueError(f"fusion weights of {list(members)} sum to 0: give at least one member a weight > 0")
    return w / w.sum()


def calibrate(vote: np.ndarray, threshold: float) -> np.ndarray:
    """Map the vote piecewise linearly so that ``threshold`` -> 0.5, 0 -> 0, 1 -> 1 (float32)."""
    vote = np.asarray(vote, np.float32)
    if threshold == 0.5:
        return vote.copy()
    low = 0.5 * vote / threshold
    high = 0.5 + 0.5 * (vote - threshold) / (1.0 - threshold)
    return np.where(vote < threshold, low, high).astype(np.float32)


def fuse(alphas: Mapping[str, np.ndarray], weights: Mapping[str, float],
         vote_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(fused, disagreement), both (H, W) float32 in [0, 1], from member alphas (float or uint8)."""
    if not alphas:
        raise ValueError("fuse: no member alphas given")
    names = list(alphas)
    w = normalized_weights(names, weights).astype(np.float32)
    vote = np.zeros(np.shape(alphas[names[0]]), np.float32)
    square = np.zeros_like(vote)
    term = np.empty_like(vote)
    for weight, name in zip(w, names):  # one pass per member, in place: this runs on every sample
        a = alphas[name]
        if a.dtype != np.float32:  # members give float32 in [0, 1] already; PNGs read back are uint8
            a = masks.to_float(a)
        np.multiply(a, weight, out=term)
        vote += term
        term *= a
        square += term
    # sum_i w_i (a_i - vote)^2 = sum_i w_i a_i^2 - vote^2 (the weights sum to 1)
    spread = np.maximum(square - vote * vote, 0.0)
    disagreement = np.clip(2.0 * np.sqrt(spread), 0.0, 1.0).astype(np.float32)
    return np.clip(calibrate(vote, vote_threshold), 0.0, 1.0), disagreement


def learn_weights(samples: Sequence[Mapping[str, np.ndarray]], truths: Sequence[np.ndarray],
                  pixels: int = 20000, seed: int = 0) -> dict[str, float]:
    """Weights (sum 1) minimising the squared error of the weighted vote against the truths.

    samples: one {member: alpha (H, W)} per trusted sample; truths: their (H, W) alphas.
    Non-negative least squares over up to ``pixels`` pixels per sample (drawn with a fixed seed).
    """
    from scipy.optimize import nnls

    if not samples:
        raise ValueError("learn_weights: no trusted samples")
    names = list(samples[0])
    rng = np.random.default_rng(seed)
    rows, target = [], []
    for alphas, truth in zip(samples, truths):
        truth = masks.to_float(truth).ravel()
        take = rng.choice(truth.size, size=min(pixels, truth.size), replace=False)
        rows.append(np.stack([masks.to_float(alphas[n]).ravel()[take] for n in names], axis=1))
        target.append(truth[take])
    a, b = np.concatenate(rows).astype(np.float64), np.concatenate(target).astype(np.float64)
    w, _ = nnls(a, b)
    if w.sum() <= 0:
        log.warning("learned fusion weights are all 0 (members uncorrelated with the truth): using equal weights")
        w = np.ones(len(names))
    w = w / w.sum()
    return {n: float(round(v, 4)) for n, v in zip(names, w)}


def learn_threshold(samples: Sequence[Mapping[str, np.ndarray]], truths: Sequence[np.ndarray],
                    weights: Mapping[str, float], grid: Sequence[float] = tuple(np.arange(0.2, 0.71, 0.05))) -> float:
    """The vote threshold in ``grid`` with the best mean IoU of the fused alpha against the truths."""
    best, best_iou = 0.5, -1.0
    for t in grid:
        ious = [masks.iou(fuse(alphas, weights, float(t))[0], truth) for alphas, truth in zip(samples, truths)]
        if np.mean(ious) > best_iou + 1e-9:
            best, best_iou = float(round(t, 2)), float(np.mean(ious))
    return best
