"""Online mode against a real redis-server and real RQ workers (python -m src.jobs.worker)."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import redis
from rq.job import Job
from rq.scheduler import RQScheduler

from src import runs
from src.core.run import RunState, ended_with, read_log
from src.core.settings import load_settings
from src.jobs import errors
from src.jobs.client import job_status
from src.jobs.client.enqueue import cancel, recorded_job_id
from src.jobs.ops import admin
from src.jobs.ops.health import report
from src.jobs.scheduler import Scheduler
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run, generate_runs
from src.workflows.metabolomics.paths import table_in
from tests.conftest import processes_mentioning, put_inputs, set_noise_threshold, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow


def make_workflow(settings, name: str, files=None, noise: bool = True) -> MetabolomicsWorkflow:
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / name, settings)
    if files:
        put_inputs(workflow, files)
    if noise:
        set_noise_threshold(workflow)
    return workflow


def wait_state(workflow, states, timeout=120.0):
    return wait_for(
        lambda: runs.status(workflow).state in states and runs.status(workflow),
        timeout,
        interval=0.1,
        what=f"{workflow.workspace.name} to reach {states}",
    )


def tool_processes(workflow) -> list:
    return [
        p for p in processes_mentioning(str(workflow.dir)) if "Feature" in " ".join(p.info["cmdline"] or [])
    ]


def test_queued_run_gives_the_same_table_as_a_local_run(
    online_settings, settings, workers, redis_url, nz_files
):
    queued = make_workflow(online_settings, "queued", nz_files)
    local = make_workflow(settings, "local", nz_files)
    workers.start(online_settings, redis_url, 1)

    view = runs.start(queued)
    assert view.mode == "queue" and len(view.job_id) == 32 and "queued" not in view.job_id
    assert local.run() is RunState.FINISHED
    final = wait_state(queued, ("finished", "failed"))
    assert final.state == "finished", final.error
    assert final.worker and final.progress == 1.0
    assert ended_with(queued.logger.log_dir) is RunState.FINISHED
    assert read_log(queued.logger.log_dir, "commands").count("Running: /usr/bin/FeatureFinderMetabo") == 3
    pd.testing.assert_frame_equal(
        pd.read_csv(table_in(queued.files.results_root), sep="\t"),
        pd.read_csv(table_in(local.files.results_root), sep="\t"),
    )
    assert len(pd.read_csv(table_in(queued.files.results_root), sep="\t")) > 250


def test_positions_and_progress_with_one_worker(online_settings, workers, redis_url, tmp_path):
    busy = make_workflow(online_settings, "busy", noise=False)
    generate_runs(busy.files.input_dir("mzML-files"), 3, n_spectra=600, noise_peaks=800, noise_level=60.0)
    second, third = (make_workflow(online_settings, name) for name in ("second", "third"))
    for workflow in (second, third):
        generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    workers.start(online_settings, redis_url, 1)

    runs.start(busy)
    wait_state(busy, ("running",), 30)
    runs.start(second)
    runs.start(third)
    assert (runs.status(second).position, runs.status(third).position) == (1, 2)
    assert runs.status(second).queue_length == runs.status(third).queue_length == 2
    assert runs.status(busy).position is None

    seen = []
    while runs.status(busy).state == "running":
        seen.append(runs.status(busy).progress or 0.0)
        time.sleep(0.05)
    distinct = sorted(set(seen))
    assert len(distinct) >= 3 and distinct == sorted(distinct), seen  # moved forward per tool run
    assert runs.status(busy).state == "finished"
    assert runs.status(second).position in (None, 1)
    for workflow in (second, third):
        assert wait_state(workflow, ("finished", "failed")).state == "finished"


def test_cancel_queued_and_stop_running_leave_nothing_behind(online_settings, workers, redis_url):
    running = make_workflow(online_settings, "running", noise=False)
    generate_large_run(running.files.input_dir("mzML-files"))
    waiting = make_workflow(online_settings, "waiting")
    generate_runs(waiting.files.input_dir("mzML-files"), 2, n_spectra=60)
    workers.start(online_settings, redis_url, 1)
    runs.start(running)
    runs.start(waiting)
    wait_for(lambda: tool_processes(running), 60, what="FeatureFinderMetabo to run in the worker")

    started = time.monotonic()
    view = runs.stop(waiting)
    assert view.state == "cancelled" and time.monotonic() - started < 2
    assert ended_with(waiting.logger.log_dir) is RunState.CANCELLED

    started = time.monotonic()
    view = runs.stop(running)
    assert view.state == "cancelled" and time.monotonic() - started < 2.5
    assert tool_processes(running) == []
    wait_for(lambda: ended_with(running.logger.log_dir) is RunState.CANCELLED, 5, what="the cancelled marker")
    assert read_log(running.logger.log_dir, "minimal").count("=== WORKFLOW CANCELLED ===") == 1


@pytest.mark.parametrize("retries", ["1", "0"])
def test_a_killed_worker_does_not_leave_the_job_started(settings, workers, redis_url, retries):
    online = load_settings(env=online_env(settings, redis_url, QUEUE_RETRIES=retries))
    workflow = make_workflow(online, f"crash{retries}", noise=False)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    [victim] = workers.start(online, redis_url, 1, QUEUE_RETRIES=retries)
    job = Job.fetch(runs.start(workflow).job_id, connection=redis.Redis.from_url(redis_url))
    wait_for(lambda: tool_processes(workflow), 60, what="FeatureFinderMetabo to run in the worker")
    job.refresh()
    lost_worker = job.worker_name
    victim.kill()  # SIGKILL: no chance to clean up
    killed_at = time.monotonic()
    wait_for(lambda: not tool_processes(workflow), 5, what="the orphaned tools to die with their worker")
    workers.start(online, redis_url, 1, QUEUE_RETRIES=retries)  # as supervisord would

    def moved_on() -> bool:
        job.refresh()
        return job.get_status().value != "started" or job.worker_name != lost_worker

    bound = online.queue.lost_worker_bound
    wait_for(
        moved_on, bound + 5, interval=0.5, what=f"the lost job to be retried or failed (bound {bound} s)"
    )
    assert time.monotonic() - killed_at <= bound + 5
    if retries == "1":
        assert job.get_status().value in ("scheduled", "queued", "started")
        log = read_log(workflow.logger.log_dir, "minimal")  # before or after the retry started
        assert (
            "lost; retrying (1 left)" in log
            or "Retry 1 of 1: the worker of the previous attempt was lost" in log
        )
        wait_for(
            lambda: "Retry 1 of 1" in read_log(workflow.logger.log_dir, "minimal"),
            30,
            what="the retry to run",
        )
        runs.stop(workflow)
    else:
        final = wait_state(workflow, ("failed",), 5)
        assert "worker running this job was lost" in final.error
        assert ended_with(workflow.logger.log_dir) is RunState.FAILED


def test_a_killed_workers_scheduler_lock_is_taken_over_at_once(online_settings, workers, redis_url):
    """Without the release of dead schedulers' locks the new worker would wait 61 s for them. (The
    bound leaves room for a loaded machine, where the new worker takes a while to start.)"""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    lock = RQScheduler.get_locking_key(online_settings.queue.ordered_queue_names[0])
    [victim] = workers.start(online_settings, redis_url, 1)
    first_owner = wait_for(lambda: client.get(lock), 20, what="the first worker's scheduler to take the lock")
    victim.kill()
    victim.wait(5)
    workers.start(online_settings, redis_url, 1)

    new_owner = wait_for(
        lambda: client.get(lock) not in (None, first_owner) and client.get(lock),
        40,
        what="the new worker's scheduler to take over the dead one's lock",
    )
    assert client.ttl(lock) > 0 and new_owner != first_owner


def test_redis_unreachable_at_start_runs_locally_with_a_notice(settings):
    closed = load_settings(env=online_env(settings, "redis://127.0.0.1:1/0"))
    workflow = make_workflow(closed, "fallback")
    generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    view = runs.start(workflow)
    assert view.mode == "local" and "not reachable" in view.notice
    assert wait_state(workflow, ("finished", "failed"), 60).state == "finished"


def test_queued_jobs_survive_a_redis_crash(online_settings, workers, redis_server, redis_url):
    workflows = [make_workflow(online_settings, f"durable{i}") for i in range(2)]
    job_ids = []
    for workflow in workflows:
        generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
        job_ids.append(runs.start(workflow).job_id)
    wait_for(  # appendfsync everysec: written to the AOF within about a second
        lambda: all(job_id.encode() in redis_server.aof_bytes() for job_id in job_ids),
        10,
        what="the jobs in the AOF",
    )
    redis_server.kill()
    assert "cannot be reached" in runs.status(workflows[0]).notice
    redis_server.start()
    assert [runs.status(w).state for w in workflows] == ["queued", "queued"]
    workers.start(online_settings, redis_url, 1)
    for workflow in workflows:
        assert wait_state(workflow, ("finished", "failed")).state == "finished"


def test_corrupt_mzml_fails_its_job_and_the_worker_goes_on(online_settings, workers, redis_url, nz_files):
    broken = make_workflow(online_settings, "broken")
    (broken.files.input_dir("mzML-files") / "bad.mzML").write_bytes(nz_files[0].read_bytes()[:100_000])
    healthy = make_workflow(online_settings, "healthy")
    generate_runs(healthy.files.input_dir("mzML-files"), 2, n_spectra=60)
    workers.start(online_settings, redis_url, 1)
    bad_job = runs.start(broken).job_id
    runs.start(healthy)
    failed = wait_state(broken, ("failed", "finished"))
    assert failed.state == "failed"
    assert "FeatureFinderMetabo failed on bad.mzML with exit code" in failed.error
    assert "Unable to read file" in failed.error
    job = Job.fetch(bad_job, connection=redis.Redis.from_url(redis_url))
    assert job.get_status().value == "failed" and job.retries_left == 0  # not retried: it would fail again
    done = wait_state(healthy, ("failed", "finished"))
    assert done.state == "finished" and done.worker == failed.worker


def test_high_priority_runs_before_earlier_normal_jobs(online_settings, workers, redis_url):
    order = [make_workflow(online_settings, name) for name in ("normal1", "normal2", "urgent")]
    for workflow in order:
        generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    normal1, normal2, urgent = order
    urgent.priority = "high"
    for workflow in order:
        runs.start(workflow)
    assert [runs.status(w).position for w in (urgent, normal1, normal2)] == [1, 2, 3]
    workers.start(online_settings, redis_url, 1)
    finished = [wait_state(w, ("finished",)) for w in order]
    starts = {w.workspace.name: view.started_at for w, view in zip(order, finished, strict=True)}
    assert starts["urgent"] < starts["normal1"] < starts["normal2"]


def test_admin_can_move_a_waiting_job_to_another_priority(online_settings, redis_url):
    first, second = (make_workflow(online_settings, name) for name in ("first", "second"))
    for workflow in (first, second):
        generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
        runs.start(workflow)
    assert runs.status(second).position == 2
    admin.move(online_settings, runs.status(second).job_id, "high")
    assert (runs.status(second).position, runs.status(first).position) == (1, 2)
    with pytest.raises(errors.QueueError, match="Unknown priority"):
        admin.move(online_settings, runs.status(first).job_id, "urgent")


def test_queue_disabled_runs_locally(settings, redis_url):
    disabled = load_settings(env=online_env(settings, redis_url, QUEUE_ENABLED="false"))
    workflow = make_workflow(disabled, "nolimits")
    generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    view = runs.start(workflow)
    assert view.mode == "local" and view.notice == ""
    assert redis.Redis.from_url(redis_url).keys("rq:job:*") == []
    assert wait_state(workflow, ("finished", "failed"), 60).state == "finished"


def test_jobs_of_another_workspace_cannot_be_read_or_stopped(online_settings, redis_url):
    owner, intruder = (make_workflow(online_settings, name) for name in ("owner", "intruder"))
    generate_runs(owner.files.input_dir("mzML-files"), 1, n_spectra=60)
    job_id = runs.start(owner).job_id
    with pytest.raises(errors.JobAccessError, match="another workspace"):
        job_status(intruder, job_id)
    with pytest.raises(errors.JobAccessError, match="another workspace"):
        cancel(intruder, job_id)
    with pytest.raises(errors.JobAccessError, match="no job"):
        job_status(intruder, "../../etc/passwd")
    assert runs.status(owner).state == "queued"


def test_back_pressure_and_one_active_run_per_workflow(settings, redis_url):
    limited = load_settings(
        env=online_env(settings, redis_url, QUEUE_MAX_QUEUED="2", HELD_RUNS_PER_CLIENT="1")
    )
    flows = [make_workflow(limited, f"bp{i}") for i in range(3)]
    for workflow in flows:
        generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    runs.start(flows[0])
    with pytest.raises(runs.RunRefused, match="already queued or running"):
        runs.start(flows[0])
    runs.start(flows[1])
    with pytest.raises(runs.RunRefused, match="queue is full"):
        runs.start(flows[2])
    assert recorded_job_id(flows[2]) is None
    assert Scheduler(limited, redis.Redis.from_url(redis_url)).waiting_count() == 2


def test_health_reports_redis_workers_and_queues(online_settings, workers, redis_url):
    workers.start(online_settings, redis_url, 2)
    state = report(online_settings)
    assert state["redis"]["ok"] and state["redis"]["aof_enabled"]
    assert state["redis"]["aof_last_write_status"] == "ok"
    names = [w["name"] for w in state["workers"]]
    assert len(names) == 2 and len(set(names)) == 2
    assert all(w["state"] == "idle" for w in state["workers"])
    assert state["queues"]["queued"] == {"high": 0, "normal": 0, "low": 0}


def test_worker_refuses_nonsense_settings_with_a_clear_message(settings):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = dict(os.environ, WORKSPACES_DIR=str(settings.workspaces_dir), QUEUE_RETRIES="lots")
    result = subprocess.run(
        [sys.executable, "-m", "src.jobs.worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "QUEUE_RETRIES must be a whole number" in result.stderr
