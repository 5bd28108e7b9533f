"""Signing in to the Queue admin page: the password check and its limit on wrong tries.

Each client (its address) may give ``limits.admin_max_failures`` wrong passwords within
``limits.admin_failure_window_seconds``; after that every try is refused before the
password is even compared, until the oldest failure leaves the window. Failures are
kept in Redis (a sorted set per client, timestamps as scores), so every web server of
the deployment counts the same tries. Wrong tries are logged with the client's
address, never with what was typed.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
import uuid
from dataclasses import dataclass

from redis import Redis

from src.core.settings import Limits
from src.jobs.client_limits import client_key

log = logging.getLogger(__name__)

FAILURES_KEY = "openms:admin:failures:{client}"


@dataclass(frozen=True)
class SignIn:
    ok: bool
    message: str = ""  # why not, for the person at the keyboard


def _key(client: str) -> str:
    return FAILURES_KEY.format(client=client_key(client))


def recent_failures(connection: Redis, client: str, limits: Limits, now: float) -> tuple[int, float | None]:
    """(wrong tries within the window, time of the oldest of them)."""
    key = _key(client)
    with connection.pipeline() as pipe:
        pipe.zremrangebyscore(key, "-inf", now - limits.admin_failure_window_seconds)
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        _, count, oldest = pipe.execute()
    return int(count), (oldest[0][1] if oldest else None)


def sign_in(connection: Redis, limits: Limits, client: str, configured: str, given: str) -> SignIn:
    """Check ``given`` against the configured admin password, within the limit on wrong tries."""
    now = time.time()
    count, oldest = recent_failures(connection, client, limits, now)
    if count >= limits.admin_max_failures:
        wait = (oldest or now) + limits.admin_failure_window_seconds - now
        log.warning("admin sign-in from %s refused unchecked: %d wrong tries in the window", client, count)
        return SignIn(
            False,
            f"Too many wrong admin passwords from your address ({count} within "
            f"{limits.admin_failure_window_seconds // 60} minutes). This try was not checked. "
            f"Wait {max(1, math.ceil(wait / 60))} minute(s) and try again.",
        )
    if configured and hmac.compare_digest(given.encode(), configured.encode()):
        connection.delete(_key(client))
        log.info("admin signed in from %s", client)
        return SignIn(True)
    key = _key(client)
    with connection.pipeline() as pipe:
        pipe.zadd(key, {uuid.uuid4().hex: now})
        pipe.expire(key, limits.admin_failure_window_seconds)
        pipe.execute()
    left = limits.admin_max_failures - count - 1
    log.warning(
        "wrong admin password from %s (%d of %d allowed within %d min)",
        client,
        count + 1,
        limits.admin_max_failures,
        limits.admin_failure_window_seconds // 60,
    )
    return SignIn(False, f"Wrong admin password. {left} more tr{'y' if left == 1 else 'ies'} before a wait.")
