"""The status of one job as the UI shows it: state, place in line, ETA, progress, error.

Reading never writes: a job that ended without its run saying so is shown with RQ's
state and error here, and its workspace is brought in line elsewhere (``reconcile.py``).
"""

from __future__ import annotations

import time

from rq.job import Job, JobStatus

from src.core.run import LABELS, RunState, RunStatus, RunView
from src.core.settings import Settings
from src.core.workflow import WorkflowBase
from src.jobs import reconcile
from src.jobs.client import queue_reading
from src.jobs.client.enqueue import fetch_owned
from src.jobs.connection import get_connection
from src.jobs.job_model import run_state_of
from src.jobs.scheduler import Scheduler, waiting_queue_name
from src.jobs.telemetry import durations

#: The words the pages use for states: a step is never one of them.
STATE_LABELS = frozenset(LABELS.values())


def _priority_of(job: Job, workflow: WorkflowBase) -> str:
    by_name = {name: p for p, name in workflow.settings.queue.queue_names.items()}
    return by_name.get(job.origin, "normal")


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


def _step(job: Job, state: JobStatus) -> str:
    """The step a worker reported, for a job that a worker took. A waiting job has none (a retry's
    meta still holds the step its lost attempt reached), and a step that names another state (a
    job queued by an older version said "Queued") is never shown beside this one."""
    run_state = run_state_of(state)
    step = str(job.meta.get("step") or "")
    if run_state is RunState.QUEUED or (step in STATE_LABELS and step != run_state.label):
        return ""
    return step


def job_status(
    workflow: WorkflowBase, job_id: str, snapshot: queue_reading.Snapshot | None = None
) -> RunView:
    """Status of a job of this workflow; raises JobAccessError for unknown or foreign jobs.

    ``snapshot`` is a shared reading of the queue (``queue_reading.shared(...).snapshot()``, at most a
    second old, what the pages poll with); without one the queue is read afresh.
    """
    connection = get_connection(workflow.settings.queue)
    job = fetch_owned(workflow, job_id, connection)  # the one round trip of this viewer's own
    state = job.get_status(refresh=False)  # fetched just now
    enqueued = job.enqueued_at.timestamp() if job.enqueued_at else 0.0
    if snapshot is None:
        snap = queue_reading.read(workflow.settings, connection)
    elif snapshot.taken_at < enqueued:  # the shared reading predates this job (just started)
        snap = queue_reading.shared(workflow.settings).snapshot(newer_than=enqueued)
    else:
        snap = snapshot
    priority = _priority_of(job, workflow)
    run_state, share = run_state_of(state), 0
    queue_length = snap.waiting_total
    if state == JobStatus.QUEUED and job.origin == waiting_queue_name(workflow.settings):
        place = Scheduler(workflow.settings, connection).place(job.id)
        if place is not None and place.held:  # its visitor's share is taken: it waits its turn
            run_state, share = RunState.HELD, place.share
            position, queue_length = place.held_position, place.visitor_held
        else:  # in the scheduler's order: behind what RQ's queues hold already, never behind held runs
            position = (place.position if place else 1) + snap.released
            ready = place.waiting_total + snap.released + snap.scheduled if place else queue_length
            queue_length = max(ready, position)
    else:
        position = snap.position(job.id, priority) if state == JobStatus.QUEUED else None
    started = job.started_at.timestamp() if job.started_at and state != JobStatus.QUEUED else None
    elapsed = time.time() - started if started else 0.0
    eta = None
    if state in (JobStatus.QUEUED, JobStatus.STARTED):
        eta = durations.estimate_eta(position, snap.workers_total, snap.typical_seconds, elapsed)
    return RunView(
        mode="queue",
        job_id=job.id,
        state=run_state,
        share=share,
        priority=priority,
        position=position,
        queue_length=queue_length,
        eta_seconds=eta,
        progress=job.meta.get("progress"),
        step=_step(job, state),
        enqueued_at=job.enqueued_at.timestamp() if job.enqueued_at else None,
        started_at=started,
        ended_at=job.ended_at.timestamp() if job.ended_at else None,
        worker=job.worker_name or job.meta.get("worker", ""),
        error=_error(workflow, job),
    )
