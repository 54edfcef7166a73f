"""The embedded sample: same bytes on every run, and ingesting it accounts for every planted defect."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.ingest import main as ingest_main
from datasets.sample import SampleParams, run
from datasets.store import Store

FORMATS = ("coco", "voc", "supervisely", "aisegment")


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    run(SampleParams(seed=0), out)
    return out


def test_same_bytes_from_a_fresh_process(sample, tmp_path, repo_root):
    """A second run in its own process (GrabCut, encoders and all) writes identical files."""
    subprocess.run([sys.executable, "-m", "datasets", "sample", "--out", str(tmp_path / "again"),
                    "--params", str(repo_root / "params.yaml")], cwd=repo_root, check=True, capture_output=True)
    assert snapshot(tmp_path / "again") == snapshot(sample)


def test_layout_and_size(sample):
    files = snapshot(sample)
    assert "coco/annotations/instances_train2017.json" in files
    assert "voc/VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt" in files
    assert "supervisely/meta.json" in files
    images = [f for f in files if f.endswith(".jpg") and "/matting/" not in f]
    assert 35 <= len(images) <= 50


@pytest.mark.parametrize("fmt", FORMATS)
def test_ingesting_the_sample_accounts_for_every_planted_defect(sample, fmt, tmp_path, repo_root):
    planted = json.loads((sample / "defects.json").read_text())[fmt]
    metrics = tmp_path / "m.json"
    rc = ingest_main(["--format", fmt, "--src", str(sample / fmt), "--out", str(tmp_path / "store"),
                      "--params", str(repo_root / "params.yaml"), "--metrics", str(metrics), "--workers", "2"])
    assert rc == 0  # the planted defects stay under ingest.max_bad_fraction
    figures = json.loads(metrics.read_text())
    store = Store(tmp_path / "store")
    quarantined = dict(zip(store.quarantine.origin, store.quarantine.reason))
    assert quarantined == {o: r for o, r in planted.items() if r != "no_person" and not r.startswith("wrong_label")}
    assert figures["no_person"] == sum(r == "no_person" for r in planted.values())
    wrong = {o for o, r in planted.items() if r.startswith("wrong_label")}
    assert wrong and wrong <= set(store.samples.origin)  # wrong labels are valid files: later stages catch them
    assert figures["offered"] == figures["samples"] + figures["quarantined"] + figures["no_person"]
    assert figures["samples"] >= 7 and (store.samples.persons >= 1).all()
    kinds = set(store.samples.label_kind)
    assert kinds == ({"alpha"} if fmt == "aisegment" else {"mask"})
    for row in store.samples.itertuples():
        assert 240 <= row.width <= 480 and 240 <= row.height <= 360
