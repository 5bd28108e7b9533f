"""One command of a run as a process: started with the tools' environment, its output drained
into the logs, the workspaces volume watched while it runs.

The output is always drained, even when the logs can no longer be written (a full disk):
a tool whose pipe is not read blocks forever. A full volume ends the command at once
(:attr:`Finished.disk_full`), instead of when the tool next tries to write.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import CommandFailed
from src.core.execution import memory, sandbox
from src.core.execution.process_tree import kill_tree
from src.core.execution.sandbox import Sandbox
from src.core.params import topp_ini
from src.core.run import WorkflowLogger
from src.core.settings import PROJECT_ROOT, tool_environment
from src.core.workspace import space as storage

log = logging.getLogger(__name__)

#: How many lines of a failing tool's error output are kept in the error message.
ERROR_TAIL_LINES = 15
#: How often a running command's volume is checked for free space (s).
WATCH_SECONDS = 1.0


def _tool_prefix(fence: Sandbox | None) -> list[str]:
    """What every command of a run starts under, on Linux.

    In the image: ``run-as-tool [fence] --``, which runs it as its run's tools' uid, fenced into
    its run's folder (``src/core/execution/sandbox.py``), and kills it when the run's process
    dies. Elsewhere: ``setpriv --pdeathsig KILL --`` for the latter. A run process killed with
    SIGKILL (a lost queue worker, an out-of-memory kill) cannot stop its tools; without this they
    would go on writing into the workspace.
    """
    if not sys.platform.startswith("linux"):
        return []
    if sandbox.helper_works():
        return [str(sandbox.RUN_AS_TOOL), *(fence.helper_args() if fence else []), "--"]
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


class Output:
    """Collects a command's output: everything to the full log, error lines for the message."""

    def __init__(self, logger: WorkflowLogger, on_write_error: Callable[[], None]) -> None:
        self.logger = logger
        self.errors: list[str] = []
        #: A line said the command could not get memory (memory.OUT_OF_MEMORY_TEXT), anywhere.
        self.out_of_memory = False
        self.write_error: OSError | None = None
        self._on_write_error = on_write_error

    def pump(self, stream, is_stderr: bool) -> None:
        for line in stream:
            self._log(line)
            text = line.strip()
            if text and (is_stderr or "error" in text.lower()):
                self.errors.append(text)
            if text and not self.out_of_memory and memory.OUT_OF_MEMORY_TEXT.search(text):
                self.out_of_memory = True

    def _log(self, line: str) -> None:
        if self.write_error is not None:
            return  # keep draining; the log cannot take more
        try:
            self.logger.raw(line)
        except OSError as err:
            self.write_error = err
            self._on_write_error()

    def error_text(self) -> str:
        unique = list(dict.fromkeys(self.errors))
        return "\n".join(unique[-ERROR_TAIL_LINES:])


@dataclass
class Finished:
    exit_code: int
    output: Output
    disk_full: bool  # the volume ran full (or the log could not be written) while it ran


def spawn(command: list[str], memory_limit: int = 0, fence: Sandbox | None = None) -> subprocess.Popen:
    """Start a command with the tools' environment: the deployment's secrets (Redis, admin and
    dashboard passwords) stay with the app, and the project's modules are importable. With a
    ``memory_limit`` (bytes) it may map no more and is the kernel's first choice when memory runs
    out (``src/core/execution/memory.py``). ``fence``: the run's folders (``sandbox.py``)."""
    name = Path(command[0]).name
    if shutil.which(command[0]) is None:
        raise CommandFailed(name, 127, topp_ini.tool_missing_message(name))
    python_path = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(tool_environment(os.environ), PYTHONPATH=os.pathsep.join(filter(None, python_path)))
    if not sandbox.helper_works():
        env.update(memory.preload(memory_limit))
    try:
        return subprocess.Popen(
            (memory.limit_prefix(memory_limit) if memory_limit else []) + _tool_prefix(fence) + command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
        )
    except FileNotFoundError:
        raise CommandFailed(name, 127, topp_ini.tool_missing_message(command[0])) from None


def wait_for(process: subprocess.Popen, logger: WorkflowLogger) -> Finished:
    """Drain the process's output into the logs until it ends; kill it if the volume runs full."""
    full = threading.Event()

    def stop_for_disk() -> None:
        full.set()
        kill_tree(process.pid)

    output = Output(logger, stop_for_disk)
    readers = [
        threading.Thread(target=output.pump, args=(process.stdout, False), daemon=True),
        threading.Thread(target=output.pump, args=(process.stderr, True), daemon=True),
    ]
    for reader in readers:
        reader.start()
    while True:
        try:
            exit_code = process.wait(timeout=WATCH_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if not full.is_set() and storage.volume_full(logger.log_dir):
                stop_for_disk()
    for reader in readers:
        reader.join()
    return Finished(exit_code, output, full.is_set() or output.write_error is not None)
