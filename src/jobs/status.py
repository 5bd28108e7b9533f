"""The status of one job as the UI shows it: state, place in line, ETA, progress, error.

Reading never writes: a job that ended without its run saying so is shown with RQ's
state and error here, and its workspace is brought in line elsewhere (``reconcile.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis
from rq import worker_registration
from rq.job import Job, JobStatus

from src.core.run_state import RunStatus
from src.core.settings import PRIORITIES, Settings
from src.core.states import RunState
from src.core.workflow import WorkflowBase
from src.jobs import durations, reconcile
from src.jobs import queue as q
from src.jobs.connection import get_connection
from src.jobs.job_states import run_state_of


@dataclass
class QueueStatus:
    """Everything the UI shows about one queued or running job."""

    job_id: str
    state: RunState
    priority: str
    position: int | None = None  # 1 = next to run, counting higher-priority queues first
    queue_length: int = 0  # jobs waiting in all priorities
    eta_seconds: float | None = None  # rough time until this job finishes
    progress: float | None = None
    step: str = ""
    enqueued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str = ""
    error: str = ""

    @property
    def is_active(self) -> bool:
        return self.state.is_active


def _priority_of(job: Job, workflow: WorkflowBase) -> str:
    by_name = {name: p for p, name in workflow.settings.queue.queue_names.items()}
    return by_name.get(job.origin, "normal")


def _snapshot(workflow: WorkflowBase, job: Job, connection: Redis) -> dict:
    """Queue lengths, the job's index in its queue, the worker keys and recent durations,
    read in one round trip (a status read is polled every second by every open Run page)."""
    queues = q.queues(workflow.settings, connection)
    priority = _priority_of(job, workflow)
    with connection.pipeline(transaction=False) as pipe:
        for p in PRIORITIES:
            pipe.llen(queues[p].key)
        pipe.lpos(queues[priority].key, job.id)
        pipe.smembers(worker_registration.WORKERS_BY_QUEUE_KEY % queues["normal"].name)
        pipe.lrange(durations.DURATIONS_KEY, 0, -1)
        *lengths, index, worker_keys, recent = pipe.execute()
    return {
        "lengths": dict(zip(PRIORITIES, lengths, strict=True)),
        "priority": priority,
        "index": index,
        "worker_keys": worker_keys,
        "durations": recent,
    }


def _position(job: Job, snap: dict) -> tuple[int | None, int]:
    """(1-based place among waiting jobs, counting higher priorities first; total waiting)."""
    lengths = snap["lengths"]
    total = sum(lengths.values())
    if job.get_status(refresh=False) != JobStatus.QUEUED or snap["index"] is None:
        return None, total
    ahead = sum(lengths[p] for p in PRIORITIES[: PRIORITIES.index(snap["priority"])])
    return ahead + snap["index"] + 1, total


def _live_workers(worker_keys, connection: Redis) -> int:
    with connection.pipeline(transaction=False) as pipe:
        for key in worker_keys:
            pipe.exists(key)
        return sum(pipe.execute())


def failure_message(job: Job, settings: Settings, recorded: RunStatus) -> str:
    """Why a failed job failed: the workflow's own message (tool name and error text) when its
    run status ``recorded`` has one, else what RQ knows (lost worker, time limit, last line)."""
    if recorded.is_final and recorded.error:
        return recorded.error
    text = job.exc_info or ""
    if "AbandonedJobError" in text or "Work-horse terminated unexpectedly" in text:
        return reconcile.worker_lost_message(settings)
    if "JobTimeoutException" in text:
        return f"The run took longer than the limit of {settings.queue.job_timeout} s and was stopped."
    return text.strip().splitlines()[-1] if text.strip() else "The job failed."


def _error(workflow: WorkflowBase, job: Job) -> str:
    if job.get_status(refresh=False) != JobStatus.FAILED:
        return ""
    return failure_message(job, workflow.settings, workflow.state.read())


def job_status(workflow: WorkflowBase, job_id: str) -> QueueStatus:
    """Status of a job of this workflow; raises JobAccessError for unknown or foreign jobs."""
    connection = get_connection(workflow.settings.queue)
    job = q.fetch_owned(workflow, job_id, connection)
    state = job.get_status(refresh=False)  # fetched just now
    snap = _snapshot(workflow, job, connection)
    position, waiting = _position(job, snap)
    started = job.started_at.timestamp() if job.started_at and state != JobStatus.QUEUED else None
    elapsed = time.time() - started if started else 0.0
    eta = None
    if state in (JobStatus.QUEUED, JobStatus.STARTED):
        workers = _live_workers(snap["worker_keys"], connection)
        eta = durations.estimate_eta(position, workers, durations.median_duration(snap["durations"]), elapsed)
    return QueueStatus(
        job_id=job.id,
        state=run_state_of(state),
        priority=snap["priority"],
        position=position,
        queue_length=waiting,
        eta_seconds=eta,
        progress=job.meta.get("progress"),
        step=job.meta.get("step", ""),
        enqueued_at=job.enqueued_at.timestamp() if job.enqueued_at else None,
        started_at=started,
        ended_at=job.ended_at.timestamp() if job.ended_at else None,
        worker=job.worker_name or job.meta.get("worker", ""),
        error=_error(workflow, job),
    )
