"""The one place where this app reaches past RQ's documented API (written against RQ 3.0.0).

Everything else in ``src/jobs`` uses RQ's public classes and functions only (``Queue``,
``Job``, the registries, ``Result``, ``Retry``, ``send_stop_job_command``). What cannot be done
that way lives here, each with the reason, and ``tests/test_rq_adapter.py`` fails when an RQ
release changes what it relies on; ``tests/test_rq_newest.py`` runs the queue tests against
RQ's newest release from PyPI as well.

* :func:`job_states`: the state of many jobs in one round trip. RQ's ``Job.get_status`` costs
  a round trip per job and ``Job.fetch_many`` reads and unpickles whole jobs; a step's own job
  reads the states of every piece each time one ends.
* :func:`release_dead_scheduler_locks`: RQ's scheduler lock of a scheduler that died with its
  worker on this host, released at once (RQ lets it expire after a minute, holding up retries).
* :func:`end_scheduler_now`: a worker's scheduler process ended at once, for a worker that stops
  while Redis is away (RQ's own stop asks the scheduler to release its locks in Redis, and the
  scheduler dies of the connection error with a traceback).
* :data:`WORKER_HOOKS`: the ``Worker`` methods ``src/jobs/worker/launcher.py`` overrides. RQ
  calls them from its work loop but documents only the constructor's callbacks as the way to
  extend a worker; their parameters are pinned here.
"""

from __future__ import annotations

import logging
import socket

from redis import Redis
from rq.exceptions import SchedulerNotFound
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.scripts import release_lock

from src.core.execution import is_alive

log = logging.getLogger(__name__)

#: The RQ release this module was written and checked against.
CHECKED_WITH_RQ = "3.0.0"

#: The ``Worker`` methods the app's worker overrides, with the parameters RQ 3.0.0 calls them with.
WORKER_HOOKS: dict[str, tuple[str, ...]] = {
    "run_maintenance_tasks": ("self",),
    "dequeue_job_and_maintain_ttl": ("self", "timeout", "max_idle_time"),
    "kill_horse": ("self", "sig"),
    "maintain_heartbeats": ("self", "job", "execution"),
    "handle_execution_ended": ("self", "job", "queue", "heartbeat_ttl"),
    "handle_job_success": ("self", "job", "queue", "started_job_registry", "execution"),
    "handle_job_failure": ("self", "job", "queue", "started_job_registry", "exc_string", "execution"),
    "get_heartbeat_ttl": ("self", "job", "working_time"),
    "teardown": ("self",),
}

#: The field of RQ's job hash (``Job.key_for(id)``) that holds the job's state.
_STATUS_FIELD = "status"


def job_states(connection: Redis, ids: list[str]) -> list[str | None]:
    """The RQ states of jobs (``JobStatus`` values), in one round trip; None for a job that is gone."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.key_for(job_id), _STATUS_FIELD)
        raw = pipe.execute()
    return [value.decode() if isinstance(value, bytes) else value for value in raw]


def _owner_is_dead_here(connection: Redis, owner: str) -> bool:
    try:
        scheduler = RQScheduler.fetch(owner, connection)
    except SchedulerNotFound:
        return False  # no record (yet) of where it runs: let the lock expire
    return scheduler.hostname == socket.gethostname() and scheduler.pid > 0 and not is_alive(scheduler.pid)


def release_dead_scheduler_locks(connection: Redis, queue_names: list[str]) -> list[str]:
    """Release the locks of this host's dead schedulers on these queues; return the queues freed.

    RQ runs its scheduler (which moves retries waiting between attempts back into their queues)
    in a process forked by one worker, guarded by a lock per queue that expires 61 s after the
    scheduler's last beat. When that worker is killed its scheduler dies with it, and no other
    can take over until the lock expires. A lock whose owner ran on this host under a process
    id that no longer exists is certainly dead; locks of other hosts' schedulers, or of one that
    may still run, are left to expire as RQ intends.
    """
    freed = []
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        owner = connection.get(key)
        if owner is None:
            continue
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if _owner_is_dead_here(connection, owner) and release_lock(connection, key, owner):
            freed.append(name)
    if freed:
        log.info("released the scheduler lock of a dead scheduler on %s", ", ".join(freed))
    return freed


def end_scheduler_now(scheduler: RQScheduler | None) -> bool:
    """Kill the process RQ forked for this worker's scheduler, if it runs (RQ keeps it as the
    scheduler's ``_process``, a ``multiprocessing`` process); returns whether there was one.
    Its locks are left to expire, as they would for a scheduler killed with its worker."""
    process = getattr(scheduler, "_process", None)
    if process is None or not process.pid or not process.is_alive():
        return False
    process.kill()
    process.join(10)
    return True
