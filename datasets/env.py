"""Environment defaults the stack needs to run offline and quietly (see ENVIRONMENT.md).

Imported by ``datasets/__init__.py``, so every entry point (``python -m datasets|labeling|training|flows``,
DVC stages, tests) gets them without anyone exporting them by hand. Values already set win.
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
}


def apply() -> None:
    """Set every default that the caller's environment does not already set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
