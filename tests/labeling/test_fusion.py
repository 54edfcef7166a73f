"""Fusion math on hand-made arrays: exact values."""
from __future__ import annotations

import numpy as np
import pytest

from labeling import fusion
from labeling.fusion import FusionParams


def test_fuse_equal_weights_even_split():
    ones, zeros = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    fused, disagreement = fusion.fuse({"a": ones, "b": zeros}, {})
    np.testing.assert_allclose(fused, 0.5)
    np.testing.assert_allclose(disagreement, 1.0)  # an even split of 0s and 1s


@pytest.mark.parametrize("alpha_a,alpha_b,wa,wb,vote,dis", [
    (1.0, 0.0, 3.0, 1.0, 0.75, 2 * np.sqrt(0.75 * 0.25 ** 2 + 0.25 * 0.75 ** 2)),  # 0.8660
    (0.8, 0.8, 1.0, 5.0, 0.8, 0.0),  # agreement: no disagreement whatever the weights
    (0.6, 0.2, 1.0, 1.0, 0.4, 2 * 0.2),
])
def test_fuse_weighted_values(alpha_a, alpha_b, wa, wb, vote, dis):
    a, b = np.full((1, 1), alpha_a, np.float32), np.full((1, 1), alpha_b, np.float32)
    fused, disagreement = fusion.fuse({"a": a, "b": b}, {"a": wa, "b": wb})
    assert fused[0, 0] == pytest.approx(vote, abs=1e-6)
    assert disagreement[0, 0] == pytest.approx(dis, abs=1e-6)


def test_fuse_reads_uint8_and_unlisted_members_weigh_one():
    a = np.full((1, 1), 255, np.uint8)
    b = np.zeros((1, 1), np.uint8)
    c = np.zeros((1, 1), np.uint8)
    fused, _ = fusion.fuse({"a": a, "b": b, "c": c}, {"a": 2.0})  # b, c weigh 1: vote 2/4
    assert fused[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("vote,threshold,expected", [
    (0.35, 0.35, 0.5), (0.175, 0.35, 0.25), (0.675, 0.35, 0.75), (0.0, 0.35, 0.0), (1.0, 0.35, 1.0),
    (0.3, 0.5, 0.3), (0.6, 0.8, 0.375),
])
def test_calibrate_maps_threshold_to_half(vote, threshold, expected):
    assert float(fusion.calibrate(np.float32(vote), threshold)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("threshold", [0.35, 0.5, 0.7])
@pytest.mark.parametrize("level", [0.25, 0.5, 0.8])
def test_vote_reaches_is_the_fused_alpha_thresholded(threshold, level):
    """The zoom guide from the plain weighted sum marks exactly the pixels whose fused alpha reaches the level."""
    rng = np.random.default_rng(1)
    alphas = {"a": rng.random((64, 64), dtype=np.float32), "b": rng.integers(0, 256, (64, 64)).astype(np.uint8),
              "c": rng.random((64, 64), dtype=np.float32).round(1)}
    vote = fusion.Vote({"a": 2.0, "b": 1.0, "c": 2.0}, threshold)
    mask, reused = vote.reaches(alphas, level)
    fused = vote(alphas)[0]
    assert reused is None and mask.dtype == bool
    near = np.abs(fused - level) < 1e-5  # float rounding may fall either side of the level itself
    np.testing.assert_array_equal(mask[~near], (fused >= level)[~near])
    assert 0.0 < mask.mean() < 1.0  # both sides of the level occur


def test_normalized_weights_and_errors():
    np.testing.assert_allclose(fusion.normalized_weights(["a", "b"], {"a": 3.0}), [0.75, 0.25])
    with pytest.raises(ValueError, match="sum to 0"):
        fusion.normalized_weights(["a"], {"a": 0.0})
    with pytest.raises(ValueError, match="vote_threshold"):
        FusionParams(vote_threshold=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        FusionParams(weights={"a": -1.0})
    with pytest.raises(ValueError, match="no member alphas"):
        fusion.fuse({}, {})


def test_learn_weights_finds_the_member_that_matches_the_truth():
    rng = np.random.default_rng(0)
    truths, samples = [], []
    for _ in range(3):
        truth = (rng.random((20, 30)) > 0.5).astype(np.float32)
        samples.append({"right": truth.copy(), "noise": rng.random((20, 30)).astype(np.float32),
                        "inverted": 1.0 - truth})
        truths.append(truth)
    weights = fusion.learn_weights(samples, truths, pixels=500)
    assert weights == {"right": 1.0, "noise": 0.0, "inverted": 0.0}
    assert fusion.learn_threshold(samples, truths, weights) == 0.2  # any threshold is perfect: the first


def test_learn_threshold_prefers_union_for_members_that_each_miss_a_part():
    truth = np.zeros((10, 10), np.float32)
    truth[:, :6] = 1.0
    left, right = truth.copy(), truth.copy()
    left[:, 3:6] = 0.0  # each member misses a different part
    right[:, :3] = 0.0
    t = fusion.learn_threshold([{"l": left, "r": right}], [truth], {"l": 1.0, "r": 1.0})
    assert t < 0.5  # half the vote is enough


def test_guided_fast_filter_matches_the_full_size_filter_and_snaps_the_edge(repo_root):
    """On a real photo with a member-like soft edge 4 px off: the fast (quarter-size coefficients) filter
    gives nearly the full-size colour-guided filter's alpha (the reference below), and both move the
    edge back onto the person, the fast one at least as well; flat areas stay 0 / 1."""
    import cv2

    from core import io
    from datasets import masks

    voc = repo_root.parent / "shared" / "data" / "ccp-voc" / "VOC2012"
    if not voc.is_dir():
        pytest.skip("../shared/data/ccp-voc is absent")
    rgb = io.read_image(voc / "JPEGImages" / "0001.jpg")
    person = (io.read_mask(voc / "SegmentationClass" / "0001.png") == 15).astype(np.float32)
    soft = cv2.GaussianBlur(np.roll(person, 4, axis=1), (0, 0), 3.0)  # an upsampled member's edge, 4 px off
    params = FusionParams(guided_radius=0.008)
    radius = max(1, int(round(params.guided_radius * np.hypot(*soft.shape))))
    whole = cv2.ximgproc.guidedFilter(rgb, soft, radius, params.guided_eps * 255.0 ** 2)
    reference = np.clip((whole - 0.5) * params.guided_sharpen + 0.5, 0.0, 1.0)
    fast = fusion.guided(rgb, soft, params)
    assert fast.dtype == np.float32 and fast.shape == soft.shape
    assert masks.iou(fast, reference) > 0.98 and np.abs(fast - reference).mean() < 0.004  # measured 0.988, 0.0027
    assert masks.iou(fast, person) > masks.iou(soft, person) + 0.02  # measured 0.925 -> 0.962
    assert masks.iou(fast, person) >= masks.iou(reference, person)  # full size: 0.954
    assert fast[0, 0] in (0.0, 1.0) and fast[soft.shape[0] // 2, soft.shape[1] // 2] in (0.0, 1.0)
