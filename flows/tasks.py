"""Prefect tasks shared by the flows: each one small, typed, retried only on I/O errors."""
from __future__ import annotations

from pathlib import Path

from prefect import task

from flows import dvc


def retry_on_io(task_, task_run, state) -> bool:
    """Retry only when the failure is an I/O error (disk, network), not a bug or bad data."""
    return isinstance(state.result(raise_on_failure=False), OSError)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io, task_run_name="dvc repro {stage}")
def repro_stage(stage: str, cwd: str = ".") -> str:
    """Bring one DVC stage (and what it needs) up to date."""
    return dvc.repro(stage, cwd=Path(cwd))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def stale_stages(cwd: str = ".") -> list[str]:
    return dvc.stale_stages(cwd=Path(cwd))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def stage_metrics(cwd: str = ".") -> dict[str, dict]:
    return dvc.metrics(cwd=Path(cwd))
