"""Evaluate through main([...]): a model and a MediaPipe baseline, size mismatches, per-pair errors."""
from __future__ import annotations

import json
import re
import logging

import numpy as np
import pandas as pd
import pytest

from core import io
from training.__main__ import main as training_main
from training.evaluate import comparison_markdown


@pytest.fixture
def eval_dir(tmp_path, shared_dir):
    """Three real COCO photos with fake masks: one good pair, one half-size mask, one wrong-aspect mask,
    plus a mask without an image."""
    root = tmp_path / "eval"
    photos = sorted((shared_dir / "data" / "coco128" / "train2017").glob("*.jpg"))[:3]
    for i, photo in enumerate(photos):
        image = io.read_image(photo)
        h, w = image.shape[:2]
        io.write_jpeg(root / "images" / f"p{i}.jpg", image)
        mask = np.zeros((h, w), np.uint8)
        mask[h // 3:, w // 3: 2 * w // 3] = 255
        if i == 1:
            mask = mask[::2, ::2]  # same aspect, half size -> resized with a warning
        if i == 2:
            mask = mask[:, : w // 2]  # other aspect -> reported, not fatal
        io.write_png(root / "masks" / f"p{i}.png", mask)
    io.write_png(root / "masks" / "orphan.png", np.zeros((8, 8), np.uint8))
    return root


def test_evaluate_model_with_baseline(tiny_checkpoint, params_file, eval_dir, tmp_path, caplog):
    out = tmp_path / "report"
    with caplog.at_level(logging.WARNING):
        assert training_main(["evaluate", "--model", str(tiny_checkpoint()), "--images", str(eval_dir / "images"),
                              "--masks", str(eval_dir / "masks"), "--out", str(out), "--params", str(params_file()),
                              "--baselines", "mediapipe-selfie"]) == 0
    assert "same aspect" in caplog.text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["n_errors"] == 2
    for key in ("iou", "boundary_iou", "mad", "mse", "grad", "conn", "fps", "fps_640x360_1t", "fps_640x360_all"):
        assert np.isfinite(metrics[key]), key
    table = pd.read_parquet(out / "per_sample.parquet").set_index("stem")
    assert table.loc["p2", "error"] == "size_mismatch" and table.loc["orphan", "error"] == "no_image"
    assert table.loc["p1", "detail"].startswith("mask resized")
    assert io.image_size(out / "worst.png")[0] == 4 * 64
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison["models"]) == {str(tiny_checkpoint()), "mediapipe-selfie"}
    assert comparison["models"]["mediapipe-selfie"]["n"] == 2
    assert set(comparison["fps"]) == {str(tiny_checkpoint()), "mediapipe-selfie"}
    assert comparison["fps"]["mediapipe-selfie"]["640x360"]["1t"]["fps"] > 0
    assert "mediapipe-selfie" in (out / "comparison.md").read_text()


def test_evaluate_a_baseline_alone(params_file, eval_dir, tmp_path):
    out = tmp_path / "mp"
    assert training_main(["evaluate", "--model", "mediapipe-landscape", "--images", str(eval_dir / "images"),
                          "--masks", str(eval_dir / "masks"), "--out", str(out),
                          "--params", str(params_file(evaluate={"fps_frames": 0}))]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 2 and 0.0 <= metrics["iou"] <= 1.0
    assert not (out / "comparison.json").exists()


def test_unknown_model_is_a_clear_error(params_file, eval_dir, tmp_path, caplog):
    assert training_main(["evaluate", "--model", "nonsense", "--images", str(eval_dir / "images"),
                          "--masks", str(eval_dir / "masks"), "--out", str(tmp_path / "x"),
                          "--params", str(params_file())]) == 2
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert re.search("baseline name|one of", error.getMessage()) and not error.exc_info


def test_comparison_markdown_lists_every_model():
    results = {m: {"iou": 0.5, "boundary_iou": 0.4, "mad": 10.0, "mse": 5.0, "grad": 1.0, "conn": 1.0,
                   "fps": 100.0, "fps_1280x720_1t": 100.0} for m in ("model.pt", "mediapipe-selfie")}
    text = comparison_markdown(results, [], 7)
    assert "| iou (higher is better) | 0.5 | 0.5 |" in text and "same 7 images" in text


def test_evaluate_the_ensemble_baseline(params_file, eval_dir, tmp_path):
    params = params_file(evaluate={"fps_frames": 0},
                         autolabel={"members": ["mediapipe-selfie", "mediapipe-landscape"]})
    out = tmp_path / "ensemble"
    assert training_main(["evaluate", "--model", "ensemble", "--images", str(eval_dir / "images"),
                          "--masks", str(eval_dir / "masks"), "--out", str(out), "--params", str(params)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 2 and 0.0 <= metrics["iou"] <= 1.0 and metrics["fps"] is None


def test_evaluate_clips_gives_dtssd(tiny_checkpoint, params_file, eval_dir, tmp_path):
    """A synthesize-style clips folder: dtSSD and clip MAD for the model and the baseline."""
    clips = tmp_path / "clips"
    rng = np.random.default_rng(0)
    rows = []
    for clip, split in (("k0", "test"), ("k1", "test"), ("k2", "train")):
        for t in range(3):
            image = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
            alpha = np.zeros((36, 64), np.uint8)
            alpha[10:, 20 + 2 * t: 40 + 2 * t] = 255
            io.write_jpeg(clips / "clips" / clip / f"frame_{t:04d}.jpg", image)
            io.write_png(clips / "clips" / clip / "alpha" / f"frame_{t:04d}.png", alpha)
            rows.append({"clip_id": clip, "t": t, "split": split, "image": f"clips/{clip}/frame_{t:04d}.jpg",
                         "alpha": f"clips/{clip}/alpha/frame_{t:04d}.png"})
    io.write_parquet(clips / "clips.parquet", pd.DataFrame(rows).sample(frac=1.0, random_state=0))
    out = tmp_path / "report"
    assert training_main(["evaluate", "--model", str(tiny_checkpoint(in_channels=4)), "--images",
                          str(eval_dir / "images"), "--masks", str(eval_dir / "masks"), "--out", str(out),
                          "--clips", str(clips), "--baselines", "mediapipe-landscape",
                          "--params", str(params_file(evaluate={"fps_frames": 0}))]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clips"] == 2 and metrics["dtssd"] >= 0 and metrics["clip_mad"] > 0
    baseline = json.loads((out / "comparison.json").read_text())["models"]["mediapipe-landscape"]
    assert baseline["clips"] == 2 and baseline["dtssd"] >= 0
    assert "| dtssd (lower is better) |" in (out / "comparison.md").read_text()
