"""Counts per hour that bound what one visitor (or address, or workspace) may cause: e-mails sent,
workspaces made. One call checks and takes from several counts at once, all or nothing. Tries
counted before a check (the admin sign-in's, the e-mail code's) are the other kind of count here
(``tally_keys``): one added per try, the caller compares.

In online mode the counts live in Redis, so every web server and worker (on any host) shares them
and simultaneous takes cannot get past a limit (one Lua script checks and counts). In local mode,
or when a caller prefers a bound kept on this host to none while Redis is away, they live in a
small file beside the workspaces, under an exclusive lock. Keys are hashes: neither Redis nor the
file lists visitors' addresses.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from src.core import jsonfile
from src.core.errors import CountsUnavailable
from src.core.settings import Settings

#: The counting window (s).
WINDOW_SECONDS = 3600
REDIS_PREFIX = "openms:hourly:"
COUNTS_FILE = ".hourly-counts.json"

# Returns 0 when every count had room and was taken, else the 1-based index of the first one used up.
_TAKE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then return i end
end
for i = 1, #KEYS do
  redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[#KEYS + 1]) end
end
return 0
"""


def key(kind: str, value: str) -> str:
    """The count of ``value`` (an address, a workspace id) for ``kind`` (what is counted)."""
    return f"{kind}:" + hashlib.sha256(f"openms-{kind}:{value}".encode()).hexdigest()[:24]


def uses_redis(settings: Settings) -> bool:
    return settings.online_deployment and settings.queue.enabled


def take(settings: Settings, counts: Sequence[tuple[str, int]], in_file: bool = False) -> int:
    """Take one from each (key, limit) if all have room: 0, else the 1-based index of the first full
    one. ``in_file``: count on this host even in online mode (the caller's fallback)."""
    if uses_redis(settings) and not in_file:
        return _take_in_redis(settings, counts)
    return _take_in_file(settings.workspaces_dir / COUNTS_FILE, counts)


def _connection(settings: Settings) -> redis.Redis:
    queue = settings.queue
    return redis.Redis.from_url(
        queue.redis_url, socket_connect_timeout=queue.connect_timeout, socket_timeout=queue.socket_timeout
    )


def tally(settings: Settings, key: str, seconds: int) -> int:
    """Add one to the Redis count ``key`` (``tally_keys``) and return it, this one included.
    Raises CountsUnavailable if Redis cannot be reached."""
    connection = _connection(settings)
    try:
        return tally_keys(connection, [key], seconds)[0][0]
    except redis.exceptions.RedisError as err:
        raise CountsUnavailable(str(err)) from None
    finally:
        connection.close()


def tally_keys(connection: redis.Redis, keys: Sequence[str], seconds: int) -> tuple[list[int], int]:
    """Add one to each Redis count of ``keys``, each ending ``seconds`` after its first addition:
    (their counts, this one included; seconds left of the first one's window). One INCR each, so
    each of any number of simultaneous callers, on any web server, gets a count of its own (a limit
    on tries is checked against it *before* anything is compared); in one MULTI/EXEC, so the counts
    move together and none lives without its expiry. Redis errors are the caller's."""
    with connection.pipeline() as pipe:
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, max(1, seconds), nx=True)  # the window starts at the first addition
        pipe.ttl(keys[0])
        results = pipe.execute()
    return [int(count) for count in results[:-1:2]], max(int(results[-1]), 1)


def _take_in_redis(settings: Settings, counts: Sequence[tuple[str, int]]) -> int:
    connection = _connection(settings)
    keys = [REDIS_PREFIX + name for name, _ in counts]
    try:
        return int(connection.eval(_TAKE, len(keys), *keys, *(limit for _, limit in counts), WINDOW_SECONDS))
    except redis.exceptions.RedisError as err:
        raise CountsUnavailable(str(err)) from None
    finally:
        connection.close()


def _take_in_file(path: Path, counts: Sequence[tuple[str, int]]) -> int:
    """The same counts as the times of each take within the window, in a JSON file."""
    with jsonfile.locked(path.with_suffix(".lock")):
        try:
            taken = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except json.JSONDecodeError:
            taken = {}  # a damaged file starts again: it only bounds what happens within an hour
        now = time.time()
        recent = {name: [t for t in times if now - t < WINDOW_SECONDS] for name, times in taken.items()}
        for index, (name, limit) in enumerate(counts, start=1):
            if len(recent.get(name, [])) >= limit:
                return index
        for name, _ in counts:
            recent.setdefault(name, []).append(now)
        path.write_text(json.dumps({name: times for name, times in recent.items() if times}))
        return 0
