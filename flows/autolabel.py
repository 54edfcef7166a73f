"""Prefect flow: auto-label a sample store in batches, on local threads or a Dask cluster.

    python -m flows autolabel --store STORE --out LABELS [--members a,b] [--params params.yaml] [--runner R]

The flow only sequences the library functions the `autolabel` stage uses (labeling/autolabel.py):
``batches`` -> one ``label_batch`` task per batch (mapped over the task runner) -> with learned fusion
weights, ``learn_fusion`` then one ``fuse_batch`` task per batch -> ``summarize``. The outputs are the
stage's: LABELS/<member>/, LABELS/ensemble/, LABELS/disagreement/.

Task runner (`autolabel.runner` in params, `--runner` overrides):
  threads            Prefect's ThreadPoolTaskRunner with `autolabel.workers` threads (the default)
  dask               a local Dask cluster (prefect-dask) with `autolabel.workers` worker processes
  tcp://host:port    an existing Dask scheduler; its workers must run from this repository's root
                     (or have it on PYTHONPATH) with the same environment and model directory
Model sessions are created once per worker thread and reused for every batch it gets
(labeling.members.get keeps them per thread), never per image.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from core.cli import setup_logging, write_metrics
from core.config import load_section
from core.env import ROOT
from datasets.store import Store
from labeling import autolabel
from labeling.autolabel import AutolabelParams

log = logging.getLogger(__name__)

# No caching: inputs are a params dataclass and paths whose contents change; DVC tracks the outputs.
label_task = task(autolabel.label_batch, name="label-batch", cache_policy=NONE)
learn_task = task(autolabel.learn_fusion, name="learn-fusion", cache_policy=NONE)
fuse_task = task(autolabel.fuse_batch, name="fuse-batch", cache_policy=NONE)


def task_runner(runner: str, workers: int):
    """The Prefect task runner that `runner` names (see the module docstring)."""
    if runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if runner == "dask":
        # worker processes import labeling/ from the repository root
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None, "host": "127.0.0.1",
                                              "env": {"PYTHONPATH": str(ROOT)}})
    if "://" in runner:
        return DaskTaskRunner(address=runner)
    raise ValueError(f"`autolabel.runner` should be 'threads', 'dask' or a Dask scheduler address "
                     f"(tcp://host:port), got {runner!r}")


@flow(name="autolabel", log_prints=False)
def autolabel_flow(params: AutolabelParams, store: str, out: str, names: list[str]) -> dict:
    """Label every sample of ``store`` into ``out`` with the members ``names``; returns the metrics."""
    start = time.perf_counter()
    work = autolabel.batches(Store(store), params.batch_size)
    learned = params.fusion.method == "learned"
    weights, threshold = dict(params.fusion.weights), params.fusion.vote_threshold
    futures = [label_task.submit(params, store, out, ids, names, None if learned else weights) for ids in work]
    records = [r for f in futures for r in f.result()]
    trusted = 0
    if learned:
        weights, threshold, trusted = learn_task(params, store, out, names)
        for f in [fuse_task.submit(params, store, out, ids, names, weights, threshold) for ids in work]:
            f.result()
    metrics = autolabel.summarize(records, names, weights, threshold, trusted, time.perf_counter() - start)
    metrics["workers"] = sorted({r["worker"] for r in records})
    metrics["sessions_per_worker"] = max((r["sessions"] for r in records), default=0)
    return metrics


def run_flow(params: AutolabelParams, store: Path | str, out: Path | str, names: Sequence[str] | None = None,
             runner: str | None = None) -> dict:
    """Run the flow with the task runner from ``runner`` (or params); returns its metrics."""
    runner = runner or params.runner
    names = list(names or params.members)
    configured = autolabel_flow.with_options(task_runner=task_runner(runner, params.workers))
    return configured(dataclasses.replace(params, runner=runner), str(store), str(out), names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows autolabel", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, type=Path, help="sample store to label")
    parser.add_argument("--out", required=True, type=Path, help="LABELS folder to write")
    parser.add_argument("--members", help="comma-separated members (default: autolabel.members)")
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file (default: params.yaml)")
    parser.add_argument("--runner", help="threads | dask | tcp://host:port (default: autolabel.runner)")
    parser.add_argument("--metrics", type=Path, help="write the stage metrics as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    params = load_section("autolabel", AutolabelParams, args.params)
    names = [m.strip() for m in args.members.split(",") if m.strip()] if args.members else None
    write_metrics(args.metrics, run_flow(params, args.store, args.out, names, args.runner))
    return 0


if __name__ == "__main__":
    sys.exit(main())
