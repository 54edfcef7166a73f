"""FiftyOne review of the labels: `python -m labeling review --store S --labels L [--launch]`.

Builds (or refreshes, by sample id) a persistent FiftyOne dataset per store, named
``<review.dataset_prefix><store folder name>``: the image; ``ground_truth``, every ensemble member,
``ensemble`` (and ``refined`` where the cleaner wrote one) as ``Segmentation`` fields pointing at
the PNGs (``mask_path``, nothing copied); the ``disagreement`` map as a ``Heatmap``; the quality
scalars and flags as fields; each flag also as a sample tag ``flag:<reason>``. Saved views:
``flagged``, ``needs-review``, ``worst-label-quality``, ``doubtful-auto-labels`` (samples without a
label of their own, label_kind 'none', whose ensemble label clean sent to review, least trusted
first; their ``ground_truth`` is empty) and ``flag-<reason>`` per reason.

People tag samples in the App with ``approve``, ``reject`` or ``fix`` (meaning in
docs/people-in-the-loop.md); ``--pull --out T.parquet`` reads those tags back into the review
table (id, store, dataset, tag, tags, conflict, decision, label_quality) that ``studio push`` and
``curate`` read. Refreshing keeps people's tags and replaces only the ``flag:`` tags.

``--launch`` opens the App on review.address:port and keeps it until Ctrl-C or SIGTERM; the App
server (a child process tree FiftyOne leaves running otherwise) is then ended by PID.
"""
from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import numpy as np
import pandas as pd
import psutil

from core import io
from core.cli import UsageError, stage_main
from datasets.store import Store
from core import processes
from core.processes import ServerError

log = logging.getLogger(__name__)

REVIEW_TAGS = ("reject", "fix", "approve")  # a sample with several: the first in this order wins
FLAG_TAG_PREFIX = "flag:"  # flags become sample tags "flag:<reason>"; refreshing replaces only these
NOT_MEMBERS = ("ensemble", "disagreement", "refined")  # LABELS sub-folders that are not ensemble members
SCALARS = ("agreement", "gt_iou", "gt_boundary_iou", "label_quality")
DOUBTFUL_VIEW = "doubtful-auto-labels"
REVIEW_COLUMNS = ["id", "store", "dataset", "tag", "tags", "conflict", "decision", "label_quality"]


@dataclass(frozen=True)
class ReviewParams:
    """params.yaml `review:`."""
    dataset_prefix: str = "matting-"  # dataset name = prefix + the store's folder name
    address: str = "127.0.0.1"  # the App listens on loopback only
    port: int = 5151  # App port (--port overrides)
    worst_count: int = 50  # samples in the `worst-label-quality` saved view
    app_start_timeout_s: float = 180.0  # the App answered after 12-14 s on 2 idle cores


class ReviewError(RuntimeError):
    """The review cannot go on: no dataset yet, labels missing, port taken."""


def dataset_name(params: ReviewParams, store: Path | str) -> str:
    return f"{params.dataset_prefix}{Path(store).resolve().name}"


def member_field(member: str) -> str:
    """The dataset field of an ensemble member: its name as an identifier, prefixed when it clashes."""
    name = re.sub(r"\W", "_", member)
    reserved = {"id", "filepath", "tags", "metadata", "created_at", "last_modified_at", "sample_id", "store",
                "source", "split", "label_kind", "ground_truth", "flagged", "flags", "decision", *NOT_MEMBERS,
                *SCALARS}
    return f"member_{name}" if name in reserved or name[:1].isdigit() or name.startswith("iou_") else name


def members_of(labels: Path, quality: pd.DataFrame) -> list[str]:
    """Ensemble members: the quality table's iou_<member> columns, plus member folders in LABELS."""
    names = [c[len("iou_"):] for c in quality.columns if c.startswith("iou_")]
    names += [p.name for p in sorted(labels.iterdir()) if p.is_dir() and p.name not in NOT_MEMBERS
              and not p.name.startswith(".")]
    return list(dict.fromkeys(names))


# --- building the dataset ---------------------------------------------------------------------

def build_dataset(params: ReviewParams, store_root: Path, labels_root: Path):
    """Create or refresh the store's dataset; returns (dataset, counts)."""
    import fiftyone as fo

    store, labels = Store(store_root), Path(labels_root).resolve()
    quality_path = labels / "quality.parquet"
    if not quality_path.is_file():
        raise ReviewError(f"{labels}: no quality.parquet (run `python -m labeling clean` first)")
    quality = pd.read_parquet(quality_path)
    members = members_of(labels, quality)
    frame = store.samples.merge(quality, on="id", how="left", suffixes=("", "_q"))
    name = dataset_name(params, store_root)
    ds = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name, persistent=True)
    _declare_fields(ds, members, quality)
    ds.default_mask_targets = {255: "person"}
    rows = {row["id"]: _fields(store, labels, members, row) for row in frame.to_dict("records")}
    existing = dict(zip(ds.values("sample_id"), ds.values("id")))
    updated = 0
    if existing:
        for sample in ds.select([existing[s] for s in existing if s in rows]).iter_samples(autosave=True):
            values, flag_tags = rows[sample["sample_id"]]
            for key, value in values.items():
                sample[key] = value
            sample.tags = [t for t in sample.tags if not t.startswith(FLAG_TAG_PREFIX)] + flag_tags
            updated += 1
    new = [fo.Sample(tags=flag_tags, **values) for sid, (values, flag_tags) in rows.items() if sid not in existing]
    if new:
        ds.add_samples(new)
    gone = [oid for sid, oid in existing.items() if sid not in rows]
    if gone:
        log.warning("%s: %d samples are no longer in %s; removing them", name, len(gone), store.root)
        ds.delete_samples(gone)
    reasons = sorted({f for flags in quality.get("flags", pd.Series([], dtype=object)) for f in _list(flags)})
    views = _save_views(ds, params, reasons)
    ds.info.update({"store": str(store.root.resolve()), "labels": str(labels), "members": members,
                    "review_tags": list(REVIEW_TAGS)})
    _configure_app(ds)
    ds.save()
    counts = {"dataset": name, "samples": len(ds), "added": len(new), "updated": updated, "removed": len(gone),
              "flagged": int(quality["flagged"].sum()) if "flagged" in quality else 0, "views": views}
    log.info("%s: %d samples (%d added, %d refreshed, %d removed), views %s", name, len(ds), len(new),
             updated, len(gone), views)
    return ds, counts


def _declare_fields(ds, members: list[str], quality: pd.DataFrame) -> None:
    import fiftyone as fo

    declared = {"sample_id": (fo.StringField, None), "store": (fo.StringField, None),
                "source": (fo.StringField, None), "split": (fo.StringField, None),
                "label_kind": (fo.StringField, None),
                "decision": (fo.StringField, None), "flagged": (fo.BooleanField, None),
                "flags": (fo.ListField, fo.StringField),
                "disagreement": (fo.EmbeddedDocumentField, fo.Heatmap)}
    for name in ("ground_truth", "ensemble", "refined", *map(member_field, members)):
        declared[name] = (fo.EmbeddedDocumentField, fo.Segmentation)
    for name in (*SCALARS, *(c for c in quality.columns if c.startswith("iou_"))):
        declared[re.sub(r"\W", "_", name)] = (fo.FloatField, None)
    for name, (ftype, sub) in declared.items():
        if ds.has_sample_field(name):
            continue
        if ftype is fo.EmbeddedDocumentField:
            ds.add_sample_field(name, ftype, embedded_doc_type=sub)
        elif ftype is fo.ListField:
            ds.add_sample_field(name, ftype, subfield=sub)
        else:
            ds.add_sample_field(name, ftype)


def _fields(store: Store, labels: Path, members: list[str], row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(field values, flag tags) of one sample: its samples row merged with its quality row."""
    import fiftyone as fo

    def mask(folder: str):
        path = labels / folder / f"{row['id']}.png"
        return fo.Segmentation(mask_path=str(path)) if path.is_file() else None

    root = store.root.resolve()
    flags = [str(f) for f in _list(row.get("flags"))]
    heat = labels / "disagreement" / f"{row['id']}.png"
    values = {"filepath": str(root / row["image"]), "sample_id": row["id"], "store": root.name,
              "source": row["source"], "split": row["split"],
              "metadata": fo.ImageMetadata(width=int(row["width"]), height=int(row["height"])),
              "ground_truth": fo.Segmentation(mask_path=str(root / row["alpha"])) if _value(row["alpha"]) else None,
              "label_kind": row["label_kind"],
              "ensemble": mask("ensemble"), "refined": mask("refined"),
              "disagreement": fo.Heatmap(map_path=str(heat), range=[0, 255]) if heat.is_file() else None,
              "decision": _value(row.get("decision")), "flags": flags,
              "flagged": bool(_value(row.get("flagged")) or False)}
    for member in members:
        values[member_field(member)] = mask(member)
    for name, value in row.items():
        if name in SCALARS or name.startswith("iou_"):
            value = _value(value)
            values[re.sub(r"\W", "_", name)] = None if value is None else float(value)
    return values, [FLAG_TAG_PREFIX + f for f in flags]


def _save_views(ds, params: ReviewParams, reasons: list[str]) -> list[str]:
    from fiftyone import ViewField as F

    views = {"flagged": ds.match(F("flagged") == True),  # noqa: E712 (a FiftyOne expression)
             "needs-review": ds.match(F("decision") == "review"),
             "worst-label-quality": ds.exists("label_quality").sort_by("label_quality").limit(params.worst_count),
             # auto-labels of photos without labels (label_kind 'none') the ensemble doubts, least trusted first
             DOUBTFUL_VIEW: ds.match((F("label_kind") == "none") & (F("decision") == "review"))
                              .sort_by("label_quality")}
    for reason in reasons:
        views[f"flag-{re.sub(r'[^A-Za-z0-9]+', '-', reason)}"] = ds.match_tags(FLAG_TAG_PREFIX + reason)
    for name in ds.list_saved_views():
        if name.startswith("flag-") and name not in views:
            ds.delete_saved_view(name)
    for name, view in views.items():
        ds.save_view(name, view, overwrite=True)
    return sorted(views)


# --- the App ----------------------------------------------------------------------------------

FLAGGED_VIEW = "flagged"  # the saved view the App opens on
VISIBLE_FIELDS = ("ground_truth", "ensemble", "disagreement")  # label fields shown when the App opens
TAG_COLORS = {"approve": "#2ca02c", "fix": "#ff7f0e", "reject": "#d62728"}  # the review tags, known to the App


def _configure_app(ds) -> None:
    """The dataset's App defaults: ground truth, ensemble and disagreement visible; each mask in its own
    colour; the disagreement map on the inferno colour scale (dark = members agree, bright = they differ);
    the review tags coloured, and described in the dataset's description."""
    import fiftyone as fo

    ds.app_config.active_fields = fo.ActiveFields(paths=[f for f in VISIBLE_FIELDS if ds.has_sample_field(f)])
    masks = {"ground_truth": "#00c853", "ensemble": "#2962ff", "refined": "#aa00ff"}
    ds.app_config.color_scheme = fo.ColorScheme(  # by value: heatmaps follow their colour scale only then
        color_by="value", opacity=0.5,
        fields=[*({"path": f, "fieldColor": c, "maskTargetsColors": [{"intTarget": 255, "color": c}]}
                  for f, c in masks.items()),
                {"path": "tags", "valueColors": [{"value": t, "color": c} for t, c in TAG_COLORS.items()]}],
        colorscales=[{"path": "disagreement", "name": "inferno", "list": None}],
        default_colorscale={"name": "inferno", "list": None})
    ds.description = ("Tag each sample approve (the ground truth is right), fix (correct it in Label Studio) or "
                      "reject (drop the sample); then `python -m labeling review --pull`. Green: ground truth, "
                      "blue: ensemble, heatmap: member disagreement.")


def view_url(app_url: str, dataset_name: str, view: str = FLAGGED_VIEW) -> str:
    """The App's address of a saved view of ``dataset_name``."""
    return f"{app_url.rstrip('/')}/datasets/{quote(dataset_name)}?view={quote(view)}"

@dataclass
class App:
    """A running FiftyOne App: the session and the server's process tree (ended by :func:`stop_app`)."""
    session: Any
    url: str
    procs: list[psutil.Process] = field(default_factory=list)


def launch_app(dataset, address: str, port: int, timeout: float, view=None) -> App:
    """Start the App server for ``dataset`` (opened on ``view`` when given) on address:port and wait until it
    answers HTTP."""
    import fiftyone as fo

    if processes.port_in_use(address, port):
        raise ReviewError(f"port {port} on {address} is in use (an App from an earlier run?); stop it or "
                          "pass --port")
    session = fo.launch_app(dataset, view=view, remote=True, address=address, port=port)
    servers = [p for p in psutil.Process().children(recursive=True) if _is_app_server(p, port)]
    procs = [q for p in servers for q in processes.tree(p)]
    app = App(session, f"http://{address}:{port}/", procs)
    if not servers:
        stop_app(app)
        raise ReviewError(f"the FiftyOne App server for port {port} is not a child of this process")
    try:
        waited = processes.wait_http(app.url, timeout, servers[0], "the FiftyOne App")
    except ServerError:
        stop_app(app)
        raise
    app.procs = [q for p in servers for q in processes.tree(p)]  # the server's children exist by now
    log.info("FiftyOne App for %s answers at %s after %.0f s (pids %s)", dataset.name, app.url, waited,
             [p.pid for p in app.procs])
    return app


def stop_app(app: App) -> list[int]:
    """Close the session and end the App server's processes; returns PIDs still alive."""
    app.session.close()
    left = processes.stop_tree(app.procs)
    log.info("FiftyOne App at %s stopped", app.url)
    return left


def _is_app_server(proc: psutil.Process, port: int) -> bool:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return "--51-service" in cmd and "server" in cmd and str(port) in cmd


# --- review tags --------------------------------------------------------------------------------

def pull_review(params: ReviewParams, store_root: Path) -> pd.DataFrame:
    """The review table of the store's dataset: one row per sample carrying a review tag."""
    import fiftyone as fo

    name = dataset_name(params, store_root)
    if not fo.dataset_exists(name):
        raise ReviewError(f"no FiftyOne dataset {name!r} (build it: `python -m labeling review --store "
                          f"{store_root} --labels LABELS`)")
    ds = fo.load_dataset(name)
    sids, stores, tags, decisions, qualities = ds.values(["sample_id", "store", "tags", "decision",
                                                          "label_quality"])
    rows = []
    for sid, store, sample_tags, decision, quality in zip(sids, stores, tags, decisions, qualities):
        given = [t for t in REVIEW_TAGS if t in (sample_tags or [])]
        if given:
            rows.append({"id": sid, "store": store, "dataset": name, "tag": given[0], "tags": given,
                         "conflict": len(given) > 1, "decision": decision, "label_quality": quality})
    table = pd.DataFrame(rows, columns=REVIEW_COLUMNS).sort_values("id", kind="stable").reset_index(drop=True)
    for row in table[table["conflict"]].itertuples():
        log.warning("%s: sample %s is tagged %s; %r wins", name, row.id, row.tags, row.tag)
    for tag, count in unknown_tags(ds.count_sample_tags()).items():
        log.warning("%s: %d samples are tagged %r, which is no review tag (known: %s; a typo?); they are not "
                    "pulled", name, count, tag, ", ".join(REVIEW_TAGS))
    return table


def unknown_tags(counts: dict[str, int]) -> dict[str, int]:
    """Sample tags that are neither review tags nor flag tags (tag -> samples)."""
    return {t: n for t, n in sorted(counts.items()) if t not in REVIEW_TAGS and not t.startswith(FLAG_TAG_PREFIX)}


def read_review_tags(paths: Iterable[Path]) -> dict[str, str]:
    """sample id -> review tag from review tables (files, or folders of *.parquet); absent paths are none."""
    tags: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        files = sorted(path.glob("*.parquet")) if path.is_dir() else [path] if path.is_file() else []
        if not files:
            log.info("%s: no review table (nothing reviewed yet)", path)
        for file in files:
            table = pd.read_parquet(file)
            if not {"id", "tag"} <= set(table.columns):
                raise ReviewError(f"{file}: not a review table (expected columns id, tag; got {list(table.columns)})")
            for sid, tag in zip(table["id"], table["tag"]):
                if tag not in REVIEW_TAGS:
                    raise ReviewError(f"{file}: sample {sid} has tag {tag!r}, expected one of {list(REVIEW_TAGS)}")
                old = tags.get(sid)
                tags[sid] = tag if old is None else min(old, tag, key=REVIEW_TAGS.index)
    return tags


# --- stage ------------------------------------------------------------------------------------

def run(params: ReviewParams, store: Path, labels: Path) -> dict[str, Any]:
    """Create or refresh the store's review dataset; returns its counts."""
    return build_dataset(params, store, labels)[1]


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, required=True, help="the sample store")
    parser.add_argument("--labels", type=Path, help="its labels folder (build/refresh the dataset)")
    parser.add_argument("--launch", action="store_true", help="open the App until Ctrl-C")
    parser.add_argument("--port", type=int, help="App port (overrides review.port)")
    parser.add_argument("--pull", action="store_true", help="read review tags back into --out")
    parser.add_argument("--out", type=Path, help="review table to write with --pull (data/review/<store>.parquet)")


def _run(params: ReviewParams, args: argparse.Namespace) -> dict:
    if args.pull and args.out is None:
        raise UsageError("--pull needs --out (the review table to write)")
    if not args.pull and args.labels is None:
        raise UsageError("give --labels (to build the dataset) or --pull --out T.parquet")
    if args.pull:
        table = pull_review(params, args.store)
        io.write_parquet(args.out, table)
        figures = {"reviewed": len(table), **{f"tag_{t}": int((table["tag"] == t).sum()) for t in REVIEW_TAGS},
                   "conflicts": int(table["conflict"].sum())}
        log.info("%d reviewed samples -> %s (%s)", len(table), args.out, figures)
        return figures
    dataset, figures = build_dataset(params, args.store, args.labels)
    if args.launch:
        _serve_app(dataset, params)
    return figures


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m labeling review", __doc__, "review", ReviewParams, _add_args, _run, argv,
                      overrides={"port": "port"}, metrics_help="write the counts as JSON here")


def _serve_app(dataset, params: ReviewParams) -> None:
    """Keep the App up until SIGINT/SIGTERM, then end it and its children."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        flagged = dataset.has_saved_view(FLAGGED_VIEW)
        app = launch_app(dataset, params.address, params.port, params.app_start_timeout_s,
                         view=dataset.load_saved_view(FLAGGED_VIEW) if flagged else None)
        url = view_url(app.url, dataset.name) if flagged else app.url
        log.info("review %s: open %s (flagged samples); tag them approve / fix / reject; Ctrl-C stops the App",
                 dataset.name, url)
        try:
            while not stop.wait(1.0):
                if not any(processes.alive(p) for p in app.procs):
                    raise ReviewError(f"the FiftyOne App at {app.url} exited")
        finally:
            left = stop_app(app)
            if left:
                log.error("App processes %s did not end", left)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _list(value: Any) -> list:
    return [] if value is None or (isinstance(value, float) and pd.isna(value)) else list(value)


def _value(value: Any) -> Any:
    """A scalar as a plain Python object; None for missing values (None, NaN, NA)."""
    if value is None or pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value
