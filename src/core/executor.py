"""Runs the commands of a workflow: TOPP tools, Python scripts, several at once.

Every command's output goes to the run's logs; a failing command raises
:class:`CommandFailed` naming the tool, its exit code and the tool's own error
text; :meth:`CommandExecutor.cancel` kills every running command with its whole
process tree, after which the run unwinds with :class:`RunCancelled`.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from src.core import topp_ini
from src.core.logs import COMMANDS, MINIMAL, WorkflowLogger
from src.core.params import ParameterManager
from src.core.process_tree import kill_tree
from src.core.progress import Progress
from src.core.settings import PROJECT_ROOT, tool_environment

log = logging.getLogger(__name__)

#: How many lines of a failing tool's error output are kept in the error message.
ERROR_TAIL_LINES = 15


def _die_with_parent_prefix() -> list[str]:
    """Linux: run tools under ``setpriv --pdeathsig KILL`` so they die if the run's process dies.

    A run process killed with SIGKILL (a lost queue worker, an out-of-memory kill)
    cannot stop its tools; without this they would go on writing into the workspace.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


_PREFIX = _die_with_parent_prefix()


class RunCancelled(RuntimeError):
    """The run was stopped by the user."""


class CommandFailed(RuntimeError):
    """A command exited with a non-zero code."""

    def __init__(self, tool: str, exit_code: int, error_text: str) -> None:
        self.tool, self.exit_code, self.error_text = tool, exit_code, error_text.strip()
        detail = f":\n{self.error_text}" if self.error_text else " (it printed no error message)."
        super().__init__(f"{tool} failed with exit code {exit_code}{detail}")


class _Output:
    """Collects a command's output: everything to the full log, error lines for the message."""

    def __init__(self, logger: WorkflowLogger) -> None:
        self.logger = logger
        self.errors: list[str] = []

    def pump(self, stream, is_stderr: bool) -> None:
        for line in stream:
            self.logger.raw(line)
            text = line.strip()
            if text and (is_stderr or "error" in text.lower()):
                self.errors.append(text)

    def error_text(self) -> str:
        unique = list(dict.fromkeys(self.errors))
        return "\n".join(unique[-ERROR_TAIL_LINES:])


class CommandExecutor:
    def __init__(
        self, logger: WorkflowLogger, params: ParameterManager, progress: Progress, max_threads: int
    ) -> None:
        self.logger, self.params, self.progress = logger, params, progress
        self.max_threads = max(1, max_threads)
        self._cancelled = threading.Event()
        self._running: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # ---- cancellation ---------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the run: no new command starts, running ones die with all their children."""
        self._cancelled.set()
        with self._lock:
            pids = list(self._running)
        for pid in pids:
            kill_tree(pid)

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise RunCancelled("The workflow was stopped by the user.")

    # ---- single commands ------------------------------------------------------------------------
    def run_command(self, command: Sequence[str], step: str | None = None, name: str | None = None) -> None:
        """Run one command to completion, logging it; raise CommandFailed or RunCancelled."""
        self.check_cancelled()
        command = [str(part) for part in command]
        tool = name or Path(command[0]).name
        self.progress.starting(step or tool)
        self.logger.log(f"Running: {shlex.join(command)}", COMMANDS)
        started = time.monotonic()
        exit_code, output = self._execute(command)
        elapsed = time.monotonic() - started
        self.check_cancelled()
        label = step or tool
        if exit_code != 0:
            failure = CommandFailed(tool, exit_code, output.error_text())
            self.logger.log(f"{label} failed after {elapsed:.2f} s", COMMANDS)
            self.logger.log(str(failure), MINIMAL)
            raise failure
        self.logger.log(f"{label} finished in {elapsed:.2f} s", COMMANDS)
        self.progress.command_done()

    def _execute(self, command: list[str]) -> tuple[int, _Output]:
        python_path = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        # The deployment's secrets (Redis password, admin password, dashboard credentials) stay
        # with the app: a tool or a workflow script never sees them.
        env = dict(tool_environment(os.environ), PYTHONPATH=os.pathsep.join(filter(None, python_path)))
        if shutil.which(command[0]) is None:
            raise CommandFailed(
                Path(command[0]).name, 127, topp_ini.tool_missing_message(Path(command[0]).name)
            )
        try:
            process = subprocess.Popen(
                _PREFIX + command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=env,
            )
        except FileNotFoundError:
            raise CommandFailed(
                Path(command[0]).name, 127, topp_ini.tool_missing_message(command[0])
            ) from None
        output = _Output(self.logger)
        with self._lock:
            self._running[process.pid] = process
        readers = [
            threading.Thread(target=output.pump, args=(process.stdout, False), daemon=True),
            threading.Thread(target=output.pump, args=(process.stderr, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            exit_code = process.wait()
            for reader in readers:
                reader.join()
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        return exit_code, output

    # ---- several commands -----------------------------------------------------------------------
    def run_multiple(self, commands: Sequence[Sequence[str]], steps: Sequence[str] | None = None) -> None:
        """Run commands in parallel, at most ``max_threads`` at a time; raise the first failure."""
        if len(commands) <= 1 or self.max_threads == 1:
            for index, command in enumerate(commands):
                self.run_command(command, steps[index] if steps else None)
            return
        with ThreadPoolExecutor(max_workers=min(self.max_threads, len(commands))) as pool:
            futures = [
                pool.submit(self.run_command, command, steps[index] if steps else None)
                for index, command in enumerate(commands)
            ]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()

    # ---- TOPP tools and Python scripts ----------------------------------------------------------
    def run_topp(self, tool: str, io: dict[str, Sequence], custom_params: dict | None = None) -> None:
        """Run a TOPP tool once per input (n-th input -> n-th output) with the saved parameters.

        Each value in ``io`` is a list: with n entries the tool runs n times, entry i going to
        run i; with one entry that entry goes to every run. An entry that is itself a list is
        passed as several values of one option, e.g. ``{"in": [[a, b, c]], "out": [merged]}``
        collects all inputs into one call.
        """
        executable = topp_ini.require_tool(tool)
        runs = max(len(values) for values in io.values())
        for key, values in io.items():
            if len(values) not in (1, runs):
                raise ValueError(f"run_topp({tool}): '{key}' has {len(values)} entries, expected 1 or {runs}")
        options = self._tool_options(tool, custom_params or {})
        threads = max(1, self.max_threads // runs)
        commands = [self._topp_command(executable, io, index, options, threads) for index in range(runs)]
        self.logger.log(f"Running {tool} on {runs} input(s)", MINIMAL)
        steps = [f"{tool} ({index + 1}/{runs})" for index in range(runs)]
        self.run_multiple(commands, steps)

    def _tool_options(self, tool: str, custom: dict) -> list[str]:
        known = self.params.tool_params(tool)
        values = {**self.params.tool_values(tool), **custom}
        options: list[str] = []
        for name, value in values.items():
            param = known.get(name)
            if param is None:
                raise topp_ini.ParameterError(f"{tool} has no parameter '{name}'.")
            options += [f"-{name}", *topp_ini.command_line_value(param, topp_ini.coerce(param, value))]
        return options

    @staticmethod
    def _topp_command(executable: str, io: dict, index: int, options: list[str], threads: int) -> list[str]:
        command = [executable]
        for key, values in io.items():
            entry = values[index] if len(values) > 1 else values[0]
            command += [
                f"-{key}",
                *([str(v) for v in entry] if isinstance(entry, (list, tuple)) else [str(entry)]),
            ]
        return command + options + ["-threads", str(threads), "-no_progress"]

    def run_python(self, script: Path, io: dict[str, object], step: str | None = None) -> None:
        """Run a Python script with this interpreter as ``script --key value ...``."""
        command = [sys.executable, str(script)]
        for key, value in io.items():
            command += [
                f"--{key}",
                *([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]),
            ]
        self.logger.log(f"Running {Path(script).name}", MINIMAL)
        self.run_command(command, step or Path(script).stem, name=Path(script).name)
