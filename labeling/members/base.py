"""The one interface every ensemble member implements, and what the members share.

A member is created once (it holds a model session) and reused for every image:

    member = SomeMember(...)
    alpha = member.predict(rgb)          # rgb: (H, W, 3) uint8 RGB -> alpha: (H, W) float32 in [0, 1]

Prompted members (Segment Anything) also take ``hint``: an (H, W) alpha (the ground truth or the
ensemble) from which they derive their box and point prompts; the others ignore it.
"""
from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


class ModelFileMissing(FileNotFoundError):
    """A member's weight file is not where the configuration says; names the file and the setting."""

    def __init__(self, path: Path, setting: str, member: str):
        self.path = path
        self.setting = setting
        super().__init__(
            f"{member}: model file {path} not found (set by {setting}); put the file there, point "
            f"{setting} at it, or leave `{member}` out of autolabel.members. Nothing is downloaded: "
            "this machine works offline.")


@dataclass(frozen=True)
class ModelFiles:
    """Where members find their weights: the `autolabel.models` section of params.yaml.

    Relative paths are resolved against the model directory (`autolabel.model_dir`, itself relative
    to the working directory, the repository root). ``U2NET_HOME``, when set, wins over ``rembg_dir``.
    """
    sinet: str = "sinet/SINet.onnx"  # SINet portrait segmentation (ONNX)
    prisma: str = "prisma/prisma_nchw.onnx"  # prisma-net portrait U-Net (ONNX)
    ppseg: str = "ppseg/ppseg_lite_portrait_398x224.onnx"  # PP-HumanSeg lite portrait (ONNX)
    deeplab: str = "deeplab/deeplab_aiseg513_dm05_nchw.onnx"  # DeepLabv3 MobileNetV2 on AISegment (ONNX)
    own: str = "own/matting.onnx"  # the project's exported matting model (ONNX, `input` -> `alpha`)
    sam: str = "sam/sam_vit_b_01ec64.pth"  # Segment Anything checkpoint
    sam_model_type: str = "vit_b"  # key of segment_anything.sam_model_registry matching `sam`
    rembg_dir: str = "rembg"  # folder of rembg's <model>.onnx files (what rembg calls U2NET_HOME)
    rembg_files: dict[str, str] = field(default_factory=dict)  # rembg model -> explicit .onnx path
    onnx_threads: int = 1  # intra-op threads per ONNX session (workers already run in parallel)


@dataclass(frozen=True)
class MemberSettings(ModelFiles):
    """ModelFiles plus the directory they are relative to."""
    model_dir: str = "../shared/models"  # the model directory (`autolabel.model_dir`)

    @classmethod
    def of(cls, model_dir: str, files: ModelFiles) -> "MemberSettings":
        return cls(model_dir=model_dir, **{f.name: getattr(files, f.name) for f in fields(ModelFiles)})

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else Path(self.model_dir) / path

    def require(self, key: str, member: str) -> Path:
        """The file configured under ``key`` (a field name), or ModelFileMissing naming the setting."""
        path = self.resolve(getattr(self, key))
        if not path.is_file():
            raise ModelFileMissing(path, f"autolabel.models.{key} (relative to autolabel.model_dir="
                                         f"{self.model_dir})", member)
        return path

    def rembg_home(self) -> tuple[Path, str]:
        """rembg's model folder and the setting it came from."""
        env = os.environ.get("U2NET_HOME")
        if env:
            return Path(env).expanduser(), "the U2NET_HOME environment variable"
        return self.resolve(self.rembg_dir), f"autolabel.models.rembg_dir (under autolabel.model_dir={self.model_dir})"


class Member(abc.ABC):
    """An ensemble member: image in, alpha out. Create once, call ``predict`` many times."""

    name: str = "member"
    prompted: bool = False  # True when predict() needs a hint (box/points come from it)

    @abc.abstractmethod
    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        """rgb: (H, W, 3) uint8 RGB -> alpha: (H, W) float32 in [0, 1] (1 = person)."""


def check_rgb(rgb: np.ndarray, member: str) -> np.ndarray:
    """A C-contiguous (H, W, 3) uint8 array, or ValueError saying what was found."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{member}: expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w) float alpha resized (bilinear) to (height, width), clipped to [0, 1], float32."""
    alpha = alpha.astype(np.float32, copy=False)
    if alpha.shape != (height, width):
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


def onnx_session(path: Path, threads: int = 1):
    """An onnxruntime CPU session with quiet logging.

    Graphs that list their weights as inputs too (the shared DeepLab export: 272 of its 273 inputs)
    are loaded without those inputs: onnxruntime cannot fold constants it may be asked to override,
    and the DeepLab graph ran 3.5x slower that way (1.41 s vs 0.40 s per 513x513 image, measured).
    """
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    model = onnx.load(str(path))
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) == len(model.graph.input):
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
