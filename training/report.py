"""`python -m training report`: one HTML page a person reads after a run (`reports/index.html`).

It opens with a summary box (the verdict, ours vs the MediaPipe baselines with the best value of each
metric marked, the run date, the git commit and the params changed since the last committed run),
then: data (samples per source and split, quarantine reasons), labels (label-quality distribution,
decisions and flags, the worst labels as a grid), curation, composites, training curves (losses,
validation metrics and the learning rate on separate axes), evaluation against the baselines with
fps, and the worst cases. Long image grids show a few rows and fold the rest. Every image and chart
is embedded as a data URI, so the page is one self-contained file that makes no request at all.
The page is rendered from ``report.html.j2`` next to this module.
"""
from __future__ import annotations

import base64
import datetime as dt
import io as _io
import json
import logging
from pathlib import Path
from typing import Any

import cv2
import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core import io  # noqa: E402
from core.cli import stage_main  # noqa: E402
from datasets.store import Store  # noqa: E402
from training import summary  # noqa: E402
from training.metrics import HIGHER_IS_BETTER  # noqa: E402

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
WORST_LABELS = 8  # flagged examples shown per page
THUMB_HEIGHT = 120
SHOWN_ROWS = 3  # rows of a long image grid shown before the fold
# Training curves (DVCLive's tsv files) that are not losses: validation metrics, and the schedule.
CURVE_METRICS = {"iou": "IoU", "boundary_iou": "Boundary IoU", "mad": "MAD x1e3", "mse": "MSE x1e3"}
LEARNING_RATE = "lr"
EVAL_COLUMNS = ("n", "iou", "boundary_iou", "mad", "mse", "grad", "conn", "dtssd", "clip_mad", "fps")
LOWER_IS_BETTER_EXTRA = ("dtssd", "clip_mad")  # video metrics (training.evaluate --clips)


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


# --- page blocks: plain dicts the template renders ------------------------------------------------

def missing(what: str, stage: str) -> dict:
    return {"kind": "missing", "what": what, "stage": stage}


def _cell(value: Any, best: bool = False, fmt: str = ".4g") -> dict:
    if isinstance(value, (float, np.floating)):
        return {"text": "n/a" if np.isnan(value) else format(value, fmt), "num": True, "best": best}
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {"text": str(value), "num": True, "best": best}
    return {"text": "" if value is None else str(value), "num": False, "best": best}


def table(df: pd.DataFrame, title: str = "", higher: dict[str, bool] | None = None, legend: str = "",
          formats: dict[str, str] | None = None) -> dict:
    """A table block; ``higher`` (column -> higher is better) adds a direction arrow and marks each
    such column's best value; ``formats``: column -> format spec of its floats (default .4g)."""
    higher, formats = higher or {}, formats or {}
    best_rows = {}
    for column, up in higher.items():
        values = pd.to_numeric(df[column], errors="coerce") if column in df else None
        if values is not None and values.notna().any() and len(df) > 1:
            best_rows[column] = values.idxmax() if up else values.idxmin()
    columns = [{"title": str(c), "arrow": ("↑" if higher[c] else "↓") if c in higher else "",
                "hint": ("higher is better" if higher[c] else "lower is better") if c in higher else ""}
               for c in df.columns]
    rows = [[_cell(value, best_rows.get(column) == index, formats.get(column, ".4g")) for column, value in row.items()]
            for index, row in df.iterrows()]
    if best_rows and not legend:
        legend = "↑ higher is better, ↓ lower is better; the best value of each column is in bold."
    return {"kind": "table", "title": title, "columns": columns, "rows": rows, "legend": legend}


def grid(columns: list[str], rows: list[dict], title: str = "", note: str = "", row_title: str = "") -> dict:
    """An image grid block: ``rows`` of {caption, tiles: [data URI per column]}; rows past SHOWN_ROWS fold."""
    return {"kind": "grid", "title": title, "columns": columns, "rows": rows, "shown": SHOWN_ROWS, "note": note,
            "row_title": row_title, "joined": 0}


def image(uri: str, alt: str, title: str = "") -> dict:
    return {"kind": "image", "uri": uri, "alt": alt, "title": title}


def relative_text(text: Any, root: Path) -> str:
    """``text`` with the repository's absolute path removed, so every path reads relative to the repo."""
    text = "" if text is None else str(text)
    return text.replace(f"{root}/", "").replace(str(root), ".")


# --- sections -----------------------------------------------------------------------------------

def _stores(data: Path) -> dict[str, Store]:
    root = data / "stores"
    return {p.name: Store(p) for p in sorted(root.glob("*")) if (p / "samples.parquet").is_file()}


def data_section(data: Path, reports: Path, root: Path) -> list[dict]:
    stores = _stores(data)
    if not stores:
        return [missing("Sample stores (data/stores/*)", "ingest")]
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
    blocks = [table(pd.DataFrame(counts), "Samples per source")]
    if reasons:
        blocks.append(table(pd.DataFrame(reasons), "Quarantine reasons"))
        details = pd.concat([s.quarantine.assign(source=n) for n, s in stores.items()], ignore_index=True)
        details = details[["source", "origin", "reason", "detail"]]
        for column in ("origin", "detail"):
            details[column] = [relative_text(v, root) for v in details[column]]
        blocks.append({"kind": "details", "summary": f"Every quarantined item ({len(details)}; paths relative "
                       "to the repository)", "table": table(details)})
    return blocks


def _overlay(image: np.ndarray, alpha: np.ndarray, color=(255, 0, 80)) -> np.ndarray:
    """The image with the alpha's region tinted, and its contour drawn."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    tint = (image * (1 - 0.45 * a) + np.array(color, np.float32) * 0.45 * a).astype(np.uint8)
    contours, _ = cv2.findContours((alpha >= 128).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return cv2.drawContours(np.ascontiguousarray(tint), contours, -1, color, 1)


def _thumb(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * THUMB_HEIGHT / h)), THUMB_HEIGHT), interpolation=cv2.INTER_AREA)


def labels_section(data: Path, reports: Path) -> list[dict]:
    stores = _stores(data)
    frames = []
    for name in stores:
        path = data / "labels" / name / "quality.parquet"
        if path.is_file():
            frames.append(pd.read_parquet(path).assign(source=name))
    if not frames:
        return [missing("Label quality (data/labels/*/quality.parquet)", "clean")]
    quality = pd.concat(frames, ignore_index=True)
    fig, ax = plt.subplots(figsize=(6, 2.6))
    for name, group in quality.groupby("source"):
        ax.hist(group["label_quality"].dropna(), bins=20, range=(0, 1), alpha=0.6, label=name)
    ax.set_title("Label quality per source")
    ax.set_xlabel("label quality (low = the ground truth is probably wrong)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    decisions = quality.groupby(["source", "decision"]).size().unstack(fill_value=0).reset_index()
    flags = quality.explode("flags").dropna(subset=["flags"]).groupby("flags").size()
    blocks = [image(figure_uri(fig), "label quality histogram"), table(decisions, "Decisions")]
    if len(flags):
        blocks.append(table(flags.rename("samples").reset_index(), "Flags"))
    rows = []
    for row in quality.sort_values("label_quality").head(WORST_LABELS).itertuples():
        store = stores[row.source]
        sample = store.samples.set_index("id").loc[row.id]
        picture = store.image(sample)
        tiles = [_overlay(picture, store.alpha(sample))]
        ensemble = data / "labels" / row.source / "ensemble" / f"{row.id}.png"
        tiles.append(_overlay(picture, io.read_mask(ensemble), color=(0, 160, 255)) if ensemble.is_file()
                     else np.zeros_like(picture))
        disagreement = data / "labels" / row.source / "disagreement" / f"{row.id}.png"
        tiles.append(cv2.applyColorMap(io.read_mask(disagreement), cv2.COLORMAP_INFERNO)[..., ::-1]
                     if disagreement.is_file() else np.zeros_like(picture))
        flags_text = ", ".join(row.flags) if len(row.flags) else "no flag"
        rows.append({"caption": f"{row.source} {row.id}: quality {row.label_quality:.2f}, {row.decision} "
                                f"({flags_text})", "tiles": [png_uri(_thumb(t)) for t in tiles]})
    blocks.append(grid(["ground truth (red)", "ensemble (blue)", "member disagreement (bright = members differ)"],
                       rows, "Lowest label quality", row_title="sample"))
    return blocks


def curation_section(data: Path) -> list[dict]:
    path = data / "curated" / "label_sources.parquet"
    if not path.is_file():
        return [missing("Curated labels (data/curated/label_sources.parquet)", "curate")]
    sources = pd.read_parquet(path)
    return [table(sources.groupby("label_source").size().rename("samples").reset_index())]


def split_sheet(sheet: np.ndarray, row_height: int, columns: int) -> list[list[np.ndarray]] | None:
    """A contact sheet of equal rows and columns as tiles (rows of ``columns`` arrays); None when it is not."""
    h, w = sheet.shape[:2]
    if row_height <= 0 or h % row_height or w % columns:
        return None
    tw = w // columns
    return [[sheet[y:y + row_height, c * tw:(c + 1) * tw] for c in range(columns)] for y in range(0, h, row_height)]


def _padded_row_height(sheet: np.ndarray, pad: int = 128) -> int:
    """The line height of datasets.synthesis.contact_sheet's sheets: each line starts and ends with a row of ``pad``."""
    gray = np.flatnonzero((sheet == pad).all(axis=(1, 2)) if sheet.ndim == 3 else (sheet == pad).all(axis=1))
    return int(gray[1]) + 1 if len(gray) > 1 and gray[0] == 0 else 0


def sheet_grid(path: Path, stage: str, columns: list[str], row_height, title: str = "", note: str = "",
               joined: bool = False) -> dict:
    """A stage's contact sheet PNG as a labelled, folded grid (the whole image when it cannot be split).

    ``joined``: each row stays one image under the column titles (captions drawn across tiles stay whole).
    """
    if not path.is_file():
        return missing(str(path), stage)
    sheet = io.read_image(path)
    rows = split_sheet(sheet, row_height(sheet), len(columns))
    if rows is None:
        return image(file_uri(path), title or path.name, title)
    tiles = [[np.concatenate(row, axis=1)] if joined else row for row in rows]
    block = grid(columns, [{"caption": str(i + 1), "tiles": [png_uri(t) for t in row]} for i, row in enumerate(tiles)],
                 title, note)
    return {**block, "joined": sheet.shape[1] if joined else 0}


def composites_section(reports: Path) -> list[dict]:
    return [sheet_grid(reports / "synthesize" / "contact_sheet.png", "synthesize",
                       ["composite (id, borders the person touched, prior kind)", "alpha",
                        "prior (previous-frame mask)"],
                       _padded_row_height)]


def _curve_kind(name: str) -> str:
    stem = name.rsplit("/", 1)[-1]
    return "lr" if stem == LEARNING_RATE else "metric" if stem in CURVE_METRICS else "loss"


def training_section(reports: Path) -> list[dict]:
    root = reports / "train" / "plots" / "metrics"
    curves = sorted(root.rglob("*.tsv"))
    if not curves:
        return [missing("Training curves (reports/train/plots/metrics)", "train")]
    series = {}
    for path in curves:
        df = pd.read_csv(path, sep="\t")
        value = [c for c in df.columns if c not in ("step", "timestamp")][-1]
        series[path.relative_to(root).with_suffix("").as_posix()] = (df["step"], df[value])
    metrics = sorted({n.rsplit("/", 1)[-1] for n in series if _curve_kind(n) == "metric"})
    panels = ["loss"] + metrics + (["lr"] if any(_curve_kind(n) == "lr" for n in series) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for name, (x, y) in series.items():
            kind = _curve_kind(name)
            if (panel == "loss" and kind == "loss") or (panel == "lr" and kind == "lr") or \
                    (kind == "metric" and name.rsplit("/", 1)[-1] == panel):
                ax.plot(x, y, label=name, marker="." if len(x) < 20 else None)
        if panel == "loss":
            ax.set_title("Losses (lower is better)")
            ax.set_yscale("log")
            ax.legend(fontsize=6)
        elif panel == "lr":
            ax.set_title("Learning rate")
        else:
            better = "higher" if HIGHER_IS_BETTER.get(panel, False) else "lower"
            ax.set_title(f"Validation {CURVE_METRICS[panel]} ({better} is better)")
            ax.legend(fontsize=6)
        ax.set_xlabel("step")
    fig.tight_layout()
    return [image(figure_uri(fig), "training curves: losses, validation metrics, learning rate")]


def _higher(columns) -> dict[str, bool]:
    return {c: HIGHER_IS_BETTER[c] if c in HIGHER_IS_BETTER else c == "fps" for c in columns
            if c in HIGHER_IS_BETTER or c == "fps" or c in LOWER_IS_BETTER_EXTRA}


def evaluation_section(reports: Path) -> list[dict]:
    comparison = reports / "eval" / "comparison.json"
    metrics = reports / "eval" / "metrics.json"
    if not metrics.is_file():
        return [missing("Evaluation (reports/eval/metrics.json)", "evaluate")]
    blocks = []
    if comparison.is_file():
        data = json.loads(comparison.read_text())
        ours = summary.load(reports)
        order = list(ours.models) if ours is not None else list(data["models"])  # ours, then the baselines
        name = (lambda m: summary.display_name(ours, m)) if ours is not None else str
        models = pd.DataFrame(data["models"]).T.loc[order]
        columns = [c for c in EVAL_COLUMNS if c in models]
        frame = models[columns].reset_index(names="model")
        frame["model"] = [name(m) for m in frame["model"]]
        for c in columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        blocks.append(table(frame, "Every metric", _higher(columns),
                            "↑ higher is better, ↓ lower is better; best in bold. MAD and MSE x1e3, Grad and Conn "
                            "/1e3 (as in RobustVideoMatting); fps at 1280x720 on one thread."))
        fps_data = data.get("fps", {})  # model -> size -> threads -> {fps, ms}
        rows = [{"model": name(model), "threads": threads, "size": size, "fps": cell["fps"]}
                for model in [m for m in order if m in fps_data] for size, modes in fps_data[model].items()
                for threads, cell in modes.items()]
        if rows:
            sizes = sorted({r["size"] for r in rows}, key=_pixels)
            fps = pd.DataFrame(rows).pivot_table(index=["model", "threads"], columns="size", values="fps", sort=False)
            fps = fps[sizes].reset_index()
            fps.columns = [str(c) for c in fps.columns]
            best = {c: True for c in fps.columns if c not in ("model", "threads")}
            blocks.append(table(fps, "End-to-end frames per second (resize, inference, upsample, composite)", best,
                                "↑ more frames per second is better; best per frame size in bold."))
    else:
        flat = {k: v for k, v in json.loads(metrics.read_text()).items() if not isinstance(v, (dict, list))}
        blocks.append(table(pd.DataFrame([flat])))
    blocks.append(sheet_grid(reports / "eval" / "worst.png", "evaluate",
                             ["image (name, IoU, MAD)", "ground truth", "prediction", "|error| (bright = wrong)"],
                             lambda sheet: (sheet.shape[1] // 4) * 3 // 4, "Worst cases (lowest IoU first)",
                             joined=True))
    return blocks


def _pixels(size: str) -> int:
    """'1280x720' -> 921600 (frame sizes sort by area)."""
    width, _, height = size.partition("x")
    return int(width) * int(height) if width.isdigit() and height.isdigit() else 0


# --- the summary box ----------------------------------------------------------------------------

def summary_box(reports: Path, root: Path, now: dt.datetime | None = None) -> dict:
    comparison = summary.load(reports)
    box = {"date": (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"),
           "commit": summary.git_commit(root), "params_changed": summary.params_changed(root),
           "params_note": "no committed run to compare with (dvc.lock is not in git at HEAD)"}
    if comparison is None:
        return {**box, "verdict": "No evaluation yet: run `dvc repro evaluate`.", "comparison": None}
    frame = pd.DataFrame([{title: comparison.value(m, key) for key, title, _, _ in summary.COLUMNS}
                          for m in comparison.models])
    frame.insert(0, "model", [summary.display_name(comparison, m) for m in comparison.models])
    higher = {title: up for _, title, up, _ in summary.COLUMNS}
    formats = {title: fmt for _, title, _, fmt in summary.COLUMNS}
    return {**box, "verdict": summary.verdict(comparison),
            "comparison": table(frame, higher=higher, formats=formats,
                                legend="↑ higher is better, ↓ lower is better; best in bold; "
                                       "fps end to end at 1280x720 on one thread.")}


# --- the page -----------------------------------------------------------------------------------

def build(reports: Path, data: Path, root: Path | None = None) -> str:
    """The report's HTML. ``root``: the repository (git commit, params, relative paths; default: cwd)."""
    root = (root or Path.cwd()).resolve()
    sections = [
        ("data", "Data", data_section(data, reports, root)),
        ("labels", "Labels", labels_section(data, reports)),
        ("curation", "Curation", curation_section(data)),
        ("composites", "Composites", composites_section(reports)),
        ("training", "Training", training_section(reports)),
        ("evaluation", "Evaluation against baselines", evaluation_section(reports)),
    ]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE).render(
        summary=summary_box(reports, root),
        sections=[{"id": i, "title": t, "blocks": b} for i, t, b in sections])


def _add_args(parser) -> None:
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="stage reports folder (default: reports)")
    parser.add_argument("--data", type=Path, default=Path("data"), help="pipeline data folder (default: data)")
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")


def _run(args) -> None:
    io.write_text(args.out, build(args.reports, args.data))
    log.info("wrote %s", args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training report", __doc__, None, None, _add_args, _run, argv)
