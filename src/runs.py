"""Start, watch and stop a workflow run, through the queue or locally: the app's only entry point.

Online mode with the queue enabled and Redis reachable enqueues an RQ job;
otherwise the run is a local process, and the caller gets a notice saying why.
Status always comes back in one shape (:class:`RunView`) with a
:class:`~src.core.run.state.RunState`. Reading a status never writes anything.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from src.core.errors import ALREADY_ACTIVE, AlreadyRunning, RunRefused, StorageRefused
from src.core.run import RunState, RunStatus, RunView
from src.core.settings import Settings, redact
from src.core.workflow import LocalRunner, WorkflowBase
from src.core.workspace import space as storage
from src.jobs.client import job_status, queue_reading
from src.jobs.client import limits as visitor_limits
from src.jobs.client.enqueue import cancel, enqueue, forget_job, recorded_job_id
from src.jobs.connection import REDIS_ERRORS, reachable
from src.jobs.errors import JobAccessError, StartRefused

log = logging.getLogger(__name__)

#: Online mode's local fallback runs (Redis down), counted per visitor in this process.
_local_runs = visitor_limits.LocalRuns()


def queue_wanted(settings: Settings) -> bool:
    return settings.online_deployment and settings.queue.enabled


def start(workflow: WorkflowBase, visitor: str = "") -> RunView:
    """Start a run; raises RunRefused (nothing started) with a message for the user.

    ``visitor`` is the visitor's address (see ``src/jobs/client/limits.py``); in online mode it may have
    only so many runs waiting or running at once.
    """
    _check_startable(workflow)
    try:
        return _start(workflow, visitor)
    except OSError as err:  # the run's files could not be written (a full disk, a broken volume)
        log.error("could not start a run in %s: %s", workflow.workspace.name, err)
        if storage.is_disk_full(err):
            raise RunRefused(storage.disk_low_message(0, workflow.settings.limits)) from None
        raise RunRefused(f"The run could not be started ({err.strerror}). Try again in a moment.") from None


def _start(workflow: WorkflowBase, visitor: str) -> RunView:
    notice = ""
    if queue_wanted(workflow.settings):
        usable, why = reachable(workflow.settings.queue)
        if usable:
            try:
                return RunView(mode="queue", state=RunState.QUEUED, job_id=enqueue(workflow, visitor=visitor))
            except StartRefused as err:
                raise RunRefused(str(err)) from None
            except REDIS_ERRORS as err:
                why = f"the job queue failed while queueing the run: {err}"
        notice = (
            f"The run started directly on the web server because {why}. It will work, only without a queue."
        )
        log.warning("falling back to a local run for %s: %s", workflow.workspace.name, why)
    return _start_local(workflow, visitor, notice)


def _check_startable(workflow: WorkflowBase) -> None:
    problems = workflow.preflight()
    if problems:
        raise RunRefused(" ".join(problems))
    try:
        storage.check_can_start(
            workflow.workspace, workflow.settings.workspaces_dir, workflow.settings.limits
        )
    except StorageRefused as err:
        raise RunRefused(str(err)) from None
    if status(workflow).active:
        raise RunRefused(ALREADY_ACTIVE)


def _start_local(workflow: WorkflowBase, visitor: str, notice: str) -> RunView:
    limit = workflow.settings.limits.running_runs_per_client
    counted = workflow.settings.online_deployment and visitor
    if counted and (active := _local_runs.active(visitor)) >= limit:
        raise RunRefused(visitor_limits.local_limit_message(active, limit, visitor))
    forget_job(workflow)
    try:
        LocalRunner(workflow).start()
    except AlreadyRunning as err:  # started from another tab a moment ago
        raise RunRefused(f"{err} Wait for it to finish or stop it first.") from None
    if counted:
        _local_runs.add(visitor, workflow)
    return RunView(mode="local", state=RunState.RUNNING, notice=notice)


def _from_disk(status: RunStatus, mode: str, notice: str = "") -> RunView:
    return RunView.of(status, mode=mode, notice=notice)


def status(workflow: WorkflowBase, shared: bool = False) -> RunView:
    """The latest run's status (a queued job's if there is one, else the local run's).

    ``shared``: the queue-wide part comes from this web server's reading of at most a second
    ago (``queue_reading``), so a page that polls costs one Redis round trip of its own.
    """
    job_id = recorded_job_id(workflow)
    if not job_id:
        seen = LocalRunner(workflow).seen_status()
        return _from_disk(seen, "local" if seen.state else "")
    try:
        snapshot = queue_reading.shared(workflow.settings).snapshot() if shared else None
        queued = job_status(workflow, job_id, snapshot)
    except JobAccessError:
        return _from_disk(
            workflow.state.read(),
            "queue",
            "This run's job is no longer in the queue (finished jobs expire); its logs and results "
            "remain. Press 'Start Workflow' to run it again.",
        )
    except REDIS_ERRORS as err:
        url = redact(workflow.settings.queue.redis_url)
        return _from_disk(
            workflow.state.read(),
            "queue",
            f"The job queue ({url}) cannot be reached right now "
            f"({err}). Your job is kept there; this page updates when the queue is back.",
        )
    disk = workflow.state.read()
    # A run that ended says best how: its job may look otherwise if Redis was away as it ended.
    trust_disk = disk.is_final and queued.state.is_final
    return replace(
        queued,
        state=disk.state if trust_disk else queued.state,
        started_at=queued.started_at or disk.started_at,
        error=disk.error if trust_disk else queued.error,
    )


def stop(workflow: WorkflowBase) -> RunView:
    """Cancel a waiting job, stop a running one, or stop the local process."""
    job_id = recorded_job_id(workflow)
    if job_id:
        try:
            cancel(workflow, job_id)
        except REDIS_ERRORS as err:
            raise RunRefused(
                f"The job queue cannot be reached ({err}), so the job could not be stopped. "
                "Try again in a moment."
            ) from None
    else:
        LocalRunner(workflow).stop()
    return status(workflow)
