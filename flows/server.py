"""A local Prefect API server on 127.0.0.1, for serving deployments and for the UI.

`prefect server start` (SQLite under PREFECT_HOME) is what a team runs for the UI; this module starts
the same server as a child process, waits until it answers, and stops it (and its children) on exit.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator

log = logging.getLogger(__name__)


def wait_healthy(api_url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `<api_url>/health` until it answers 200; raise TimeoutError naming the URL otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode} before answering at {api_url}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"no Prefect server answered at {api_url} within {timeout_s:.0f} s")


@contextlib.contextmanager
def local_server(port: int, timeout_s: float = 120.0) -> Iterator[str]:
    """Start `prefect server start` on 127.0.0.1:port; yields the API URL; stops it on exit."""
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_ENABLED": os.environ.get("PREFECT_UI_ENABLED", "true")}
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_healthy(api_url, timeout_s, proc)
        log.info("Prefect server at %s (UI: http://127.0.0.1:%d)", api_url, port)
        yield api_url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """End a process started with start_new_session=True and every child in its group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
