"""Queue metrics and failed-job administration against a real redis-server and real workers."""

from __future__ import annotations

import pytest
import redis
from rq.job import Job

from src import runs
from src.jobs.client.queue_reading import Snapshot
from src.jobs.connection import get_connection
from src.jobs.ops import admin
from src.jobs.telemetry import queue_load
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from tests.conftest import put_inputs, set_noise_threshold, wait_for

BROKEN_MZML = '<?xml version="1.0"?>\n<mzML><run><spectrumList count="1"><spectrum>'


def workflow_in(settings, name: str) -> MetabolomicsWorkflow:
    return set_noise_threshold(MetabolomicsWorkflow(settings.workspaces_dir / name, settings))


def run_end(workflow: MetabolomicsWorkflow, what: str):
    """The run's status once it has finished or failed."""
    return wait_for(
        lambda: (view := runs.status(workflow)).state in ("finished", "failed") and view,
        120,
        interval=0.2,
        what=what,
    )


def failed_run(settings, name: str) -> tuple[MetabolomicsWorkflow, str]:
    """A run that fails in FeatureFinderMetabo on a truncated mzML file."""
    workflow = workflow_in(settings, name)
    folder = workflow.files.input_dir("mzML-files")
    (folder / "truncated.mzML").write_text(BROKEN_MZML)
    job_id = runs.start(workflow).job_id
    wait_for(lambda: runs.status(workflow).state == "failed", 60, interval=0.2, what="the run to fail")
    return workflow, job_id


def test_failed_jobs_are_listed_with_the_workflows_error(online_settings, workers, redis_url):
    workers.start(online_settings, redis_url, 1)
    workflow, job_id = failed_run(online_settings, "broken")

    [failed] = admin.failed_jobs(online_settings)
    assert failed.job_id == job_id and failed.workspace == "broken" and failed.priority == "normal"
    assert "FeatureFinderMetabo" in failed.error
    assert failed.error == runs.status(workflow).error


def test_a_requeued_job_runs_again_and_a_deleted_one_is_gone(online_settings, workers, redis_url, nz_files):
    workers.start(online_settings, redis_url, 1)
    workflow, job_id = failed_run(online_settings, "fixme")
    (workflow.files.input_dir("mzML-files") / "truncated.mzML").unlink()
    put_inputs(workflow, nz_files[:2])  # the user fixed the input; the admin requeues

    admin.requeue(online_settings, job_id)
    final = run_end(workflow, "the requeued job to end")
    assert final.state == "finished", final.error
    assert final.job_id == job_id and table_in(workflow.files.results_root).is_file()
    assert admin.failed_jobs(online_settings) == []

    other, other_id = failed_run(online_settings, "other")
    admin.delete(online_settings, other_id)
    assert admin.failed_jobs(online_settings) == []
    assert other.workspace.is_dir() and "FeatureFinderMetabo" in runs.status(other).error


def test_requeue_is_refused_once_the_workspace_has_moved_on(online_settings, workers, redis_url, nz_files):
    workers.start(online_settings, redis_url, 1)
    workflow, old_id = failed_run(online_settings, "moved-on")
    (workflow.files.input_dir("mzML-files") / "truncated.mzML").unlink()
    put_inputs(workflow, nz_files[:2])
    new_id = runs.start(workflow).job_id
    final = run_end(workflow, "the new run")
    assert final.state == "finished", final.error

    with pytest.raises(admin.AdminError, match="started another run since"):
        admin.requeue(online_settings, old_id)
    assert runs.status(workflow).job_id == new_id and runs.status(workflow).state == "finished"

    for forged in ("no-such-job", "../../etc/passwd", new_id):
        with pytest.raises(admin.AdminError, match="Reload the page"):
            admin.delete(online_settings, forged)
    connection = get_connection(online_settings.queue)
    assert Job.fetch(new_id, connection=connection).get_status() == "finished"


def test_queue_load_and_depth_history(online_settings, workers, redis_url, nz_files):
    connection = redis.Redis.from_url(redis_url)
    empty = queue_load.current_load(online_settings, connection)
    assert (empty.workers_total, empty.waiting_total, empty.running, empty.backlog_warning) == (0, 0, 0, "")

    waiting = []
    for name in ("w1", "w2"):
        workflow = workflow_in(online_settings, name)
        put_inputs(workflow, nz_files[:1])
        runs.start(workflow)
        waiting.append(workflow)
    no_workers = queue_load.current_load(online_settings, connection)
    assert no_workers.waiting_total == 2 and "No worker is running" in no_workers.backlog_warning

    assert queue_load.record_sample(online_settings, connection, force=True)
    assert not queue_load.record_sample(online_settings, connection), "a second sample within 10 s"
    [sample] = queue_load.depth_history(online_settings, connection)
    assert (sample.waiting, sample.running, sample.workers) == (2, 0, 0)

    workers.start(online_settings, redis_url, 1)
    busy = wait_for(
        lambda: (load := queue_load.current_load(online_settings, connection)).workers_busy == 1 and load,
        60,
        interval=0.2,
        what="the worker to take a job",
    )
    assert busy.workers_total == 1 and busy.running == 1 and busy.utilisation == 1.0
    assert busy.waiting_total == 1 and busy.backlog_warning == ""

    connection.delete(queue_load.SAMPLE_LOCK_KEY)
    wait_for(
        lambda: len(queue_load.depth_history(online_settings, connection)) >= 2,
        30,
        interval=0.5,
        what="the worker to record a queue-depth sample by itself",
    )
    assert queue_load.depth_history(online_settings, connection)[-1].workers == 1
    for workflow in waiting:
        runs.stop(workflow)


def test_backlog_warning_thresholds():
    assert Snapshot(in_order=3, workers_total=2, workers_busy=2).backlog_warning == ""
    assert "4 runs are waiting for 2 worker(s)" in Snapshot(in_order=4, workers_total=2).backlog_warning
    assert Snapshot().backlog_warning == ""
