"""One Redis connection (pool) per process, with short timeouts.

Short timeouts matter: the app checks Redis before every Start and on every status
poll, and a page must not hang for a minute when Redis is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from src.core.settings import QueueSettings, redact

log = logging.getLogger(__name__)

_connections: dict[str, redis.Redis] = {}
_lock = threading.Lock()

#: Errors that mean "Redis cannot be used right now" (down, unreachable, refusing us).
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ResponseError,
)


#: How long work in progress waits for Redis to come back (a restart loads its AOF first).
REDIS_RESTART_SECONDS = 60

T = TypeVar("T")


def through_redis_restarts(
    action: Callable[[], T], what: str, wait_seconds: float = REDIS_RESTART_SECONDS
) -> T:
    """``action()``, tried again every second while Redis cannot be reached, for up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return action()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            if time.monotonic() >= deadline:
                raise
            log.warning("%s waits for Redis: %s", what, err)
            time.sleep(1)


def get_connection(queue: QueueSettings) -> redis.Redis:
    """The process-wide connection for this Redis URL (created on first use)."""
    with _lock:
        connection = _connections.get(queue.redis_url)
        if connection is None:
            connection = redis.Redis.from_url(
                queue.redis_url,
                socket_connect_timeout=queue.connect_timeout,
                socket_timeout=queue.socket_timeout,
                health_check_interval=30,
            )
            _connections[queue.redis_url] = connection
        return connection


def reachable(queue: QueueSettings) -> tuple[bool, str]:
    """(True, "") if Redis answers a PING, else (False, why) in words a user can act on."""
    try:
        get_connection(queue).ping()
    except REDIS_ERRORS as err:
        log.warning("Redis at %s is not usable: %s", redact(queue.redis_url), err)
        return False, f"the job queue (Redis at {redact(queue.redis_url)}) is not reachable: {err}"
    return True, ""
