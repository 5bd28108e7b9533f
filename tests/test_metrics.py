"""The figures of /metrics, read at scrape time from a real Redis that real workers ran real runs
through: runs ended by outcome, the duration histogram, runs by state (queued, held), the queue's
depth per priority, workers by host and state; valid Prometheus text; no visitor data in it; and a
Redis that is down reported as down, not as an error."""

from __future__ import annotations

import logging
import re
import socket

import pytest
import redis
from rq import Queue
from rq.executions import Execution
from rq.job import Job

from src import runs
from src.core.run import RunState
from src.core.settings import load_settings
from src.core.version import VERSION
from src.jobs import pieces, run_events
from src.jobs.connection import get_connection
from src.jobs.ops import admin, prometheus
from src.jobs.telemetry import run_totals
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from tests.conftest import put_inputs, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*)?\})? (\S+)$')
CLIENT = "198.51.100.77"


WF = MetabolomicsWorkflow.id  # the workflow label of the runs here


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample, by (name, labels); fails on a line that is not valid text exposition."""
    samples: dict[tuple[str, frozenset], float] = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in typed, f"{name} declared twice"
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', match.group(3) or ""))
        key = (match.group(1), labels)
        assert key not in samples, f"sample twice: {line}"
        samples[key] = float(match.group(5))
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def _idle_workers(online, connection) -> float:
    samples = parse(prometheus.render(online, connection, ("web-1:8601", 4)))
    return total(samples, "openms_workers", state="idle")


def test_real_runs_are_counted_by_outcome_with_their_durations(settings, workers, redis_url, nz_files):
    online = load_settings(env=online_env(settings, redis_url))
    names = []
    for index in range(2):
        good = MetabolomicsWorkflow(online.workspaces_dir / f"metrics-good-{index}", online)
        generate_runs(good.files.input_dir("mzML-files"), 1, n_spectra=60)
        names.append(good)
    bad = MetabolomicsWorkflow(online.workspaces_dir / "metrics-bad", online)
    (bad.files.input_dir("mzML-files") / "private-sample.mzML").write_bytes(
        nz_files[0].read_bytes()[:100_000]
    )
    workers.start(online, redis_url, 1)
    job_ids = [runs.start(w, visitor=CLIENT).job_id for w in (*names, bad)]
    for workflow in (*names, bad):
        wait_for(lambda w=workflow: w.state.read().is_final, 120, interval=0.2, what="the run to end")
    connection = get_connection(online.queue)
    wait_for(lambda: sum(run_totals.read(connection)[0].values()) == 3, 10, what="three counted ends")

    # A run's state is final before its worker has put the job away: RQ marks the worker idle a
    # moment later.
    wait_for(lambda: _idle_workers(online, connection) == 1, 10, what="the worker to be idle again")
    text = prometheus.render(online, connection, ("web-1:8601", 4))
    samples = parse(text)
    assert value(samples, "openms_build_info", version=VERSION) == 1
    assert value(samples, "openms_redis_up") == 1
    assert value(samples, "openms_runs_ended_total", outcome="finished", workflow=WF) == 2
    assert value(samples, "openms_runs_ended_total", outcome="failed", workflow=WF) == 1
    assert value(samples, "openms_run_duration_seconds_count", outcome="finished", workflow=WF) == 2
    assert (
        value(samples, "openms_run_duration_seconds_bucket", outcome="finished", le="+Inf", workflow=WF) == 2
    )
    assert value(samples, "openms_run_duration_seconds_sum", outcome="finished", workflow=WF) > 0
    buckets = [
        v for (n, labels), v in samples.items() if n.endswith("_bucket") and ("outcome", "failed") in labels
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 1  # cumulative, ending at the count
    assert total(samples, "openms_queue_depth") == 0 and total(samples, "openms_runs") == 0
    assert total(samples, "openms_workers", state="idle") == 1
    assert value(samples, "openms_workers", host=socket.gethostname(), state="idle") == 1
    assert value(samples, "openms_web_sessions", server="web-1:8601") == 4
    assert value(samples, "openms_workspaces") >= 3 and value(samples, "openms_workspace_bytes") > 0
    assert value(samples, "openms_disk_free_bytes") > 0
    for visitor_data in ("metrics-good", "metrics-bad", "private-sample", CLIENT, *job_ids):
        assert visitor_data not in text, visitor_data


def ended_events(records, job_id: str) -> list[str]:
    return [r.outcome for r in records if getattr(r, "event", "") == "ended" and r.job_id == job_id]


def test_every_run_is_counted_once_however_it_ended(settings, workers, redis_url, nz_files, caplog):
    """A run cancelled while it waits never reaches a worker: the stop that ended it counts it and
    logs its end. A running run stopped is seen ended by the worker's stopped callback and by the
    stop's own check: whichever writes its end counts it, once."""
    caplog.set_level(logging.INFO, logger=run_events.log.name)
    online = load_settings(env=online_env(settings, redis_url))
    connection = get_connection(online.queue)
    waiting = MetabolomicsWorkflow(online.workspaces_dir / "cancel-waiting", online)
    generate_runs(waiting.files.input_dir("mzML-files"), 1, n_spectra=20)
    waiting_id = runs.start(waiting, visitor=CLIENT).job_id
    assert runs.stop(waiting).state is RunState.CANCELLED
    assert run_totals.read(connection)[0] == {(WF, "cancelled"): 1}
    assert ended_events(caplog.records, waiting_id) == ["cancelled"]

    running = MetabolomicsWorkflow(online.workspaces_dir / "stop-running", online)
    put_inputs(running, nz_files[:3])  # FeatureFinderMetabo's defaults: seconds per file
    workers.start(online, redis_url, 1)
    runs.start(running, visitor=CLIENT)
    wait_for(lambda: running.state.read().state is RunState.RUNNING, 60, interval=0.1, what="the run's start")
    assert runs.stop(running).state is RunState.CANCELLED
    # The worker's stopped callback has run once the worker is idle again.
    wait_for(lambda: _idle_workers(online, connection) == 1, 30, what="the worker to be idle again")
    ended, durations = run_totals.read(connection)
    assert ended == {(WF, "cancelled"): 2}
    assert durations[(WF, "cancelled")].cumulative()[-1][1] == 1  # the stopped one (the waiting one: no time)


def test_runs_waiting_for_a_worker_are_queued_or_held_by_the_clients_share(settings, redis_url):
    online = load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1"))
    job_ids = []
    for index in range(3):
        workflow = MetabolomicsWorkflow(online.workspaces_dir / f"waiting-{index}", online)
        generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=20)
        job_ids.append(runs.start(workflow, visitor=CLIENT).job_id)
    admin.move(online, job_ids[-1], "high")  # as the admin page's "move" does
    samples = parse(prometheus.render(online, get_connection(online.queue), None))
    # No worker: nothing is admitted; the visitor's share (1) lets one wait as queued, two are held.
    assert value(samples, "openms_runs", state="queued") == 1
    assert value(samples, "openms_runs", state="held") == 2
    assert value(samples, "openms_queue_depth", priority="normal") == 2
    assert value(samples, "openms_queue_depth", priority="high") == 1
    assert total(samples, "openms_workers") == 0


def test_jobs_a_worker_runs_are_told_apart_as_runs_and_pieces(settings, redis_url):
    """RQ 3 keeps a started job as "<job id>:<execution id>" in its registry: a piece running on a
    worker is a piece, not a run (the registry's own parse_job_id reads the entry)."""
    online = load_settings(env=online_env(settings, redis_url))
    connection = get_connection(online.queue)
    queue = Queue(online.queue.queue_names["normal"], connection=connection)
    run = Job.create("builtins.len", args=([],), id="f" * 32, connection=connection, origin=queue.name)
    piece = Job.create(
        "builtins.len",
        args=([],),
        id=pieces.piece_id(run.id, "0123456789", 0),
        connection=connection,
        origin=queue.name,
    )
    with connection.pipeline() as pipe:
        for job in (run, piece):
            job.save(pipeline=pipe)
            Execution.create(job, ttl=60, pipeline=pipe)  # what a worker does as it starts a job
        pipe.execute()
    samples = parse(prometheus.render(online, connection, None))
    assert value(samples, "openms_runs", state="running") == 1
    assert value(samples, "openms_pieces", state="running") == 1


def test_a_redis_that_is_down_is_reported_down_with_the_rest(settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    online = load_settings(env=online_env(settings, f"redis://127.0.0.1:{port}/0"))
    dead = redis.Redis(port=port, socket_connect_timeout=0.5)
    samples = parse(prometheus.render(online, dead, ("web-1:8601", 0)))
    assert value(samples, "openms_redis_up") == 0
    assert value(samples, "openms_build_info", version=VERSION) == 1
    assert value(samples, "openms_web_sessions", server="web-1:8601") == 0
    assert not [name for name, _ in samples if name.startswith(("openms_runs", "openms_workers"))]


def test_the_workspace_count_is_of_the_root_asked_about_not_of_the_last_one_walked(settings, tmp_path):
    """The disk walk is cached per process; a second root read inside the cache window is walked
    itself (the clean-clone CI of stop 38 read 0 workspaces: an earlier test had cached an empty
    root)."""
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    for name in ("a", "b", "c"):
        (full / name).mkdir(parents=True)
        (full / name / "params.json").write_text("{}")
    down = redis.Redis(port=1, socket_connect_timeout=0.2)
    for root, count in ((empty, 0), (full, 3), (empty, 0)):
        online = load_settings(env=online_env(settings, "redis://127.0.0.1:1/0", WORKSPACES_DIR=str(root)))
        samples = parse(prometheus.render(online, down, ("web-1:8601", 0)))
        assert value(samples, "openms_workspaces") == count
        assert (value(samples, "openms_workspace_bytes") > 0) == (count > 0)
