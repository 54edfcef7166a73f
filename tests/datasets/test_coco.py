"""COCO reader: golden masks, person by name, crowd -> ignore, every bad-input kind, splits, discovery."""
from __future__ import annotations

import numpy as np
import pytest
from ingest_fixtures import (accounting_holds, bomb_png, coco_source, ingest, mask_of, reasons, row, square,
                             tables, write_jpeg, write_truncated_jpeg)
from pycocotools import mask as mask_utils

from core import io
from datasets.ingest import IngestParams
from core.io import BadFile
from datasets.readers.coco import decode_segmentation, rle_counts, rle_counts_from_string
from datasets.readers.common import UnusableInput


def test_golden_polygons_rle_and_crowd(tmp_path):
    """Two instances (one a two-part polygon, one uncompressed RLE) merge; crowd goes to ignore."""
    # uncompressed RLE, column-major from the top-left: 2 bg, 3 fg, 43 bg on an 8x6 image:
    # column 0 rows 2..4 and ... -> 2 bg (rows 0,1 of col 0), 3 fg (rows 2,3,4 of col 0), rest bg
    rle = {"counts": [2, 3, 43], "size": [6, 8]}
    crowd = mask_utils.encode(np.asfortranarray(np.pad(np.ones((2, 2), np.uint8), ((4, 0), (6, 0)))))
    src = coco_source(tmp_path / "src", [{"id": 3, "file_name": "a.jpg", "width": 8, "height": 6}], [
        {"image_id": 3, "segmentation": [square(1, 1, 3, 3), square(4, 0, 6, 1)]},
        {"image_id": 3, "segmentation": rle},
        {"image_id": 3, "segmentation": {"counts": crowd["counts"].decode(), "size": [6, 8]}, "iscrowd": 1},
        {"image_id": 3, "segmentation": [square(0, 0, 8, 6)], "category_id": 1},  # a dog: not a person
    ])
    figures = ingest("coco", src, tmp_path / "store")
    r = row(tmp_path / "store", "train2017/a.jpg")
    expected = np.array([[0, 0, 0, 0, 1, 1, 0, 0],
                         [0, 1, 1, 0, 0, 0, 0, 0],
                         [1, 1, 1, 0, 0, 0, 0, 0],
                         [1, 0, 0, 0, 0, 0, 0, 0],
                         [1, 0, 0, 0, 0, 0, 0, 0],
                         [0, 0, 0, 0, 0, 0, 0, 0]], np.uint8) * 255
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.alpha), expected)
    ignore = np.zeros((6, 8), np.uint8)
    ignore[4:6, 6:8] = 255
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.ignore), ignore)
    assert (r.persons, r.label_kind, r.width, r.height) == (2, "mask", 8, 6)
    assert figures["samples"] == 1 and figures["persons"] == 2 and accounting_holds(figures)


def test_image_bytes_are_the_original_file(tmp_path):
    src = coco_source(tmp_path / "src", [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 6}],
                      [{"image_id": 1, "segmentation": [square(0, 0, 4, 4)]}])
    ingest("coco", src, tmp_path / "store")
    r = row(tmp_path / "store", "train2017/a.jpg")
    assert r.image.endswith(".jpg")
    assert (tmp_path / "store" / r.image).read_bytes() == (src / "train2017" / "a.jpg").read_bytes()


def test_rle_counts_golden():
    mask = np.array([[0, 1, 1],
                     [0, 1, 0]], np.uint8)  # column-major: 0 0 | 1 1 | 1 0
    assert rle_counts(mask) == [2, 3, 1]
    assert rle_counts(np.ones((2, 2), np.uint8)) == [0, 4]


def test_compressed_rle_matches_pycocotools():
    rng = np.random.default_rng(0)
    mask = (rng.random((37, 23)) > 0.6).astype(np.uint8)
    encoded = mask_utils.encode(np.asfortranarray(mask))
    text = encoded["counts"].decode()
    np.testing.assert_array_equal(decode_segmentation({"counts": text, "size": [37, 23]}, 37, 23, "x"), mask)
    assert rle_counts_from_string(text) == rle_counts(mask)


@pytest.mark.parametrize("segmentation, reason", [
    ({"counts": [5, 7], "size": [6, 8]}, "bad_rle"),  # runs do not cover the image
    ({"counts": [48, -1], "size": [6, 8]}, "bad_rle"),
    ({"counts": "0 {{", "size": [6, 8]}, "bad_rle"),  # characters outside the alphabet
    ({"counts": "f", "size": [6, 8]}, "bad_rle"),  # ends inside a number ('f' has the more-bit set)
    ({"counts": [48], "size": [4, 12]}, "bad_rle"),  # RLE size differs from the declared size
    ({"counts": {"a": 1}, "size": [6, 8]}, "bad_rle"),
    ([[1, 2, 3]], "bad_annotation"),  # odd coordinate count
    ([[1, 2, 3, 4]], "bad_annotation"),  # too few points (pycocotools would read a box)
    ([[1, 2, "x", 4, 5, 6]], "bad_annotation"),
    ([], "bad_annotation"),
    ("person", "bad_annotation"),
])
def test_bad_segmentations_raise_their_reason(segmentation, reason):
    with pytest.raises(BadFile) as e:
        decode_segmentation(segmentation, 6, 8, "ann 1")
    assert e.value.reason == reason


def test_every_bad_item_is_quarantined_with_its_reason(tmp_path):
    src = tmp_path / "src"
    images = [
        {"id": 1, "file_name": "good.jpg", "width": 8, "height": 6},
        {"id": 2, "file_name": "missing.jpg", "width": 8, "height": 6},
        {"id": 3, "file_name": "truncated.jpg", "width": 32, "height": 24},
        {"id": 4, "file_name": "declared.jpg", "width": 8, "height": 6},
        {"id": 5, "file_name": "../../secret.jpg", "width": 8, "height": 6},
        {"id": 6, "file_name": "bomb.png", "width": 8, "height": 6},
        {"id": 7, "file_name": "badpoly.jpg", "width": 8, "height": 6},
        {"id": 8, "file_name": "badrle.jpg", "width": 8, "height": 6},
        {"id": 9, "file_name": "good.jpg", "width": 8, "height": 6},  # the same file again
        {"id": 10, "file_name": "nowidth.jpg", "height": 6},
        {"id": 11, "file_name": "notimage.jpg", "width": 8, "height": 6},
        {"id": 12, "file_name": "tiny.jpg", "width": 8, "height": 6},
        {"id": 13, "file_name": "nobody.jpg", "width": 8, "height": 6},
        {"id": 14, "file_name": "crowdonly.jpg", "width": 8, "height": 6},
    ]
    anns = [{"image_id": i, "segmentation": [square(0, 0, 4, 4)]} for i in (1, 2, 3, 4, 5, 6, 9, 10, 11)]
    anns += [{"image_id": 7, "segmentation": [[0, 0, 1]]},
             {"image_id": 8, "segmentation": {"counts": [1, 2], "size": [6, 8]}},
             {"image_id": 12, "segmentation": [square(0, 0, 1, 1)]},
             {"image_id": 14, "segmentation": [square(0, 0, 4, 4)], "iscrowd": 1},
             {"image_id": 99, "segmentation": [square(0, 0, 4, 4)]}]
    coco_source(src, images, anns)
    (src / "train2017" / "missing.jpg").unlink()
    write_truncated_jpeg(src / "train2017" / "truncated.jpg")
    write_jpeg(src / "train2017" / "declared.jpg", 10, 6)
    write_jpeg(tmp_path / "secret.jpg", 8, 6)  # exists, but outside the source: never read
    (src / "train2017" / "bomb.png").write_bytes(bomb_png())
    (src / "train2017" / "notimage.jpg").write_text("hello")
    params = IngestParams(min_person_pixels=2, max_bad_fraction=1.0)
    figures = ingest("coco", src, tmp_path / "store", params=params)
    assert reasons(tmp_path / "store") == {
        "train2017/missing.jpg": "missing_image",
        "train2017/truncated.jpg": "bad_image",
        "train2017/declared.jpg": "size_mismatch",
        "train2017/../../secret.jpg": "path_outside_root",
        "train2017/bomb.png": "decompression_bomb",
        "train2017/badpoly.jpg": "bad_annotation",
        "train2017/badrle.jpg": "bad_rle",
        "annotations/instances_train2017.json#images[8]": "duplicate_image",
        "annotations/instances_train2017.json#images[9]": "bad_annotation",
        "train2017/notimage.jpg": "bad_image",
        "train2017/tiny.jpg": "tiny_mask",
        "annotations/instances_train2017.json#image_id=99": "unknown_image",
    }
    samples, quarantine = tables(tmp_path / "store")
    assert samples.origin.tolist() == ["train2017/good.jpg"]
    assert figures["no_person"] == 2  # nobody.jpg and the crowd-only image
    assert figures["offered"] == 15 and accounting_holds(figures)
    assert all(quarantine.detail.str.len() > 10) and set(quarantine.source) == {"t"}


def test_person_found_by_name_and_by_person_classes(tmp_path):
    src = coco_source(tmp_path / "src", [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 6}],
                      [{"image_id": 1, "segmentation": [square(0, 0, 2, 2)], "category_id": 1},
                       {"image_id": 1, "segmentation": [square(4, 4, 8, 6)]}], person_id=42)
    ingest("coco", src, tmp_path / "a")
    assert mask_of(tmp_path / "a", row(tmp_path / "a", "train2017/a.jpg").alpha)[0, 0] == 0
    ingest("coco", src, tmp_path / "b", person_classes=("dog",))
    alpha = mask_of(tmp_path / "b", row(tmp_path / "b", "train2017/a.jpg").alpha)
    assert alpha[0, 0] == 255 and alpha[5, 7] == 0
    with pytest.raises(UnusableInput, match="no category named"):
        ingest("coco", src, tmp_path / "c", person_classes=("rider",))


def test_splits_from_two_files_else_by_id(tmp_path):
    src = tmp_path / "src"
    for tag, ids in (("train2017", (1, 2)), ("val2017", (3,))):
        coco_source(src, [{"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 6} for i in ids],
                    [{"image_id": i, "segmentation": [square(0, 0, 4, 4)]} for i in ids], tag=tag)
    ingest("coco", src, tmp_path / "both")
    samples, _ = tables(tmp_path / "both")
    assert dict(zip(samples.origin, samples.split)) == {"train2017/1.jpg": "train", "train2017/2.jpg": "train",
                                                        "val2017/3.jpg": "val"}
    ingest("coco", src, tmp_path / "one", annotations=src / "annotations" / "instances_val2017.json")
    samples, _ = tables(tmp_path / "one")
    assert samples.origin.tolist() == ["val2017/3.jpg"]
    from datasets.store import split_for
    assert samples.split.tolist() == [split_for(samples.id[0], {"train": 0.8, "val": 0.1, "test": 0.1})]


def test_unusable_inputs_stop_with_one_clear_error(tmp_path):
    with pytest.raises(UnusableInput, match="no such folder"):
        ingest("coco", tmp_path / "nope", tmp_path / "store")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInput, match=r"expected annotations/instances_\*\.json"):
        ingest("coco", tmp_path / "empty", tmp_path / "store")
    io.write_text(tmp_path / "broken" / "annotations" / "instances_x.json", "{not json")
    with pytest.raises(UnusableInput, match="does not parse"):
        ingest("coco", tmp_path / "broken", tmp_path / "store")
    io.write_json(tmp_path / "other" / "annotations" / "instances_x.json", {"images": []})
    with pytest.raises(UnusableInput, match="not a COCO instances file"):
        ingest("coco", tmp_path / "other", tmp_path / "store")
    coco_source(tmp_path / "nothing", [], [])
    with pytest.raises(UnusableInput, match="offers no items"):
        ingest("coco", tmp_path / "nothing", tmp_path / "store")
    assert not (tmp_path / "store" / "samples.parquet").exists()
