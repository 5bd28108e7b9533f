"""What the app relies on in RQ beyond its documented API, checked against the RQ installed here
(``src/jobs/rq_adapter.py``), and that nothing else in ``src/jobs`` reaches past that API.

When an RQ release changes one of these, this file fails before a user's run hangs: update the
adapter (and its ``CHECKED_WITH_RQ``) for the new release.
"""

from __future__ import annotations

import ast
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from src.jobs import rq_adapter
from src.jobs.worker.launcher import OpenMSWorker

ROOT = Path(__file__).resolve().parents[1]
#: Said in every failure: which RQ is installed, which one the adapter was written for.
RQ = f"RQ {version('rq')} (the adapter was checked with RQ {rq_adapter.CHECKED_WITH_RQ})"


def test_the_worker_methods_the_app_overrides_are_called_as_the_adapter_says():
    for name, params in rq_adapter.WORKER_HOOKS.items():
        assert hasattr(Worker, name), f"{RQ} has no Worker.{name} any more"
        found = tuple(inspect.signature(getattr(Worker, name)).parameters)
        assert found == params, f"{RQ} calls Worker.{name}{found}, the adapter expects {params}"


def test_every_worker_method_the_app_overrides_is_pinned_in_the_adapter():
    overridden = {
        name
        for name, value in vars(OpenMSWorker).items()
        if callable(value) and not name.startswith("__") and hasattr(Worker, name)
    }
    assert overridden == set(rq_adapter.WORKER_HOOKS)


def test_the_hooks_rq_documents_are_there():
    """The public ways in the app uses instead of private methods: the killed-horse handler."""
    assert "work_horse_killed_handler" in inspect.signature(Worker.__init__).parameters, RQ


def test_job_states_read_in_one_round_trip_agree_with_rqs_own(redis_url):
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("adapter-check", connection=connection)
    waiting = queue.enqueue("builtins.len", [])
    cancelled = queue.enqueue("builtins.len", [])
    cancelled.cancel()
    started = queue.enqueue("builtins.len", [])
    started.set_status(JobStatus.STARTED)
    ids = [waiting.id, cancelled.id, started.id, "no-such-job"]
    expected = [Job.fetch(i, connection=connection).get_status().value for i in ids[:3]] + [None]
    assert rq_adapter.job_states(connection, ids) == expected == ["queued", "canceled", "started", None]


def test_the_scheduler_lock_is_where_the_adapter_looks_for_it(redis_url):
    """A lock held by a scheduler that is not recorded anywhere is left alone (it may live elsewhere),
    and the lock's key is the one RQ's scheduler takes."""
    from rq.scheduler import RQScheduler

    connection = redis.Redis.from_url(redis_url)
    scheduler = RQScheduler(["adapter-lock"], connection=connection)
    assert scheduler.acquire_locks() == {"adapter-lock"}
    assert connection.get(RQScheduler.get_locking_key("adapter-lock")) is not None
    assert rq_adapter.release_dead_scheduler_locks(connection, ["adapter-lock"]) == []
    scheduler.release_locks()


def test_a_schedulers_process_is_where_the_adapter_ends_it(redis_url):
    """RQ forks its scheduler into the process the adapter kills (``end_scheduler_now``)."""
    from rq.scheduler import RQScheduler

    connection = redis.Redis.from_url(redis_url)
    scheduler = RQScheduler(["adapter-end"], connection=connection, logging_level="WARNING")
    assert rq_adapter.end_scheduler_now(scheduler) is False  # not started: nothing to end
    assert scheduler.acquire_locks() == {"adapter-end"}
    process = scheduler.start()
    assert process.is_alive()
    assert rq_adapter.end_scheduler_now(scheduler) is True
    assert not process.is_alive() and process.exitcode == -9
    connection.delete(RQScheduler.get_locking_key("adapter-end"))


def _private_uses(path: Path) -> list[str]:
    """``x._name`` where ``_name`` is not defined in the module itself (a private name of RQ,
    Streamlit or another module) or is reached through ``super()``, with its line."""
    tree = ast.parse(path.read_text())
    own = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    attributes = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    own |= {
        node.attr
        for node in attributes
        if isinstance(node.ctx, ast.Store) and getattr(node.value, "id", "") in ("self", "cls")
    }
    own |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    found = []
    for node in attributes:
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        inherited = isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "super"
        if private and (node.attr not in own or inherited):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("folder", ["src/jobs", "src/runs.py"])
def test_no_private_name_of_a_library_is_used_outside_the_adapter(folder):
    target = ROOT / folder
    paths = [target] if target.is_file() else sorted(target.rglob("*.py"))
    uses = [use for path in paths if path.name != "rq_adapter.py" for use in _private_uses(path)]
    assert uses == []
