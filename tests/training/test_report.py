"""The run report: built from real stage outputs, opened in headless Chromium."""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets import io
from datasets.store import Rejected, Store, quarantine_frame
from training import report


def _fake_run(tmp_path, tiny_store):
    """A data/ and reports/ tree shaped like a pipeline run's, with real files."""
    data, reports = tmp_path / "data", tmp_path / "reports"
    store_root = tiny_store(n=6, root=data / "stores" / "tiny")
    io.write_parquet(store_root / "quarantine.parquet",
                     quarantine_frame([Rejected("tiny", "broken.jpg", "bad_image", "broken.jpg: truncated")]))
    store = Store(store_root)
    labels = data / "labels" / "tiny"
    rows = []
    for i, row in enumerate(store.samples.itertuples()):
        alpha = store.alpha(row)
        io.write_png(labels / "ensemble" / f"{row.id}.png", np.roll(alpha, 3, axis=1))
        io.write_png(labels / "disagreement" / f"{row.id}.png", (alpha // 2).astype(np.uint8))
        rows.append({"id": row.id, "label_quality": i / 6, "flagged": i < 2,
                     "flags": ["shifted"] if i < 2 else [], "decision": "review" if i < 2 else "keep"})
    io.write_parquet(labels / "quality.parquet", pd.DataFrame(rows))
    io.write_png(reports / "synthesize" / "contact_sheet.png", np.full((40, 90, 3), 200, np.uint8))
    curve = reports / "train" / "plots" / "metrics" / "train"
    curve.mkdir(parents=True)
    (curve / "loss.tsv").write_text("timestamp\tstep\tloss\n0\t0\t1.0\n1\t1\t0.5\n2\t2\t0.25\n")
    model = {"n": 4, "iou": 0.9, "boundary_iou": 0.7, "mad": 12.0, "fps": 150.0}
    io.write_json(reports / "eval" / "metrics.json", model)
    io.write_json(reports / "eval" / "comparison.json", {
        "models": {"matting.onnx": model, "mediapipe-selfie": {**model, "iou": 0.8, "fps": 90.0}},
        "fps": {m: {"1280x720": {"1t": {"fps": f, "ms": 1e3 / f}}}
                for m, f in (("matting.onnx", 150.0), ("mediapipe-selfie", 90.0))}})
    io.write_png(reports / "eval" / "worst.png", np.zeros((30, 30, 3), np.uint8))
    io.write_json(reports / "ingest" / "tiny.json", {"no_person": 2})
    return data, reports


def test_report_is_self_contained_and_renders(tmp_path, tiny_store, chromium):
    data, reports = _fake_run(tmp_path, tiny_store)
    out = reports / "index.html"
    assert report.main(["--reports", str(reports), "--data", str(data), "--out", str(out)]) == 0
    page = chromium(out)
    assert page["external_requests"] == []
    # histogram + 6 worst labels + contact sheet + curves + worst cases
    assert page["images"] >= 9
    assert page["decoded"] == page["images"]
    text = page["text"]
    assert "bad_image" in text and "shifted" in text and "not found" in text  # curation has not run
    assert "mediapipe-selfie" in text and "1280x720" in text


def test_missing_stages_are_named(tmp_path):
    html = report.build(tmp_path / "reports", tmp_path / "data")
    for stage in ("ingest", "clean", "curate", "synthesize", "train", "evaluate"):
        assert f"dvc repro {stage}" in html
