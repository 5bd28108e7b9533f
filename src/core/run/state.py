"""The states of a workflow run: the one place they are spelled.

Disk (``run/status.json``), logs (end markers), the queue (RQ's job states are mapped
onto these in ``src/jobs/job_model.py``) and the pages all use :class:`RunState`.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """A run's state; the value is what ``status.json`` stores."""

    NEW = ""  # never run in this workspace
    QUEUED = "queued"  # waiting for a worker (or for a retry)
    HELD = "held"  # waiting because its visitor has its share of runs started (online mode)
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, raw: object) -> RunState:
        """The state stored as ``raw``; anything unknown counts as never run."""
        try:
            return cls(raw or "")
        except ValueError:
            return cls.NEW

    @property
    def label(self) -> str:
        """The word the pages show."""
        return LABELS[self]

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def end_marker(self) -> str:
        """The last line of every log of a run that ended in this state."""
        if not self.is_final:
            raise ValueError(f"a run does not end as {self.value or 'new'}")
        return f"=== WORKFLOW {self.value.upper()} ==="

    def end_step(self, last_step: str) -> str:
        """The step shown once the run ended this way (a failure names the step it failed in)."""
        if self is RunState.FAILED:
            return f"Failed during {last_step}"
        return "Finished" if self is RunState.FINISHED else self.label


LABELS = {
    RunState.NEW: "Not run yet",
    RunState.QUEUED: "Queued",
    RunState.HELD: "Waiting",
    RunState.RUNNING: "Running",
    RunState.FINISHED: "Completed",
    RunState.FAILED: "Failed",
    RunState.CANCELLED: "Cancelled",
}
FINAL_STATES = frozenset({RunState.FINISHED, RunState.FAILED, RunState.CANCELLED})
ACTIVE_STATES = frozenset({RunState.QUEUED, RunState.HELD, RunState.RUNNING})
END_MARKERS = {state: state.end_marker for state in FINAL_STATES}
