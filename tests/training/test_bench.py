"""The end-to-end fps table and the composite it times (no timing assertions)."""
from __future__ import annotations

import numpy as np

from training import bench
from training.predict import input_size


def test_composite_blends_in_8_bit():
    frame = np.full((2, 2, 3), 200, np.uint8)
    background = np.zeros((2, 2, 3), np.uint8)
    alpha = np.array([[1.0, 0.0], [0.5, 0.25]], np.float32)
    out = bench.composite(frame, alpha, background)
    assert out[..., 0].tolist() == [[200, 0], [100, 50]]


def test_compositor_matches_composite_and_reuses_its_buffers():
    rng = np.random.default_rng(0)
    frame, background = (rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(2))
    alpha = rng.random((6, 5), dtype=np.float32)
    blend = bench.Compositor()
    first = blend(frame, alpha, background)
    assert np.array_equal(first, bench.composite(frame, alpha, background))
    assert blend(frame, 1.0 - alpha, background) is first  # same buffer, new content
    assert blend(frame[:4], alpha[:4], background[:4]).shape == (4, 5, 3)  # a new size gets new buffers


def test_input_size_keeps_aspect_and_pixel_budget():
    assert input_size(720, 1280, 256, 144) == (256, 144)
    assert input_size(1080, 1920, 256, 144) == (256, 144)
    w, h = input_size(640, 480, 256, 144)  # portrait: same pixel count, its own aspect, multiples of 8
    assert w % 8 == 0 and h % 8 == 0 and abs(w * h - 256 * 144) < 0.1 * 256 * 144 and h > w


class Constant:
    name = "constant"

    def set_threads(self, threads):
        self.threads = threads

    def predict(self, rgb, prior=None):
        return np.full(rgb.shape[:2], 0.5, np.float32)


def test_fps_table_rows_and_markdown():
    predictor = Constant()
    rows = bench.fps_table({"constant": predictor}, frames=2, sizes={"640x360": (640, 360)})
    assert [(r["size"], r["threads"]) for r in rows] == [("640x360", "1t"), ("640x360", "all")]
    assert all(r["fps"] > 0 for r in rows)
    metrics = bench.fps_metrics(rows, "constant")
    assert set(metrics) == {"fps", "fps_640x360_1t", "fps_640x360_all"}
    assert "| constant | 1t |" in bench.format_table(rows)
