"""`python -m datasets ingest`: one person dataset (COCO, PascalVOC, Supervisely, AISegment) -> a sample store.

```
python -m datasets ingest --format {coco,voc,supervisely,aisegment} --src DIR --out STORE [--name NAME]
    [--annotations FILE] [--person-classes a,b] [--params params.yaml] [--metrics PATH] [--workers N]
```
Writes the sample store of DESIGN.md (``samples.parquet``, ``images/``, ``alpha/``, ``ignore/``,
``quarantine.parquet``). The reader yields light item descriptors in this process; worker processes
turn each into a sample (writing its files atomically at their final paths), a quarantine row or a
no-person count. Tables are sorted by id, so they are identical across runs and worker counts.
Folders (docs/ingest.md): ``--out`` must be new, empty, or a store of the same source (its
``store.json`` says whose), and must not overlap ``--src``; a second ingest writing the same store
at the same time is refused. Only what ingest itself wrote is ever removed: ``<id>.<ext>`` files in
``images/``, ``alpha/`` and ``ignore/`` that the new tables do not name (an earlier run's) and the
temporary files of a killed run, so a killed run started again ends with the same store. Files the
source offers through symlinks are stored as regular files; a link out of the source folder is
quarantined ``path_outside_root``.

Accounting: offered = samples + quarantined + no_person. The stage fails (exit 1, after writing the
tables and metrics) when quarantined / offered exceeds ``ingest.max_bad_fraction``; a whole
unusable input (no folder, no annotation file, wrong format) stops at once (exit 2).
"""
from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np

from core import io
from datasets import readers
from core.cli import StageFailed, progress, stage_main
from core.config import ParamsError
from core.io import BadFile
from datasets.readers.common import Item, UnusableInput, escapes_root, item_paths
from datasets.store import (SPLITS, Rejected, Sample, check_folders, claim, mark, prune,
                            sample_id, split_for, write_tables)
from core.workers import die_with_parent

log = logging.getLogger(__name__)

CHUNK_SIZE = 8  # items per task handed to a worker process (amortises the pickling round trip)


@dataclass(frozen=True)
class IngestParams:
    """The ``ingest`` section of params.yaml."""
    splits: dict[str, float] = field(  # train/val/test ratios for sources without their own split
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    test_from_val: float = 0.0  # share of a source's OWN val rows (by id hash) moved to test, for sources that
    # ship train/val only (e.g. a VOC copy): keeps a test split out of training and validation; [0, 1]
    max_bad_fraction: float = 0.3  # the stage fails when quarantined / offered exceeds this
    min_person_pixels: int = 64  # person masks with fewer pixels (alpha >= 128) -> quarantine tiny_mask
    person_classes: dict[str, list[str]] = field(  # per format; --person-classes overrides
        default_factory=lambda: {"coco": ["person"], "voc": ["person"],
                                 "supervisely": ["person", "person_poly", "person_bmp"]})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.splits) - set(SPLITS))
        if unknown or abs(sum(self.splits.values()) - 1.0) > 1e-6 or min(self.splits.values()) < 0:
            raise ParamsError(f"`ingest.splits` should map {list(SPLITS)} to fractions summing to 1, "
                              f"got {self.splits}")
        if not 0.0 <= self.test_from_val <= 1.0:
            raise ParamsError(f"`ingest.test_from_val` should be in [0, 1], got {self.test_from_val}")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ParamsError(f"`ingest.max_bad_fraction` should be in [0, 1], got {self.max_bad_fraction}")
        if self.min_person_pixels < 0:
            raise ParamsError(f"`ingest.min_person_pixels` should be >= 0, got {self.min_person_pixels}")
        unknown = sorted(set(self.person_classes) - set(readers.FORMATS))
        if unknown:
            raise ParamsError(f"`ingest.person_classes`: unknown format(s) {unknown}; "
                              f"known: {list(readers.FORMATS)}")


class TooManyBad(StageFailed):
    """More of the source was quarantined than ``ingest.max_bad_fraction`` allows (tables are written)."""


@dataclass(frozen=True)
class Job:
    """What every worker needs besides the item (sent once per process)."""
    fmt: str
    source: str
    out: Path
    splits: dict[str, float]
    min_person_pixels: int
    root: str = ""  # the source folder's real path: files the items name must resolve under it
    test_from_val: float = 0.0


@dataclass(frozen=True)
class NoPerson:
    origin: str


Outcome = Union[Sample, Rejected, NoPerson]


def run(params: IngestParams, fmt: str, src: Path, out: Path, name: str | None = None,
        annotations: Path | None = None, person_classes: tuple[str, ...] | None = None,
        workers: int = 1) -> dict:
    """Ingest ``src`` (format ``fmt``) into the store ``out``; return the figures of the run.

    Raises UnusableInput when the input as a whole cannot be read, TooManyBad (after writing the
    tables) when the quarantined fraction exceeds ``params.max_bad_fraction``.
    """
    out = Path(out)
    check_folders(src, out)
    name = name or out.resolve().name
    if person_classes is None and fmt in params.person_classes:
        person_classes = tuple(params.person_classes[fmt])
    source = readers.open_source(fmt, src, annotations=annotations, person_classes=person_classes)
    root = os.path.realpath(src)
    job = Job(fmt=fmt, source=name, out=out, splits=dict(params.splits),
              min_person_pixels=params.min_person_pixels, root=root, test_from_val=params.test_from_val)
    with claim(out, _owner(job)):
        return _ingest(params, source.items(), job, src, workers)


def _ingest(params: IngestParams, items: Iterable[Item], job: Job, src: Path, workers: int) -> dict:
    """Convert every item into the claimed store ``job.out``; write the tables; prune; the figures."""
    fmt, name, out = job.fmt, job.source, job.out
    samples: list[Sample] = []
    rejected: list[Rejected] = []
    no_person: list[str] = []
    for outcome in progress(convert_all(items, job, workers), desc=f"ingest {name}"):
        if isinstance(outcome, Sample):
            samples.append(outcome)
        elif isinstance(outcome, Rejected):
            rejected.append(outcome)
        else:
            no_person.append(outcome.origin)
    offered = len(samples) + len(rejected) + len(no_person)
    if offered == 0:
        raise UnusableInput(f"{src}: the {fmt} source offers no items (no images or annotations found)")
    write_tables(out, samples, rejected)
    mark(out, _owner(job))
    removed = prune(out, {p for s in samples for p in (s.image, s.alpha, s.ignore) if p is not None})
    figures = _figures(name, fmt, samples, rejected, no_person)
    log.info("%s: %d offered -> %d samples, %d quarantined %s, %d without a person%s", name, offered,
             len(samples), len(rejected), figures["reasons"], len(no_person),
             f"; removed {removed} stale files" if removed else "")
    if figures["quarantined_fraction"] > params.max_bad_fraction:
        raise TooManyBad(f"{name}: {len(rejected)} of {offered} items quarantined "
                         f"({figures['quarantined_fraction']:.1%}), more than ingest.max_bad_fraction = "
                         f"{params.max_bad_fraction:.1%}; see {out / 'quarantine.parquet'}", figures)
    return figures


def _owner(job: Job) -> dict[str, str]:
    """What store.json records: the source's name, format and real folder."""
    return {"source": job.source, "format": job.fmt, "src": job.root}


def convert_all(items: Iterable[Item], job: Job, workers: int) -> Iterator[Outcome]:
    """Convert items in ``workers`` processes (1: in this one), a bounded number of chunks in flight.

    Outcomes come in completion order; ``run`` sorts the tables.
    """
    if workers <= 1:
        _init(job)
        yield from (convert(item) for item in items)
        return
    items = iter(items)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(job, os.getpid())) as pool:
        pending: set[Future] = set()
        while True:
            while len(pending) < 3 * workers:
                chunk = list(islice(items, CHUNK_SIZE))
                if not chunk:
                    break
                pending.add(pool.submit(_convert_chunk, chunk))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from future.result()


_JOB: Job | None = None


def _init(job: Job, parent: int | None = None) -> None:
    """Worker set-up: the job, and (in a pool) ending with the parent process."""
    global _JOB
    _JOB = job
    if parent is not None:
        die_with_parent(parent)


def _convert_chunk(items: list[Item]) -> list[Outcome]:
    return [convert(item) for item in items]


def convert(item: Item, job: Job | None = None) -> Outcome:
    """One item -> a Sample (its files written), a Rejected row, or NoPerson."""
    job = job or _JOB
    assert job is not None, "convert() needs a Job (pass one, or call _init first)"
    try:
        return _convert(item, job)
    except BadFile as e:
        return Rejected(source=job.source, origin=item.origin, reason=e.reason, detail=e.detail)


def _convert(item: Item, job: Job) -> Outcome:
    if item.defect is not None:
        reason, detail = item.defect
        raise BadFile(reason, detail)
    for path in item_paths(item):
        if job.root and escapes_root(path, job.root):
            raise BadFile("path_outside_root", f"{item.origin}: {path} resolves to "
                          f"{os.path.realpath(path)}, outside the source folder {job.root}; not read")
    labels = readers.module(job.fmt).labels(item)
    if labels is None:
        return NoPerson(item.origin)
    assert item.image is not None
    if labels.alpha is None:  # label_kind 'none' (format images): the image alone
        return _unlabeled(item, job)
    lh, lw = labels.alpha.shape
    width, height = io.check_image(item.image)  # a full decode: truncated data is bad_image here
    if (width, height) != (lw, lh):
        raise BadFile("size_mismatch", f"{item.origin}: the labels are {lw}x{lh} but the image is "
                      f"{width}x{height}")
    person_pixels = int(np.count_nonzero(labels.alpha >= 128))
    if person_pixels < job.min_person_pixels:
        raise BadFile("tiny_mask", f"{item.origin}: {person_pixels} person pixels, fewer than "
                      f"ingest.min_person_pixels = {job.min_person_pixels}")
    id_ = sample_id(job.source, item.origin)
    image_rel = f"images/{id_}{item.image.suffix.lower() or '.img'}"
    io.link_or_copy(item.image, job.out / image_rel)
    io.write_png(job.out / "alpha" / f"{id_}.png", labels.alpha)
    ignore_rel = None
    if labels.ignore is not None and labels.ignore.any():
        ignore_rel = f"ignore/{id_}.png"
        io.write_png(job.out / ignore_rel, labels.ignore)
    split = _split(item, id_, job)
    return Sample(id=id_, source=job.source, split=split,
                  image=image_rel, alpha=f"alpha/{id_}.png", ignore=ignore_rel, width=width,
                  height=height, persons=labels.persons, label_kind=labels.label_kind, origin=item.origin)


def _split(item: Item, id_: str, job: Job) -> str:
    """The source's own split, else one by id hash; `ingest.test_from_val` of its own val goes to test."""
    if item.split == "val" and job.test_from_val:
        return split_for(id_, {"val": 1.0 - job.test_from_val, "test": job.test_from_val})
    return item.split or split_for(id_, job.splits)


def _unlabeled(item: Item, job: Job) -> Sample:
    """A sample without labels (alpha, ignore and persons null) once its image decodes."""
    width, height = io.check_image(item.image)
    id_ = sample_id(job.source, item.origin)
    image_rel = f"images/{id_}{item.image.suffix.lower() or '.img'}"
    io.link_or_copy(item.image, job.out / image_rel)
    split = _split(item, id_, job)
    return Sample(id=id_, source=job.source, split=split, image=image_rel,
                  alpha=None, ignore=None, width=width, height=height, persons=None, label_kind="none",
                  origin=item.origin)


def _figures(name: str, fmt: str, samples: list[Sample], rejected: list[Rejected],
             no_person: list[str]) -> dict:
    offered = len(samples) + len(rejected) + len(no_person)
    return {
        "source": name, "format": fmt, "offered": offered, "samples": len(samples),
        "quarantined": len(rejected), "no_person": len(no_person),
        "quarantined_fraction": round(len(rejected) / offered, 6) if offered else 0.0,
        "persons": sum(s.persons or 0 for s in samples),
        "reasons": dict(sorted(Counter(r.reason for r in rejected).items())),
        "splits": {split: sum(s.split == split for s in samples) for split in SPLITS},
        "label_kinds": dict(sorted(Counter(s.label_kind for s in samples).items())),
        "with_ignore": sum(s.ignore is not None for s in samples),
    }


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=readers.FORMATS, help="the source's format")
    parser.add_argument("--src", required=True, type=Path, help="the source folder")
    parser.add_argument("--out", required=True, type=Path, help="the sample store to write")
    parser.add_argument("--name", help="source name (the `source` column, the id seed); default: "
                        "the store's folder name")
    parser.add_argument("--annotations", type=Path, help="COCO: the instances JSON; Supervisely: meta.json")
    parser.add_argument("--person-classes", help="comma-separated class names that mean person "
                        "(default: ingest.person_classes of the format)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (1 = in this process; default: all cores)")


def _run(params: IngestParams, args: argparse.Namespace) -> dict:
    classes = tuple(c.strip() for c in args.person_classes.split(",") if c.strip()) \
        if args.person_classes else None
    return run(params, args.format, args.src, args.out, name=args.name, annotations=args.annotations,
               person_classes=classes, workers=args.workers)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m datasets ingest", __doc__, "ingest", IngestParams, _add_args, _run, argv,
                      metrics_help="write the run's counts here (JSON)")
