"""Ensemble members on real models: MediaPipe (in the wheel), SINet and prisma (../shared/models),
the project's own ONNX contract and rembg's wiring (tiny ONNX files made here), the registry."""
from __future__ import annotations

import json
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from pycocotools import mask as mask_utils

from core import io
from datasets import masks
from labeling import members
from labeling.members import MemberSettings, ModelFileMissing
from labeling.members.zoom import ZoomParams, crop_windows, predict_zoomed

COCO_IMAGE = "000000000436.jpg"  # one large person; both ONNX members reach IoU ~0.87-0.90 on it


@pytest.fixture(scope="module")
def coco_person(shared_dir):
    """(rgb, person mask) of a real coco128 image with the merged COCO person polygons."""
    root = shared_dir / "data" / "coco128"
    data = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    image = next(i for i in data["images"] if i["file_name"] == COCO_IMAGE)
    h, w = image["height"], image["width"]
    mask = np.zeros((h, w), bool)
    for ann in data["annotations"]:
        if ann["image_id"] == image["id"] and ann["category_id"] == 1:
            mask |= mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], h, w))).astype(bool)
    return io.read_image(root / "train2017" / COCO_IMAGE), mask


@pytest.fixture
def settings(shared_dir, tmp_path):
    return MemberSettings(model_dir=str(shared_dir / "models"), rembg_dir=str(tmp_path / "rembg"))


def check_alpha(alpha, shape):
    assert alpha.shape == shape and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


@pytest.mark.parametrize("name,min_iou", [("mediapipe-selfie", 0.8), ("mediapipe-landscape", 0.8),
                                          ("mediapipe-pose", 0.6), ("sinet", 0.8), ("prisma", 0.8)])
def test_member_segments_a_real_person(name, min_iou, settings, coco_person):
    """The measured preprocessing holds: SINet with the README's normalisation alone scores ~0 here."""
    rgb, truth = coco_person
    member = members.create(name, settings)
    alpha = member.predict(rgb)
    check_alpha(alpha, truth.shape)
    assert masks.iou(alpha, truth) >= min_iou


def test_sinet_readme_normalisation_fails_where_measured_one_works(settings, coco_person):
    from labeling.members import sinet

    rgb, truth = coco_person
    member = members.create("sinet", settings)

    class ReadmeSINet(sinet.SINet):  # (x - mean) / std without the /255 the BN statistics call for
        def preprocess(self, x):
            return (x[..., ::-1] - sinet.MEAN_BGR) / sinet.STD_BGR

    readme = ReadmeSINet(member.path)
    assert masks.iou(readme.predict(rgb), truth) < 0.5 <= masks.iou(member.predict(rgb), truth)


def _save(model, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def own_model(path, input_name="input", output_name="alpha", h=144, w=256):
    """alpha = mean over RGB channels: the export contract's names and shapes."""
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, h, w])
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, 1, h, w])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("ReduceMean", [input_name, "axes"], [output_name], keepdims=1)
    graph = helper.make_graph([node], "own", [x], [y], initializer=[axes])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), path)


def test_own_model_contract(tmp_path):
    rgb = np.zeros((90, 160, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: mean of (1, 0, 0) is 1/3 everywhere
    model = own_model(tmp_path / "models" / "own" / "matting.onnx")
    member = members.create("own", MemberSettings(model_dir=str(tmp_path / "models")))
    assert member.size == (144, 256)
    alpha = member.predict(rgb)
    check_alpha(alpha, (90, 160))
    np.testing.assert_allclose(alpha, 1 / 3, atol=1e-5)
    wrong = own_model(tmp_path / "wrong.onnx", input_name="data")
    with pytest.raises(ValueError, match="expected input `input` and output `alpha`"):
        members.create("own", MemberSettings(model_dir=str(tmp_path), own=str(wrong)))
    assert model.is_file()


def u2net_model(path):
    """rembg's u2net signature: input `input.1` (1, 3, 320, 320), seven (1, 1, 320, 320) side outputs.

    d0 = sigmoid(mean over channels): bright pixels are 'person'.
    """
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 320, 320])
    outs = [helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, 320, 320]) for i in range(7)]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("ReduceMean", ["input.1", "axes"], ["m"], keepdims=1),
             helper.make_node("Sigmoid", ["m"], ["d0"])]
    nodes += [helper.make_node("Identity", ["d0"], [f"d{i}"]) for i in range(1, 7)]
    graph = helper.make_graph(nodes, "u2net", [x], outs, initializer=[axes])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), path)


def test_rembg_member_runs_a_file_from_the_model_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    settings = MemberSettings(model_dir=str(tmp_path / "models"))
    with pytest.raises(ModelFileMissing) as missing:
        members.create("rembg-u2net_human_seg", settings)
    message = str(missing.value)
    assert str(tmp_path / "models" / "rembg" / "u2net_human_seg.onnx") in message
    assert "autolabel.models.rembg_dir" in message
    u2net_model(tmp_path / "models" / "rembg" / "u2net_human_seg.onnx")
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[:, 40:] = 255  # bright right half
    alpha = members.create("rembg-u2net_human_seg", settings).predict(rgb)
    check_alpha(alpha, (60, 80))
    assert alpha[:, 50:].mean() > 0.9 and alpha[:, :30].mean() < 0.1  # rembg min-max normalises


def test_rembg_member_honours_u2net_home_and_explicit_files(tmp_path, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "home"))
    with pytest.raises(ModelFileMissing, match="U2NET_HOME"):
        members.create("rembg-u2net_human_seg", MemberSettings(model_dir=str(tmp_path)))
    path = u2net_model(tmp_path / "anywhere" / "mine.onnx")
    settings = MemberSettings(model_dir=str(tmp_path), rembg_files={"u2net_human_seg": str(path)})
    assert members.create("rembg-u2net_human_seg", settings).path == path


def test_missing_model_file_names_the_file_and_the_setting(tmp_path):
    with pytest.raises(ModelFileMissing) as missing:
        members.create("sinet", MemberSettings(model_dir=str(tmp_path)))
    assert str(tmp_path / "sinet" / "SINet.onnx") in str(missing.value)
    assert "autolabel.models.sinet" in str(missing.value) and "autolabel.model_dir" in str(missing.value)


def test_registry_reuses_members_per_thread(settings):
    with pytest.raises(ValueError, match="unknown ensemble member 'nope'"):
        members.get("nope", settings)
    members.clear_cache()
    first = members.get("mediapipe-landscape", settings)
    assert members.get("mediapipe-landscape", settings) is first and members.created() >= 1
    other = []
    thread = threading.Thread(target=lambda: other.append(members.get("mediapipe-landscape", settings)))
    thread.start()
    thread.join()
    assert other[0] is not first  # MediaPipe graphs are not thread-safe: one per thread


def test_crop_windows_on_a_hand_made_guide():
    guide = np.zeros((200, 256), np.uint8)  # at most 256 px: one pixel per grid cell, exact boxes
    guide[50:90, 100:120] = 255  # a 20x40 person: box 20 wide, 40 tall
    params = ZoomParams(margin=0.5, min_zoom=1.5)
    assert crop_windows(guide, params) == [(70, 30, 150, 110)]  # 40 + 2 x 20 = 80 px square, centred
    assert crop_windows(guide, ZoomParams(enabled=False)) == []
    assert crop_windows(np.full((200, 256), 255, np.uint8), params) == []  # no magnification possible


def test_crop_windows_on_a_large_guide_are_found_on_cells_within_a_cell_of_exact():
    guide = np.zeros((400, 600), np.uint8)  # 600 px: 3x3-pixel cells
    guide[100:140, 300:320] = 255
    (x0, y0, x1, y1), = crop_windows(guide, ZoomParams(margin=0.5, min_zoom=1.5))
    exact = (270, 80, 350, 160)  # the window of the pixel box
    assert max(abs(a - b) for a, b in zip((x0, y0, x1, y1), exact)) <= 3
    assert x0 <= 300 and y0 <= 100 and x1 >= 320 and y1 >= 140  # the person is inside


def test_predict_zoomed_raises_alpha_only_inside_crops():
    class Constant(members.Member):
        name = "constant"

        def predict(self, rgb, hint=None):  # 0.2 on the full image, 0.9 on any crop (smaller input)
            return np.full(rgb.shape[:2], 0.2 if rgb.shape[1] > 100 else 0.9, np.float32)

    alpha = predict_zoomed(Constant(), np.zeros((200, 300, 3), np.uint8), [(10, 20, 60, 70)])
    assert alpha[20:70, 10:60].min() == pytest.approx(0.9) and alpha[100:, 100:].max() == pytest.approx(0.2)
