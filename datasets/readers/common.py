"""What the four readers share: the item descriptor, the labels a reader returns, path guards.

A reader has two halves. ``open_source(src, ...)`` runs in the parent process: it checks that the
input is usable (else :class:`UnusableInput`) and returns a source whose ``items()`` yields light,
picklable :class:`Item` descriptors in a stable order. ``labels(item)`` runs in a worker process: it
reads whatever annotation the item points to and returns :class:`Labels` (or ``None`` when the item
holds no person), raising :class:`core.io.BadFile` for a bad item.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from core import io
from datasets.store import SPLITS

log = logging.getLogger(__name__)


class UnusableInput(ValueError):
    """The whole input cannot be read (no such folder, no annotation file, wrong format)."""


@dataclass(frozen=True)
class Item:
    """One thing the source offers; it ends as a sample, a quarantine row, or a no-person count.

    ``origin`` is the stable key (a path relative to the source folder) the sample id derives from.
    ``defect`` is set when the reader already knows the item is bad: ``(reason, detail)``.
    """
    origin: str
    image: Path | None = None  # the image file, None when the item has no image (an unpaired matte)
    split: str | None = None  # the source's own split, None to split by id
    data: Any = None  # reader-specific: annotations, mask paths
    defect: tuple[str, str] | None = None


@dataclass
class Labels:
    """What an annotation says about an image.

    alpha: (H, W) uint8, 0 = background, 255 = person (soft values when label_kind is 'alpha').
    ignore: (H, W) uint8, 255 where no label speaks, or None.
    """
    alpha: np.ndarray
    persons: int
    ignore: np.ndarray | None = None
    label_kind: str = "mask"


def inside(root: Path, name: str) -> Path | None:
    """``root / name`` when that path stays inside ``root`` (judged on the text, never read), else None.

    Absolute names and ``..`` escapes are refused; symlinks inside the root are allowed.
    """
    if not name or "\x00" in name:
        return None
    root_text = os.path.normpath(os.path.abspath(root))
    joined = os.path.normpath(os.path.join(root_text, name))
    if joined == root_text or not joined.startswith(root_text + os.sep):
        return None
    return Path(joined)


def escapes_root(path: Path | str, real_root: str) -> bool:
    """True when ``path``, its symlinks followed, resolves outside ``real_root`` (a realpath)."""
    target = os.path.realpath(path)
    return target != real_root and not target.startswith(real_root.rstrip(os.sep) + os.sep)


def item_paths(item: Item) -> Iterator[Path]:
    """The files an item names: its image, and ``data`` when it is a path or a dataclass holding paths."""
    if item.image is not None:
        yield item.image
    data = item.data
    if isinstance(data, Path):
        yield data
    elif dataclasses.is_dataclass(data):
        yield from (v for v in vars(data).values() if isinstance(v, Path))


def check_declared_size(image: Path, width: int, height: int, where: str) -> None:
    """Before any array of the declared size is made: refuse sizes over io.MAX_IMAGE_PIXELS
    (``decompression_bomb``) and sizes that differ from the image's header (``size_mismatch``)."""
    if width * height > io.MAX_IMAGE_PIXELS:
        raise io.BadFile("decompression_bomb", f"{where}: declared size {width}x{height} exceeds "
                         f"{io.MAX_IMAGE_PIXELS} pixels")
    actual = io.image_size(image)  # the header only; a missing or bomb image is BadFile here
    if actual != (width, height):
        raise io.BadFile("size_mismatch", f"{where}: declared size {width}x{height} but the image "
                         f"{image.name} is {actual[0]}x{actual[1]}")


def outside_defect(name: str, root: Path) -> tuple[str, str]:
    return ("path_outside_root", f"{name!r} points outside the source folder {root}; not read")


def read_label_png(path: Path) -> np.ndarray:
    """io.read_mask with the mask's own reason codes (missing_mask, bad_mask, decompression_bomb)."""
    try:
        return io.read_mask(path)
    except io.BadFile as e:
        reason = {"missing_image": "missing_mask", "bad_image": "bad_mask"}.get(e.reason, e.reason)
        raise io.BadFile(reason, e.detail.replace("image file", "mask file")) from e


def split_word(name: str) -> str | None:
    """'train' / 'val' / 'test' when ``name`` names a split ('train2017', 'val', 'Test'), else None."""
    lowered = name.lower()
    for split in SPLITS:
        if lowered.startswith(split):
            return split
    return None


def splits_by_name(names: list[str]) -> dict[str, str | None]:
    """Each name's split word, kept only when the names offer at least two different splits.

    A source that ships a single part (only ``instances_val2017.json``) has no split of its own:
    all of it one split would leave the others empty, so such items are split by id instead.
    """
    words = {name: split_word(name) for name in names}
    if len({w for w in words.values() if w is not None}) < 2:
        return {name: None for name in names}
    return words


def walk_files(folder: Path, suffixes: tuple[str, ...], skip_hidden_dirs: bool = False) -> Iterator[str]:
    """Relative posix paths of the files under ``folder`` with one of ``suffixes`` (any case), hidden
    files left out; streamed folder by folder, names sorted.

    Linked folders are walked, each real folder once (a link loop ends; a link to a folder already
    walked is logged, its files already offered under their real path). A file reached through a
    link out of the source is then quarantined path_outside_root by ingest: never silently skipped.
    """
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            log.info("%s is the folder %s, already walked: its files are offered once", dirpath, real)
            dirnames.clear()
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not (skip_hidden_dirs and d.startswith(".")))
        rel = Path(os.path.relpath(dirpath, folder)).as_posix()
        for name in sorted(filenames):
            if name.lower().endswith(suffixes) and not name.startswith("."):
                yield name if rel == "." else f"{rel}/{name}"


def sorted_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files directly in ``folder`` whose suffix (lower-cased) is one of ``suffixes``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a posix string (the origin recorded in the tables)."""
    return Path(os.path.relpath(path, root)).as_posix()
