"""How many e-mails the server may still send: per address and per workspace, per hour.

Every e-mail the app sends (a confirmation code or a run's end) first takes one from both
counts; when either is used up the mail is not sent and the caller says so. In online mode the
counts live in Redis, so every web server and worker (on any host) shares them; in local mode,
with no Redis, in a small file beside the workspaces. Addresses are counted by a hash, so
neither Redis nor the file lists visitors' addresses.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from pathlib import Path

import redis

from src.core.settings import Settings

#: The counting window (s).
WINDOW_SECONDS = 3600
#: Key prefix in Redis, and the file used without it.
REDIS_PREFIX = "openms:mail-quota:"
QUOTA_FILE = ".mail-quota.json"

# Both counts are checked and taken in one step, so simultaneous sends on several servers
# cannot get past either limit. Returns 0 (taken), 1 (the address is used up) or 2 (the workspace).
_TAKE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return 1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then return 2 end
for i = 1, 2 do
  redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 0
"""


class QuotaUnavailable(RuntimeError):
    """The counts cannot be read (Redis down): nothing is sent rather than an unbounded number."""


def _address_key(address: str) -> str:
    return "address:" + hashlib.sha256(f"openms-mail:{address.strip().lower()}".encode()).hexdigest()[:24]


def _workspace_key(workspace: Path) -> str:
    return "workspace:" + hashlib.sha256(f"openms-mail:{workspace.name}".encode()).hexdigest()[:24]


def take(settings: Settings, address: str, workspace: Path) -> str:
    """Take one e-mail from both counts: "" if it may be sent, else why not (for the log or page)."""
    notify = settings.notify
    keys = (_address_key(address), _workspace_key(workspace))
    limits = (notify.mails_per_address_per_hour, notify.mails_per_workspace_per_hour)
    if settings.online_deployment and settings.queue.enabled:
        refused = _take_in_redis(settings, keys, limits)
    else:
        refused = _take_in_file(settings.workspaces_dir / QUOTA_FILE, keys, limits)
    if refused == 1:
        return (
            f"this address already got {limits[0]} e-mails from this server within the last hour, "
            "the most it gets; try again later"
        )
    if refused == 2:
        return (
            f"this workspace already sent {limits[1]} e-mails within the last hour, the most it may; "
            "try again later"
        )
    return ""


def _take_in_redis(settings: Settings, keys: tuple[str, str], limits: tuple[int, int]) -> int:
    queue = settings.queue
    connection = redis.Redis.from_url(
        queue.redis_url, socket_connect_timeout=queue.connect_timeout, socket_timeout=queue.socket_timeout
    )
    try:
        return int(connection.eval(_TAKE, 2, *(REDIS_PREFIX + key for key in keys), *limits, WINDOW_SECONDS))
    except redis.exceptions.RedisError as err:
        raise QuotaUnavailable(
            f"the e-mail limits cannot be checked (the job queue is unreachable: {err})"
        ) from None
    finally:
        connection.close()


def _take_in_file(path: Path, keys: tuple[str, str], limits: tuple[int, int]) -> int:
    """The same counts in a JSON file (times of the mails in the window), under an exclusive lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            sent = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except json.JSONDecodeError:
            sent = {}  # a damaged count file starts again; it only bounds mails per hour
        now = time.time()
        recent = {key: [t for t in times if now - t < WINDOW_SECONDS] for key, times in sent.items()}
        for which, (key, limit) in enumerate(zip(keys, limits, strict=True), start=1):
            if len(recent.get(key, [])) >= limit:
                return which
        for key in keys:
            recent.setdefault(key, []).append(now)
        path.write_text(json.dumps({key: times for key, times in recent.items() if times}))
        return 0
