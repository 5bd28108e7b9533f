"""Runs the commands of a workflow: TOPP tools, Python scripts, several at once.

Every command's output goes to the run's logs (``src/core/execution/commands.py``); a failing
command raises :class:`CommandFailed` naming the tool, its exit code and the tool's own
error text, and stops its parallel siblings at once; a workspaces volume that runs full
stops the run with :class:`~src.core.errors.DiskFull`; :meth:`CommandExecutor.cancel`
kills every running command with its whole process tree, after which the run unwinds
with :class:`RunCancelled`.
"""

from __future__ import annotations

import logging
import shlex
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from src.core.errors import CommandFailed, DiskFull, OutOfMemory, ParameterError, RunCancelled
from src.core.execution import commands, memory
from src.core.execution.process_tree import kill_tree
from src.core.execution.sandbox import Sandbox
from src.core.params import ParameterManager, topp_ini
from src.core.run import COMMANDS, MINIMAL, Progress, WorkflowLogger

__all__ = ["CommandExecutor", "CommandFailed", "RunCancelled", "Spreader"]

log = logging.getLogger(__name__)

#: Tools that always get ``-threads 1``: their OpenMP code is not safe with more in the OpenMS this
#: image ships. MapAlignerPoseClustering aligns its maps in a parallel loop that shares one aligner
#: object; with two threads its corrections changed in the last digits from run to run, now and
#: then came out -nan, and once the tool aborted on a corrupted heap (exit code -6).
SINGLE_THREADED_TOOLS = frozenset({"MapAlignerPoseClustering"})


class Spreader(Protocol):
    """Runs a step's commands as pieces on every free worker (online mode: ``src/jobs/worker``).

    ``run_step`` returns when every piece ended well and raises like ``run_multiple`` otherwise;
    the pieces it runs in this process go through ``executor.run_command``."""

    def run_step(
        self, executor: CommandExecutor, commands: list[list[str]], labels: list[str], subjects: list[str]
    ) -> None: ...

    def slots(self, executor: CommandExecutor) -> int:
        """How many of a step's pieces could run at once now: the run's own and the idle workers'."""
        ...

    def lone_step(self, executor: CommandExecutor, tool: str) -> AbstractContextManager[int]:
        """The threads of a step that stays one command, while it lasts: the run's own and those
        of its host's idle workers, borrowed for the step (``src/jobs/scheduler.py``)."""
        ...


class CommandExecutor:
    def __init__(
        self,
        logger: WorkflowLogger,
        params: ParameterManager,
        progress: Progress,
        max_threads: int,
        memory_limit: int = 0,
        fence: Sandbox | None = None,
    ) -> None:
        self.logger, self.params, self.progress = logger, params, progress
        self.max_threads = max(1, max_threads)
        #: Bytes each command may map (0: no limit); see src/core/execution/memory.py.
        self.memory_limit = memory_limit
        #: The run's folders its commands may write and read (src/core/execution/sandbox.py).
        self.fence = fence
        self._cancelled = threading.Event()
        self._sibling_failed = threading.Event()  # within run_multiple: start nothing more
        self._running: set[int] = set()
        self._lock = threading.Lock()
        #: Online mode: a step over several files is spread over the workers by this, each piece
        #: with ``piece_threads`` threads. Local mode leaves it unset (threads, as always).
        self.spreader: Spreader | None = None
        self.piece_threads = 1

    # ---- cancellation ---------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the run: no new command starts, running ones die with all their children."""
        self._cancelled.set()
        self._kill_running()

    def reset(self) -> None:
        """Ready for another run after a cancelled or failed one."""
        self._cancelled.clear()
        self._sibling_failed.clear()

    def stop_own_commands(self) -> None:
        """A command elsewhere failed: this executor's running commands die and none starts, until
        the step that called this ends (``run_multiple`` clears it)."""
        self._sibling_failed.set()
        self._kill_running()

    def _kill_running(self) -> None:
        with self._lock:
            pids = list(self._running)
        for pid in pids:
            kill_tree(pid)

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise RunCancelled("The workflow was stopped by the user.")
        if self._sibling_failed.is_set():
            raise RunCancelled("Not started: a command running beside it failed.")

    # ---- single commands ------------------------------------------------------------------------
    def run_command(
        self,
        command: Sequence[str],
        step: str | None = None,
        name: str | None = None,
        subject: str = "",
        progress_step: str | None = None,
    ) -> None:
        """Run one command to completion, logging it; raise CommandFailed or RunCancelled.

        ``subject`` (e.g. the input file's name) is named in the error if the command fails;
        ``progress_step`` is what the run's progress shows meanwhile (the step, by default)."""
        self.check_cancelled()
        command = [str(part) for part in command]
        tool = name or Path(command[0]).name
        self.progress.starting(progress_step or step or tool)
        self.logger.log(f"Running: {shlex.join(command)}", COMMANDS)
        started = time.monotonic()
        finished = self._execute(command)
        elapsed = time.monotonic() - started
        self.check_cancelled()
        label = step or tool
        if finished.disk_full:
            self.logger.log(f"{label} was stopped: the workspaces volume is full", COMMANDS)
            raise DiskFull()
        if finished.exit_code != 0:
            failure = self._failure(tool, finished, subject)
            self.logger.log(f"{label} failed after {elapsed:.2f} s", COMMANDS)
            self.logger.log(str(failure), MINIMAL)
            raise failure
        self.logger.log(f"{label} finished in {elapsed:.2f} s", COMMANDS)
        self.progress.command_done()

    def _failure(self, tool: str, finished: commands.Finished, subject: str) -> CommandFailed:
        """What a failed command's run says: that it needed more memory than a run may use (it
        could not get memory, or the kernel's OOM killer ended it), else the tool's own error."""
        error_text = finished.output.error_text()
        if self.memory_limit and memory.ran_out(finished.exit_code, finished.output.out_of_memory):
            limit = memory.gigabytes(self.memory_limit)
            return OutOfMemory(tool, finished.exit_code, error_text, subject, limit)
        return CommandFailed(tool, finished.exit_code, error_text, subject)

    def _execute(self, command: list[str]) -> commands.Finished:
        process = commands.spawn(command, self.memory_limit, self.fence)
        with self._lock:
            self._running.add(process.pid)
        try:
            return commands.wait_for(process, self.logger)
        finally:
            with self._lock:
                self._running.discard(process.pid)

    # ---- several commands -----------------------------------------------------------------------
    def run_multiple(
        self,
        commands: Sequence[Sequence[str]],
        steps: Sequence[str] | None = None,
        subjects: Sequence[str] | None = None,
    ) -> None:
        """Run commands in parallel, at most ``max_threads`` at a time (online mode with a
        spreader: as pieces on every free worker).

        The first command to fail stops the others at once (those running are killed, those
        waiting do not start) and its own error is the one raised.
        """
        subjects = list(subjects or [""] * len(commands))
        if self.spreader is not None and len(commands) > 1:
            labels = list(steps or [Path(c[0]).name for c in commands])
            try:
                self.spreader.run_step(self, [[str(p) for p in c] for c in commands], labels, subjects)
            finally:
                self._sibling_failed.clear()
            return
        if len(commands) <= 1 or self.max_threads == 1:
            for index, command in enumerate(commands):
                self.run_command(command, steps[index] if steps else None, subject=subjects[index])
            return
        first: list[BaseException] = []

        def run_one(index: int) -> None:
            try:
                self.run_command(commands[index], steps[index] if steps else None, subject=subjects[index])
            except BaseException as err:
                with self._lock:
                    is_first = not first and not self._sibling_failed.is_set()
                    if is_first:
                        first.append(err)
                        self._sibling_failed.set()
                if is_first:
                    self._kill_running()
                raise

        try:
            with ThreadPoolExecutor(max_workers=min(self.max_threads, len(commands))) as pool:
                futures = [pool.submit(run_one, index) for index in range(len(commands))]
                wait(futures, return_when=FIRST_EXCEPTION)
                for future in futures:
                    future.cancel()  # those not started yet
        finally:
            self._sibling_failed.clear()
        if first:
            raise first[0]

    # ---- TOPP tools and Python scripts ----------------------------------------------------------
    def run_topp(
        self, tool: str, file_options: dict[str, Sequence], custom_params: dict | None = None
    ) -> None:
        """Run a TOPP tool once per input (n-th input -> n-th output) with the saved parameters.

        Each value in ``file_options`` is a list: with n entries the tool runs n times, entry i going to
        run i; with one entry that entry goes to every run. An entry that is itself a list is
        passed as several values of one option, e.g. ``{"in": [[a, b, c]], "out": [merged]}``
        collects all inputs into one call.
        """
        executable = topp_ini.require_tool(tool)
        runs = max(len(values) for values in file_options.values())
        for key, values in file_options.items():
            if len(values) not in (1, runs):
                raise ValueError(f"run_topp({tool}): '{key}' has {len(values)} entries, expected 1 or {runs}")
        options = self._tool_options(tool, custom_params or {})
        with self._threads_of(tool, runs) as threads:
            commands = [
                self._topp_command(executable, file_options, index, options, threads) for index in range(runs)
            ]
            self.logger.log(f"Running {tool} on {runs} input(s)", MINIMAL)
            steps = [f"{tool} ({index + 1}/{runs})" for index in range(runs)]
            self.run_multiple(commands, steps, [_subject(file_options, index) for index in range(runs)])

    def parallel_slots(self) -> int:
        """How many commands of a step could run at once now: the run's threads (local mode, or
        online with spreading off) or, spread, its own job's and the idle workers'. For a step that
        may be cut into as many commands as it likes (MapAlignerPoseClustering's samples)."""
        return self.max_threads if self.spreader is None else max(1, self.spreader.slots(self))

    @contextmanager
    def _threads_of(self, tool: str, runs: int) -> Iterator[int]:
        """``-threads`` of each of a step's ``runs`` calls, while the step lasts."""
        if tool in SINGLE_THREADED_TOOLS:
            yield 1
        elif self.spreader is None:  # local mode, or online with spreading off: the run's share
            yield max(1, self.max_threads // runs)
        elif runs > 1:  # pieces, side by side in this job and on other workers
            yield self.piece_threads
        else:
            with self.spreader.lone_step(self, tool) as threads:
                yield threads

    def _tool_options(self, tool: str, custom: dict) -> list[str]:
        known = self.params.tool_params(tool)
        values = {**self.params.tool_values(tool), **custom}
        options: list[str] = []
        for name, value in values.items():
            param = known.get(name)
            if param is None:
                raise ParameterError(f"{tool} has no parameter '{name}'.")
            options += topp_ini.command_line(param, topp_ini.coerce(param, value))
        return options

    @staticmethod
    def _topp_command(
        executable: str, file_options: dict, index: int, options: list[str], threads: int
    ) -> list[str]:
        command = [executable]
        for key, values in file_options.items():
            entry = values[index] if len(values) > 1 else values[0]
            command += [
                f"-{key}",
                *([str(v) for v in entry] if isinstance(entry, (list, tuple)) else [str(entry)]),
            ]
        return command + options + ["-threads", str(threads), "-no_progress"]

    def run_python(
        self, script: Path, file_options: dict[str, object], step: str | None = None, threads: bool = False
    ) -> None:
        """Run a Python script with this interpreter as ``script --key value ...``. ``threads``: the
        script takes ``--threads N`` and gets a lone step's threads (the run's own, and idle workers'
        lent while it lasts, online), as a TOPP tool alone in its step does."""
        command = [sys.executable, str(script)]
        for key, value in file_options.items():
            command += [
                f"--{key}",
                *([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]),
            ]
        name = Path(script).name
        self.logger.log(f"Running {name}", MINIMAL)
        if not threads:
            self.run_command(command, step or Path(script).stem, name=name)
            return
        with self._threads_of(name, 1) as count:
            self.run_command([*command, "--threads", str(count)], step or Path(script).stem, name=name)


def _subject(file_options: dict[str, Sequence], index: int) -> str:
    """The input file one run of a tool works on, by name (empty if it takes several or none)."""
    values = file_options.get("in") or []
    entry = values[index] if len(values) > 1 else (values[0] if values else None)
    return Path(entry).name if isinstance(entry, (str, Path)) else ""
