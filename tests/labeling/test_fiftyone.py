"""FiftyOne review against its real embedded database (a per-session one) and the real App."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from core import io
from datasets.store import Store
from labeling import review
from core.processes import alive, answers, free_port
from labeling.review import ReviewParams
from tests.labeling._people_fixtures import labeled_store, write_params  # noqa: F401

DECISIONS = ["keep", "refine", "replace", "review", "drop", "review"]


@pytest.fixture
def built(fiftyone_db, labeled_store, tmp_path):
    """A labeled store (one sample per decision) and its freshly built review dataset."""
    store, labels = labeled_store(DECISIONS, name=f"store-{tmp_path.name[-12:]}")
    params = ReviewParams(dataset_prefix="test-")
    dataset, counts = review.build_dataset(params, store, labels)
    return {"store": store, "labels": labels, "params": params, "dataset": dataset, "counts": counts,
            "ids": list(Store(store).samples["id"])}


def test_dataset_has_masks_by_path_quality_fields_and_flag_tags(built):
    ds, ids, labels = built["dataset"], built["ids"], built["labels"]
    assert ds.name == f"test-{built['store'].name}" and ds.persistent and len(ds) == len(DECISIONS)
    sample = ds.one(review_field("sample_id") == ids[1])
    assert sample.ground_truth.mask_path == str((built["store"] / "alpha" / f"{ids[1]}.png").resolve())
    assert sample.ground_truth.mask is None  # referenced, not copied
    assert sample.ensemble.mask_path == str(labels.resolve() / "ensemble" / f"{ids[1]}.png")
    assert sample.refined.mask_path == str(labels.resolve() / "refined" / f"{ids[1]}.png")
    assert sample.mediapipe_selfie.mask_path == str(labels.resolve() / "mediapipe-selfie" / f"{ids[1]}.png")
    assert sample.sinet.mask_path.endswith(f"sinet/{ids[1]}.png")
    assert sample.disagreement.map_path.endswith(f"disagreement/{ids[1]}.png")
    assert sample.decision == "refine" and sample.flags == ["low_gt_boundary_iou"] and sample.flagged
    assert sample.tags == ["flag:low_gt_boundary_iou"]
    quality = pd.read_parquet(labels / "quality.parquet").set_index("id")
    assert sample.label_quality == pytest.approx(quality.loc[ids[1], "label_quality"])
    assert sample["iou_mediapipe_selfie"] == pytest.approx(quality.loc[ids[1], "iou_mediapipe-selfie"])
    assert ds.one(review_field("sample_id") == ids[4]).gt_iou is None  # null stays null
    assert ds.one(review_field("sample_id") == ids[0]).refined is None  # no refinement for 'keep'


def test_saved_views(built):
    ds = built["dataset"]
    assert set(ds.list_saved_views()) == {"flagged", "needs-review", "worst-label-quality", "doubtful-auto-labels",
                                          "flag-low-gt-iou",
                                          "flag-low-gt-boundary-iou", "flag-member-disagree", "flag-tiny-person"}
    assert len(ds.load_saved_view("flagged")) == 5  # every decision but 'keep' carries a flag
    assert len(ds.load_saved_view("needs-review")) == 2
    assert len(ds.load_saved_view("flag-member-disagree")) == 3  # replace + the two reviews
    worst = ds.load_saved_view("worst-label-quality").values("label_quality")
    assert worst == sorted(worst) and len(worst) == len(DECISIONS)


def test_refresh_is_idempotent_keeps_review_tags_and_replaces_flags(built):
    ds, ids = built["dataset"], built["ids"]
    ds.select_by("sample_id", [ids[0]]).tag_samples("approve")
    ds.select_by("sample_id", [ids[3]]).tag_samples("fix")
    quality = pd.read_parquet(built["labels"] / "quality.parquet")
    quality.loc[quality["id"] == ids[3], "flags"] = pd.Series([["new_reason"]], index=quality.index[[3]])
    io.write_parquet(built["labels"] / "quality.parquet", quality)
    again, counts = review.build_dataset(built["params"], built["store"], built["labels"])
    assert (counts["added"], counts["updated"], counts["removed"], len(again)) == (0, len(DECISIONS), 0, len(DECISIONS))
    assert again.one(review_field("sample_id") == ids[0]).tags == ["approve"]
    assert sorted(again.one(review_field("sample_id") == ids[3]).tags) == ["fix", "flag:new_reason"]
    assert "flag-new-reason" in again.list_saved_views()


def test_dataset_reloads_in_a_second_process(built, repo_root):
    code = ("import json, fiftyone as fo; ds = fo.load_dataset({name!r}); s = ds.first(); "
            "print(json.dumps({{'n': len(ds), 'views': sorted(ds.list_saved_views()), "
            "'gt': s.ground_truth.mask_path, 'fields': sorted(ds.get_field_schema())}}))")
    proc = subprocess.run([sys.executable, "-c", code.format(name=built["dataset"].name)], cwd=repo_root,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["n"] == len(DECISIONS)
    assert seen["views"] == sorted(built["dataset"].list_saved_views())
    assert seen["gt"] == built["dataset"].first().ground_truth.mask_path
    assert {"ground_truth", "ensemble", "refined", "disagreement", "mediapipe_selfie", "sinet", "label_quality",
            "flags", "decision", "sample_id"} <= set(seen["fields"])


def test_tags_are_pulled_into_the_review_table(built, tmp_path):
    ds, ids = built["dataset"], built["ids"]
    ds.select_by("sample_id", [ids[0]]).tag_samples("approve")
    ds.select_by("sample_id", [ids[2]]).tag_samples(["reject", "approve"])  # conflict: reject wins
    ds.select_by("sample_id", [ids[5]]).tag_samples("fix")
    ds.select_by("sample_id", [ids[1]]).tag_samples("looked-at")  # not a review tag
    params_file = write_params(tmp_path / "params.yaml", review=built["params"])
    out = tmp_path / "review" / "store.parquet"
    assert review.main(["--store", str(built["store"]), "--pull", "--out", str(out), "--params", str(params_file)]) == 0
    table = pd.read_parquet(out).set_index("id")
    assert sorted(table.index) == sorted([ids[0], ids[2], ids[5]])
    assert table.loc[ids[0], "tag"] == "approve" and table.loc[ids[5], "tag"] == "fix"
    assert table.loc[ids[2], "tag"] == "reject" and bool(table.loc[ids[2], "conflict"])
    assert table.loc[ids[5], "decision"] == "review" and table.loc[ids[5], "store"] == built["store"].name
    assert review.read_review_tags([out.parent]) == {ids[0]: "approve", ids[2]: "reject", ids[5]: "fix"}


def test_pull_without_a_dataset_is_a_clear_error(fiftyone_db, tmp_path, caplog):
    out = tmp_path / "review.parquet"
    params_file = write_params(tmp_path / "params.yaml", review=ReviewParams(dataset_prefix="absent-"))
    assert review.main(["--store", str(tmp_path), "--pull", "--out", str(out), "--params", str(params_file)]) == 2
    assert "no FiftyOne dataset" in caplog.text and not out.exists()


def test_app_launches_answers_and_stops_with_no_process_left(built, repo_root, tmp_path):
    port = free_port()
    params_file = write_params(tmp_path / "params.yaml", review=built["params"])
    cmd = [sys.executable, "-m", "labeling", "review", "--store", str(built["store"]), "--labels",
           str(built["labels"]), "--launch", "--port", str(port), "--params", str(params_file)]
    launcher = psutil.Popen(cmd, cwd=repo_root, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: set[psutil.Process] = set()
    try:
        deadline = time.monotonic() + 240
        while not answers(f"http://127.0.0.1:{port}/"):
            assert launcher.poll() is None, launcher.stdout.read()
            assert time.monotonic() < deadline, "the App did not answer within 240 s"
            seen |= set(launcher.children(recursive=True))
            time.sleep(0.5)
        seen |= set(launcher.children(recursive=True))
        servers = [p for p in seen if "--51-service" in p.cmdline() and "server" in p.cmdline()]
        assert servers, "no App server process under the launcher"
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 0, launcher.stdout.read()
    finally:
        if launcher.poll() is None:
            launcher.kill()
    left = [p.pid for p in seen if alive(p)]
    assert left == [], f"processes started by the launcher still alive: {left}"
    assert not answers(f"http://127.0.0.1:{port}/")


def review_field(name):
    from fiftyone import ViewField as F
    return F(name)
