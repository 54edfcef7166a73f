"""A plain folder of photos with no labels: every image under ``src`` is a sample of ``label_kind`` 'none'.

``src`` is searched recursively for ``.jpg .jpeg .png .webp .bmp`` files (any case), ordered by
their relative paths, hidden files and folders (a leading ``.``) skipped. The origin is the path relative to
``src`` (posix), so ids are stable across runs and machines. Samples carry no alpha, ignore or
person count (DESIGN.md: alpha and ignore null, persons null); ``python -m labeling autolabel``
labels them with the ensemble.

Quarantine reasons, as for the other readers: ``path_outside_root`` (a symlink whose target lies
outside ``src``: not read), ``missing_image`` (a dangling link), ``bad_image`` (truncated or not an
image), ``decompression_bomb`` (more pixels than io.MAX_IMAGE_PIXELS). A folder with no image at all
is an UnusableInput (exit 2).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from datasets.readers.common import Item, Labels, UnusableInput, outside_defect, walk_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageFolderSource:
    def __init__(self, root: Path, files: list[str]):
        self.root = root
        self.files = files  # relative posix paths, sorted

    def items(self) -> Iterator[Item]:
        real_root = os.path.realpath(self.root)
        for name in self.files:
            path = self.root / name
            target = os.path.realpath(path)
            if os.path.islink(path) and not target.startswith(real_root + os.sep):
                yield Item(origin=name, defect=outside_defect(name, self.root))
                continue
            yield Item(origin=name, image=path)


def image_files(root: Path) -> list[str]:
    """Relative posix paths of the image files under ``root`` (recursive, linked folders too, sorted,
    no hidden entries)."""
    return sorted(walk_files(root, IMAGE_SUFFIXES, skip_hidden_dirs=True))


def open_source(src: Path, annotations: Path | None = None,
                person_classes: tuple[str, ...] = ()) -> ImageFolderSource:
    src = Path(src)
    if not src.is_dir():
        raise UnusableInput(f"{src}: no such folder (expected a folder of photos: "
                            f"{', '.join(IMAGE_SUFFIXES)})")
    if annotations is not None or person_classes:
        raise UnusableInput("--annotations / --person-classes do not apply to --format images (a plain "
                            "folder of photos has no labels; the ensemble labels them)")
    files = image_files(src)
    if not files:
        raise UnusableInput(f"{src}: no images found (searched recursively for {', '.join(IMAGE_SUFFIXES)}); "
                            "point --src at the folder holding the photos")
    return ImageFolderSource(src, files)


def labels(item: Item) -> Labels:
    """No labels: label_kind 'none' (ingest checks that the image decodes)."""
    return Labels(alpha=None, persons=None, label_kind="none")
