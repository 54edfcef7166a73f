"""Prefect flow: ingest every configured source (params.yaml `sources`) into its sample store.

    python -m flows ingest [--stores data/stores] [--only NAME ...] [--params params.yaml]

One task per source, each calling the library function the `ingest@<source>` DVC stages call
(`datasets.ingest.run`), retried only on I/O errors; the flow adds no logic of its own. Use it to
ingest outside DVC (e.g. on a machine that holds the raw data); inside the pipeline, `dvc repro ingest`
does the same and records it in dvc.lock.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from prefect import flow, task

from datasets import ingest
from core.cli import stage_main
from core.config import load_section
from datasets.sources import load_sources
from flows.tasks import retry_on_io

log = logging.getLogger(__name__)

ingest_task = task(ingest.run, name="ingest", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io,
                   task_run_name="ingest {name}")


@flow(name="ingest")
def ingest_sources(stores: str = "data/stores", only: list[str] | None = None,
                   params_file: str = "params.yaml") -> dict[str, dict]:
    """Ingest each source of `sources` (or those named in ``only``) into ``stores``/<name>."""
    sources = load_sources(params_file)
    unknown = sorted(set(only or []) - set(sources))
    if unknown:
        raise ValueError(f"{params_file}: no source(s) {unknown} under `sources` (known: {sorted(sources)})")
    params = load_section("ingest", ingest.IngestParams, params_file)
    futures = {name: ingest_task.submit(params, source.format, Path(source.src), Path(stores) / name, name=name,
                                        annotations=source.annotations)
               for name, source in sources.items() if not only or name in only}
    return {name: future.result() for name, future in futures.items()}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stores", default="data/stores", help="one store per source is written here")
    parser.add_argument("--only", nargs="*", help="source names to ingest (default: all)")


def _run(_: ingest.IngestParams, args: argparse.Namespace) -> dict[str, dict]:
    # the kernel has checked the section (a bad param exits 2); the flow reads its params file itself
    results = ingest_sources(args.stores, args.only, str(args.params))
    for name, figures in results.items():
        log.info("%s: %d samples, %d quarantined, %d without a person", name, figures["samples"],
                 figures["quarantined"], figures["no_person"])
    return results


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows ingest", __doc__, "ingest", ingest.IngestParams, _add_args, _run, argv,
                      metrics_help="write every source's counts here (JSON)")
