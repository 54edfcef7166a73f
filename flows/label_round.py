"""A Label Studio correction round, end to end: push, wait for people, pull, curate, retrain, evaluate.

    python -m flows label-round --round 3 [--timeout-h 72] [--poll-s 60]

Steps (each recorded in `round-N.json` in dvc.yaml's `vars: flows: rounds` folder when done, so a rerun
resumes after the last finished step; pushing is idempotent anyway):
1. push: the samples whose decision is `review` (or tagged `fix` in FiftyOne) of every configured
   source, with the ensemble mask pre-loaded (a Label Studio server must be running:
   `python -m labeling studio serve`);
2. wait: poll the round until every task is annotated or skipped, or fail after the timeout (run
   the flow again later: it picks up at the wait);
3. pull: the corrections into `round-N/` of the corrections folder;
4. retrain: `dvc repro` up to the evaluation (curation, synthesis, training, export, evaluation) and the report.

The stores, labels, review tables and corrections are the folders dvc.yaml gives the `curate` stage.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from core import io
from core.cli import stage_main
from core.config import load_section
from datasets.sources import load_sources
from flows import dvc, tasks
from labeling import studio

log = logging.getLogger(__name__)

STEPS = ("push", "wait", "pull", "retrain")


def studio_params(root: Path, params_file: str | Path) -> studio.StudioParams:
    """params' `studio` section with its folders under ``root`` (the flow's folder, wherever it runs from)."""
    params = load_section("studio", studio.StudioParams, root / params_file)
    return dataclasses.replace(params, document_root=str(root / params.document_root),
                               data_dir=str(root / params.data_dir))


def _state_path(root: Path, round_no: int) -> Path:
    return dvc.flow_path("rounds", root) / f"round-{round_no}.json"


def load_state(root: Path, round_no: int) -> dict:
    path = _state_path(root, round_no)
    return json.loads(path.read_text()) if path.is_file() else {"round": round_no, "done": {}}


def mark_done(root: Path, state: dict, step: str, result: dict) -> None:
    state["done"][step] = result
    io.write_json(_state_path(root, state["round"]), state)


@task(retries=3, retry_delay_seconds=10, retry_condition_fn=tasks.retry_on_io)
def push(params: studio.StudioParams, round_no: int, root: Path, params_file: str) -> dict:
    stores, labels = (dvc.stage_option("curate", option, root) for option in ("--stores", "--labels"))
    pairs = [(stores / name, labels / name) for name in load_sources(root / params_file)]
    reviews = sorted(dvc.stage_option("curate", "--review", root).glob("*.parquet"))
    return studio.push_round(params, round_no, pairs, reviews, dvc.stage_option("curate", "--corrections", root))


@task
def wait(params: studio.StudioParams, round_no: int, timeout_s: float, poll_s: float) -> dict:
    """Poll until all tasks of the round are finished; TimeoutError (naming the counts) otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        progress = studio.round_progress(params, round_no)
        get_run_logger().info("round %d: %d of %d tasks done", round_no, progress["done"], progress["tasks"])
        if progress["done"] >= progress["tasks"]:
            return progress
        if time.monotonic() >= deadline:
            raise TimeoutError(f"round {round_no}: {progress['done']} of {progress['tasks']} tasks done after "
                               f"{timeout_s:.0f} s; run `python -m flows label-round --round {round_no}` again "
                               "to keep waiting")
        time.sleep(poll_s)


@task(retries=3, retry_delay_seconds=10, retry_condition_fn=tasks.retry_on_io)
def pull(params: studio.StudioParams, round_no: int, root: Path) -> dict:
    return studio.pull_round(params, round_no, dvc.stage_option("curate", "--corrections", root) / f"round-{round_no}")


@flow(name="label-round")
def label_round(round_no: int, timeout_s: float = 72 * 3600, poll_s: float = 60.0, cwd: str = ".",
                params_file: str = "params.yaml") -> dict:
    """Run (or resume) correction round ``round_no``; returns the state with each step's figures."""
    root = Path(cwd).resolve()
    params = studio_params(root, params_file)
    state = load_state(root, round_no)
    steps = {
        "push": lambda: push(params, round_no, root, params_file),
        "wait": lambda: wait(params, round_no, timeout_s, poll_s),
        "pull": lambda: pull(params, round_no, root),
        "retrain": lambda: {"stdout": tasks.repro_stage("report", cwd=str(root))[-2000:]},
    }
    for step in STEPS:
        if step in state["done"]:
            get_run_logger().info("round %d: %s already done", round_no, step)
            continue
        mark_done(root, state, step, steps[step]())
    return state


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--round", type=int, required=True, dest="round_no", help="round number")
    parser.add_argument("--timeout-h", type=float, default=72.0, help="how long to wait for people")
    parser.add_argument("--poll-s", type=float, default=60.0, help="seconds between progress checks")


def _run(_: studio.StudioParams, args: argparse.Namespace) -> dict:
    # the kernel has checked the section (a bad param exits 2); the flow reads its params file itself
    state = label_round(args.round_no, args.timeout_h * 3600, args.poll_s, params_file=str(args.params))
    log.info("round %d done: %s", args.round_no, json.dumps(state["done"], default=str)[:2000])
    return state


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows label-round", __doc__, "studio", studio.StudioParams, _add_args, _run, argv,
                      metrics_help="write the round's state (each step's figures) here (JSON)")
