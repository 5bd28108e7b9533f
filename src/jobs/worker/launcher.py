"""Starting an RQ worker for this app: ``python -m src.jobs.worker``.

Why a launcher instead of a bare ``rq worker`` command line:

* the queues, their order, the Redis URL and every interval come from the one
  settings module, so the app and the workers cannot disagree;
* pyOpenMS and the workflow modules are imported here, once, in the worker's
  parent process; every job runs in a fork of it and starts without that cost;
* each worker gets a unique name (host, pid, random suffix): a fixed name clashes
  with the stale registration of a crashed predecessor for minutes;
* the scheduler is started only when retries wait between attempts;
* a lost worker is noticed after ``job_monitoring_interval + heartbeat_grace``
  seconds instead of RQ's fixed extra minute (see ``QueueSettings.lost_worker_bound``).

Jobs use RQ's default (pickle) serializer: rq-dashboard's workers page fails
while a worker runs a JSON-serialized job, and our job arguments are plain strings.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import signal
import socket
import time
import uuid

import click
import redis
from rq import Queue, Worker
from rq.job import Job
from rq.worker import WorkerStatus

from src.core import process_log
from src.core.execution import forks_die_with_parent
from src.core.settings import QueueSettings, Settings, load_for_command, redact
from src.core.version import VERSION
from src.jobs import pieces, reconcile
from src.jobs.connection import REDIS_ERRORS, REDIS_RESTART_SECONDS, through_redis_restarts
from src.jobs.job_model import is_run, view_queue_name, workflow_of
from src.jobs.rq_adapter import end_scheduler_now, release_dead_scheduler_locks
from src.jobs.scheduler import Scheduler, waiting_queue_name
from src.jobs.telemetry import queue_load
from src.workflows import RegistryError, installed

log = logging.getLogger("src.jobs.worker")

#: How long a starting worker waits for Redis (it may still be loading its AOF file).
REDIS_WAIT_SECONDS = REDIS_RESTART_SECONDS


class OpenMSWorker(Worker):
    """RQ's forking worker with a configurable heartbeat grace period.

    Before it tries to start a scheduler (at start, see :func:`main`, and in each maintenance
    pass) it releases the locks of a scheduler that died with its worker on this host, so a
    lost job's retry is not held up until those locks expire. The methods it overrides are
    pinned in ``src/jobs/rq_adapter.py`` (``WORKER_HOOKS``); a killed work-horse is handled by
    RQ's public ``work_horse_killed_handler`` (:func:`horse_killed`).
    """

    heartbeat_grace = 10
    openms_settings: Settings  # set by build_worker; used to record queue-depth samples

    def teardown(self) -> None:
        """RQ's end of a worker (its scheduler told to release its locks, its death registered)
        writes to Redis. A worker stopped while Redis is away says so in one line instead of two
        tracebacks (its own and its scheduler's): the scheduler is ended at once, and its locks and
        the worker's registration expire by themselves."""
        try:
            self.connection.ping()
            super().teardown()
        except REDIS_ERRORS as err:
            end_scheduler_now(self.scheduler)
            log.error(
                "worker %s stopped but could not reach Redis to record it (%s); its registration "
                "expires by itself",
                self.name,
                err,
            )

    def run_maintenance_tasks(self) -> None:
        if self.scheduler is not None:
            release_dead_scheduler_locks(self.connection, self.queue_names())
        super().run_maintenance_tasks()  # finds lost jobs; their failure callback ends their runs
        self._end_runs_of_recent_endings()
        self._keep_order()
        self._record_depth_sample()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """This worker is about to wait for work: the next jobs in the fair order (one for each idle
        worker, this one included, less the jobs already on RQ's queues) move there first. It says
        it is idle before it looks: a run submitted after this look counts it as idle and moves a
        job for it, so nothing is left in the order while this worker blocks on an empty queue."""
        try:
            self.set_state(WorkerStatus.IDLE)
            order = Scheduler(self.openms_settings, self.connection)
            order.release_for_idle_workers()  # every idle worker, this one included, less what waits
        except REDIS_ERRORS as err:  # RQ's own wait rides out the outage; the next pass catches up
            log.warning("could not take work from the scheduler's order (Redis: %s)", err)
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _keep_order(self) -> None:
        """Safety net of the scheduler's order: jobs a dead process was moving are moved, runs
        that ended without leaving it leave it (their visitor's share is free again), and idle
        workers get what waits."""
        try:
            order = Scheduler(self.openms_settings, self.connection)
            order.recover_releasing()
            for run_id in order.ended_runs():
                log.warning("run %s had ended without leaving the scheduler's order; it leaves now", run_id)
                pieces.end_run(self.openms_settings, self.connection, run_id)
            order.release_for_idle_workers()
        except REDIS_ERRORS as err:
            log.warning("could not tidy the scheduler's order: %s", err)

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """RQ kills the horse's process group; a stop that arrives the instant after the fork,
        before the horse made its own group, would kill this worker's group instead (under
        supervisord the worker itself; under a test runner everything it started), and one
        that arrives after the horse ended (pid 0) the same. Here only the horse dies."""
        pid = self.horse_pid
        if pid <= 0:
            log.info("stop for a job whose process has ended: nothing to kill")
            return
        try:
            own_group = os.getpgid(pid) == os.getpgrp()
        except ProcessLookupError:
            return  # ended meanwhile
        if not own_group:
            super().kill_horse(sig)
            return
        log.warning("killing horse %s alone: it has no process group of its own yet", pid)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            log.info("horse %s had ended already", pid)

    def _end_runs_of_recent_endings(self) -> None:
        """Safety net: a failed or stopped job whose run still says running gets its end written."""
        try:
            queues = {q.name: q for q in self.queues}
            reconcile.recent_endings(self.openms_settings, self.connection, queues)
        except (*REDIS_ERRORS, OSError) as err:
            log.warning("could not bring ended runs in line: %s", err)

    def maintain_heartbeats(self, *args, **kwargs) -> None:
        """A heartbeat that meets a Redis restart is skipped, not fatal: the job's heartbeat lives
        ``job_monitoring_interval + heartbeat_grace`` seconds, longer than a restart takes, and
        the next beat renews it. (RQ would let the error end the worker and with it the run.)"""
        try:
            super().maintain_heartbeats(*args, **kwargs)
        except REDIS_ERRORS as err:
            log.warning("heartbeat skipped, Redis did not answer: %s", err)
            return
        self._record_depth_sample()

    def _record_depth_sample(self) -> None:
        """The admin page's queue-depth history is optional: a failed sample never stops the worker."""
        try:
            queue_load.record_sample(self.openms_settings, self.connection)
        except REDIS_ERRORS as err:
            log.warning("queue depth sample not recorded: %s", err)

    # A job's end is written to Redis by its work-horse, and RQ gives up at the first connection
    # error: a Redis restart at the moment a run ends left the job started for ever (the horse
    # exits non-zero, the worker quits on reading its status) and the finished run was then retried
    # as lost. These three wait for Redis instead, as long as a restart takes.
    def handle_execution_ended(self, *args, **kwargs):
        parent = super()
        return through_redis_restarts(
            lambda: parent.handle_execution_ended(*args, **kwargs), "recording the end of a job"
        )

    def handle_job_success(self, *args, **kwargs):
        parent = super()
        return through_redis_restarts(
            lambda: parent.handle_job_success(*args, **kwargs), "recording a job's success"
        )

    def handle_job_failure(self, *args, **kwargs):
        parent = super()
        return through_redis_restarts(
            lambda: parent.handle_job_failure(*args, **kwargs), "recording a job's failure"
        )

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + self.heartbeat_grace


def horse_killed(settings: Settings, connection: redis.Redis, job: Job, *_: object) -> None:
    """RQ's ``work_horse_killed_handler``: the job's process died (out of memory, kill -9) while its
    worker lives. The run could not say so, so the worker writes its end (or that it will be retried)."""
    if not is_run(job):
        # a piece: RQ retries it and its run's own job waits; a viewer's index: its page offers a retry
        return
    try:
        reconcile.lost_run(workflow_of(job, settings), job)
    except OSError as err:  # e.g. a full disk; the maintenance pass tries again
        log.error("could not record the end of job %s in its workspace: %s", job.id, err)


#: Imported once in the worker's parent process, so that every forked job starts without the cost.
PRELOADED = ("pyopenms", "src.jobs.worker.tasks")


def preload() -> None:
    """Import the heavy modules and every installed workflow once in the parent, so forked jobs
    start fast (and a workflow that cannot be loaded is logged when the worker starts)."""
    for name in PRELOADED:
        importlib.import_module(name)
    try:
        installed()
    except RegistryError as err:  # its jobs fail with this message; the others run
        log.error("%s", err)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def connect(queue: QueueSettings, wait_seconds: float = REDIS_WAIT_SECONDS) -> redis.Redis:
    """A connection for the worker (no socket timeout: RQ blocks on BLMOVE/BLPOP), once Redis answers."""
    connection = redis.Redis.from_url(queue.redis_url, socket_connect_timeout=queue.connect_timeout)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            connection.ping()
            return connection
        except redis.exceptions.AuthenticationError as err:  # a ConnectionError subclass: check it first
            raise SystemExit(
                f"Redis at {redact(queue.redis_url)} refused the worker's credentials: {err}"
            ) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            if time.monotonic() >= deadline:
                message = (
                    f"Redis at {redact(queue.redis_url)} did not answer within {wait_seconds:.0f} s: {err}"
                )
                raise SystemExit(message) from None
            log.info("waiting for Redis at %s: %s", redact(queue.redis_url), err)
            time.sleep(1)


def register_queues(queues: list[Queue]) -> None:
    """Make the queues known to Redis before their first job, so `rq info` lists them from the start."""
    connection = queues[0].connection
    connection.sadd(Queue.redis_queues_keys, *(q.key for q in queues))


def build_worker(settings: Settings, connection: redis.Redis) -> OpenMSWorker:
    queue = settings.queue
    # The viewer's index jobs first: short, and a scientist waits at the page for each.
    names = [view_queue_name(settings), *queue.ordered_queue_names]
    queues = [Queue(name, connection=connection) for name in names]
    # The scheduler's waiting queue too (no worker listens to it): `rq info` lists what waits there.
    register_queues([*queues, Queue(waiting_queue_name(settings), connection=connection)])
    worker = OpenMSWorker(
        queues,
        connection=connection,
        name=worker_name(),
        worker_ttl=queue.worker_ttl,
        job_monitoring_interval=queue.job_monitoring_interval,
        maintenance_interval=queue.maintenance_interval,
        work_horse_killed_handler=functools.partial(horse_killed, settings, connection),
    )
    worker.heartbeat_grace = queue.heartbeat_grace
    worker.openms_settings = settings
    return worker


def children_die_with_worker() -> None:
    """Every process this worker forks (each job's work-horse, RQ's scheduler) dies with it.

    Without this a worker killed with SIGKILL leaves its scheduler and a running job
    behind as orphans: the job would go on while the queue retries it elsewhere.
    """
    forks_die_with_parent()


@click.command("worker")
@click.option("--check", is_flag=True, help="Only check that Redis answers and accepts our credentials.")
def main(check: bool) -> None:
    """An RQ worker for the OpenMS workflow queues."""
    settings = load_for_command()
    process_log.configure(settings.log_format)
    if check:
        connect(settings.queue)  # exits with the reason if Redis cannot be used
        click.echo(f"Redis at {redact(settings.queue.redis_url)} answers.")
        return
    preload()
    children_die_with_worker()
    connection = connect(settings.queue)
    worker = build_worker(settings, connection)
    log.info(
        "worker %s (OpenMS Workflow Server %s) listening on %s (high to low priority)",
        worker.name,
        VERSION,
        ", ".join(worker.queue_names()),
    )
    with_scheduler = bool(settings.queue.retry_intervals)
    if with_scheduler:  # a scheduler that died with its worker here must not hold up retries
        release_dead_scheduler_locks(connection, worker.queue_names())
    worker.work(with_scheduler=with_scheduler, logging_level="INFO")


if __name__ == "__main__":  # the older spelling of ``python -m src worker``
    main()
