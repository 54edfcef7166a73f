"""Exact values of every loss term on small hand-made tensors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from datasets.masks import edge_band as numpy_edge_band
from training.losses import (LossParams, MattingLoss, bce_loss, consistency_loss, edge_band, edge_loss,
                             gradient_loss, l1_loss, sobel)

LN2, LN4_3 = math.log(2.0), math.log(4.0 / 3.0)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


STEP = t([[0, 0, 1, 1]] * 4)  # a vertical edge between columns 1 and 2
LOGITS_B = t([[math.log(3), -math.log(3)], [0.0, 0.0]])  # sigmoid -> 0.75, 0.25, 0.5, 0.5

# (name, pred logits, true alpha, weight, expected l1, expected bce)
PIXEL_TABLE = [
    ("even", t([[0.0, 0.0], [0.0, 0.0]]), t([[0, 1], [1, 0]]), None, 0.5, LN2),
    ("confident", LOGITS_B, t([[1, 0], [1, 0]]), None, 0.375, (2 * LN4_3 + 2 * LN2) / 4),
    ("weighted", LOGITS_B, t([[1, 0], [1, 0]]), t([[1, 1], [0, 0]]), 0.25, LN4_3),
    ("soft target", t([[0.0]]), t([[0.5]]), None, 0.0, LN2),
    ("nothing valid", t([[0.0]]), t([[1.0]]), t([[0.0]]), 0.0, 0.0),
]


@pytest.mark.parametrize("name, logits, true, weight, l1, bce", PIXEL_TABLE, ids=[r[0] for r in PIXEL_TABLE])
def test_pixel_losses(name, logits, true, weight, l1, bce):
    assert float(l1_loss(torch.sigmoid(logits), true, weight)) == pytest.approx(l1, abs=1e-6)
    assert float(bce_loss(logits, true, weight)) == pytest.approx(bce, abs=1e-6)


def test_sobel_of_a_step():
    gx, gy = sobel(STEP)
    # replicated borders: x-differences 0, 1, 1, 0 across the columns, weighted 1 + 2 + 1 vertically
    assert gx[0, 0].tolist() == [[0.0, 4.0, 4.0, 0.0]] * 4
    assert gy.abs().sum() == 0


GRADIENT_TABLE = [
    ("flat vs step", torch.zeros_like(STEP), STEP, 2.0),  # |gx| = 4 on 8 of 16 pixels
    ("equal", STEP, STEP, 0.0),
    ("half step", STEP * 0.5, STEP, 1.0),
]


@pytest.mark.parametrize("name, pred, true, expected", GRADIENT_TABLE, ids=[r[0] for r in GRADIENT_TABLE])
def test_gradient_loss(name, pred, true, expected):
    assert float(gradient_loss(pred, true)) == pytest.approx(expected, abs=1e-6)


def test_edge_band_of_a_step():
    band = edge_band(STEP, 1)
    assert band[0, 0].tolist() == [[0.0, 1.0, 1.0, 0.0]] * 4


def test_edge_band_matches_the_numpy_one():
    rng = np.random.default_rng(0)
    for width in (1, 2, 3):
        mask = (rng.random((13, 17)) > 0.6).astype(np.float32)
        ours = edge_band(torch.from_numpy(mask)[None, None], width)[0, 0].numpy().astype(bool)
        assert (ours == numpy_edge_band(mask, width)).all()


EDGE_TABLE = [
    ("zeros vs step", torch.zeros_like(STEP), STEP, None, 0.5),  # error 1 on the band's inner half
    ("step vs step", STEP, STEP, None, 0.0),
    ("masked out", torch.zeros_like(STEP), STEP, t([[1, 1, 0, 1]] * 4), 0.0),
]


@pytest.mark.parametrize("name, pred, true, weight, expected", EDGE_TABLE, ids=[r[0] for r in EDGE_TABLE])
def test_edge_loss(name, pred, true, weight, expected):
    assert float(edge_loss(pred, true, 1, weight)) == pytest.approx(expected, abs=1e-6)


def test_consistency_loss():
    assert float(consistency_loss(t([[0.2, 0.8]]), t([[0.5, 0.5]]))) == pytest.approx(0.3, abs=1e-6)


def test_matting_loss_terms_and_total():
    criterion = MattingLoss(LossParams(l1=1.0, bce=1.0, gradient=1.0, edge=2.0, edge_width=1, coarse=0.5))
    terms = criterion(torch.zeros_like(STEP), STEP, coarse_logits=torch.zeros(1, 1, 1, 1))
    # pred 0.5 everywhere: l1 0.5, bce ln 2, gradient 2 (only the label has one), edge 0.5, coarse ln 2
    assert float(terms["l1"]) == pytest.approx(0.5)
    assert float(terms["bce"]) == pytest.approx(LN2)
    assert float(terms["gradient"]) == pytest.approx(2.0)
    assert float(terms["edge"]) == pytest.approx(0.5)
    assert float(terms["coarse"]) == pytest.approx(LN2)
    assert float(terms["total"]) == pytest.approx(0.5 + LN2 + 2.0 + 2 * 0.5 + 0.5 * LN2)


def test_distillation_only_where_a_teacher_exists():
    criterion = MattingLoss(LossParams(l1=0, bce=0, gradient=0, edge=0, coarse=0, distill=1.0))
    logits = torch.zeros(2, 1, 2, 2)
    teacher = torch.stack([torch.ones(1, 2, 2), torch.zeros(1, 2, 2)])
    terms = criterion(logits, torch.zeros_like(logits), teacher=teacher,
                      teacher_weight=torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
    assert float(terms["distill"]) == pytest.approx(0.5)
    assert float(terms["total"]) == pytest.approx(0.5)


def test_edge_width_must_be_positive():
    with pytest.raises(ValueError, match="edge_width"):
        edge_band(STEP, 0)
