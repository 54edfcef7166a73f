"""The sample store: the one table every later stage reads (contract in DESIGN.md).

```
STORE/samples.parquet     id, source, split, image, alpha, ignore, width, height, persons, label_kind, origin
STORE/images/<id>.<ext>   the original image bytes (hard link or copy, never re-encoded)
STORE/alpha/<id>.png      uint8 (H, W): 0 = background, 255 = person (soft values for label_kind 'alpha')
STORE/ignore/<id>.png     uint8 (H, W): 255 where no label speaks (VOC void, COCO crowd); optional
STORE/quarantine.parquet  source, origin, reason, detail: one row per rejected item
STORE/store.json          whose store this is: {source, format, src} (ingest writes only into its own)
STORE/.ingest.lock        held (flock) while an ingest writes the store
```
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from core import io

SAMPLE_COLUMNS = ["id", "source", "split", "image", "alpha", "ignore", "width", "height", "persons",
                  "label_kind", "origin"]
QUARANTINE_COLUMNS = ["source", "origin", "reason", "detail"]
SPLITS = ("train", "val", "test")
ID_PATTERN = re.compile(r"[0-9a-f]{16}")  # sample ids (sample_id)
STORE_FILE = re.compile(r"[0-9a-f]{16}\.[a-z0-9]+")  # what ingest writes in STORE_DIRS: <id>.<ext>
STORE_DIRS = ("images", "alpha", "ignore")
MARKER = "store.json"
SAME_SOURCE = ("format", "src")  # what must match for a store to be rewritten (the name may change)
TABLES = ("samples.parquet", "quarantine.parquet")
LOCK = ".ingest.lock"
LABEL_KINDS = ("mask", "alpha", "none")  # none: no label (format images; the ensemble labels it)


@dataclass(frozen=True)
class Sample:
    """One row of samples.parquet; paths are relative to the store."""
    id: str
    source: str
    split: str
    image: str
    alpha: str | None  # None for label_kind 'none'
    ignore: str | None
    width: int
    height: int
    persons: int | None  # None for label_kind 'none'
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
    persons = "int64" if df["persons"].notna().all() else "Int64"  # null for label_kind 'none'
    return df.astype({"width": "int64", "height": "int64", "persons": persons})


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


# --- the store folder: whose it is, who writes it, what may be removed --------------------------

class StoreError(ValueError):
    """A store folder ingest must not write: another source's, a non-empty foreign folder, in use."""


def is_sample_id(text: object) -> bool:
    return isinstance(text, str) and ID_PATTERN.fullmatch(text) is not None


def check_folders(src: Path | str, out: Path | str) -> None:
    """StoreError when ``out`` is a file, or ``out`` and ``src`` are the same folder or nest."""
    src, out = Path(src).resolve(), Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file; expected a new or empty folder (or a store of this source)")
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        raise StoreError(f"--out {out} and --src {src} overlap (one is inside the other); ingest never "
                         "writes into its source: pass an --out outside the source folder")


@contextlib.contextmanager
def claim(out: Path | str, owner: dict[str, str]) -> Iterator[None]:
    """Hold ``out`` for one ingest of ``owner`` ({source, format, src}) while the block runs.

    ``out`` must be new, empty, or a store whose store.json names the same source (format and src;
    the name may change); a second writer while the lock is held is refused. StoreError otherwise,
    before anything in ``out`` but the lock file is touched.
    """
    out = Path(out)
    if out.is_dir():
        _owner(out)  # a foreign folder is refused before the lock file is made in it
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{out}: another ingest is writing this store ({out / LOCK} is locked); "
                             "wait for it to finish or pass another --out") from None
        found = _owner(out)
        if found is not None and {k: found.get(k) for k in SAME_SOURCE} != {k: owner[k] for k in SAME_SOURCE}:
            raise StoreError(f"{out}: holds the store of {found} (per its {MARKER}), not of {owner}; "
                             "pass a new or empty --out (or delete that store)")
        yield


def mark(out: Path | str, owner: dict[str, str]) -> None:
    """Record whose store ``out`` is (after its tables: an input found unusable leaves no mark)."""
    io.write_json(Path(out) / MARKER, owner)


def _owner(out: Path) -> dict | None:
    """The owner recorded in ``out`` (None when ``out`` is empty); StoreError for a foreign folder.

    A folder without store.json holding only what ingest writes (a store from before store.json,
    or one killed before it was written) counts as empty.
    """
    entries = {p.name for p in out.iterdir()} - {LOCK}
    marker = out / MARKER
    if marker.is_file():
        try:
            found = json.loads(marker.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"{marker}: unreadable ({e}); pass a new or empty --out") from e
        if isinstance(found, dict):
            return found
    foreign = sorted(e for e in entries - set(TABLES) - set(STORE_DIRS) if not io.is_temp_name(e))
    foreign += [f"{d}/{p.name}" for d in STORE_DIRS if (out / d).is_dir() for p in sorted((out / d).iterdir())
                if not (STORE_FILE.fullmatch(p.name) or io.is_temp_name(p.name))]
    if foreign:
        raise StoreError(f"{out}: not empty and not a sample store (no {MARKER}; it holds {foreign[:5]}); "
                         "ingest writes only into a new or empty folder or a store of the same source: "
                         "pass another --out")
    return None


def prune(out: Path | str, keep: set[str]) -> int:
    """Remove what an earlier ingest of this store wrote that ``keep`` (paths relative to ``out``)
    does not name: ``<id>.<ext>`` files in STORE_DIRS and the temporary files of killed writes.

    Any other file is left alone. Returns how many files were removed.
    """
    out = Path(out)
    removed = 0
    for folder in (out, *(out / d for d in STORE_DIRS)):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            rel = path.relative_to(out).as_posix()
            ours = io.is_temp_name(path.name) or (folder != out and STORE_FILE.fullmatch(path.name))
            if ours and rel not in keep and (path.is_symlink() or path.is_file()):  # unlink: never a target
                path.unlink()
                removed += 1
    return removed
