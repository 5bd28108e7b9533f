"""The queue client: enqueue a workflow run as an RQ job, read its status, cancel or stop it.

Every function that takes a job id also takes the workflow (and so the workspace)
asking about it, and refuses a job that belongs to another workspace: a job id
from a URL or a forged request never reaches another user's work.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from src.core.run_state import RunStatus, read_json, write_json
from src.core.runner import build_workflow, workflow_ref
from src.core.settings import PRIORITIES, Settings, load_settings
from src.core.workflow import WorkflowBase
from src.jobs import client_limits
from src.jobs.connection import get_connection

log = logging.getLogger(__name__)

#: The job function every run goes through (an import path, so the app never imports the worker side).
TASK = "src.jobs.tasks.run_workflow"
#: Where a workflow remembers its latest job (inside <workflow>/run/).
JOB_FILE = "job.json"
#: Redis list of recent successful run durations (seconds), newest first, for ETAs.
DURATIONS_KEY = "openms:durations"
DURATIONS_KEPT = 50
#: Redis lock that makes "count the queue, then enqueue" atomic across app processes.
ENQUEUE_LOCK = "openms:enqueue-lock"

#: RQ states in which a job still holds its workflow's single active slot.
ACTIVE_STATES = {
    JobStatus.QUEUED,
    JobStatus.STARTED,
    JobStatus.SCHEDULED,
    JobStatus.DEFERRED,
    JobStatus.CREATED,
}
#: RQ states in which a job waits for a worker.
WAITING_STATES = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED}


class QueueError(RuntimeError):
    """A queue operation was refused; the message is written for the user."""


class StartRefused(QueueError):
    """A new run cannot be queued (already active, queue full)."""


class JobAccessError(QueueError):
    """The job does not exist or belongs to another workspace."""


@dataclass
class QueueStatus:
    """Everything the UI shows about one queued or running job."""

    job_id: str
    state: str  # RQ's state: queued, scheduled, started, finished, failed, stopped, canceled
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
        return self.state in {s.value for s in ACTIVE_STATES}


def queues(settings: Settings, connection: Redis | None = None) -> dict[str, Queue]:
    """The three priority queues, keyed by priority, in the order workers take from them."""
    connection = connection or get_connection(settings.queue)
    return {p: Queue(settings.queue.queue_names[p], connection=connection) for p in PRIORITIES}


def _job_file(workflow: WorkflowBase):
    return workflow.state.run_dir / JOB_FILE


def recorded_job_id(workflow: WorkflowBase) -> str | None:
    return read_json(_job_file(workflow)).get("job_id") or None


def forget_job(workflow: WorkflowBase) -> None:
    """Local runs replace queued ones: drop the record of the last job."""
    _job_file(workflow).unlink(missing_ok=True)


def new_job_id() -> str:
    """Random: a job id may reach pages (the visitor's own Run page), so it must not name the
    workspace, which is the key to it. The workspace knows its job from run/job.json."""
    return uuid.uuid4().hex


def _timestamp(value) -> float | None:
    return value.timestamp() if value else None


def fetch_owned(workflow: WorkflowBase, job_id: str, connection: Redis) -> Job:
    """Fetch a job, refusing one that is unknown or belongs to another workspace."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise JobAccessError(f"There is no job '{job_id}' (it may have expired from the queue).") from None
    if job.meta.get("workspace") != str(workflow.workspace) or job.meta.get("workflow") != workflow.id:
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
    return job if job.get_status() in ACTIVE_STATES else None


def waiting_count(settings: Settings, connection: Redis) -> int:
    """Jobs waiting for a worker, all priorities (queued plus scheduled retries)."""
    total = 0
    for queue in queues(settings, connection).values():
        total += queue.count + queue.scheduled_job_registry.get_job_count(cleanup=False)
    return total


def _retry(settings: Settings) -> Retry | None:
    if settings.queue.retries <= 0:
        return None
    return Retry(max=settings.queue.retries, interval=list(settings.queue.retry_intervals) or 0)


def enqueue(workflow: WorkflowBase, priority: str | None = None, client: str = "") -> str:
    """Queue a run of the workflow; return the job id. Raises StartRefused with the reason.

    ``client`` is the visitor's address, which may have at most ``limits.max_runs_per_client``
    runs waiting or running, across workspaces. Runs started by code rather than by a
    visitor (no client: the benchmarks, an operator's script) are not counted.
    """
    settings = workflow.settings
    priority = priority or workflow.priority
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    connection = get_connection(settings.queue)
    with connection.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=5):
        if active_job(workflow, connection) is not None:
            raise StartRefused(
                "This workflow is already queued or running in this workspace. "
                "Wait for it to finish or stop it first."
            )
        if waiting_count(settings, connection) >= settings.queue.max_queued:
            raise StartRefused(
                f"The queue is full ({settings.queue.max_queued} runs waiting). "
                "Please try again in a few minutes."
            )
        limit = settings.limits.max_runs_per_client
        if client:
            active = client_limits.active_queue_runs(connection, client, queues(settings, connection))
            if active >= limit:
                log.info("start refused: client %s has %d active runs (limit %d)", client, active, limit)
                raise StartRefused(client_limits.limit_message(active, limit))
        job = _enqueue_job(workflow, priority, connection, client)
    return job.id


def _enqueue_job(
    workflow: WorkflowBase, priority: str, connection: Redis, client: str = "", job_id: str = ""
) -> Job:
    settings = workflow.settings
    job_id = job_id or new_job_id()
    # Record the job before it can start, so a worker never runs a job its workspace does not know.
    write_json(_job_file(workflow), {"job_id": job_id, "priority": priority, "enqueued_at": time.time()})
    mark_queued(workflow, job_id, priority)  # before the push: a fast worker must not be overwritten
    try:
        return queues(settings, connection)[priority].enqueue(
            TASK,
            args=(workflow_ref(type(workflow)), str(workflow.workspace)),
            job_id=job_id,
            description=workflow.name,
            job_timeout=settings.queue.job_timeout,
            result_ttl=settings.queue.result_ttl,
            failure_ttl=settings.queue.failure_ttl,
            retry=_retry(settings),
            meta={
                "workspace": str(workflow.workspace),
                "workflow": workflow.id,
                "progress": 0.0,
                "step": "Queued",
                client_limits.META_KEY: client_limits.client_key(client) if client else "",
            },
            on_failure=Callback("src.jobs.tasks.on_job_failure"),
            on_stopped=Callback("src.jobs.tasks.on_job_stopped"),
        )
    except BaseException as err:
        forget_job(workflow)  # nothing half-enqueued: no record of a job that does not exist
        workflow.logger.log(f"Could not queue the run: {err}")
        workflow.state.write(RunStatus())
        raise


def mark_queued(workflow: WorkflowBase, job_id: str, priority: str) -> None:
    """Fresh logs and status for the new run, so the Run page shows it from the first second."""
    for stale in workflow.state.run_dir.glob("ended-*"):
        stale.unlink(missing_ok=True)
    workflow.logger.reset()
    workflow.logger.log(f"Queued as job {job_id} (priority {priority})")
    workflow.state.write(RunStatus(state="queued", step="Waiting for a worker"))


def cancel(workflow: WorkflowBase, job_id: str, settle_seconds: float = 2.0) -> str:
    """Cancel a waiting job or stop a running one; return the final RQ state."""
    connection = get_connection(workflow.settings.queue)
    job = fetch_owned(workflow, job_id, connection)
    state = job.get_status()
    if state in WAITING_STATES:
        job.cancel()
    elif state == JobStatus.STARTED:
        send_stop_job_command(connection, job.id)
    else:
        return state.value
    deadline = time.monotonic() + settle_seconds
    while job.get_status() in ACTIVE_STATES and time.monotonic() < deadline:
        time.sleep(0.05)
    mark_ended_on_disk(workflow, job)
    return job.get_status().value


def mark_ended_on_disk(workflow: WorkflowBase, job: Job) -> None:
    """Make logs and status agree with a job that ended without the workflow saying so.

    A stopped job's process is killed, a canceled one never started, and a job whose
    worker died cannot write anything: whoever sees such a job first writes the end.
    """
    from src.core.logs import MINIMAL, Outcome

    state = job.get_status()
    outcome = {
        JobStatus.STOPPED: Outcome.CANCELLED,
        JobStatus.CANCELED: Outcome.CANCELLED,
        JobStatus.FAILED: Outcome.FAILED,
    }.get(state)
    if outcome is None or workflow.state.read().is_final or not workflow.state.claim_end(job.id):
        return
    error = ""
    if outcome is Outcome.FAILED:
        error = worker_lost_message(workflow.settings)
        workflow.logger.log(error, MINIMAL)
    workflow.finish(outcome, error)


def worker_lost_message(settings: Settings) -> str:
    return (
        "The worker running this job was lost (it crashed, ran out of memory or was killed) and no "
        f"retries were left after {settings.queue.retries}. Start the workflow again."
    )


def move(settings: Settings, job_id: str, priority: str) -> None:
    """Admin action: move a waiting job to another priority queue (it goes to the back)."""
    if priority not in PRIORITIES:
        raise QueueError(f"Unknown priority '{priority}'; use one of {', '.join(PRIORITIES)}.")
    connection = get_connection(settings.queue)
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        raise QueueError(f"There is no job '{job_id}'.") from None
    if job.get_status() != JobStatus.QUEUED:
        raise QueueError(f"Only waiting jobs can be moved; job {job_id} is {job.get_status().value}.")
    target = queues(settings, connection)[priority]
    with connection.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=5):
        Queue(job.origin, connection=connection).remove(job)
        target.enqueue_job(job)


def record_duration(connection: Redis, seconds: float) -> None:
    with connection.pipeline() as pipe:
        pipe.lpush(DURATIONS_KEY, round(seconds, 3)).ltrim(DURATIONS_KEY, 0, DURATIONS_KEPT - 1).execute()


def median_duration(raw_values) -> float | None:
    """Median of recent successful run times (DURATIONS_KEY), or None before the first run."""
    values = sorted(float(v) for v in raw_values)
    return values[len(values) // 2] if values else None


def estimate_eta(
    position: int | None, workers: int, typical: float | None, elapsed: float = 0.0
) -> float | None:
    """Rough seconds until a job finishes: whole rounds of ``workers`` jobs ahead of it, then its own run."""
    if typical is None:
        return None
    if position is None:  # running
        return max(typical - elapsed, 0.0)
    return typical * (math.ceil(position / max(workers, 1)) + 1)


def workflow_of(job: Job, settings: Settings | None = None) -> WorkflowBase:
    """The workflow a job runs, built from the job's plain-data arguments."""
    ref, workspace = job.args
    return build_workflow(ref, workspace, settings or load_settings())
