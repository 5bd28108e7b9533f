"""The queue as all viewers of one web server see it, read at most once a second for all of them.

Every open Run page polls its run's status every second, and every page's sidebar shows the
queue's load. The parts that are the same for everyone (who waits in which order, how many
workers live and are busy, how many runs are running, recent run times) are read here in two
pipelined round trips and shared by all sessions of the process until they are older than
``max_age``; a viewer then needs one more round trip for its own job only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from redis import Redis
from rq import worker_registration
from rq.registry import StartedJobRegistry

from src.core.settings import PRIORITIES, Settings
from src.jobs import pieces
from src.jobs.client.enqueue import priority_queues
from src.jobs.connection import get_connection
from src.jobs.scheduler import Scheduler
from src.jobs.telemetry import durations

#: How old a shared reading may be before the next viewer that asks reads the queue again.
MAX_AGE_SECONDS = 1.0
#: The sidebar warns when this many runs wait per worker (or any wait with no worker at all).
BACKLOG_PER_WORKER = 2


@dataclass(frozen=True)
class Snapshot:
    """The queue at one moment: the one reading the Run page, the sidebar, the admin page and the
    health check derive their figures from."""

    waiting: dict[str, list[str]] = field(default_factory=dict)  # priority -> runs' job ids, next first
    in_order: int = 0  # runs waiting in the scheduler's order, none of their jobs on RQ's queues yet
    scheduled: int = 0  # retries waiting for their interval
    running: int = 0  # jobs a worker runs (runs and pieces)
    workers_total: int = 0
    workers_busy: int = 0
    typical_seconds: float | None = None  # median of recent successful runs
    taken_at: float = 0.0
    queued_jobs: dict[str, int] = field(default_factory=dict)  # priority -> jobs on RQ's queue (pieces too)
    jobs_in_order: int = 0  # jobs waiting in the scheduler's order (runs, held runs, pieces)
    finished: int = 0  # jobs kept as finished (for result_ttl)
    failed: int = 0  # jobs kept as failed (for failure_ttl)
    canceled: int = 0
    started_ids: tuple[str, ...] = ()  # the jobs counted in ``running`` (runs and pieces)
    scheduled_ids: tuple[str, ...] = ()  # the jobs counted in ``scheduled``

    @property
    def released(self) -> int:
        """Runs on RQ's queues: a worker takes them before anything in the scheduler's order. (A
        visitor counts runs: the pieces of a study are not runs of their own.)"""
        return sum(len(ids) for ids in self.waiting.values())

    @property
    def waiting_total(self) -> int:
        """Runs waiting to start: on RQ's queues, in the scheduler's order, and retries."""
        return self.released + self.in_order + self.scheduled

    @property
    def jobs_waiting(self) -> int:
        """Jobs waiting (pieces too): on RQ's queues, in the scheduler's order, and retries."""
        return sum(self.queued_jobs.values()) + self.scheduled + self.jobs_in_order

    @property
    def utilisation(self) -> float:
        return self.workers_busy / self.workers_total if self.workers_total else 0.0

    @property
    def backlog_warning(self) -> str:
        """A sentence for visitors when the queue backs up, else ""."""
        if self.waiting_total and not self.workers_total:
            return (
                f"No worker is running, so {self.waiting_total} waiting run(s) cannot start. "
                "They stay in the queue; please tell the administrator."
            )
        if self.waiting_total >= BACKLOG_PER_WORKER * max(self.workers_total, 1):
            return (
                f"The queue is backing up: {self.waiting_total} runs are waiting for {self.workers_total} "
                "worker(s). New runs will start later than usual."
            )
        return ""

    def position(self, job_id: str, priority: str) -> int | None:
        """1-based place among waiting runs, counting higher priorities first; None if not waiting."""
        ids = self.waiting.get(priority, [])
        if job_id not in ids:
            return None
        ahead = sum(len(self.waiting[p]) for p in PRIORITIES[: PRIORITIES.index(priority)])
        return ahead + ids.index(job_id) + 1


def read(settings: Settings, connection: Redis | None = None) -> Snapshot:
    """One fresh reading of the queue (two pipelined round trips)."""
    connection = connection or get_connection(settings.queue)
    queues = priority_queues(settings, connection)
    with connection.pipeline(transaction=False) as pipe:
        for p in PRIORITIES:
            pipe.lrange(queues[p].key, 0, -1)
        for queue in queues.values():
            pipe.zrange(queue.scheduled_job_registry.key, 0, -1)
            pipe.zrange(queue.started_job_registry.key, 0, -1)
            pipe.zcard(queue.finished_job_registry.key)
            pipe.zcard(queue.failed_job_registry.key)
            pipe.zcard(queue.canceled_job_registry.key)
        pipe.llen(Scheduler(settings, connection).waiting_queue.key)
        pipe.zcard(Scheduler.WAITING_RUNS_KEY)
        pipe.smembers(worker_registration.WORKERS_BY_QUEUE_KEY % queues["normal"].name)
        pipe.lrange(durations.DURATIONS_KEY, 0, -1)
        replies = pipe.execute()
    lists, per_queue = replies[: len(PRIORITIES)], replies[len(PRIORITIES) : -4]
    jobs_in_order, in_order, worker_keys, recent = replies[-4:]
    scheduled = tuple(_text(entry) for entry in _chain(per_queue[0::5]))
    # RQ keeps a started job as "<job id>:<execution id>"; the registry says how to read it.
    started = tuple(StartedJobRegistry.parse_job_id(_text(entry)) for entry in _chain(per_queue[1::5]))
    finished, failed, canceled = (sum(per_queue[i::5]) for i in (2, 3, 4))
    with connection.pipeline(transaction=False) as pipe:
        for key in worker_keys:
            pipe.hget(key, "state")
        states = [s.decode() if isinstance(s, bytes) else s for s in pipe.execute()]
    live = [s for s in states if s is not None]  # a dead worker's key has expired
    return Snapshot(
        waiting={p: _runs(ids) for p, ids in zip(PRIORITIES, lists, strict=True)},
        in_order=int(in_order),
        scheduled=len(scheduled),
        running=len(started),
        workers_total=len(live),
        workers_busy=sum(1 for s in live if s == "busy"),
        typical_seconds=durations.median_duration(recent),
        taken_at=time.time(),
        queued_jobs={p: len(ids) for p, ids in zip(PRIORITIES, lists, strict=True)},
        jobs_in_order=int(jobs_in_order),
        finished=finished,
        failed=failed,
        canceled=canceled,
        started_ids=started,
        scheduled_ids=scheduled,
    )


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _chain(lists: list[list]) -> list:
    return [item for items in lists for item in items]


def _runs(ids: list[bytes]) -> list[str]:
    return [job_id for job_id in (raw.decode() for raw in ids) if not pieces.is_piece_id(job_id)]


class Board:
    """A shared, at most ``max_age``-old reading; whoever finds it stale reads it again."""

    def __init__(self, settings: Settings, max_age: float = MAX_AGE_SECONDS) -> None:
        self.settings, self.max_age = settings, max_age
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self, newer_than: float = 0.0) -> Snapshot:
        """The shared reading; read again if it is older than ``max_age`` or than ``newer_than``
        (e.g. a job enqueued after it was taken, which it cannot show yet)."""
        with self._lock:
            snap = self._snapshot
            if snap is None or time.time() - snap.taken_at > self.max_age or snap.taken_at < newer_than:
                self._snapshot = read(self.settings)
            return self._snapshot


_boards: dict[str, Board] = {}
_boards_lock = threading.Lock()


def shared(settings: Settings) -> Board:
    """This process's shared reading for the settings' Redis."""
    with _boards_lock:
        board = _boards.get(settings.queue.redis_url)
        if board is None:
            board = _boards[settings.queue.redis_url] = Board(settings)
        return board
