"""A worker killed with SIGKILL is no idle slot (issue 30, item 4b), against a real redis-server and
real workers: RQ keeps its registration, saying "idle", until its key expires ``worker_ttl + 60`` s
after its last heartbeat, but the scheduler stops counting it once its heartbeat is overdue
(``worker_ttl`` s), and releases work for the living worker only."""

from __future__ import annotations

import json
import time

import pytest
import redis
from rq import Worker
from rq.job import Job

from src.core.settings import DEFAULT_SETTINGS_FILE, load_settings
from src.jobs.scheduler import Scheduler
from tests.conftest import wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

#: The shortest worker_ttl allowed: an idle worker beats every 5 s, its key lives 80 s after a beat.
WORKER_TTL = 20


@pytest.fixture
def short_ttl(settings, redis_url, tmp_path) -> tuple:
    """Settings (and their file, for the workers) with the shortest worker_ttl."""
    data = json.loads(DEFAULT_SETTINGS_FILE.read_text())
    data["queue_settings"]["worker_ttl"] = WORKER_TTL
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return load_settings(path=path, env=online_env(settings, redis_url)), path


def test_a_killed_workers_registration_stops_counting_as_idle_long_before_it_expires(
    short_ttl, workers, redis_url
):
    settings, path = short_ttl
    connection = redis.Redis.from_url(redis_url)
    order = Scheduler(settings, connection)
    victim, _ = workers.start(settings, redis_url, 2, SETTINGS_FILE=str(path))
    wait_for(lambda: order.idle_slots() == 2, 30, interval=0.2, what="both workers idle")
    [gone] = [w for w in Worker.all(connection=connection) if w.pid == victim.pid]

    victim.kill()  # SIGKILL: no goodbye to Redis
    victim.wait(10)
    killed_at = time.monotonic()
    wait_for(lambda: order.idle_slots() == 1, WORKER_TTL + 10, interval=0.2, what="one idle slot")
    assert time.monotonic() - killed_at < WORKER_TTL + 2
    still = {w.name: w.get_state() for w in Worker.all(connection=connection)}
    assert still[gone.name] == "idle"  # RQ still lists it ...
    assert connection.ttl(gone.key) > 40  # ... and will for a while yet

    runs = [Job.create("time.sleep", args=(1,), id=f"nap-{n}", connection=connection) for n in range(2)]
    for run, visitor in zip(runs, ("lab-a", "lab-b"), strict=True):
        order.submit_run(run, visitor, "normal")
    order.release_for_idle_workers()
    assert order.waiting_queue.count == 1  # one job for the one living worker; the other waits its turn
    for run in runs:
        wait_for(lambda run=run: run.get_status() == "finished", 60, interval=0.2, what=f"{run.id} to finish")
