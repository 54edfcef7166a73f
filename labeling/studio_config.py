"""Label Studio settings: params.yaml `studio:` and the environment variables that override them.

Its own module so that the client (``studio.py``) and the server (``studio_server.py``) both read it
without importing each other.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"  # in the data dir: the preset user and token `serve` made


@dataclass(frozen=True)
class StudioParams:
    """params.yaml `studio:`; environment variables override the connection settings."""
    host: str = "127.0.0.1"  # the server listens on loopback only
    port: int = 8080  # server port; the client's URL is http://host:port unless LABEL_STUDIO_URL
    server_bin: str = ".venv-ls/bin/label-studio"  # the server's own venv (`make` builds it)
    data_dir: str = ".labelstudio"  # server database, uploads, log, credentials (git-ignored)
    document_root: str = "data"  # local files are served from here; stores must lie under it
    project_title: str = "portrait matting"  # round N lives in project "<title> round N"
    label: str = "person"  # the one BrushLabels label
    start_timeout_s: float = 300.0  # first start runs migrations: 33-47 s measured on 2 idle cores
    request_timeout_s: float = 120.0  # per API call (exports of big rounds take a while)
    batch_size: int = 100  # tasks per import request
    refine_band: float = 0.01  # soft ensemble alpha kept within this fraction of the diagonal of the edge


class StudioError(RuntimeError):
    """Label Studio cannot do what was asked: down, token refused, project missing, bad input."""


def server_url(params: StudioParams) -> str:
    return os.environ.get("LABEL_STUDIO_URL") or f"http://{params.host}:{params.port}"


def data_dir(params: StudioParams) -> Path:
    return Path(os.environ.get("LABEL_STUDIO_BASE_DATA_DIR") or params.data_dir).resolve()


def document_root(params: StudioParams) -> Path:
    return Path(os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or params.document_root).resolve()


def api_token(params: StudioParams) -> str:
    """The API token: LABEL_STUDIO_API_KEY, LABEL_STUDIO_USER_TOKEN, or the file `serve` wrote."""
    token = os.environ.get("LABEL_STUDIO_API_KEY") or os.environ.get("LABEL_STUDIO_USER_TOKEN")
    if token:
        return token
    path = data_dir(params) / CREDENTIALS_FILE
    if path.is_file():
        return json.loads(path.read_text())["token"]
    raise StudioError(f"no Label Studio API token: set LABEL_STUDIO_API_KEY, or start the server with "
                      f"`python -m labeling studio serve` (it writes {path})")
