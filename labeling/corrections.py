"""The corrections folder: a Label Studio round decoded into masks, written and read back.

```
CORRECTIONS/round-N/<id>.png            the person's mask, soft ensemble alpha kept near agreeing edges
CORRECTIONS/round-N/corrections.parquet one row per task of the round (CORRECTION_COLUMNS)
CORRECTIONS/round-N/export.json         Label Studio's raw JSON export of the round
```
``status``: 'corrected' (a mask was written), 'skipped' (only skipped/cancelled annotations),
'pending' (no annotation yet), 'empty' (submitted with no region), 'bad_result' (undecodable),
'bad_task' (task data that cannot be trusted: a sample_id that is not a sample id, an image that does
not resolve to a readable file under the document root). Only 'corrected' rows have a mask: nothing
else is turned into an empty mask.

Task data is trusted for nothing: ids must be sample ids (so a mask is written only as
``round-N/<id>.png``), the mask size is the store image's (its header, under the document root),
never the task's declared size, and the ensemble is read only from under the document root. A bad
task is a row with its reason; the rest of the round lands.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from core import io
from datasets import masks
from datasets.store import is_sample_id
from labeling import brush

log = logging.getLogger(__name__)

CORRECTION_COLUMNS = ["id", "store", "round", "task", "annotation", "annotator", "created_at", "updated_at",
                      "lead_time", "n_annotations", "status", "choice", "regions", "person_pixels",
                      "soft_pixels", "detail"]


def choose_annotation(annotations: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str, str]:
    """Pick the annotation that speaks for a task: the latest submitted one (by updated_at, then id).

    Returns (annotation or None, status, choice) with status 'annotated', 'skipped' (only skipped
    or cancelled annotations) or 'pending' (none), and choice a sentence saying what was picked.
    """
    submitted = [a for a in annotations if not a.get("was_cancelled")]
    cancelled = len(annotations) - len(submitted)
    if not submitted:
        status = "skipped" if cancelled else "pending"
        return None, status, f"{cancelled} skipped/cancelled, none submitted" if cancelled else "no annotation"
    ordered = sorted(submitted, key=lambda a: (str(a.get("updated_at") or a.get("created_at")), a["id"]))
    chosen = ordered[-1]
    if len(ordered) == 1:
        choice = "only submitted annotation"
    else:
        others = ", ".join(str(a["id"]) for a in ordered[:-1])
        choice = f"latest of {len(ordered)} submitted (also {others})"
    if cancelled:
        choice += f"; {cancelled} skipped/cancelled ignored"
    return chosen, "annotated", choice


def decode_round(exported: list[dict[str, Any]], round_no: int, users: dict[int, str], root: Path, *,
                 from_name: str, label: str, refine_band: float) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(corrections table, sample id -> alpha) of a round's JSON export (a list of tasks).

    ``users`` maps user ids to emails; ``root`` resolves the tasks' relative ensemble paths. Tasks
    are taken in id order, so of two tasks of one sample the later one's mask wins.
    """
    rows, alphas = [], {}
    for task in sorted(exported, key=lambda t: t["id"]):
        row, alpha = task_correction(task, users, root, from_name=from_name, label=label, refine_band=refine_band)
        row["round"] = round_no
        rows.append(row)
        if alpha is not None:
            alphas[row["id"]] = alpha
    return pd.DataFrame(rows, columns=CORRECTION_COLUMNS), alphas


def task_correction(task: dict[str, Any], users: dict[int, str], root: Path, *, from_name: str, label: str,
                    refine_band: float) -> tuple[dict[str, Any], np.ndarray | None]:
    """One corrections row for an exported task, and its alpha (H, W) uint8 when it is a correction."""
    data = task.get("data")
    data = data if isinstance(data, dict) else {}
    annotations = task.get("annotations") or []
    chosen, status, choice = choose_annotation(annotations)
    row = {"id": str(data.get("sample_id")), "store": data.get("store"), "task": task["id"],
           "annotation": None, "annotator": None, "created_at": None, "updated_at": None, "lead_time": None,
           "n_annotations": len(annotations), "status": status, "choice": choice, "regions": 0,
           "person_pixels": 0, "soft_pixels": 0, "detail": ""}
    if not is_sample_id(data.get("sample_id")):
        return _bad_task(row, task, f"sample_id {data.get('sample_id')!r} is not a sample id (16 hex chars)")
    if chosen is None:
        return row, None
    who = chosen.get("completed_by")
    who = who.get("email") if isinstance(who, dict) else users.get(who, str(who))
    row.update(annotation=chosen["id"], annotator=who, created_at=chosen.get("created_at"),
               updated_at=chosen.get("updated_at"), lead_time=chosen.get("lead_time"))
    results = chosen.get("result") or []
    image = _under_root(_served_path(data.get("image")), root)
    if image is None:
        return _bad_task(row, task, f"image {data.get('image')!r} is not a local file under the document root {root}")
    try:
        width, height = io.image_size(image)  # the store's image decides the size, not the task
    except io.BadFile as e:
        return _bad_task(row, task, f"image: {e.detail}")
    try:
        hard, regions = brush.regions_to_mask(results, height, width, from_name=from_name, label=label)
    except brush.BrushError as e:
        log.warning("task %s (%s): %s", task["id"], row["id"], e)
        row.update(status="bad_result", detail=str(e))
        return row, None
    row["regions"] = regions
    if regions == 0:
        row.update(status="empty", detail=f"submitted with no {label!r} region: not turned into an empty mask")
        return row, None
    alpha, soft = hard, 0
    ensemble = data.get("ensemble")
    path = _under_root(ensemble, root) if isinstance(ensemble, str) and ensemble else None
    soft_alpha = None
    if path is None:
        row["detail"] = f"ensemble {ensemble!r} is not a file under the document root {root}: not read"
    else:
        try:
            soft_alpha = io.read_mask(path)
        except io.BadFile as e:
            row["detail"] = f"ensemble: {e.detail}"
    if soft_alpha is not None and soft_alpha.shape == hard.shape:
        alpha, soft = brush.soften(hard, soft_alpha, masks.boundary_width(hard.shape, refine_band))
    elif soft_alpha is not None:
        row["detail"] = f"ensemble {path} is {soft_alpha.shape}, not {hard.shape}"
    if row["detail"]:
        row["detail"] += ": the correction stays hard"
        log.warning("task %s (%s): %s", task["id"], row["id"], row["detail"])
    row.update(status="corrected", person_pixels=int(np.count_nonzero(hard)), soft_pixels=soft)
    return row, alpha


def _bad_task(row: dict[str, Any], task: dict[str, Any], detail: str) -> tuple[dict[str, Any], None]:
    log.warning("task %s: %s; skipped", task.get("id"), detail)
    row.update(status="bad_task", detail=detail)
    return row, None


def _served_path(url: Any) -> str | None:
    """The document-root-relative path of a local-files URL (``/data/local-files/?d=<path>``), else None."""
    if not isinstance(url, str):
        return None
    parsed = urlparse(url)
    if parsed.path.rstrip("/") != "/data/local-files" or parsed.netloc:
        return None
    values = parse_qs(parsed.query).get("d")
    return values[0] if values else None


def _under_root(relative: str | None, root: Path) -> Path | None:
    """``root / relative`` when it names a file that resolves (links followed) under ``root``, else None."""
    if not relative or "\x00" in relative:
        return None
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative))  # an absolute `relative` stays absolute
    if not target.startswith(real_root + os.sep) or not os.path.isfile(target):
        return None
    return Path(target)


def write_round(out: Path, table: pd.DataFrame, alphas: dict[str, np.ndarray], exported: Any) -> None:
    """Write a round's folder atomically file by file: masks, then export.json, the table last.

    Masks a previous pull left for samples that are no longer corrected are removed.
    """
    for sid, alpha in alphas.items():
        io.write_png(out / f"{sid}.png", alpha)
    for stale in out.glob("*.png"):
        if stale.stem not in alphas:
            stale.unlink()
    io.write_json(out / "export.json", exported)
    io.write_parquet(out / "corrections.parquet", table)


def correction_rounds(corrections: Path) -> list[tuple[int, Path]]:
    """(N, folder) of every CORRECTIONS/round-N holding a corrections.parquet, by N."""
    rounds = []
    for folder in Path(corrections).glob("round-*"):
        suffix = folder.name[len("round-"):]
        if suffix.isdigit() and (folder / "corrections.parquet").is_file():
            rounds.append((int(suffix), folder))
    return sorted(rounds)


def corrected_ids(corrections: Path, before: int | None = None) -> dict[str, int]:
    """sample id -> the newest round (below ``before``) holding its correction mask."""
    found: dict[str, int] = {}
    for round_no, folder in correction_rounds(corrections):
        if before is not None and round_no >= before:
            continue
        table = pd.read_parquet(folder / "corrections.parquet", columns=["id", "status"])
        for sid in table.loc[table["status"] == "corrected", "id"]:
            if (folder / f"{sid}.png").is_file():
                found[sid] = round_no
    return found
