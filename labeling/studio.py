"""Label Studio correction rounds: `python -m labeling studio {serve,push,pull}`.

Ordered as FiftyOne's ``utils/labelstudio.py``: config (``studio_config.py``) -> client -> pure converters (task JSON)
-> stage functions -> helpers -> CLI. The server is ``studio_server.py``; the corrections folder
(decoding an export, writing and reading round-N/) is ``corrections.py``.

- ``serve`` starts the Label Studio server from its own venv on 127.0.0.1 with a preset user and
  API token, local-file serving rooted at the data folder, and waits until it answers.
- ``push --round N`` imports the samples whose decision is ``review`` (or tagged ``fix`` in
  FiftyOne) into project "<title> round N" with the ensemble's mask as a brush prediction.
  Idempotent: a sample already in the round (same store, same id) is not imported again.
- ``pull --round N`` exports the round, merges each task's brush regions into one mask (latest
  submitted annotation wins), softens it with the ensemble's alpha near the edge, and writes
  ``OUT/<id>.png`` and ``OUT/corrections.parquet`` (who, when, which choice, what became of it).

Connection settings come from the environment, then params: ``LABEL_STUDIO_URL`` (else
http://host:port), ``LABEL_STUDIO_API_KEY`` or ``LABEL_STUDIO_USER_TOKEN`` (else the credentials
file that ``serve`` writes in the data dir), ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from urllib.parse import quote

import httpx
import pandas as pd
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from core import io
from datasets.store import Store
from core.cli import Action, UsageError, actions_main
from datasets.sources import load_sources
from labeling import brush, corrections
from labeling.studio_config import (CREDENTIALS_FILE, StudioError, StudioParams, api_token, data_dir,  # noqa: F401
                                    document_root, server_url)

log = logging.getLogger(__name__)

FROM_NAME = "mask"  # the BrushLabels control in the label config
TO_NAME = "image"  # the Image object in the label config


# --- client ---------------------------------------------------------------------------------

def connect(params: StudioParams) -> LabelStudio:
    """A client for the running server; StudioError (saying what to do) when it cannot talk to it."""
    url = server_url(params)
    client = LabelStudio(base_url=url, api_key=api_token(params), timeout=params.request_timeout_s)
    call(lambda: client.users.whoami(), f"Label Studio at {url}")
    return client


def call(fn, what: str):
    """Run one API call; network errors and refusals become StudioError naming ``what``."""
    try:
        return fn()
    except httpx.HTTPError as e:
        raise StudioError(f"{what} does not answer ({type(e).__name__}: {e}); start it with "
                          "`python -m labeling studio serve` or set LABEL_STUDIO_URL") from e
    except ApiError as e:
        hint = " (check LABEL_STUDIO_API_KEY)" if e.status_code in (401, 403) else ""
        raise StudioError(f"{what}: HTTP {e.status_code}{hint}: {e.body}") from e


def project_title(params: StudioParams, round_no: int) -> str:
    return f"{params.project_title} round {round_no}"


def find_project(client: LabelStudio, title: str):
    """The project with exactly ``title`` (the API's title filter matches substrings), or None."""
    found = [p for p in call(lambda: list(client.projects.list(title=title)), "listing projects")
             if p.title == title]
    return min(found, key=lambda p: p.id) if found else None


def latest_round(client: LabelStudio, params: StudioParams) -> int:
    """The highest N of the projects titled "<title> round N"; StudioError when there is none."""
    prefix = f"{params.project_title} round "
    rounds = [int(p.title[len(prefix):]) for p in call(lambda: list(client.projects.list(title=prefix)),
                                                      "listing projects")
              if p.title.startswith(prefix) and p.title[len(prefix):].isdigit()]
    if not rounds:
        raise StudioError(f"no Label Studio project titled {prefix!r}N at {server_url(params)} (push a round first)")
    return max(rounds)


def label_config(label: str) -> str:
    """The BrushLabels interface: the image, the flags as a header, one brush label."""
    return (f'<View><Header value="$info"/>'
            f'<Image name="{TO_NAME}" value="$image" zoom="true" zoomControl="true"/>'
            f'<BrushLabels name="{FROM_NAME}" toName="{TO_NAME}">'
            f'<Label value="{label}" background="#ff3b30"/></BrushLabels></View>')


# --- pure converters ------------------------------------------------------------------------

def task_key(data: dict[str, Any]) -> tuple[str, str]:
    """What makes a task unique within a round: (store name, sample id)."""
    return str(data.get("store")), str(data.get("sample_id"))


def sample_task(row: Any, *, store: str, round_no: int, image_ref: str, ensemble_ref: str | None,
                prediction: dict[str, Any] | None) -> dict[str, Any]:
    """The import JSON of one sample: data (image URL, ids, sizes, flags) and the ensemble prediction.

    ``row`` is the sample's quality row merged with its samples row (id, width, height, decision,
    flags, label_quality, agreement); ``image_ref``/``ensemble_ref`` are paths relative to the
    document root.
    """
    flags = [str(f) for f in _list(getattr(row, "flags", None))]
    data = {"image": f"/data/local-files/?d={quote(image_ref, safe='/')}", "sample_id": row.id,
            "store": store, "round": int(round_no), "width": int(row.width), "height": int(row.height),
            "ensemble": ensemble_ref, "decision": str(row.decision), "flags": flags,
            "label_quality": _float(getattr(row, "label_quality", None)),
            "info": f"{store} / {row.id}: {row.decision}" + (f" ({', '.join(flags)})" if flags else "")}
    return {"data": data, "predictions": [prediction] if prediction else []}


# --- stage functions ------------------------------------------------------------------------

def push_round(params: StudioParams, round_no: int, pairs: list[tuple[Path, Path]],
               reviews: list[Path] = (), corrections_dir: Path | None = None,
               client: LabelStudio | None = None) -> dict[str, Any]:
    """Import the samples of round ``round_no`` that a person should correct; returns the counts.

    ``pairs``: (store, labels) folders. A sample goes in when its decision is 'review' and no
    FiftyOne tag says 'approve' or 'reject', or when it is tagged 'fix'. A sample that already has a
    correction from an earlier round under ``corrections_dir`` goes in again only when tagged 'fix'.
    """
    from labeling.review import read_review_tags  # the review table's reader lives with its writer

    root = document_root(params)
    tags = read_review_tags(reviews)
    done = corrections.corrected_ids(corrections_dir, before=round_no) if corrections_dir else {}
    inputs = [(Store(s), Path(labels), _read_quality(Path(labels))) for s, labels in pairs]
    for store, _, _ in inputs:  # every input checked before the server is touched
        _relative(store.root, root)
    client = client or connect(params)
    project = _project(client, params, round_no)
    existing = {task_key(t.data) for t in call(lambda: list(client.tasks.list(project=project.id)),
                                                "listing the round's tasks")}
    counts = {"round": round_no, "project": project.id, "selected": 0, "created": 0, "already_pushed": 0,
              "corrected_before": 0, "no_prediction": 0}
    tasks: list[dict[str, Any]] = []
    for store, labels_root, quality in inputs:
        name = store.root.resolve().name
        _ensure_storage(client, project.id, store.root.resolve(), root)
        members = [c[len("iou_"):] for c in quality.columns if c.startswith("iou_")]
        model_version = f"ensemble[{'+'.join(members)}]" if members else "ensemble"
        frame = store.samples.merge(quality, on="id", how="inner", suffixes=("", "_q"))
        for row in frame.itertuples(index=False):
            tag = tags.get(row.id)
            if not ((row.decision == "review" and tag not in ("approve", "reject")) or tag == "fix"):
                continue
            counts["selected"] += 1
            if row.id in done and tag != "fix":
                counts["corrected_before"] += 1
                continue
            if (name, row.id) in existing:
                counts["already_pushed"] += 1
                continue
            ensemble_path = Path(labels_root) / "ensemble" / f"{row.id}.png"
            prediction = _prediction(ensemble_path, row, params, model_version)
            counts["no_prediction"] += prediction is None
            tasks.append(sample_task(row, store=name, round_no=round_no,
                                     image_ref=_relative(store.root.resolve() / row.image, root),
                                     ensemble_ref=_reference(ensemble_path, root), prediction=prediction))
            existing.add((name, row.id))
    for start in range(0, len(tasks), params.batch_size):
        batch = tasks[start:start + params.batch_size]
        call(lambda: client.projects.import_tasks(id=project.id, request=batch, return_task_ids=True),
             f"importing tasks into project {project.id}")
        counts["created"] += len(batch)
    log.info("round %d (project %d): %d selected, %d new tasks, %d already pushed, %d corrected before",
             round_no, project.id, counts["selected"], counts["created"], counts["already_pushed"],
             counts["corrected_before"])
    return counts


def pull_round(params: StudioParams, round_no: int, out: Path,
               client: LabelStudio | None = None) -> dict[str, Any]:
    """Export round ``round_no`` and write OUT/<id>.png + OUT/corrections.parquet; returns counts.

    Everything is fetched and decoded before anything is written: a server that is down or a
    round that does not exist leaves ``out`` untouched.
    """
    client = client or connect(params)
    title = project_title(params, round_no)
    project = find_project(client, title)
    if project is None:
        raise StudioError(f"no Label Studio project {title!r} at {server_url(params)} "
                          f"(push the round first: `python -m labeling studio push --round {round_no} ...`)")
    raw = b"".join(call(lambda: list(client.projects.exports.download_sync(
        project.id, export_type="JSON", download_all_tasks=True)), f"exporting project {project.id}"))
    exported = json.loads(raw)
    users = {u.id: u.email for u in call(lambda: list(client.users.list()), "listing users")}
    table, alphas = corrections.decode_round(exported, round_no, users, document_root(params),
                                             from_name=FROM_NAME, label=params.label,
                                             refine_band=params.refine_band)
    corrections.write_round(Path(out), table, alphas, exported)
    counts = {"round": round_no, "project": project.id, "tasks": len(table), "corrected": len(alphas),
              **{f"status_{k}": int(v) for k, v in table["status"].value_counts().items()}}
    log.info("round %d: %d tasks, %d corrections written to %s; statuses %s", round_no, len(table),
             len(alphas), out, dict(table["status"].value_counts()))
    return counts


def round_progress(params: StudioParams, round_no: int, client: LabelStudio | None = None) -> dict[str, int]:
    """How far round ``round_no`` is: its tasks, and those a person finished (annotated or skipped)."""
    client = client or connect(params)
    title = project_title(params, round_no)
    project = find_project(client, title)
    if project is None:
        raise StudioError(f"no Label Studio project {title!r} at {server_url(params)} (push the round first)")
    tasks = call(lambda: list(client.tasks.list(project=project.id)), "listing the round's tasks")
    done = sum(1 for t in tasks if (t.total_annotations or 0) + (t.cancelled_annotations or 0) > 0)
    return {"round": round_no, "tasks": len(tasks), "done": done}


# --- helpers --------------------------------------------------------------------------------

def _project(client: LabelStudio, params: StudioParams, round_no: int):
    title = project_title(params, round_no)
    project = find_project(client, title)
    if project is None:
        project = call(lambda: client.projects.create(title=title, label_config=label_config(params.label)),
                       f"creating project {title!r}")
        log.info("created Label Studio project %d %r", project.id, title)
    return project


def _ensure_storage(client: LabelStudio, project_id: int, folder: Path, root: Path) -> None:
    """Let the server serve ``folder``'s files to this project (a local-files import storage)."""
    _relative(folder, root)
    if folder == root:
        raise StudioError(f"{folder}: the store is the document root itself; Label Studio serves only "
                          "its sub-folders (put stores in data/stores/<name>)")
    storages = call(lambda: list(client.import_storage.local.list(project=project_id)), "listing storages")
    if not any(Path(s.path) == folder for s in storages):
        call(lambda: client.import_storage.local.create(project=project_id, path=str(folder),
                                                        title=folder.name, use_blob_urls=True),
             f"adding local storage {folder}")


def _read_quality(labels: Path) -> pd.DataFrame:
    path = labels / "quality.parquet"
    if not path.is_file():
        raise StudioError(f"{labels}: no quality.parquet (run `python -m labeling clean` first)")
    quality = pd.read_parquet(path)
    missing = {"id", "decision"} - set(quality.columns)
    if missing:
        raise StudioError(f"{path}: missing column(s) {sorted(missing)} (expected the labels contract)")
    return quality


def _prediction(path: Path, row: Any, params: StudioParams, model_version: str) -> dict[str, Any] | None:
    if not path.is_file():
        log.warning("%s: no ensemble mask; the task goes without a prediction", path)
        return None
    alpha = io.read_mask(path)
    if alpha.shape != (row.height, row.width):
        log.warning("%s: %s differs from the image's %dx%d; the task goes without a prediction",
                    path, alpha.shape, row.height, row.width)
        return None
    region = brush.mask_to_region(alpha, from_name=FROM_NAME, to_name=TO_NAME, label=params.label)
    score = _float(getattr(row, "agreement", None))
    return {"model_version": model_version, "result": [region], **({"score": score} if score is not None else {})}


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the document root; StudioError when it lies outside."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise StudioError(f"{path} is outside the local-files document root {root}: Label Studio cannot "
                          "serve it (keep stores under studio.document_root or set "
                          "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)") from None


def _reference(path: Path, root: Path) -> str:
    """``path`` relative to the document root when under it, else absolute (for `pull`)."""
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _list(value: Any) -> list:
    return [] if value is None else list(value)


def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


# --- CLI ------------------------------------------------------------------------------------

def source_folders(params_path: Path | str) -> tuple[list[Path], list[Path]]:
    """(stores, labels) of every entry of params.yaml's `sources`: data/stores/<name>, data/labels/<name>
    (where dvc.yaml's ingest and autolabel stages write them)."""
    sources = load_sources(params_path)
    if not sources:
        raise StudioError(f"{params_path}: no `sources` to push (pass --store and --labels)")
    return [Path("data/stores") / n for n in sources], [Path("data/labels") / n for n in sources]


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="override studio.port")


def _serve(params: StudioParams, args: argparse.Namespace) -> None:
    from labeling.studio_server import serve

    serve(params)


def _push_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--round", type=int, required=True, dest="round_no",
                        help="round number (project \"<title> round N\")")
    parser.add_argument("--store", type=Path, action="append",
                        help="a sample store (repeat; default: data/stores/<name> for every entry of `sources`)")
    parser.add_argument("--labels", type=Path, action="append",
                        help="its labels folder (repeat, in --store order; default: data/labels/<name> likewise)")
    parser.add_argument("--review", type=Path, action="append", default=[],
                        help="review table(s) from `review --pull`, or a folder of them")
    parser.add_argument("--corrections", type=Path, help="corrections folder (round-N/): skip corrected samples")


def _push(params: StudioParams, args: argparse.Namespace) -> dict[str, Any]:
    stores, labels = (args.store, args.labels) if args.store or args.labels else source_folders(args.params)
    if len(stores or []) != len(labels or []):
        raise UsageError(f"give one --labels per --store (got {len(stores or [])} stores, {len(labels or [])} labels)")
    for folder in stores:  # a folder that is no store is said before any server is asked
        Store(folder)
    client = connect(params)
    figures = push_round(params, args.round_no, list(zip(stores, labels)), args.review, args.corrections, client)
    me = call(lambda: client.users.whoami(), "Label Studio (who am I)")
    log.info("round %d: correct the tasks at %s/projects/%d/data (log in as %s; the password is "
             "LABEL_STUDIO_PASSWORD or in %s)", args.round_no, server_url(params), figures["project"],
             me.email or me.username, data_dir(params) / CREDENTIALS_FILE)
    return figures


def _pull_args(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--round", type=int, dest="round_no", help="the round to pull; --out is its folder")
    which.add_argument("--latest", action="store_true",
                       help="the newest round; --out is the corrections folder (writes OUT/round-N)")
    parser.add_argument("--out", type=Path, required=True, help="data/corrections/round-N (or data/corrections)")


def _pull(params: StudioParams, args: argparse.Namespace) -> dict[str, Any]:
    if not args.latest:
        return pull_round(params, args.round_no, args.out)
    client = connect(params)
    round_no = latest_round(client, params)
    return pull_round(params, round_no, args.out / f"round-{round_no}", client)


ACTIONS = {
    "serve": Action("start the server and keep it up until Ctrl-C", _serve_args, _serve, overrides={"port": "port"},
                    metrics_help=None),
    "push": Action("import a round's samples as tasks with the ensemble pre-loaded", _push_args, _push,
                   metrics_help="write the counts as JSON here"),
    "pull": Action("export a round's annotations as masks + corrections.parquet", _pull_args, _pull,
                   metrics_help="write the counts as JSON here"),
}


def main(argv: list[str] | None = None) -> int:
    return actions_main("python -m labeling studio", __doc__, "studio", StudioParams, ACTIONS, argv)
