"""Making a workspace's run status agree with a job that ended without the run saying so.

A stopped job's process was killed, a cancelled one never started, and a job whose
work-horse or worker died could not write anything. The end is written by whoever
causes or first learns of it, never by a status read (a read that writes fails on a
full disk and races with other web servers):

* ``cancel`` (``src/jobs/client/enqueue.py``) for a job it cancelled or stopped;
* the worker's RQ callbacks: stopped jobs, and lost jobs found by a maintenance pass;
* the worker whose work-horse was killed (out of memory, ``kill -9``);
* as a safety net, every worker's maintenance pass, for jobs that failed, were stopped or
  were cancelled in the last minutes while their workspace still says queued or running.

Only one writer wins per job (``RunStateStore.claim_end``), and that writer tells the end to the
queue's side too (``record_end``: the ended event, the /metrics totals, the recent run times), so
every run is counted once however it ended. A run that ends by itself writes its workspace's end
(``WorkflowBase.finish``) and its job then calls ``record_end``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from redis import Redis
from rq.job import Job

from src.core.run import MINIMAL, RunState
from src.core.settings import Settings
from src.core.workflow import WorkflowBase
from src.jobs import pieces, run_events
from src.jobs.connection import REDIS_ERRORS
from src.jobs.job_model import is_run, recorded_status, run_state_of, workflow_of
from src.jobs.scheduler import Scheduler
from src.jobs.telemetry import run_totals
from src.jobs.telemetry.durations import record_duration

log = logging.getLogger(__name__)

#: The maintenance pass looks at jobs that failed within this many seconds.
RECENT_SECONDS = 600


def worker_lost_message(settings: Settings) -> str:
    return (
        "The worker running this job was lost (it crashed, ran out of memory or was killed) and no "
        f"retries were left after {settings.queue.retries}. Start the workflow again."
    )


#: The outcome counted for an attempt whose worker died (a retry may follow).
LOST = "lost"


def record_end(connection: Redis, workflow_id: str, job_id: str, outcome: str, seconds: float | None) -> None:
    """A run's end, told once to everything on the queue's side that keeps it: the log line
    (``run_events``), the totals /metrics reports (``telemetry/run_totals``) and, for a finished run,
    the recent run times the waiting visitors' estimates use (``telemetry/durations``). Redis not
    answering costs these counts, never the run."""
    run_events.ended(job_id, outcome, seconds)
    run_totals.record_end(connection, workflow_id, outcome, seconds)
    if outcome == RunState.FINISHED.value and seconds is not None:
        try:
            record_duration(connection, seconds)
        except REDIS_ERRORS as err:  # only the estimates miss one sample
            log.warning("run time of job %s not recorded (Redis: %s)", job_id, err)


def end(workflow: WorkflowBase, job: Job, outcome: RunState, error: str = "", counted_as: str = "") -> bool:
    """End a run that could not say so itself, unless it ended already or another caller is ending
    it: its workspace's status, log end and notifications, its place in the scheduler's order, and
    its count (as ``counted_as`` if given). Returns True if this call ended it."""
    if workflow.state.read().is_final or not workflow.state.claim_end(job.id):
        return False
    if error:
        workflow.logger.log(error, MINIMAL)
    workflow.finish(outcome, error)
    pieces.end_run(workflow.settings, job.connection, job.id)
    lost = counted_as == LOST
    seconds = None if lost or job.started_at is None else (datetime.now(UTC) - job.started_at).total_seconds()
    record_end(job.connection, workflow.id, job.id, counted_as or outcome.value, seconds)
    return True


def write_end(workflow: WorkflowBase, job: Job) -> bool:
    """Write the end of a job that ended (failed, stopped, cancelled) without its run saying so.

    Returns True if this call wrote it. A job still active, a run already ended or a run
    another caller is ending is left alone.
    """
    state = run_state_of(job.get_status(refresh=False))
    if not state.is_final or state is RunState.FINISHED:
        return False
    error = worker_lost_message(workflow.settings) if state is RunState.FAILED else ""
    return end(workflow, job, state, error)


def lost_run(workflow: WorkflowBase, job: Job) -> None:
    """The job's process died: say that it will be retried, or end the run as failed. Either way
    the attempt counts as lost.

    A run that already ended (it finished, and only RQ's bookkeeping after it failed, e.g.
    during a Redis restart) is left as it is.
    """
    if workflow.state.read().is_final:
        return
    if job.retries_left:
        workflow.logger.log(
            f"The worker running this job was lost; retrying ({job.retries_left} left).", MINIMAL
        )
        workflow.state.update(state=RunState.QUEUED, step="Waiting to be retried after a lost worker")
        record_end(job.connection, workflow.id, job.id, LOST, None)
        return
    end(workflow, job, RunState.FAILED, worker_lost_message(workflow.settings), counted_as=LOST)


def _not_ended(job: Job) -> bool:
    """True if the job's workspace still shows the run as queued or running."""
    recorded = recorded_status(job)
    return recorded is not None and not recorded.is_final


def _recent_ids(connection: Redis, key: str, since: float) -> list[str]:
    return [i.decode() if isinstance(i, bytes) else i for i in connection.zrangebyscore(key, since, "+inf")]


def recent_endings(settings: Settings, connection: Redis, queues: dict, now: float | None = None) -> int:
    """The maintenance pass's safety net: end the runs of jobs that failed, were stopped or were
    cancelled (e.g. from rq-dashboard) in the last minutes; return how many it ended. Cheap: a
    range read per registry and a status file per recent ending."""
    now = time.time() if now is None else now
    ended = 0
    waiting_their_turn = Scheduler(settings, connection).waiting_queue  # cancelled before released
    for queue in [*queues.values(), waiting_their_turn]:
        # Failed jobs are scored by when they expire, cancelled ones by when they were cancelled.
        ids = _recent_ids(
            connection, queue.failed_job_registry.key, now + settings.queue.failure_ttl - RECENT_SECONDS
        )
        ids += _recent_ids(connection, queue.canceled_job_registry.key, now - RECENT_SECONDS)
        for job in Job.fetch_many(ids, connection=connection):
            if job is None or not is_run(job) or not run_state_of(job.get_status(refresh=False)).is_final:
                continue  # a piece's end is its run's own job's business; a viewer index is no run
            if _not_ended(job) and write_end(workflow_of(job, settings), job):
                log.warning("job %s had ended without its run saying so; its logs now end too", job.id)
                ended += 1
    return ended
