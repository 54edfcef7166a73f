"""The learned label-quality scorer: exact values on hand-made arrays, self-corruption kinds, and a
fit on synthetic scenes that separates corrupted labels from clean ones it has not seen."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from labeling import scorer
from labeling.quality import QualityParams, assess
from labeling.scorer import KINDS, NAMES, Scorer, ScorerParams, corrupt, corruptions, features, fit

H, W = 120, 160


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
    split = {"feature": [0, -2, -2], "threshold": [0.5, -2.0, -2.0], "left": [1, -1, -1], "right": [2, -1, -1],
             "p": [0.5, 0.2, 0.9]}  # feature 0 <= 0.5: P(corrupted) 0.2, else 0.9
    leaf = {"feature": [-2], "threshold": [-2.0], "left": [-1], "right": [-1], "p": [0.5]}
    s = Scorer(names=list(NAMES), trees=[split, leaf], threshold=0.4)
    x = np.zeros((2, d))
    x[1, 0] = 0.7
    np.testing.assert_allclose(s.quality(x), [1 - (0.2 + 0.5) / 2, 1 - (0.9 + 0.5) / 2])
    x[0, NAMES.index("empty_label")] = 0.5  # an empty label's check multiplies in
    np.testing.assert_allclose(s.quality(x), [(1 - (0.2 + 0.5) / 2) * 0.5, 1 - (0.9 + 0.5) / 2])
    s.save(tmp_path / "w.json")
    assert Scorer.load(tmp_path / "w.json") == s
    np.testing.assert_allclose(Scorer.load(tmp_path / "w.json").quality(x), s.quality(x))
    with pytest.raises(ValueError, match="refit"):
        Scorer(names=["other"], trees=[leaf], threshold=0.5).quality(np.zeros((1, 1)))
    with pytest.raises(FileNotFoundError, match="--fit-scorer"):
        Scorer.load(tmp_path / "missing.json")
    (tmp_path / "old.json").write_text(json.dumps({"names": list(NAMES), "coef": [0.0] * d, "bias": 0.0, "threshold": 0.5}))
    with pytest.raises(ValueError, match="older format"):
        Scorer.load(tmp_path / "old.json")


def test_the_forest_scores_as_scikit_learn_does():
    from sklearn.ensemble import RandomForestClassifier

    train_clean, train_bad = rows(12, seed=3)
    s = fit(train_clean, train_bad, ScorerParams(trees=25))
    forest = RandomForestClassifier(n_estimators=25, min_samples_leaf=2, class_weight="balanced", random_state=0,
                                    n_jobs=1).fit(np.vstack([train_clean, train_bad]),
                                                  np.r_[np.zeros(len(train_clean)), np.ones(len(train_bad))])
    test = np.vstack(rows(6, seed=4))
    np.testing.assert_allclose(1 - s.quality(test), forest.predict_proba(test)[:, 1], atol=1e-4)
    with pytest.raises(ValueError, match="both clean and corrupted"):
        fit(train_clean, train_clean[:0], ScorerParams())
    with pytest.raises(ValueError, match="clean.scorer.trees"):
        ScorerParams(trees=0)


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


def test_cross_fit_scores_each_label_with_a_forest_not_fitted_on_it():
    """A wrong label the checks let pass as a clean example: a forest fitted on it scores it as it learned it
    (clean); cross-fitting scores it with forests that never saw it, which take it for the corruption it is."""
    clean_rows, bad_rows = rows(40, seed=5)
    wrong = bad_rows[::2][:8]  # corrupted labels posing as clean examples of their own samples
    x_clean = np.vstack([clean_rows, wrong])
    ids_clean = [f"s{i}" for i in range(len(clean_rows))] + [f"w{i}" for i in range(len(wrong))]
    ids_bad = [f"s{i // 2}" for i in range(len(bad_rows))]  # each clean label's two corrupted copies
    params = ScorerParams(trees=50, min_leaf=1)
    quality, threshold = scorer.cross_fit((ids_clean, x_clean), (ids_bad, bad_rows), (ids_clean, x_clean), params)
    in_sample = fit(x_clean, bad_rows, params).quality(x_clean)
    planted = np.arange(len(clean_rows), len(x_clean))
    assert in_sample[planted].min() > 0.45  # learned as clean
    assert quality[planted].mean() < in_sample[planted].mean() - 0.3
    assert np.median(quality[planted]) < np.percentile(quality[:len(clean_rows)], 10)  # ranked below the clean
    assert 0.0 < threshold < 1.0
    assert scorer.folds_of(["a", "b"], 5).tolist() == scorer.folds_of(["a", "b"], 5).tolist()  # stable by id
    with pytest.raises(ValueError, match="min_labels"):  # one label's corruptions cannot be held out and fitted
        scorer.cross_fit((ids_clean[:1], x_clean[:1]), (["s0", "s0"], bad_rows[:2]), (ids_clean, x_clean), params)
