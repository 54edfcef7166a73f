"""`score`: members and ensemble against a folder of trusted masks, matched by stem."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd

from core import io
from datasets.store import Store
from labeling import score


def test_score_main(tiny_store, tmp_path, repo_root):
    root = tiny_store(n=4, size=(96, 64))
    store = Store(root)
    images, masks = tmp_path / "images", tmp_path / "masks"
    rows = list(store.samples.itertuples())
    for i, row in enumerate(rows):
        io.link_or_copy(root / row.image, images / f"img{i}.png")
        alpha = store.alpha(row)
        if i == 1:
            alpha = cv2.resize(alpha, (48, 32), interpolation=cv2.INTER_NEAREST)  # same aspect: resized
        if i == 2:
            alpha = alpha[:, :50]  # another aspect: reported, not fatal
        if i != 3:
            io.write_png(masks / f"img{i}.png", alpha)  # img3 has no mask
    out = tmp_path / "score"
    argv = ["--images", str(images), "--masks", str(masks), "--out", str(out), "--members",
            "mediapipe-selfie,mediapipe-landscape", "--params", str(repo_root / "params.yaml")]
    assert score.main(argv) == 0
    summary = json.loads((out / "score.json").read_text())
    assert summary["n"] == 2
    assert set(summary["models"]) == {"mediapipe-selfie", "mediapipe-landscape", "ensemble"}
    for figures in summary["models"].values():
        assert 0 <= figures["iou"] <= 1 and 0 <= figures["boundary_iou"] <= 1 and 0 <= figures["mad"] <= 1000
    assert {(s["stem"], s["reason"]) for s in summary["skipped"]} == {("img2", "size_mismatch"), ("img3", "no_mask")}
    per_sample = pd.read_parquet(out / "per_sample.parquet")
    assert list(per_sample.columns) == ["stem", "model", "iou", "boundary_iou", "mad"]
    assert len(per_sample) == 2 * 3 and set(per_sample.stem) == {"img0", "img1"}


def test_figures_exact():
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 255
    pred = truth.astype(np.float32) / 255
    pred[:, 4] = 0.25  # one column softened: hard IoU loses it, MAD = 0.75 on 10 of 100 pixels
    f = score.figures(pred, truth)
    assert f["iou"] == 0.8 and abs(f["mad"] - 75.0) < 1e-4
