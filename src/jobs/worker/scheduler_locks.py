"""Releasing the scheduler locks of a scheduler that died on this host.

RQ runs its scheduler (which moves retries waiting between attempts back into
their queues) in a process forked by one worker, guarded by a lock per queue that
expires 61 s after the scheduler's last heartbeat. When that worker is killed
(SIGKILL, OOM killer) its scheduler dies with it, and no other scheduler can take
over until the lock expires: a lost job's retry would wait for a minute or more.

A lock whose owner ran on this host under a process id that no longer exists is
certainly dead, so it is released at once. Locks of schedulers on other hosts, or
whose process may still run, are left to expire as RQ intends.
"""

from __future__ import annotations

import logging
import socket

from redis import Redis
from rq.exceptions import SchedulerNotFound
from rq.scheduler import RQScheduler
from rq.scripts import release_lock

from src.core.execution import is_alive

log = logging.getLogger("src.jobs.worker.scheduler_locks")


def _owner_is_dead_here(connection: Redis, owner: str) -> bool:
    try:
        scheduler = RQScheduler.fetch(owner, connection)
    except SchedulerNotFound:
        return False  # no record (yet) of where it runs: let the lock expire
    return scheduler.hostname == socket.gethostname() and scheduler.pid > 0 and not is_alive(scheduler.pid)


def release_dead_scheduler_locks(connection: Redis, queue_names: list[str]) -> list[str]:
    """Release this host's dead schedulers' locks on these queues; return the queues freed."""
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
