"""Killing a process together with everything it started.

TOPP tools and Python scripts may start helpers of their own; stopping only the
direct child would leave those running, so stops always go through here.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

import psutil

log = logging.getLogger(__name__)


def kill_tree(pid: int, timeout: float = 3.0, include_parent: bool = True) -> None:
    """Terminate ``pid`` and all its descendants; kill whatever is still alive after ``timeout``."""
    try:
        parent = psutil.Process(pid)
        victims = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    if include_parent:
        victims.append(parent)
    for process in victims:
        _signal(process, "terminate")
    _, alive = psutil.wait_procs(victims, timeout=timeout)
    for process in alive:
        log.warning("process %s did not stop on SIGTERM, killing it", process.pid)
        _signal(process, "kill")
    psutil.wait_procs(alive, timeout=timeout)


def _signal(process: psutil.Process, action: str) -> None:
    try:
        getattr(process, action)()
    except psutil.NoSuchProcess:
        log.debug("process %s already gone", process.pid)
    except psutil.AccessDenied:
        # A tool running as the tools' own uid: its run-as-tool parent (ours to signal) passes the
        # signal on, and takes the tool with it when it is killed.
        log.debug("process %s is not ours to signal; its parent stops it", process.pid)


def is_alive(pid: int, create_time: float | None = None) -> bool:
    """True if ``pid`` runs and, when given, was started at ``create_time`` (guards against pid reuse)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - create_time) < 0.01
    except psutil.NoSuchProcess:
        return False


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Linux: have the kernel SIGKILL this process when its parent process dies.

    Used for a queue worker's forks (each job's work-horse, RQ's scheduler), which run
    in process groups of their own: a worker killed with SIGKILL would otherwise leave
    them running, and a lost job could then run twice. ``parent`` is the pid that forked
    this process when known (see ``forks_die_with_parent``); only then can a parent that
    died before the request took effect be noticed.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid() if parent is None else parent
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def forks_die_with_parent() -> None:
    """Every later fork of this process, and of its forks, dies with the process that forked it."""
    forker = {"pid": 0}
    os.register_at_fork(
        before=lambda: forker.update(pid=os.getpid()),
        after_in_child=lambda: die_with_parent(forker["pid"]),
    )
