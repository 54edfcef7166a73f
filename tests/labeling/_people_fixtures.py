"""Fixtures of the people-in-the-loop tests: a labels folder per the LABELS contract, and the two
real servers (FiftyOne's database, Label Studio), each started once per test session.

Import the fixtures you use into the test module (one module per server, so a session fixture is
set up once).
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import cv2
# FiftyOne's `eta` reads its package metadata on import; in a full test session something earlier left
# importlib_metadata unable to read it (KeyError 'author'), so it is imported before any test runs.
import eta  # noqa: F401
import numpy as np
import pandas as pd
import psutil
import pytest

from core import io
from datasets.store import Sample, Store, sample_id, write_tables
from core.processes import free_port

MEMBERS = ("mediapipe-selfie", "sinet")
FLAG_BY_DECISION = {"keep": [], "refine": ["low_gt_boundary_iou"], "replace": ["low_gt_iou", "member_disagree"],
                    "review": ["member_disagree"], "drop": ["tiny_person"]}


def make_store(root: Path, source: str, n: int, seed: int, size: tuple[int, int] = (40, 32)) -> Path:
    """A small real sample store at ``root`` (for module/session-scoped fixtures, where the
    function-scoped ``tiny_store`` cannot be used): one elliptic person per image, hard alpha."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    samples = []
    for i in range(n):
        sid = sample_id(source, f"img_{i}.png")
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.4, 0.7) * height
        alpha = ((((xx - cx) / (0.25 * width)) ** 2 + ((yy - cy) / (0.4 * height)) ** 2 <= 1) * 255).astype(np.uint8)
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        image[alpha > 0] = rng.integers(0, 255, 3)
        io.write_png(root / "images" / f"{sid}.png", image)
        io.write_png(root / "alpha" / f"{sid}.png", alpha)
        samples.append(Sample(id=sid, source=source, split="train", image=f"images/{sid}.png",
                              alpha=f"alpha/{sid}.png", ignore=None, width=width, height=height, persons=1,
                              label_kind="mask", origin=f"img_{i}.png"))
    write_tables(root, samples, [])
    return root


def write_labels(store_root: Path, labels_root: Path, decisions: list[str], seed: int = 0,
                 hard_ensemble: bool = False) -> pd.DataFrame:
    """Write LABELS for the store's samples (in samples.parquet order): members, ensemble (soft
    edge unless ``hard_ensemble``), disagreement, refined (decision 'refine'), quality.parquet."""
    store = Store(store_root)
    rng = np.random.default_rng(seed)
    rows = []
    for row, decision in zip(store.samples.itertuples(index=False), decisions):
        truth = store.alpha(row)
        shifted = np.roll(truth, int(rng.integers(1, 4)), axis=1)
        members = {"mediapipe-selfie": shifted, "sinet": cv2.erode(truth, np.ones((3, 3), np.uint8))}
        soft = cv2.GaussianBlur(shifted.astype(np.float32), (7, 7), 2.0)
        ensemble = shifted if hard_ensemble else np.clip(np.round(soft), 0, 255).astype(np.uint8)
        for name, alpha in members.items():
            io.write_png(labels_root / name / f"{row.id}.png", alpha)
        io.write_png(labels_root / "ensemble" / f"{row.id}.png", ensemble)
        disagreement = np.abs(members["mediapipe-selfie"].astype(int) - members["sinet"]).astype(np.uint8)
        io.write_png(labels_root / "disagreement" / f"{row.id}.png", disagreement)
        if decision == "refine":
            io.write_png(labels_root / "refined" / f"{row.id}.png", cv2.GaussianBlur(truth, (5, 5), 1.0))
        flags = FLAG_BY_DECISION[decision]
        quality = float(rng.uniform(0.05, 0.95))
        rows.append({"id": row.id, "iou_mediapipe-selfie": float(rng.uniform(0.6, 1)),
                     "iou_sinet": float(rng.uniform(0.6, 1)), "agreement": float(rng.uniform(0.5, 1)),
                     "gt_iou": None if decision == "drop" else quality, "gt_boundary_iou": quality / 2,
                     "label_quality": quality, "flagged": bool(flags), "flags": flags, "decision": decision})
    quality = pd.DataFrame(rows)
    io.write_parquet(labels_root / "quality.parquet", quality)
    return quality


@pytest.fixture
def labeled_store(tiny_store, tmp_path):
    """Factory: ``labeled_store(decisions, name=..., root=...)`` -> (store, labels) folders.

    The store has ``len(decisions)`` samples; sample i gets decision ``decisions[i]``. ``root``
    (default tmp_path) gets ``stores/<name>`` and ``labels/<name>``.
    """

    def make(decisions: list[str], name: str = "tiny", root: Path | None = None, seed: int = 0,
             hard_ensemble: bool = False) -> tuple[Path, Path]:
        root = root or tmp_path
        store = tiny_store(n=len(decisions), source=name, seed=seed, root=root / "stores" / name)
        labels = root / "labels" / name
        write_labels(store, labels, decisions, seed=seed, hard_ensemble=hard_ensemble)
        return store, labels

    return make


@pytest.fixture(scope="session")
def fiftyone_db(tmp_path_factory):
    """FiftyOne on a database of its own (a tmp dir and a unique name), shut down and removed after.

    Subprocesses inherit the settings through the environment.
    """
    db_dir = tmp_path_factory.mktemp("fiftyone-db")
    name = f"matting-tests-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIFTYONE_DATABASE_DIR", str(db_dir))
        mp.setenv("FIFTYONE_DATABASE_NAME", name)
        mp.setenv("FIFTYONE_DO_NOT_TRACK", "true")
        import fiftyone as fo
        import fiftyone.core.odm.database as food

        if food._client is not None:
            pytest.fail("FiftyOne connected to a database before the fiftyone_db fixture (a test imported and "
                        "used fiftyone at collection time); the tests would touch the user's database")
        fo.config.database_dir = str(db_dir)
        fo.config.database_name = name
        yield fo
        for dataset in fo.list_datasets():
            fo.delete_dataset(dataset)
        food.drop_database()  # the unique name: only this session's database
        food._disconnect()
        service = food._db_service
        if service is not None and service.child is not None:
            child = service.child
            service.stop()  # closes the service's stdin: mongod ends once no other client is left
            try:
                child.wait(timeout=30)
            except psutil.TimeoutExpired:
                child.kill()
        shutil.rmtree(db_dir, ignore_errors=True)


def write_params(path: Path, **sections) -> Path:
    """A params.yaml holding the given sections (dataclass instances or dicts)."""
    import dataclasses

    import yaml

    data = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in sections.items()}
    path.write_text(yaml.safe_dump(data))
    return path


__all__ = ["MEMBERS", "make_store", "write_labels", "labeled_store", "fiftyone_db",
           "write_params"]
