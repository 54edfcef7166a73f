"""The synthesize stage end to end: CLI smoke tests, determinism, skipped samples, labels, clips."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
import pytest

from core import io
from datasets import masks
from datasets.__main__ import main as datasets_main
from core.config import load_section
from datasets.store import Store
from datasets.synthesis.params import SynthesisParams
from datasets import synthesize
from datasets.synthesize import main, run

COLUMNS = {"cid", "sample_id", "split", "background", "edges", "scale", "x", "y", "flip", "rotation", "overflow",
           "tps_scale", "tps_points", "prior_kind", "jpeg_quality", "image", "alpha", "prior"}


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def figures(params: SynthesisParams, count: int, seed: int, size: str, clips: int = 0,
            frames: int | None = None) -> SynthesisParams:
    """``params`` with what --count/--seed/--size/--clips/--frames override."""
    return replace(params, count=count, seed=seed, size=size, clip_count=clips,
                   clips=replace(params.clips, frames=frames or params.clips.frames))


@pytest.fixture
def params(repo_root) -> SynthesisParams:
    return replace(load_section("synthesize", SynthesisParams, repo_root / "params.yaml"), workers=1)


def test_main_smoke_with_real_backgrounds(tiny_store, shared_dir, repo_root, tmp_path, params, monkeypatch):
    monkeypatch.setattr(synthesize, "MIN_FRAMES_PER_WORKER", 16)  # let this small run use 2 worker processes
    params_file = tmp_path / "params.yaml"
    params_file.write_text((repo_root / "params.yaml").read_text().replace("\n  workers: 1 ", "\n  workers: 2 "))
    store = tiny_store(n=6)
    folder = shared_dir / "data" / "backgrounds"
    out, sheet, metrics_path = tmp_path / "out", tmp_path / "reports" / "sheet.png", tmp_path / "m.json"
    argv = ["synthesize", "--store", str(store), "--backgrounds", str(folder), "--out", str(out), "--count", "60",
            "--seed", "3", "--size", "160x90", "--clips", "2", "--frames", "4", "--contact-sheet", str(sheet),
            "--params", str(params_file), "--metrics", str(metrics_path)]
    assert datasets_main(argv) == 0  # through `python -m datasets`

    table = pd.read_parquet(out / "composites.parquet")
    assert len(table) == 60 and COLUMNS <= set(table.columns) and table["cid"].is_unique
    splits = Store(store).samples.set_index("id")["split"]
    assert (table["split"] == table["sample_id"].map(splits)).all()
    names = {p.name for p in folder.iterdir()}
    assert set(table["background"]) <= names
    for row in table.itertuples():
        image, alpha = io.read_image(out / row.image), io.read_mask(out / row.alpha)
        prior = io.read_mask(out / row.prior)
        assert image.shape == (90, 160, 3) and alpha.shape == prior.shape == (90, 160)
        assert list(row.edges) == ["bottom"]  # tiny_store persons are cut by the bottom border ...
        assert "bottom" in masks.touched_edges(alpha)  # ... and stay on it
        assert row.prior_kind in ("empty", "affine_small", "affine_large", "tps")
        assert (row.tps_scale is None or np.isnan(row.tps_scale)) == (len(row.tps_points) == 0)

    clips = pd.read_parquet(out / "clips.parquet")
    assert len(clips) == 8 and sorted(clips["t"].unique()) == [0, 1, 2, 3] and clips["clip_id"].nunique() == 2
    for row in clips.itertuples():
        assert io.read_image(out / row.image).shape == (90, 160, 3)
        assert "bottom" in masks.touched_edges(io.read_mask(out / row.alpha))
    assert (out / "clips" / clips["clip_id"][0] / "frame_0000.jpg").is_file()

    rows = params.contact_sheet_rows
    assert io.read_image(sheet).shape == (rows * 182, 3 * 322, 3)
    metrics = json.loads(metrics_path.read_text())
    assert metrics["composites"] == 60 and metrics["clip_frames"] == 8 and metrics["samples_used"] == 6
    assert metrics["samples_skipped"] == 0 and sum(metrics["prior_kinds"].values()) == 60
    assert set(metrics["prior_kinds"]) == {"empty", "affine_small", "affine_large", "tps"}
    assert metrics["workers"] == 2 and 0 < metrics["warp_share"] < 1

    # the same seed with one process gives the same bytes as the two worker processes
    again = tmp_path / "again"
    run(figures(params, 60, 3, "160x90", clips=2, frames=4), store, again, backgrounds=folder)
    assert files(again) == files(out)


def test_generated_backgrounds_at_the_default_size(tiny_store, repo_root, tmp_path):
    store, out, metrics_path = tiny_store(n=3), tmp_path / "out", tmp_path / "m.json"
    assert main(["--store", str(store), "--out", str(out), "--count", "4", "--seed", "0", "--clips", "0",
                 "--params", str(repo_root / "params.yaml"), "--metrics", str(metrics_path)]) == 0
    table = pd.read_parquet(out / "composites.parquet")
    assert all(name.startswith("generated:") for name in table["background"])
    assert io.read_image(out / table["image"][0]).shape == (360, 640, 3)
    metrics = json.loads(metrics_path.read_text())
    assert metrics["backgrounds_generated"] is True and metrics["composites"] == 4
    assert not (out / "clips").exists() and len(pd.read_parquet(out / "clips.parquet")) == 0


def test_same_seed_same_bytes_other_seed_other_composites(tiny_store, tmp_path, params):
    store = tiny_store(n=4)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        run(figures(params, 8, seed, "128x72", clips=1, frames=3), store, out, contact_sheet=out / "sheet.png")
    fa, fb = files(a), files(b)
    assert len(fa) == 8 * 3 + 3 * 2 + 3 and fa == fb
    ta, tc = pd.read_parquet(a / "composites.parquet"), pd.read_parquet(c / "composites.parquet")
    assert not np.allclose(ta["scale"], tc["scale"])


def test_unusable_samples_are_reported_with_a_reason(tiny_store, tmp_path, params):
    store = tiny_store(n=6)
    samples = pd.read_parquet(store / "samples.parquet")
    ids = list(samples["id"])
    samples.loc[samples["id"] == ids[0], "split"] = "holdout"
    samples.to_parquet(store / "samples.parquet", index=False)
    io.write_png(store / f"alpha/{ids[1]}.png", np.zeros((64, 96), np.uint8))
    io.write_png(store / f"alpha/{ids[2]}.png", np.full((32, 32), 255, np.uint8))
    tiny = np.zeros((64, 96), np.uint8)
    tiny[-3:, 40:45] = 255
    io.write_png(store / f"alpha/{ids[3]}.png", tiny)
    metrics = run(figures(params, 6, 0, "128x72"), store, tmp_path / "out")
    reasons = {s["sample_id"]: s["reason"] for s in metrics["skipped"]}
    assert reasons == {ids[0]: "bad_split", ids[1]: "empty_alpha", ids[2]: "size_mismatch", ids[3]: "tiny_alpha"}
    assert metrics["samples_used"] == 2 and metrics["skipped_reasons"]["bad_split"] == 1
    used = set(pd.read_parquet(tmp_path / "out" / "composites.parquet")["sample_id"])
    assert used == set(ids[4:])

    for sid in ids[4:]:  # nothing usable left
        io.write_png(store / f"alpha/{sid}.png", np.zeros((64, 96), np.uint8))
    with pytest.raises(ValueError, match="no usable samples"):
        run(figures(params, 2, 0, "128x72"), store, tmp_path / "out2")


def test_labels_folder_overrides_the_store_alpha(tiny_store, tmp_path, params):
    store, labels = tiny_store(n=3), tmp_path / "labels"
    ids = list(pd.read_parquet(store / "samples.parquet")["id"])
    for sid in ids[:2]:  # persons hanging from the top border (the store's touch the bottom)
        alpha = np.zeros((64, 96), np.uint8)
        alpha[:40, 30:60] = 255
        io.write_png(labels / f"{sid}.png", alpha)
    metrics = run(figures(params, 6, 1, "128x72"), store, tmp_path / "out", labels=labels)
    assert [s["reason"] for s in metrics["skipped"]] == ["missing_label"]
    table = pd.read_parquet(tmp_path / "out" / "composites.parquet")
    assert all(list(e) == ["top"] for e in table["edges"])


def test_a_smaller_rerun_removes_the_previous_runs_extra_files(tiny_store, tmp_path, params):
    store, out = tiny_store(n=3), tmp_path / "out"
    run(figures(params, 6, 0, "64x36", clips=2, frames=2), store, out)
    run(figures(params, 3, 0, "64x36"), store, out)
    assert len(list((out / "images").iterdir())) == 3
    assert not (out / "clips").exists()
    table = pd.read_parquet(out / "composites.parquet")
    assert sorted(p.name for p in (out / "alpha").iterdir()) == sorted(Path(p).name for p in table["alpha"])


def test_count_seed_and_clips_come_from_params_when_not_given(tiny_store, repo_root, tmp_path):
    """The pipeline passes no --count/--seed/--clips: DVC tracks them in params.yaml's section."""
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["synthesize"].update(count=3, seed=7, clip_count=1, size="160x90")
    params["synthesize"]["clips"]["frames"] = 2
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    out = tmp_path / "out"
    assert main(["--store", str(tiny_store(n=2)), "--out", str(out), "--params", str(params_file)]) == 0
    table = pd.read_parquet(out / "composites.parquet")
    assert list(table["cid"]) == ["s7-000000", "s7-000001", "s7-000002"]
    assert io.read_image(out / table["image"][0]).shape == (90, 160, 3)
    assert len(pd.read_parquet(out / "clips.parquet")) == 2


def test_split_option_draws_people_of_that_split_only(tiny_store, tmp_path, params):
    """Test clips for dtSSD: `--split test --count 0 --clips K` uses only test-split people."""
    store = tiny_store(n=9)
    splits = dict(zip(Store(store).samples["id"], Store(store).samples["split"]))
    out, metrics = tmp_path / "out", tmp_path / "m.json"
    assert main(["--store", str(store), "--out", str(out), "--count", "0", "--clips", "4", "--frames", "2",
                 "--split", "test", "--size", "160x90", "--metrics", str(metrics)]) == 0
    clips = pd.read_parquet(out / "clips.parquet")
    assert len(clips) == 8 and set(clips["split"]) == {"test"}
    assert {splits[s] for s in clips["sample_id"]} == {"test"}
    figures = json.loads(metrics.read_text())
    assert figures["samples_other_splits"] == sum(v != "test" for v in splits.values()) > 0
    with pytest.raises(ValueError, match="synthesize.splits"):
        replace(params, splits=("holdout",))


def test_source_repeat_draws_a_source_more_often(tiny_store, tmp_path, params):
    """`synthesize.source_repeat`: the few real portraits can make more of the composites than their share."""
    store = tiny_store(n=6)
    table = pd.read_parquet(store / "samples.parquet")
    table.loc[table.index[:2], "source"] = "portraits"  # 2 of the 6 people
    table.to_parquet(store / "samples.parquet", index=False)
    even = run(figures(params, 60, 1, "128x72"), store, tmp_path / "even")
    assert even["composites_per_source"] == {"portraits": 20, "tiny": 40}
    more = run(figures(replace(params, source_repeat={"portraits": 4}), 60, 1, "128x72"), store, tmp_path / "more")
    assert more["composites_per_source"] == {"portraits": 40, "tiny": 20}  # a pool of 2 x 4 + 4, drawn 5 times
    drawn = pd.read_parquet(tmp_path / "more" / "composites.parquet")["sample_id"].value_counts()
    assert set(drawn[table["id"][:2]]) == {20} and set(drawn[table["id"][2:]]) == {5}
    with pytest.raises(ValueError, match=r"source_repeat.*\['holdout'\]"):
        run(figures(replace(params, source_repeat={"holdout": 2}), 4, 1, "128x72"), store, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="source_repeat.portraits"):
        replace(params, source_repeat={"portraits": 0})
