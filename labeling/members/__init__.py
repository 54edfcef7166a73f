"""Ensemble members: a registry of name -> factory, each member a small module behind one interface.

``get(name, settings)`` returns the member for ``name``, created on first use and then reused by the
same thread (MediaPipe graphs are not thread-safe; ONNX sessions are cheap to keep one per thread):
under a thread pool or Dask worker, each worker thread builds its sessions once, not per image.

Names: ``mediapipe-selfie``, ``mediapipe-landscape``, ``mediapipe-pose`` (the default ensemble,
shipped inside the mediapipe wheel), ``sinet``, ``prisma``, ``ppseg`` (PP-HumanSeg lite),
``deeplab-aiseg`` (DeepLabv3 on AISegment) (ONNX files in the model directory),
``rembg-<model>`` (e.g. ``rembg-u2net_human_seg``, ``rembg-isnet-general-use``,
``rembg-birefnet-portrait``), ``sam`` (Segment Anything, prompted), ``own`` (the project's model).
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from core.cli import native_stderr
from labeling.members.base import Member, MemberSettings, ModelFileMissing, ModelFiles

__all__ = ["DEFAULT", "Member", "MemberSettings", "ModelFileMissing", "ModelFiles", "clear_cache", "create", "get",
           "created", "names", "validate"]

DEFAULT = ("mediapipe-selfie", "mediapipe-landscape", "mediapipe-pose")


def _mediapipe_selfie(model_selection: int) -> Callable[[MemberSettings], Member]:
    def make(settings: MemberSettings) -> Member:
        from labeling.members.mediapipe_selfie import MediaPipeSelfie

        return MediaPipeSelfie(model_selection)
    return make


def _pose(settings: MemberSettings) -> Member:
    from labeling.members.mediapipe_pose import MediaPipePose

    return MediaPipePose()


def _sinet(settings: MemberSettings) -> Member:
    from labeling.members.sinet import SINet

    return SINet(settings.require("sinet", "sinet"), settings.onnx_threads)


def _prisma(settings: MemberSettings) -> Member:
    from labeling.members.prisma import Prisma

    return Prisma(settings.require("prisma", "prisma"), settings.onnx_threads)


def _ppseg(settings: MemberSettings) -> Member:
    from labeling.members.ppseg import PPHumanSeg

    return PPHumanSeg(settings.require("ppseg", "ppseg"), settings.onnx_threads)


def _deeplab(settings: MemberSettings) -> Member:
    from labeling.members.deeplab import DeepLabAISeg

    return DeepLabAISeg(settings.require("deeplab", "deeplab-aiseg"), settings.onnx_threads)


def _own(settings: MemberSettings) -> Member:
    from labeling.members.own import OwnModel

    return OwnModel(settings.require("own", "own"), settings.onnx_threads)


def _sam(settings: MemberSettings) -> Member:
    from labeling.members.sam import SamMember

    return SamMember.from_settings(settings)


FACTORIES: dict[str, Callable[[MemberSettings], Member]] = {
    "mediapipe-selfie": _mediapipe_selfie(0),
    "mediapipe-landscape": _mediapipe_selfie(1),
    "mediapipe-pose": _pose,
    "sinet": _sinet,
    "prisma": _prisma,
    "ppseg": _ppseg,
    "deeplab-aiseg": _deeplab,
    "own": _own,
    "sam": _sam,
}
REMBG_PREFIX = "rembg-"


def names() -> list[str]:
    """Known member names (``rembg-<model>`` stands for every rembg model)."""
    return sorted(FACTORIES) + [REMBG_PREFIX + "<model>"]


def validate(name: str) -> str:
    if name in FACTORIES or (name.startswith(REMBG_PREFIX) and len(name) > len(REMBG_PREFIX)):
        return name
    raise ValueError(f"unknown ensemble member {name!r}; known: {names()}")


def create(name: str, settings: MemberSettings) -> Member:
    """A new member (loads its model now: errors about missing files surface here).

    What native code (TFLite, absl, glog) prints to stderr while the model loads is logged at DEBUG.
    """
    validate(name)
    with native_stderr(f"loading {name}"):
        if name.startswith(REMBG_PREFIX):
            from labeling.members.rembg_member import RembgMember

            return RembgMember(name[len(REMBG_PREFIX):], settings)
        member = FACTORIES[name](settings)
        if name in DEFAULT:  # MediaPipe builds its graph (and prints) on the first image: load it now
            member.predict(np.zeros((64, 64, 3), np.uint8))
        return member


_local = threading.local()


def get(name: str, settings: MemberSettings) -> Member:
    """The calling thread's member for (name, settings), created on first use."""
    cache = getattr(_local, "members", None)
    if cache is None:
        cache = _local.members = {}
    key = (name, repr(settings))
    if key not in cache:
        cache[key] = create(name, settings)
        _local.created = getattr(_local, "created", 0) + 1
    return cache[key]


def created() -> int:
    """How many members the calling thread has created so far (a check that sessions are reused)."""
    return getattr(_local, "created", 0)


def clear_cache() -> None:
    """Forget the calling thread's members (tests; a changed model file)."""
    _local.members = {}
