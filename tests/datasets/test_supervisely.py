"""Supervisely reader: golden polygon-with-hole and bitmap masks, class titles, bad inputs, discovery."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest
from ingest_fixtures import (accounting_holds, bomb_png, ingest, mask_of, png, reasons, row, sly_ann,
                             sly_bitmap_object, sly_polygon, sly_source, tables, write_truncated_jpeg)

from core import io
from datasets.readers.common import UnusableInput
from datasets.readers.supervisely import decode_bitmap, encode_bitmap


def test_golden_polygon_with_hole_and_bitmap(tmp_path):
    bitmap = np.array([[1, 1, 0],
                       [0, 1, 1]], np.uint8)
    ann = sly_ann(10, 8,
                  sly_polygon([(1, 1), (6, 1), (6, 6), (1, 6)], interior=[[(3, 3), (4, 3), (4, 4), (3, 4)]]),
                  sly_bitmap_object(bitmap, origin=(7, 5)),
                  sly_polygon([(0, 0), (9, 0), (9, 7)], title="car"))  # another class: ignored
    sly_source(tmp_path / "src", {"a.jpg": ann})
    figures = ingest("supervisely", tmp_path / "src", tmp_path / "store")
    expected = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                         [0, 1, 1, 1, 1, 1, 1, 0, 0, 0],
                         [0, 1, 1, 1, 1, 1, 1, 0, 0, 0],
                         [0, 1, 1, 0, 0, 1, 1, 0, 0, 0],
                         [0, 1, 1, 0, 0, 1, 1, 0, 0, 0],
                         [0, 1, 1, 1, 1, 1, 1, 1, 1, 0],
                         [0, 1, 1, 1, 1, 1, 1, 0, 1, 1],
                         [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], np.uint8) * 255
    r = row(tmp_path / "store", "ds1/img/a.jpg")
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.alpha), expected)
    assert (r.persons, r.ignore, r.width, r.height) == (2, None, 10, 8)
    assert figures["samples"] == 1 and accounting_holds(figures)


def test_bitmap_clipped_at_the_image_border(tmp_path):
    ann = sly_ann(6, 4, sly_bitmap_object(np.ones((3, 3), np.uint8), origin=(4, 2)))
    sly_source(tmp_path / "src", {"a.jpg": ann})
    ingest("supervisely", tmp_path / "src", tmp_path / "store")
    alpha = mask_of(tmp_path / "store", row(tmp_path / "store", "ds1/img/a.jpg").alpha)
    expected = np.zeros((4, 6), np.uint8)
    expected[2:, 4:] = 255
    np.testing.assert_array_equal(alpha, expected)


def test_bitmap_round_trip_golden():
    mask = np.array([[0, 1, 1],
                     [1, 0, 0]], np.uint8)
    data = encode_bitmap(mask)
    png_bytes = zlib.decompress(base64.b64decode(data))
    assert png_bytes.startswith(b"\x89PNG") and b"tRNS" in png_bytes  # palette PNG, index 0 transparent
    np.testing.assert_array_equal(decode_bitmap(data), mask)


@pytest.mark.parametrize("encoding", ["rgba", "gray"])
def test_bitmap_png_kinds(encoding):
    mask = np.array([[0, 1], [1, 1]], np.uint8)
    if encoding == "rgba":
        data = png(np.dstack([np.zeros((2, 2, 3), np.uint8), mask * 255]))
    else:
        data = png(mask * 200)
    decoded = decode_bitmap(base64.b64encode(zlib.compress(data)).decode())
    np.testing.assert_array_equal(decoded, mask)


def test_person_classes(tmp_path):
    ann = sly_ann(8, 6, sly_polygon([(0, 0), (3, 0), (3, 3), (0, 3)], title="car"))
    sly_source(tmp_path / "src", {"a.jpg": ann})
    figures = ingest("supervisely", tmp_path / "src", tmp_path / "a")
    assert figures["no_person"] == 1 and figures["samples"] == 0
    figures = ingest("supervisely", tmp_path / "src", tmp_path / "b", person_classes=("car",))
    assert figures["samples"] == 1


def test_every_bad_item_is_quarantined_with_its_reason(tmp_path):
    good = sly_ann(8, 6, sly_polygon([(0, 0), (3, 0), (3, 3), (0, 3)]))
    anns = {
        "good.jpg": good,
        "bad_base64.jpg": sly_ann(8, 6, sly_bitmap_object(None, (0, 0), data="%%%")),
        "not_zlib.jpg": sly_ann(8, 6, sly_bitmap_object(None, (0, 0), data=base64.b64encode(b"xx").decode())),
        "not_png.jpg": sly_ann(8, 6, sly_bitmap_object(
            None, (0, 0), data=base64.b64encode(zlib.compress(b"no png")).decode())),
        "bitmap_bomb.jpg": sly_ann(8, 6, sly_bitmap_object(
            None, (0, 0), data=base64.b64encode(zlib.compress(bomb_png())).decode())),
        "bitmap_outside.jpg": sly_ann(8, 6, sly_bitmap_object(np.ones((2, 2), np.uint8), (20, 20))),
        "bad_origin.jpg": sly_ann(8, 6, sly_bitmap_object(np.ones((2, 2), np.uint8), ("a", 0))),
        "broken.jpg": '{"size": {"width": 8',
        "no_size.jpg": '{"objects": []}',
        "rectangle.jpg": sly_ann(8, 6, {"classTitle": "person_poly", "geometryType": "rectangle",
                                        "points": {"exterior": [[0, 0], [3, 3]], "interior": []}}),
        "two_points.jpg": sly_ann(8, 6, sly_polygon([(0, 0), (3, 0)])),
        "size.jpg": good,
        "truncated.jpg": sly_ann(32, 24, sly_polygon([(0, 0), (3, 0), (3, 3), (0, 3)])),
        "missing.jpg": good,
    }
    src = sly_source(tmp_path / "src", anns, image_size={"size.jpg": (9, 6)})
    write_truncated_jpeg(src / "ds1" / "img" / "truncated.jpg")
    (src / "ds1" / "img" / "missing.jpg").unlink()
    io.write_bytes(src / "ds1" / "img" / "lonely.jpg", (src / "ds1" / "img" / "good.jpg").read_bytes())
    figures = ingest("supervisely", src, tmp_path / "store")
    assert reasons(tmp_path / "store") == {
        "ds1/img/bad_base64.jpg": "bad_bitmap",
        "ds1/img/not_zlib.jpg": "bad_bitmap",
        "ds1/img/not_png.jpg": "bad_bitmap",
        "ds1/img/bitmap_bomb.jpg": "decompression_bomb",
        "ds1/img/bitmap_outside.jpg": "bad_bitmap",
        "ds1/img/bad_origin.jpg": "bad_bitmap",
        "ds1/img/broken.jpg": "bad_annotation",
        "ds1/img/no_size.jpg": "bad_annotation",
        "ds1/img/rectangle.jpg": "bad_annotation",
        "ds1/img/two_points.jpg": "bad_annotation",
        "ds1/img/size.jpg": "size_mismatch",
        "ds1/img/truncated.jpg": "bad_image",
        "ds1/img/missing.jpg": "missing_image",
        "ds1/img/lonely.jpg": "missing_annotation",
    }
    assert tables(tmp_path / "store")[0].origin.tolist() == ["ds1/img/good.jpg"]
    assert figures["offered"] == 15 and accounting_holds(figures)


def test_splits_from_dataset_names(tmp_path):
    ann = sly_ann(8, 6, sly_polygon([(0, 0), (3, 0), (3, 3), (0, 3)]))
    for dataset in ("train", "val"):
        sly_source(tmp_path / "src", {"a.jpg": ann}, dataset=dataset)
    ingest("supervisely", tmp_path / "src", tmp_path / "store")
    samples, _ = tables(tmp_path / "store")
    assert dict(zip(samples.origin, samples.split)) == {"train/img/a.jpg": "train", "val/img/a.jpg": "val"}


def test_unusable_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInput, match="no meta.json"):
        ingest("supervisely", tmp_path / "empty", tmp_path / "store")
    io.write_text(tmp_path / "badmeta" / "meta.json", "[1, 2")
    with pytest.raises(UnusableInput, match="not a Supervisely meta.json"):
        ingest("supervisely", tmp_path / "badmeta", tmp_path / "store")
    sly_source(tmp_path / "cars", {"a.jpg": sly_ann(8, 6)}, classes=("car",))
    with pytest.raises(UnusableInput, match="no person class"):
        ingest("supervisely", tmp_path / "cars", tmp_path / "store")
    io.write_json(tmp_path / "nodata" / "meta.json", {"classes": [{"title": "person"}]})
    with pytest.raises(UnusableInput, match="no dataset folders"):
        ingest("supervisely", tmp_path / "nodata", tmp_path / "store")
