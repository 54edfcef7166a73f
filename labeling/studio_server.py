"""The Label Studio server: started from its own venv on loopback with a preset user and token.

`python -m labeling studio serve` runs :func:`serve` (foreground, until Ctrl-C or SIGTERM); tests
and flows call :func:`start_server` and ``Server.stop()``. The server gets the environment that
ENVIRONMENT.md lists: legacy API token on (else the preset token is refused), sign-up closed,
local-file serving rooted at the document root (the data folder), no version checks or analytics.
Its database, uploads, log and the generated credentials live in the data dir (``.labelstudio/``).
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from core import io
from core import processes
from core.cli import StageFailed
from core.processes import ServerError
from labeling.studio_config import CREDENTIALS_FILE, StudioParams, data_dir, document_root

log = logging.getLogger(__name__)


def credentials(params: StudioParams) -> dict[str, str]:
    """The preset user: LABEL_STUDIO_USERNAME/PASSWORD/USER_TOKEN where set, else made once and kept
    (mode 600) in the data dir, where clients find the token."""
    env = {"username": "LABEL_STUDIO_USERNAME", "password": "LABEL_STUDIO_PASSWORD", "token": "LABEL_STUDIO_USER_TOKEN"}
    if all(os.environ.get(var) for var in env.values()):
        return {key: os.environ[var] for key, var in env.items()}
    path = data_dir(params) / CREDENTIALS_FILE
    if path.is_file():
        kept = json.loads(path.read_text())
    else:
        kept = {"username": "annotator@localhost.localdomain", "password": secrets.token_urlsafe(18),
                "token": secrets.token_hex(20)}  # 40 hex chars, as the legacy token needs
        with io.atomic_path(path) as tmp:
            tmp.chmod(0o600)  # before the secret goes in
            tmp.write_text(json.dumps(kept, indent=2) + "\n")
        log.info("made the Label Studio user %s; password and token are in %s", kept["username"], path)
    return {key: os.environ.get(var) or kept[key] for key, var in env.items()}


# --- server ---------------------------------------------------------------------------------

@dataclass
class Server:
    """A running Label Studio server started by :func:`start_server`."""
    process: psutil.Popen
    url: str
    log_path: Path

    def stop(self) -> list[int]:
        """End the server and its children; returns PIDs still alive (empty when all ended)."""
        left = processes.stop_tree(processes.tree(self.process))
        log.info("Label Studio at %s stopped", self.url)
        return left


def start_server(params: StudioParams, port: int | None = None) -> Server:
    """Start the Label Studio server (own venv) on params.host and wait until it answers."""
    port = port or params.port
    url = f"http://{params.host}:{port}"
    binary = Path(params.server_bin).resolve()
    if not binary.is_file():
        raise ServerError(f"{binary}: no Label Studio server (expected studio.server_bin to point at "
                          "`label-studio` in its own venv; `make` builds .venv-ls)")
    if processes.port_in_use(params.host, port):
        raise ServerError(f"port {port} on {params.host} is in use (a server from an earlier run?); "
                          "stop it or set studio.port")
    root, base = document_root(params), data_dir(params)
    if not root.is_dir():
        raise ServerError(f"{root}: the local-files document root does not exist (studio.document_root)")
    base.mkdir(parents=True, exist_ok=True)
    user = credentials(params)
    env = {**os.environ,
           "LABEL_STUDIO_USERNAME": user["username"], "LABEL_STUDIO_PASSWORD": user["password"],
           "LABEL_STUDIO_USER_TOKEN": user["token"], "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LABEL_STUDIO_BASE_DATA_DIR": str(base),
           "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
           "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false"}
    log_path = base / "server.log"
    with open(log_path, "ab") as log_file:
        process = psutil.Popen([str(binary), "start", "--no-browser", "--internal-host", params.host,
                                "--port", str(port)], cwd=base, env=env, stdin=subprocess.DEVNULL,
                               stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, url, log_path)
    log.info("starting Label Studio (pid %d) at %s, log %s", process.pid, url, log_path)
    try:
        waited = processes.wait_http(f"{url}/health", params.start_timeout_s, process, "Label Studio")
    except ServerError as e:
        server.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ServerError(f"{e}; last lines of {log_path}:\n{tail}") from e
    except KeyboardInterrupt:
        server.stop()
        raise
    log.info("Label Studio answers at %s after %.0f s", url, waited)
    return server


def serve(params: StudioParams) -> None:
    """Start the server, keep it up until SIGINT/SIGTERM, then stop it; StageFailed (exit 1) when it exits."""
    server = start_server(params)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("Label Studio is up at %s (user and token: env LABEL_STUDIO_* or %s); Ctrl-C stops it",
             server.url, data_dir(params) / CREDENTIALS_FILE)
    try:
        while not stop.wait(1.0):
            if server.process.poll() is not None:
                raise StageFailed(f"Label Studio exited with code {server.process.returncode}; see {server.log_path}",
                                  {})
    finally:
        left = server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if left:
            log.error("processes %s did not end", left)
