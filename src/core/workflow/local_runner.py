"""Local mode: a run is a ``multiprocessing.Process`` on this machine.

The process is started with the "spawn" method (the only one on Windows, and
safe to use from Streamlit's multi-threaded server) and receives plain data
only: the workflow's import path, the workspace and the settings. It becomes
its own process group, so a stop reaches every TOPP tool it started.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil

from src.core.errors import AlreadyRunning
from src.core.execution import is_alive, kill_tree
from src.core.run import MINIMAL, RunState, RunStatus
from src.core.settings import Settings
from src.core.workflow.base import WorkflowBase

log = logging.getLogger(__name__)

#: Seconds a stopped run gets to end cleanly before its process tree is killed.
STOP_GRACE_SECONDS = 5.0
#: The start lock (``layout.start_lock``) is held, created exclusively, while a local run starts.
START_LOCK_STALE_SECONDS = 30
DIED_MESSAGE = (
    "The run stopped unexpectedly (its process ended without reporting a result). "
    "Start it again; if it keeps happening, check the logs."
)


def workflow_ref(workflow_class: type[WorkflowBase]) -> str:
    """The import path of a workflow class: the module that defines it, not the package that exports
    it (e.g. ``src.workflows.metabolomics.workflow:MetabolomicsWorkflow``)."""
    return f"{workflow_class.__module__}:{workflow_class.__qualname__}"


def load_workflow_class(ref: str) -> type[WorkflowBase]:
    module_name, _, class_name = ref.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, WorkflowBase)):
        raise TypeError(f"{ref} is not a workflow class")
    return cls


def build_workflow(ref: str, workspace: str, settings: Settings) -> WorkflowBase:
    """Construct a workflow from plain data with its normal constructor."""
    return load_workflow_class(ref)(Path(workspace), settings)


def _run_in_child(ref: str, workspace: str, settings: Settings) -> None:
    """Entry point of the local run process."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    workflow = build_workflow(ref, workspace, settings)

    def on_term(signum: int, frame: object) -> None:
        workflow.executor.cancel()

    signal.signal(signal.SIGTERM, on_term)
    workflow.run()


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _neutral_main_module() -> Iterator[None]:
    """Launch spawned children without re-running the parent's ``__main__``.

    "spawn" re-executes the parent's main module in the child. Under Streamlit that
    is the app script itself (Streamlit installs it as a stand-in ``__main__``), so
    the run process would import Streamlit and build pages. While the child is
    launched, ``__main__`` is a bare module with nothing to re-run.
    """
    with _MAIN_LOCK:
        original = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if original is not None:
                sys.modules["__main__"] = original


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class LocalRunner:
    """Start, watch and stop the local run of one workflow in one workspace."""

    def __init__(self, workflow: WorkflowBase) -> None:
        self.workflow = workflow

    def start(self) -> int:
        """Start a run in a new process and return its pid; refuses if one is running.

        Two tabs pressing Start at once start one run: the check and the start happen under
        an exclusive lock file in the run folder (any number of web server processes).
        """
        with self._start_lock():
            if self.is_running():
                raise AlreadyRunning("This workflow is already running in this workspace.")
            return self._spawn()

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        lock = self.workflow.layout.start_lock
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if time.time() - _mtime(lock) < START_LOCK_STALE_SECONDS:
                raise AlreadyRunning("This workflow is being started from another tab or window.") from None
            lock.unlink(missing_ok=True)  # left by a process that died while starting
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.close(fd)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    def _spawn(self) -> int:
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_run_in_child,
            args=(workflow_ref(type(self.workflow)), str(self.workflow.workspace), self.workflow.settings),
            name=f"workflow-{self.workflow.id}",
        )
        self.workflow.history.archive_latest()  # the ended run moves to the history before the new one
        with _neutral_main_module():
            process.start()
        create_time = psutil.Process(process.pid).create_time()
        self.workflow.state.write_pid(process.pid, create_time)
        # Shown until the child (still importing) writes its own status: the page sees the
        # run at once. The pid is recorded first, so a status poll cannot take it for dead.
        self.workflow.logger.reset()
        self.workflow.state.write(RunStatus(state=RunState.RUNNING, step="Starting", started_at=time.time()))
        log.info("started local run of %s as pid %s", self.workflow.id, process.pid)
        return process.pid

    def _pid(self) -> tuple[int, float] | None:
        return self.workflow.state.read_pid()

    def alive(self) -> bool:
        """True while the run's process is alive (reads only)."""
        multiprocessing.active_children()  # reaps our own finished runs so they do not linger as zombies
        recorded = self._pid()
        return recorded is not None and is_alive(*recorded)

    def _died(self, status: RunStatus) -> bool:
        return status.state is RunState.RUNNING and self._pid() is not None and not self.alive()

    def seen_status(self) -> RunStatus:
        """The run's status as the page shows it, without writing: a run whose process vanished
        shows as failed (its files say so once the next start or stop writes it)."""
        status = self.workflow.state.read()
        if not self._died(status):
            return status
        failed = RunState.FAILED
        return replace(status, state=failed, error=DIED_MESSAGE, step=failed.end_step(status.step))

    def is_running(self) -> bool:
        """True while the run's process is alive; a run whose process died is marked failed."""
        alive = self.alive()
        if not alive and self._died(self.workflow.state.read()):
            self._mark_dead()
        return alive

    def _mark_dead(self) -> None:
        """The process vanished without an end marker (killed, out of memory): say so."""
        self.workflow.logger.log(DIED_MESSAGE, MINIMAL)
        self.workflow.finish(RunState.FAILED, DIED_MESSAGE)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the run: ask it to cancel, then kill its whole process tree if it does not end."""
        recorded = self._pid()
        if recorded is None or not is_alive(*recorded):
            return
        pid = recorded[0]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and is_alive(*recorded):
            time.sleep(0.05)
        if is_alive(*recorded):
            log.warning("run %s did not stop within %.1f s, killing its process tree", pid, grace)
            kill_tree(pid)
        if not self.workflow.state.read().is_final:
            self.workflow.finish(RunState.CANCELLED, "The workflow was stopped by the user.")
