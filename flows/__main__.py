"""`python -m flows <command> ...`: the stage entry points of this package (each a module with main(argv))."""
from __future__ import annotations

import sys

from core.cli import run_command

# command -> (module holding `main(argv: list[str] | None) -> int | None`, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": ("flows.pipeline", "run the DVC pipeline stage by stage under Prefect; print what ran"),
    "ingest": ("flows.ingest", "ingest every configured source (one task per source)"),
    "autolabel": ("flows.autolabel", "auto-label stores on a task runner (threads or a Dask cluster)"),
    "label-round": ("flows.label_round", "one Label Studio correction round: push, wait, pull, retrain"),
    "retrain": ("flows.retrain", "retrain, evaluate and promote the model when it beats the champion"),
    "serve": ("flows.serve", "serve the retraining flow on its cron schedule"),
}


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m flows", "Prefect flows over the pipeline: sequencing, retries, schedules.",
                       COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
