"""The whole pipeline as a Prefect flow: one task per DVC stage, in dependency order.

Each task runs `dvc repro <stage>`, so DVC decides what is out of date and `dvc.lock` stays the
record of what was built; the flow only sequences, retries I/O failures, and publishes a run summary
(a Markdown table of every stage's metrics) as a Prefect artifact.

    python -m flows pipeline [--until evaluate]
"""
from __future__ import annotations

import argparse
import logging

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from datasets.cli import setup_logging
from flows import tasks

log = logging.getLogger(__name__)

# dvc.yaml's stages in dependency order (foreach groups by their group name).
STAGES = ("sample", "ingest", "autolabel", "clean", "inbox", "curate", "synthesize", "testset", "train",
          "export", "evaluate", "report")


def summary_table(metrics: dict[str, dict]) -> str:
    """Markdown: one row per metrics file, one cell per scalar (nested keys joined with '.')."""
    lines = ["| metrics file | figures |", "|---|---|"]
    for path in sorted(metrics):
        flat = _flatten(metrics[path])
        cells = ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items())
        lines.append(f"| `{path}` | {cells} |")
    return "\n".join(lines)


def _flatten(obj, prefix: str = "") -> dict:
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict = {}
    for key, value in obj.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@flow(name="pipeline", log_prints=False)
def pipeline(until: str = STAGES[-1], cwd: str = ".") -> dict[str, dict]:
    """Run the stages up to and including ``until``; returns the stage metrics."""
    if until not in STAGES:
        raise ValueError(f"`until` should be one of {list(STAGES)}, got {until!r}")
    for stage in STAGES[: STAGES.index(until) + 1]:
        tasks.repro_stage(stage, cwd=cwd)
    metrics = tasks.stage_metrics(cwd=cwd)
    create_markdown_artifact(key="pipeline-summary", markdown=summary_table(metrics),
                             description="Stage metrics of this pipeline run")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--until", default=STAGES[-1], choices=STAGES)
    args = parser.parse_args(argv)
    setup_logging()
    metrics = pipeline(until=args.until)
    log.info("pipeline done: %d metrics files\n%s", len(metrics), summary_table(metrics))
    return 0
