"""Where everything of a workflow lives in a workspace, spelled once::

    <workspace>/
        notify.json                   the address runs are announced to (src/core/notify)
        .uploads/                     uploads in flight: <token>.part, .lock (src/core/workspace)
        <workflow id>/
            input-files/<key>/        uploads and example inputs, one folder per kind of input
            results/<step>/           the latest run's outputs, one folder per step
            logs/                     minimal.log, commands.log, all.log
            run/                      status.json, pid.json (a local run), job.json (its queued
                                      job), start.lock, ended-<job id>, record.json
            history/<run id>/         each earlier run: run/, results/, logs/
            params.json               the parameters that differ from the tools' defaults

Every module that reads or writes one of these takes its path from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INPUTS, RESULTS, LOGS, RUN, HISTORY = "input-files", "results", "logs", "run", "history"
STATUS_FILE, PID_FILE, JOB_FILE, RECORD_FILE = "status.json", "pid.json", "job.json", "record.json"
START_LOCK, ENDED_PREFIX, PARAMS_FILE = "start.lock", "ended-", "params.json"
#: In the workspace itself, beside its workflows' folders.
NOTIFY_FILE, SPOOL_DIR = "notify.json", ".uploads"


@dataclass(frozen=True)
class WorkflowLayout:
    """The paths of one workflow's folder (``dir``, i.e. ``<workspace>/<workflow id>``)."""

    dir: Path

    @classmethod
    def of(cls, workspace: Path | str, workflow_id: str) -> WorkflowLayout:
        return cls(Path(workspace) / workflow_id)

    @property
    def inputs(self) -> Path:
        return self.dir / INPUTS

    @property
    def results(self) -> Path:
        return self.dir / RESULTS

    @property
    def logs(self) -> Path:
        return self.dir / LOGS

    @property
    def run(self) -> Path:
        return self.dir / RUN

    @property
    def history(self) -> Path:
        return self.dir / HISTORY

    @property
    def params(self) -> Path:
        return self.dir / PARAMS_FILE

    @property
    def status(self) -> Path:
        return self.run / STATUS_FILE

    @property
    def pid(self) -> Path:
        return self.run / PID_FILE

    @property
    def job(self) -> Path:
        return self.run / JOB_FILE

    @property
    def record(self) -> Path:
        return self.run / RECORD_FILE

    @property
    def start_lock(self) -> Path:
        return self.run / START_LOCK

    def ended_markers(self) -> list[Path]:
        return sorted(self.run.glob(f"{ENDED_PREFIX}*"))
