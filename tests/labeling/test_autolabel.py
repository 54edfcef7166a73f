"""`autolabel` with the real default ensemble (MediaPipe) on a tiny store: outputs, contract, learned weights."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core import io
from core.config import load_section
from datasets.store import Store
from labeling import autolabel
from labeling.autolabel import AutolabelParams
from labeling.fusion import FusionParams
from labeling.members import ModelFileMissing


@pytest.fixture
def params(repo_root, shared_dir):
    p = load_section("autolabel", AutolabelParams, repo_root / "params.yaml")
    # the weighted vote with the params' weights: the fitted file serves only the members it was fitted for
    return dataclasses.replace(p, model_dir=str(shared_dir / "models"),
                               fusion=dataclasses.replace(p.fusion, method="weighted", guided_radius=0.0))


def test_main_writes_each_member_the_ensemble_and_the_disagreement_and_nothing_else(tiny_store, tmp_path, repo_root,
                                                                                   shared_dir):
    # the strong ensemble: five members (model files in ../shared/models) and the fitted fusion file
    root = tiny_store(n=3, size=(96, 64))
    out, metrics_path = tmp_path / "labels", tmp_path / "metrics.json"
    profile = tmp_path / "params.yaml"
    profile.write_text(f"base: {repo_root / 'params.yaml'}\n"
                       "autolabel:\n  members: [mediapipe-selfie, mediapipe-landscape, mediapipe-pose, sinet, ppseg]\n"
                       "  fusion: {method: file, weights_file: labeling/fusion_weights.json}\n")
    argv = ["--store", str(root), "--out", str(out), "--params", str(profile), "--metrics", str(metrics_path)]
    assert autolabel.main(argv) == 0
    params = load_section("autolabel", AutolabelParams, profile)
    assert params.fusion.method == "file" and len(params.members) == 5
    members = params.members
    assert sorted(p.name for p in out.iterdir()) == sorted([*members, "ensemble", "disagreement"])
    store = Store(root)
    for row in store.samples.itertuples():
        for folder in [*members, "ensemble", "disagreement"]:
            alpha = io.read_mask(out / folder / f"{row.id}.png")
            assert alpha.shape == (64, 96) and alpha.dtype == np.uint8
        assert len(list((out / "ensemble").iterdir())) == 3  # no temp files left behind
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n"] == 3 and metrics["members"] == members
    assert metrics["fusion_file"] == params.fusion.weights_file  # method file in the profile


def test_members_option_and_fusion_is_reproducible(tiny_store, tmp_path, params):
    root = tiny_store(n=2, size=(96, 64))
    params = dataclasses.replace(params, members=["mediapipe-landscape", "prisma"])
    first = autolabel.run(params, root, tmp_path / "a")
    autolabel.run(dataclasses.replace(params, workers=2, batch_size=1), root, tmp_path / "b")
    assert first["members"] == ["mediapipe-landscape", "prisma"]
    for path in (tmp_path / "a").rglob("*.png"):  # threads and batches do not change a byte
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()
    # the fused alpha is the calibrated weighted vote of the written members
    sid = Store(root).samples["id"][0]
    a, b = (io.read_mask(tmp_path / "a" / m / f"{sid}.png") / 255.0 for m in ("mediapipe-landscape", "prisma"))
    fused = io.read_mask(tmp_path / "a" / "ensemble" / f"{sid}.png") / 255.0
    vote = (1.0 * a + 1.0 * b) / 2  # neither is weighted in params: both weigh 1
    t = params.fusion.vote_threshold
    expected = np.where(vote < t, 0.5 * vote / t, 0.5 + 0.5 * (vote - t) / (1 - t))
    assert np.abs(fused - expected).max() <= 2.5 / 255  # PNG rounding of members and ensemble


def test_learned_weights_from_trusted_samples(tiny_store, tmp_path, params):
    root = tiny_store(n=3, size=(96, 64))
    samples = Store(root).samples.assign(label_kind="alpha")  # AISegment-like trusted mattes
    io.write_parquet(root / "samples.parquet", samples)
    learned = dataclasses.replace(params, members=["mediapipe-selfie", "mediapipe-landscape"],
                                  fusion=FusionParams(method="learned", min_trusted=3))
    metrics = autolabel.run(learned, root, tmp_path / "labels")
    assert metrics["trusted_samples"] == 3
    assert sum(metrics["weights"].values()) == pytest.approx(1.0)
    assert 0.2 <= metrics["vote_threshold"] <= 0.7
    assert len(list((tmp_path / "labels" / "ensemble").glob("*.png"))) == 3
    few = dataclasses.replace(params, members=["mediapipe-landscape"], fusion=FusionParams(method="learned", min_trusted=4))
    assert autolabel.run(few, root, tmp_path / "few")["trusted_samples"] == 0


def test_missing_model_stops_with_the_file_and_setting(tiny_store, tmp_path, params):
    root = tiny_store(n=1, size=(96, 64))
    broken = dataclasses.replace(params, model_dir=str(tmp_path / "no-models"), members=["sinet"])
    with pytest.raises(ModelFileMissing, match=r"SINet\.onnx.*autolabel\.models\.sinet"):
        autolabel.run(broken, root, tmp_path / "labels")
    assert not (tmp_path / "labels").exists()  # stopped before anything was written
    with pytest.raises(ValueError, match="unknown ensemble member"):
        dataclasses.replace(params, members=["mediapipe"])


def test_members_option_overrides_the_params(tiny_store, tmp_path, repo_root, caplog):
    root = tiny_store(n=1, size=(96, 64))
    out, metrics_path = tmp_path / "labels", tmp_path / "metrics.json"
    argv = ["--store", str(root), "--out", str(out), "--params", str(repo_root / "params.yaml"), "--metrics",
            str(metrics_path), "--members", "mediapipe-landscape, mediapipe-selfie"]
    assert autolabel.main(argv) == 0
    assert json.loads(metrics_path.read_text())["members"] == ["mediapipe-landscape", "mediapipe-selfie"]
    assert sorted(p.name for p in out.iterdir()) == ["disagreement", "ensemble", "mediapipe-landscape",
                                                     "mediapipe-selfie"]
    assert autolabel.main(argv[:-1] + ["mediapipe"]) == 2  # a user error: one line
    assert "unknown ensemble member 'mediapipe'" in caplog.text
