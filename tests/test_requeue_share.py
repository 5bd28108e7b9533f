"""An admin's requeue of a failed run is a start like any other (issue 30, item 4a), against a real
redis-server and real workers: counted against its visitor's running share and held while that
visitor has its share running, even with a worker idle; it starts by itself when one of the
visitor's runs ends."""

from __future__ import annotations

import time

import pytest
import redis
from rq.job import Job

from src import runs
from src.core.settings import load_settings
from src.jobs.ops import admin
from src.jobs.scheduler import Scheduler
from tests.conftest import wait_for
from tests.gate_workflow import GateWorkflow, open_gate
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

ONE = "198.51.100.7"


def state_of(workflow: GateWorkflow) -> str:
    return runs.status(workflow).state.value


def test_a_requeued_failed_run_is_held_while_its_client_has_its_share_running(settings, workers, redis_url):
    shared = load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1"))
    connection = redis.Redis.from_url(redis_url)
    order = Scheduler(shared, connection)
    workers.start(shared, redis_url, 2, RUNNING_RUNS_PER_CLIENT="1")
    failed, busy = (GateWorkflow(shared.workspaces_dir / name, shared) for name in ("failed", "busy"))

    open_gate(failed, fail=True)
    failed_id = runs.start(failed, visitor=ONE).job_id
    wait_for(lambda: state_of(failed) == "failed", 60, interval=0.1, what="the first run to fail")
    runs.start(busy, visitor=ONE)  # the visitor's share (1) is running now
    wait_for(lambda: state_of(busy) == "running", 60, interval=0.1, what="the visitor's second run")

    open_gate(failed)  # the cause is fixed; the admin requeues the failed run
    assert admin.requeue(shared, failed_id) is True
    time.sleep(2)  # an idle worker is there all along: a run handed to RQ would have started
    assert order.idle_slots() == 1
    assert state_of(failed) == "held" and state_of(busy) == "running"
    assert Job.fetch(failed_id, connection=connection).origin == order.waiting_queue.name
    listed = {run.job_id: run.state for run in admin.run_order(shared, connection)}
    assert listed[failed_id] == "held"

    open_gate(busy)  # one of the visitor's runs ends: the held one starts by itself
    wait_for(lambda: state_of(failed) == "finished", 60, interval=0.1, what="the requeued run to finish")
    assert state_of(busy) == "finished"
    assert failed.state.read().started_at >= busy.state.read().ended_at  # one at a time
    assert admin.failed_jobs(shared, connection=connection) == []
