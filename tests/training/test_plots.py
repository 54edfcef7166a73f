"""`make plots`: training curves and evaluation plots titled in words, rendered offline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import io
from training import plots


def _eval_reports(tmp_path):
    reports = tmp_path / "reports"
    models = {"models/matting.onnx": {"n": 3, "iou": 0.9, "fps": 55.0},
              "mediapipe-selfie": {"n": 3, "iou": 0.92, "fps": 40.0}}
    fps = {m: {size: {"1t": {"fps": f / k, "ms": 1e3 * k / f}}
               for size, k in (("640x360", 0.5), ("1280x720", 1.0), ("1920x1080", 2.0))}
           for m, f in (("models/matting.onnx", 55.0), ("mediapipe-selfie", 40.0))}
    io.write_json(reports / "eval" / "comparison.json", {"models": models, "fps": fps})
    io.write_parquet(reports / "eval" / "per_sample.parquet", pd.DataFrame({"iou": np.linspace(0.7, 0.99, 12)}))
    return reports


def test_curves_are_titled_in_words():
    assert plots.curve_title("reports/train/plots/metrics/val/iou.tsv") == "Validation IoU (higher is better) by step"
    assert plots.curve_title("reports/train/plots/metrics/train/l1.tsv") == "Training L1 loss by step"
    assert plots.curve_title("reports/train/plots/metrics/lr.tsv") == "Learning rate by step"


def test_evaluation_plots(tmp_path):
    specs = plots.evaluation_specs(_eval_reports(tmp_path))
    titles = [s["title"] for s in specs]
    assert titles == ["IoU per model on the test set (higher is better)",
                      "End-to-end frames per second by frame size (one thread; higher is better)",
                      "Per-image IoU of our model (12 test images)"]
    assert {"model": "matting.onnx (ours)", "IoU": 0.9} in specs[0]["data"]["values"]
    assert len(specs[1]["data"]["values"]) == 6


def test_page_renders_offline(tmp_path, repo_root, chromium):
    template = repo_root / ".cache" / "dvc_plots_template.html"
    if not template.is_file():
        pytest.skip(f"{template} is missing: `make setup` builds it (vega from the npm registry)")
    html = tmp_path / "index.html"
    html.write_text(plots.page(template.read_text(), {"Evaluation": plots.evaluation_specs(_eval_reports(tmp_path))}))
    page = chromium(html, {"charts": "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length"})
    assert page["external_requests"] == []
    assert page["charts"] == 3
