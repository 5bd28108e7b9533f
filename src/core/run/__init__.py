"""A run's state and what it leaves: the state enum (``state``), the status files (``status``),
the logs (``logs``), progress (``progress``) and the kept runs of a workspace (``history``).
"""

from src.core.run import history
from src.core.run.history import RunHistory, RunRecord, changed_parameters
from src.core.run.logs import (
    ALL,
    COMMANDS,
    MINIMAL,
    START_MARKER,
    WorkflowLogger,
    ended_with,
    read_log,
    tail,
)
from src.core.run.progress import Progress
from src.core.run.state import ACTIVE_STATES, END_MARKERS, FINAL_STATES, LABELS, RunState
from src.core.run.status import RunStateStore, RunStatus, RunView
from src.core.run.times import duration_text, moment_text

__all__ = [
    "ACTIVE_STATES",
    "ALL",
    "COMMANDS",
    "END_MARKERS",
    "FINAL_STATES",
    "LABELS",
    "MINIMAL",
    "RunState",
    "Progress",
    "RunHistory",
    "RunRecord",
    "RunState",
    "RunStateStore",
    "RunStatus",
    "RunView",
    "START_MARKER",
    "WorkflowLogger",
    "changed_parameters",
    "duration_text",
    "moment_text",
    "ended_with",
    "history",
    "read_log",
    "tail",
]
