"""The pieces of a run: a step over N files becomes N RQ jobs that any free worker may take.

A run is one RQ job (its *own job*, the one the Run page follows). When its workflow reaches a
step over several files in online mode, the own job creates one piece per file (``piece_data``)
as members of the run's RQ ``Group`` (named by the run) in the scheduler's order
(``src/jobs/scheduler.py``), and then runs pieces itself while idle workers on any host take the
others; the step ends when its last piece ended (``src/jobs/worker/spreading.py``), which each
piece tells the own job through RQ's callbacks (:func:`piece_ended`). Nobody waits for a piece
that needs a free worker: the own job takes every piece no worker has taken yet.

A piece's id is ``<run id>-<step>-<n>``, the same for every attempt of the run, so a retried
own job finds the pieces of its lost attempt and only does what they did not.
"""

from __future__ import annotations

import logging
import re

from redis import Redis
from rq import Queue
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import EnqueueData

from src.core.settings import Settings
from src.jobs.job_model import (
    META_RUN,
    META_WORKFLOW,
    META_WORKSPACE,
    WAITING_JOB_STATES,
    retry_policy,
    run_group,
)
from src.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

#: The job function of a piece (an import path: the app never imports the worker side).
PIECE_TASK = "src.jobs.worker.tasks.run_piece"
#: Every piece's success, failure and stopped callback (:func:`piece_ended`).
ENDED = Callback("src.jobs.pieces.piece_ended")
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


def piece_data(
    settings: Settings,
    run_job: Job,
    ids: list[str],
    commands: list[list[str]],
    labels: list[str],
    subjects: list[str],
    indices: list[int],
    total: int,
) -> list[EnqueueData]:
    """What RQ needs to create pieces ``indices`` of a step of ``total`` (``Queue.prepare_data``);
    the scheduler creates them as members of the run's group (``Scheduler.add_jobs``), so a stop
    finds every one."""
    retry = retry_policy(settings)
    return [
        Queue.prepare_data(
            PIECE_TASK,
            args=(*run_job.args, run_job.id, command, label, subject, index, total),
            job_id=job_id,
            description=f"{run_job.description}: {label}",
            timeout=settings.queue.job_timeout,
            result_ttl=settings.queue.result_ttl,
            failure_ttl=settings.queue.failure_ttl,
            retry=retry,
            on_success=ENDED,
            on_failure=ENDED,
            on_stopped=ENDED,
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


def wake_key(run_id: str) -> str:
    """A run's wake-ups: its own job sleeps on this list while a step's pieces run."""
    return f"openms:run-wake:{run_id}"


def wake_run(connection: Redis, run_id: str, ttl: int) -> None:
    """Tell a run's own job that one of its pieces ended (it then reads the pieces' states)."""
    with connection.pipeline() as pipe:
        pipe.rpush(wake_key(run_id), 1)
        pipe.ltrim(wake_key(run_id), -1, -1)  # one wake says it all: the list never grows
        pipe.expire(wake_key(run_id), max(ttl, 60))
        pipe.execute()


def piece_ended(job: Job, connection: Redis, *_: object, **__: object) -> None:
    """RQ's success, failure and stopped callback of every piece, in the worker that ran it (or in
    the process that found its worker lost): the run's own job wakes at once."""
    run_id = job.group_id or job.meta.get(META_RUN)
    if run_id:
        wake_run(connection, run_id, job.result_ttl or 0)


#: Where versions before RQ groups listed a run's pieces (read until those runs have expired).
_LEGACY_MEMBERS = "openms:run-pieces:"


def of_run(connection: Redis, run_id: str) -> list[str]:
    """The ids of a run's pieces: its RQ group's members (and any listed by an earlier version)."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.smembers(run_group(connection, run_id).key)
        pipe.smembers(_LEGACY_MEMBERS + run_id)
        members, legacy = pipe.execute()
    return sorted({i.decode() if isinstance(i, bytes) else i for i in members | legacy})


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
