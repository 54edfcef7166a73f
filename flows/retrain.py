"""Scheduled retraining: pull new corrections, rebuild, and promote only a better model.

Each run:
1. pulls the newest Label Studio corrections (when `retrain.pull_corrections` and a server answers);
2. asks DVC what is out of date; with nothing new and a champion in place it stops and says so;
3. `dvc repro` (the whole pipeline: curation, synthesis, training, export, evaluation, report);
4. evaluates the current champion on the same fixed test set as the candidate;
5. promotes the candidate (copies it to `models/champion/`) only when it is better by the margin in
   params and no guard metric regresses; every decision goes to `reports/retrain/history.jsonl`;
6. `dvc push` when a default remote is configured.

    python -m flows retrain          # one run now
    python -m flows serve            # serve it on the cron schedule in params (retrain.cron)
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task

from core.cli import setup_logging
from core.config import load_section
from flows import dvc, tasks
from training import champion

log = logging.getLogger(__name__)

# The pipeline's outputs this flow reads (dvc.yaml writes them; other tools read these paths too).
MODEL_FILES = ("models/matting.pt", "models/matting.onnx", "models/matting.int8.onnx")
CANDIDATE_METRICS = "reports/eval/metrics.json"
TESTSET = "data/testset"
CHAMPION_DIR = "models/champion"
CHAMPION_EVAL = "reports/retrain/champion-eval"
HISTORY = "reports/retrain/history.jsonl"


@dataclass(frozen=True)
class RetrainParams:
    cron: str = "0 3 * * 1"              # when `python -m flows serve` runs it (cron, server time zone)
    pull_corrections: bool = True         # pull the newest Label Studio round before checking for new data
    push: bool = True                     # `dvc push` after a run when a default remote is configured
    rule: champion.PromotionRule = field(default_factory=champion.PromotionRule)
    initial_champion: str = "training/weights/matting.onnx"  # the champion until a candidate is promoted:
    # the release ("" or a missing file: the first candidate is promoted)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=tasks.retry_on_io)
def pull_corrections(cwd: str) -> str:
    """Pull the newest correction round from Label Studio; a server that does not answer is not fatal."""
    proc = subprocess.run([sys.executable, "-m", "labeling", "studio", "pull", "--latest",
                           "--out", "data/corrections"], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip()[-500:]
        get_run_logger().warning("no corrections pulled (Label Studio: %s)", why)
        return "skipped"
    return "pulled"


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=tasks.retry_on_io)
def evaluate_champion(cwd: str, initial: str = "") -> dict | None:
    """The champion's metrics on the current fixed test set: the promoted champion, else ``initial``
    (the release) when it exists, else None."""
    root = Path(cwd)
    model = root / CHAMPION_DIR / Path(MODEL_FILES[1]).name
    if not model.is_file():
        model = root / initial if initial else model
    if not model.is_file():
        return None
    out = root / CHAMPION_EVAL
    subprocess.run([sys.executable, "-m", "training", "evaluate", "--model", str(model),
                    "--images", f"{TESTSET}/images", "--masks", f"{TESTSET}/masks", "--out", str(out)],
                   cwd=cwd, check=True, capture_output=True, text=True)
    return json.loads((out / "metrics.json").read_text())


@flow(name="retrain")
def retrain(cwd: str = ".", params_file: str = "params.yaml") -> dict:
    """One retraining run; returns what it did (`action`: nothing | promoted | kept) and why."""
    root = Path(cwd)
    params = load_section("retrain", RetrainParams, root / params_file)
    if params.pull_corrections:
        pull_corrections(cwd)
    stale = tasks.stale_stages(cwd)
    has_champion = champion.champion_metrics(root / CHAMPION_DIR) is not None
    if not stale and has_champion:
        get_run_logger().info("no new data and no changed stage since the last build: nothing to do")
        return {"action": "nothing", "reason": "no new data"}
    tasks.repro_stage.with_options(task_run_name="dvc repro (all)")(None, cwd=cwd)
    candidate = json.loads((root / CANDIDATE_METRICS).read_text())
    current = evaluate_champion(cwd, params.initial_champion)
    decision = champion.decide(candidate, current, params.rule)
    action = "promoted" if decision.promote else "kept"
    if decision.promote:
        champion.promote([root / f for f in MODEL_FILES], candidate, root / CHAMPION_DIR)
    entry = {"action": action, "reason": decision.reason, "stale_stages": stale,
             "candidate": {k: candidate.get(k) for k in ("iou", "boundary_iou", "mad", "grad", "n")},
             "champion": None if current is None else {k: current.get(k) for k in ("iou", "boundary_iou", "mad",
                                                                                   "grad", "n")}}
    champion.record(root / HISTORY, entry)
    get_run_logger().info("%s: %s", action, decision.reason)
    if params.push and dvc.default_remote(cwd):
        dvc.push(cwd)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows retrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    setup_logging()
    result = retrain(params_file=args.params)
    log.info("retrain: %s", result["action"])
    return 0
