"""What every stage entry point shares: logging set-up, progress bars, metrics files."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

from datasets import io

T = TypeVar("T")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm bar on stderr that hides itself when stderr is not a terminal (CI, DVC logs)."""
    return iter(tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False))


def write_metrics(path: Path | str | None, metrics: dict[str, Any]) -> None:
    """Write a stage's metrics JSON (atomically); ``None`` writes nothing."""
    if path is not None:
        io.write_json(path, metrics)
