"""`python -m datasets <command> ...`: the stage entry points of this package (each a module with main(argv))."""
from __future__ import annotations

import sys

from core.cli import run_command

# command -> (module holding `main(argv: list[str] | None) -> int | None`, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sample": ("datasets.sample", "write the embedded sample (a few images in each of the four formats)"),
    "ingest": ("datasets.ingest", "read one source (coco, voc, supervisely, aisegment, images) into a sample store"),
    "synthesize": ("datasets.synthesize", "composite people onto backgrounds (training images, priors, clips)"),
}


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m datasets", "Data: ingest public person datasets into sample stores, "
                       "and synthesize composites.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
