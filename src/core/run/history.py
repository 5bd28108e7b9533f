"""The runs of a workflow in one workspace: the latest in place, earlier ones under ``history/``.

The latest run lives where the engine writes it (``results/``, ``logs/``, ``run/status.json``)
so that everything that watches a run reads the same paths as before. When the next run
is started, the ended one is *moved* (renames on one volume: no copy, no extra disk) to
``history/<run id>/`` with the same layout, plus ``record.json``: the parameters the run
used (only what differed from the defaults, see ``params.py``) and its input files.
The oldest ended runs beyond the ``runs_kept`` setting are removed; an active run is never
touched, since only ended runs are ever archived. Workspaces from before run history
simply have a latest run without a record.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from src.core.jsonfile import read_json, write_json
from src.core.layout import LOGS, RECORD_FILE, RESULTS, WorkflowLayout
from src.core.run.state import RunState
from src.core.run.status import RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """One run as the pages list it: where its files are and what it was."""

    id: str
    folder: Path  # the workflow folder for the latest run, history/<id> for earlier ones
    status: RunStatus
    params: dict | None  # None: not recorded (a workspace from before run history)
    inputs: list[dict]
    latest: bool

    @property
    def results_root(self) -> Path:
        return self.folder / RESULTS

    @property
    def log_dir(self) -> Path:
        return self.folder / LOGS

    @property
    def started(self) -> str:
        if self.status.started_at is None:
            return "time unknown"
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.status.started_at))


def new_run_id(started_at: float) -> str:
    """Sortable by start time, unique: e.g. ``20261129-174210052113-3f9a1c`` (to the microsecond:
    runs of one file take less than a second, and two in the same second must still sort by age;
    ids of earlier versions, without the microseconds, sort before those of their second)."""
    micro = int(round(started_at % 1 * 1_000_000)) % 1_000_000
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started_at))
    return f"{stamp}{micro:06d}-{uuid.uuid4().hex[:6]}"


class RunHistory:
    """Records, archives, lists and prunes the runs of one workflow folder."""

    def __init__(self, workflow_dir: Path, runs_kept: int) -> None:
        self.dir = workflow_dir
        self.layout = WorkflowLayout(workflow_dir)
        self.root = self.layout.history
        self.runs_kept = max(1, runs_kept)

    @property
    def _record_path(self) -> Path:
        return self.layout.record

    def record_start(self, params: dict, inputs: list[Path], started_at: float) -> None:
        """Note what the run that starts now uses (its id, parameters and inputs)."""
        run_id = new_run_id(started_at)
        write_json(
            self._record_path,
            {
                "id": run_id,
                "params": params,
                "inputs": [{"name": p.name, "bytes": p.stat().st_size} for p in inputs if p.exists()],
            },
        )

    def archive_latest(self) -> str | None:
        """Move the latest run to history if it has ended; returns its id (None: nothing moved).

        Called when a new run is started (under the start lock of its mode) and by the engine
        before it executes, so a run started either way finds its predecessor archived once.
        """
        status_path = self.layout.status
        status = read_json(status_path)
        if not RunState.of(status.get("state")).is_final:
            return None
        record = read_json(self._record_path)
        run_id = str(record.get("id") or new_run_id(status.get("started_at") or time.time()))
        target = self.root / run_id
        target.mkdir(parents=True, exist_ok=True)
        for name in (RESULTS, LOGS):
            if (self.dir / name).exists():
                os.replace(self.dir / name, target / name)
        write_json(target / RECORD_FILE, {**record, "id": run_id, "status": status})
        status_path.unlink(missing_ok=True)
        self._record_path.unlink(missing_ok=True)
        self.prune()
        return run_id

    def prune(self) -> list[str]:
        """Remove the oldest archived runs so that, with the latest, ``runs_kept`` remain."""
        archived = self._archived_ids()
        removed = archived[: max(0, len(archived) - (self.runs_kept - 1))]
        for run_id in removed:
            shutil.rmtree(self.root / run_id, ignore_errors=True)
            log.info("run history of %s: removed the oldest run %s", self.dir, run_id)
        return removed

    def _archived_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / RECORD_FILE).is_file())

    def runs(self, latest_status: RunStatus) -> list[RunRecord]:
        """Every kept run, newest first: the latest (if it ever started), then the archived ones."""
        found = []
        if latest_status.state is not RunState.NEW:
            found.append(_run(read_json(self._record_path), self.dir, latest_status, latest=True))
        for run_id in reversed(self._archived_ids()):
            record = {**read_json(self.root / run_id / RECORD_FILE), "id": run_id}
            status = RunStatus.from_dict(record.get("status", {}))
            found.append(_run(record, self.root / run_id, status, latest=False))
        return found


def _run(record: dict, folder: Path, status: RunStatus, latest: bool) -> RunRecord:
    return RunRecord(
        id=str(record.get("id", "latest")),
        folder=folder,
        status=status,
        params=record.get("params") if "params" in record else None,
        inputs=list(record.get("inputs", [])),
        latest=latest,
    )


def changed_parameters(params: dict | None) -> str:
    """A run's parameters that differ from the defaults, in a line ("defaults" if none)."""
    if params is None:
        return "not recorded"
    items = []
    for key, value in sorted(params.items()):
        if isinstance(value, dict):  # a TOPP tool's section
            items += [f"{key} {name.split(':')[-1]}={_number(v)}" for name, v in sorted(value.items())]
        else:
            items.append(f"{key}={value}")
    return ", ".join(items) or "defaults"


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
