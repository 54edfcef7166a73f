"""The pipeline flow's console: which stages DVC ran, skipped or restored; Prefect's settings file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flows import pipeline

REPRO = """Stage 'sample' didn't change, skipping
Running stage 'ingest@sample-coco':
> python -m datasets ingest --format coco ...
Stage 'ingest@sample-voc' is cached - skipping run, checking out outputs
Running stage 'train':
Stage 'sample' didn't change, skipping
"""


def test_stage_outcomes_from_repro_output():
    outcomes = pipeline.stage_outcomes(REPRO)
    assert outcomes == {"sample": "skipped", "ingest@sample-coco": "ran", "ingest@sample-voc": "restored",
                        "train": "ran"}
    assert pipeline.outcome_lines(outcomes) == ["ran (2): ingest@sample-coco, train",
                                                "restored (1): ingest@sample-voc", "skipped (1): sample"]


def test_plain_prefect_cli_finds_the_project_settings(repo_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    prefect = Path(sys.executable).parent / "prefect"
    proc = subprocess.run([str(prefect), "config", "view", "--show-sources"], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "PREFECT_HOME='.prefect' (from prefect.toml)" in proc.stdout
