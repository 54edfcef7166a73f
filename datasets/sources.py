"""params.yaml `sources`: the named datasets the pipeline ingests (dvc.yaml runs one ingest stage per entry,
writing data/stores/<name>; autolabel and clean follow per name)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.config import PARAMS_FILE, ParamsError, from_dict, read_params
from datasets.readers import FORMATS

Format = Literal[FORMATS]  # coco, voc, supervisely, aisegment, images


@dataclass(frozen=True)
class Source:
    """One entry of `sources`: ``name: {format: voc, src: data/raw/voc}``."""
    format: Format  # the reader (`python -m datasets ingest --format`)
    src: str  # the source folder, relative to the repository root (where stages run)
    annotations: str | None = None  # COCO: the instances JSON; Supervisely: meta.json (default: found in src)


def load_sources(path: Path | str = PARAMS_FILE) -> dict[str, Source]:
    """name -> Source of the params file's `sources` (a profile's replace its base's); empty when none.

    Unknown keys, a format no reader has and a missing ``src`` are ParamsErrors naming the entry.
    """
    data = read_params(path).get("sources") or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: `sources` should map names to {{format, src}}, got {data!r}")
    sources = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "format" not in spec or "src" not in spec:
            raise ParamsError(f"{path}: `sources.{name}` should be a mapping with `format` and `src`, got {spec!r}")
        sources[str(name)] = from_dict(Source, spec, where=f"sources.{name}")
    return sources
