"""`python -m labeling <command> ...`: the stage entry points of this package (each a module with main(argv))."""
from __future__ import annotations

import sys

from core.cli import run_command

# command -> (module holding `main(argv: list[str] | None) -> int | None`, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "autolabel": ("labeling.autolabel", "label a store with the ensemble (every member's alpha, the fused alpha)"),
    "clean": ("labeling.clean", "score each label's quality, flag doubtful ones, decide keep/refine/replace/review"),
    "score": ("labeling.score", "score masks in a folder against ground truth (IoU, boundary IoU, MAD)"),
    "review": ("labeling.review", "FiftyOne review: build the dataset, open the App, pull people's tags"),
    "studio": ("labeling.studio", "Label Studio rounds: serve, push samples to correct, pull corrections"),
    "fit-fusion": ("labeling.fit_fusion", "fit the ensemble's fusion (logistic stacking) on labelled stores"),
    "curate": ("labeling.curate", "choose each sample's final label (ground truth, ensemble, correction)"),
}


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m labeling", "Labels: auto-label with an ensemble, clean, and put people in "
                       "the loop (FiftyOne review, Label Studio corrections).", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
