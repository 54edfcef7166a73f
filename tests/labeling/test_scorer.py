"""The learned label-quality scorer: exact values on hand-made arrays, self-corruption kinds, and a
fit on synthetic scenes that separates corrupted labels from clean ones it has not seen."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from labeling import scorer
from labeling.quality import QualityParams, assess
from labeling.scorer import KINDS, NAMES, Scorer, ScorerParams, corrupt, corruptions, features, fit, fit_logistic

H, W = 120, 160


def test_fit_logistic_exact_on_two_points():
    # x = -1 (clean), +1 (corrupted), l2 = 1: by symmetry bias 0, and the gradient vanishes where c = 2 sigmoid(-c)
    coef, bias = fit_logistic(np.array([[-1.0], [1.0]]), np.array([0, 1]), l2=1.0)
    assert bias == pytest.approx(0.0, abs=1e-9)
    assert coef[0] == pytest.approx(2.0 / (1.0 + np.exp(coef[0])), abs=1e-9)
    assert coef[0] == pytest.approx(0.6749, abs=1e-4)
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(np.zeros((3, 1)), np.zeros(3))


def test_classes_weigh_the_same_whatever_their_counts():
    # each class weighs half of the N examples: three copies of the clean point weigh what one did, and
    # with N = 4 instead of 2 the data term doubles, so twice the penalty gives the same fit
    once = fit_logistic(np.array([[-1.0], [1.0]]), np.array([0, 1]), l2=1.0)
    thrice = fit_logistic(np.array([[-1.0], [-1.0], [-1.0], [1.0]]), np.array([0, 0, 0, 1]), l2=2.0)
    assert thrice[0][0] == pytest.approx(once[0][0], abs=1e-9) and thrice[1] == pytest.approx(once[1], abs=1e-9)


def test_precision_threshold_exact():
    clean, bad = np.array([0.9, 0.8, 0.7, 0.3]), np.array([0.1, 0.2, 0.5])
    # t = 0.6 catches every bad label and one clean: precision 0.5 x 1 / (0.5 x 1 + 0.5 x 0.25) = 0.8
    assert scorer.precision_threshold(clean, bad, target=0.8, prior=0.5) == pytest.approx(0.6)
    # a stricter target keeps t = 0.25 (2 of 3 bad, no clean: precision 1)
    assert scorer.precision_threshold(clean, bad, target=0.9, prior=0.5) == pytest.approx(0.25)
    # fewer wrong labels expected: the same TPR / FPR give less precision
    assert scorer.precision_threshold(clean, bad, target=0.8, prior=0.2) == pytest.approx(0.25)


def test_scorer_quality_exact_and_round_trip(tmp_path):
    d = len(NAMES)
    s = Scorer(names=list(NAMES), mean=[0.5] * d, scale=[2.0] * d, coef=[1.0] + [0.0] * (d - 1), bias=-1.0,
               threshold=0.4)
    x = np.full((1, d), 0.5)
    x[0, 0] = 4.5  # z = 2 -> quality = 1 - sigmoid(2 - 1)
    assert s.quality(x)[0] == pytest.approx(1.0 - 1.0 / (1.0 + np.exp(-1.0)))
    s.save(tmp_path / "w.json")
    assert Scorer.load(tmp_path / "w.json") == s
    with pytest.raises(ValueError, match="refit"):
        Scorer(names=["other"], mean=[0], scale=[1], coef=[1], bias=0, threshold=0.5).quality(np.zeros((1, 1)))
    with pytest.raises(FileNotFoundError, match="--fit-scorer"):
        Scorer.load(tmp_path / "missing.json")


def test_shipped_default_weights_load():
    s = Scorer.load(scorer.DEFAULT_WEIGHTS)
    assert s.names == list(NAMES) and 0.0 < s.threshold < 1.0


def ellipse(cx=80, cy=60, ax=24, ay=40, angle=0.0):
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (int(cx), int(cy)), (int(ax), int(ay)), angle, 0, 360, 1, -1)
    return m.astype(bool)


@pytest.mark.parametrize("kind", KINDS)
def test_each_corruption_changes_the_label_its_way(kind):
    label = ellipse()
    bad = corrupt(label, kind, np.random.default_rng(1))
    assert bad.shape == label.shape and bad.dtype == bool and (bad != label).any()
    if kind in ("dilate", "box", "blob"):
        assert (bad >= label).all()  # only adds
    if kind in ("erode", "cut"):
        assert (bad <= label).all()  # only removes
    if kind == "cut":
        assert 0.5 <= bad.sum() / label.sum() <= 0.9
    if kind == "shift":
        assert bad.sum() == label.sum()  # moved inside the frame, not resized


def test_corruptions_are_distinct_kinds_and_none_for_an_empty_label():
    rng = np.random.default_rng(0)
    out = corruptions(ellipse(), 3, rng)
    assert len(out) == 3 and all((o != ellipse()).any() for o in out)
    assert corruptions(np.zeros((H, W), bool), 3, rng) == []
    with pytest.raises(ValueError, match="corruption kind"):
        corrupt(ellipse(), "smudge", rng)


def synthetic(rng):
    """(label, fused, disagreement, rgb): a person ellipse, an ensemble that is roughly right, an image."""
    truth = ellipse(rng.uniform(60, 100), rng.uniform(50, 70), rng.uniform(14, 30), rng.uniform(25, 45),
                    rng.uniform(-30, 30))
    noise = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 4) * 6
    soft = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 2.0)
    fused = np.clip(soft + 0.08 * noise, 0, 1)
    dis = np.clip(np.abs(noise) * 0.2 + 0.3 * (1 - np.abs(2 * soft - 1)), 0, 1)
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = rng.integers(0, 255, 3)
    rgb[truth] = rng.integers(0, 255, 3)
    return truth, (fused * 255).astype(np.uint8), (dis * 255).astype(np.uint8), rgb


def rows(n, seed):
    rng, params = np.random.default_rng(seed), QualityParams()
    clean, bad = [], []
    for _ in range(n):
        label, fused, dis, rgb = synthetic(rng)
        judge = lambda m: features(assess(m.astype(np.uint8) * 255, fused, dis, {}, rgb, params))  # noqa: E731
        clean.append(judge(label))
        bad.extend(judge(m) for m in corruptions(label, 2, rng))
    return np.array(clean), np.array(bad)


def test_fit_on_synthetic_scenes_separates_unseen_corrupted_labels():
    train_clean, train_bad = rows(30, seed=0)
    s = fit(train_clean, train_bad, ScorerParams(prior=0.5, target_precision=0.9))
    test_clean, test_bad = rows(20, seed=1)
    q_clean, q_bad = s.quality(test_clean), s.quality(test_bad)
    auroc = (q_clean[:, None] > q_bad[None, :]).mean()
    assert auroc > 0.95, auroc
    assert np.mean(q_bad < s.threshold) > 0.8 and np.mean(q_clean < s.threshold) < 0.2
