"""Atomic file writes and guarded image reads.

Every artefact a stage writes goes through here: the bytes land in a temporary file in the target's
folder and are renamed over the target, so a stage killed half-way leaves either the old file or the
new one, never a torn one, and a rerun gives the same result.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pandas as pd
from PIL import Image

# Larger images are refused as decompression bombs (PIL's own limit is ~89 MP and only warns).
MAX_IMAGE_PIXELS = 80_000_000
FILE_MODE = 0o644
# The temporary names atomic_path and link_or_copy use: ".<name>.<random>.tmp<suffix>" and
# ".<name>.<pid>.<thread>.link.tmp"; a killed writer leaves them behind, a rerun removes them.
TEMP_NAME = re.compile(r"\..+\.tmp(\.[A-Za-z0-9]+)?")


class BadFile(ValueError):
    """An input file that cannot be used; ``reason`` is the short code recorded in quarantine."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, FILE_MODE)  # mkstemp makes 0600; outputs are ordinary shared files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path | str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_parquet(path: Path | str, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W) mask or (H, W, 3) RGB image."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode a {array.shape} {array.dtype} array as PNG")
    return buf.tobytes()


def write_png(path: Path | str, array: np.ndarray) -> None:
    """Atomically write a uint8 (H, W) mask or (H, W, 3) RGB image as PNG."""
    write_bytes(path, encode_png(array))


def write_jpeg(path: Path | str, rgb: np.ndarray, quality: int = 92) -> None:
    """Atomically write a uint8 (H, W, 3) RGB image as JPEG."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} array as JPEG")
    write_bytes(path, buf.tobytes())


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file a write of this module made (see TEMP_NAME)."""
    return TEMP_NAME.fullmatch(name) is not None


def link_or_copy(src: Path | str, dst: Path | str) -> None:
    """Put ``src``'s exact bytes at ``dst``: a hard link when possible, else a copy; atomic.

    A symlink ``src`` is resolved first: ``dst`` is a regular file holding its target's bytes (or
    a hard link of the target), never a link that could dangle.
    """
    src, dst = Path(os.path.realpath(src)), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # The link gets a name of its own (no mkstemp): creating and deleting a placeholder file costs
    # ~15x more than the link itself.
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.{threading.get_ident()}.link.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # left behind by a killed process that had the same pid
        os.link(src, tmp, follow_symlinks=False)  # src is resolved: a link of the file itself
    except OSError:
        with atomic_path(dst) as copy:
            shutil.copyfile(src, copy)
        return
    try:
        os.replace(tmp, dst)
    finally:
        if os.path.lexists(tmp):  # rename does nothing when dst already is this very link
            tmp.unlink()


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from the header, refusing missing files, non-images and decompression bombs."""
    path = Path(path)
    if not path.is_file():
        raise BadFile("missing_image", f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError as e:  # PIL refuses > 2x its own limit at open
        raise BadFile("decompression_bomb", f"{path}: {e}") from e
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_image", f"{path}: not a readable image ({e})") from e
    if width * height > MAX_IMAGE_PIXELS:
        raise BadFile("decompression_bomb", f"{path}: {width}x{height} exceeds {MAX_IMAGE_PIXELS} pixels")
    return width, height


def read_image(path: Path | str) -> np.ndarray:
    """Decode an image fully: (H, W, 3) RGB uint8. Truncated or undecodable data is BadFile.

    Pixels are read as stored (EXIF orientation is not applied), which is how COCO, VOC and
    Supervisely annotations index them.
    """
    image_size(path)
    try:
        with Image.open(path) as im:
            im.load()  # a full decode: truncated data raises OSError here
            return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))  # (an RGB convert is one more copy)
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_image", f"{path}: image data is truncated or undecodable ({e})") from e


def check_image(path: Path | str) -> tuple[int, int]:
    """(width, height) after a full decode, refusing what read_image refuses; no pixel copies made.

    For callers that must prove an image decodes but do not need its pixels (ingestion).
    """
    width, height = image_size(path)
    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_image", f"{path}: image data is truncated or undecodable ({e})") from e
    return width, height


def read_mask(path: Path | str) -> np.ndarray:
    """A single-channel uint8 mask (H, W), 0..255: the alpha channel of RGBA/LA, else the first band.

    Palette PNGs give their palette indices (as VOC's SegmentationClass needs).
    """
    image_size(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA"):
                band = im.getchannel("A")
            elif im.mode in ("L", "P"):
                band = im
            elif im.mode in ("I;16", "I", "F"):
                raise BadFile("bad_mask", f"{path}: expected an 8-bit mask, got mode {im.mode}")
            else:
                band = im.getchannel(0)
            return np.asarray(band, dtype=np.uint8).copy()
    except (OSError, SyntaxError) as e:
        raise BadFile("bad_mask", f"{path}: mask data is truncated or undecodable ({e})") from e
