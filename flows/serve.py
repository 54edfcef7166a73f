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

from core.cli import stage_main
from flows import server
from flows.retrain import RetrainParams, retrain

log = logging.getLogger(__name__)


def serve(params: RetrainParams, params_file: str = "params.yaml", name: str = "scheduled-retrain",
          port: int = 4200) -> None:
    """Serve the flow on ``params.cron``; each scheduled run reads ``params_file`` afresh."""
    with contextlib.ExitStack() as stack:
        if not os.environ.get("PREFECT_API_URL"):
            api_url = stack.enter_context(server.local_server(port))
            stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
        log.info("serving flow `retrain` as deployment %r on cron %r", name, params.cron)
        retrain.serve(name=name, cron=params.cron, parameters={"params_file": params_file},
                      print_starting_message=False)


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="scheduled-retrain", help="deployment name")
    parser.add_argument("--port", type=int, default=4200, help="port of the local server started "
                        "when PREFECT_API_URL is not set")


def _run(params: RetrainParams, args: argparse.Namespace) -> None:
    serve(params, str(args.params), args.name, args.port)


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m flows serve", __doc__, "retrain", RetrainParams, _add_args, _run, argv)
