"""`python -m training plots [--template T] [--out DIR] [--reports DIR]`: DVC plots that render offline.

Takes DVC's plot specs (`dvc plots show --json`: the training curves), titles each in words, adds
evaluation plots (IoU per model, fps per frame size, a histogram of per-image IoU, from `reports/eval`)
and writes one page, ``OUT/index.html``, with the offline template of `python -m training plots-template`
(vega inlined: `dvc plots show`'s own page loads it from a CDN, blank without internet).

    python -m training plots --template .cache/dvc_plots_template.html --out reports/plots
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from core import io
from core.cli import stage_main
from training import summary

log = logging.getLogger(__name__)

DVC = [sys.executable, "-m", "dvc"]  # this environment's DVC, whatever PATH says

# Training curves (reports/train/plots/metrics/<group>/<name>.tsv) in words.
CURVE_TITLES = {"lr": "Learning rate", "total": "total loss", "loss": "loss", "iou": "IoU (higher is better)",
                "mad": "MAD x1e3 (lower is better)", "l1": "L1 loss", "bce": "BCE loss",
                "gradient": "gradient loss", "edge": "edge loss", "coarse": "coarse (1/4 scale) loss"}
GROUPS = {"train": "Training", "val": "Validation"}
VEGA_LITE = "https://vega.github.io/schema/vega-lite/v5.json"  # the schema's name, not fetched


def curve_title(path: str) -> str:
    """'reports/train/plots/metrics/val/iou.tsv' -> 'Validation IoU (higher is better), per epoch step'."""
    parts = Path(path).with_suffix("").parts
    name, group = parts[-1], parts[-2] if len(parts) > 1 else ""
    what = CURVE_TITLES.get(name, name.replace("_", " "))
    return f"{GROUPS[group]} {what} by step" if group in GROUPS else f"{what[:1].upper()}{what[1:]} by step"


def dvc_specs(cwd: Path | str = ".") -> list[dict[str, Any]]:
    """DVC's vega-lite specs of the training curves, each titled in words."""
    out = subprocess.run([*DVC, "plots", "show", "--json"], cwd=cwd, check=True, capture_output=True,
                         text=True).stdout
    specs = []
    for path, entries in sorted(json.loads(out or "{}").get("data", {}).items()):
        for entry in entries:
            if entry.get("type") == "vega":
                spec = entry["content"]
                spec["title"] = {"text": curve_title(path), "anchor": "middle"}
                specs.append(spec)
    return specs


def evaluation_specs(reports: Path) -> list[dict[str, Any]]:
    """IoU per model, fps per frame size, the histogram of our per-image IoU (what reports/eval holds)."""
    specs = []
    comparison = summary.load(reports)
    if comparison is not None:
        values = [{"model": summary.display_name(comparison, m), "IoU": comparison.value(m, "iou")}
                  for m in comparison.models]
        specs.append({"$schema": VEGA_LITE, "title": "IoU per model on the test set (higher is better)",
                      "data": {"values": values}, "mark": "bar", "width": 300,
                      "encoding": {"y": {"field": "model", "type": "nominal", "sort": "-x"},
                                   "x": {"field": "IoU", "type": "quantitative", "scale": {"zero": False}}}})
        fps = json.loads((reports / "eval" / "comparison.json").read_text()).get("fps", {})
        rows = [{"model": summary.display_name(comparison, m) if m in comparison.models else m, "frame size": size,
                 "pixels": _pixels(size), "fps": cell["1t"]["fps"]}
                for m, sizes in fps.items() for size, cell in sizes.items() if "1t" in cell]
        if rows:
            specs.append({"$schema": VEGA_LITE, "data": {"values": rows}, "width": 300,
                          "title": "End-to-end frames per second by frame size (one thread; higher is better)",
                          "mark": {"type": "line", "point": True},
                          "encoding": {"x": {"field": "frame size", "type": "ordinal", "sort": {"field": "pixels"}},
                                       "y": {"field": "fps", "type": "quantitative"},
                                       "color": {"field": "model", "type": "nominal"}}})
    per_sample = reports / "eval" / "per_sample.parquet"
    if per_sample.is_file():
        iou = pd.read_parquet(per_sample, columns=["iou"])["iou"].dropna()
        specs.append({"$schema": VEGA_LITE, "data": {"values": [{"IoU": float(v)} for v in iou]}, "width": 300,
                      "title": f"Per-image IoU of our model ({len(iou)} test images)", "mark": "bar",
                      "encoding": {"x": {"field": "IoU", "bin": {"maxbins": 20}, "type": "quantitative"},
                                   "y": {"aggregate": "count", "type": "quantitative", "title": "images"}}})
    return specs


def _pixels(size: str) -> int:
    width, _, height = size.partition("x")
    return int(width) * int(height) if width.isdigit() and height.isdigit() else 0


def page(template: str, sections: dict[str, list[dict[str, Any]]]) -> str:
    """The template with, per section, a heading and one vega-embed div per spec in place of ``{plot_divs}``."""
    parts = []
    for heading, specs in sections.items():
        parts.append(f'<h2 style="width: 100%">{heading}</h2>' if specs else "")
        for spec in specs:
            i = sum(p.startswith("<div") for p in parts)
            code = json.dumps(spec).replace("</", "<\\/")
            parts.append(f'<div id="plot{i}"></div>\n<script type="text/javascript">'
                         f'vegaEmbed("#plot{i}", {code}, {{actions: false}});</script>')
    return template.replace("{plot_divs}", "\n".join(parts))


def show(template: Path, out: Path, reports: Path = Path("reports")) -> Path:
    """Write ``out``/index.html: the training curves and the evaluation plots, offline; returns its path."""
    if not template.is_file():
        raise FileNotFoundError(f"{template}: no offline plots template (run `make setup`)")
    path = out / "index.html"
    io.write_text(path, page(template.read_text(), {"Training curves": dvc_specs(),
                                                    "Evaluation on the test set": evaluation_specs(reports)}))
    return path


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", type=Path, default=Path(".cache/dvc_plots_template.html"),
                        help="offline template (`python -m training plots-template`)")
    parser.add_argument("--out", type=Path, default=Path("reports/plots"), help="folder of index.html to write")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder (evaluation plots)")


def _run(args: argparse.Namespace) -> None:
    log.info("wrote %s", show(args.template, args.out, args.reports))


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training plots", __doc__, None, None, _add_args, _run, argv)
