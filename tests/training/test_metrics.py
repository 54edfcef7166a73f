"""Exact values of every metric on small hand-made arrays (RobustVideoMatting's definitions)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (clip_dtssd, conn, dtssd, gaussian_derivative_filters, grad, image_metrics, mad,
                              mse)


def a(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


STEP = np.zeros((10, 10), np.float32)
STEP[:, 5:] = 1.0

# (name, pred, true, mad x1e3, mse x1e3)
ERROR_TABLE = [
    ("equal", a([[0, 1], [1, 0]]), a([[0, 1], [1, 0]]), 0.0, 0.0),
    ("mixed", a([[0, 0.5], [1, 1]]), a([[0, 1], [1, 0]]), 375.0, 312.5),
    ("uint8 full", np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8), 1000.0, 1000.0),
    ("uint8 half", np.full((1, 2), 51, np.uint8), np.zeros((1, 2), np.uint8), 200.0, 40.0),
]


@pytest.mark.parametrize("name, pred, true, mad_e3, mse_e3", ERROR_TABLE, ids=[r[0] for r in ERROR_TABLE])
def test_mad_mse(name, pred, true, mad_e3, mse_e3):
    assert mad(pred, true) == pytest.approx(mad_e3, abs=1e-4)
    assert mse(pred, true) == pytest.approx(mse_e3, abs=1e-4)


def test_gaussian_derivative_filters():
    fx, fy = gaussian_derivative_filters(1.4)
    assert fx.shape == (9, 9)  # half-size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.sqrt((fx ** 2).sum()) == pytest.approx(1.0)
    assert np.allclose(fx, -fx[:, ::-1]) and np.allclose(fx[:, 4], 0.0)  # odd in x
    assert np.allclose(fy, fx.T)
    assert fx[4, 5] == pytest.approx(-0.3154337, abs=1e-6)  # the same filter RVM builds (checked once)


# (name, pred, true, grad /1e3, conn /1e3)
SHAPE_TABLE = [
    ("equal", STEP, STEP, 0.0, 0.0),
    ("flat vs step", np.zeros_like(STEP), STEP, 0.1959071, 0.05),  # conn: 50 foreground pixels lost
    ("all vs nothing", np.zeros((3, 3), np.float32), np.ones((3, 3), np.float32), 0.0, 0.009),
    # a second, disconnected blob in the truth that the prediction only half covers: only it counts
    ("detached blob", a([[1, 1, 0, 0.5]]), a([[1, 1, 0, 1]]), None, 0.0005),
    # min-max normalisation: grad ignores the matte's scale, conn does not
    ("half-strength step", STEP * 0.5, STEP, 0.0, 0.025),
]


@pytest.mark.parametrize("name, pred, true, grad_e3, conn_e3", SHAPE_TABLE, ids=[r[0] for r in SHAPE_TABLE])
def test_grad_conn(name, pred, true, grad_e3, conn_e3):
    if grad_e3 is not None:
        assert grad(pred, true) == pytest.approx(grad_e3, abs=1e-6)
    assert conn(pred, true) == pytest.approx(conn_e3, abs=1e-7)


def test_dtssd():
    zeros = np.zeros((1, 2), np.float32)
    assert dtssd(a([[1, 0]]), zeros, zeros, zeros) == pytest.approx(100 * math.sqrt(0.5))
    # prediction and truth changing alike is perfectly coherent
    assert dtssd(a([[1, 0]]), zeros, a([[1, 0]]), zeros) == 0.0
    # a clip: frame 0 counts 0 (as in RVM), frames 1 and 2 each differ by 1 on one of two pixels
    preds = [zeros, a([[1, 0]]), zeros]
    trues = [zeros, zeros, zeros]
    assert clip_dtssd(preds, trues) == pytest.approx((0 + 2 * 100 * math.sqrt(0.5)) / 3)
    with pytest.raises(ValueError, match="as many"):
        clip_dtssd(preds, trues[:2])


def test_image_metrics_all_at_once():
    pred = np.zeros((10, 10), np.float32)
    pred[:, 5:] = 0.9
    got = image_metrics(pred, STEP)
    assert got["iou"] == 1.0 and got["boundary_iou"] == 1.0
    assert got["mad"] == pytest.approx(50.0, abs=1e-3)
    assert got["mse"] == pytest.approx(5.0, abs=1e-3)
    assert got["grad"] == pytest.approx(0.0, abs=1e-9)
    assert set(got) == {"iou", "boundary_iou", "mad", "mse", "grad", "conn"}


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        mad(np.zeros((2, 2)), np.zeros((3, 3)))
