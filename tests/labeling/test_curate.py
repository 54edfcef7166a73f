"""Curation on tiny stores: the rules, the curated store contract, label_sources, missing inputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core import io
from datasets.store import SAMPLE_COLUMNS, Store
from labeling import curate
from labeling.curate import CurateParams
from tests.labeling._people_fixtures import labeled_store, write_params  # noqa: F401

EAST = ["keep", "refine", "replace", "review", "drop", "review", "keep", "drop"]
WEST = ["replace", "keep", "review"]


@pytest.fixture
def world(labeled_store, tmp_path):
    """Two stores with labels, a review table, two correction rounds; returns paths and ids."""
    east_store, _ = labeled_store(EAST, name="east", seed=3)
    west_store, _ = labeled_store(WEST, name="west", seed=4)
    east, west = list(Store(east_store).samples["id"]), list(Store(west_store).samples["id"])
    # an ignore mask on east[0]
    samples = pd.read_parquet(east_store / "samples.parquet")
    io.write_png(east_store / "ignore" / f"{east[0]}.png", np.zeros((64, 96), np.uint8))
    samples.loc[samples["id"] == east[0], "ignore"] = f"ignore/{east[0]}.png"
    io.write_parquet(east_store / "samples.parquet", samples)
    review = tmp_path / "review"
    io.write_parquet(review / "east.parquet", pd.DataFrame({"id": [east[0], east[4], east[2]],
                                                            "tag": ["reject", "approve", "fix"]}))
    io.write_parquet(review / "west.parquet", pd.DataFrame({"id": [west[2]], "tag": ["approve"]}))
    corrections = tmp_path / "corrections"
    rng = np.random.default_rng(0)
    corrected = {1: [east[3], east[5]], 2: [east[3], west[0]]}  # east[3] corrected twice: round 2 wins
    for round_no, ids in corrected.items():
        rows = []
        for sid in ids:
            io.write_png(corrections / f"round-{round_no}" / f"{sid}.png",
                         (rng.random((64, 96)) > 0.5).astype(np.uint8) * 255)
            rows.append({"id": sid, "status": "corrected"})
        rows.append({"id": east[7], "status": "skipped"})  # reported, no mask: not a correction
        io.write_parquet(corrections / f"round-{round_no}" / "corrections.parquet", pd.DataFrame(rows))
    return {"root": tmp_path, "east": east, "west": west, "review": review, "corrections": corrections,
            "params": write_params(tmp_path / "params.yaml", curate=CurateParams())}


def run_main(world, *extra) -> int:
    root = world["root"]
    return curate.main(["--stores", str(root / "stores"), "--labels", str(root / "labels"), "--out",
                        str(root / "curated"), "--params", str(world["params"]), *extra])


def test_every_sample_gets_its_label_source_by_the_rules(world):
    root, east, west = world["root"], world["east"], world["west"]
    metrics = root / "metrics.json"
    assert run_main(world, "--corrections", str(world["corrections"]), "--review", str(world["review"]),
                    "--metrics", str(metrics)) == 0
    table = pd.read_parquet(root / "curated" / "label_sources.parquet").set_index("id")
    expected = {
        east[0]: ("dropped", "review_reject"),  # keep, but tagged reject
        east[1]: ("refined", "decision"),
        east[2]: ("ensemble", "pending_review"),  # replace, tagged fix, no correction yet: kept (pending: keep)
        east[3]: ("correction-round-2", "corrected"),  # corrected in rounds 1 and 2
        east[4]: ("ground_truth", "approved"),  # drop, but approved
        east[5]: ("correction-round-1", "corrected"),
        east[6]: ("ground_truth", "decision"),
        east[7]: ("dropped", "decision_drop"),  # its skipped task is no correction
        west[0]: ("correction-round-2", "corrected"),
        west[1]: ("ground_truth", "decision"),
        west[2]: ("ground_truth", "approved"),  # review, approved
    }
    assert {sid: (r.label_source, r.reason) for sid, r in table.iterrows()} == expected
    assert table.loc[east[0], "review_tag"] == "reject" and table.loc[east[1], "decision"] == "refine"
    assert set(table["store"]) == {"east", "west"} and set(table["source"]) == {"east", "west"}
    figures = json.loads(metrics.read_text())
    assert (figures["samples"], figures["kept"], figures["dropped"]) == (11, 9, 2)


def test_curated_folder_is_a_sample_store_with_the_final_labels(world):
    root, east, west = world["root"], world["east"], world["west"]
    assert run_main(world, "--corrections", str(world["corrections"]), "--review", str(world["review"])) == 0
    curated = Store(root / "curated")
    samples = curated.samples.set_index("id")
    assert list(curated.samples.columns) == SAMPLE_COLUMNS
    assert sorted(samples.index) == sorted(set(east + west) - {east[0], east[7]})
    labels = root / "labels" / "east"
    sources = {east[1]: labels / "refined" / f"{east[1]}.png", east[2]: labels / "ensemble" / f"{east[2]}.png",
               east[3]: world["corrections"] / "round-2" / f"{east[3]}.png",
               east[6]: root / "stores" / "east" / "alpha" / f"{east[6]}.png"}
    for sid, src in sources.items():
        assert (root / "curated" / samples.loc[sid, "alpha"]).read_bytes() == src.read_bytes()
        np.testing.assert_array_equal(curated.alpha(samples.loc[sid]), io.read_mask(src))
    assert samples.loc[east[2], "label_kind"] == "alpha"  # the soft ensemble
    assert samples.loc[east[3], "label_kind"] == "mask" and samples.loc[east[6], "label_kind"] == "mask"
    image = root / "curated" / samples.loc[east[1], "image"]
    assert image.read_bytes() == (root / "stores" / "east" / "images" / f"{east[1]}.png").read_bytes()
    assert samples.loc[east[1], "source"] == "east" and samples.loc[east[1], "split"] in ("train", "val", "test")
    assert samples["ignore"].isna().all()  # east[0], the only one with an ignore mask, was rejected


def test_ignore_masks_follow_and_missing_optional_inputs_are_fine(world):
    root, east = world["root"], world["east"]
    assert run_main(world) == 0  # no corrections, no review tables yet
    curated = Store(root / "curated")
    samples = curated.samples.set_index("id")
    assert samples.loc[east[0], "ignore"] == f"ignore/{east[0]}.png"
    assert curated.ignore(samples.loc[east[0]]) is not None
    table = pd.read_parquet(root / "curated" / "label_sources.parquet").set_index("id")
    assert table.loc[east[3], "label_source"] == "ground_truth"  # review, waiting: keeps its label
    assert table["review_tag"].isna().all()


def test_rerun_removes_what_is_no_longer_kept(world):
    root, east = world["root"], world["east"]
    assert run_main(world) == 0
    assert (root / "curated" / "ignore" / f"{east[0]}.png").is_file()
    assert run_main(world, "--review", str(world["review"])) == 0  # now east[0] is rejected
    assert not (root / "curated" / "alpha" / f"{east[0]}.png").exists()
    assert not list((root / "curated" / "images").glob(f"{east[0]}.*"))
    assert not (root / "curated" / "ignore" / f"{east[0]}.png").exists()


def test_pending_drop_leaves_out_samples_waiting_for_a_person(world):
    root, east, west = world["root"], world["east"], world["west"]
    write_params(world["params"], curate=CurateParams(pending="drop"))
    assert run_main(world, "--review", str(world["review"])) == 0
    table = pd.read_parquet(root / "curated" / "label_sources.parquet").set_index("id")
    for sid in (east[2], east[3], east[5]):
        assert (table.loc[sid, "label_source"], table.loc[sid, "reason"]) == ("dropped", "pending_review")
    assert table.loc[west[2], "label_source"] == "ground_truth"  # approved: no longer waiting


def test_a_missing_label_file_drops_the_sample_with_a_reason(world):
    root, east = world["root"], world["east"]
    (root / "labels" / "east" / "refined" / f"{east[1]}.png").unlink()
    assert run_main(world) == 0
    table = pd.read_parquet(root / "curated" / "label_sources.parquet").set_index("id")
    assert (table.loc[east[1], "label_source"], table.loc[east[1], "reason"]) == ("dropped", "missing_label")


def test_choose_rules_table():
    assert curate.choose("keep", None, None) == ("ground_truth", "decision")
    assert curate.choose("keep", "reject", 3) == ("dropped", "review_reject")
    assert curate.choose("drop", None, 2) == ("correction-round-2", "corrected")
    assert curate.choose("drop", None, None) == ("dropped", "decision_drop")
    assert curate.choose("drop", "approve", None) == ("ground_truth", "approved")
    assert curate.choose("replace", "approve", None) == ("ensemble", "approved")
    assert curate.choose("review", None, None) == ("ground_truth", "pending_review")
    assert curate.choose("review", None, None, pending="drop") == ("dropped", "pending_review")
    assert curate.choose(None, None, None) == ("ground_truth", "no_quality_row")


def test_missing_labels_for_a_store_is_a_clear_error(world, caplog):
    root = world["root"]
    (root / "labels" / "west" / "quality.parquet").unlink()
    assert run_main(world) == 2
    assert "west/quality.parquet: no quality table" in caplog.text
    assert not (root / "curated" / "samples.parquet").exists()
