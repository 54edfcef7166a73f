"""Thin wrappers over the `dvc` command line, so flows leave `dvc.lock` as the one record of what was built."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DVC = [sys.executable, "-m", "dvc"]  # this environment's DVC, whatever PATH says


def _env() -> dict[str, str]:
    """The environment for DVC: this interpreter's folder first on PATH, so stage commands (`python -m
    ...`) run in the same environment as the flow."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


class DvcError(RuntimeError):
    """A `dvc` command that failed; the message carries its output."""


def _run(args: list[str], cwd: Path | str = ".") -> str:
    log.info("$ dvc %s", " ".join(args))
    proc = subprocess.run([*DVC, *args], cwd=cwd, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise DvcError(f"`dvc {' '.join(args)}` failed (exit {proc.returncode}) in {cwd}:\n"
                       f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    return proc.stdout


def repro(stage: str | None = None, cwd: Path | str = ".", force: bool = False) -> str:
    """`dvc repro [stage]`: runs what is out of date up to ``stage`` (a foreach group name runs all its items)."""
    args = ["repro", *([stage] if stage else []), *(["--force"] if force else [])]
    return _run(args, cwd)


def stale_stages(cwd: Path | str = ".") -> list[str]:
    """Names of the stages `dvc status` reports as changed (empty when everything is up to date)."""
    out = _run(["status", "--json"], cwd)
    return sorted(json.loads(out or "{}"))


def metrics(cwd: Path | str = ".") -> dict[str, dict]:
    """`dvc metrics show --json` as {file: {metric: value}} for the workspace."""
    data = json.loads(_run(["metrics", "show", "--json"], cwd) or "{}")
    workspace = data.get("", data.get("workspace", {}))  # DVC 3 keys the workspace as ""
    files = workspace.get("data", {})
    return {path: entry.get("data", {}) for path, entry in files.items()}


def default_remote(cwd: Path | str = ".") -> str | None:
    """The name of the default DVC remote, or None when none is set."""
    proc = subprocess.run([*DVC, "remote", "default"], cwd=cwd, env=_env(), capture_output=True, text=True)
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def push(cwd: Path | str = ".") -> str:
    return _run(["push"], cwd)
