"""`python -m flows serve`: serve the retraining flow on the cron schedule from params (`retrain.cron`).

With PREFECT_API_URL set, the deployment goes to that server (a team's `prefect server start`).
Without it, a local server is started on 127.0.0.1 (`--port`) for as long as this command runs, and
its UI shows the deployment and its runs. Stop with Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os

from prefect.settings import PREFECT_API_URL, temporary_settings

from core.cli import setup_logging
from core.config import load_section
from flows import server
from flows.retrain import RetrainParams, retrain

log = logging.getLogger(__name__)


def serve(params_file: str = "params.yaml", name: str = "scheduled-retrain", port: int = 4200) -> None:
    params = load_section("retrain", RetrainParams, params_file)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("PREFECT_API_URL"):
            api_url = stack.enter_context(server.local_server(port))
            stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
        log.info("serving flow `retrain` as deployment %r on cron %r", name, params.cron)
        retrain.serve(name=name, cron=params.cron, parameters={"params_file": params_file},
                      print_starting_message=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--name", default="scheduled-retrain", help="deployment name")
    parser.add_argument("--port", type=int, default=4200, help="port of the local server started "
                        "when PREFECT_API_URL is not set")
    args = parser.parse_args(argv)
    setup_logging()
    serve(args.params, args.name, args.port)
    return 0
