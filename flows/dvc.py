"""Thin wrappers over the `dvc` command line, so flows leave `dvc.lock` as the one record of what was built."""
from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

DVC = [sys.executable, "-m", "dvc"]  # this environment's DVC, whatever PATH says


def _env() -> dict[str, str]:
    """The environment for DVC: this interpreter's folder first on PATH, so stage commands (`python -m
    ...`) run in the same environment as the flow."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


class DvcError(RuntimeError):
    """A `dvc` command that failed; the message carries its output."""


class PipelineError(ValueError):
    """dvc.yaml lacks a stage, an option or a path that a flow reads from it."""


PIPELINE = "dvc.yaml"  # where every path is written; flows read theirs from it


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


# --- where things are: dvc.yaml, read as written -------------------------------------------------

def _pipeline(cwd: Path | str) -> dict:
    path = Path(cwd) / PIPELINE
    if not path.is_file():
        raise PipelineError(f"{path}: no pipeline (run from the repository root)")
    return yaml.safe_load(path.read_text()) or {}


def _literal(value: str, where: str) -> str:
    if "${" in value:
        raise PipelineError(f"{where}: {value!r} is a template; a flow reads only literal paths")
    return value


def _stage(stage: str, cwd: Path | str) -> dict:
    stages = _pipeline(cwd).get("stages", {})
    if stage not in stages:
        raise PipelineError(f"{Path(cwd) / PIPELINE}: no stage {stage!r} (stages: {sorted(stages)})")
    return stages[stage]


def stage_option(stage: str, option: str, cwd: Path | str = ".") -> Path:
    """The path ``option`` gives ``stage``'s command in dvc.yaml, relative to ``cwd``
    (``stage_option("evaluate", "--out")`` -> ``reports/eval``)."""
    words = shlex.split(_stage(stage, cwd).get("cmd", ""))
    if option not in words[:-1]:
        raise PipelineError(f"{Path(cwd) / PIPELINE}: stage {stage!r} has no {option} in its command")
    return Path(cwd) / _literal(words[words.index(option) + 1], f"{PIPELINE} stage {stage} {option}")


def stage_outs(stage: str, cwd: Path | str = ".") -> list[Path]:
    """The outputs dvc.yaml declares for ``stage`` (``outs``, not metrics or plots), relative to ``cwd``."""
    outs = [out if isinstance(out, str) else next(iter(out)) for out in _stage(stage, cwd).get("outs", [])]
    return [Path(cwd) / _literal(out, f"{PIPELINE} stage {stage}") for out in outs]


def flow_path(name: str, cwd: Path | str = ".") -> Path:
    """What the flows keep beside the pipeline (``vars: flows: NAME``: the champion, round states), relative
    to ``cwd``: written in dvc.yaml with every other path, though no stage writes it."""
    paths: dict = {}
    for entry in _pipeline(cwd).get("vars", []):
        if isinstance(entry, dict):
            paths.update(entry.get("flows", {}))
    if name not in paths:
        raise PipelineError(f"{Path(cwd) / PIPELINE}: no `vars: - flows: {name}:` (a path a flow keeps; "
                            f"it has {sorted(paths)})")
    return Path(cwd) / _literal(str(paths[name]), f"{PIPELINE} vars flows.{name}")
