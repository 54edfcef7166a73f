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

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal, Mapping, Sequence

import cv2
import numpy as np

from datasets import masks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionParams:
    # weighted: `weights` and `vote_threshold`; learned: NNLS at run time on the store's label_kind
    # 'alpha' samples; file: the logistic stacking in `weights_file` (python -m labeling fit-fusion)
    method: Literal["weighted", "learned", "file"] = "weighted"
    weights_file: str = ""  # method file: the fitted FusionModel JSON (relative to the repo root)
    weights: dict[str, float] = field(default_factory=lambda: {  # member -> weight; unlisted members weigh 1
        "mediapipe-selfie": 2.0, "mediapipe-landscape": 1.0, "mediapipe-pose": 2.0})
    vote_threshold: float = 0.35  # share of the weighted vote that makes a pixel person (0.5 = majority)
    min_trusted: int = 3  # learned: fewer trusted samples than this -> use `weights` (with a warning)
    # edge-aware filter of the fused alpha guided by the image (snaps the members' upsampled edges to
    # the photo's): radius as a fraction of the image diagonal (0 = off), regularisation in 0..255
    # intensity units squared / 255^2, then (alpha - 0.5) x sharpen + 0.5 (the filter softens)
    guided_radius: float = 0.008
    guided_eps: float = 0.001
    guided_sharpen: float = 2.0
    learn_pixels: int = 20000  # learned: pixels sampled per trusted sample

    def __post_init__(self):
        if not 0.0 < self.vote_threshold < 1.0:
            raise ValueError(f"`vote_threshold` should be in (0, 1), got {self.vote_threshold!r}")
        bad = {k: v for k, v in self.weights.items() if v < 0}
        if bad:
            raise ValueError(f"fusion weights should be >= 0, got {bad}")
        if not 0.0 <= self.guided_radius < 0.1 or self.guided_eps <= 0 or self.guided_sharpen < 1:
            raise ValueError(f"`guided_radius` should be in [0, 0.1), `guided_eps` > 0, `guided_sharpen` >= 1; got "
                             f"{self.guided_radius}, {self.guided_eps}, {self.guided_sharpen}")
        if self.method == "file" and not self.weights_file:
            raise ValueError("`fusion.method` is 'file' but `fusion.weights_file` is empty: name the fitted "
                             "weights (python -m labeling fit-fusion --out PATH)")


def normalized_weights(members: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    """(M,) float64 weights summing to 1, in ``members`` order (unlisted members weigh 1)."""
    w = np.array([float(weights.get(m, 1.0)) for m in members], np.float64)
    if w.sum() <= 0:
        raise ValueError(f"fusion weights of {list(members)} sum to 0: give at least one member a weight > 0")
    return w / w.sum()


def calibrate(vote: np.ndarray, threshold: float) -> np.ndarray:
    """Map the vote piecewise linearly so that ``threshold`` -> 0.5, 0 -> 0, 1 -> 1 (float32, a new array).

    The two lines cross at ``threshold``, so the piecewise map is their minimum (threshold below 0.5:
    the steeper line is the lower one below it) or maximum (above 0.5): two passes instead of a select.
    """
    vote = np.asarray(vote, np.float32)
    if threshold == 0.5:
        return vote.copy()
    low = np.multiply(vote, np.float32(0.5 / threshold), dtype=np.float32)
    high = np.multiply(vote, np.float32(0.5 / (1.0 - threshold)), dtype=np.float32)
    high += np.float32(0.5 - 0.5 * threshold / (1.0 - threshold))
    return (np.minimum if threshold < 0.5 else np.maximum)(low, high, out=low if low.ndim else None)


def _weighted(alphas: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> Iterator[tuple[np.float32, np.ndarray]]:
    """(weight, float32 alpha) per member, the weights normalised to sum 1."""
    names = list(alphas)
    for weight, name in zip(normalized_weights(names, weights).astype(np.float32), names):
        a = alphas[name]  # members give float32 in [0, 1] already; PNGs read back are uint8
        yield weight, (a if a.dtype == np.float32 else masks.to_float(a))


def fuse(alphas: Mapping[str, np.ndarray], weights: Mapping[str, float],
         vote_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(fused, disagreement), both (H, W) float32 in [0, 1], from member alphas (float or uint8)."""
    if not alphas:
        raise ValueError("fuse: no member alphas given")
    vote = square = None
    for weight, a in _weighted(alphas, weights):  # one pass per member and sum, in place: this runs on every sample
        term = np.multiply(a, weight)
        if vote is None:
            vote = term.copy()
            square = np.multiply(term, a, out=term)
        else:
            vote += term
            square += np.multiply(term, a, out=term)
    # sum_i w_i (a_i - vote)^2 = sum_i w_i a_i^2 - vote^2 (the weights sum to 1); 2 sqrt(x) = sqrt(4 x)
    square -= vote * vote
    square *= np.float32(4.0)
    disagreement = np.sqrt(np.clip(square, 0.0, 1.0, out=square), out=square)
    fused = calibrate(vote, vote_threshold)
    return np.clip(fused, 0.0, 1.0, out=fused), disagreement


GUIDED_SUBSAMPLE = 4  # the edge filter's coefficients are solved at 1/4 of the image's size (2: same quality, 1.5x the CPU)


def guided(rgb: np.ndarray, fused: np.ndarray, params: FusionParams) -> np.ndarray:
    """The fused alpha (H, W) float32 filtered by the image (params.guided_*); unchanged when off.

    He et al.'s colour-guided filter as their *fast* guided filter (He & Sun 2015): the per-window
    linear model ``alpha ~ a . rgb + b`` is solved at a quarter of the image's size (3x3 systems in
    closed form, box filters of radius / 4) and its averaged coefficients, upsampled, are applied to the
    full-size image, so the output keeps the photo's full-resolution edges. Then ``(alpha - 0.5) x
    sharpen + 0.5``: the filter alone softens the edge.

    Measured on ccp-voc val (85 photos) as unlabeled with the default ensemble, radius 0.008 of the
    diagonal: IoU 0.9262 -> 0.9382, MAD x1e3 25.0 -> 16.9, 11.6 ms of CPU a 550x842 photo solved at
    half size; the full-size filter (cv2.ximgproc, on the open band only) gave 0.9379 / 17.0 in 15.8 ms,
    a grey guide 0.9361 / 17.8. Solved at a quarter size (the default): ccp-voc val+test (85) IoU 0.9377
    -> 0.9379, Boundary IoU 0.774 -> 0.776, portraits (60) 0.9765 both, MAD within 0.1, in 6.7-7.3 ms
    instead of 10.2-12.2.
    """
    if params.guided_radius <= 0:
        return fused
    fused = np.asarray(fused, np.float32)
    h, w = fused.shape
    s = GUIDED_SUBSAMPLE if min(h, w) >= 16 * GUIDED_SUBSAMPLE else 1
    r = max(1, int(round(params.guided_radius * np.hypot(h, w) / s)))
    size = (max(1, w // s), max(1, h // s))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    p = cv2.resize(fused, size, interpolation=cv2.INTER_AREA)
    coefficients = masks.guided_coefficients(small, p, r, params.guided_eps, params.guided_sharpen)
    return masks.guided_apply(coefficients, rgb)


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


# ---------------------------------------------------------------- learned stacking (a versioned file)
FUSION_FILE_VERSION = 1
SCENE_KINDS = ("portrait", "full_body")
LOGIT_CLIP = 6.0  # |logit| cap: a member's 0 or 1 is strong evidence, not infinite evidence


def _logit_table() -> np.ndarray:
    """(256,) float32: the clipped logit of each uint8 alpha value (members are fused at 1/255 steps)."""
    p = np.clip(np.arange(256, dtype=np.float64) / 255.0, 0.5 / 255, 1 - 0.5 / 255)
    return np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)


LOGITS = _logit_table()


def member_logits(alpha: np.ndarray) -> np.ndarray:
    """(H, W) alpha (float [0, 1] or uint8) -> (H, W) float32 clipped logit, via uint8 (a table look-up)."""
    return cv2.LUT(masks.to_uint8(alpha), LOGITS)


def scene_kind(alpha: np.ndarray, portrait_aspect: float) -> str:
    """'portrait' when the box of the largest person part (alpha >= 0.5) is less than ``portrait_aspect``
    times as tall as wide, else 'full_body'.

    Measured on the human masks: standing full-body people (ccp-voc) have boxes 1.8-5.1 times as
    tall as wide (5% quantile 2.3), head-and-shoulders portraits (portraits-aisegment) 0.76-1.75
    (95% quantile 1.55); the box's share of the frame overlaps (0.24-0.74 vs 0.46-0.96).
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats(masks.binarize(alpha).astype(np.uint8))
    if n <= 1:
        return "full_body"
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # stray specks do not widen the box
    aspect = stats[largest, cv2.CC_STAT_HEIGHT] / stats[largest, cv2.CC_STAT_WIDTH]
    return "portrait" if aspect < portrait_aspect else "full_body"


@dataclass
class FusionModel:
    """Logistic stacking of member logits, one set of coefficients per scene kind (JSON, versioned).

        fused = sigmoid(bias[k] + sum_i coef[k][i] * logit(alpha_i))

    k is 'all', or the scene kind of the 'all' fusion's person box (``scene_kind``) when
    ``portrait_aspect`` is set and the file has that kind. ``disagreement`` is fuse()'s, with weights |coef[k]|.
    """
    members: list[str]
    kinds: dict[str, dict]  # kind ('all', 'portrait', 'full_body') -> {"coef": {member: c}, "bias": b}
    portrait_aspect: float | None = None  # person box height / width below which a scene is a portrait
    version: int = FUSION_FILE_VERSION
    fitted_on: str = ""  # the labelled stores and how many samples (for people)
    measured: dict = field(default_factory=dict)  # IoU figures at fitting time (for people)

    def __post_init__(self):
        if self.version != FUSION_FILE_VERSION:
            raise ValueError(f"fusion weights file version {self.version}, this code reads {FUSION_FILE_VERSION}: "
                             "refit it (python -m labeling fit-fusion)")
        if "all" not in self.kinds:
            raise ValueError(f"fusion weights have kinds {sorted(self.kinds)}; 'all' is required")

    @classmethod
    def load(cls, path: Path | str, setting: str = "autolabel.fusion.weights_file") -> "FusionModel":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no fusion weights file (set by {setting}); fit one with "
                                    "`python -m labeling fit-fusion --stores S --out PATH`, or set "
                                    "autolabel.fusion.method: weighted")
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path | str) -> None:
        from core import io

        io.write_text(Path(path), json.dumps(asdict(self), indent=1) + "\n")

    def combine(self, logits: Mapping[str, np.ndarray], kind: str) -> np.ndarray:
        k = self.kinds[kind]
        z = np.full(next(iter(logits.values())).shape, k["bias"], np.float32)
        for name, coef in k["coef"].items():
            z += np.float32(coef) * logits[name]
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)

    def kind_of(self, logits: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray]:
        """(kind used, the 'all' fusion) for one image's member logits."""
        fused = self.combine(logits, "all")
        if self.portrait_aspect is None:
            return "all", fused
        kind = scene_kind(fused, self.portrait_aspect)
        return (kind if kind in self.kinds else "all"), fused

    def fuse(self, alphas: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, str]:
        """(fused, disagreement, kind) from member alphas (float [0, 1] or uint8)."""
        logits = {n: member_logits(alphas[n]) for n in self.members}
        kind, fused = self.kind_of(logits)
        if kind != "all":
            fused = self.combine(logits, kind)
        weights = {n: abs(c) for n, c in self.kinds[kind]["coef"].items()}
        return fused, fuse(alphas, weights)[1], kind


@lru_cache(maxsize=8)
def _load_model(path: str, mtime: float) -> FusionModel:
    return FusionModel.load(path)


def file_model(params: FusionParams, names: Sequence[str]) -> FusionModel | None:
    """The fitted file when `method` is file and it was fitted for ``names``; None otherwise.

    Another set of members (``--members`` on the command line) falls back to the weighted vote of
    `weights` and `vote_threshold`, with a warning: the file's coefficients belong to its members.
    """
    if params.method != "file":
        return None
    path = Path(params.weights_file)
    model = _load_model(str(path), path.stat().st_mtime if path.is_file() else 0.0)
    if sorted(model.members) != sorted(names):
        log.warning("%s was fitted for members %s, not %s: fusing with the weighted vote (fusion.weights, "
                    "vote_threshold); refit it for these members with python -m labeling.fit_fusion",
                    path, model.members, list(names))
        return None
    return model


class Vote:
    """The weighted vote as the ensemble's fusion: ``vote(alphas) -> (fused, disagreement)`` (``fuse``)."""

    def __init__(self, weights: Mapping[str, float], threshold: float):
        self.weights, self.threshold = dict(weights), threshold

    def __call__(self, alphas: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return fuse(alphas, self.weights, self.threshold)

    def reaches(self, alphas: Mapping[str, np.ndarray], level: float) -> tuple[np.ndarray, None]:
        """(fused alpha >= ``level`` as a bool (H, W) mask, None): the same pixels as thresholding
        ``fuse``'s alpha, from the plain weighted sum (the calibration is increasing, so the raw vote is
        compared with its inverse at ``level``): a third of the work, for the zoom guide."""
        t = self.threshold
        raw = 2.0 * level * t if level <= 0.5 else t + 2.0 * (level - 0.5) * (1.0 - t)
        vote = term = None
        for weight, a in _weighted(alphas, self.weights):
            if vote is None:
                vote, term = np.multiply(a, weight), np.empty(a.shape, np.float32)
            else:
                vote += np.multiply(a, weight, out=term)
        return vote >= np.float32(raw), None


class Stacking:
    """A fitted ``FusionModel`` as the ensemble's fusion (same interface as ``Vote``)."""

    def __init__(self, model: FusionModel):
        self.model = model

    def __call__(self, alphas: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return self.model.fuse(alphas)[:2]

    def reaches(self, alphas: Mapping[str, np.ndarray], level: float) -> tuple[np.ndarray, tuple]:
        """(fused alpha >= ``level``, the (fused, disagreement) it came from, for reuse)."""
        fused = self(alphas)
        return fused[0] >= level, fused


Fuser = Vote | Stacking


def fuser(params: FusionParams, names: Sequence[str], weights: Mapping[str, float] | None = None,
          threshold: float | None = None) -> Fuser:
    """The ensemble's fusion, alphas -> (fused, disagreement): the fitted file (method file) or the
    weighted vote with ``weights`` / ``threshold`` (default: the params')."""
    model = file_model(params, names)
    if model is not None:
        return Stacking(model)
    return Vote(params.weights if weights is None else weights,
                params.vote_threshold if threshold is None else threshold)
