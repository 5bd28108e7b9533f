"""A step that stays one command borrows its host's idle workers (``Scheduler.lend``), against a real
redis-server, real RQ workers and the real TOPP tools: the lent workers take no job until the step
gives them back, a run started meanwhile starts the moment they are, a lend whose run died counts
no more, and the linker of a study gets the lent threads with the table of one thread."""

from __future__ import annotations

import re
import socket
import time

import pandas as pd
import pytest
import redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.job import Job

from src import runs
from src.core.run import read_log
from src.core.settings import load_settings
from src.jobs.ops import prometheus
from src.jobs.scheduler import Scheduler
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import shifts_in, table_in
from tests.conftest import DATA_DIR, put_inputs, set_noise_threshold, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

FILES = [DATA_DIR / f"NZ_20200227_0{n}.mzML" for n in (25, 27, 29)]
FINAL = ("finished", "failed", "cancelled")


def study(settings, name: str, files=FILES) -> MetabolomicsWorkflow:
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / name, settings)
    put_inputs(workflow, files)
    return set_noise_threshold(workflow)


def wait_end(workflow, timeout: float = 240.0):
    return wait_for(
        lambda: (view := runs.status(workflow)).state in FINAL and view,
        timeout,
        interval=0.2,
        what=f"{workflow.workspace.name} to end",
    )


def sleeping_job(settings, connection, seconds: float) -> Job:
    """A job of its own on an RQ queue (not a run): it holds a worker for ``seconds``."""
    queue = Queue(settings.queue.queue_names["normal"], connection=connection)
    job = queue.enqueue("time.sleep", seconds, job_timeout=600)
    wait_for(lambda: job.get_status() == "started", 30, interval=0.1, what="the job to start")
    job.refresh()
    return job


def test_lent_workers_take_no_job_until_the_step_gives_them_back(settings, workers, redis_url):
    one = load_settings(env=online_env(settings, redis_url, MAX_THREADS="1"))
    connection = redis.Redis.from_url(redis_url)
    order = Scheduler(one, connection)
    workers.start(one, redis_url, 3, MAX_THREADS="1")
    here = socket.gethostname()
    borrower = sleeping_job(one, connection, 120)
    assert order.idle_slots() == 2

    assert order.lend(borrower.id, borrower.worker_name, "another-host", 4) == 0  # none idle there
    assert order.lend(borrower.id, borrower.worker_name, here, 1) == 1  # no more than asked
    assert order.idle_slots() == 1 and order.lent() == {borrower.id: (here, 1)}
    order.give_back(borrower.id)
    assert order.lend(borrower.id, borrower.worker_name, here, 4) == 2
    assert order.idle_slots() == 0
    assert order.lend("another-run", borrower.worker_name, here, 4) == 0  # lent already
    metrics = prometheus.render(one, connection, None)
    assert f'openms_workers_lent{{host="{here}"}} 2.0' in metrics

    waiting = study(one, "waiting", FILES[:1])
    runs.start(waiting)
    time.sleep(3)  # two idle workers, both lent: the run waits for the step
    assert runs.status(waiting).state == "queued"
    assert order.lend(borrower.id, borrower.worker_name, here, 4) == 0  # something waits: no lend
    given_back = time.monotonic()
    order.give_back(borrower.id)
    wait_for(lambda: runs.status(waiting).state != "queued", 5, interval=0.1, what="the waiting run to start")
    assert time.monotonic() - given_back < 5
    assert wait_end(waiting).state == "finished"

    assert order.lend(borrower.id, borrower.worker_name, here, 4) == 2
    send_stop_job_command(connection, borrower.id)  # the borrowing run dies mid-step
    wait_for(lambda: order.idle_slots() == 3, 15, interval=0.2, what="its lend to lapse")
    assert order.lent() == {}


def test_a_studys_linker_gets_the_lent_threads_and_the_table_of_one_thread(settings, workers, redis_url):
    def linker_line(workflow) -> tuple[str, str]:
        log = read_log(workflow.logger.log_dir, "commands")
        said = re.search(r"FeatureLinkerUnlabeledKD with \d+ threads? \([^)]*\)", log)
        ran = next(
            line for line in log.splitlines() if "Running: " in line and "FeatureLinkerUnlabeledKD" in line
        )
        assert said, log
        return said.group(0), re.search(r"-threads (\d+)", ran).group(1)

    lending = load_settings(env=online_env(settings, redis_url, MAX_THREADS="1"))
    workers.start(lending, redis_url, 2, MAX_THREADS="1")
    lent = study(lending, "lent")
    runs.start(lent)
    assert wait_end(lent).state == "finished"
    assert linker_line(lent) == ("FeatureLinkerUnlabeledKD with 2 threads (1 idle worker lent)", "2")
    ran = read_log(lent.logger.log_dir, "commands").splitlines()
    aligner = [line for line in ran if "Running: " in line and "MapAlignerPoseClustering" in line]
    assert aligner and "-threads 1 " in aligner[0]  # never more: see SINGLE_THREADED_TOOLS
    # the shift table reads the samples on the lent threads too
    assert "consensus_table.py with 2 threads (1 idle worker lent)" in "\n".join(ran)
    assert any("consensus_table.py" in line and line.endswith("--threads 2") for line in ran)
    assert Scheduler(lending).lent() == {} and Scheduler(lending).idle_slots() == 2  # given back

    workers.stop_all()
    off = load_settings(env=online_env(settings, redis_url, MAX_THREADS="1", QUEUE_LEND_IDLE_WORKERS="false"))
    workers.start(off, redis_url, 2, MAX_THREADS="1", QUEUE_LEND_IDLE_WORKERS="false")
    alone = study(off, "alone")
    runs.start(alone)
    assert wait_end(alone).state == "finished"
    assert linker_line(alone) == (
        "FeatureLinkerUnlabeledKD with 1 thread (QUEUE_LEND_IDLE_WORKERS is off)",
        "1",
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(table_in(lent.files.results_root), sep="\t"),
        pd.read_csv(table_in(alone.files.results_root), sep="\t"),
    )
    assert shifts_in(lent.files.results_root).read_bytes() == shifts_in(alone.files.results_root).read_bytes()
