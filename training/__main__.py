"""`python -m training <command> ...`: the stage entry points of this package (each a module with main(argv))."""
from __future__ import annotations

import sys

from core.cli import run_command

# command -> (module holding `main(argv: list[str] | None) -> int | None`, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "testset": ("training.testset", "assemble the held-out test images and masks"),
    "train": ("training.train", "train the matting model on curated samples and composites"),
    "export": ("training.export", "export a checkpoint to ONNX (float and int8) and check parity"),
    "evaluate": ("training.evaluate", "score a model (and baselines) on a test set: IoU, MAD, ..., fps"),
    "report": ("training.report", "write the run report (reports/index.html)"),
    "summary": ("training.summary", "print ours vs the baselines: a small table and a verdict"),
    "release": ("training.release", "write training/weights/ (weights, ONNX, model card) from the release run"),
    "video": ("training.video", "matte a video file (background blur or replacement)"),
    "plots": ("training.plots", "render training and evaluation plots offline (reports/plots/index.html)"),
    "plots-template": ("training.plots_template", "build the offline plots template (vega inlined; `make setup`)"),
}


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m training", "Model: train, export, evaluate against the MediaPipe baselines, "
                       "report.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
