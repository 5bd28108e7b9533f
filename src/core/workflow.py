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

from src.core.executor import CommandExecutor, CommandFailed, RunCancelled
from src.core.files import FileManager, InputError
from src.core.logs import ALL, MINIMAL, START_MARKER, WorkflowLogger
from src.core.params import ParameterManager
from src.core.progress import Progress
from src.core.run_state import RUN_DIR, RunStateStore, RunStatus
from src.core.settings import Settings, load_settings
from src.core.states import RunState
from src.core.topp_ini import ParameterError, ToolNotFoundError, tool_missing_message

log = logging.getLogger(__name__)

#: Errors whose message is already written for the user: shown as they are.
USER_ERRORS = (InputError, ParameterError, ToolNotFoundError)


class WorkflowBase:
    #: Shown in the UI.
    name = "Workflow"
    #: Folder name inside the workspace; also part of job ids. Letters, digits and '-'.
    id = "workflow"
    #: Queue priority in online mode: "high", "normal" or "low".
    priority = "normal"
    #: TOPP tools the workflow needs; checked before a run and on the Configure page.
    required_tools: tuple[str, ...] = ()

    def __init__(self, workspace: Path | str, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.workspace = Path(workspace)
        self.dir = self.workspace / self.id
        self.params = ParameterManager(self.dir, self.settings.workspaces_dir / ".cache" / "ini")
        self.files = FileManager(self.dir)
        self.logger = WorkflowLogger(self.dir / "logs")
        self.state = RunStateStore(self.dir / RUN_DIR)
        self.progress = Progress()
        self.progress.subscribe(self._save_progress)
        self.executor = CommandExecutor(self.logger, self.params, self.progress, self.settings.max_threads)

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

    def run(self, note: str = "") -> RunState:
        """Execute the workflow once; never raises for a failed run, the outcome says how it went.

        ``note`` is logged right after the start marker (e.g. that this is a retry).
        """
        self._begin()
        if note:
            self.logger.log(note, MINIMAL)
        error = ""
        try:
            self.execution()
            outcome = RunState.FINISHED
        except RunCancelled:
            outcome = RunState.CANCELLED
        except CommandFailed as err:
            self.executor.cancel()  # stop parallel siblings of the failed command
            outcome, error = RunState.FAILED, str(err)
            self.logger.log(f"The workflow failed because {err.tool} failed.", MINIMAL)
        except USER_ERRORS as err:
            outcome, error = RunState.FAILED, str(err)
            self.logger.log(error, MINIMAL)
        except Exception as err:  # noqa: BLE001 - a bug or a job timeout must still end the run visibly
            self.executor.cancel()  # no tool may outlive the run
            self.logger.log(traceback.format_exc(), ALL)
            outcome, error = RunState.FAILED, f"Unexpected error: {type(err).__name__}: {err}"
            self.logger.log(error, MINIMAL)
        except BaseException:
            self.executor.cancel()  # interpreter exit: take the tools along, then let it go on
            raise
        self.finish(outcome, error)
        return outcome

    def _begin(self) -> None:
        self.files.clear_results()
        self.logger.reset()
        self.logger.log(START_MARKER, MINIMAL)
        self.logger.log(f"{self.name} in workspace {self.workspace.name}", MINIMAL)
        self.state.write(
            RunStatus(state=RunState.RUNNING, progress=0.0, step="Starting", started_at=time.time())
        )

    def finish(self, outcome: RunState, error: str = "") -> None:
        """Write the final status and the end marker (also used by whoever stops a dead run)."""
        status = self.state.read()
        if outcome is RunState.FINISHED:
            self.progress.complete("Finished")
        step = outcome.end_step(status.step)
        self.state.update(state=outcome, ended_at=time.time(), error=error, step=step)
        if outcome is RunState.CANCELLED:
            self.logger.log("The workflow was stopped by the user.", MINIMAL)
        self.logger.end(outcome)

    def _save_progress(self, fraction: float | None, step: str) -> None:
        self.state.update(progress=fraction, step=step)
