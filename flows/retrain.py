"""Scheduled retraining: pull new corrections, rebuild, and promote only a better model.

Each run:
1. pulls the newest Label Studio corrections (when `retrain.pull_corrections` and a server answers);
2. asks DVC what is out of date; with nothing new and a champion in place it stops and says so;
3. `dvc repro` (the whole pipeline: curation, synthesis, training, export, evaluation, report);
4. evaluates the current champion on the same fixed test set as the candidate;
5. promotes the candidate (copies it to the champion folder) only when it is better by the margin in
   params and no guard metric regresses; every decision goes to the retrain history;
6. `dvc push` when a default remote is configured.

Every path comes from dvc.yaml: the test set, the candidate and its metrics from the `evaluate` stage's
command, the model files from the `train` and `export` stages' outputs, the corrections folder from the
`curate` stage's command, the champion and the history from `vars: flows` (`champion`, `retrain`).

    python -m flows retrain          # one run now
    python -m flows serve            # serve it on the cron schedule in params (retrain.cron)
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task

from core.cli import stage_main
from core.config import load_section
from core.processes import ServerError
from flows import dvc, tasks
from flows.label_round import studio_params
from labeling import studio
from training import champion, evaluate

log = logging.getLogger(__name__)

HISTORY, CHAMPION_EVAL = "history.jsonl", "champion-eval"  # in dvc.yaml's `vars: flows: retrain` folder
REPORTED = ("iou", "boundary_iou", "mad", "grad", "n")  # the figures of each side a decision records


@dataclass(frozen=True)
class RetrainParams:
    cron: str = "0 3 * * 1"              # when `python -m flows serve` runs it (cron, server time zone)
    pull_corrections: bool = True         # pull the newest Label Studio round before checking for new data
    push: bool = True                     # `dvc push` after a run when a default remote is configured
    rule: champion.PromotionRule = field(default_factory=champion.PromotionRule)
    initial_champion: str = "training/weights/matting.onnx"  # the champion until a candidate is promoted:
    # the release ("" or a missing file: the first candidate is promoted)


@dataclass(frozen=True)
class Paths:
    """What a retraining run reads and writes, as dvc.yaml names it (relative to the run's folder)."""
    model: Path             # `evaluate --model`: the candidate scored on the test set (and the champion's file name)
    images: Path            # `evaluate --images`, `--masks`: the fixed test set
    masks: Path
    candidate_eval: Path    # `evaluate --out`: the candidate's metrics.json
    model_files: list[Path]  # the `train` and `export` stages' outs: what a promotion copies
    corrections: Path       # `curate --corrections`: where pulled rounds go
    champion: Path          # `vars: flows: champion`
    reports: Path           # `vars: flows: retrain`: history.jsonl, champion-eval/

    @classmethod
    def of(cls, root: Path) -> Paths:
        def option(stage: str, name: str) -> Path:
            return dvc.stage_option(stage, name, root)

        return cls(model=option("evaluate", "--model"), images=option("evaluate", "--images"),
                   masks=option("evaluate", "--masks"), candidate_eval=option("evaluate", "--out"),
                   model_files=dvc.stage_outs("train", root) + dvc.stage_outs("export", root),
                   corrections=option("curate", "--corrections"), champion=dvc.flow_path("champion", root),
                   reports=dvc.flow_path("retrain", root))


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=tasks.retry_on_io)
def pull_corrections(params: studio.StudioParams, corrections: Path) -> str:
    """Pull the newest correction round from Label Studio; a server that does not answer is not fatal."""
    try:
        client = studio.connect(params)
        round_no = studio.latest_round(client, params)
        studio.pull_round(params, round_no, corrections / f"round-{round_no}", client)
    except (studio.StudioError, ServerError, FileNotFoundError) as e:
        get_run_logger().warning("no corrections pulled (Label Studio: %s)", e)
        return "skipped"
    return "pulled"


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=tasks.retry_on_io)
def evaluate_champion(paths: Paths, params_path: Path, initial: Path | None = None) -> dict | None:
    """The champion's metrics on the current fixed test set: the promoted champion, else ``initial``
    (the release) when it exists, else None."""
    model = paths.champion / paths.model.name
    if not model.is_file():
        model = initial or model
    if not model.is_file():
        return None
    params = load_section("evaluate", evaluate.EvaluateParams, params_path)
    return evaluate.run(params, str(model), paths.images, paths.masks, paths.reports / CHAMPION_EVAL,
                        params_path=params_path)


@flow(name="retrain")
def retrain(cwd: str = ".", params_file: str = "params.yaml") -> dict:
    """One retraining run; returns what it did (`action`: nothing | promoted | kept) and why."""
    root = Path(cwd)
    params = load_section("retrain", RetrainParams, root / params_file)
    paths = Paths.of(root)
    if params.pull_corrections:
        pull_corrections(studio_params(root, params_file), paths.corrections)
    stale = tasks.stale_stages(cwd)
    has_champion = champion.champion_metrics(paths.champion) is not None
    if not stale and has_champion:
        get_run_logger().info("no new data and no changed stage since the last build: nothing to do")
        return {"action": "nothing", "reason": "no new data"}
    tasks.repro_stage.with_options(task_run_name="dvc repro (all)")(None, cwd=cwd)
    candidate = json.loads((paths.candidate_eval / "metrics.json").read_text())
    current = evaluate_champion(paths, root / params_file,
                                root / params.initial_champion if params.initial_champion else None)
    decision = champion.decide(candidate, current, params.rule)
    action = "promoted" if decision.promote else "kept"
    if decision.promote:
        champion.promote(paths.model_files, candidate, paths.champion)
    entry = {"action": action, "reason": decision.reason, "stale_stages": stale,
             "candidate": {k: candidate.get(k) for k in REPORTED},
             "champion": None if current is None else {k: current.get(k) for k in REPORTED}}
    champion.record(paths.reports / HISTORY, entry)
    get_run_logger().info("%s: %s", action, decision.reason)
    if params.push and dvc.default_remote(cwd):
        dvc.push(cwd)
    return entry


def _run(_: RetrainParams, args: argparse.Namespace) -> dict:
    # the kernel has checked the section (a bad param exits 2); the flow reads its params file itself,
    # as a scheduled run (`python -m flows serve`) does
    result = retrain(params_file=str(args.params))
    log.info("retrain: %s", result["action"])
    return result


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows retrain", __doc__, "retrain", RetrainParams, lambda parser: None, _run, argv,
                      metrics_help="write what the run did (action, reason, both sides' figures) here (JSON)")
