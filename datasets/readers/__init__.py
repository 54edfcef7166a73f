"""Readers for the four person-data formats: ``open_source(fmt, src, ...)`` and ``labels(fmt, item)``.

Every reader module has the same two halves (see ``common``): ``open_source`` (parent process:
discovery, ``UnusableInput`` when the folder is not what the format expects; its ``items()`` yields
light descriptors) and ``labels(item)`` (worker process: item -> Labels, None for no person, or
``BadFile`` with a reason code).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from datasets.readers.common import Item, Labels, UnusableInput

FORMATS = ("coco", "voc", "supervisely", "aisegment", "images")


def module(fmt: str) -> ModuleType:
    """The reader module of ``fmt``."""
    if fmt not in FORMATS:
        raise UnusableInput(f"--format should be one of {list(FORMATS)}, got {fmt!r}")
    return importlib.import_module(f"datasets.readers.{fmt}")


def open_source(fmt: str, src: Path | str, annotations: Path | str | None = None,
                person_classes: tuple[str, ...] | None = None):
    """The source of ``fmt`` at ``src``; ``person_classes`` None means the format's default."""
    reader = module(fmt)
    kwargs = {} if person_classes is None else {"person_classes": tuple(person_classes)}
    return reader.open_source(Path(src), annotations=Path(annotations) if annotations else None, **kwargs)


__all__ = ["FORMATS", "Item", "Labels", "UnusableInput", "module", "open_source"]
