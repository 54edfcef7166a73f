"""A contained stand-in for the four torchvision functions segment-anything imports.

``import segment_anything`` imports torchvision, and there is no CPU torchvision build that loads
with this project's CPU torch (the PyPI wheel links CUDA libtorch). segment-anything uses only
``transforms.functional.resize`` and ``to_pil_image`` (to resize the image before the encoder) and
``ops.boxes.batched_nms`` and ``box_area`` (in the automatic mask generator). ``ensure()`` registers
minimal modules providing exactly those, and ONLY when torchvision is not installed; with a real
torchvision it does nothing. Call it right before importing segment_anything.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import types
from typing import Sequence

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)
MARKER = "__labeling_tvcompat__"  # set on the stand-in package so callers can tell it apart


def to_pil_image(pic: np.ndarray | torch.Tensor, mode: str | None = None) -> Image.Image:
    """(H, W, C) / (H, W) uint8 array, or (C, H, W) tensor (float in [0, 1] or uint8) -> PIL image."""
    if isinstance(pic, torch.Tensor):
        array = pic.detach().cpu()
        if array.ndim == 3:
            array = array.permute(1, 2, 0)
        array = array.numpy()
        if array.dtype != np.uint8:
            array = np.clip(array * 255.0, 0, 255).round().astype(np.uint8)
    else:
        array = np.asarray(pic)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(array, mode=mode)


def resize(img: Image.Image | torch.Tensor, size: int | Sequence[int], antialias: bool | None = True):
    """Bilinear resize like torchvision's: ``size`` (h, w), or an int for the shorter side.

    PIL images are resized with PIL's bilinear filter (torchvision's default for PIL input);
    tensors (..., H, W) with ``torch.nn.functional.interpolate`` (bilinear, antialiased).
    """
    if isinstance(img, torch.Tensor):
        h, w = img.shape[-2:]
    else:
        w, h = img.size
    if isinstance(size, int) or len(size) == 1:
        short = size if isinstance(size, int) else size[0]
        if h <= w:
            new_h, new_w = short, int(short * w / h)
        else:
            new_h, new_w = int(short * h / w), short
    else:
        new_h, new_w = int(size[0]), int(size[1])
    if isinstance(img, torch.Tensor):
        batched = img if img.ndim == 4 else img.unsqueeze(0)
        out = torch.nn.functional.interpolate(batched.float(), size=(new_h, new_w), mode="bilinear",
                                              align_corners=False, antialias=bool(antialias))
        out = out if img.ndim == 4 else out.squeeze(0)
        return out.round().clamp(0, 255).to(img.dtype) if img.dtype == torch.uint8 else out.to(img.dtype)
    return img.resize((new_w, new_h), Image.Resampling.BILINEAR)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of (N, 4) boxes in (x1, y1, x2, y2) form."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    x1 = torch.maximum(box[0], boxes[:, 0])
    y1 = torch.maximum(box[1], boxes[:, 1])
    x2 = torch.minimum(box[2], boxes[:, 2])
    y2 = torch.minimum(box[3], boxes[:, 3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    union = box_area(box[None])[0] + box_area(boxes) - inter
    return inter / union.clamp(min=torch.finfo(torch.float32).tiny)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of kept boxes, by decreasing score."""
    order = torch.argsort(scores, descending=True)
    keep = []
    while order.numel():
        best = order[0]
        keep.append(int(best))
        if order.numel() == 1:
            break
        rest = order[1:]
        order = rest[_box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """NMS within each category ``idxs`` (boxes of different categories never suppress each other)."""
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    # torchvision's trick: offset each category's boxes so categories cannot overlap
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def ensure() -> bool:
    """Register the stand-in modules if torchvision is absent; True when the stand-in is active."""
    if "torchvision" in sys.modules:
        return bool(getattr(sys.modules["torchvision"], MARKER, False))
    if importlib.util.find_spec("torchvision") is not None:
        return False
    package = types.ModuleType("torchvision")
    setattr(package, MARKER, True)
    package.__path__ = []  # a package, so submodule imports resolve through sys.modules
    transforms = types.ModuleType("torchvision.transforms")
    transforms.__path__ = []
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize, functional.to_pil_image = resize, to_pil_image
    ops = types.ModuleType("torchvision.ops")
    ops.__path__ = []
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms, boxes.box_area, boxes.nms = batched_nms, box_area, nms
    ops.batched_nms, ops.box_area, ops.nms, ops.boxes = batched_nms, box_area, nms, boxes
    transforms.functional = functional
    package.transforms, package.ops = transforms, ops
    sys.modules.update({"torchvision": package, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional, "torchvision.ops": ops,
                        "torchvision.ops.boxes": boxes})
    log.debug("torchvision is not installed: using labeling.tvcompat for segment-anything")
    return True
