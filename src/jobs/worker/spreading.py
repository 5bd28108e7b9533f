"""A step over several files, spread over every free worker (online mode's ``Spreader``).

The run's own job (``tasks.run_workflow``) reaches ``executor.run_multiple`` with N commands;
instead of running them here one after another, :class:`QueueSpreader` makes them N pieces
(``src/jobs/pieces.py``), puts them in the scheduler's order and moves as many as there are
idle workers to RQ's queues. Then this job works too: it takes the first piece no worker has
taken yet and runs it in its own process, as many at once as the run may use threads
(``MAX_THREADS``), and again, until none is left; then it waits for the pieces still running
elsewhere. So no worker ever waits for a piece that needs a free worker (W studies on W workers
all finish), and one worker on a host of several cores runs a study's files side by side as it
would without the queue.

While the step lasts this job sleeps until a piece ends: every piece wakes it, a piece on
another worker through RQ's success, failure and stopped callbacks (``pieces.piece_ended``), one
here when its thread ends; it then reads the pieces' states in one round trip. Progress counts
pieces ("FeatureFinderMetabo: 17 of 24 files, 3 running"), and a piece that failed elsewhere
fails the run at once with that piece's message, stopping this job's own tools and every other
piece. A piece whose worker was lost is retried by RQ (or taken here, whichever comes first);
no callback may say so at once, so the job also looks every ``WAKE_SECONDS`` on its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.results import Result

from src.core.execution import CommandExecutor, RunCancelled
from src.core.run import COMMANDS, RunState
from src.core.settings import Settings, host_cores
from src.core.workflow import WorkflowBase
from src.jobs import pieces
from src.jobs.connection import REDIS_ERRORS, through_redis_restarts
from src.jobs.errors import PieceFailed
from src.jobs.job_model import ENDED_BADLY, RUN_STATE_OF
from src.jobs.reconcile import worker_lost_message
from src.jobs.rq_adapter import job_states
from src.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

#: How long the own job sleeps, at most, when no piece has ended: what it sees without a wake
#: (a piece that started elsewhere, one whose worker was lost, a retry back on a queue).
WAKE_SECONDS = 1.0
#: RQ runs a piece's callback just before it saves the piece's end (``Worker._finalize_success``,
#: ``_finalize_failure``): after a wake whose end the states do not show yet, the own job reads
#: them again every ``SETTLE_SECONDS``, for at most ``SETTLE_WINDOW_SECONDS``.
SETTLE_SECONDS = 0.02
SETTLE_WINDOW_SECONDS = 1.0
#: A piece's states once it has ended, well or not (None: gone).
_ENDED = ENDED_BADLY | {JobStatus.FINISHED.value}
#: How often, while it waits, the own job lets RQ find pieces whose worker was lost.
LOST_CHECK_SECONDS = 5.0
#: How long the step rides out Redis not answering before it fails the run.
REDIS_PATIENCE_SECONDS = 60.0


def step_key(commands: list[list[str]]) -> str:
    """A step's name in its pieces' ids: its commands (the same in every attempt of a run)."""
    return hashlib.sha256(json.dumps(commands).encode()).hexdigest()[:10]


@dataclass
class _Step:
    ids: list[str]
    commands: list[list[str]]
    labels: list[str]
    subjects: list[str]
    tool: str
    own: set[int] = field(default_factory=set)  # run in this process
    counted: set[int] = field(default_factory=set)  # counted in the run's progress
    orphans: list[int] = field(default_factory=list)  # run in this job's process by a lost attempt

    @property
    def unit(self) -> str:
        return "files" if all(self.subjects) else "pieces"


class QueueSpreader:
    def __init__(self, job: Job, workflow: WorkflowBase, settings: Settings) -> None:
        self.job, self.workflow, self.settings = job, workflow, settings
        self.connection = job.connection
        self.scheduler = Scheduler(settings, self.connection)

    # ---- the step ---------------------------------------------------------------------------------
    def run_step(
        self, executor: CommandExecutor, commands: list[list[str]], labels: list[str], subjects: list[str]
    ) -> None:
        key = step_key(commands)
        step = _Step(
            ids=[pieces.piece_id(self.job.id, key, i) for i in range(len(commands))],
            commands=commands,
            labels=labels,
            subjects=subjects,
            tool=commands[0][0].rsplit("/", 1)[-1],
        )
        through_redis_restarts(
            lambda: self._queue_up(step, executor), f"handing out the pieces of {step.tool}"
        )
        ended_well = False
        try:
            self._work(step, executor, _StepProgress(self, step, executor))
            ended_well = True
        finally:
            if not ended_well:  # failed or stopped: no piece of this run may go on anywhere
                pieces.stop_all(self.connection, self.job.id)

    def slots(self, executor: CommandExecutor) -> int:
        """This job's pieces side by side (its threads) and the workers idle now."""
        try:
            return executor.max_threads + self.scheduler.idle_slots()
        except REDIS_ERRORS as err:
            log.warning("run %s: idle workers not counted (Redis: %s)", self.job.id, err)
            return executor.max_threads

    @contextmanager
    def lone_step(self, executor: CommandExecutor, tool: str) -> Iterator[int]:
        """The threads of a step that stays one command: this run's own (``MAX_THREADS``) and, when
        nothing waits for a worker, as many of its host's idle workers' as fit its cores, borrowed
        until the step ends (``Scheduler.lend``); the log says how many."""
        own = executor.max_threads
        cores = max(host_cores(), own)
        slots = 0
        if self.settings.queue.lend_idle_workers:
            worker, host = self.job.worker_name or "", socket.gethostname()  # an RQ worker's host
            try:
                slots = self.scheduler.lend(self.job.id, worker, host, (cores - own) // own)
            except REDIS_ERRORS as err:
                log.warning("run %s: no idle worker borrowed (Redis: %s)", self.job.id, err)
        threads = min(cores, own * (1 + slots))
        if not self.settings.queue.lend_idle_workers:
            lent = "QUEUE_LEND_IDLE_WORKERS is off"
        else:
            lent = f"{slots} idle worker{'s' if slots != 1 else ''} lent" if slots else "no idle worker lent"
        plural = "s" if threads != 1 else ""
        self.workflow.logger.log(f"{tool} with {threads} thread{plural} ({lent})", COMMANDS)
        try:
            yield threads
        finally:
            if slots:
                try:
                    self.scheduler.give_back(self.job.id)
                except REDIS_ERRORS as err:  # the lend lapses by itself once this job ends
                    log.warning("run %s: borrowed workers not given back yet (Redis: %s)", self.job.id, err)

    def _queue_up(self, step: _Step, executor: CommandExecutor) -> None:
        """Create the pieces an earlier attempt of this job did not, and release what idle workers
        can take. Pieces of a lost attempt that ended well are counted as done."""
        existing = Job.fetch_many(step.ids, connection=self.connection)
        new = [i for i, job in enumerate(existing) if job is None]
        for index, job in enumerate(existing):
            if job is None:
                continue
            state = job.get_status(refresh=False)
            if state == JobStatus.FINISHED:
                step.counted.add(index)
                executor.progress.command_done()
            elif state == JobStatus.STARTED and job.meta.get(pieces.META_IN_RUN_JOB):
                step.orphans.append(index)  # its process died with the lost attempt
        if new:
            datas = pieces.piece_data(
                self.settings,
                self.job,
                [step.ids[i] for i in new],
                [step.commands[i] for i in new],
                [step.labels[i] for i in new],
                [step.subjects[i] for i in new],
                new,
                len(step.ids),
            )
            self.scheduler.add_jobs(self.job.id, datas)
        self.workflow.logger.log(
            f"{step.tool}: {len(step.ids)} {step.unit} as pieces for every free worker", COMMANDS
        )
        self.scheduler.release_for_idle_workers()

    def _work(self, step: _Step, executor: CommandExecutor, progress: _StepProgress) -> None:
        """Take pieces and run them here, as many at once as the run may use threads
        (``MAX_THREADS``: one worker on a many-core host still uses its cores), until none is left
        and every piece elsewhere has ended."""
        with ThreadPoolExecutor(max_workers=executor.max_threads, thread_name_prefix="piece") as pool:
            running: set[Future] = set()
            try:
                self._take_and_run(step, executor, progress, pool, running)
            except BaseException:
                executor.stop_own_commands()  # the pieces still running here end with the run
                raise
            finally:
                wait(running)
            for future in running:
                future.result()

    def _take_and_run(
        self, step: _Step, executor: CommandExecutor, progress: _StepProgress, pool: ThreadPoolExecutor,
        running: set[Future],
    ) -> None:  # fmt: skip
        last_lost_check = time.monotonic()
        redis_failing_since: float | None = None
        woken_with = -1  # how many pieces had ended when a wake came
        settle_until = 0.0
        while True:
            for future in [f for f in running if f.done()]:
                running.discard(future)
                future.result()  # a piece here that failed fails the run with its own error
            index = None
            try:
                states = job_states(self.connection, step.ids)
                progress.look(states)  # a piece that failed elsewhere fails the run here
                ended = sum(1 for state in states if state in _ENDED)
                if not running and all(state == JobStatus.FINISHED.value for state in states):
                    return
                if len(running) < executor.max_threads:
                    index = self._take(step)
                if index is None and not running and time.monotonic() - last_lost_check > LOST_CHECK_SECONDS:
                    self._find_lost_pieces()
                    last_lost_check = time.monotonic()
                if index is None and ended == woken_with and time.monotonic() < settle_until:
                    time.sleep(SETTLE_SECONDS)  # the piece that woke us is about to be saved as ended
                elif index is None and self._sleep_until_a_piece_ends():
                    woken_with, settle_until = ended, time.monotonic() + SETTLE_WINDOW_SECONDS
                redis_failing_since = None
            except REDIS_ERRORS as err:
                redis_failing_since = redis_failing_since or time.monotonic()
                if time.monotonic() - redis_failing_since > REDIS_PATIENCE_SECONDS:
                    raise
                log.warning("run %s waits for Redis: %s", self.job.id, err)
                time.sleep(1)
                continue
            if index is not None:
                step.own.add(index)  # not offered to the next _take while its thread starts
                future = pool.submit(self._run_here, step, index, executor, progress)
                future.add_done_callback(lambda _: self._wake())
                running.add(future)

    def _sleep_until_a_piece_ends(self) -> bool:
        """Until a piece of this run ends anywhere (``pieces.wake_run``: True), or ``WAKE_SECONDS``
        (False); the wakes that came meanwhile are cleared (the states read next show them)."""
        key = pieces.wake_key(self.job.id)
        # the wait ends before the connection's own timeout would take it for a dead Redis
        timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout") or WAKE_SECONDS * 2
        if not self.connection.blpop([key], timeout=min(WAKE_SECONDS, timeout / 2)):
            return False
        self.connection.delete(key)
        return True

    def _wake(self) -> None:
        """A piece here ended: the loop reads the states now instead of at its next look."""
        try:
            pieces.wake_run(self.connection, self.job.id, self.settings.queue.result_ttl)
        except REDIS_ERRORS as err:  # the loop looks within WAKE_SECONDS all the same
            log.warning("run %s: a piece's end not signalled (Redis: %s)", self.job.id, err)

    def _take(self, step: _Step) -> int | None:
        """The next piece for this process: one a lost attempt left, else the first not taken."""
        if step.orphans:
            return step.orphans.pop(0)
        candidates = [i for i in range(len(step.ids)) if i not in step.own and i not in step.counted]
        taken = self.scheduler.claim(self.job.id, [step.ids[i] for i in candidates])
        return step.ids.index(taken) if taken else None

    def _find_lost_pieces(self) -> None:
        """Let RQ retry the pieces whose worker was lost (no idle worker may be there to do it)."""
        for name in self.settings.queue.ordered_queue_names:
            StartedJobRegistry(name, connection=self.connection).cleanup()

    # ---- a piece in this process ------------------------------------------------------------------
    def _run_here(self, step: _Step, index: int, executor: CommandExecutor, progress: _StepProgress) -> None:
        step.own.add(index)
        step.counted.add(index)  # run_command counts it
        worker = self.job.worker_name or ""
        started = datetime.now(UTC)

        def mark_started() -> Job:
            job = Job.fetch(step.ids[index], connection=self.connection)
            job.worker_name, job.started_at = worker, started
            job.meta[pieces.META_IN_RUN_JOB] = self.job.id
            with self.connection.pipeline() as pipe:  # one write: the status never without its worker
                job.set_status(JobStatus.STARTED, pipeline=pipe)
                job.save(pipeline=pipe)
                pipe.execute()
            return job

        job = through_redis_restarts(mark_started, f"starting {_piece_name(step, index)}")
        self.workflow.logger.log(
            f"{_piece_name(step, index)}: on worker {worker} (in the run's own job)", COMMANDS
        )
        try:
            executor.run_command(
                step.commands[index],
                step.labels[index],
                subject=step.subjects[index],
                progress_step=progress.summary(),
            )
        except RunCancelled:
            through_redis_restarts(job.cancel, "cancelling a piece")  # stopped with its run, not failed
            progress.raise_failure()  # stopped because a piece elsewhere failed: that error counts
            raise
        except Exception as err:
            message = str(err)
            through_redis_restarts(lambda: self._record_end(job, started, message), "recording a piece's end")
            raise
        through_redis_restarts(lambda: self._record_end(job, started), "recording a piece's end")

    def _record_end(self, job: Job, started: datetime, error: str = "") -> None:
        """A piece run in this process ends in RQ as it would on a worker of its own: its state, its
        result (``Result``) and its registry, written in one transaction through RQ's public API."""
        job.ended_at = datetime.now(UTC)
        worker = self.job.worker_name or ""
        when = {"worker_name": worker, "execution_started_at": started, "execution_ended_at": job.ended_at}
        if error:
            job.meta["error"] = error
            job.save_meta()
        with self.connection.pipeline() as pipe:
            if error:
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                job.save(pipeline=pipe, include_meta=False)
                job.failed_job_registry.add(job, ttl=job.failure_ttl, exc_string=error, pipeline=pipe)
                Result.create_failure(job, job.failure_ttl, exc_string=error, pipeline=pipe, **when)
            else:
                ttl = self.settings.queue.result_ttl
                outcome = {"outcome": RunState.FINISHED.value, "in_run_job": self.job.id}
                job.set_status(JobStatus.FINISHED, pipeline=pipe)
                job.save(pipeline=pipe, include_meta=False)
                Result.create(job, Result.Type.SUCCESSFUL, ttl, return_value=outcome, pipeline=pipe, **when)
                if ttl != 0:
                    job.finished_job_registry.add(job, ttl, pipe)
            pipe.execute()


class _StepProgress:
    """What the pieces' states say: the step's progress, and a piece that failed elsewhere."""

    def __init__(self, spreader: QueueSpreader, step: _Step, executor: CommandExecutor) -> None:
        self.spreader, self.step, self.executor = spreader, step, executor
        self.failure: PieceFailed | None = None
        self._finished, self._running = len(step.counted), 0

    def summary(self) -> str:
        return (
            f"{self.step.tool}: {self._finished} of {len(self.step.ids)} {self.step.unit}, "
            f"{self._running} running"
        )

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def look(self, states: list[str | None]) -> None:
        """Count the pieces that finished; raise the failure of one that ended badly elsewhere (a
        piece here that failed raises its own error from its thread)."""
        step, progress = self.step, self.executor.progress
        for index, state in enumerate(states):
            if state == JobStatus.FINISHED.value and index not in step.counted:
                step.counted.add(index)
                progress.command_done()
            if state in ENDED_BADLY and index not in step.own and self.failure is None:
                message = _failure_of(self.spreader.connection, step, index, self.spreader.settings)
                self.failure = PieceFailed(message)
        self._finished = sum(1 for s in states if s == JobStatus.FINISHED.value)
        self._running = sum(1 for s in states if s == JobStatus.STARTED.value)
        if progress.step != self.summary():
            progress.starting(self.summary())
        self.raise_failure()


def _piece_name(step: _Step, index: int) -> str:
    return pieces.piece_name(step.tool, step.subjects[index], index, len(step.ids))


def _failure_of(connection, step: _Step, index: int, settings: Settings) -> str:
    """What to tell the user of a piece that ended badly: the tool's error naming the file."""
    job = Job.fetch_many([step.ids[index]], connection=connection)[0]
    name = _piece_name(step, index)
    if job is None:
        return f"{name} disappeared from the queue. Start the workflow again."
    if job.meta.get("error"):
        return str(job.meta["error"])
    state = job.get_status(refresh=False)
    if RUN_STATE_OF.get(state) is RunState.CANCELLED:
        return f"{name} was stopped from outside this run (e.g. from rq-dashboard). Start the workflow again."
    text = job.exc_info or ""
    if "AbandonedJobError" in text:
        return f"{name}: {worker_lost_message(settings)}"
    last = text.strip().splitlines()[-1] if text.strip() else "it failed"
    return f"{name}: {last}"
