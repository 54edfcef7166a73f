"""core/cli.py: native stderr captured while models load, progress counted in samples, quiet HTTP logs."""
from __future__ import annotations

import logging
import os

from core import cli


def test_native_stderr_is_captured_and_logged_at_debug(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="core.cli"):
        with cli.native_stderr("loading a model"):
            os.write(2, b"W0000 inference_feedback_manager.cc:114] Feedback manager requires ...\n")
            os.write(2, b"12:00:00 WARNING labeling.members: a line of our own log\n")
    err = capfd.readouterr().err
    assert "Feedback manager" not in err
    assert "12:00:00 WARNING labeling.members: a line of our own log" in err  # our own log is not swallowed
    assert any("loading a model wrote to stderr" in r.message and "Feedback manager" in r.message
               for r in caplog.records)


def test_progress_counts_items_by_size():
    batches = [["a", "b"], ["c"], ["d", "e", "f"]]
    assert list(cli.progress(batches, "test", total=6, unit="sample", size=len)) == batches


def test_http_client_logs_at_warning():
    cli.setup_logging()
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
