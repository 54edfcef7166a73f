"""`python -m flows serve` against a real Prefect server on loopback: the schedule creates runs."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows import server
from core import processes


async def _scheduled_runs(api_url: str) -> tuple[list[str], list[str]]:
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            deployments = await client.read_deployments()
            runs = await client.read_flow_runs()
    names = [d.name for d in deployments]
    ids = {d.id for d in deployments if d.name == "scheduled-retrain"}
    return names, [r.state_name for r in runs if r.deployment_id in ids]


def test_serve_creates_scheduled_runs(repo_root, monkeypatch):
    monkeypatch.setenv("PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS", "2")
    with server.local_server(processes.free_port()) as api_url:
        env = {**os.environ, "PREFECT_API_URL": api_url}
        proc = subprocess.Popen([sys.executable, "-m", "flows", "serve"], cwd=repo_root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            names, states = [], []
            while time.monotonic() < deadline and not states:
                time.sleep(2)
                assert proc.poll() is None, "`python -m flows serve` exited early"
                names, states = asyncio.run(_scheduled_runs(api_url))
        finally:
            server.stop(proc)
    assert "scheduled-retrain" in names
    assert states and set(states) == {"Scheduled"}
