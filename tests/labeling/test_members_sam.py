"""Segment Anything with random weights (no checkpoint exists offline), and the torchvision stand-in."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from labeling import tvcompat
from labeling.members import MemberSettings, ModelFileMissing, create
from labeling.members.sam import SamMember, prompts_from


def test_tvcompat_functions_exact():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.]])
    assert tvcompat.box_area(boxes).tolist() == [100, 100, 100, 100]
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # IoU(0, 1) = 81 / 119 = 0.68: suppressed at 0.5; box 3 (class 1) never suppresses class-0 boxes
    keep = tvcompat.batched_nms(boxes, scores, torch.tensor([0, 0, 0, 1]), 0.5)
    assert keep.tolist() == [3, 0, 2]
    assert tvcompat.batched_nms(boxes, scores, torch.tensor([0, 0, 0, 0]), 0.5).tolist() == [3, 2]
    image = tvcompat.to_pil_image(np.arange(24, dtype=np.uint8).reshape(2, 4, 3))
    assert image.size == (4, 2) and image.getpixel((1, 0)) == (3, 4, 5)
    assert tvcompat.resize(image, (4, 8)).size == (8, 4)
    assert tvcompat.resize(Image.new("RGB", (40, 20)), 10).size == (20, 10)  # int: the shorter side
    assert tvcompat.resize(torch.ones(1, 3, 4, 4), (8, 8)).shape == (1, 3, 8, 8)


def test_tvcompat_is_active_only_without_torchvision():
    real = importlib.util.find_spec("torchvision") is not None and not tvcompat.ensure()
    if real:
        assert tvcompat.ensure() is False
    else:
        assert tvcompat.ensure() is True
        from torchvision.ops.boxes import batched_nms
        from torchvision.transforms.functional import resize

        assert batched_nms is tvcompat.batched_nms and resize is tvcompat.resize


def test_prompts_from_hint():
    hint = np.zeros((50, 60), np.float32)
    hint[10:21, 5:16] = 1.0  # an 11x11 square: its most interior point is its centre
    hint[30:32, 40:42] = 1.0  # a 2x2 part, < 5% of the area: no prompt of its own
    (box, point), = prompts_from(hint)
    assert box.tolist() == [5, 10, 15, 20] and point.tolist() == [10, 15]
    assert prompts_from(np.zeros((5, 5), np.float32)) == []


def tiny_sam():
    """The smallest SAM segment_anything's own builder makes: a 1-block, 16-dim ViT, random weights."""
    tvcompat.ensure()
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(0)
    return _build_sam(encoder_embed_dim=16, encoder_depth=1, encoder_num_heads=1,
                      encoder_global_attn_indexes=[0], checkpoint=None)


def test_sam_member_with_random_weights(tmp_path):
    with pytest.raises(ModelFileMissing, match="autolabel.models.sam"):
        create("sam", MemberSettings(model_dir=str(tmp_path)))
    member = SamMember(tiny_sam())
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    hint = np.zeros((48, 64), np.float32)
    hint[10:40, 20:44] = 1.0
    alpha = member.predict(rgb, hint)
    assert alpha.shape == (48, 64) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() <= alpha.max() <= 1.0 and alpha.std() > 0  # random weights, real forward pass
    assert member.predict(rgb, None).max() == 0.0  # no prompt, no person
