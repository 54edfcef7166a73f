"""The run report: built from real stage outputs, opened in headless Chromium."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core import io
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
        "models": {"models/matting.onnx": model, "mediapipe-selfie": {**model, "iou": 0.8, "fps": 90.0},
                   "mediapipe-landscape": {**model, "iou": 0.85, "mad": 9.0, "fps": 120.0}},
        "fps": {m: {"1280x720": {"1t": {"fps": f, "ms": 1e3 / f}}}
                for m, f in (("models/matting.onnx", 150.0), ("mediapipe-selfie", 90.0))}})
    # worst.png as training.evaluate writes it: rows of 4 tiles (tile_width 32 -> 24 px high), 5 rows
    io.write_png(reports / "eval" / "worst.png", np.zeros((5 * 24, 4 * 32, 3), np.uint8))
    io.write_json(reports / "ingest" / "tiny.json", {"no_person": 2})
    return data, reports


SUMMARY_BOX = {
    "summary_top": "document.getElementById('summary').getBoundingClientRect().top",
    "summary_text": "document.getElementById('summary').innerText",
    "best_cells": "Array.from(document.querySelectorAll('#summary td.best')).map(c => c.innerText)",
    "open_details": "document.querySelectorAll('details[open]').length",
    "grid_headers": "Array.from(document.querySelectorAll('table.grid th')).map(c => c.innerText)",
}


def test_report_is_self_contained_and_renders(tmp_path, tiny_store, chromium):
    data, reports = _fake_run(tmp_path, tiny_store)
    out = reports / "index.html"
    assert report.main(["--reports", str(reports), "--data", str(data), "--out", str(out)]) == 0
    page = chromium(out, SUMMARY_BOX)
    assert page["external_requests"] == []
    # histogram + 6 worst labels x 3 tiles + curves + worst cases x 4 tiles (the sheet is grey: one image)
    assert page["images"] >= 9
    assert page["decoded"] == page["images"]
    text = page["text"]
    assert "bad_image" in text and "shifted" in text and "not found" in text  # curation has not run
    assert "mediapipe-selfie" in text and "1280x720" in text
    # the summary box leads the page: the verdict, ours vs both baselines with the best marked, run metadata
    assert page["summary_top"] < 200
    box = page["summary_text"]
    assert "Ours beats both baselines on IoU (0.900 vs 0.850 for mediapipe-landscape)" in box
    assert "matting.onnx (ours)" in box and "mediapipe-landscape" in box
    assert "IoU ↑" in box and "MAD x1e3 ↓" in box
    for field in ("Run date", "Git commit", "Params changed"):
        assert field in box
    assert sorted(page["best_cells"]) == sorted(["0.900", "0.700", "9.0", "150"])
    # grids: labelled columns, long ones folded (closed)
    assert "ground truth (red)" in page["grid_headers"] and "prediction" in page["grid_headers"]
    assert page["open_details"] == 0
    assert "more rows" in text


def test_long_grids_fold_after_a_few_rows(tmp_path, tiny_store):
    data, reports = _fake_run(tmp_path, tiny_store)
    html = report.build(reports, data)
    assert html.count("<details><summary>") >= 2  # worst labels (6 rows), worst cases (5 rows)
    assert "3 more rows" in html and "2 more rows" in html


def test_quarantine_paths_are_relative_to_the_repo(tmp_path):
    root = tmp_path / "repo"
    detail = f"{root}/data/sample/coco/x.jpg: truncated"
    assert report.relative_text(detail, root) == "data/sample/coco/x.jpg: truncated"
    assert report.relative_text("data/x.jpg", root) == "data/x.jpg"


def test_training_curves_split_losses_from_metrics(tmp_path):
    curves = tmp_path / "train" / "plots" / "metrics"
    for name, values in {"train/loss": (1.0, 0.5), "val/loss": (1.2, 0.6), "val/iou": (0.5, 0.8),
                         "val/mad": (40.0, 20.0), "lr": (0.003, 0.001)}.items():
        path = curves / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        key = name.rsplit("/", 1)[-1]
        path.write_text(f"timestamp\tstep\t{key}\n" + "".join(f"{i}\t{i}\t{v}\n" for i, v in enumerate(values)))
    assert [report._curve_kind(n) for n in ("train/loss", "val/iou", "val/mad", "lr")] == \
        ["loss", "metric", "metric", "lr"]
    (block,) = report.training_section(tmp_path)
    assert block["kind"] == "image" and "validation metrics" in block["alt"]


def test_missing_stages_are_named(tmp_path):
    html = report.build(tmp_path / "reports", tmp_path / "data")
    for stage in ("ingest", "clean", "curate", "synthesize", "train", "evaluate"):
        assert f"dvc repro {stage}" in html
