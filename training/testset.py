"""`python -m training testset --store S [--composites C] --out OUT`: the fixed test set evaluation reads.

```
OUT/images/<stem>.<ext>   store test samples (original bytes, stem = sample id) and test-split composites
OUT/masks/<stem>.png      their alpha (uint8, 0..255)
OUT/index.parquet         stem, kind ('store' | 'composite'), source (store or composites folder), split
```
Files are hard links (or copies) of the sources; files of an earlier run that are no longer part of
the set are removed, so the folder always equals the current test split.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from core import io
from core.cli import stage_main
from datasets.store import Store

log = logging.getLogger(__name__)


def run(out: Path, stores: list[Path] = (), composites: list[Path] = (), split: str = "test") -> dict:
    """Link the ``split`` rows of the stores and composites into ``out``; returns counts."""
    if not stores and not composites:
        raise ValueError("no source for the test set: pass --store and/or --composites")
    entries: dict[str, tuple[Path, Path, str, str]] = {}  # stem -> (image, mask, kind, source)

    def add(stem: str, image: Path, mask: Path, kind: str, source: Path) -> None:
        if stem in entries:
            raise ValueError(f"test set: stem {stem!r} occurs twice ({entries[stem][0]} and {image}); "
                             "sample ids and composite ids must be unique")
        entries[stem] = (image, mask, kind, str(source))

    for root in stores:
        store = Store(root)
        for row in store.samples[store.samples["split"] == split].itertuples(index=False):
            add(row.id, store.path(row.image), store.path(row.alpha), "store", root)
    for root in composites:
        table = Path(root) / "composites.parquet"
        if not table.is_file():
            raise FileNotFoundError(f"{root}: no composites.parquet (run `python -m datasets synthesize` first)")
        df = pd.read_parquet(table)
        for cid in df.loc[df["split"] == split, "cid"]:
            add(str(cid), Path(root) / "images" / f"{cid}.jpg", Path(root) / "alpha" / f"{cid}.png", "composite",
                root)
    wanted = set()
    for stem, (image, mask, _, _) in sorted(entries.items()):
        for src, dst in ((image, out / "images" / f"{stem}{image.suffix.lower()}"), (mask, out / "masks" / f"{stem}.png")):
            if not src.is_file():
                raise FileNotFoundError(f"{src}: listed in its table but missing (re-run the stage that wrote it)")
            io.link_or_copy(src, dst)
            wanted.add(dst)
    for folder in (out / "images", out / "masks"):
        if folder.is_dir():
            for stale in folder.iterdir():
                if stale.is_file() and stale not in wanted:
                    stale.unlink()
    index = pd.DataFrame([{"stem": s, "kind": k, "source": src, "split": split}
                          for s, (_, _, k, src) in sorted(entries.items())], columns=["stem", "kind", "source", "split"])
    io.write_parquet(out / "index.parquet", index)
    counts = {"images": len(entries), "store": int((index["kind"] == "store").sum()),
              "composites": int((index["kind"] == "composite").sum())}
    log.info("test set %s: %s", out, counts)
    if not entries:
        log.warning("test set %s is empty: no rows of split %r", out, split)
    return counts


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training testset", __doc__, None, None, _add_args,
                      lambda args: run(args.out, args.store, args.composites, args.split), argv,
                      metrics_help="write the counts here (JSON)")


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, action="append", default=[], help="sample store (repeatable)")
    parser.add_argument("--composites", type=Path, action="append", default=[], help="composites folder (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="test-set folder to write")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split (default: test)")
