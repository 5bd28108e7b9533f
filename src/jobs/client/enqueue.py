"""The queue client: enqueue a workflow run as an RQ job, find it again, cancel or stop it.

Every function that takes a job id also takes the workflow (and so the workspace)
asking about it, and refuses a job that belongs to another workspace: a job id
from a URL or a forged request never reaches another user's work. Reading a job's
status is ``src/jobs/client/status.py``; run-time statistics ``durations.py``; writing the
end of a job that could not say so ``reconcile.py``; the admin's actions ``admin.py``.
"""

from __future__ import annotations

import logging
import time
import uuid

from redis import Redis
from redis.exceptions import LockError
from rq import Queue
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from src.core.errors import ALREADY_ACTIVE
from src.core.jsonfile import read_json, write_json
from src.core.run import RunState, RunStatus
from src.core.settings import PRIORITIES, Settings
from src.core.workflow import WorkflowBase, workflow_ref
from src.jobs import pieces, reconcile, run_events
from src.jobs.client import limits as visitor_limits
from src.jobs.connection import get_connection
from src.jobs.errors import JobAccessError, StartRefused
from src.jobs.job_model import (
    ACTIVE_JOB_STATES,
    META_WORKFLOW,
    META_WORKSPACE,
    WAITING_JOB_STATES,
    retry_policy,
)
from src.jobs.scheduler import ORDER_LOCK, ORDER_LOCK_WAIT_SECONDS, Scheduler

log = logging.getLogger(__name__)

#: The job function every run goes through (an import path, so the app never imports the worker side).
TASK = "src.jobs.worker.tasks.run_workflow"
#: Redis lock that makes "count the queue, then enqueue" atomic across app processes.
ENQUEUE_LOCK = ORDER_LOCK
#: How long a start waits for that lock before it is refused with a message.
ENQUEUE_WAIT_SECONDS = ORDER_LOCK_WAIT_SECONDS


def priority_queues(settings: Settings, connection: Redis | None = None) -> dict[str, Queue]:
    """The three priority queues, keyed by priority, in the order workers take from them."""
    connection = connection or get_connection(settings.queue)
    return {p: Queue(settings.queue.queue_names[p], connection=connection) for p in PRIORITIES}


def _job_file(workflow: WorkflowBase):
    return workflow.layout.job


def recorded_job_id(workflow: WorkflowBase) -> str | None:
    return read_json(_job_file(workflow)).get("job_id") or None


def forget_job(workflow: WorkflowBase) -> None:
    """Local runs replace queued ones: drop the record of the last job."""
    _job_file(workflow).unlink(missing_ok=True)


def new_job_id() -> str:
    """Random: a job id may reach pages (the visitor's own Run page), so it must not name the
    workspace, which is the key to it. The workspace knows its job from run/job.json."""
    return uuid.uuid4().hex


def fetch_owned(workflow: WorkflowBase, job_id: str, connection: Redis) -> Job:
    """Fetch a job, refusing one that is unknown or belongs to another workspace."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise JobAccessError(f"There is no job '{job_id}' (it may have expired from the queue).") from None
    if job.meta.get(META_WORKSPACE) != str(workflow.workspace) or job.meta.get(META_WORKFLOW) != workflow.id:
        log.warning("workspace %s asked for job %s of another workspace", workflow.workspace.name, job_id)
        raise JobAccessError(
            "That job belongs to another workspace; you can only see and stop your own jobs."
        )
    return job


def active_job(workflow: WorkflowBase, connection: Redis) -> Job | None:
    """The workflow's recorded job if it is still queued or running."""
    job_id = recorded_job_id(workflow)
    if not job_id:
        return None
    try:
        job = fetch_owned(workflow, job_id, connection)
    except JobAccessError:
        return None
    return job if job.get_status() in ACTIVE_JOB_STATES else None


def enqueue(workflow: WorkflowBase, priority: str | None = None, visitor: str = "") -> str:
    """Queue a run of the workflow; return the job id. Raises StartRefused with the reason.

    ``visitor`` is the visitor's address: it may have ``limits.running_runs_per_client`` runs
    started at once (across workspaces); its further runs are held in the scheduler's order and
    start by themselves, up to ``limits.held_runs_per_client``. Held runs do not count toward
    ``max_queued`` (work waiting for a worker), so they never fill the queue for others. Runs
    started by code rather than by a visitor (no visitor: the benchmarks, an operator's script) are
    each a visitor of their own.
    """
    settings = workflow.settings
    priority = priority or workflow.priority
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    order = Scheduler(settings, get_connection(settings.queue))
    lock = order.connection.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=ENQUEUE_WAIT_SECONDS)
    if not lock.acquire():
        raise StartRefused(
            "The job queue is busy with other starts right now; nothing was started. Press Start "
            "again in a moment."
        )
    try:
        job_id = _enqueue_checked(workflow, priority, visitor, order)
    finally:
        try:
            lock.release()
        except LockError as err:  # it expired meanwhile: the job was queued all the same
            log.warning("the enqueue lock had expired before it was released: %s", err)
    order.release_for_idle_workers()  # an idle worker takes it now, if it is its turn
    return job_id


def _enqueue_checked(workflow: WorkflowBase, priority: str, visitor: str, order: Scheduler) -> str:
    """Under the enqueue lock: refuse, or put the run in the scheduler's order; return its id."""
    settings = workflow.settings
    if active_job(workflow, order.connection) is not None:
        raise StartRefused(ALREADY_ACTIVE)
    key = visitor_limits.visitor_key(visitor) if visitor else ""
    if key:  # the visitor's own bound first: its held runs are its own business, not the queue's
        held = order.held_runs_of(key, adding=1)
        if held > settings.limits.held_runs_per_client:
            log.info("start refused: visitor %s has %d held runs", visitor, held - 1)
            raise StartRefused(visitor_limits.held_limit_message(held - 1, settings.limits, visitor))
    if order.queued_count() >= settings.queue.max_queued:
        raise StartRefused(
            f"The queue is full ({settings.queue.max_queued} runs waiting for a worker). "
            "Please try again in a few minutes."
        )
    return _enqueue_job(workflow, priority, order, key).id


def _enqueue_job(
    workflow: WorkflowBase, priority: str, order: Scheduler, visitor_key: str = "", job_id: str = ""
) -> Job:
    settings, connection = workflow.settings, order.connection
    job_id = job_id or new_job_id()  # an id of its own only where a test recreates an old job
    # Record the job before it can start, so a worker never runs a job its workspace does not know.
    write_json(_job_file(workflow), {"job_id": job_id, "priority": priority, "enqueued_at": time.time()})
    mark_queued(workflow, job_id, priority)  # before the push: a fast worker must not be overwritten
    try:
        job = Job.create(
            TASK,
            args=(workflow_ref(type(workflow)), str(workflow.workspace)),
            connection=connection,
            id=job_id,
            description=workflow.name,
            timeout=settings.queue.job_timeout,
            result_ttl=settings.queue.result_ttl,
            failure_ttl=settings.queue.failure_ttl,
            retry=retry_policy(settings),
            meta={
                META_WORKSPACE: str(workflow.workspace),
                META_WORKFLOW: workflow.id,
                "progress": 0.0,
                # No step until a worker takes the job (tasks.run_workflow writes "Starting"): a
                # step named after a waiting state would show beside "Running" in that instant.
                "step": "",
                visitor_limits.META_KEY: visitor_key,
            },
            on_failure=Callback("src.jobs.worker.tasks.on_job_failure"),
            on_stopped=Callback("src.jobs.worker.tasks.on_job_stopped"),
        )
        order.submit_run(job, visitor_key, priority)
        run_events.queued(job.id, priority)
        return job
    except BaseException as err:
        forget_job(workflow)  # nothing half-enqueued: no record of a job that does not exist
        workflow.logger.log(f"Could not queue the run: {err}")
        workflow.state.write(RunStatus())
        raise


def mark_queued(workflow: WorkflowBase, job_id: str, priority: str) -> None:
    """Fresh logs and status for the new run, so the Run page shows it from the first second."""
    for stale in workflow.layout.ended_markers():
        stale.unlink(missing_ok=True)
    workflow.history.archive_latest()  # the ended run moves to the history before the new one
    workflow.logger.reset()
    workflow.logger.log(f"Queued as job {job_id} (priority {priority})")
    workflow.state.write(RunStatus(state=RunState.QUEUED, step="Waiting for a worker"))


def cancel(workflow: WorkflowBase, job_id: str, settle_seconds: float = 2.0) -> str:
    """Cancel a waiting run or stop a running one, with every piece of it on every worker;
    return the final RQ state of the run's own job."""
    connection = get_connection(workflow.settings.queue)
    job = fetch_owned(workflow, job_id, connection)
    state = job.get_status()
    if state in WAITING_JOB_STATES:
        job.cancel()
    elif state == JobStatus.STARTED:
        send_stop_job_command(connection, job.id)
    else:
        return state.value
    pieces.end_run(workflow.settings, connection, job.id)  # its share is free, its pieces end
    deadline = time.monotonic() + settle_seconds
    while job.get_status() in ACTIVE_JOB_STATES and time.monotonic() < deadline:
        time.sleep(0.05)
    reconcile.write_end(workflow, job)  # the stopped callback may have written it already
    return job.get_status().value
