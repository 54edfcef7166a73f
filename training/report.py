"""`python -m training report`: one HTML page a person reads after a run (`reports/index.html`).

Sections: data (samples per source and split, quarantine reasons), labels (label-quality distribution,
decisions and flags, the worst labels as images), curation, composites (contact sheet), training
curves, evaluation against the baselines with fps, and the worst cases. Every image and chart is
embedded as a data URI, so the page is one self-contained file that makes no request at all.
"""
from __future__ import annotations

import argparse
import base64
import html
import io as _io
import json
import logging
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from datasets import io  # noqa: E402
from datasets.cli import setup_logging  # noqa: E402
from datasets.store import Store  # noqa: E402

log = logging.getLogger(__name__)

WORST_LABELS = 8  # flagged examples shown per page
THUMB_HEIGHT = 120

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; } .missing { color: #a00; } .note { color: #666; }
figure { display: inline-block; margin: .5em; } figcaption { font-size: .85em; color: #444; }
"""


def png_uri(image: np.ndarray) -> str:
    """data: URI of a (H, W) or (H, W, 3) RGB uint8 array."""
    return "data:image/png;base64," + base64.b64encode(io.encode_png(image)).decode()


def file_uri(path: Path) -> str:
    mime = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def figure_uri(fig) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append(f'<td class="num">{value:.4g}</td>')
            elif isinstance(value, (int, np.integer)):
                cells.append(f'<td class="num">{value}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def missing(what: str, stage: str) -> str:
    return f'<p class="missing">{html.escape(what)} not found: run the `{stage}` stage (`dvc repro {stage}`).</p>'


def _stores(data: Path) -> dict[str, Store]:
    root = data / "stores"
    return {p.name: Store(p) for p in sorted(root.glob("*")) if (p / "samples.parquet").is_file()}


def data_section(data: Path, reports: Path) -> str:
    stores = _stores(data)
    if not stores:
        return missing("Sample stores (data/stores/*)", "ingest")
    counts = []
    reasons = []
    for name, store in stores.items():
        metrics_path = reports / "ingest" / f"{name}.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        by_split = store.samples["split"].value_counts().to_dict()
        counts.append({"source": name, "samples": len(store.samples), "quarantined": len(store.quarantine),
                       "no person": metrics.get("no_person", ""), "persons": int(store.samples["persons"].sum()),
                       **{s: by_split.get(s, 0) for s in ("train", "val", "test")}})
        for reason, n in store.quarantine["reason"].value_counts().items():
            reasons.append({"source": name, "reason": reason, "items": int(n)})
    parts = ["<h3>Samples per source</h3>", table(pd.DataFrame(counts))]
    if reasons:
        parts += ["<h3>Quarantine reasons</h3>", table(pd.DataFrame(reasons))]
        details = pd.concat([s.quarantine.assign(source=n) for n, s in stores.items()])
        parts.append("<details><summary>Every quarantined item</summary>"
                     + table(details[["source", "origin", "reason", "detail"]]) + "</details>")
    return "\n".join(parts)


def _overlay(image: np.ndarray, alpha: np.ndarray, color=(255, 0, 80)) -> np.ndarray:
    """The image with the alpha's region tinted, and its contour drawn."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    tint = (image * (1 - 0.45 * a) + np.array(color, np.float32) * 0.45 * a).astype(np.uint8)
    contours, _ = cv2.findContours((alpha >= 128).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return cv2.drawContours(np.ascontiguousarray(tint), contours, -1, color, 1)


def _thumb(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * THUMB_HEIGHT / h)), THUMB_HEIGHT), interpolation=cv2.INTER_AREA)


def labels_section(data: Path, reports: Path) -> str:
    stores = _stores(data)
    frames = []
    for name in stores:
        path = data / "labels" / name / "quality.parquet"
        if path.is_file():
            frames.append(pd.read_parquet(path).assign(source=name))
    if not frames:
        return missing("Label quality (data/labels/*/quality.parquet)", "clean")
    quality = pd.concat(frames, ignore_index=True)
    fig, ax = plt.subplots(figsize=(6, 2.6))
    for name, group in quality.groupby("source"):
        ax.hist(group["label_quality"].dropna(), bins=20, range=(0, 1), alpha=0.6, label=name)
    ax.set_xlabel("label_quality (low = the ground truth is probably wrong)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    decisions = quality.groupby(["source", "decision"]).size().unstack(fill_value=0).reset_index()
    flags = quality.explode("flags").dropna(subset=["flags"]).groupby("flags").size()
    parts = [f'<img src="{figure_uri(fig)}" alt="label quality histogram">',
             "<h3>Decisions</h3>", table(decisions)]
    if len(flags):
        parts += ["<h3>Flags</h3>", table(flags.rename("samples").reset_index())]
    worst = quality.sort_values("label_quality").head(WORST_LABELS)
    figures = []
    for row in worst.itertuples():
        store = stores[row.source]
        sample = store.samples.set_index("id").loc[row.id]
        image = store.image(sample)
        tiles = [_overlay(image, store.alpha(sample))]
        ensemble = data / "labels" / row.source / "ensemble" / f"{row.id}.png"
        if ensemble.is_file():
            tiles.append(_overlay(image, io.read_mask(ensemble), color=(0, 160, 255)))
        disagreement = data / "labels" / row.source / "disagreement" / f"{row.id}.png"
        if disagreement.is_file():
            tiles.append(cv2.applyColorMap(io.read_mask(disagreement), cv2.COLORMAP_INFERNO)[..., ::-1])
        strip = np.concatenate([_thumb(t) for t in tiles], axis=1)
        flags_text = ", ".join(row.flags) if len(row.flags) else "no flag"
        figures.append(f'<figure><img src="{png_uri(strip)}" alt="label {row.id}"><figcaption>{row.source} '
                       f"{row.id}: quality {row.label_quality:.2f}, {row.decision} ({html.escape(flags_text)})"
                       "</figcaption></figure>")
    parts += ["<h3>Lowest label quality</h3>",
              '<p class="note">ground truth (red) | ensemble (blue) | member disagreement</p>', *figures]
    return "\n".join(parts)


def curation_section(data: Path) -> str:
    path = data / "curated" / "label_sources.parquet"
    if not path.is_file():
        return missing("Curated labels (data/curated/label_sources.parquet)", "curate")
    sources = pd.read_parquet(path)
    return table(sources.groupby("label_source").size().rename("samples").reset_index())


def image_section(path: Path, stage: str, alt: str) -> str:
    return f'<img src="{file_uri(path)}" alt="{alt}">' if path.is_file() else missing(str(path), stage)


def training_section(reports: Path) -> str:
    curves = sorted((reports / "train" / "plots" / "metrics").rglob("*.tsv"))
    if not curves:
        return missing("Training curves (reports/train/plots/metrics)", "train")
    fig, ax = plt.subplots(figsize=(6, 3))
    for path in curves:
        df = pd.read_csv(path, sep="\t")
        value = [c for c in df.columns if c not in ("step", "timestamp")][-1]
        label = path.stem if path.parent.name == "metrics" else f"{path.parent.name}/{path.stem}"
        ax.plot(df["step"], df[value], label=label)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return f'<img src="{figure_uri(fig)}" alt="training curves">'


def evaluation_section(reports: Path) -> str:
    comparison = reports / "eval" / "comparison.json"
    metrics = reports / "eval" / "metrics.json"
    if not metrics.is_file():
        return missing("Evaluation (reports/eval/metrics.json)", "evaluate")
    parts = []
    if comparison.is_file():
        data = json.loads(comparison.read_text())
        models = pd.DataFrame(data["models"]).T
        columns = [c for c in ("n", "iou", "boundary_iou", "mad", "mse", "grad", "conn", "fps") if c in models]
        parts.append(table(models[columns].reset_index(names="model")))
        rows = [{"model": model, "threads": threads, "size": size, "fps": cell["fps"]}
                for model, sizes in data.get("fps", {}).items() for size, modes in sizes.items()
                for threads, cell in modes.items()]  # model -> size -> threads -> {fps, ms}
        if rows:
            fps = pd.DataFrame(rows).pivot_table(index=["model", "threads"], columns="size", values="fps")
            parts += ["<h3>End-to-end frames per second (resize, inference, upsample, composite)</h3>",
                      table(fps.reset_index())]
    else:
        flat = {k: v for k, v in json.loads(metrics.read_text()).items() if not isinstance(v, (dict, list))}
        parts.append(table(pd.DataFrame([flat])))
    parts += ["<h3>Worst cases</h3>", image_section(reports / "eval" / "worst.png", "evaluate", "worst cases")]
    return "\n".join(parts)


def build(reports: Path, data: Path) -> str:
    sections = [
        ("Data", data_section(data, reports)),
        ("Labels", labels_section(data, reports)),
        ("Curation", curation_section(data)),
        ("Composites", image_section(reports / "synthesize" / "contact_sheet.png", "synthesize", "composites")),
        ("Training", training_section(reports)),
        ("Evaluation against baselines", evaluation_section(reports)),
    ]
    body = "\n".join(f"<h2>{title}</h2>\n{content}" for title, content in sections)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Portrait matting: run report</title>"
            f"<style>{STYLE}</style></head><body><h1>Portrait matting: run report</h1>{body}</body></html>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training report", description=__doc__)
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging()
    io.write_text(args.out, build(args.reports, args.data))
    log.info("wrote %s", args.out)
    return 0
