"""RQ's job states, mapped onto the app's run states: the one place the two meet."""

from __future__ import annotations

from rq.job import JobStatus

from src.core.states import RunState

#: What each RQ state means for the run.
RUN_STATE_OF = {
    JobStatus.CREATED: RunState.QUEUED,
    JobStatus.QUEUED: RunState.QUEUED,
    JobStatus.SCHEDULED: RunState.QUEUED,  # a retry waiting for its interval
    JobStatus.DEFERRED: RunState.QUEUED,
    JobStatus.STARTED: RunState.RUNNING,
    JobStatus.FINISHED: RunState.FINISHED,
    JobStatus.FAILED: RunState.FAILED,
    JobStatus.STOPPED: RunState.CANCELLED,  # stopped while running
    JobStatus.CANCELED: RunState.CANCELLED,  # cancelled while waiting
}
#: RQ states in which a job still holds its workflow's single active slot.
ACTIVE_JOB_STATES = frozenset(s for s, run in RUN_STATE_OF.items() if run.is_active)
#: RQ states in which a job waits for a worker.
WAITING_JOB_STATES = frozenset(s for s, run in RUN_STATE_OF.items() if run is RunState.QUEUED)


def run_state_of(status: JobStatus) -> RunState:
    return RUN_STATE_OF[status]
