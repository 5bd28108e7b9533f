"""Runs per client: one visitor may have at most ``limits.max_runs_per_client`` runs queued or running.

Workspaces are free to make (a fresh one per visit), so the limit counts by the
client's address as the web server sees it, across workspaces. Queued runs carry a
hash of that address in their job's meta and are counted from Redis (so several web
servers agree); runs that fell back to a local process because Redis was down are
counted in this process.
"""

from __future__ import annotations

import hashlib
import threading

from redis import Redis
from rq.job import Job

from src.core.workflow import LocalRunner, WorkflowBase

#: Key of a client in job meta: a hash, so Redis and rq-dashboard do not list visitors' addresses.
META_KEY = "client"


def client_key(address: str) -> str:
    return hashlib.sha256(f"openms-client:{address}".encode()).hexdigest()[:20]


def limit_message(active: int, limit: int) -> str:
    return (
        f"You already have {active} runs queued or running on this server, and the limit is {limit} per "
        "visitor. Wait for one of them to finish (or stop one), then start this one."
    )


def active_queue_runs(connection: Redis, client: str, queue_map: dict) -> int:
    """Jobs of this client that wait or run, over all priorities (queued, retry-scheduled, started)."""
    ids: list[str] = []
    for queue in queue_map.values():
        ids += queue.get_job_ids()
        ids += queue.scheduled_job_registry.get_job_ids(cleanup=False)
        ids += queue.started_job_registry.get_job_ids(cleanup=False)
    key = client_key(client)
    jobs = Job.fetch_many(list(dict.fromkeys(ids)), connection=connection)
    return sum(1 for job in jobs if job is not None and job.meta.get(META_KEY) == key)


class LocalRuns:
    """Local runs started for clients in online mode (the fallback when Redis is down), by client."""

    def __init__(self) -> None:
        self._runs: dict[str, list[WorkflowBase]] = {}
        self._lock = threading.Lock()

    def active(self, client: str) -> int:
        with self._lock:
            alive = [w for w in self._runs.get(client, []) if LocalRunner(w).is_running()]
            self._runs[client] = alive
            return len(alive)

    def add(self, client: str, workflow: WorkflowBase) -> None:
        with self._lock:
            self._runs.setdefault(client, []).append(workflow)
