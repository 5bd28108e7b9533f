"""Queue load now and over the last hour, for the sidebar and the admin page.

Workers record a sample of the queue depth at most every ``SAMPLE_SECONDS``
(from their maintenance pass when idle and their heartbeat when busy), into a
Redis sorted set trimmed to the last hour, so the history exists whether or not
anybody has the admin page open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

from src.core.settings import Settings
from src.jobs.client import queue_reading
from src.jobs.connection import get_connection

DEPTH_KEY = "openms:metrics:queue-depth"
SAMPLE_LOCK_KEY = "openms:metrics:sample-lock"
SAMPLE_SECONDS = 10
HISTORY_SECONDS = 3600


@dataclass(frozen=True)
class DepthSample:
    at: float
    waiting: int
    running: int
    workers: int


def current_load(
    settings: Settings, connection: Redis | None = None, shared: bool = False
) -> queue_reading.Snapshot:
    """The queue now; ``shared``: from this web server's reading of at most a second ago (what the
    sidebar of every page shows), else read afresh."""
    return queue_reading.shared(settings).snapshot() if shared else queue_reading.read(settings, connection)


def record_sample(
    settings: Settings, connection: Redis, now: float | None = None, force: bool = False
) -> bool:
    """Store one sample unless another process stored one less than SAMPLE_SECONDS ago."""
    fresh = connection.set(SAMPLE_LOCK_KEY, 1, nx=not force, ex=SAMPLE_SECONDS)
    if not fresh:
        return False
    now = time.time() if now is None else now
    load = current_load(settings, connection)
    member = f"{now:.3f}|{load.waiting_total}|{load.running}|{load.workers_total}"
    with connection.pipeline() as pipe:
        pipe.zadd(DEPTH_KEY, {member: now})
        pipe.zremrangebyscore(DEPTH_KEY, "-inf", now - HISTORY_SECONDS)
        pipe.execute()
    return True


def depth_history(
    settings: Settings, connection: Redis | None = None, now: float | None = None
) -> list[DepthSample]:
    """Samples of the last hour, oldest first."""
    connection = connection or get_connection(settings.queue)
    now = time.time() if now is None else now
    samples = []
    for member in connection.zrangebyscore(DEPTH_KEY, now - HISTORY_SECONDS, "+inf"):
        text = member.decode() if isinstance(member, bytes) else member
        at, waiting, running, workers = text.split("|")
        samples.append(DepthSample(float(at), int(waiting), int(running), int(workers)))
    return samples
