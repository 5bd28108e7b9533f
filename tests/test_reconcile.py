"""Reading a status never writes; runs that ended without saying so get their end written by the
worker or the maintenance pass. Real redis-server, real workers, real kills."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
import redis
from rq.job import Job

from src import runs
from src.core.run import RunState, ended_with, read_log
from src.core.settings import load_settings
from src.jobs import reconcile
from src.jobs.client.enqueue import priority_queues
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run, generate_runs
from tests.conftest import processes_mentioning, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow


def snapshot(folder) -> dict:
    """Every file of a workflow with its content and modification time."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_status_read_never_writes_and_the_maintenance_pass_ends_the_run(online_settings, redis_url):
    workflow = MetabolomicsWorkflow(online_settings.workspaces_dir / "operator-cancelled", online_settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    job_id = runs.start(workflow).job_id  # no worker: it waits
    connection = redis.Redis.from_url(redis_url)
    Job.fetch(job_id, connection=connection).cancel()  # as an operator would, from rq-dashboard
    before = snapshot(workflow.dir)

    for _ in range(3):
        assert runs.status(workflow).state is RunState.CANCELLED  # RQ's state, shown as it is
    assert snapshot(workflow.dir) == before, "a status read wrote to the workspace"
    assert workflow.state.read().state is RunState.QUEUED

    assert (
        reconcile.recent_endings(online_settings, connection, priority_queues(online_settings, connection))
        == 1
    )
    assert ended_with(workflow.logger.log_dir) is RunState.CANCELLED
    assert workflow.state.read().state is RunState.CANCELLED
    assert (
        reconcile.recent_endings(online_settings, connection, priority_queues(online_settings, connection))
        == 0
    )


def test_a_killed_work_horse_ends_its_run_at_once(settings, workers, redis_url):
    no_retry = load_settings(env=online_env(settings, redis_url, QUEUE_RETRIES="0"))
    workers.start(no_retry, redis_url, 1, QUEUE_RETRIES="0")
    workflow = MetabolomicsWorkflow(no_retry.workspaces_dir / "oom", no_retry)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    runs.start(workflow)

    def running_tool():
        return next((p for p in processes_mentioning(str(workflow.dir)) if "FeatureFinder" in p.name()), None)

    tool = wait_for(running_tool, 60, what="FeatureFinderMetabo to run in the work-horse")
    horse = psutil.Process(tool.ppid())
    assert horse.ppid() == workers.processes[0].pid  # the horse is a fork of the worker
    os.kill(horse.pid, signal.SIGKILL)  # as the out-of-memory killer would

    def ended():
        view = runs.status(workflow)
        return view.state.is_final and view

    final = wait_for(ended, 20, interval=0.2, what="the run to end")
    assert final.state is RunState.FAILED and "worker running this job was lost" in final.error
    wait_for(lambda: ended_with(workflow.logger.log_dir) is RunState.FAILED, 10, what="the failed end marker")
    assert read_log(workflow.logger.log_dir, "minimal").count("=== WORKFLOW FAILED ===") == 1
    assert workers.processes[0].poll() is None, "the worker itself lives on"
