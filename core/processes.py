"""Local servers the people-in-the-loop tools start: wait until they answer, end them by PID.

The FiftyOne App and the Label Studio server both run as child processes that can outlive the
Python process that started them; they are tracked as process trees (psutil) and ended
explicitly: SIGTERM to the whole tree, then SIGKILL to what is left after a grace period.
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Iterable

import psutil
import requests

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """A local server that did not start, did not answer, or could not be stopped."""


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers HTTP 200."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def wait_http(url: str, timeout: float, process: psutil.Process | None = None,
              what: str = "server") -> float:
    """Poll ``url`` until it answers HTTP 200; return the seconds waited.

    Raises ServerError when ``process`` (the server, if given) exits first or ``timeout`` passes.
    """
    start = time.monotonic()
    while True:
        if answers(url):
            return time.monotonic() - start
        if process is not None and not alive(process):
            raise ServerError(f"{what} exited before answering at {url}")
        if time.monotonic() - start > timeout:
            raise ServerError(f"{what} did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.5)


def tree(root: psutil.Process | int) -> list[psutil.Process]:
    """``root`` and all its descendants that exist now (children first, root last)."""
    try:
        proc = root if isinstance(root, psutil.Process) else psutil.Process(root)
        return proc.children(recursive=True) + [proc]
    except psutil.NoSuchProcess:
        return []


def stop_tree(procs: Iterable[psutil.Process], grace: float = 15.0) -> list[int]:
    """SIGTERM every process of ``procs``, SIGKILL those alive after ``grace`` seconds.

    Returns the PIDs still alive afterwards (empty when everything ended; zombies count as ended).
    """
    procs = [p for p in procs if alive(p)]
    for proc in procs:
        _signal(proc, psutil.Process.terminate)
    left = _wait_gone(procs, grace)
    for proc in left:
        log.warning("process %d did not end after SIGTERM within %.0f s: killing it", proc.pid, grace)
        _signal(proc, psutil.Process.kill)
    return [p.pid for p in _wait_gone(left, 5.0)]


def _signal(proc: psutil.Process, send) -> None:
    try:
        send(proc)
    except psutil.NoSuchProcess:
        pass


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until none of ``procs`` runs (reaping our own children); return those still running."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            try:
                proc.wait(timeout=0)  # reaps a child of ours; for others just checks
            except (psutil.TimeoutExpired, psutil.NoSuchProcess, ChildProcessError):
                pass
        left = [p for p in procs if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def alive(proc: psutil.Process) -> bool:
    """True while ``proc`` runs (a zombie counts as ended)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
