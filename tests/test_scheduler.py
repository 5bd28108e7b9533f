"""The scheduler's order against a real redis-server: fair between visitors, then runs, then a run's
jobs; priorities first; a visitor's share of started runs, its further runs held and admitted by
themselves; a run's own job taking its pieces; recovery of jobs a dead process was moving.

No worker runs here: what the order hands to RQ is read from RQ's queues, one job per idle worker.
"""

from __future__ import annotations

import pytest
import redis
from rq import Queue
from rq.group import Group
from rq.job import Job
from rq.queue import EnqueueData

from src.core.settings import load_settings
from src.jobs.pieces import of_run
from src.jobs.scheduler import Scheduler
from tests.queue_support import online_env

pytestmark = pytest.mark.slow


@pytest.fixture
def order(settings, redis_url) -> Scheduler:
    online = load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="2"))
    return Scheduler(online, redis.Redis.from_url(redis_url))


def job(order: Scheduler, name: str) -> Job:
    """A job the scheduler can hand out (never run: no worker listens here)."""
    return Job.create("builtins.len", args=([],), id=name, connection=order.connection)


def piece(name: str) -> EnqueueData:
    """A piece of a run, as the run's own job hands it to the scheduler (``Queue.prepare_data``)."""
    return Queue.prepare_data("builtins.len", args=([],), job_id=name)


def submit(order: Scheduler, name: str, visitor: str, priority: str = "normal") -> Job:
    run = job(order, name)
    order.submit_run(run, visitor, priority)
    return run


def handed_out(order: Scheduler) -> list[str]:
    """Every job on RQ's queues, high priority first, in the order a worker would take them."""
    return [
        j.decode()
        for name in order.settings.queue.ordered_queue_names
        for j in order.connection.lrange(Queue(name, connection=order.connection).key, 0, -1)
    ]


def test_a_small_run_goes_ahead_of_a_big_runs_remaining_pieces(order):
    submit(order, "study", "lab-a")
    assert order.release(1) == 1  # the study's own job starts
    order.add_jobs("study", [piece(f"study-piece-{i}") for i in range(12)])
    submit(order, "small", "lab-b")  # started later, by another visitor
    order.release(3)
    assert handed_out(order) == ["study", "study-piece-0", "small", "study-piece-1"]
    order.release(20)
    assert handed_out(order)[4:] == [f"study-piece-{i}" for i in range(2, 12)]
    assert order.release(1) == 0  # nothing waits any more


def test_runs_of_one_client_take_turns(order):
    for name in ("a1", "a2"):
        submit(order, name, "lab-a")
    order.release(2)
    order.add_jobs("a1", [piece(f"a1-p{i}") for i in range(3)])
    order.add_jobs("a2", [piece(f"a2-p{i}") for i in range(3)])
    order.release(4)
    assert handed_out(order)[2:] == ["a1-p0", "a2-p0", "a1-p1", "a2-p1"]


def test_high_priority_goes_first_and_its_position_counts_first(order):
    submit(order, "normal1", "x")
    submit(order, "normal2", "y")
    submit(order, "urgent", "z", priority="high")
    assert [order.place(r).position for r in ("urgent", "normal1", "normal2")] == [1, 2, 3]
    order.release(3)
    assert handed_out(order) == ["urgent", "normal1", "normal2"]
    assert Job.fetch("urgent", connection=order.connection).origin == "openms-high"


def test_a_clients_runs_over_its_share_are_held_and_admitted_when_one_ends(order):
    runs = [submit(order, f"mine{i}", "one-nat") for i in range(4)]
    other = submit(order, "theirs", "elsewhere")
    places = [order.place(r.id) for r in runs]
    assert [p.held for p in places] == [False, False, True, True]
    assert (places[3].held_position, places[3].visitor_held, places[3].share) == (2, 2, 2)
    assert order.place(other.id).held is False

    assert order.release(10) == 3  # two of one-nat and the other visitor's run; two stay held
    assert set(handed_out(order)) == {"mine0", "mine1", "theirs"}
    assert order.place("mine2").held and order.place("mine0") is None  # admitted: no place any more
    assert order.runs_of(order.run_info("mine0")["client"]) == (2, 2)

    order.end_run("mine0")
    assert order.release(10) == 1
    assert handed_out(order)[-1] == "mine2"
    assert order.place("mine3").held_position == 1


def test_runs_started_by_code_are_each_a_client_of_their_own(order):
    for i in range(4):
        submit(order, f"script{i}", "")
    assert not any(order.place(f"script{i}").held for i in range(4))
    assert order.release(10) == 4


def test_the_own_job_takes_each_piece_once_wherever_it_waits(order):
    submit(order, "run", "lab")
    order.release(1)
    pieces = order.add_jobs("run", [piece(f"run-p{i}") for i in range(3)])
    ids = [p.id for p in pieces]
    members = Group.fetch("run", order.connection).get_jobs()  # RQ's group of the run, named by it
    assert sorted(j.id for j in members) == ids == of_run(order.connection, "run")
    assert {j.group_id for j in members} == {"run"} and {j.origin for j in members} == {"openms-waiting"}
    order.release(1)  # p0 goes to RQ's queue for an idle worker
    assert order.claim("run", ids) == "run-p1"  # still in the order: taken from there first
    assert order.claim("run", ids) == "run-p2"
    assert order.claim("run", ids) == "run-p0"  # on RQ's queue, not yet taken by a worker
    assert order.claim("run", ids) is None
    assert handed_out(order) == ["run"] and order.waiting_queue.count == 0


def test_a_job_cancelled_while_it_waits_is_never_handed_out(order):
    submit(order, "first", "a")
    cancelled = submit(order, "second", "b")
    cancelled.cancel()
    assert order.release(5) == 1 and handed_out(order) == ["first"]


def test_a_job_a_dead_process_was_moving_is_moved_after_the_grace(order):
    submit(order, "stranded", "a")
    # What release() does first: the job leaves the order; the process dies before moving it.
    picked = order._pick(args=[2, 0, "high", "normal", "low"])
    assert picked[0] == b"stranded" and handed_out(order) == []
    assert order.recover_releasing(now=5) == 0  # within the grace: it may still be on its way
    assert order.recover_releasing(now=10_000) == 1
    assert handed_out(order) == ["stranded"]


def test_ended_runs_are_found_for_the_safety_net(order):
    submit(order, "alive", "a")
    gone = submit(order, "gone", "b")
    order.release(2)
    gone.delete()
    assert order.ended_runs() == ["gone"]
