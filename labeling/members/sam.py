"""Segment Anything (segment-anything) as a prompted ensemble member.

Prompts come from ``hint``, an (H, W) alpha (the sample's ground truth or the ensemble of the other
members, `autolabel.sam_prompt`): for each of its largest connected parts, the part's bounding box
and its most interior point (the maximum of the distance transform). SAM's mask logits for each
prompt are turned into probabilities and the parts are merged by maximum. Without a hint or with an
empty one the alpha is zero: SAM needs to be told where to look.

The checkpoint (`autolabel.models.sam`, e.g. ``sam/sam_vit_b_01ec64.pth`` under the model directory)
must be on disk: nothing is downloaded. ``import segment_anything`` needs torchvision; where it is
absent, labeling.tvcompat provides the four functions it uses.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from labeling import tvcompat
from labeling.members.base import Member, MemberSettings, check_rgb, resize_alpha

log = logging.getLogger(__name__)
MAX_PARTS = 4  # prompts per image: the largest connected parts of the hint
MIN_PART_FRACTION = 0.05  # parts smaller than this share of the hint's area get no prompt of their own


class SamMember(Member):
    """``model``: a built ``segment_anything.modeling.Sam`` (see ``from_settings``)."""

    name = "sam"
    prompted = True

    def __init__(self, model):
        tvcompat.ensure()
        from segment_anything import SamPredictor

        model.eval()
        self._predictor = SamPredictor(model)

    @classmethod
    def from_settings(cls, settings: MemberSettings) -> "SamMember":
        tvcompat.ensure()
        from segment_anything import sam_model_registry

        if settings.sam_model_type not in sam_model_registry:
            raise ValueError(f"`autolabel.models.sam_model_type` should be one of "
                             f"{sorted(sam_model_registry)}, got {settings.sam_model_type!r}")
        checkpoint = settings.require("sam", cls.name)
        return cls(sam_model_registry[settings.sam_model_type](checkpoint=str(checkpoint)))

    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        import torch

        rgb = check_rgb(rgb, self.name)
        h, w = rgb.shape[:2]
        prompts = prompts_from(hint) if hint is not None else []
        alpha = np.zeros((h, w), np.float32)
        if not prompts:
            return alpha
        with torch.inference_mode():
            self._predictor.set_image(rgb)
            for box, point in prompts:
                logits, _, _ = self._predictor.predict(point_coords=point[None], point_labels=np.array([1]),
                                                       box=box, multimask_output=False, return_logits=True)
                prob = 1.0 / (1.0 + np.exp(-np.clip(logits[0], -30, 30)))
                alpha = np.maximum(alpha, prob.astype(np.float32))
        return resize_alpha(alpha, h, w)


def prompts_from(hint: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(box (4,) x1 y1 x2 y2, point (2,) x y) for each of the hint's largest parts (>= 0.5)."""
    mask = (hint >= (0.5 if hint.dtype != np.uint8 else 128)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n <= 1:
        return []
    total = stats[1:, cv2.CC_STAT_AREA].sum()
    order = sorted(range(1, n), key=lambda k: -stats[k, cv2.CC_STAT_AREA])[:MAX_PARTS]
    prompts = []
    for k in order:
        x, y, bw, bh, area = stats[k]
        if area < MIN_PART_FRACTION * total and prompts:
            break
        part = (labels == k).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(part, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        py, px = np.unravel_index(int(np.argmax(dist)), dist.shape)
        prompts.append((np.array([x, y, x + bw - 1, y + bh - 1], np.float32), np.array([px, py], np.float32)))
    return prompts
