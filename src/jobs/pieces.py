"""The pieces of a run: a step over N files becomes N RQ jobs that any free worker may take.

A run is one RQ job (its *own job*, the one the Run page follows). When its workflow reaches a
step over several files in online mode, the own job creates one piece per file (``piece_jobs``),
puts them in the scheduler's order (``src/jobs/scheduler.py``) and then runs pieces itself, one
after another, while idle workers on any host take the others; the step ends when its last
piece ended (``src/jobs/worker/spreading.py``). Nobody waits for a piece that needs a free
worker: the own job takes every piece no worker has taken yet.

A piece's id is ``<run id>-<step>-<n>``, the same for every attempt of the run, so a retried
own job finds the pieces of its lost attempt and only does what they did not.
"""

from __future__ import annotations

import logging
import re

from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from src.core.settings import Settings
from src.jobs.job_model import META_RUN, META_WORKFLOW, META_WORKSPACE, WAITING_JOB_STATES, retry_policy
from src.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

#: The job function of a piece (an import path: the app never imports the worker side).
PIECE_TASK = "src.jobs.worker.tasks.run_piece"
#: Meta key of a piece run in its run's own job (its id), not on a worker of its own.
META_IN_RUN_JOB = "in_run_job"


#: What a piece's id looks like (a run's id never does, old-style ones included).
PIECE_ID = re.compile(r".+-[0-9a-f]{10}-[0-9]{4}$")


def piece_id(run_id: str, step_key: str, index: int) -> str:
    return f"{run_id}-{step_key}-{index + 1:04d}"


def is_piece_id(job_id: str) -> bool:
    return PIECE_ID.fullmatch(job_id) is not None


def piece_name(tool: str, subject: str, index: int, total: int) -> str:
    """A piece as the logs and messages name it: "FeatureFinderMetabo on a.mzML (piece 3 of 12)"."""
    on = f" on {subject}" if subject else ""
    return f"{tool}{on} (piece {index + 1} of {total})"


def _members_key(run_id: str) -> str:
    return f"openms:run-pieces:{run_id}"


def piece_jobs(
    settings: Settings,
    run_job: Job,
    ids: list[str],
    commands: list[list[str]],
    labels: list[str],
    subjects: list[str],
    indices: list[int],
    total: int,
) -> list[Job]:
    """Job objects for pieces ``indices`` of a step of ``total`` (not saved: the scheduler saves
    them as it queues them up), their ids remembered for the run, so a stop finds every one."""
    connection = run_job.connection
    retry = retry_policy(settings)
    jobs = [
        Job.create(
            PIECE_TASK,
            args=(*run_job.args, run_job.id, command, label, subject, index, total),
            id=job_id,
            connection=connection,
            description=f"{run_job.description}: {label}",
            timeout=settings.queue.job_timeout,
            result_ttl=settings.queue.result_ttl,
            failure_ttl=settings.queue.failure_ttl,
            retry=retry,
            meta={
                META_WORKSPACE: run_job.meta.get(META_WORKSPACE),
                META_WORKFLOW: run_job.meta.get(META_WORKFLOW),
                "client": run_job.meta.get("client", ""),
                META_RUN: run_job.id,
            },
        )
        for job_id, command, label, subject, index in zip(
            ids, commands, labels, subjects, indices, strict=True
        )
    ]
    with connection.pipeline() as pipe:
        pipe.sadd(_members_key(run_job.id), *ids)
        pipe.expire(_members_key(run_job.id), settings.queue.result_ttl)
        pipe.execute()
    return jobs


def of_run(connection: Redis, run_id: str) -> list[str]:
    return sorted(
        i.decode() if isinstance(i, bytes) else i for i in connection.smembers(_members_key(run_id))
    )


def stop_all(connection: Redis, run_id: str) -> int:
    """Stop every piece of a run that waits or runs: a waiting one is cancelled (it never starts),
    one running on a worker is stopped (its tool dies with it), one running in the run's own job
    is marked cancelled (it ends with that job, which is ending). Returns how many were ended."""
    ended = 0
    ids = of_run(connection, run_id)
    for job in Job.fetch_many(ids, connection=connection):
        if job is None:
            continue
        state = job.get_status(refresh=False)
        try:
            if state in WAITING_JOB_STATES or (state == JobStatus.STARTED and job.meta.get(META_IN_RUN_JOB)):
                job.cancel()  # waiting, or in the run's own job, which ends with its run
                ended += 1
            elif state == JobStatus.STARTED:
                send_stop_job_command(connection, job.id)
                ended += 1
        except (InvalidJobOperation, NoSuchJobError) as err:  # it ended meanwhile
            log.info("piece %s of run %s had ended before it could be stopped: %s", job.id, run_id, err)
    return ended


def end_run(settings: Settings, connection: Redis, run_id: str) -> None:
    """A run ended (any way): it leaves the scheduler's order, which frees its visitor's share and
    lets a held run start, and none of its pieces waits or runs any longer."""
    Scheduler(settings, connection).end_run(run_id)
    stop_all(connection, run_id)
