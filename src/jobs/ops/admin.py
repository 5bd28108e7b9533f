"""The administrator's actions on the queue: failed jobs (list with their errors, requeue,
delete) and moving a waiting job to another priority.

The admin page lets only a signed-in administrator call the actions here.
A requeue is refused when the job's workspace has moved on (started another run
since), because the old job would overwrite that run's results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import LockError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from src.core.run import RunStatus
from src.core.settings import PRIORITIES, Settings
from src.core.workflow import WorkflowBase
from src.jobs import pieces
from src.jobs.client import failure_message
from src.jobs.client import limits as visitor_limits
from src.jobs.client.enqueue import (
    ENQUEUE_LOCK,
    ENQUEUE_WAIT_SECONDS,
    active_job,
    mark_queued,
    priority_queues,
    recorded_job_id,
)
from src.jobs.connection import get_connection
from src.jobs.errors import AdminError
from src.jobs.job_model import META_RUN, META_WORKSPACE, is_piece, recorded_status, workflow_of
from src.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedJob:
    job_id: str
    workspace: str  # the workspace's id (its folder name)
    priority: str
    failed_at: float | None
    error: str


@dataclass(frozen=True)
class OrderedRun:
    """A run in the scheduler's order, as the admin sees it."""

    job_id: str
    workspace: str
    priority: str
    visitor: str  # the hash the scheduler knows the visitor by
    state: str  # "held", "waiting" (for a worker) or the own job's RQ state once started
    pieces: str  # "7 of 12 done" for a run whose step is spread, else ""

    @property
    def movable(self) -> bool:
        """Not started yet (held, waiting its turn, or on a workers' queue): what :func:`move` takes."""
        return self.state in ("held", "waiting", JobStatus.QUEUED.value)


def run_order(settings: Settings, connection: Redis | None = None) -> list[OrderedRun]:
    """Every run the scheduler knows that has not ended: started ones first, then the waiting
    and held ones in order of submission."""
    connection = connection or get_connection(settings.queue)
    order = Scheduler(settings, connection)
    held = order.held_runs()
    run_ids = order.admitted_run_ids() + order.waiting_run_ids()
    found = []
    for run_id, job in zip(run_ids, Job.fetch_many(run_ids, connection=connection), strict=True):
        if job is None:
            continue
        info = order.run_info(run_id)
        members = pieces.of_run(connection, run_id)
        done = sum(1 for j in Job.fetch_many(members, connection=connection) if j and j.is_finished)
        state = "held" if run_id in held else job.get_status(refresh=False).value
        if job.origin == order.waiting_queue.name and run_id not in held:
            state = "waiting"
        found.append(
            OrderedRun(
                job_id=run_id,
                workspace=Path(job.meta.get(META_WORKSPACE, "?")).name,
                priority=info["priority"],
                visitor=info["client"].removeprefix("code:")[:12],
                state=state,
                pieces=f"{done} of {len(members)} done" if members else "",
            )
        )
    return found


def _error_of(job: Job, settings: Settings) -> str:
    """The same error text the job's own Run page shows."""
    return failure_message(job, settings, recorded_status(job) or RunStatus())


def failed_jobs(settings: Settings, limit: int = 20, connection: Redis | None = None) -> list[FailedJob]:
    """The most recently failed jobs of all priorities, newest first."""
    connection = connection or get_connection(settings.queue)
    found = []
    for priority, queue in priority_queues(settings, connection).items():
        registry = queue.failed_job_registry
        for job in Job.fetch_many(registry.get_job_ids(cleanup=False), connection=connection):
            if job is None:
                continue  # expired between listing and fetching
            found.append(
                FailedJob(
                    job_id=job.id,
                    workspace=Path(job.meta.get(META_WORKSPACE, "?")).name,
                    priority=priority,
                    failed_at=job.ended_at.timestamp() if job.ended_at else None,
                    error=_error_of(job, settings),
                )
            )
    found.sort(key=lambda f: f.failed_at or 0, reverse=True)
    return found[:limit]


def _failed_job(settings: Settings, job_id: str, connection: Redis) -> tuple[Job, str]:
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise AdminError(f"There is no job '{job_id}'; it may have expired. Reload the page.") from None
    for priority, queue in priority_queues(settings, connection).items():
        if job_id in queue.failed_job_registry:
            return job, priority
    raise AdminError(f"Job '{job_id}' is not among the failed jobs (any more). Reload the page.")


def requeue(settings: Settings, job_id: str) -> bool:
    """Start a failed run again, with fresh logs in its workspace. It goes through the scheduler's
    order like a start: counted against its visitor's share of started runs (the visitor's key is in
    the job), and held while that visitor has its share running, never handed to a worker directly.
    Returns whether it is held."""
    connection = get_connection(settings.queue)
    job, priority = _failed_job(settings, job_id, connection)
    if is_piece(job):
        raise AdminError(
            f"Job {job_id} is a piece of run {job.meta.get(META_RUN)}, which failed with it; a piece "
            "cannot run on its own. Ask the visitor to start the workflow again (or delete the piece)."
        )
    workflow: WorkflowBase = workflow_of(job, settings)
    with _queue_lock(connection, "nothing was requeued"):  # a start in that workspace waits meanwhile
        if recorded_job_id(workflow) != job.id or active_job(workflow, connection):
            raise AdminError(
                f"Workspace {workflow.workspace.name} has started another run since this job failed; "
                "requeueing the old job would overwrite it. Delete the old job instead."
            )
        _back_in_order(settings, connection, workflow, job, priority)
    order = Scheduler(settings, connection)
    order.release_for_idle_workers()  # an idle worker takes it now, if it is its turn
    place = order.place(job.id)
    return place is not None and place.held


def _back_in_order(
    settings: Settings, connection: Redis, workflow: WorkflowBase, job: Job, priority: str
) -> None:
    """The failed job leaves the failed jobs and joins the scheduler's order as a run of its visitor;
    if that fails half-way it is put back among the failed jobs, to be requeued or deleted again."""
    failed = priority_queues(settings, connection)[priority].failed_job_registry
    if not failed.remove(job):
        raise AdminError(f"Job '{job.id}' was requeued or deleted a moment ago. Reload the page.")
    try:
        # Fresh logs and a queued status first: once in the order, a worker may start it at once.
        mark_queued(workflow, job.id, priority)
        job.started_at = job.ended_at = None
        Scheduler(settings, connection).submit_run(job, job.meta.get(visitor_limits.META_KEY, ""), priority)
    except BaseException:
        failed.add(job, settings.queue.failure_ttl)
        raise


@contextmanager
def _queue_lock(connection: Redis, refused: str) -> Iterator[None]:
    """The lock every start takes: checks and changes of the queue under it are not raced by one."""
    lock = connection.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=ENQUEUE_WAIT_SECONDS)
    if not lock.acquire():
        raise AdminError(f"The queue is busy with starts right now; {refused}. Try again in a moment.")
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError as err:  # it expired meanwhile: what was done under it stands
            log.warning("the queue lock had expired before it was released: %s", err)


def delete(settings: Settings, job_id: str) -> None:
    """Remove a failed job from Redis. Its workspace, logs and results stay."""
    connection = get_connection(settings.queue)
    job, _ = _failed_job(settings, job_id, connection)
    job.delete()


def move(settings: Settings, job_id: str, priority: str) -> None:
    """Move a waiting job to another priority queue (it goes to the back of that queue).

    The job is pushed to its new queue only if taking it out of its old one succeeded
    (LREM removed it): a worker that dequeued it meanwhile makes the move fail instead of
    the job running twice.
    """
    if priority not in PRIORITIES:
        raise AdminError(f"Unknown priority '{priority}'; use one of {', '.join(PRIORITIES)}.")
    connection = get_connection(settings.queue)
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise AdminError(f"There is no job '{job_id}'.") from None
    target = priority_queues(settings, connection)[priority]
    with _queue_lock(connection, "nothing was moved"):
        if job.get_status() != JobStatus.QUEUED:
            raise AdminError(f"Only waiting jobs can be moved; job {job_id} is {job.get_status().value}.")
        order = Scheduler(settings, connection)
        if job.origin == order.waiting_queue.name:  # it waits its turn: it keeps it, at the new priority
            if is_piece(job):
                raise AdminError(
                    f"Job {job_id} is a piece of a run; move the run ({job.meta.get(META_RUN)})."
                )
            order.reprioritize(job.id, priority)
            return
        if not Queue(job.origin, connection=connection).remove(job):
            raise AdminError(f"Job {job_id} was taken by a worker a moment ago; it was not moved.")
        target.enqueue_job(job)
        if not is_piece(job):  # the run's later pieces follow it to its new priority
            order.reprioritize(job.id, priority)
