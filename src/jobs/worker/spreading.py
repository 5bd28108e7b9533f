"""A step over several files, spread over every free worker (online mode's ``Spreader``).

The run's own job (``tasks.run_workflow``) reaches ``executor.run_multiple`` with N commands;
instead of running them here one after another, :class:`QueueSpreader` makes them N pieces
(``src/jobs/pieces.py``), puts them in the scheduler's order and moves as many as there are
idle workers to RQ's queues. Then this job works too: it takes the first piece no worker has
taken yet and runs it in its own process, and again, until none is left; then it waits for the
pieces still running elsewhere. So no worker ever waits for a piece that needs a free worker
(W studies on W workers all finish), and with one worker a study runs as before.

While the step lasts a watcher reads the pieces' states a few times a second: progress counts
pieces ("FeatureFinderMetabo: 17 of 24 files, 3 running"), and a piece that failed elsewhere
fails the run at once with that piece's message, stopping this job's own tool and every other
piece. A piece whose worker was lost is retried by RQ (or taken here, whichever comes first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from src.core.execution import CommandExecutor, RunCancelled
from src.core.run import COMMANDS, RunState
from src.core.settings import Settings
from src.core.workflow import WorkflowBase
from src.jobs import pieces
from src.jobs.connection import REDIS_ERRORS, through_redis_restarts
from src.jobs.reconcile import worker_lost_message
from src.jobs.scheduler import Scheduler

log = logging.getLogger(__name__)

#: How often the own job looks for a piece to take or for the step's end, and the watcher reads states.
POLL_SECONDS = 0.2
#: How often, while it waits, the own job lets RQ find pieces whose worker was lost.
LOST_CHECK_SECONDS = 5.0
#: A piece in one of these states (or gone: None) ends the step and the run as failed.
ENDED_BADLY = frozenset({JobStatus.FAILED.value, JobStatus.STOPPED.value, JobStatus.CANCELED.value, None})
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
        watcher = _Watcher(self, step, executor)
        watcher.start()
        ended_well = False
        try:
            self._work(step, executor, watcher)
            ended_well = True
        finally:
            watcher.stop()
            if not ended_well:  # failed or stopped: no piece of this run may go on anywhere
                pieces.stop_all(self.connection, self.job.id)

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
            jobs = pieces.create(
                self.settings,
                self.job,
                [step.ids[i] for i in new],
                [step.commands[i] for i in new],
                [step.labels[i] for i in new],
                [step.subjects[i] for i in new],
                new,
                len(step.ids),
            )
            self.scheduler.add_jobs(self.job.id, jobs)
        self.workflow.logger.log(
            f"{step.tool}: {len(step.ids)} {step.unit} as pieces for every free worker", COMMANDS
        )
        self.scheduler.release(self.scheduler.idle_slots())

    def _work(self, step: _Step, executor: CommandExecutor, watcher: _Watcher) -> None:
        last_lost_check = time.monotonic()
        redis_failing_since: float | None = None
        while True:
            watcher.raise_failure()
            try:
                index = self._take(step)
                if index is None:
                    if self._all_finished(step):
                        return
                    if time.monotonic() - last_lost_check > LOST_CHECK_SECONDS:
                        self._find_lost_pieces()
                        last_lost_check = time.monotonic()
                redis_failing_since = None
            except REDIS_ERRORS as err:
                redis_failing_since = redis_failing_since or time.monotonic()
                if time.monotonic() - redis_failing_since > REDIS_PATIENCE_SECONDS:
                    raise
                log.warning("run %s waits for Redis: %s", self.job.id, err)
                time.sleep(1)
                continue
            if index is None:
                time.sleep(POLL_SECONDS)
                continue
            self._run_here(step, index, executor, watcher)

    def _take(self, step: _Step) -> int | None:
        """The next piece for this process: one a lost attempt left, else the first not taken."""
        if step.orphans:
            return step.orphans.pop(0)
        candidates = [i for i in range(len(step.ids)) if i not in step.own and i not in step.counted]
        taken = self.scheduler.claim(self.job.id, [step.ids[i] for i in candidates])
        return step.ids.index(taken) if taken else None

    def _all_finished(self, step: _Step) -> bool:
        states = _states(self.connection, step.ids)
        if all(state == JobStatus.FINISHED.value for state in states):
            return True
        for index, state in enumerate(states):
            if state in ENDED_BADLY:
                raise pieces.PieceFailed(_failure_of(self.connection, step, index, self.settings))
        return False

    def _find_lost_pieces(self) -> None:
        """Let RQ retry the pieces whose worker was lost (no idle worker may be there to do it)."""
        for name in self.settings.queue.ordered_queue_names:
            StartedJobRegistry(name, connection=self.connection).cleanup()

    # ---- a piece in this process ------------------------------------------------------------------
    def _run_here(self, step: _Step, index: int, executor: CommandExecutor, watcher: _Watcher) -> None:
        step.own.add(index)
        step.counted.add(index)  # run_command counts it
        worker = self.job.worker_name or ""
        started = datetime.now(UTC)

        def mark_started() -> Job:
            job = Job.fetch(step.ids[index], connection=self.connection)
            job.set_status(JobStatus.STARTED)
            job.worker_name, job.started_at = worker, started
            job.meta[pieces.META_IN_RUN_JOB] = self.job.id
            job.save()
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
                progress_step=watcher.summary(),
            )
        except RunCancelled:
            through_redis_restarts(job.cancel, "cancelling a piece")  # stopped with its run, not failed
            watcher.raise_failure()  # stopped because a piece elsewhere failed: that error counts
            raise
        except Exception as err:
            message = str(err)
            through_redis_restarts(lambda: self._record_end(job, started, message), "recording a piece's end")
            raise
        through_redis_restarts(lambda: self._record_end(job, started), "recording a piece's end")

    def _record_end(self, job: Job, started: datetime, error: str = "") -> None:
        """A piece run in this process ends in RQ as it would on a worker of its own."""
        job.ended_at = datetime.now(UTC)
        worker = self.job.worker_name or ""
        with self.connection.pipeline() as pipe:
            if error:
                job.meta["error"] = error
                job.save_meta()
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                job.save(pipeline=pipe, include_meta=False)
                job._handle_failure(error, pipe, worker_name=worker, execution_started_at=started)
            else:
                job._result = {"outcome": RunState.FINISHED.value, "in_run_job": self.job.id}
                job._handle_success(
                    self.settings.queue.result_ttl, pipe, worker_name=worker, execution_started_at=started
                )
            pipe.execute()


class _Watcher(threading.Thread):
    """Reads the pieces' states while the step lasts: progress, and a failure elsewhere."""

    def __init__(self, spreader: QueueSpreader, step: _Step, executor: CommandExecutor) -> None:
        super().__init__(name="piece-watcher", daemon=True)
        self.spreader, self.step, self.executor = spreader, step, executor
        self.failure: pieces.PieceFailed | None = None
        self._ended = threading.Event()
        self._finished, self._running = len(step.counted), 0

    def summary(self) -> str:
        return (
            f"{self.step.tool}: {self._finished} of {len(self.step.ids)} {self.step.unit}, "
            f"{self._running} running"
        )

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        self._ended.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._ended.wait(POLL_SECONDS):
            try:
                self._look()
            except REDIS_ERRORS as err:
                log.warning("piece states not read (Redis: %s); trying again", err)

    def _look(self) -> None:
        step, progress = self.step, self.executor.progress
        states = _states(self.spreader.connection, step.ids)
        for index, state in enumerate(states):
            if state == JobStatus.FINISHED.value and index not in step.counted:
                step.counted.add(index)
                progress.command_done()
            if state in ENDED_BADLY and index not in step.own and self.failure is None:
                message = _failure_of(self.spreader.connection, step, index, self.spreader.settings)
                self.failure = pieces.PieceFailed(message)
                self.executor.stop_own_commands()  # this job's own piece ends now too
        self._finished = sum(1 for s in states if s == JobStatus.FINISHED.value)
        self._running = sum(1 for s in states if s == JobStatus.STARTED.value)
        if progress.step != self.summary():
            progress.starting(self.summary())


def _states(connection, ids: list[str]) -> list[str | None]:
    """The RQ states of jobs, in one round trip (None for a job that is gone)."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.key_for(job_id), "status")
        raw = pipe.execute()
    return [value.decode() if isinstance(value, bytes) else value for value in raw]


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
    if state in (JobStatus.STOPPED, JobStatus.CANCELED):
        return f"{name} was stopped from outside this run (e.g. from rq-dashboard). Start the workflow again."
    text = job.exc_info or ""
    if "AbandonedJobError" in text:
        return f"{name}: {worker_lost_message(settings)}"
    last = text.strip().splitlines()[-1] if text.strip() else "it failed"
    return f"{name}: {last}"
