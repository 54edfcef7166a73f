"""AISegment matting_human_datasets: ``clip_img/`` photos paired with ``matting/`` RGBA mattes.

``clip_img/<group>/clip_<n>/<name>.jpg`` pairs with ``matting/<group>/matting_<n>/<name>.png``
(each folder named ``clip_*`` maps to ``matting_*``, the extension to ``.png``). The matte is the
PNG's alpha channel, kept exactly (``label_kind='alpha'``, one person per photo). Photos without a
matte (``unpaired_image``) and mattes without a photo (``unpaired_matte``) are offered items that
end in quarantine. The source has no splits: samples are split by id. ``src`` may be the folder
holding ``clip_img/`` and ``matting/`` or its parent (``matting_human_half/``); origins are
relative to the folder holding them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

from PIL import Image

from core.io import BadFile
from datasets.readers.common import Item, Labels, UnusableInput, read_label_png, walk_files

log = logging.getLogger(__name__)

IMAGES, MATTES = "clip_img", "matting"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class AISegmentSource:
    def __init__(self, root: Path):
        self.root = root

    def items(self) -> Iterator[Item]:
        mattes = set(walk(self.root / MATTES, (".png",)))
        for image in walk(self.root / IMAGES, IMAGE_SUFFIXES):
            origin = f"{IMAGES}/{image}"
            matte = matte_for(image)
            if matte in mattes:
                mattes.discard(matte)
                yield Item(origin=origin, image=self.root / IMAGES / image, data=self.root / MATTES / matte)
            else:
                yield Item(origin=origin, defect=("unpaired_image", f"{origin}: no matte {MATTES}/{matte}"))
        for matte in sorted(mattes):
            origin = f"{MATTES}/{matte}"
            yield Item(origin=origin, defect=("unpaired_matte", f"{origin}: no photo for this matte "
                                              f"under {IMAGES}/"))


def open_source(src: Path, annotations: Path | None = None,
                person_classes: tuple[str, ...] = ()) -> AISegmentSource:
    src = Path(src)
    if not src.is_dir():
        raise UnusableInput(f"{src}: no such folder (expected an AISegment folder with clip_img/ and "
                            "matting/)")
    if annotations is not None or person_classes:
        raise UnusableInput("--annotations / --person-classes do not apply to AISegment (every photo "
                            "shows one person; its matte is matting/.../<name>.png)")
    candidates = [src, *sorted(p for p in src.iterdir() if p.is_dir())]
    roots = [c for c in candidates if (c / IMAGES).is_dir() and (c / MATTES).is_dir()]
    if not roots:
        raise UnusableInput(f"{src}: not an AISegment matting_human_datasets folder (expected clip_img/ "
                            "and matting/ in it or in one of its sub-folders)")
    return AISegmentSource(roots[0])


def labels(item: Item) -> Labels:
    """The matte's alpha channel, exactly (soft values kept)."""
    matte: Path = item.data
    alpha = read_label_png(matte)  # io.read_mask: the alpha band of RGBA / LA, the values of L
    with Image.open(matte) as im:
        mode = im.mode
    if mode not in ("RGBA", "LA", "L"):
        raise BadFile("bad_mask", f"{matte}: matte has no alpha channel (mode {mode}); expected an "
                      "RGBA PNG")
    return Labels(alpha=alpha, persons=1, label_kind="alpha")


def matte_for(image: str) -> str:
    """The matte's path under matting/ for a photo's path under clip_img/ (posix, relative)."""
    parts = image.split("/")
    folders = ["matting_" + p[len("clip_"):] if p.startswith("clip_") else p for p in parts[:-1]]
    return "/".join([*folders, os.path.splitext(parts[-1])[0] + ".png"])


def walk(folder: Path, suffixes: tuple[str, ...]) -> Iterator[str]:
    """Relative posix paths of the files under ``folder`` with one of ``suffixes``: sorted, streamed,
    linked folders walked (common.walk_files)."""
    return walk_files(folder, suffixes)
