"""The base class workflow authors extend, and the engine that runs ``execution()``.

An author writes four methods, as in the OpenMS template:

* ``upload(ui)``, ``configure(ui)``, ``results(ui)`` build the pages; ``ui`` is a
  Streamlit helper handed in by the page, so this module (and any workflow
  module) never imports Streamlit and a worker can load it cheaply;
* ``execution()`` does the work through ``self.executor``, ``self.files``,
  ``self.params`` and ``self.logger``.

:meth:`WorkflowBase.run` is the one way a run is executed, locally or by a queue
worker: it resets logs and results, calls ``execution()``, and always ends with
an explicit end marker (finished, failed or cancelled) in logs and status.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from src.core import notify
from src.core.errors import DISK_FULL_MESSAGE, CommandFailed, DiskFull, ParameterError, UserError
from src.core.execution import CommandExecutor, RunCancelled, Sandbox, run_memory_bytes
from src.core.layout import WorkflowLayout
from src.core.params import ParameterManager, tool_missing_message
from src.core.run import (
    ALL,
    MINIMAL,
    START_MARKER,
    Progress,
    RunHistory,
    RunRecord,
    RunState,
    RunStateStore,
    RunStatus,
    WorkflowLogger,
)
from src.core.settings import Settings, load_settings
from src.core.viewer.overlay import MapOverlay
from src.core.workflow.files import FileManager
from src.core.workspace import is_disk_full, volume_full

log = logging.getLogger(__name__)


class WorkflowBase:
    #: Shown in the UI.
    name = "Workflow"
    #: Folder name inside the workspace, and the workflow's name in settings, metrics and job
    #: records. Letters, digits and '-'; never change it once runs exist (their folders use it).
    id = "workflow"
    #: A few sentences for the Quickstart: what the workflow does and with which tools.
    description = ""
    #: Import paths ("module:Class") this class had in earlier releases: jobs queued before an
    #: upgrade name it so (see ``src/workflows/__init__.py``).
    former_refs: tuple[str, ...] = ()
    #: Queue priority in online mode: "high", "normal" or "low".
    priority = "normal"
    #: TOPP tools the workflow needs; checked before a run and on the Configure page.
    required_tools: tuple[str, ...] = ()
    #: The kinds of file (suffixes) its uploads take; the web server accepts those of every workflow.
    upload_types: tuple[str, ...] = (".mzML",)

    def __init__(self, workspace: Path | str, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.workspace = Path(workspace)
        self.dir = self.workspace / self.id
        self.layout = WorkflowLayout(self.dir)
        self.params = ParameterManager(self.dir, self.settings.workspaces_dir / ".cache" / "ini")
        fence = Sandbox(self.workspace, self.layout.results, self.settings.workspaces_dir)
        self.files = FileManager(self.dir, fence)
        self.logger = WorkflowLogger(self.layout.logs)
        self.state = RunStateStore(self.layout.run)
        self.history = RunHistory(self.dir, self.settings.runs_kept)
        self.progress = Progress()
        self.progress.subscribe(self._save_progress)
        self.executor = CommandExecutor(
            self.logger,
            self.params,
            self.progress,
            self.settings.max_threads,
            memory_limit=run_memory_bytes(self.settings),
            fence=fence,
        )
        self.last_error = ""  # the error of the latest run() if it failed

    # ---- the authoring API ----------------------------------------------------------------------
    def upload(self, ui: Any) -> None:
        """Build the File Upload page."""

    def configure(self, ui: Any) -> None:
        """Build the Configure page."""

    def execution(self) -> None:
        """Do the work. Raise, or let the executor raise, to fail the run."""
        raise NotImplementedError

    def results(self, ui: Any) -> None:
        """Build the Results page."""

    def describe_run(self, run: RunRecord) -> dict[str, object]:
        """Extra columns for a run in the run history (e.g. how many features it found)."""
        return {}

    def describe_inputs(self, paths: list[Path]) -> list[tuple[str, str]]:
        """Notes on newly uploaded files for the upload page: ("note" | "problem", message) pairs."""
        return []

    def map_overlay(self, mzml: Path) -> MapOverlay | None:
        """What the latest finished run found in the input file ``mzml`` (features, identified
        peptides) for the raw data viewer to draw over its peak map; None if nothing (no finished
        run, or the file was not one of its inputs). Read in the web server: keep it to the
        run's small per-file results, never the mzML itself."""
        return None

    # ---- the engine ---------------------------------------------------------------------------
    def missing_tools(self) -> list[str]:
        return [tool for tool in self.required_tools if shutil.which(tool) is None]

    def preflight(self) -> list[str]:
        """Problems that would make a run fail at once, as messages for the user (empty if none).

        Checked before a run is started, so a user learns of a missing tool or a bad
        parameter right away instead of after waiting in a queue.
        """
        problems = [tool_missing_message(tool) for tool in self.missing_tools()]
        for tool in self.required_tools:
            if tool in self.missing_tools():
                continue
            try:
                self.params.tool_values(tool)
            except ParameterError as err:
                problems.append(f"{err} Fix it on the Configure page.")
        return problems

    def run(self, note: str = "", keep_results: bool = False) -> RunState:
        """Execute the workflow once; never raises for a failed run, the outcome says how it went.

        ``note`` is logged right after the start marker (e.g. that this is a retry). The error of
        a failed run is also kept in ``last_error`` (the status file may be unwritable).
        ``keep_results``: a retry whose lost attempt left finished pieces keeps their results.
        """
        try:
            self._begin(note, keep_results)
            self.execution()
            outcome, error = RunState.FINISHED, ""
        except RunCancelled:
            outcome, error = RunState.CANCELLED, ""
        except BaseException as err:
            self.executor.cancel()  # no tool may outlive the run (parallel siblings included)
            if not isinstance(err, Exception):
                raise  # interpreter exit: the tools are gone, let it go on
            outcome, error = RunState.FAILED, self._failure(err)
        self.last_error = error
        self.finish(outcome, error)
        self.executor.reset()  # the same workflow object can run again
        return outcome

    def _failure(self, err: Exception) -> str:
        """The message for a failed run, written to the minimal log as well."""
        if (
            isinstance(err, DiskFull)
            or is_disk_full(err)
            or (isinstance(err, CommandFailed) and volume_full(self.dir))
        ):
            error = DISK_FULL_MESSAGE
        elif isinstance(err, CommandFailed):
            error = str(err)
            self._note(f"The workflow failed because {err.tool} failed.")
        elif isinstance(err, UserError):
            error = str(err)
        else:  # a bug or a job timeout must still end the run visibly
            self._note(traceback.format_exc(), ALL)
            error = f"Unexpected error: {type(err).__name__}: {err}"
        if not isinstance(err, CommandFailed) or error == DISK_FULL_MESSAGE:
            self._note(error)
        return error

    def _note(self, message: str, level: int = MINIMAL) -> None:
        """Log a message of the run's end; a log the full disk refuses must not hide the outcome."""
        try:
            self.logger.log(message, level)
        except OSError as err:
            log.warning("could not write to the logs of %s: %s", self.dir, err)

    def _begin(self, note: str, keep_results: bool = False) -> None:
        self.history.archive_latest()  # a run started directly (not through a runner or the queue)
        if not keep_results:
            self.files.clear_results()
        self.logger.reset()
        self.logger.log(START_MARKER, MINIMAL)
        self.logger.log(f"{self.name} in workspace {self.workspace.name}", MINIMAL)
        if note:
            self.logger.log(note, MINIMAL)
        started = time.time()
        self.history.record_start(self.params.load(), self.files.all_inputs(), started)
        self.state.write(RunStatus(state=RunState.RUNNING, progress=0.0, step="Starting", started_at=started))

    def kept_runs(self) -> list[RunRecord]:
        """The runs kept for this workflow in this workspace, newest first (see ``history.py``)."""
        return self.history.runs(self.state.read())

    def finish(self, outcome: RunState, error: str = "") -> None:
        """Write the final status and the end marker (also used by whoever stops a dead run).

        On a full disk the status still gets written (in place, see ``write_json``); a log that
        cannot take the end marker is reported, not raised.
        """
        status = self.state.read()
        if outcome is RunState.FINISHED:
            self.progress.complete("Finished")
        ended = self.state.update(
            state=outcome, ended_at=time.time(), error=error, step=outcome.end_step(status.step)
        )
        if outcome is RunState.CANCELLED:
            self._note("The workflow was stopped by the user.")
        self._announce(ended)
        try:
            self.logger.end(outcome)
        except OSError as err:
            log.warning("could not write the end marker of %s: %s", self.dir, err)

    def _announce(self, status: RunStatus) -> None:
        """Notifications of the end (if configured): whatever happens to them, the run has ended."""
        try:
            notify.announce(self.settings, self.name, self.workspace, status, self._note)
        except Exception as err:  # a bug in notifying must not change how the run ended
            log.warning("notifying the end of %s failed: %s", self.dir, err, exc_info=True)

    def _save_progress(self, fraction: float | None, step: str) -> None:
        self.state.update(progress=fraction, step=step)
