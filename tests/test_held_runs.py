"""Held runs never make the queue full for others (issue 29, item 2), against a real redis-server
and the real enqueue path (``src.runs.start``, what the Run page calls), with no worker running:
a visitor's held runs are bounded well below the queue's size and count against its own bound only.
"""

from __future__ import annotations

import shutil

import pytest
import redis

from src import runs
from src.core.errors import SettingsError
from src.core.settings import load_settings
from src.jobs.client.enqueue import recorded_job_id
from src.jobs.scheduler import Scheduler
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

ONE = "198.51.100.7"  # a class behind one address
OTHER = "203.0.113.8"


def workspaces(settings, count: int, tmp_path) -> list[MetabolomicsWorkflow]:
    """``count`` workspaces with one small mzML each (made once, copied)."""
    made = generate_runs(tmp_path / "demo", 1, n_spectra=60)[0]
    flows = []
    for n in range(count):
        workflow = MetabolomicsWorkflow(settings.workspaces_dir / f"ws{n:02d}", settings)
        shutil.copy(made, workflow.files.input_dir("mzML-files") / made.name)
        flows.append(workflow)
    return flows


def start(workflow: MetabolomicsWorkflow, visitor: str) -> str:
    """The outcome of a Start as the Run page sees it: the run's state, or the refusal's text."""
    try:
        runs.start(workflow, visitor=visitor)
    except runs.RunRefused as err:
        return f"refused: {err}"
    return runs.status(workflow).state.value


def test_52_starts_from_one_client_then_one_from_another_the_others_run_is_queued(
    settings, redis_url, tmp_path
):
    online = load_settings(env=online_env(settings, redis_url))
    limits, queue = online.limits, online.queue
    assert limits.held_runs_per_client < queue.max_queued  # the defaults: 10 held, 50 in the queue
    *mine, theirs = workspaces(online, 53, tmp_path)
    outcomes = [start(workflow, ONE) for workflow in mine]

    share, bound = limits.running_runs_per_client, limits.held_runs_per_client
    assert outcomes[:share] == ["queued"] * share
    assert outcomes[share : share + bound] == ["held"] * bound
    refused = outcomes[share + bound :]
    assert len(refused) == 52 - share - bound and all(o.startswith("refused: ") for o in refused)
    for text in refused:  # its own limit, in words that name it; never "the queue is full"
        assert f"You already have {bound} runs waiting" in text
        assert f"no more than {bound} may wait for your network" in text
        assert "queue is full" not in text
    assert all(recorded_job_id(w) is None for w in mine[share + bound :])  # nothing half-started

    connection = redis.Redis.from_url(redis_url)
    assert Scheduler(online, connection).queued_count() == share  # held runs do not count toward max_queued
    assert Scheduler(online, connection).held_count() == bound

    assert start(theirs, OTHER) == "queued"  # a second visitor can start while one holds many
    view = runs.status(theirs)
    assert view.position == share + 1 and view.queue_length == share + 1


def test_held_runs_per_client_0_holds_none_but_never_refuses_a_first_start(settings, redis_url, tmp_path):
    online = load_settings(env=online_env(settings, redis_url, HELD_RUNS_PER_CLIENT="0"))
    flows = workspaces(online, 5, tmp_path)
    outcomes = [start(workflow, ONE) for workflow in flows[:4]]
    assert outcomes[:3] == ["queued"] * 3  # the running share is always open
    assert outcomes[3].startswith("refused: You already have 3 runs started or waiting for a worker")
    assert "holds no further runs" in outcomes[3]
    assert start(flows[4], OTHER) == "queued"


def test_a_full_queue_counts_work_waiting_for_a_worker_only(settings, redis_url, tmp_path):
    online = load_settings(
        env=online_env(
            settings, redis_url, QUEUE_MAX_QUEUED="4", HELD_RUNS_PER_CLIENT="3", RUNNING_RUNS_PER_CLIENT="2"
        )
    )
    flows = workspaces(online, 8, tmp_path)
    assert [start(w, ONE) for w in flows[:5]] == ["queued"] * 2 + ["held"] * 3
    assert [start(w, OTHER) for w in flows[5:7]] == ["queued"] * 2  # 4 wait for a worker now
    refused = start(flows[7], "192.0.2.9")
    assert refused.startswith("refused: The queue is full (4 runs waiting for a worker)")


@pytest.mark.parametrize(("held", "queued"), [("50", "50"), ("60", "50"), ("10", "10")])
def test_held_runs_per_client_must_be_below_the_queues_size(held, queued):
    with pytest.raises(SettingsError, match="HELD_RUNS_PER_CLIENT .* not below QUEUE_MAX_QUEUED"):
        load_settings(env={"HELD_RUNS_PER_CLIENT": held, "QUEUE_MAX_QUEUED": queued})
    below = load_settings(env={"HELD_RUNS_PER_CLIENT": str(int(queued) - 1), "QUEUE_MAX_QUEUED": queued})
    assert below.limits.held_runs_per_client == int(queued) - 1
