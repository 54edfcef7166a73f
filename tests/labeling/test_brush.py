"""Golden tests of the pure brush converters (no server): mask <-> Label Studio brush RLE, merging."""
from __future__ import annotations

import numpy as np
import pytest

from labeling import brush

# An 8x12 mask with a 3x6 rectangle, and its RLE as a real Label Studio 1.23 server stored and
# returned it (prediction and annotation round trips).
RECT = np.zeros((8, 12), np.uint8)
RECT[2:5, 3:9] = 255
RECT_RLE = [0, 0, 1, 128, 57, 27, 254, 107, 0, 194, 255, 248, 92, 3, 11, 255, 225, 112, 12, 47, 255, 166, 192, 0]
INVERSE_RLE = [0, 0, 1, 128, 57, 27, 254, 107, 255, 194, 224, 24, 95, 255, 11, 128, 97, 127, 252, 46, 1, 166, 255,
               192]


def region(rle, label="person", from_name="mask", size=(12, 8)):
    return {"from_name": from_name, "to_name": "image", "type": "brushlabels", "original_width": size[0],
            "original_height": size[1], "value": {"format": "rle", "rle": rle, "brushlabels": [label]}}


def test_mask_to_rle_matches_the_server_golden():
    assert brush.mask_to_rle(RECT) == RECT_RLE
    assert brush.mask_to_rle(255 - RECT) == INVERSE_RLE


def test_rle_header_counts_rgba_values():
    # the first 32 bits are the number of values: 8 * 12 * 4 = 384 = 0x00000180
    assert RECT_RLE[:4] == [0, 0, 1, 128]


def test_rle_to_mask_decodes_the_golden_exactly():
    np.testing.assert_array_equal(brush.rle_to_mask(RECT_RLE, 8, 12), RECT)
    np.testing.assert_array_equal(brush.rle_to_mask(INVERSE_RLE, 8, 12), 255 - RECT)


def test_soft_alpha_is_binarized_at_one_half():
    soft = np.array([[0, 127, 128, 255]], np.uint8)
    np.testing.assert_array_equal(brush.rle_to_mask(brush.mask_to_rle(soft), 1, 4), [[0, 0, 255, 255]])


def test_round_trip_of_a_random_mask_is_exact():
    rng = np.random.default_rng(3)
    mask = (rng.random((37, 53)) > 0.6).astype(np.uint8) * 255
    np.testing.assert_array_equal(brush.rle_to_mask(brush.mask_to_rle(mask), 37, 53), mask)


def test_rle_of_another_size_is_refused():
    with pytest.raises(brush.BrushError, match="expected 8x13x4"):
        brush.rle_to_mask(RECT_RLE, 8, 13)


def test_garbage_rle_is_refused():
    with pytest.raises(brush.BrushError):
        brush.rle_to_mask([255, 255], 8, 12)


def test_mask_to_region_is_a_label_studio_result():
    result = brush.mask_to_region(RECT, from_name="mask", to_name="image", label="person")
    assert result == {"from_name": "mask", "to_name": "image", "type": "brushlabels",
                      "value": {"format": "rle", "rle": RECT_RLE, "brushlabels": ["person"]},
                      "original_width": 12, "original_height": 8, "image_rotation": 0}


def test_regions_merge_into_their_union():
    left = np.zeros((8, 12), np.uint8)
    left[:, :4] = 255
    results = [region(RECT_RLE), region(brush.mask_to_rle(left))]
    merged, count = brush.regions_to_mask(results, 8, 12, from_name="mask", label="person")
    assert count == 2
    np.testing.assert_array_equal(merged, np.maximum(RECT, left))


def test_regions_of_other_controls_or_labels_are_left_out():
    results = [region(RECT_RLE), region(INVERSE_RLE, label="background"), region(INVERSE_RLE, from_name="other"),
               {"type": "choices", "from_name": "mask", "value": {"choices": ["x"]}}]
    merged, count = brush.regions_to_mask(results, 8, 12, from_name="mask", label="person")
    assert count == 1
    np.testing.assert_array_equal(merged, RECT)


def test_no_region_gives_an_empty_mask_and_count_zero():
    merged, count = brush.regions_to_mask([], 8, 12, from_name="mask", label="person")
    assert count == 0 and not merged.any()


def test_region_drawn_on_another_image_size_is_refused():
    with pytest.raises(brush.BrushError, match="drawn on a 12x9 image, expected 12x8"):
        brush.regions_to_mask([region(RECT_RLE, size=(12, 9))], 8, 12, from_name="mask", label="person")


def test_soften_keeps_ensemble_alpha_where_it_agrees_inside_the_band():
    correction = np.zeros((9, 9), np.uint8)
    correction[2:7, 2:7] = 255
    ensemble = np.zeros((9, 9), np.uint8)
    ensemble[2:7, 2:7] = 200
    ensemble[2, 2] = 100  # inside the band, disagrees (below 0.5 where the person painted): person wins
    ensemble[4, 4] = 180  # agrees, but deeper than the band: stays 255
    ensemble[1, 4] = 60  # outside the person, agrees, inside the band: soft value kept
    ensemble[0, 4] = 90  # agrees, but outside the band: stays 0
    ensemble[1, 1] = 200  # outside the person, disagrees: stays 0
    expected = np.zeros((9, 9), np.uint8)
    expected[2:7, 2:7] = 200
    expected[3:6, 3:6] = 255
    expected[2, 2] = 255
    expected[1, 4] = 60
    out, soft = brush.soften(correction, ensemble, band=1)
    np.testing.assert_array_equal(out, expected)
    assert soft == 16  # 15 band pixels at 200 and one at 60


def test_soften_never_changes_the_binarized_correction():
    rng = np.random.default_rng(0)
    correction = (rng.random((20, 30)) > 0.5).astype(np.uint8) * 255
    ensemble = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    out, _ = brush.soften(correction, ensemble, band=2)
    np.testing.assert_array_equal(out >= 128, correction >= 128)
