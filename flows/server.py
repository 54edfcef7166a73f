"""A local Prefect API server on 127.0.0.1, for serving deployments and for the UI.

`prefect server start` (SQLite under PREFECT_HOME) is what a team runs for the UI; this module starts
the same server as a child process, waits until it answers, and ends it (and its children) on exit,
with the process helpers the Label Studio and FiftyOne servers use.
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from typing import Iterator

import psutil

from core import processes

log = logging.getLogger(__name__)


@contextlib.contextmanager
def local_server(port: int, timeout_s: float = 120.0) -> Iterator[str]:
    """Start `prefect server start` on 127.0.0.1:port; yields the API URL; stops it on exit."""
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        processes.wait_http(f"{api_url}/health", timeout_s, psutil.Process(proc.pid), what="Prefect server")
        log.info("Prefect server at %s (UI: http://127.0.0.1:%d)", api_url, port)
        yield api_url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """End ``proc`` and every process it started."""
    processes.stop_tree(processes.tree(proc.pid))
