"""Failure paths under real faults, outside the container: a parallel command failing at once, a
volume (a real tmpfs) filling during a run, Redis restarted during a run, and the races of two
starts at once, a busy enqueue lock and an admin move of a job a worker just took."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from rq.job import Job

from src import runs
from src.core.errors import AlreadyRunning
from src.core.run import RunState, RunStatus, read_log
from src.core.settings import load_settings
from src.core.workflow import LocalRunner
from src.core.workspace import space as storage
from src.jobs.client.enqueue import ENQUEUE_LOCK, priority_queues, recorded_job_id
from src.jobs.ops import admin
from src.jobs.scheduler import Scheduler
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run, generate_runs
from src.workflows.metabolomics.paths import table_in
from tests.conftest import REPO, processes_mentioning, put_inputs, set_noise_threshold, wait_for
from tests.queue_support import online_env
from tests.test_executor import make_executor

pytestmark = pytest.mark.slow

FAIL_AT_ONCE = "import sys; print('the first tool broke: bad input', file=sys.stderr); sys.exit(3)"
SLEEP_30 = "import time; time.sleep(30)  # sibling-marker"


def test_the_first_failing_parallel_command_stops_its_siblings_and_is_the_error(tmp_path, settings):
    executor = make_executor(tmp_path, settings, max_threads=2)
    started = time.monotonic()
    with pytest.raises(Exception) as failure:
        executor.run_multiple([[sys.executable, "-c", SLEEP_30], [sys.executable, "-c", FAIL_AT_ONCE]])
    assert time.monotonic() - started < 3
    assert type(failure.value).__name__ == "CommandFailed" and "the first tool broke" in str(failure.value)
    assert "exit code 3" in str(failure.value)
    wait_for(lambda: not processes_mentioning("sibling-marker"), 3, what="the sleeping sibling to be gone")
    executor.run_multiple(
        [[sys.executable, "-c", "print(1)"], [sys.executable, "-c", "print(2)"]]
    )  # usable again


def fill(volume) -> None:
    """Fill the volume to the last byte, as another workspace's data would."""
    subprocess.run(["dd", "if=/dev/zero", f"of={volume / '.filler'}", "bs=1M"], capture_output=True)
    assert storage.free_bytes(volume) < storage.FULL_BELOW_BYTES


def test_a_volume_that_fills_during_a_run_fails_it_at_once_and_leaves_it_readable(tmpfs):
    small_volume = tmpfs("64m")
    settings = load_settings(env={"WORKSPACES_DIR": str(small_volume), "MIN_FREE_DISK_GB": "0"})
    workflow = MetabolomicsWorkflow(small_volume / "full", settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    outcome: list[RunState] = []
    runner = threading.Thread(target=lambda: outcome.append(workflow.run()))
    runner.start()
    wait_for(lambda: processes_mentioning(str(workflow.dir)), 30, what="FeatureFinderMetabo to run")
    filled = time.monotonic()
    fill(small_volume)
    runner.join(30)
    assert outcome == [RunState.FAILED] and time.monotonic() - filled < 10
    status = workflow.state.read()  # readable, and it says why
    assert status.state is RunState.FAILED and "no space left on the workspaces volume" in status.error
    assert "no space left on the workspaces volume" in read_log(workflow.logger.log_dir, "minimal")
    assert not list(small_volume.rglob("*.tmp")), "temporary files were left behind"
    assert runs.status(workflow).state is RunState.FAILED  # a status read works on the full volume

    (small_volume / ".filler").unlink()
    for path in workflow.files.input_dir("mzML-files").iterdir():
        path.unlink()
    generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    set_noise_threshold(workflow)
    assert workflow.run() is RunState.FINISHED  # with room again, the next run completes


@pytest.mark.parametrize("threads", ["1", "2"])  # 2: the run's own job runs two pieces at once
def test_redis_restarted_during_a_run_does_not_fail_it(
    settings, workers, redis_server, redis_url, nz_files, threads
):
    online_settings = load_settings(env=online_env(settings, redis_url, MAX_THREADS=threads))
    workers.start(online_settings, redis_url, 1, MAX_THREADS=threads)
    workflow = set_noise_threshold(
        MetabolomicsWorkflow(online_settings.workspaces_dir / "blip", online_settings)
    )
    put_inputs(workflow, nz_files)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    runs.start(workflow)
    wait_for(
        lambda: runs.status(workflow).state is RunState.RUNNING, 60, interval=0.2, what="the run to start"
    )
    for _ in range(3):  # progress and pieces go through Redis at every step: the steps meet the gap
        wait_for_progress(workflow, "the run to move on with Redis up")
        met = workers.logs().count("waits for Redis")
        redis_server.stop()
        wait_for(  # the run (its progress, its pieces) met the gap and rides it out
            lambda met=met: workers.logs().count("waits for Redis") > met,
            120,
            interval=0.1,
            what="the run to meet the gap",
        )
        redis_server.start()
    final = wait_for(
        lambda: (view := runs.status(workflow)).state.is_final and view,
        240,
        interval=0.5,
        what="the run to end",
    )
    assert final.state is RunState.FINISHED, final.error
    assert table_in(workflow.files.results_root).is_file()
    assert "Retry" not in read_log(workflow.logger.log_dir, "minimal")  # it was not lost and rerun


def test_redis_down_as_a_run_ends_costs_neither_the_end_nor_the_worker(
    online_settings, workers, redis_server, redis_url
):
    [worker] = workers.start(online_settings, redis_url, 1)
    workflow = set_noise_threshold(
        MetabolomicsWorkflow(online_settings.workspaces_dir / "ending", online_settings)
    )
    generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    job_id = runs.start(workflow).job_id
    wait_for(
        lambda: workflow.state.read().step == "Consensus table", 120, interval=0.02, what="the last step"
    )
    redis_server.stop()  # the run ends while Redis is away: its job's end cannot be written
    wait_for(lambda: workflow.state.read().is_final, 60, interval=0.1, what="the run to end on disk")
    wait_for(  # the job's end met the gap: the worker waits for Redis (or, as RQ alone did, gives up)
        lambda: re.search("waits for Redis|unhandled exception", workers.logs()),
        30,
        what="the end to meet the gap",
    )
    redis_server.start()
    final = wait_for(
        lambda: (view := runs.status(workflow)).state.is_final and view, 60, interval=0.2, what="its end"
    )
    assert final.state is RunState.FINISHED and final.job_id == job_id
    job = Job.fetch(job_id, connection=redis.Redis.from_url(redis_url))
    assert job.get_status().value == "finished" and worker.poll() is None  # the worker lives on
    assert "Retry" not in read_log(workflow.logger.log_dir, "minimal")  # not run a second time


def test_a_finished_run_whose_job_runs_again_is_not_run_again(online_settings, workers, redis_url):
    """What RQ does with a job whose end was lost (a retry of the same job): the run stays as it is."""
    workers.start(online_settings, redis_url, 1)
    workflow = set_noise_threshold(
        MetabolomicsWorkflow(online_settings.workspaces_dir / "once", online_settings)
    )
    generate_runs(workflow.files.input_dir("mzML-files"), 2, n_spectra=60)
    job_id = runs.start(workflow).job_id
    wait_for(lambda: runs.status(workflow).state is RunState.FINISHED, 120, interval=0.2, what="the run")
    logs, ended = read_log(workflow.logger.log_dir, "all"), workflow.state.read().ended_at
    connection = redis.Redis.from_url(redis_url)
    job = Job.fetch(job_id, connection=connection)
    priority_queues(online_settings, connection)["normal"].enqueue_job(job)  # the same job, once more
    wait_for(lambda: "it is not run again" in workers.logs(), 60, what="the worker to take it again")
    wait_for(lambda: Job.fetch(job_id, connection=connection).get_status().value == "finished", 30)
    assert read_log(workflow.logger.log_dir, "all") == logs and workflow.state.read().ended_at == ended
    assert len(workflow.kept_runs()) == 1


def wait_for_progress(workflow: MetabolomicsWorkflow, what: str) -> None:
    """Wait until the run's own status file shows a new step or progress (or the run ended)."""
    seen = workflow.state.read()

    def moved() -> bool:
        now = workflow.state.read()
        return now.is_final or (now.progress, now.step) != (seen.progress, seen.step)

    wait_for(moved, 120, interval=0.1, what=what)


def at_once(action, times: int = 2) -> list:
    """Call ``action`` from several threads released in the same instant; their results or errors."""
    barrier, results = threading.Barrier(times), []

    def call() -> None:
        barrier.wait()
        try:
            results.append(action())
        except (runs.RunRefused, AlreadyRunning) as err:
            results.append(str(err))

    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_tabs_pressing_start_at_once_start_one_local_run(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "two-tabs", settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    results = at_once(lambda: runs.start(MetabolomicsWorkflow(workflow.workspace, settings)).state)
    try:
        assert len(results) == 2 and results.count(RunState.RUNNING) == 1, results
        refusal = next(r for r in results if r != RunState.RUNNING)
        # Refused by the page's check, by the runner's start lock, or (the second start came just
        # after the first one's process was up) by the runner's own check under that lock.
        reasons = ("already queued or running", "being started from another tab", "already running in this")
        assert any(reason in refusal for reason in reasons), refusal
    finally:
        runs.stop(workflow)


def test_two_local_starts_in_the_same_instant_spawn_one_process(settings):
    """The runner itself, without the page's earlier check: its start lock lets one start through."""
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "same-instant", settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    results = at_once(lambda: LocalRunner(MetabolomicsWorkflow(workflow.workspace, settings)).start())
    try:
        pids = [r for r in results if isinstance(r, int)]
        assert len(pids) == 1, results
        assert not (workflow.state.run_dir / "start.lock").exists()
    finally:
        LocalRunner(workflow).stop()


def test_a_busy_enqueue_lock_gives_a_message(online_settings, redis_url):
    workflow = MetabolomicsWorkflow(online_settings.workspaces_dir / "busy", online_settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    connection = redis.Redis.from_url(redis_url)
    held = connection.lock(ENQUEUE_LOCK, timeout=30)
    assert held.acquire()  # another web server in the middle of a start
    try:
        with pytest.raises(runs.RunRefused, match="job queue is busy.*Press Start again"):
            runs.start(workflow)
    finally:
        held.release()
    assert recorded_job_id(workflow) is None and workflow.state.read() == RunStatus()
    assert runs.start(workflow).state is RunState.QUEUED


def test_an_admin_move_never_pushes_a_job_a_worker_took(online_settings, redis_url):
    workflow = MetabolomicsWorkflow(online_settings.workspaces_dir / "moved", online_settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    job_id = runs.start(workflow).job_id
    connection = redis.Redis.from_url(redis_url)
    assert Scheduler(online_settings, connection).release(1) == 1  # its turn came: it is on RQ's queue
    normal = priority_queues(online_settings, connection)["normal"]
    assert connection.lrem(normal.key, 1, job_id) == 1  # what a worker's dequeue does, just before the move
    with pytest.raises(admin.AdminError, match="taken by a worker a moment ago"):
        admin.move(online_settings, job_id, "high")
    assert all(
        job_id.encode() not in connection.lrange(queue.key, 0, -1)
        for queue in priority_queues(online_settings, connection).values()
    )


def test_a_run_moved_from_a_workers_queue_keeps_its_new_priority_for_its_pieces(online_settings, redis_url):
    workflow = MetabolomicsWorkflow(online_settings.workspaces_dir / "moved-up", online_settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    job_id = runs.start(workflow).job_id
    connection = redis.Redis.from_url(redis_url)
    order = Scheduler(online_settings, connection)
    assert order.release(1) == 1  # on RQ's normal queue, no worker has taken it yet
    admin.move(online_settings, job_id, "high")
    queues = priority_queues(online_settings, connection)
    assert connection.lrange(queues["high"].key, 0, -1) == [job_id.encode()]
    assert order.run_info(job_id)["priority"] == "high"  # where its pieces will wait


HORSE_KILL = """
import subprocess, sys, redis
from rq import Queue
from src.jobs.worker.launcher import OpenMSWorker
connection = redis.Redis.from_url(sys.argv[1])
worker = OpenMSWorker([Queue("openms-normal", connection=connection)], connection=connection)
same_group = subprocess.Popen(["sleep", "60"])  # like a horse just forked: still in our group
worker._horse_pid = same_group.pid
worker.kill_horse()
assert same_group.wait(5) == -9, "the horse lives"
worker._horse_pid = 0  # its horse had ended when the stop came
worker.kill_horse()
own_group = subprocess.Popen(["sleep", "60"], start_new_session=True)
worker._horse_pid = own_group.pid
worker.kill_horse()  # a horse with a group of its own: RQ's kill, as always
assert own_group.wait(5) == -9, "the horse with its own group lives"
print("the worker lives")
"""


def test_a_stop_that_meets_a_horse_without_its_own_group_kills_only_the_horse(redis_url):
    """RQ's stop kills the horse's process group; in the instant after the fork the horse is still
    in its worker's group, and that kill took the worker with it (under pytest, everything pytest
    started). The worker runs in a session of its own here, as under supervisord."""
    done = subprocess.run(
        [sys.executable, "-c", HORSE_KILL, redis_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert done.returncode == 0 and "the worker lives" in done.stdout, (done.returncode, done.stderr)


def test_a_worker_stopped_while_redis_is_down_says_so_without_a_traceback(
    online_settings, workers, redis_server, redis_url
):
    [worker] = workers.start(online_settings, redis_url, 1)
    redis_server.stop()
    worker.send_signal(signal.SIGTERM)  # supervisord's stop, e.g. the container stopping
    worker.wait(60)
    printed = workers.logs()
    assert "Traceback" not in printed, printed
    assert "stopped but could not reach Redis to record it" in printed, printed
    redis_server.start()
