"""The figures of ``/metrics``, read at scrape time: a ``prometheus_client`` collector that reads
Redis and the workspaces volume each time it is asked, written in Prometheus's text format by
``prometheus_client`` itself.

Everything comes from Redis (the queue, the workers' registrations, the counters of
``run_totals``, the web servers' session counts) or from the shared workspaces volume, so any
web server answers for the whole deployment, however many workers, worker containers and web
servers it has; nothing is kept in the per-job processes RQ forks. No label carries a workspace,
job, file or client address: only workflows (their ids), states, outcomes, priorities, worker
hosts and web servers.

What stays by hand is the reading (the queue's keys, the workers' registrations, the volume): no
library knows where this app keeps its figures.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from redis import Redis
from rq import worker_registration

from src.core import workspace as ws
from src.core.run import RunState
from src.core.settings import PRIORITIES, Settings
from src.core.version import VERSION
from src.jobs import pieces
from src.jobs.client import queue_reading
from src.jobs.connection import REDIS_ERRORS
from src.jobs.scheduler import Scheduler
from src.jobs.telemetry import run_totals

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
        "Runs by state: queued (waiting for a worker), held (over their visitor's share), retrying, running.",
    ),
    "openms_queue_depth": ("gauge", "Runs waiting to start (queued or held), by priority."),
    "openms_pieces": (
        "gauge",
        "Pieces of spread steps (one tool on one file) waiting on the queues or running.",
    ),
    "openms_workers": ("gauge", "Live RQ workers by host and state (busy, idle, ...)."),
    "openms_workers_lent": (
        "gauge",
        "Idle workers lent to a run's step that stays one command (its tool uses their threads), by host.",
    ),
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
_KINDS = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily, "histogram": HistogramMetricFamily}


def _family(name: str, *labels: str) -> Metric:
    """An empty family of FAMILIES, its samples to be added with these label names."""
    kind, help_text = FAMILIES[name]
    return _KINDS[kind](name, help_text, labels=list(labels))


def _single(name: str, value: float, **labels: str) -> Metric:
    family = _family(name, *labels)
    family.add_metric(list(labels.values()), value)
    return family


class ScrapeCollector(Collector):
    """Every family of ``/metrics``, read when Prometheus asks (``collect``), never kept."""

    def __init__(self, settings: Settings, connection: Redis | None, own_sessions: tuple[str, int] | None):
        self.settings, self.connection, self.own_sessions = settings, connection, own_sessions

    def collect(self) -> Iterator[Metric]:
        yield _single("openms_build_info", 1, version=VERSION)
        connection, queue, sessions = self.connection, [], {}
        up = connection is not None and _ping(connection)
        if up:
            try:
                queue = list(_queue_families(self.settings, connection))
                sessions = _web_sessions(connection)
            except REDIS_ERRORS:  # Redis went away mid-scrape: none of its figures, and it is down
                up, queue, sessions = False, [], {}
        yield _single("openms_redis_up", 1 if up else 0)
        yield from queue
        if self.own_sessions is not None:
            sessions[self.own_sessions[0]] = self.own_sessions[1]
        family = _family("openms_web_sessions", "server")
        for server, count in sorted(sessions.items()):
            family.add_metric([server], count)
        yield family
        yield from _disk_families(self.settings.workspaces_dir)


def render(settings: Settings, connection: Redis | None, own_sessions: tuple[str, int] | None) -> str:
    """The whole page. ``own_sessions``: (this web server's name, its open sessions), counted
    fresh; the other web servers' come from Redis."""
    registry = CollectorRegistry()  # private: the process-wide default one would add Python's own
    registry.register(ScrapeCollector(settings, connection, own_sessions))
    return generate_latest(registry).decode()


def _ping(connection: Redis) -> bool:
    try:
        return bool(connection.ping())
    except REDIS_ERRORS:
        return False


def _queue_families(settings: Settings, connection: Redis) -> Iterator[Metric]:
    runs, depth, piece_counts = _runs_by_state(settings, connection)
    family = _family("openms_runs", "state")
    for state in RUN_STATES:
        family.add_metric([state], runs[state])
    yield family
    family = _family("openms_queue_depth", "priority")
    for priority in PRIORITIES:
        family.add_metric([priority], depth[priority])
    yield family
    family = _family("openms_pieces", "state")
    for state in (QUEUED, RUNNING):
        family.add_metric([state], piece_counts[state])
    yield family
    family = _family("openms_workers", "host", "state")
    for (host, state), count in sorted(_workers(connection).items()):
        family.add_metric([host, state], count)
    yield family
    family = _family("openms_workers_lent", "host")
    lent: Counter = Counter()
    for host, slots in Scheduler(settings, connection).lent().values():
        lent[host] += slots
    for host, count in sorted(lent.items()):
        family.add_metric([host], count)
    yield family
    ended, durations = run_totals.read(connection)
    family = _family("openms_runs_ended_total", "workflow", "outcome")
    for (workflow, outcome), count in sorted(ended.items()):
        family.add_metric([workflow, outcome], count)
    yield family
    family = _family("openms_run_duration_seconds", "workflow", "outcome")
    for (workflow, outcome), entry in sorted(durations.items()):
        family.add_metric([workflow, outcome], entry.cumulative(), entry.total_seconds)
    yield family


def _runs_by_state(settings: Settings, connection: Redis) -> tuple[Counter, Counter, Counter]:
    """(runs by state, waiting runs by priority, pieces by state), from the queue's one reading
    (``queue_reading.Snapshot``) and the scheduler's order."""
    snap = queue_reading.read(settings, connection)
    runs, depth, piece_counts = Counter(), Counter(), Counter()
    for priority in PRIORITIES:
        depth[priority] = len(snap.waiting.get(priority, []))
    runs[QUEUED] = snap.released
    piece_counts[QUEUED] = sum(snap.queued_jobs.values()) - snap.released
    for job_id in snap.started_ids:
        (piece_counts if pieces.is_piece_id(job_id) else runs)[RUNNING] += 1
    runs[RETRYING] = sum(1 for job_id in snap.scheduled_ids if not pieces.is_piece_id(job_id))
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
    """The workspaces' size, walked at most every DISK_CACHE_SECONDS per root by this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[Path, tuple[float, tuple[int, int]]] = {}

    def get(self, root: Path) -> tuple[int, int]:
        """(workspaces, bytes in them)."""
        with self._lock:
            at, value = self._readings.get(root, (-DISK_CACHE_SECONDS, (0, 0)))
            if time.monotonic() - at >= DISK_CACHE_SECONDS:
                count = sum(1 for entry in _entries(root) if entry.is_dir(follow_symlinks=False))
                value = (count, ws.used_bytes(root))
                self._readings = {root: (time.monotonic(), value)}  # one root per process in use
            return value


def _entries(root: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(root))
    except FileNotFoundError:
        return []


_disk = _DiskReading()


def _disk_families(root: Path) -> Iterator[Metric]:
    count, used = _disk.get(root)
    yield _single("openms_workspaces", count)
    yield _single("openms_workspace_bytes", used)
    try:
        usage = os.statvfs(root)
    except OSError:
        return  # the volume is missing: the two figures are absent, which an alert can catch
    yield _single("openms_disk_free_bytes", usage.f_bavail * usage.f_frsize)
    yield _single("openms_disk_size_bytes", usage.f_blocks * usage.f_frsize)
