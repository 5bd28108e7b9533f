"""The figures of ``/metrics``, in Prometheus's text format, read at scrape time.

Everything comes from Redis (the queue, the workers' registrations, the counters of
``run_totals``, the web servers' session counts) or from the shared workspaces volume, so any
web server answers for the whole deployment, however many workers, worker containers and web
servers it has; nothing is kept in the per-job processes RQ forks. No label carries a workspace,
job, file or client address: only workflows (their ids), states, outcomes, priorities, worker
hosts and web servers.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

from redis import Redis
from rq import worker_registration

from src.core import workspace as ws
from src.core.run import RunState
from src.core.settings import PRIORITIES, Settings
from src.core.version import VERSION
from src.jobs import pieces
from src.jobs.client import enqueue as q
from src.jobs.connection import REDIS_ERRORS
from src.jobs.ops import run_totals
from src.jobs.scheduler import Scheduler

#: Each web server's count of open sessions: "openms:metrics:web:<host>:<port>" -> sessions.
WEB_SESSIONS_PREFIX = "openms:metrics:web:"
#: A web server's count expires unless it is renewed (``src/web/metrics_endpoint.py``).
WEB_SESSIONS_TTL = 30
#: Walking every workspace for its size is not done more often than this, per web server.
DISK_CACHE_SECONDS = 60.0
QUEUED, HELD, RUNNING = RunState.QUEUED.value, RunState.HELD.value, RunState.RUNNING.value
RETRYING = "retrying"  # a lost run's job waiting for its retry interval (RQ's scheduled registry)
RUN_STATES = (QUEUED, HELD, RETRYING, RUNNING)
#: Every metric family: (type, help).
FAMILIES: dict[str, tuple[str, str]] = {
    "openms_build_info": ("gauge", "The running version of the OpenMS Workflow Server (always 1)."),
    "openms_redis_up": ("gauge", "1 if this web server reached the queue's Redis, else 0."),
    "openms_web_sessions": ("gauge", "Browser sessions open on each web server."),
    "openms_runs": (
        "gauge",
        "Runs by state: queued (waiting for a worker), held (over their client's share), retrying, running.",
    ),
    "openms_queue_depth": ("gauge", "Runs waiting to start (queued or held), by priority."),
    "openms_pieces": (
        "gauge",
        "Pieces of spread steps (one tool on one file) waiting on the queues or running.",
    ),
    "openms_workers": ("gauge", "Live RQ workers by host and state (busy, idle, ...)."),
    "openms_runs_ended_total": (
        "counter",
        "Runs ended, by workflow (its id) and outcome (finished, failed, cancelled, lost).",
    ),
    "openms_run_duration_seconds": ("histogram", "How long ended runs ran, by workflow and outcome."),
    "openms_workspaces": ("gauge", "Workspaces on the workspaces volume."),
    "openms_workspace_bytes": ("gauge", "Bytes in all workspaces (inputs, results, logs)."),
    "openms_disk_free_bytes": ("gauge", "Free bytes on the workspaces volume."),
    "openms_disk_size_bytes": ("gauge", "Size of the workspaces volume in bytes."),
}


class Exposition:
    """Metric families written one after the other: HELP, TYPE, then samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str) -> None:
        kind, help_text = FAMILIES[name]
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(settings: Settings, connection: Redis | None, own_sessions: tuple[str, int] | None) -> str:
    """The whole page. ``own_sessions``: (this web server's name, its open sessions), counted
    fresh; the other web servers' come from Redis."""
    out = Exposition()
    out.family("openms_build_info")
    out.sample("openms_build_info", 1, version=VERSION)
    queue, sessions = Exposition(), {}
    up = connection is not None and _ping(connection)
    if up:
        try:
            _queue_families(queue, settings, connection)
            sessions = _web_sessions(connection)
        except REDIS_ERRORS:  # Redis went away mid-scrape: none of its figures, and it is down
            up, queue, sessions = False, Exposition(), {}
    out.family("openms_redis_up")
    out.sample("openms_redis_up", 1 if up else 0)
    out.lines += queue.lines
    if own_sessions is not None:
        sessions[own_sessions[0]] = own_sessions[1]
    out.family("openms_web_sessions")
    for server, count in sorted(sessions.items()):
        out.sample("openms_web_sessions", count, server=server)
    _disk_families(out, settings.workspaces_dir)
    return out.text()


def _ping(connection: Redis) -> bool:
    try:
        return bool(connection.ping())
    except REDIS_ERRORS:
        return False


def _queue_families(out: Exposition, settings: Settings, connection: Redis) -> None:
    runs, depth, piece_counts = _runs_by_state(settings, connection)
    out.family("openms_runs")
    for state in RUN_STATES:
        out.sample("openms_runs", runs[state], state=state)
    out.family("openms_queue_depth")
    for priority in PRIORITIES:
        out.sample("openms_queue_depth", depth[priority], priority=priority)
    out.family("openms_pieces")
    for state in (QUEUED, RUNNING):
        out.sample("openms_pieces", piece_counts[state], state=state)
    out.family("openms_workers")
    for (host, state), count in sorted(_workers(connection).items()):
        out.sample("openms_workers", count, host=host, state=state)
    ended, durations = run_totals.read(connection)
    out.family("openms_runs_ended_total")
    for (workflow, outcome), count in sorted(ended.items()):
        out.sample("openms_runs_ended_total", count, workflow=workflow, outcome=outcome)
    out.family("openms_run_duration_seconds")
    for (workflow, outcome), entry in sorted(durations.items()):
        labels = {"workflow": workflow, "outcome": outcome}
        for le, count in entry.cumulative():
            out.sample("openms_run_duration_seconds_bucket", count, **labels, le=le)
        out.sample("openms_run_duration_seconds_sum", entry.total_seconds, **labels)
        out.sample("openms_run_duration_seconds_count", entry.count, **labels)


def _runs_by_state(settings: Settings, connection: Redis) -> tuple[Counter, Counter, Counter]:
    """(runs by state, waiting runs by priority, pieces by state)."""
    queues = q.queues(settings, connection)
    runs, depth, piece_counts = Counter(), Counter(), Counter()
    with connection.pipeline(transaction=False) as pipe:
        for priority in PRIORITIES:
            pipe.lrange(queues[priority].key, 0, -1)
            pipe.zrange(queues[priority].started_job_registry.key, 0, -1)
            pipe.zrange(queues[priority].scheduled_job_registry.key, 0, -1)
        replies = pipe.execute()
    for index, priority in enumerate(PRIORITIES):
        waiting, started, scheduled = (_ids(r) for r in replies[3 * index : 3 * index + 3])
        for job_id in waiting:
            if pieces.is_piece_id(job_id):
                piece_counts[QUEUED] += 1
            else:
                runs[QUEUED] += 1
                depth[priority] += 1
        for job_id in started:
            (piece_counts if pieces.is_piece_id(job_id) else runs)[RUNNING] += 1
        runs[RETRYING] += sum(1 for job_id in scheduled if not pieces.is_piece_id(job_id))
    scheduler = Scheduler(settings, connection)
    held = scheduler.held_runs()
    for run_id in scheduler.waiting_run_ids():
        runs[HELD if run_id in held else QUEUED] += 1
        depth[scheduler.run_info(run_id).get("priority") or "normal"] += 1
    return runs, depth, piece_counts


def _ids(raw: list[bytes]) -> list[str]:
    return [item.decode() if isinstance(item, bytes) else item for item in raw]


def _workers(connection: Redis) -> Counter:
    """Live workers by (host, state); a dead worker's registration has expired."""
    keys = list(connection.smembers(worker_registration.REDIS_WORKER_KEYS))
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "hostname", "state")
        replies = pipe.execute()
    return Counter(
        (_ids([host or b"unknown"])[0], _ids([state])[0]) for host, state in replies if state is not None
    )


def _web_sessions(connection: Redis) -> dict[str, int]:
    keys = list(connection.scan_iter(match=WEB_SESSIONS_PREFIX + "*", count=100))
    values = connection.mget(keys) if keys else []
    return {
        _ids([key])[0].removeprefix(WEB_SESSIONS_PREFIX): int(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }


def publish_sessions(connection: Redis, server: str, count: int) -> None:
    connection.set(WEB_SESSIONS_PREFIX + server, count, ex=WEB_SESSIONS_TTL)


class _DiskReading:
    """The workspaces' size, walked at most every DISK_CACHE_SECONDS by this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = -DISK_CACHE_SECONDS
        self._value: tuple[int, int] = (0, 0)

    def get(self, root: Path) -> tuple[int, int]:
        """(workspaces, bytes in them)."""
        with self._lock:
            if time.monotonic() - self._at >= DISK_CACHE_SECONDS:
                count = sum(1 for entry in _entries(root) if entry.is_dir(follow_symlinks=False))
                self._value = (count, ws.used_bytes(root))
                self._at = time.monotonic()
            return self._value


def _entries(root: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(root))
    except FileNotFoundError:
        return []


_disk = _DiskReading()


def _disk_families(out: Exposition, root: Path) -> None:
    count, used = _disk.get(root)
    out.family("openms_workspaces")
    out.sample("openms_workspaces", count)
    out.family("openms_workspace_bytes")
    out.sample("openms_workspace_bytes", used)
    try:
        usage = os.statvfs(root)
    except OSError:
        return  # the volume is missing: the two figures are absent, which an alert can catch
    out.family("openms_disk_free_bytes")
    out.sample("openms_disk_free_bytes", usage.f_bavail * usage.f_frsize)
    out.family("openms_disk_size_bytes")
    out.sample("openms_disk_size_bytes", usage.f_blocks * usage.f_frsize)
