"""Health of the queue system: Redis, workers and queue statistics.

Used by the UI sidebar, the admin page and the container health check
(``python -m src health``, exit 0 only if Redis answers and a worker lives).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

import click
from rq import Worker

from src.core.settings import PRIORITIES, Settings, load_for_command, redact
from src.jobs.client import queue_reading
from src.jobs.client.enqueue import priority_queues
from src.jobs.connection import REDIS_ERRORS, get_connection


@dataclass
class RedisHealth:
    ok: bool
    error: str = ""
    version: str = ""
    used_memory_bytes: int = 0
    used_memory_human: str = ""
    aof_enabled: bool = False
    aof_last_rewrite_status: str = ""
    aof_last_write_status: str = ""
    uptime_seconds: int = 0
    connected_clients: int = 0


@dataclass
class WorkerInfo:
    name: str
    state: str  # idle, busy, suspended, started
    current_job: str = ""
    since: float | None = None  # when the current job (or the worker) started
    successful_jobs: int = 0
    failed_jobs: int = 0


def redis_health(settings: Settings) -> RedisHealth:
    try:
        connection = get_connection(settings.queue)
        connection.ping()
        info = connection.info()
    except REDIS_ERRORS as err:
        return RedisHealth(ok=False, error=f"Redis at {redact(settings.queue.redis_url)}: {err}")
    return RedisHealth(
        ok=True,
        version=str(info.get("redis_version", "")),
        used_memory_bytes=int(info.get("used_memory", 0)),
        used_memory_human=str(info.get("used_memory_human", "")),
        aof_enabled=bool(info.get("aof_enabled")),
        aof_last_rewrite_status=str(info.get("aof_last_bgrewrite_status", "")),
        aof_last_write_status=str(info.get("aof_last_write_status", "")),
        uptime_seconds=int(info.get("uptime_in_seconds", 0)),
        connected_clients=int(info.get("connected_clients", 0)),
    )


def _timestamp(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value else None


def workers(settings: Settings) -> list[WorkerInfo]:
    connection = get_connection(settings.queue)
    found = []
    for worker in Worker.all(queue=priority_queues(settings, connection)["normal"]):
        job_id = worker.get_current_job_id() or ""
        found.append(
            WorkerInfo(
                name=worker.name,
                state=worker.get_state(),
                current_job=job_id,
                since=_job_started(worker) if job_id else _timestamp(worker.birth_date),
                successful_jobs=worker.successful_job_count,
                failed_jobs=worker.failed_job_count,
            )
        )
    return sorted(found, key=lambda w: w.name)


def _job_started(worker: Worker) -> float | None:
    job = worker.get_current_job()
    return _timestamp(job.started_at) if job else None


def report(settings: Settings) -> dict:
    """Everything at once, as plain data (for the health check and the admin page)."""
    redis_state = redis_health(settings)
    if not redis_state.ok:
        return {"redis": asdict(redis_state), "workers": [], "queues": None}
    snap = queue_reading.read(settings)
    queues = dict(
        queued=dict(snap.queued_jobs),  # per priority, on RQ's queues
        scheduled=snap.scheduled,
        started=snap.running,
        finished=snap.finished,
        failed=snap.failed,
        canceled=snap.canceled,
        in_order=snap.jobs_in_order,  # jobs waiting in the scheduler's order (runs, held runs, pieces)
        total_queued=snap.jobs_waiting,
        priorities=list(PRIORITIES),
    )
    return {"redis": asdict(redis_state), "workers": [asdict(w) for w in workers(settings)], "queues": queues}


def web_state(url: str, timeout: float = 5.0) -> str:
    """ "ok" (answers 200), "busy" (takes the connection but is slow or not ready yet) or "dead"
    (refuses it: no process listens). A loaded web server is busy, and busy is healthy: an
    orchestrator must not restart the web tier exactly when the most visitors use it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return "ok" if response.status == 200 else "busy"
    except urllib.error.HTTPError:
        return "busy"  # it answered, just not with 200 (e.g. still starting)
    except TimeoutError:
        return "busy"
    except OSError as err:
        reason = getattr(err, "reason", err)
        return "busy" if isinstance(reason, TimeoutError) else "dead"


def door_problem(door_url: str, app_states: list[str], timeout: float = 8.0) -> str:
    """Why visitors cannot come in at the proxy, or "". Its 503 means it has no web server to send
    them to; while every web server answers its health check itself, that is a proxy that has not
    seen them come up yet (HAProxy checks each every few seconds) or cannot reach them, and the
    appliance is not healthy. With a server busy the proxy's 503 is the load's, which is healthy
    like the busy server (a loaded web tier must not be restarted)."""
    try:
        with urllib.request.urlopen(door_url, timeout=timeout):
            return ""
    except urllib.error.HTTPError as err:
        if err.code == 503 and app_states and all(state == "ok" for state in app_states):
            return f"the proxy at {door_url} sends visitors to no web server although every one answers"
        return ""
    except OSError as err:
        reason = getattr(err, "reason", err)
        return "" if isinstance(reason, TimeoutError) else f"nothing answers at {door_url}"


@click.command("health")
@click.option(
    "--door-url",
    default="",
    help="The proxy in front of the web servers (its /_stcore/health): unhealthy if it refuses the "
    "connection, or answers 503 while every --app-url answers.",
)
@click.option(
    "--app-url",
    "app_urls",
    multiple=True,
    help="Also require a web server here (repeatable, e.g. each Streamlit's /_stcore/health): "
    "a refused connection is unhealthy, a slow answer only busy.",
)
@click.option("--quiet", is_flag=True, help="Print only problems.")
@click.option("--this-host", is_flag=True, help="Require a worker running on this host (worker containers).")
def main(door_url: str, app_urls: tuple[str, ...], quiet: bool, this_host: bool) -> None:
    """Health of Redis, the RQ workers and the web app: exit 0 only if Redis answers, a worker lives
    and (if given) the app answers."""
    settings = load_for_command()
    state = report(settings)
    problems = [] if state["redis"]["ok"] else [state["redis"]["error"]]
    if state["redis"]["ok"] and not state["workers"]:
        problems.append("no RQ worker is registered")
    here = socket.gethostname() + "-"  # worker names start with their host's name
    if state["redis"]["ok"] and this_host and not any(w["name"].startswith(here) for w in state["workers"]):
        problems.append(f"no RQ worker of this host ({socket.gethostname()}) is registered")
    app_states = []
    for url in app_urls:
        web = web_state(url, timeout=8.0)
        app_states.append(web)
        if web == "dead":
            problems.append(f"no web server answers at {url}")
        elif web == "busy":
            click.echo(f"busy (healthy): the web server at {url} is slow to answer", err=True)
    if door_url and (door := door_problem(door_url, app_states)):
        problems.append(door)
    if not quiet:
        click.echo(json.dumps(state, indent=2, default=str))
    for problem in problems:
        click.echo(f"unhealthy: {problem}", err=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":  # the older spelling of ``python -m src health``
    main()
