"""Ingest loses nothing and nothing escapes (issue 12): the folders it may write, what it may remove,
symlinks in a source, sizes declared in annotations, duplicate files across COCO JSONs, a second
writer, temp files of a killed run, pool workers of a killed parent. Tiny generated sources only."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import pytest
from ingest_fixtures import (PARAMS, ais_pair, coco_source, ingest, reasons, sly_ann, sly_polygon, sly_source,
                             square, tables, write_jpeg)

from core import io
from datasets.ingest import Job, convert, main
from datasets.readers import module
from datasets.store import LOCK, MARKER, StoreError


def one_person_coco(root: Path, n: int = 2, w: int = 24, h: int = 16, tag: str = "train2017") -> Path:
    images = [{"id": i, "file_name": f"{i:03d}.jpg", "width": w, "height": h} for i in range(n)]
    anns = [{"image_id": i, "segmentation": [square(2, 2, 12, 14)]} for i in range(n)]
    return coco_source(root, images, anns, tag=tag)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_main(src: Path, out: Path, *extra: str) -> int:
    return main(["--format", "coco", "--src", str(src), "--out", str(out), "--workers", "1", *extra])


# ------------------------------------------------------------------ which folders ingest writes

def test_out_equal_to_or_inside_src_is_refused_in_one_line_and_nothing_is_deleted(tmp_path, caplog):
    src = one_person_coco(tmp_path / "src", tag="images")  # COCO images/ layout: --out == --src was the trap
    before = files(src)
    for out in (src, src / "store", tmp_path):  # the same folder, inside the source, holding the source
        caplog.clear()
        assert run_main(src, out) == 2
        [record] = [r for r in caplog.records if r.levelname == "ERROR"]
        assert "overlap" in record.getMessage() and "\n" not in record.getMessage() and not record.exc_info
    assert files(src) == before and not (src / "store").exists()


def test_a_folder_that_is_not_a_store_is_refused_and_kept(tmp_path, caplog):
    src = one_person_coco(tmp_path / "src")
    out = tmp_path / "holiday"
    io.write_bytes(out / "images" / "holiday.jpg", b"my photo")
    assert run_main(src, out) == 2
    assert "not a sample store" in caplog.text and "holiday.jpg" in caplog.text
    assert files(out) == {"images/holiday.jpg": b"my photo"}


def test_a_second_source_into_the_same_store_is_refused(tmp_path):
    first = one_person_coco(tmp_path / "a", n=3)
    second = one_person_coco(tmp_path / "b", n=2)
    ingest("coco", first, tmp_path / "store")
    kept = files(tmp_path / "store")
    with pytest.raises(StoreError, match="holds the store of"):
        ingest("coco", second, tmp_path / "store")
    assert files(tmp_path / "store") == kept
    assert json.loads((tmp_path / "store" / MARKER).read_text())["src"] == os.path.realpath(first)


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, caplog):
    src = one_person_coco(tmp_path / "src")
    io.write_text(tmp_path / "store", "a file")
    assert run_main(src, tmp_path / "store") == 2
    assert "is a file" in caplog.text and (tmp_path / "store").read_text() == "a file"


def test_prune_removes_only_names_the_store_wrote(tmp_path):
    src = one_person_coco(tmp_path / "src", n=2)
    out = tmp_path / "store"
    ingest("coco", src, out)
    io.write_bytes(out / "images" / "holiday.jpg", b"a user's file")  # not <id>.<ext>: never ingest's
    io.write_bytes(out / "notes.txt", b"notes")
    io.write_png(out / "alpha" / "0123456789abcdef.png", np.zeros((2, 2), np.uint8))  # a stale id
    ingest("coco", src, out)
    assert (out / "images" / "holiday.jpg").read_bytes() == b"a user's file"
    assert (out / "notes.txt").is_file() and not (out / "alpha" / "0123456789abcdef.png").exists()


def test_temp_files_of_a_killed_table_write_are_removed_by_the_rerun(tmp_path):
    src = one_person_coco(tmp_path / "src")
    out = tmp_path / "store"
    ingest("coco", src, out)
    expected = files(out)
    io.write_bytes(out / ".samples.parquet.k1ll3d.tmp.parquet", b"PAR1 torn")
    io.write_bytes(out / "images" / ".0123456789abcdef.jpg.7.8.link.tmp", b"")
    ingest("coco", src, out)
    assert files(out) == expected


def test_a_second_concurrent_writer_is_refused(tmp_path):
    src = one_person_coco(tmp_path / "src")
    out = tmp_path / "store"
    out.mkdir()
    with open(out / LOCK, "a") as held:  # what a running ingest holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreError, match="another ingest is writing"):
            ingest("coco", src, out)
    assert not (out / "samples.parquet").exists()
    ingest("coco", src, out)  # once released, the store is written
    assert (out / "samples.parquet").is_file()


# ------------------------------------------------------------------ symlinks in a source

def test_links_inside_the_source_are_stored_as_files_and_links_out_are_quarantined(tmp_path):
    outside = write_jpeg(tmp_path / "elsewhere" / "secret.jpg", 24, 16, seed=9)
    src = one_person_coco(tmp_path / "src", n=4)
    images = src / "train2017"
    write_jpeg(src / "originals" / "real.jpg", 24, 16, seed=5)
    (images / "001.jpg").unlink()
    (images / "001.jpg").symlink_to("../originals/real.jpg")  # relative, inside the root
    (images / "002.jpg").unlink()
    (images / "002.jpg").symlink_to(outside)  # absolute, out of the root
    (images / "003.jpg").unlink()
    (images / "003.jpg").symlink_to("../originals/gone.jpg")  # dangling
    ingest("coco", src, tmp_path / "store")
    samples, _ = tables(tmp_path / "store")
    linked = samples[samples.origin == "train2017/001.jpg"].iloc[0]
    stored = tmp_path / "store" / linked.image
    assert not stored.is_symlink() and stored.read_bytes() == (src / "originals" / "real.jpg").read_bytes()
    assert reasons(tmp_path / "store") == {"train2017/002.jpg": "path_outside_root",
                                           "train2017/003.jpg": "missing_image"}
    assert not any(p.is_symlink() for p in (tmp_path / "store").rglob("*"))


def test_linked_aisegment_folders_are_walked_or_quarantined_never_skipped(tmp_path):
    src = tmp_path / "ais"
    alpha = np.zeros((12, 16), np.uint8)
    alpha[2:10, 4:12] = 200
    ais_pair(src, "g1", 1, "a", alpha)
    ais_pair(tmp_path / "src-extra", "g2", 1, "b", alpha)  # moved to a folder inside the root, linked
    (src / "extra").mkdir()
    for top in ("clip_img", "matting"):
        os.rename(tmp_path / "src-extra" / top / "g2", src / "extra" / top)
        (src / top / "g2").symlink_to(src / "extra" / top, target_is_directory=True)
    ais_pair(tmp_path / "outside", "g3", 1, "c", alpha)  # a group linked from outside the root
    for top in ("clip_img", "matting"):
        (src / top / "g3").symlink_to(tmp_path / "outside" / top / "g3", target_is_directory=True)
    (src / "clip_img" / "g1" / "loop").symlink_to(src / "clip_img", target_is_directory=True)  # a cycle
    figures = ingest("aisegment", src, tmp_path / "store")
    samples, _ = tables(tmp_path / "store")
    assert set(samples.origin) >= {"clip_img/g1/clip_00000001/a.jpg", "clip_img/g2/clip_00000001/b.jpg"}
    assert reasons(tmp_path / "store")["clip_img/g3/clip_00000001/c.jpg"] == "path_outside_root"
    assert figures["offered"] == figures["samples"] + figures["quarantined"] + figures["no_person"]


# ------------------------------------------------------------------ sizes declared in annotations

BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    from datasets.ingest import main
    rc = main(sys.argv[1:])
    print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
""")


def test_coco_declared_size_bombs_are_quarantined_with_little_memory(tmp_path, repo_root):
    images = [{"id": 0, "file_name": "bomb.jpg", "width": 100000, "height": 100000},
              {"id": 1, "file_name": "liar.jpg", "width": 640, "height": 480},
              {"id": 2, "file_name": "ok.jpg", "width": 64, "height": 48}]
    anns = [{"image_id": i, "segmentation": [square(2, 2, 30, 40)]} for i in range(3)]
    src = coco_source(tmp_path / "src", images, anns, write_images=False)
    for name in ("bomb.jpg", "liar.jpg", "ok.jpg"):
        write_jpeg(src / "train2017" / name, 64, 48)
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  max_bad_fraction: 1.0\n  min_person_pixels: 1\n")
    proc = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, "--format", "coco", "--src", str(src), "--out",
                           str(tmp_path / "store"), "--params", str(params), "--workers", "1"],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)
    rc, peak_kib = map(int, proc.stdout.split())
    assert rc == 0, proc.stderr
    assert peak_kib < 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    assert reasons(tmp_path / "store") == {"train2017/bomb.jpg": "decompression_bomb",
                                           "train2017/liar.jpg": "size_mismatch"}


def test_supervisely_declared_size_bomb_is_quarantined_before_any_array(tmp_path):
    src = sly_source(tmp_path / "src", {"big.jpg": sly_ann(100000, 100000, sly_polygon([(1, 1), (9, 1), (9, 9)]))},
                     image_size={"big.jpg": (64, 48)})
    source = module("supervisely").open_source(src)
    [item] = list(source.items())
    job = Job(fmt="supervisely", source="t", out=tmp_path / "store", splits=dict(PARAMS.splits),
              min_person_pixels=1, root=os.path.realpath(src))
    tracemalloc.start()
    try:
        outcome = convert(item, job)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome.reason == "decompression_bomb" and peak < 16 * 2**20


# ------------------------------------------------------------------ duplicates across COCO JSONs

def test_two_coco_jsons_naming_one_file_give_one_sample(tmp_path):
    src = tmp_path / "src"
    one_person_coco(src, n=2, tag="images")  # images/000.jpg, 001.jpg; annotations/instances_images.json
    (src / "annotations" / "instances_images.json").rename(src / "annotations" / "instances_train.json")
    data = json.loads((src / "annotations" / "instances_train.json").read_text())
    data["annotations"][0]["segmentation"] = [square(0, 0, 24, 16)]  # a different label for 000.jpg
    io.write_json(src / "annotations" / "instances_val.json", data)
    figures = ingest("coco", src, tmp_path / "store")
    samples, quarantine = tables(tmp_path / "store")
    assert samples.id.is_unique and sorted(samples.origin) == ["images/000.jpg", "images/001.jpg"]
    assert list(quarantine.reason) == ["duplicate_image", "duplicate_image"]
    assert figures["offered"] == 4


# ------------------------------------------------------------------ pool workers of a killed parent

WORKER_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from datasets import ingest
    from datasets.readers.common import Item

    def slow(items):
        time.sleep(120)
        return []

    ingest._convert_chunk = slow
    job = ingest.Job(fmt="coco", source="t", out=Path(sys.argv[1]), splits={"train": 1.0}, min_person_pixels=1)
    for _ in ingest.convert_all((Item(origin=str(i)) for i in range(64)), job, workers=2):
        pass
""")


def test_pool_workers_die_with_a_killed_parent(tmp_path, repo_root):
    parent = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / "store")], cwd=repo_root)
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = [c for c in psutil.Process(parent.pid).children() if "python" in c.name().lower()]
        assert len(workers) >= 2, "the pool did not start"
        parent.kill()
        parent.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"workers outlived their parent: {[p.pid for p in alive]}"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_linked_folders_of_a_photo_folder_are_walked_or_quarantined(tmp_path):
    src = tmp_path / "photos"
    write_jpeg(src / "a.jpg", 16, 12)
    write_jpeg(src / "real" / "b.jpg", 16, 12, seed=1)
    (src / "linked").symlink_to(src / "real", target_is_directory=True)  # one folder, two names: offered once
    write_jpeg(tmp_path / "elsewhere" / "c.jpg", 16, 12, seed=2)
    (src / "away").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    figures = ingest("images", src, tmp_path / "store")
    samples, _ = tables(tmp_path / "store")
    assert sorted(samples.origin) == ["a.jpg", "linked/b.jpg"]  # under the name walked first (sorted)
    assert reasons(tmp_path / "store") == {"away/c.jpg": "path_outside_root"}
    assert figures["offered"] == 3
