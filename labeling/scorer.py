"""A learned label-quality scorer, trained on self-corruption: no labels of which labels are wrong.

The checks of ``labeling.quality`` each look at one kind of error; how much each matters, and how
they combine, depends on the data and the ensemble. The scorer learns that from the store itself:

1. take the labels the checks consider clean (check product >= ``clean_min``),
2. corrupt each of them ``corruptions`` times with random parameters (``corrupt``: dilate, erode,
   shift, cut off a part along a random line, replace by its boxes, add a blob),
3. assess the originals and the corrupted copies against the same ensemble alphas, and fit a
   random forest (``trees`` trees, leaves of at least ``min_leaf`` examples, classes weighted alike)
   of corrupted vs original on the clipped ``FEATURES``,
4. pick the flag threshold: the highest recall whose precision, estimated on held-out examples
   (out of bag; in ``cross_fit`` the other folds') at a share ``prior`` of wrong labels, reaches
   ``target_precision``.

The store's own labels are scored by ``cross_fit``: each by a forest fitted without it.

``label_quality = 1 - P(corrupted | features)``, the trees' mean. A forest, not a linear model: which
evidence to trust depends on the others (where the members disagree, as on coco128's crowds and
small people, the ensemble-relative measures say little and the image's must decide). On coco128
with 20% of the labels corrupted (benchmarks/label_quality.py, 3 draws, the same labels): AUROC 0.830
as a logistic regression, 0.855 as cross-fitted forests (0.870 from one forest scoring the labels it
was fitted on, which keeps the wrong labels that passed as clean examples: portraits' flag recall
0.889 instead of 0.944). The trees are plain arrays in a JSON (``Scorer.save`` /
``Scorer.load``, no pickle); a store with too few labels to fit on uses the shipped default
(``labeling/scorer_default.json``, fitted the same way; ``python -m labeling clean --fit-scorer``).
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Literal

import cv2
import numpy as np

from core.config import check_ranges
from labeling.quality import Assessment

DEFAULT_WEIGHTS = Path(__file__).resolve().with_name("scorer_default.json")
KINDS = ("dilate", "erode", "shift", "cut", "box", "blob")
# (measure or evidence, lo, hi): each feature is clipped to [lo, hi] (outliers do not dominate)
FEATURES = (
    ("gt_iou", 0.0, 1.0),
    ("gt_boundary_iou", 0.0, 1.0),
    ("confident_iou", 0.0, 1.0),
    ("shrink_gain", 0.0, 0.5),
    ("grow_gain", 0.0, 0.5),
    ("shift_gain", 0.0, 0.5),
    ("missing_part", 0.0, 1.0),
    ("extra_blob", 0.0, 1.0),
    ("edge_alignment", 0.0, 1.0),
    ("box_extent", 0.0, 1.0),
    ("soft_precision", 0.0, 1.0),
    ("soft_recall", 0.0, 1.0),
    ("sure_extra", 0.0, 1.0),
    ("sure_missing", 0.0, 1.0),
    ("extra_component", 0.0, 1.0),
    ("missing_component", 0.0, 1.0),
    ("area_ratio", -2.0, 2.0),
    ("empty_label", 0.0, 1.0),
    ("contour_support", 0.0, 1.0),
    ("weakest_stretch", 0.0, 1.0),
    ("outline_contrast", 0.0, 2.0),  # colour contrast across the outline (quality._outline_contrast)
    ("low_contrast", 0.0, 1.0),
    ("weakest_contrast", 0.0, 1.0),
    ("colour_extra", 0.0, 1.0),  # label parts coloured like the surroundings (quality._colour_parts)
    ("colour_missing", 0.0, 1.0),
    ("colour_separation", 0.0, 1.0),
    ("agreement", 0.0, 1.0),
    ("confident_share", 0.0, 1.0),
    ("person_scale", 0.0, 1.0),  # sqrt(label area / image area)
    ("check_quality", 0.0, 1.0),  # the checks' product (quality.assess)
)
NAMES = tuple(f[0] for f in FEATURES)


@dataclass(frozen=True)
class ScorerParams:
    # self: fit on this store at run time; default: the shipped weights; checks: the checks' product
    mode: Literal["self", "default", "checks"] = "self"
    weights: str = ""  # a weights JSON to use instead of the shipped default (mode default, and self's fallback)
    corruptions: int = 2  # self: corrupted copies per clean label
    clean_min: float = 0.5  # self: labels whose check product is below this are not used as clean examples
    min_labels: int = 20  # self: fewer clean labels than this -> the default weights
    trees: int = 200  # trees of the forest
    min_leaf: int = 2  # examples a leaf holds at least (smooths the probabilities)
    prior: float = 0.2  # expected share of wrong labels, to turn TPR / FPR into precision
    target_precision: float = 0.8  # flag threshold: best recall at this precision (out-of-bag estimate)
    seed: int = 0  # corruption draws (per label: seed and the label's id) and the forest's

    RANGES: ClassVar[dict[str, str]] = {"trees": ">= 1", "min_leaf": ">= 1"}

    def __post_init__(self):
        if self.mode not in ("self", "default", "checks"):
            raise ValueError(f"`scorer.mode` should be one of ['self', 'default', 'checks'], got {self.mode!r}")
        check_ranges(self, "clean.scorer")
        if not 0.0 < self.prior < 1.0 or not 0.0 < self.target_precision <= 1.0:
            raise ValueError(f"`prior` should be in (0, 1) and `target_precision` in (0, 1], got "
                             f"{self.prior!r}, {self.target_precision!r}")


def features(a: Assessment) -> np.ndarray:
    """(len(FEATURES),) float64 from an assessment's measures and evidences (missing -> a neutral value)."""
    values = {**a.evidence, **a.measures, "agreement": a.agreement,
              "person_scale": float(np.sqrt(a.measures.get("label_area", 0.0)))}
    neutral = {"edge_alignment": 1.0, "soft_precision": 1.0, "soft_recall": 1.0, "confident_iou": 1.0,
               "contour_support": 1.0, "outline_contrast": 1.0, "colour_separation": 1.0}
    return np.array([np.clip(values.get(n, neutral.get(n, 0.0)), lo, hi) for n, lo, hi in FEATURES], np.float64)


def precision_threshold(quality_clean: np.ndarray, quality_bad: np.ndarray, target: float, prior: float) -> float:
    """The flag threshold t (flag when quality < t) with the best recall whose precision >= ``target``.

    precision(t) = prior TPR / (prior TPR + (1 - prior) FPR), TPR / FPR the shares of bad / clean
    examples below t. When no t reaches the target, the t of the best precision.
    """
    cuts = np.unique(np.concatenate([quality_clean, quality_bad]))
    thresholds = np.concatenate([(cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1e-9]])
    best_ok, best_any = None, (-1.0, 0.0)
    for t in thresholds:
        tpr, fpr = float(np.mean(quality_bad < t)), float(np.mean(quality_clean < t))
        if tpr == 0.0:
            continue
        precision = prior * tpr / (prior * tpr + (1 - prior) * fpr)
        if precision >= target and (best_ok is None or tpr > best_ok[0]):
            best_ok = (tpr, float(t))
        if precision > best_any[0]:
            best_any = (precision, float(t))
    return best_ok[1] if best_ok else best_any[1]


TREE_KEYS = ("feature", "threshold", "left", "right", "p")


@dataclass
class Scorer:
    """label_quality = (1 - the trees' mean P(corrupted | features)) x (1 - the empty_label evidence);
    flag when < threshold.

    ``trees``: per tree, per node ``feature`` and ``threshold`` (go left when the feature <= it),
    the ``left`` and ``right`` child (-1 at a leaf), and ``p``, the node's share of corrupted
    examples with the classes weighted alike.
    """
    names: list[str]
    trees: list[dict[str, list]]
    threshold: float
    fitted_on: str = ""  # what the trees were fitted on (for people)

    @functools.cached_property
    def _arrays(self) -> list[tuple[np.ndarray, ...]]:
        return [tuple(np.asarray(tree[k]) for k in TREE_KEYS) for tree in self.trees]

    def quality(self, x: np.ndarray) -> np.ndarray:
        """(N,) label quality in [0, 1] from (N, D) features (``features`` order)."""
        if list(self.names) != list(NAMES):
            raise ValueError(f"scorer weights are for features {self.names}, this code computes {list(NAMES)}: "
                             "refit them (python -m labeling clean --fit-scorer)")
        x = np.atleast_2d(np.asarray(x, np.float64))
        rows, total = np.arange(len(x)), np.zeros(len(x))
        for feature, threshold, left, right, p in self._arrays:
            node = np.zeros(len(x), np.int64)
            inner = left[node] >= 0
            while inner.any():
                n = node[inner]
                node[inner] = np.where(x[rows[inner], feature[n]] <= threshold[n], left[n], right[n])
                inner = left[node] >= 0
            total += p[node]
        # an empty label is no corruption the trees were shown (they cannot extrapolate to it): its check decides
        return (1.0 - total / max(len(self.trees), 1)) * (1.0 - x[:, NAMES.index("empty_label")])

    def save(self, path: Path | str) -> None:
        from core import io

        io.write_text(Path(path), json.dumps(asdict(self), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> "Scorer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no scorer weights (fit some with `python -m labeling clean "
                                    "--store S --labels L --fit-scorer PATH`, or set clean.scorer.mode: self)")
        data = json.loads(path.read_text())
        if "trees" not in data:
            raise ValueError(f"{path}: scorer weights of an older format (no `trees`): refit them "
                             "(python -m labeling clean --store S --labels L --fit-scorer PATH)")
        return cls(**data)


def _tree(tree) -> dict[str, list]:
    """A fitted scikit-learn tree as the plain arrays ``Scorer.trees`` holds."""
    value = tree.value[:, 0, :]
    p = value[:, 1] / np.maximum(value.sum(axis=1), 1e-12)
    return {"feature": tree.feature.tolist(), "threshold": np.round(tree.threshold, 6).tolist(),
            "left": tree.children_left.tolist(), "right": tree.children_right.tolist(), "p": np.round(p, 5).tolist()}


def _forest(x_clean: np.ndarray, x_bad: np.ndarray, params: ScorerParams, oob: bool = False):
    """(the fitted forest, the 0/1 targets of its rows); ``oob``: also its out-of-bag scores."""
    from sklearn.ensemble import RandomForestClassifier

    if len(x_clean) == 0 or len(x_bad) == 0:
        raise ValueError(f"scorer fit: both clean and corrupted examples are needed, got {len(x_clean)} and {len(x_bad)}")
    x = np.vstack([x_clean, x_bad])
    y = np.concatenate([np.zeros(len(x_clean)), np.ones(len(x_bad))])
    return RandomForestClassifier(n_estimators=params.trees, min_samples_leaf=params.min_leaf, class_weight="balanced",
                                  oob_score=oob, random_state=params.seed, n_jobs=1).fit(x, y), y


def _scorer(forest, threshold: float, fitted_on: str = "") -> Scorer:
    return Scorer(names=list(NAMES), trees=[_tree(e.tree_) for e in forest.estimators_],
                  threshold=round(threshold, 6), fitted_on=fitted_on)


def fit(x_clean: np.ndarray, x_bad: np.ndarray, params: ScorerParams, fitted_on: str = "") -> Scorer:
    """A scorer from clean (N0, D) and corrupted (N1, D) feature rows; threshold from out-of-bag scores."""
    forest, y = _forest(x_clean, x_bad, params, oob=True)
    # each example scored by the trees that did not see it (in-sample scores would promise too much precision)
    oob = 1.0 - forest.oob_decision_function_[:, 1]
    seen = np.isfinite(oob)
    threshold = precision_threshold(oob[seen & (y == 0)], oob[seen & (y == 1)], params.target_precision, params.prior)
    return _scorer(forest, threshold, fitted_on)


def folds_of(ids: list[str], folds: int) -> np.ndarray:
    """(N,) fold of each sample id, stable across runs (a hash of the id)."""
    return np.array([int(hashlib.sha1(i.encode()).hexdigest()[:8], 16) % folds for i in ids], np.int64)


def cross_fit(clean: tuple[list[str], np.ndarray], bad: tuple[list[str], np.ndarray],
              labels: tuple[list[str], np.ndarray], params: ScorerParams, folds: int = 10) -> tuple[np.ndarray, float]:
    """(the quality of each of ``labels``, the flag threshold), each label scored by a forest fitted
    without it and its corrupted copies: ``folds`` forests, the samples split by id.

    Each argument is (sample ids, (N, D) feature rows). Scoring the store's own labels with a forest
    fitted on them would return what it learned: a wrong label that the checks let pass as a clean
    example would be learned as clean and kept. The threshold comes from the held-out qualities of
    the examples, as the labels' are.
    """
    (ids_c, x_c), (ids_b, x_b), (ids_l, x_l) = clean, bad, labels
    folds = min(folds, len(set(ids_b)))
    if folds < 2:
        raise ValueError(f"scorer cross-fit: corrupted examples of {len(set(ids_b))} label(s), at least 2 are needed "
                         "(raise clean.scorer.min_labels, or set clean.scorer.mode: default)")
    fold_c, fold_b, fold_l = folds_of(ids_c, folds), folds_of(ids_b, folds), folds_of(ids_l, folds)
    q_c, q_b, q_l = np.ones(len(x_c)), np.ones(len(x_b)), np.ones(len(x_l))
    for k in range(folds):
        if (fold_b == k).all():
            raise ValueError(f"scorer cross-fit: every corrupted example falls in one of {folds} folds "
                             "(too few labels: raise clean.scorer.min_labels, or set clean.scorer.mode: default)")
        scorer = _scorer(_forest(x_c[fold_c != k], x_b[fold_b != k], params)[0], threshold=0.0)
        for q, x, fold in ((q_c, x_c, fold_c), (q_b, x_b, fold_b), (q_l, x_l, fold_l)):
            if (fold == k).any():
                q[fold == k] = scorer.quality(x[fold == k])
    return q_l, precision_threshold(q_c, q_b, params.target_precision, params.prior)


# ---------------------------------------------------------------- self-corruption
def label_rng(seed: int, sample_id: str) -> np.random.Generator:
    """A generator for one label, independent of the order labels are visited in."""
    return np.random.default_rng([seed, int(hashlib.sha1(sample_id.encode()).hexdigest()[:12], 16)])


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def corrupt(label: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``label`` (H, W) bool with one error of ``kind`` (KINDS), parameters drawn from ``rng``.

    Sizes are relative to the label's size s = sqrt(area): dilate / erode by 3-12% of s, shift by
    6-25% of s in any direction, cut away 15-45% of the area beyond a line at a random angle,
    replace each part (>= 1% of the area) by its box, add an ellipse of 10-50% of the area centred
    on a random contour point.
    """
    m8 = label.astype(np.uint8)
    h, w = label.shape
    size = float(np.sqrt(max(np.count_nonzero(label), 1)))
    if kind in ("dilate", "erode"):
        r = max(1, int(round(rng.uniform(0.03, 0.12) * size)))
        op = cv2.dilate if kind == "dilate" else cv2.erode
        return op(m8, _disk(r)).astype(bool)
    if kind == "shift":
        d, angle = rng.uniform(0.06, 0.25) * size, rng.uniform(0, 2 * np.pi)
        move = np.float32([[1, 0, round(d * np.cos(angle))], [0, 1, round(d * np.sin(angle))]])
        return cv2.warpAffine(m8, move, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
    if kind == "cut":
        ys, xs = np.nonzero(label)
        angle = rng.uniform(0, 2 * np.pi)
        along = xs * np.cos(angle) + ys * np.sin(angle)
        limit = np.quantile(along, 1.0 - rng.uniform(0.15, 0.45))
        out = label.copy()
        out[ys[along > limit], xs[along > limit]] = False
        return out
    if kind == "box":
        n, _, stats, _ = cv2.connectedComponentsWithStats(m8)
        out = label.copy()
        for i in range(1, n):
            x, y, bw, bh, a = stats[i]
            if a >= 0.01 * label.sum():
                out[y:y + bh, x:x + bw] = True
        return out
    if kind == "blob":
        contours, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        points = max(contours, key=len)[:, 0]
        px, py = points[rng.integers(len(points))]
        axis = np.sqrt(label.sum() * rng.uniform(0.1, 0.5) / np.pi)
        ratio = rng.uniform(0.5, 2.0)
        out = np.zeros((h, w), np.uint8)
        cv2.ellipse(out, (int(px), int(py)), (max(2, int(axis * ratio)), max(2, int(axis / ratio))),
                    rng.uniform(0, 180), 0, 360, 1, -1)
        return label | out.astype(bool)
    raise ValueError(f"corruption kind should be one of {list(KINDS)}, got {kind!r}")


def corruptions(label: np.ndarray, count: int, rng: np.random.Generator, max_iou: float = 0.95) -> list[np.ndarray]:
    """``count`` corrupted copies of ``label`` (bool), kinds drawn without repeats while they last.

    A copy that barely differs from the label (IoU > ``max_iou``: a box on a boxy label) is dropped
    and another kind drawn, while kinds last. An empty label gets none.
    """
    if not label.any():
        return []
    kinds = list(rng.permutation(KINDS))
    out = []
    while len(out) < count and kinds:
        bad = corrupt(label, kinds.pop(), rng)
        union = np.count_nonzero(bad | label)
        if union and np.count_nonzero(bad & label) / union <= max_iou:
            out.append(bad)
    return out
