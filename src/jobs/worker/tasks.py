"""Job functions run by RQ workers. They take plain data only and never import Streamlit.

``run_workflow`` builds the workflow with its normal constructor and runs it
through the same ``WorkflowBase.run()`` as local mode, so logs and results are
identical; progress also goes to the job's meta for the queue status.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rq import get_current_job
from rq.job import Job

from src.core.errors import DISK_FULL_MESSAGE, CommandFailed, DiskFull
from src.core.execution import CommandExecutor, die_with_parent
from src.core.run import COMMANDS, Progress, RunState
from src.core.settings import load_settings
from src.jobs import pieces, reconcile, run_events
from src.jobs.client import recorded_job_id
from src.jobs.connection import REDIS_ERRORS
from src.jobs.errors import PieceFailed, WorkflowFailed
from src.jobs.job_model import workflow_of
from src.jobs.worker.spreading import QueueSpreader
from src.workflows import build as build_workflow

log = logging.getLogger(__name__)


class _JobProgress:
    """Mirrors workflow progress into job.meta (written only when it changes).

    The meta is for the Run page only: a write that meets a Redis blip is logged and
    made up by the next one (the latest progress is always what gets written), and
    never fails the run. The run's own outcome decides its state.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.last: tuple[float | None, str] | None = None
        self.behind = False

    def __call__(self, fraction: float | None, step: str) -> None:
        if (fraction, step) == self.last and not self.behind:
            return
        self.last = (fraction, step)
        self.job.meta.update(progress=fraction, step=step)
        self.behind = not save_meta(self.job)


def save_meta(job: Job) -> bool:
    """Write the job's meta; False (and a log line) if Redis cannot take it right now."""
    try:
        job.save_meta()
        return True
    except REDIS_ERRORS as err:
        log.warning("progress of job %s not saved (Redis: %s); the next update catches up", job.id, err)
        return False


def check_workspace(workspace: str, root: Path) -> Path:
    path = Path(workspace).resolve()
    if path.parent != root.resolve():
        raise ValueError(f"workspace {workspace} is not inside the workspaces directory {root}")
    return path


def run_workflow(ref: str, workspace: str) -> dict:
    """Run one workflow in one workspace; raise WorkflowFailed if the run fails."""
    die_with_parent()
    job = get_current_job()
    settings = load_settings()
    workflow = build_workflow(ref, str(check_workspace(workspace, settings.workspaces_dir)), settings)
    note = _retry_note(job, settings.queue.retries)
    if job is not None and _finished_before(workflow, job):
        log.warning("job %s had finished before its end could be recorded; it is not run again", job.id)
        return {"outcome": RunState.FINISHED.value, "seconds": 0.0}
    keep_results = False
    if job is not None and settings.queue.spread:
        workflow.executor.spreader = QueueSpreader(job, workflow, settings)
        workflow.executor.piece_threads = settings.queue.threads_per_piece
        keep_results = bool(note) and bool(pieces.of_run(job.connection, job.id))  # a retry
    if job is not None:
        workflow.progress.subscribe(_JobProgress(job))
        # RQ forgets a job's worker once it ends; keep it for the status and the admin. The step
        # moves on from "Queued" at once, so a running job never shows a queued step.
        job.meta.update(worker=job.worker_name or "", step="Starting", progress=0.0)
        save_meta(job)
        note = "\n".join(filter(None, [f"Running on worker {job.worker_name}", note]))
        run_events.started(job.id, job.worker_name or "", _attempt(job, settings.queue.retries))
    started = time.monotonic()
    try:
        outcome = workflow.run(note=note, keep_results=keep_results)
    finally:
        if job is not None:
            _leave_order(settings, job)
    duration = round(time.monotonic() - started, 3)
    if job is not None:
        reconcile.record_end(job.connection, workflow.id, job.id, outcome.value, duration)
    if outcome is RunState.FAILED:
        if job is not None:
            job.retries_left = 0  # a run that failed on its own would fail again: no retry
        raise WorkflowFailed(workflow.last_error or "The workflow failed.")
    return {"outcome": outcome.value, "seconds": duration}


def _leave_order(settings, job: Job) -> None:
    """The run ended: its visitor's share is free for a held run, and no piece of it goes on."""
    try:
        pieces.end_run(settings, job.connection, job.id)
    except REDIS_ERRORS as err:  # every worker's maintenance pass finds it later
        log.warning("run %s could not leave the scheduler's order (Redis: %s)", job.id, err)


def run_piece(
    ref: str,
    workspace: str,
    run_id: str,
    command: list[str],
    label: str,
    subject: str,
    index: int,
    total: int,
) -> dict:
    """One piece of a run's step (``src/jobs/pieces.py``) on whichever worker took it."""
    die_with_parent()
    job = get_current_job()
    settings = load_settings()
    workflow = build_workflow(ref, str(check_workspace(workspace, settings.workspaces_dir)), settings)
    if recorded_job_id(workflow) != run_id or workflow.state.read().is_final:
        log.info("piece %s not run: its run has ended", job.id if job else label)
        return {"outcome": "skipped", "why": "its run had ended"}
    name = pieces.piece_name(Path(command[0]).name, subject, index, total)
    worker = job.worker_name if job is not None else "this process"
    workflow.logger.log(f"{name}: on worker {worker}", COMMANDS)
    executor = CommandExecutor(
        workflow.logger,
        workflow.params,
        Progress(),
        1,
        workflow.executor.memory_limit,
        workflow.executor.fence,
    )
    started = time.monotonic()
    try:
        executor.run_command(command, label, subject=subject)
    except CommandFailed as err:
        message = str(err)
    except DiskFull:
        message = DISK_FULL_MESSAGE
    else:
        return {"outcome": RunState.FINISHED.value, "seconds": round(time.monotonic() - started, 3)}
    if job is not None:
        job.meta["error"] = message
        save_meta(job)
        job.retries_left = 0  # the tool failed on its own: it would fail again
    raise PieceFailed(message)


def _finished_before(workflow, job: Job) -> bool:
    """True if this job's run already finished: an attempt whose end Redis did not take (it was
    restarting at that moment) and that RQ therefore retries as lost. Its results stay as they are.

    The workspace marks its run queued when the job is enqueued (``client/enqueue.mark_queued``) and records
    the job's id, so a finished run under this job's id can only be this job's own."""
    return recorded_job_id(workflow) == job.id and workflow.state.read().state is RunState.FINISHED


def _attempt(job: Job, configured: int) -> int:
    """1 for a job's first attempt, 2 for its first retry, ..."""
    left = configured if job.retries_left is None else job.retries_left
    return configured - left + 1


def _retry_note(job: Job | None, configured: int) -> str:
    if job is None or job.retries_left is None or job.retries_left >= configured:
        return ""
    return (
        f"Retry {configured - job.retries_left} of {configured}: the worker of the previous attempt was lost."
    )


def on_job_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback. Only a lost worker needs action: the run itself could not say so."""
    if exc_type is None or exc_type.__name__ != "AbandonedJobError":
        return
    reconcile.lost_run(workflow_of(job), job)


def on_job_stopped(job: Job, connection) -> None:
    """RQ stopped callback (runs in the worker after the horse was killed): end the logs as
    cancelled, and every piece of the run with them."""
    workflow = workflow_of(job)  # a run's own job: pieces have callbacks of their own
    if not reconcile.end(workflow, job, RunState.CANCELLED):
        _leave_order(workflow.settings, job)  # ended by another caller: only make sure it left the order
