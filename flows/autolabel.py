"""Prefect flow: auto-label a sample store in batches, on local threads or a Dask cluster.

    python -m flows autolabel --store STORE --out LABELS [--members a,b] [--params params.yaml] [--runner R]

The flow runs the `autolabel` stage's own sequence (``labeling.autolabel.label_store``) with each of its
steps submitted as a Prefect task: one ``label_batch`` task per batch (mapped over the task runner), and
with learned fusion weights a ``learn_fusion`` task, then one ``fuse_batch`` task per batch. The outputs
are the stage's: LABELS/<member>/, LABELS/ensemble/, LABELS/disagreement/.

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
import sys
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from core.cli import comma_list, stage_main
from core.env import ROOT
from labeling import autolabel
from labeling.autolabel import AutolabelParams

T = TypeVar("T")

# No caching: inputs are a params dataclass and paths whose contents change; DVC tracks the outputs.
TASKS = {step: task(step, name=name, cache_policy=NONE) for step, name in [
    (autolabel.label_batch, "label-batch"), (autolabel.learn_fusion, "learn-fusion"),
    (autolabel.fuse_batch, "fuse-batch")]}


def submit_map(step: Callable[..., T], calls: list[tuple]) -> Iterator[T]:
    """An ``autolabel.Mapper``: every call of ``step`` submitted as its Prefect task at once, results in order."""
    futures = [TASKS[step].submit(*args) for args in calls]
    for future in futures:
        yield future.result()


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
def autolabel_flow(params: AutolabelParams, store: str, out: str) -> dict:
    """Label every sample of ``store`` into ``out`` with the ensemble of ``params``; returns the metrics."""
    metrics, records = autolabel.label_store(params, store, out, submit_map)
    metrics["workers"] = sorted({r["worker"] for r in records})
    metrics["sessions_per_worker"] = max((r["sessions"] for r in records), default=0)
    return metrics


def run_flow(params: AutolabelParams, store: Path | str, out: Path | str) -> dict:
    """Run the flow on the task runner of `autolabel.runner`; returns its metrics."""
    configured = autolabel_flow.with_options(task_runner=task_runner(params.runner, params.workers))
    return configured(params, str(store), str(out))


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="sample store to label")
    parser.add_argument("--out", required=True, type=Path, help="LABELS folder to write")
    parser.add_argument("--members", type=comma_list, help="comma-separated members (default: autolabel.members)")
    parser.add_argument("--runner", help="threads | dask | tcp://host:port (default: autolabel.runner)")


def _run(params: AutolabelParams, args: argparse.Namespace) -> dict:
    return run_flow(params, args.store, args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows autolabel", __doc__, "autolabel", AutolabelParams, _add_args, _run, argv,
                      overrides={"members": "members", "runner": "runner"},
                      metrics_help="write the stage metrics as JSON here")


if __name__ == "__main__":
    sys.exit(main())
