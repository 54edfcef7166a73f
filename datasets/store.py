"""The sample store: the one table every later stage reads (contract in DESIGN.md).

```
STORE/samples.parquet     id, source, split, image, alpha, ignore, width, height, persons, label_kind, origin
STORE/images/<id>.<ext>   the original image bytes (hard link or copy, never re-encoded)
STORE/alpha/<id>.png      uint8 (H, W): 0 = background, 255 = person (soft values for label_kind 'alpha')
STORE/ignore/<id>.png     uint8 (H, W): 255 where no label speaks (VOC void, COCO crowd); optional
STORE/quarantine.parquet  source, origin, reason, detail: one row per rejected item
```
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import io

SAMPLE_COLUMNS = ["id", "source", "split", "image", "alpha", "ignore", "width", "height", "persons",
                  "label_kind", "origin"]
QUARANTINE_COLUMNS = ["source", "origin", "reason", "detail"]
SPLITS = ("train", "val", "test")
LABEL_KINDS = ("mask", "alpha")


@dataclass(frozen=True)
class Sample:
    """One row of samples.parquet; paths are relative to the store."""
    id: str
    source: str
    split: str
    image: str
    alpha: str
    ignore: str | None
    width: int
    height: int
    persons: int
    label_kind: str
    origin: str


@dataclass(frozen=True)
class Rejected:
    """One row of quarantine.parquet."""
    source: str
    origin: str
    reason: str  # short code, e.g. 'bad_image', 'size_mismatch', 'bad_rle'
    detail: str  # a message a person can act on


def sample_id(source: str, origin: str) -> str:
    """16 hex chars, stable across runs: derived from (source name, origin)."""
    return hashlib.sha1(f"{source}\x00{origin}".encode()).hexdigest()[:16]


def split_for(id_: str, ratios: dict[str, float]) -> str:
    """A deterministic split for a sample whose source has none: a hash of the id against ``ratios``.

    ``ratios`` maps 'train'/'val'/'test' to fractions that sum to 1.
    """
    u = int(hashlib.sha1(id_.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    edge = 0.0
    for split in SPLITS:
        edge += ratios.get(split, 0.0)
        if u < edge:
            return split
    return "train"


def samples_frame(samples: list[Sample]) -> pd.DataFrame:
    """The samples table, sorted by id, with the contract's columns and dtypes."""
    df = pd.DataFrame([asdict(s) for s in samples], columns=SAMPLE_COLUMNS)
    df = df.sort_values("id", kind="stable").reset_index(drop=True)
    return df.astype({"width": "int64", "height": "int64", "persons": "int64"})


def quarantine_frame(rejected: list[Rejected]) -> pd.DataFrame:
    df = pd.DataFrame([asdict(r) for r in rejected], columns=QUARANTINE_COLUMNS)
    return df.sort_values(["source", "origin", "reason"], kind="stable").reset_index(drop=True)


class Store:
    """Read access to a written store: ``Store(path).samples``, ``.image(row)``, ``.alpha(row)``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        table = self.root / "samples.parquet"
        if not table.is_file():
            raise FileNotFoundError(f"{self.root}: not a sample store (no samples.parquet; run "
                                    "`python -m datasets ingest` first)")
        self.samples = pd.read_parquet(table)

    @property
    def quarantine(self) -> pd.DataFrame:
        path = self.root / "quarantine.parquet"
        return pd.read_parquet(path) if path.is_file() else quarantine_frame([])

    def path(self, relative: str) -> Path:
        return self.root / relative

    def image(self, row) -> np.ndarray:
        """(H, W, 3) RGB uint8 of a samples row (a Series or namedtuple with `.image`)."""
        return io.read_image(self.root / row.image)

    def alpha(self, row) -> np.ndarray:
        """(H, W) uint8 alpha, 0..255."""
        return io.read_mask(self.root / row.alpha)

    def ignore(self, row) -> np.ndarray | None:
        """(H, W) uint8, 255 where no label speaks, or None."""
        return None if row.ignore is None or pd.isna(row.ignore) else io.read_mask(self.root / row.ignore)


def write_tables(root: Path | str, samples: list[Sample], rejected: list[Rejected]) -> None:
    """Atomically write samples.parquet and quarantine.parquet (after every file they point to)."""
    root = Path(root)
    io.write_parquet(root / "samples.parquet", samples_frame(samples))
    io.write_parquet(root / "quarantine.parquet", quarantine_frame(rejected))
