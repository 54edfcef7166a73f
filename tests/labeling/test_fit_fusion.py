"""Learned fusion: logistic stacking per scene kind, fitted on labelled samples, kept as a versioned file."""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

from core import io
from datasets import masks
from core.config import load_section
from datasets.store import Store
from labeling import autolabel, fit_fusion
from labeling.autolabel import AutolabelParams
from labeling.fusion import FusionModel, FusionParams, fuse, fuser, guided, scene_kind


def person(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 (h, w) with an ellipse filling ``box`` (x0, y0, x1, y1)."""
    yy, xx = np.mgrid[0:h, 0:w]
    x0, y0, x1, y1 = box
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return ((((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) <= 1).astype(np.uint8) * 255


def noisy(truth: np.ndarray, rng: np.random.Generator, flip: float, blur: int) -> np.ndarray:
    """A member's soft alpha: the truth, softened, with a share ``flip`` of blocks wrong."""
    import cv2

    alpha = cv2.GaussianBlur(truth.astype(np.float32) / 255, (0, 0), blur)
    blocks = rng.random((truth.shape[0] // 8 + 1, truth.shape[1] // 8 + 1)) < flip
    wrong = np.kron(blocks, np.ones((8, 8)))[:truth.shape[0], :truth.shape[1]].astype(bool)
    alpha[wrong] = 1 - alpha[wrong]
    return masks.to_uint8(np.clip(alpha, 0, 1))


MEMBERS = ["a", "b", "c", "bad"]


def samples(n: int, seed: int = 0):
    """Full-body (tall box) and portrait (wide box) scenes; members a, b, c err on 5% of the blocks
    (independently), 'bad' on 20%."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        box = (40, 10, 80, 118) if i % 2 else (10, 30, 110, 120)  # tall: full body; wide: portrait
        truth = person(120, 120, box)
        alphas = {m: noisy(truth, rng, 0.05, 2) for m in MEMBERS[:3]}
        out.append(({**alphas, "bad": noisy(truth, rng, 0.2, 4)}, truth))
    return out


def test_fit_learns_to_trust_the_better_members_and_beats_each_member():
    train, test = samples(40, seed=0), samples(20, seed=1)
    model = fit_fusion.fit(train, MEMBERS, kinds=True, min_kind=10, pixels=2000)
    assert set(model.kinds) == {"all", "portrait", "full_body"} and model.portrait_aspect == 1.9
    for kind in model.kinds.values():
        assert min(kind["coef"][m] for m in MEMBERS[:3]) > kind["coef"]["bad"]
    fused = np.mean([masks.iou(model.fuse(a)[0], t) for a, t in test])
    for name in MEMBERS:
        assert fused > np.mean([masks.iou(a[name], t) for a, t in test])
    kinds = [model.fuse(a)[2] for a, _ in test]
    assert kinds == ["portrait", "full_body"] * 10  # chosen per image by the fused person's box
    assert model.measured["samples"] == 40 and 0 < model.measured["fit_iou"] <= 1


def test_scene_kind_by_the_person_box():
    assert scene_kind(person(100, 100, (40, 0, 70, 100)), 1.9) == "full_body"
    assert scene_kind(person(100, 100, (0, 20, 100, 100)), 1.9) == "portrait"
    assert scene_kind(np.zeros((10, 10), np.uint8), 1.9) == "full_body"


def test_the_file_round_trips_and_serves_only_its_members(tmp_path, caplog):
    model = fit_fusion.fit(samples(10), MEMBERS, kinds=False, pixels=500)
    path = tmp_path / "fusion.json"
    model.save(path)
    again = FusionModel.load(path)
    assert again == model and again.portrait_aspect is None and json.loads(path.read_text())["version"] == 1
    alphas = samples(1)[0][0]
    other = {"a": alphas["a"], "b": alphas["b"], "c": alphas["c"], "other": alphas["bad"]}
    with caplog.at_level(logging.WARNING):  # other members: the weighted vote, with a warning
        params = FusionParams(method="file", weights_file=str(path))
        fused, _ = fuser(params, list(other))(other)
    assert "was fitted for members" in caplog.text
    np.testing.assert_array_equal(fused, fuse(other, params.weights, params.vote_threshold)[0])
    with pytest.raises(FileNotFoundError, match="autolabel.fusion.weights_file"):
        fuser(FusionParams(method="file", weights_file=str(tmp_path / "missing.json")), MEMBERS)
    with pytest.raises(ValueError, match="weights_file` is empty"):
        FusionParams(method="file")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        FusionModel.load(path)


def test_fit_on_a_small_labelled_store_and_autolabel_with_the_file(tiny_store, tmp_path, repo_root):
    """The CLI fits real members on a store's labels; autolabel then fuses with that file."""
    root = tiny_store(n=6, size=(96, 64))
    names = "mediapipe-selfie,mediapipe-landscape"
    out = tmp_path / "fusion.json"
    assert fit_fusion.main(["--stores", str(root), "--out", str(out), "--members", names, "--split", "",
                            "--params", str(repo_root / "params.yaml"), "--min-kind", "3"]) == 0
    model = FusionModel.load(out)
    assert model.members == names.split(",") and model.measured["samples"] == 6
    params = load_section("autolabel", AutolabelParams, repo_root / "params.yaml")
    params = dataclasses.replace(params, members=names.split(","),
                                 fusion=FusionParams(method="file", weights_file=str(out), guided_radius=0.0))
    metrics = autolabel.run(params, root, tmp_path / "labels")
    assert metrics["fusion_file"] == str(out)
    for row in Store(root).samples.itertuples():
        alphas = {n: io.read_mask(tmp_path / "labels" / n / f"{row.id}.png") for n in model.members}
        written = io.read_mask(tmp_path / "labels" / "ensemble" / f"{row.id}.png")
        assert np.abs(written.astype(int) - masks.to_uint8(model.fuse(alphas)[0]).astype(int)).max() <= 1


def test_the_guided_edge_filter_snaps_a_blurred_edge_to_the_image():
    """A soft, shifted edge next to a sharp step in the image moves onto the step; off changes nothing."""
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[:, 40:] = 200  # the person is the bright right half
    truth = np.zeros((60, 80), np.uint8)
    truth[:, 40:] = 255
    xx = np.tile(np.arange(80, dtype=np.float32), (60, 1))
    blurred = np.clip((xx - 34) / 10, 0, 1)  # a member-like soft edge, centred 5 px too far left
    filtered = guided(rgb, blurred, FusionParams(guided_radius=0.05))
    assert masks.iou(filtered, truth) > masks.iou(blurred, truth)
    assert filtered.dtype == np.float32 and 0 <= filtered.min() <= filtered.max() <= 1
    np.testing.assert_array_equal(guided(rgb, blurred, FusionParams(guided_radius=0.0)), blurred)


def test_fit_logistic_exact_on_two_points():
    # x = -1 (class 0), +1 (class 1), l2 = 1: by symmetry bias 0, and the gradient vanishes where c = 2 sigmoid(-c)
    coef, bias = fit_fusion.fit_logistic(np.array([[-1.0], [1.0]]), np.array([0, 1]), l2=1.0)
    assert bias == pytest.approx(0.0, abs=1e-9)
    assert coef[0] == pytest.approx(2.0 / (1.0 + np.exp(coef[0])), abs=1e-9)
    assert coef[0] == pytest.approx(0.6749, abs=1e-4)
    with pytest.raises(ValueError, match="both classes"):
        fit_fusion.fit_logistic(np.zeros((3, 1)), np.zeros(3))


def test_classes_weigh_the_same_whatever_their_counts():
    # each class weighs half of the N examples: three copies of the class-0 point weigh what one did, and
    # with N = 4 instead of 2 the data term doubles, so twice the penalty gives the same fit
    once = fit_fusion.fit_logistic(np.array([[-1.0], [1.0]]), np.array([0, 1]), l2=1.0)
    thrice = fit_fusion.fit_logistic(np.array([[-1.0], [-1.0], [-1.0], [1.0]]), np.array([0, 0, 0, 1]), l2=2.0)
    assert thrice[0][0] == pytest.approx(once[0][0], abs=1e-9) and thrice[1] == pytest.approx(once[1], abs=1e-9)
