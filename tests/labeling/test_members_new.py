"""The PP-HumanSeg and DeepLab-AISeg members on a real full-body photo of ccp-voc (../shared), and their errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import io
from datasets import masks
from labeling import members
from labeling.members import MemberSettings, ModelFileMissing

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PHOTO = "0020"  # ccp-voc val: one standing person


@pytest.fixture(scope="module")
def street_person():
    """(rgb, person mask) of a real ccp-voc photo; skipped (with the reason) only where ../shared is absent."""
    root = SHARED / "data" / "ccp-voc" / "VOC2012"
    if not root.is_dir():
        pytest.skip(f"{root} is missing (../shared holds the real data; CI has it)")
    truth = io.read_mask(root / "SegmentationClass" / f"{PHOTO}.png") == 15
    return io.read_image(root / "JPEGImages" / f"{PHOTO}.jpg"), truth


@pytest.fixture
def settings():
    return MemberSettings(model_dir=str(SHARED / "models"))


@pytest.mark.parametrize("name,min_iou", [("ppseg", 0.8), ("deeplab-aiseg", 0.8)])
def test_new_member_segments_a_real_person(name, min_iou, settings, street_person):
    rgb, truth = street_person
    alpha = members.create(name, settings).predict(rgb)
    assert alpha.shape == truth.shape and alpha.dtype == np.float32 and 0 <= alpha.min() <= alpha.max() <= 1
    assert masks.iou(alpha, truth) >= min_iou


def test_measured_preprocessing_beats_the_exporters_reading(settings, street_person):
    """PP-HumanSeg: the exporter's script feeds BGR stretched; RGB letterboxed is what measured best."""
    from labeling.members.ppseg import PPHumanSeg

    rgb, truth = street_person
    member = members.create("ppseg", settings)

    class ExporterReading(PPHumanSeg):
        letterbox = False

        def preprocess(self, x):
            return x[..., ::-1] / 127.5 - 1.0

    assert masks.iou(ExporterReading(member.path).predict(rgb), truth) < masks.iou(member.predict(rgb), truth)


@pytest.mark.parametrize("name,setting", [("ppseg", "autolabel.models.ppseg"),
                                          ("deeplab-aiseg", "autolabel.models.deeplab")])
def test_missing_weights_name_the_file_and_the_setting(name, setting, tmp_path):
    with pytest.raises(ModelFileMissing) as missing:
        members.create(name, MemberSettings(model_dir=str(tmp_path)))
    message = str(missing.value)
    assert setting in message and str(tmp_path) in message and name in message
