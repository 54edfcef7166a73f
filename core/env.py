"""Environment defaults the stack needs to run offline and quietly (see ENVIRONMENT.md).

Applied once, at entry: by ``core.cli.run_command`` (every ``python -m datasets|labeling|training|flows``
command, so every DVC stage and flow), by the benchmark scripts and by the tests' conftest, before
they import torch, FiftyOne or Prefect. A notebook that uses the packages as a library calls
``core.env.apply()`` first. Values already set win.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository root

DEFAULTS = {
    "FIFTYONE_DO_NOT_TRACK": "true",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": str(ROOT / ".prefect"),
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "MODEL_CHECKSUM_DISABLED": "1",
    "FIFTYONE_DATABASE_DIR": str(ROOT / ".fiftyone" / "db"),
    # OpenMP threads that sleep when idle instead of spinning (read when torch is imported). With spinning
    # (the default), two processes on a busy 2-core machine made a training step 50x slower (0.2 s ->
    # 10-14 s); passive waiting costs little on an idle machine.
    "OMP_WAIT_POLICY": "PASSIVE",
}


def apply() -> None:
    """Set every default that the caller's environment does not already set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
