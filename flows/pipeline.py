"""The whole pipeline as a Prefect flow: one task per DVC stage, in dependency order.

Each task runs `dvc repro <stage>`, so DVC decides what is out of date and `dvc.lock` stays the
record of what was built; the flow only sequences, retries I/O failures, and publishes a run summary
(a Markdown table of every stage's metrics) as a Prefect artifact. The console shows which stages DVC
ran, which it skipped (unchanged) and which it restored from its run cache, then the summary and ours
vs the baselines (`python -m training summary`).

    python -m flows pipeline [--until evaluate]
"""
from __future__ import annotations

import argparse
import logging
import re

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from core.cli import stage_main
from flows import dvc, tasks
from training import summary

log = logging.getLogger(__name__)

# dvc.yaml's stages in dependency order (foreach groups by their group name).
STAGES = ("sample", "ingest", "autolabel", "clean", "inbox", "curate", "synthesize", "testset", "train",
          "export", "evaluate", "report")


# What `dvc repro` logs per stage (DVC 3), and what the flow calls it.
OUTCOMES = ((re.compile(r"^Running stage '([^']+)'"), "ran"),
            (re.compile(r"^Stage '([^']+)' didn't change, skipping"), "skipped"),
            (re.compile(r"^Stage '([^']+)' is cached - skipping run"), "restored"))


def stage_outcomes(repro_output: str) -> dict[str, str]:
    """stage (``ingest@sample-coco`` for foreach items) -> 'ran' | 'skipped' | 'restored', from `dvc repro`'s output."""
    outcomes: dict[str, str] = {}
    for line in repro_output.splitlines():
        for pattern, outcome in OUTCOMES:
            match = pattern.match(line.strip())
            if match:
                outcomes.setdefault(match.group(1), outcome)
    return outcomes


def outcome_lines(outcomes: dict[str, str]) -> list[str]:
    """One line per outcome: 'ran (3): train, export, evaluate'."""
    lines = []
    for outcome in ("ran", "restored", "skipped"):
        stages = [s for s, o in outcomes.items() if o == outcome]
        if stages:
            lines.append(f"{outcome} ({len(stages)}): {', '.join(stages)}")
    return lines or ["no stage ran: DVC printed no stage"]


def summary_table(metrics: dict[str, dict]) -> str:
    """Markdown: one row per metrics file, one cell per scalar (nested keys joined with '.')."""
    lines = ["| metrics file | figures |", "|---|---|"]
    for path in sorted(metrics):
        flat = summary.flatten(metrics[path])
        cells = ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items())
        lines.append(f"| `{path}` | {cells} |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@flow(name="pipeline", log_prints=False)
def pipeline(until: str = STAGES[-1], cwd: str = ".") -> dict[str, dict]:
    """Run the stages up to and including ``until``; returns the stage metrics."""
    if until not in STAGES:
        raise ValueError(f"`until` should be one of {list(STAGES)}, got {until!r}")
    outcomes: dict[str, str] = {}
    for stage in STAGES[: STAGES.index(until) + 1]:
        for name, outcome in stage_outcomes(tasks.repro_stage(stage, cwd=cwd)).items():
            outcomes.setdefault(name, outcome)
    run_log = get_run_logger()
    for line in outcome_lines(outcomes):
        run_log.info("stages %s", line)
    metrics = tasks.stage_metrics(cwd=cwd)
    run_log.info("%d metrics files:\n%s", len(metrics), summary_table(metrics))
    ran = "\n".join(f"- {line}" for line in outcome_lines(outcomes))
    create_markdown_artifact(key="pipeline-summary", markdown=f"{ran}\n\n{summary_table(metrics)}",
                             description="Stages DVC ran or skipped, and the stage metrics of this pipeline run")
    return metrics


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until", default=STAGES[-1], choices=STAGES, metavar="STAGE",
                        help=f"last stage to bring up to date (default: {STAGES[-1]}; one of {', '.join(STAGES)})")


def _run(args: argparse.Namespace) -> dict[str, dict]:
    metrics = pipeline(until=args.until)
    reports = dvc.stage_option("report", "--reports")  # where the pipeline's stages write their figures
    print(summary.end_of_run(reports, dvc_output_shown=False))  # the result (module loggers are silenced)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows pipeline", __doc__, None, None, _add_args, _run, argv,
                      metrics_help="write every stage's metrics (by metrics file) here (JSON)")
