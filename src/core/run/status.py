"""The state of a workflow's latest run, kept in small JSON files in ``<workflow>/run/``.

``status.json`` is written only by the process that executes the run (or, after
that process is gone, by whoever cleans up after it), so there is never more than
one writer at a time. Every write is atomic (temp file + rename) because the UI
polls these files while they change.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from src.core.jsonfile import read_json, write_json
from src.core.layout import ENDED_PREFIX, PID_FILE, STATUS_FILE
from src.core.run.state import RunState


@dataclass
class RunStatus:
    """What the UI shows about a run: state, progress, current step, times and error."""

    state: RunState = RunState.NEW
    progress: float | None = None
    step: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    error: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = RunState.of(self.state)  # read from JSON as text

    @classmethod
    def from_dict(cls, data: dict) -> RunStatus:
        """A status from its JSON form; keys it does not know (from other versions) are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def took(self) -> float | None:
        """How long the run took, once it has ended (None before)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


@dataclass
class RunView(RunStatus):
    """A run as the pages show it, in either mode: its status (its workspace's, or its queued job's)
    and, for a run on the queue, where it stands there. The queue's fields stay empty otherwise."""

    mode: str = ""  # "queue" or "local"; empty before the first run
    job_id: str = ""
    priority: str = ""
    position: int | None = None  # 1 = next to run, counting higher priorities first
    queue_length: int = 0  # runs waiting (for a held run: its visitor's held runs)
    eta_seconds: float | None = None  # rough time until the run finishes
    enqueued_at: float | None = None
    worker: str = ""
    notice: str = ""  # why the run is shown as it is (Redis away, a local run instead)
    share: int = 0  # a held run: how many runs its visitor may have started at once

    @property
    def active(self) -> bool:
        return self.state.is_active

    @classmethod
    def of(cls, status: RunStatus, **queue: object) -> RunView:
        """A workspace's status as a view, with what is known of the queue."""
        return cls(**{f.name: getattr(status, f.name) for f in fields(RunStatus)}, **queue)


class RunStateStore:
    """Reads and writes one workflow's run/status.json and run/pid.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock = threading.Lock()

    @property
    def status_path(self) -> Path:
        return self.run_dir / STATUS_FILE

    def read(self) -> RunStatus:
        return RunStatus.from_dict(read_json(self.status_path))

    def write(self, status: RunStatus) -> None:
        with self._lock:
            write_json(self.status_path, asdict(status))

    def update(self, **changes: object) -> RunStatus:
        with self._lock:
            status = self.read()
            for key, value in changes.items():
                setattr(status, key, RunState.of(value) if key == "state" else value)
            write_json(self.status_path, asdict(status))
            return status

    def claim_end(self, run_id: str) -> bool:
        """True for exactly one caller per run id: that caller writes the run's end marker.

        Several processes can notice that a run ended without saying so (the app's
        status polls, a worker's clean-up); an exclusive file create picks one.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.run_dir / f"{ENDED_PREFIX}{run_id}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def write_pid(self, pid: int, create_time: float) -> None:
        write_json(self.run_dir / PID_FILE, {"pid": pid, "create_time": create_time})

    def read_pid(self) -> tuple[int, float] | None:
        data = read_json(self.run_dir / PID_FILE)
        if "pid" not in data:
            return None
        return int(data["pid"]), float(data.get("create_time", 0.0))
