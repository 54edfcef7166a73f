"""PascalVOC reader: golden class mask -> alpha + ignore, splits, person counts, bad inputs, layouts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ingest_fixtures import (PARAMS, accounting_holds, bomb_png, ingest, mask_of, png, reasons, row, tables,
                             voc_source, write_truncated_jpeg)

from core import io
from datasets.readers.common import UnusableInput
from datasets.store import split_for

P, V, TV = 15, 255, 20  # person, void, tvmonitor

CLASSES = np.array([[0, 0, V, V, 0, 0, 0, 0],
                    [0, V, P, P, V, 0, TV, TV],
                    [0, V, P, P, V, 0, TV, TV],
                    [0, V, P, P, V, 0, 0, 0],
                    [0, 0, V, V, 0, 0, P, 0],
                    [0, 0, 0, 0, 0, 0, 0, 0]], np.uint8)


def test_golden_person_void_and_other_classes(tmp_path):
    voc_source(tmp_path / "src", {"a": {"classes": CLASSES}}, train=["a"])
    figures = ingest("voc", tmp_path / "src", tmp_path / "store")
    r = row(tmp_path / "store", "JPEGImages/a.jpg")
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.alpha), (CLASSES == P).astype(np.uint8) * 255)
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.ignore), (CLASSES == V).astype(np.uint8) * 255)
    # no SegmentationObject: the count is the connected person regions (>= 16 px each, at least 1)
    assert (r.split, r.persons, r.label_kind) == ("train", 1, "mask")
    assert figures["samples"] == 1 and accounting_holds(figures)


def test_person_count_from_segmentation_object(tmp_path):
    objects = np.zeros_like(CLASSES)
    objects[1:4, 2:4] = 1  # first person
    objects[4, 6] = 2  # second person
    objects[1:3, 6:8] = 3  # the tv
    objects[CLASSES == V] = V
    voc_source(tmp_path / "src", {"a": {"classes": CLASSES, "objects": objects}})
    ingest("voc", tmp_path / "src", tmp_path / "store")
    assert row(tmp_path / "store", "JPEGImages/a.jpg").persons == 2


def test_splits_from_image_sets_else_by_id(tmp_path):
    voc_source(tmp_path / "src", {n: {"classes": CLASSES} for n in ("a", "b", "c")}, train=["a"], val=["b"])
    ingest("voc", tmp_path / "src", tmp_path / "store")
    samples, _ = tables(tmp_path / "store")
    splits = dict(zip(samples.origin, samples.split))
    c_id = row(tmp_path / "store", "JPEGImages/c.jpg").id
    assert splits == {"JPEGImages/a.jpg": "train", "JPEGImages/b.jpg": "val",
                      "JPEGImages/c.jpg": split_for(c_id, {"train": 0.8, "val": 0.1, "test": 0.1})}


def test_every_bad_item_is_quarantined_with_its_reason(tmp_path):
    no_person = np.where(CLASSES == P, 0, CLASSES).astype(np.uint8)
    odd = CLASSES.copy()
    odd[5, 0] = 30
    voc = voc_source(tmp_path / "src", {
        "good": {"classes": CLASSES},
        "empty": {"classes": no_person},
        "listed_only": {"image": (8, 6)},  # listed in train.txt, no SegmentationClass png
        "wrong_size": {"classes": CLASSES, "image": (10, 6)},
        "rgb_mask": {"classes": CLASSES},
        "odd_index": {"classes": odd},
        "truncated": {"classes": np.zeros((24, 32), np.uint8) + P},
        "no_image": {"classes": CLASSES},
        "bomb": {"classes": CLASSES},
        "obj_size": {"classes": CLASSES, "objects": np.zeros((5, 8), np.uint8)},
    }, train=["good", "empty", "listed_only", "../../../escape", "wrong_size", "rgb_mask", "odd_index",
              "truncated", "no_image", "bomb", "obj_size"])
    io.write_bytes(voc / "SegmentationClass" / "rgb_mask.png", png(np.dstack([CLASSES] * 3)))
    write_truncated_jpeg(voc / "JPEGImages" / "truncated.jpg")
    (voc / "JPEGImages" / "no_image.jpg").unlink()
    (voc / "JPEGImages" / "bomb.jpg").write_bytes(bomb_png())
    figures = ingest("voc", tmp_path / "src", tmp_path / "store")
    assert reasons(tmp_path / "store") == {
        "JPEGImages/listed_only.jpg": "missing_mask",
        "JPEGImages/../../../escape.jpg": "path_outside_root",
        "JPEGImages/wrong_size.jpg": "size_mismatch",
        "JPEGImages/rgb_mask.jpg": "bad_mask",
        "JPEGImages/odd_index.jpg": "bad_mask",
        "JPEGImages/truncated.jpg": "bad_image",
        "JPEGImages/no_image.jpg": "missing_image",
        "JPEGImages/bomb.jpg": "decompression_bomb",
        "JPEGImages/obj_size.jpg": "size_mismatch",
    }
    samples, _ = tables(tmp_path / "store")
    assert samples.origin.tolist() == ["JPEGImages/good.jpg"]
    assert figures["no_person"] == 1 and figures["offered"] == 11 and accounting_holds(figures)


@pytest.mark.parametrize("given", ["src", "src/VOCdevkit", "src/VOCdevkit/VOC2012"])
def test_layouts(tmp_path, given):
    voc_source(tmp_path / "src", {"a": {"classes": CLASSES}})
    ingest("voc", tmp_path / given, tmp_path / "store")
    assert tables(tmp_path / "store")[0].origin.tolist() == ["JPEGImages/a.jpg"]


def test_unusable_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInput, match="not a PascalVOC folder"):
        ingest("voc", tmp_path / "empty", tmp_path / "store")
    with pytest.raises(UnusableInput, match="no such folder"):
        ingest("voc", tmp_path / "nope", tmp_path / "store")
    voc_source(tmp_path / "src", {"a": {"classes": CLASSES}})
    with pytest.raises(UnusableInput, match="unknown VOC class"):
        ingest("voc", tmp_path / "src", tmp_path / "store", person_classes=("human",))


def test_person_count_without_segmentation_object_is_connected_regions(tmp_path):
    classes = np.zeros((20, 30), np.uint8)
    classes[2:8, 2:8] = P  # 36 px
    classes[10:16, 20:26] = P  # 36 px
    classes[18, 0] = P  # 1 px: a speck, not a person
    voc_source(tmp_path / "src", {"a": {"classes": classes}})
    ingest("voc", tmp_path / "src", tmp_path / "store")
    assert row(tmp_path / "store", "JPEGImages/a.jpg").persons == 2


def test_test_from_val_moves_part_of_the_own_val_split_to_test(tmp_path):
    names = [f"v{i}" for i in range(40)]
    voc_source(tmp_path / "src", {n: {"classes": CLASSES} for n in ["t", *names]}, train=["t"], val=names)
    params = dataclasses.replace(PARAMS, test_from_val=0.5)
    ingest("voc", tmp_path / "src", tmp_path / "store", params)
    samples, _ = tables(tmp_path / "store")
    splits = dict(zip(samples.origin, samples.split))
    assert splits["JPEGImages/t.jpg"] == "train"  # only val rows move
    moved = [o for o in splits if o != "JPEGImages/t.jpg" and splits[o] == "test"]
    assert 10 <= len(moved) <= 30 and all(splits[o] in ("val", "test") for o in splits if o != "JPEGImages/t.jpg")
    for origin in moved:  # by id hash: stable across runs
        assert split_for(row(tmp_path / "store", origin).id, {"val": 0.5, "test": 0.5}) == "test"
    with pytest.raises(ValueError, match="test_from_val"):
        dataclasses.replace(PARAMS, test_from_val=1.5)
