"""Worker processes that end with the stage that started them.

A stage killed with SIGKILL cannot tell its pool to stop; workers forked from it would then run on
(holding the store's lock and CPU). ``die_with_parent`` is a pool initializer's first call.
"""
from __future__ import annotations

import ctypes
import os
import signal
import threading
import time


def die_with_parent(parent: int) -> None:
    """End this (worker) process when ``parent`` dies, so a killed stage leaves no workers behind.

    Linux: the kernel sends SIGTERM when the parent exits (prctl PR_SET_PDEATHSIG); elsewhere a
    daemon thread polls the parent's pid. Either way a parent already gone ends the worker now.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)
        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
