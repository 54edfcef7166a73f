"""Previous-frame priors: every kind occurs, each looks like what it stands for."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from datasets import masks
from datasets.synthesis import priors


@pytest.fixture
def alpha():
    a = np.zeros((90, 160), np.uint8)
    a[30:, 60:100] = 255  # torso cut by the bottom border
    a[12:34, 68:92] = 255  # head
    return a


def test_all_prior_kinds_occur_in_proportion():
    params = priors.PriorParams()
    rng = np.random.default_rng(0)
    kinds = Counter(priors.draw_prior(rng, params, 4).kind for _ in range(1000))
    assert set(kinds) == set(priors.PRIOR_KINDS)
    total = sum(params.weights.values())
    for kind, weight in params.weights.items():
        assert abs(kinds[kind] / 1000 - weight / total) < 0.05, kinds


def test_each_kind_renders_as_documented(alpha):
    params = priors.PriorParams()
    rng = np.random.default_rng(1)
    ious: dict[str, list[float]] = {k: [] for k in priors.PRIOR_KINDS}
    for _ in range(200):
        prior = priors.draw_prior(rng, params, 4)
        out = priors.render_prior(alpha, prior, params, grid_step=8)
        assert out.shape == alpha.shape and out.dtype == np.uint8
        if prior.kind == "empty":
            assert not out.any()
        else:
            # borders replicate: the body cut by the bottom stays on the bottom edge
            assert "bottom" in masks.touched_edges(out)
        ious[prior.kind].append(masks.iou(out, alpha))
    assert min(ious["affine_small"]) > 0.8
    assert np.mean(ious["affine_large"]) < np.mean(ious["affine_small"]) - 0.1
    assert 0.5 < np.mean(ious["tps"]) < 0.999


def test_prior_weights_are_checked():
    with pytest.raises(ValueError, match="unknown prior kind"):
        priors.PriorParams(weights={"optical_flow": 1.0})
    with pytest.raises(ValueError, match="not all 0"):
        priors.PriorParams(weights={"empty": 0.0})
    only_empty = priors.PriorParams(weights={"empty": 1.0})
    rng = np.random.default_rng(0)
    assert {priors.draw_prior(rng, only_empty, 4).kind for _ in range(20)} == {"empty"}
