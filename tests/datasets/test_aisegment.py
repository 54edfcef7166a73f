"""AISegment reader: soft alpha kept exactly, clip_img/matting pairing, unpaired files, bad mattes."""
from __future__ import annotations

import numpy as np
import pytest
from ingest_fixtures import accounting_holds, ais_pair, ingest, mask_of, reasons, row, tables, write_truncated_jpeg

from datasets.readers.aisegment import matte_for
from datasets.readers.common import UnusableInput


def soft_alpha(w: int = 16, h: int = 12) -> np.ndarray:
    """Every value 0..191 appears: a soft matte that must survive exactly."""
    return (np.arange(h * w, dtype=np.uint32).reshape(h, w) % 192).astype(np.uint8)


def test_golden_soft_alpha_kept_exactly(tmp_path):
    alpha = soft_alpha()
    clip, _ = ais_pair(tmp_path / "src", "1803151818", 0, "1803151818-00000003", alpha)
    figures = ingest("aisegment", tmp_path / "src", tmp_path / "store")
    r = row(tmp_path / "store", clip)
    np.testing.assert_array_equal(mask_of(tmp_path / "store", r.alpha), alpha)
    assert (r.label_kind, r.persons, r.ignore, r.width, r.height) == ("alpha", 1, None, 16, 12)
    assert (tmp_path / "store" / r.image).read_bytes() == (tmp_path / "src" / clip).read_bytes()
    assert figures["label_kinds"] == {"alpha": 1} and accounting_holds(figures)


def test_matte_path_mapping():
    assert matte_for("1803151818/clip_00000000/1803151818-00000003.jpg") == \
        "1803151818/matting_00000000/1803151818-00000003.png"


def test_pairing_unpaired_and_bad_mattes(tmp_path):
    src = tmp_path / "src"
    alpha = soft_alpha()
    good, _ = ais_pair(src, "g1", 0, "a", alpha)
    good2, _ = ais_pair(src, "g2", 3, "b", alpha)
    gray, _ = ais_pair(src, "g2", 3, "gray", alpha, mode="L")  # a one-channel matte is the matte itself
    lonely_clip, _ = ais_pair(src, "g1", 0, "no_matte", None)
    _, lonely_matte = ais_pair(src, "g1", 0, "no_clip", alpha, image=False)
    rgb_matte, _ = ais_pair(src, "g1", 1, "rgb", alpha, mode="RGB")
    small, small_matte = ais_pair(src, "g1", 1, "small", alpha)
    ais_pair(src, "g1", 1, "small", soft_alpha(8, 6), image=False)  # replace the matte with a smaller one
    truncated, _ = ais_pair(src, "g1", 2, "truncated", soft_alpha(32, 24))
    write_truncated_jpeg(src / truncated)
    empty, _ = ais_pair(src, "g1", 2, "empty", np.zeros((12, 16), np.uint8))
    figures = ingest("aisegment", src, tmp_path / "store", workers=2)
    assert reasons(tmp_path / "store") == {
        lonely_clip: "unpaired_image",
        lonely_matte.relative_to(src).as_posix(): "unpaired_matte",
        rgb_matte: "bad_mask",
        small: "size_mismatch",
        truncated: "bad_image",
        empty: "tiny_mask",
    }
    assert sorted(tables(tmp_path / "store")[0].origin) == sorted([good, good2, gray])
    assert figures["offered"] == 9 and accounting_holds(figures)


def test_found_one_level_down_and_unusable_inputs(tmp_path):
    clip, _ = ais_pair(tmp_path / "src" / "matting_human_half", "g", 0, "a", soft_alpha())
    ingest("aisegment", tmp_path / "src", tmp_path / "store")
    assert tables(tmp_path / "store")[0].origin.tolist() == [clip]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInput, match="expected clip_img/"):
        ingest("aisegment", tmp_path / "empty", tmp_path / "x")
    with pytest.raises(UnusableInput, match="do not apply"):
        ingest("aisegment", tmp_path / "src", tmp_path / "x", person_classes=("person",))
