"""`--format images`: a plain folder of photos -> samples of label_kind 'none'; bad files quarantined."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from ingest_fixtures import (accounting_holds, bomb_png, ingest, reasons, rgb, row, tables, write_jpeg,
                             write_truncated_jpeg)
from PIL import Image

from datasets import ingest as ingest_stage
from datasets.readers.common import UnusableInput
from datasets.store import sample_id


def write_image(path, fmt: str, w: int = 20, h: int = 14, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb(w, h, seed)).save(path, format=fmt)
    return path


@pytest.fixture
def folder(tmp_path):
    """Every accepted suffix (any case), nested folders, and files that are not photos."""
    src = tmp_path / "src"
    write_jpeg(src / "b.jpg", 20, 14)
    write_image(src / "a" / "c.PNG", "PNG", 16, 12, seed=1)
    write_image(src / "a" / "deep" / "d.webp", "WEBP", 18, 10, seed=2)
    write_image(src / "e.bmp", "BMP", 12, 8, seed=3)
    write_jpeg(src / "f.JPEG", 10, 10, seed=4)
    write_jpeg(src / ".hidden.jpg", 10, 10)
    write_jpeg(src / ".cache" / "g.jpg", 10, 10)
    (src / "notes.txt").write_text("not a photo")
    return src


def test_golden_every_photo_is_a_sample_without_labels(folder, tmp_path):
    figures = ingest("images", folder, tmp_path / "store")
    samples, quarantine = tables(tmp_path / "store")
    origins = ["a/c.PNG", "a/deep/d.webp", "b.jpg", "e.bmp", "f.JPEG"]
    assert sorted(samples.origin) == origins and quarantine.empty
    assert list(samples.id) == sorted(sample_id("t", o) for o in origins)
    for origin, (w, h) in zip(origins, [(16, 12), (18, 10), (20, 14), (12, 8), (10, 10)]):
        r = row(tmp_path / "store", origin)
        assert (r.label_kind, r.alpha, r.ignore, r.width, r.height) == ("none", None, None, w, h)
        assert pd.isna(r.persons)
        assert (tmp_path / "store" / r.image).read_bytes() == (folder / origin).read_bytes()  # never re-encoded
        assert r.image == f"images/{r.id}{os.path.splitext(origin)[1].lower()}"
    assert not (tmp_path / "store" / "alpha").exists()
    assert figures["label_kinds"] == {"none": 5} and figures["persons"] == 0 and accounting_holds(figures)


def test_ids_are_stable_across_runs_and_workers(folder, tmp_path):
    ingest("images", folder, tmp_path / "one")
    ingest("images", folder, tmp_path / "two", workers=2)
    first, _ = tables(tmp_path / "one")
    second, _ = tables(tmp_path / "two")
    assert first.drop(columns="persons").equals(second.drop(columns="persons"))


def test_bad_files_are_quarantined_with_reasons(tmp_path):
    src = tmp_path / "src"
    write_jpeg(src / "good.jpg", 12, 10)
    write_truncated_jpeg(src / "truncated.jpg")
    (src / "bomb.png").write_bytes(bomb_png())
    (src / "text.jpg").write_text("this is not a JPEG")
    outside = write_jpeg(tmp_path / "elsewhere.jpg", 8, 8)
    (src / "link_out.jpg").symlink_to(outside)
    (src / "link_in.jpg").symlink_to(src / "good.jpg")  # a link inside the folder is read
    (src / "dangling.jpg").symlink_to(src / "gone.jpg")
    figures = ingest("images", src, tmp_path / "store")
    assert reasons(tmp_path / "store") == {"truncated.jpg": "bad_image", "bomb.png": "decompression_bomb",
                                           "text.jpg": "bad_image", "link_out.jpg": "path_outside_root",
                                           "dangling.jpg": "missing_image"}
    samples, _ = tables(tmp_path / "store")
    assert sorted(samples.origin) == ["good.jpg", "link_in.jpg"]
    assert accounting_holds(figures) and figures["quarantined"] == 5


def test_a_folder_without_photos_is_unusable(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("nothing here")
    with pytest.raises(UnusableInput, match="no images found"):
        ingest("images", tmp_path / "src", tmp_path / "store")
    with pytest.raises(UnusableInput, match="no such folder"):
        ingest("images", tmp_path / "missing", tmp_path / "store")
    with pytest.raises(UnusableInput, match="do not apply"):
        ingest("images", tmp_path / "src", tmp_path / "store", person_classes=("person",))


def test_main_exits_2_with_one_line_when_there_are_no_photos(tmp_path, repo_root, caplog):
    (tmp_path / "src").mkdir()
    argv = ["--format", "images", "--src", str(tmp_path / "src"), "--out", str(tmp_path / "store"),
            "--params", str(repo_root / "params.yaml"), "--workers", "1"]
    assert ingest_stage.main(argv) == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "no images found" in errors[0].getMessage() and "\n" not in errors[0].getMessage()
    assert not (tmp_path / "store" / "samples.parquet").exists()  # nothing written half
