"""A study spread over every free worker, against a real redis-server, real RQ workers and the real
TOPP tools on real mzML: pieces on both workers with the table of one job, no deadlock, a failed
piece failing the run by name, a stop ending every piece, a killed worker costing one piece, runs
over a visitor's share held and started by themselves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
import redis
from rq import Queue
from rq.group import Group
from rq.job import Job

from src import runs
from src.core.run import RunState, ended_with, read_log
from src.core.settings import load_settings
from src.jobs import pieces
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from tests.conftest import DATA_DIR, REPO, processes_mentioning, put_inputs, set_noise_threshold, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

#: Six runs of the study: the three NZ files and the first three of study/.
STUDY = [DATA_DIR / f"NZ_20200227_0{n}.mzML" for n in (25, 27, 29)] + sorted(
    (DATA_DIR / "study").glob("*.mzML")
)[:3]
FINAL = ("finished", "failed", "cancelled")


def study(settings, name: str, files=STUDY) -> MetabolomicsWorkflow:
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


def piece_jobs(connection, run_id: str) -> list[Job]:
    return [j for j in Job.fetch_many(pieces.of_run(connection, run_id), connection=connection) if j]


def aligner_pieces(workflow) -> int:
    """Pieces of MapAlignerPoseClustering's step: a study's samples go to the reference in as many
    commands as could run at once when the step starts (one command is no piece)."""
    steps = re.findall(
        r"Running MapAlignerPoseClustering on (\d+) input", read_log(workflow.logger.log_dir, "minimal")
    )
    return sum(int(n) for n in steps if int(n) > 1)


def tools_of(workflow) -> list:
    return [
        p for p in processes_mentioning(str(workflow.dir)) if "Feature" in " ".join(p.info["cmdline"] or [])
    ]


def table(workflow) -> pd.DataFrame:
    return pd.read_csv(table_in(workflow.files.results_root), sep="\t")


def test_a_study_on_two_workers_runs_on_both_and_gives_the_table_of_one_job(
    settings, online_settings, workers, redis_url
):
    connection = redis.Redis.from_url(redis_url)
    spread = study(online_settings, "spread")
    workers.start(online_settings, redis_url, 2)
    run_id = runs.start(spread, visitor="192.0.2.1").job_id
    final = wait_end(spread)
    assert final.state == "finished", final.error
    done = piece_jobs(connection, run_id)
    # a piece per file for feature finding and for applying the retention time alignment (on by
    # default), and the alignment's own pieces (the two workers: two)
    assert aligner_pieces(spread) >= 1
    assert len(done) == 2 * len(STUDY) + aligner_pieces(spread) and all(j.is_finished for j in done)
    assert {j.group_id for j in done} == {run_id}  # the run's RQ group
    ran_on = {j.worker_name for j in done}
    assert len(ran_on) == 2, ran_on  # pieces ran on both workers
    log = read_log(spread.logger.log_dir, "commands")
    for source in STUDY:
        assert f"FeatureFinderMetabo on {source.name} (piece " in log
        assert f"MapRTTransformer on {source.stem}.featureXML (piece " in log
    assert all(f"on worker {name}" in log for name in ran_on)  # the log says which worker ran each

    workers.stop_all()  # the same study as one job: spreading off
    one_job = load_settings(env=online_env(settings, redis_url, QUEUE_SPREAD="false"))
    whole = study(one_job, "whole")
    workers.start(one_job, redis_url, 1, QUEUE_SPREAD="false")
    whole_id = runs.start(whole).job_id
    assert wait_end(whole).state == "finished"
    assert pieces.of_run(connection, whole_id) == []
    pd.testing.assert_frame_equal(table(spread), table(whole))
    assert len(table(spread)) > 250


def test_one_worker_runs_its_pieces_side_by_side_as_its_threads_allow_with_the_same_table(
    settings, workers, redis_url
):
    """One worker with MAX_THREADS=2 (a lab's one-worker server on a 2-core host): the run's own
    job runs two of a step's pieces at once, as the run would without the queue, and the table is
    the one of MAX_THREADS=1, where they run one after another."""
    connection = redis.Redis.from_url(redis_url)
    two = load_settings(env=online_env(settings, redis_url, MAX_THREADS="2"))
    side_by_side = study(two, "side-by-side")
    workers.start(two, redis_url, 1, MAX_THREADS="2")
    run_id = runs.start(side_by_side).job_id
    assert wait_end(side_by_side).state == "finished"
    done = piece_jobs(connection, run_id)
    assert len(done) == 2 * len(STUDY) + aligner_pieces(side_by_side)
    assert len({j.worker_name for j in done}) == 1
    spans = sorted((j.started_at, j.ended_at) for j in done)
    overlapping = sum(1 for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1])
    assert overlapping >= len(STUDY) // 2, spans  # pieces ran two at a time, not one after another

    workers.stop_all()
    one = load_settings(env=online_env(settings, redis_url, MAX_THREADS="1"))
    in_turn = study(one, "in-turn")
    workers.start(one, redis_url, 1, MAX_THREADS="1")
    in_turn_id = runs.start(in_turn).job_id
    assert wait_end(in_turn).state == "finished"
    spans = sorted((j.started_at, j.ended_at) for j in piece_jobs(connection, in_turn_id))
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))  # one at a time
    pd.testing.assert_frame_equal(table(side_by_side), table(in_turn))


def test_two_studies_started_at_once_on_two_workers_both_finish(online_settings, workers, redis_url):
    first, second = study(online_settings, "first", STUDY[:4]), study(online_settings, "second", STUDY[2:])
    workers.start(online_settings, redis_url, 2)
    runs.start(first, visitor="192.0.2.1")
    runs.start(second, visitor="192.0.2.2")
    assert [wait_end(w).state for w in (first, second)] == ["finished", "finished"]


def test_a_truncated_file_among_six_fails_the_run_by_name_and_leaves_no_piece(
    online_settings, workers, redis_url, tmp_path
):
    connection = redis.Redis.from_url(redis_url)
    broken = tmp_path / "truncated-run.mzML"
    broken.write_bytes(STUDY[0].read_bytes()[:100_000])
    workflow = study(online_settings, "broken", [*STUDY[1:], broken])
    workers.start(online_settings, redis_url, 2)
    run_id = runs.start(workflow).job_id
    final = wait_end(workflow)
    assert final.state == "failed"
    assert "FeatureFinderMetabo failed on truncated-run.mzML with exit code" in final.error, final.error
    assert ended_with(workflow.logger.log_dir) is RunState.FAILED
    ended = ("finished", "failed", "stopped", "canceled")
    wait_for(
        lambda: all(j.get_status().value in ended for j in piece_jobs(connection, run_id)),
        5,
        what="every piece to have ended "
        + str([(j.id[-4:], j.get_status().value, j.meta) for j in piece_jobs(connection, run_id)]),
    )
    assert tools_of(workflow) == []


def test_stop_mid_study_ends_every_piece_on_every_worker_within_two_seconds(
    online_settings, workers, redis_url
):
    connection = redis.Redis.from_url(redis_url)
    workflow = study(online_settings, "stopped")
    workers.start(online_settings, redis_url, 2)
    run_id = runs.start(workflow).job_id
    wait_for(lambda: len(tools_of(workflow)) == 2, 60, interval=0.1, what="a piece on each worker")
    started = time.monotonic()
    view = runs.stop(workflow)
    assert view.state == "cancelled"
    wait_for(lambda: not tools_of(workflow), 2, interval=0.05, what="every tool to end")
    assert time.monotonic() - started < 2.5
    time.sleep(2)  # nothing starts after the stop
    assert tools_of(workflow) == []
    states = [j.get_status().value for j in piece_jobs(connection, run_id)]
    assert not {"queued", "started", "scheduled"} & set(states), states
    assert ended_with(workflow.logger.log_dir) is RunState.CANCELLED


def test_a_worker_killed_mid_piece_costs_that_piece_only(online_settings, workers, redis_url):
    connection = redis.Redis.from_url(redis_url)
    reference = study(online_settings, "reference")
    workflow = study(online_settings, "survivor")
    [first, second] = workers.start(online_settings, redis_url, 2)
    runs.start(reference)
    assert wait_end(reference).state == "finished"

    run_id = runs.start(workflow).job_id

    def piece_elsewhere() -> Job | None:
        # status, worker and mark as of one read of each job (a refreshed status could be newer
        # than the worker name fetched with it)
        busy = [j for j in piece_jobs(connection, run_id) if j.get_status(refresh=False) == "started"]
        return next((j for j in busy if not j.meta.get(pieces.META_IN_RUN_JOB)), None)

    victim_piece = wait_for(piece_elsewhere, 60, interval=0.1, what="a piece on the other worker")
    victim = next(w for w in (first, second) if str(w.pid) in victim_piece.worker_name)
    victim.kill()  # SIGKILL, mid-piece
    workers.start(online_settings, redis_url, 1)  # as supervisord would
    final = wait_end(workflow, 240)
    assert final.state == "finished", final.error
    assert read_log(workflow.logger.log_dir, "minimal").count("Retry") == 0  # the run itself went on
    pd.testing.assert_frame_equal(table(workflow), table(reference))


def test_runs_over_a_clients_share_are_held_then_start_by_themselves(settings, workers, redis_url):
    shared = load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1"))
    mine = [study(shared, f"mine{i}", STUDY[:2]) for i in range(3)]
    theirs = study(shared, "theirs", STUDY[:2])
    workers.start(shared, redis_url, 2, RUNNING_RUNS_PER_CLIENT="1")
    for workflow in mine:
        runs.start(workflow, visitor="198.51.100.7")
    runs.start(theirs, visitor="198.51.100.8")
    wait_for(lambda: runs.status(mine[0]).state == "running", 30, interval=0.1, what="the first run")
    views = [runs.status(w) for w in mine[1:]]
    assert [v.state for v in views] == ["held", "held"]
    assert [(v.position, v.queue_length, v.share) for v in views] == [(1, 2, 1), (2, 2, 1)]
    wait_for(lambda: runs.status(theirs).state != "queued", 30, interval=0.1, what="the other visitor's run")
    assert [wait_end(w).state for w in [*mine, theirs]] == ["finished"] * 4
    recorded = [w.state.read() for w in mine]
    starts, ends = [r.started_at for r in recorded], [r.ended_at for r in recorded]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one at a time, each by itself


def test_a_piece_that_ends_on_a_worker_wakes_its_runs_own_job_through_rqs_callbacks(redis_url, tmp_path):
    """The own job sleeps while a step's pieces run elsewhere; each piece's end wakes it through
    RQ's success, failure and stopped callbacks (``pieces.ENDED``). Here a plain ``rq worker`` runs
    two jobs of two runs' groups with those callbacks, one that succeeds and one that fails: each
    run's wake-up list holds one wake that expires."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("wake-test", connection=connection)
    for run_id, func, args in (("run-ok", "builtins.len", ([],)), ("run-bad", "builtins.int", ("x",))):
        data = Queue.prepare_data(
            func, args=args, on_success=pieces.ENDED, on_failure=pieces.ENDED, on_stopped=pieces.ENDED
        )
        Group(connection, name=run_id).enqueue_many(queue, [data])
        assert connection.exists(pieces.wake_key(run_id)) == 0
    done = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "wake-test"],
        cwd=REPO,
        env=dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [j.get_status() for j in Group(connection, name="run-ok").get_jobs()] == ["finished"]
    assert [j.get_status() for j in Group(connection, name="run-bad").get_jobs()] == ["failed"]
    for run_id in ("run-ok", "run-bad"):
        assert connection.lrange(pieces.wake_key(run_id), 0, -1) == [b"1"], run_id
        assert connection.ttl(pieces.wake_key(run_id)) > 0
