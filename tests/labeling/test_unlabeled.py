"""Photos without labels (label_kind 'none') through ingest -> autolabel -> clean -> curate, on real photos."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from core import io
from datasets import ingest
from datasets.store import Store
from labeling import autolabel, clean, curate
from labeling.curate import choose

PHOTOS = ["1005.jpg", "1006.jpg", "1007.jpg"]  # ccp-unlabeled: one full-body person each


@pytest.fixture(scope="module")
def unlabeled_photos():
    """The real photos of ../shared/data/ccp-unlabeled; skipped (with the reason) only where ../shared is absent."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ccp-unlabeled" / "images"
    if not root.is_dir():
        pytest.skip(f"{root} is missing (../shared holds the real data; CI has it)")
    return root


@pytest.fixture
def flow(unlabeled_photos, tmp_path, repo_root):
    """A folder of 3 real photos, a small person on a big canvas and a blank picture, ingested and labelled."""
    src = tmp_path / "src"
    for name in PHOTOS:
        (src / "street").mkdir(parents=True, exist_ok=True)
        shutil.copy(unlabeled_photos / name, src / "street" / name)
    person = io.read_image(unlabeled_photos / PHOTOS[0])
    person = cv2.resize(person, (person.shape[1] // 2, person.shape[0] // 2), interpolation=cv2.INTER_AREA)
    canvas = np.full((person.shape[0] * 3, person.shape[1] * 5, 3), 128, np.uint8)  # the person: 1/15 of it
    canvas[-person.shape[0]:, person.shape[1]:2 * person.shape[1]] = person
    io.write_jpeg(src / "small.jpg", canvas, 95)
    io.write_jpeg(src / "blank.jpg", np.full((400, 300, 3), 200, np.uint8), 95)
    params = repo_root / "params.yaml"
    stores, labels = tmp_path / "stores", tmp_path / "labels"
    assert ingest.main(["--format", "images", "--src", str(src), "--out", str(stores / "photos"),
                        "--params", str(params), "--workers", "1"]) == 0
    metrics = {k: tmp_path / f"{k}.json" for k in ("autolabel", "clean", "curate")}
    assert autolabel.main(["--store", str(stores / "photos"), "--out", str(labels / "photos"), "--params",
                           str(params), "--metrics", str(metrics["autolabel"])]) == 0
    assert clean.main(["--store", str(stores / "photos"), "--labels", str(labels / "photos"), "--params",
                       str(params), "--metrics", str(metrics["clean"])]) == 0
    assert curate.main(["--stores", str(stores), "--labels", str(labels), "--out", str(tmp_path / "curated"),
                        "--params", str(params), "--metrics", str(metrics["curate"])]) == 0
    return {"store": Store(stores / "photos"), "labels": labels / "photos", "curated": tmp_path / "curated",
            **{k: json.loads(v.read_text()) for k, v in metrics.items()}}


def origin_ids(store: Store) -> dict[str, str]:
    return dict(zip(store.samples["origin"], store.samples["id"]))


def test_the_unlabeled_flow_end_to_end(flow):
    store, labels = flow["store"], flow["labels"]
    ids = origin_ids(store)
    assert (store.samples["label_kind"] == "none").all() and len(ids) == 5
    # autolabel: every member, the ensemble, the disagreement; zoom crops from the ensemble's own person
    assert flow["autolabel"]["n"] == 5 and flow["autolabel"]["zoom_crops"] >= 1
    for folder in [*flow["autolabel"]["members"], "ensemble", "disagreement"]:
        assert sorted(p.stem for p in (labels / folder).glob("*.png")) == sorted(ids.values())
    # clean: the ensemble's own trust, no ground-truth figures
    quality = pd.read_parquet(labels / "quality.parquet").set_index("id")
    assert quality["gt_iou"].isna().all() and quality["gt_boundary_iou"].isna().all()
    assert quality["label_quality"].between(0, 1).all()
    assert quality.loc[ids["blank.jpg"], "decision"] == "drop"
    assert "no_person" in quality.loc[ids["blank.jpg"], "flags"]
    assert set(quality["decision"]) <= {"keep", "review", "drop"}
    assert (quality.loc[[ids[f"street/{n}"] for n in PHOTOS], "decision"] != "drop").all()
    assert flow["clean"]["unlabeled"] == 5 and sum(flow["clean"]["unlabeled_decisions"].values()) == 5
    # curate: the ensemble's alpha for every kept sample, recorded as 'ensemble'
    sources = pd.read_parquet(flow["curated"] / "label_sources.parquet").set_index("id")
    assert sources.loc[ids["blank.jpg"], "label_source"] == "dropped"
    kept = [i for i in ids.values() if i != ids["blank.jpg"]]
    assert (sources.loc[kept, "label_source"] == "ensemble").all()
    curated = Store(flow["curated"])
    assert sorted(curated.samples["id"]) == sorted(kept)
    for row in curated.samples.itertuples():
        assert row.label_kind in ("mask", "alpha") and row.persons >= 1
        np.testing.assert_array_equal(curated.alpha(row), io.read_mask(labels / "ensemble" / f"{row.id}.png"))


def test_choose_takes_the_ensemble_for_unlabeled_samples():
    assert choose("keep", None, None, unlabeled=True) == ("ensemble", "decision")
    assert choose("review", None, None, "keep", unlabeled=True) == ("ensemble", "pending_review")
    assert choose("review", None, None, "drop", unlabeled=True) == ("dropped", "pending_review")
    assert choose("drop", None, None, unlabeled=True) == ("dropped", "decision_drop")
    assert choose("review", None, 2, unlabeled=True) == ("correction-round-2", "corrected")
    assert choose("keep", None, None) == ("ground_truth", "decision")  # labelled samples as before
