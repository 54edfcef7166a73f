"""The ingest stage: stable ids and identical tables across runs and worker counts, a killed run
started again, the bad-fraction gate, metrics, the CLI, and real COCO128."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ingest_fixtures import accounting_holds, coco_source, ingest, square, tables

from core import io
from core.config import ParamsError, from_dict
from datasets.ingest import IngestParams, main
from datasets.store import Store


def small_coco(root: Path, n: int = 12) -> Path:
    """n images with a person each (two with a crowd region), plus a no-person and a bad one."""
    images = [{"id": i, "file_name": f"{i:03d}.jpg", "width": 24, "height": 16} for i in range(n + 2)]
    anns = [{"image_id": i, "segmentation": [square(i % 10, 2, i % 10 + 8, 14)]} for i in range(n)]
    anns += [{"image_id": 0, "segmentation": [square(20, 0, 24, 4)], "iscrowd": 1},
             {"image_id": n + 1, "segmentation": [[1, 2, 3]]}]
    return coco_source(root, images, anns)


def snapshot(store: Path) -> dict[str, str]:
    """relative path -> sha1 of every file in the store."""
    return {p.relative_to(store).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file()}


def test_reruns_and_worker_counts_give_identical_stores(tmp_path):
    src = small_coco(tmp_path / "src")
    first = ingest("coco", src, tmp_path / "a", workers=1)
    again = ingest("coco", src, tmp_path / "a", workers=1)
    parallel = ingest("coco", src, tmp_path / "b", workers=2)
    assert first == again == parallel
    sa, qa = tables(tmp_path / "a")
    sb, qb = tables(tmp_path / "b")
    pd.testing.assert_frame_equal(sa, sb)
    pd.testing.assert_frame_equal(qa, qb)
    assert list(sa.id) == sorted(sa.id) and sa.id.is_unique
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert first["samples"] == 12 and first["no_person"] == 1 and first["quarantined"] == 1


def test_killed_run_started_again_ends_with_the_same_store(tmp_path):
    src = small_coco(tmp_path / "src")
    ingest("coco", src, tmp_path / "clean")
    expected = snapshot(tmp_path / "clean")
    killed = tmp_path / "killed"
    samples, _ = tables(tmp_path / "clean")
    some_id = samples.id[0]
    # what a run killed half-way leaves: temp files of atomic writes, a stale file of an older run, an
    # alpha from a different labelling, and old tables that do not match
    io.write_bytes(killed / "alpha" / f".{some_id}.png.x1y2.tmp.png", b"\x89PNG partial")
    io.write_bytes(killed / "images" / f".{some_id}.jpg.abc.tmp.jpg", b"\xff\xd8")
    io.write_png(killed / "alpha" / "0123456789abcdef.png", np.zeros((4, 4), np.uint8))
    io.write_png(killed / "alpha" / f"{some_id}.png", np.full((16, 24), 255, np.uint8))
    io.write_png(killed / "ignore" / f"{samples.id[3]}.png", np.full((16, 24), 255, np.uint8))
    io.write_text(killed / "samples.parquet", "torn")
    ingest("coco", src, killed)
    assert snapshot(killed) == expected


def test_hard_links_when_possible(tmp_path):
    src = small_coco(tmp_path / "src", n=1)
    ingest("coco", src, tmp_path / "store")
    r = Store(tmp_path / "store").samples.iloc[0]
    assert os.stat(tmp_path / "store" / r.image).st_ino == os.stat(src / "train2017" / "000.jpg").st_ino


def test_main_writes_metrics_and_fails_above_the_bad_fraction(tmp_path, repo_root):
    src = small_coco(tmp_path / "src", n=2)  # 4 offered, 1 bad: 25 %
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  max_bad_fraction: 0.2\n  min_person_pixels: 1\n")
    metrics = tmp_path / "m.json"
    rc = main(["--format", "coco", "--src", str(src), "--out", str(tmp_path / "store"), "--params", str(params),
               "--metrics", str(metrics), "--workers", "1"])
    assert rc == 1
    figures = json.loads(metrics.read_text())
    assert (figures["offered"], figures["samples"], figures["quarantined"], figures["no_person"]) == (4, 2, 1, 1)
    assert figures["reasons"] == {"bad_annotation": 1} and figures["quarantined_fraction"] == 0.25
    assert sum(figures["splits"].values()) == 2 and accounting_holds(figures)
    assert (tmp_path / "store" / "samples.parquet").is_file()  # tables written before failing
    params.write_text("ingest:\n  max_bad_fraction: 0.25\n  min_person_pixels: 1\n")
    assert main(["--format", "coco", "--src", str(src), "--out", str(tmp_path / "store"), "--params", str(params),
                 "--name", "renamed", "--workers", "1"]) == 0
    assert set(Store(tmp_path / "store").samples.source) == {"renamed"}


def test_main_unusable_input_exits_2_with_the_reason(tmp_path, repo_root, caplog):
    rc = main(["--format", "voc", "--src", str(tmp_path / "nope"), "--out", str(tmp_path / "store"),
               "--params", str(repo_root / "params.yaml")])
    assert rc == 2
    assert "no such folder" in caplog.text
    assert not (tmp_path / "store").exists()


def test_params_are_checked():
    with pytest.raises(ParamsError, match="splits"):
        from_dict(IngestParams, {"splits": {"train": 0.5, "val": 0.1}})
    with pytest.raises(ParamsError, match="unknown key"):
        from_dict(IngestParams, {"max_bad": 0.1})
    with pytest.raises(ParamsError, match="person_classes"):
        from_dict(IngestParams, {"person_classes": {"kitti": ["person"]}})


def test_the_repository_params_load(repo_root):
    from core.config import load_section
    params = load_section("ingest", IngestParams, repo_root / "params.yaml")
    assert params.person_classes["coco"] == ["person"]


def test_real_coco128(tmp_path, shared_dir, repo_root):
    """Real COCO: 61 of 128 images show a person (254 instances, none crowd); 67 do not."""
    metrics = tmp_path / "coco128.json"
    rc = main(["--format", "coco", "--src", str(shared_dir / "data" / "coco128"), "--out", str(tmp_path / "store"),
               "--params", str(repo_root / "params.yaml"), "--metrics", str(metrics), "--workers", "2"])
    assert rc == 0
    figures = json.loads(metrics.read_text())
    assert (figures["offered"], figures["samples"], figures["no_person"], figures["quarantined"]) == (128, 61, 67, 0)
    store = Store(tmp_path / "store")
    assert store.samples.persons.sum() == 254 and store.samples.ignore.isna().all()
    r = store.samples.iloc[0]
    alpha = store.alpha(r)
    assert alpha.shape == (r.height, r.width) and set(np.unique(alpha)) <= {0, 255} and alpha.any()
    assert set(store.samples.split) == {"train", "val", "test"}
