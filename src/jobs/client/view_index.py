"""The raw data viewer's side of the queue: have a file's index built once, whoever looks.

The first look at a file queues one job (``src/jobs/worker/view_index.py``) on the viewer's queue,
which every worker takes before runs; every later look, by any session, finds that job through a
key in Redis named after the file's index folder (a digest: no workspace is named there) and
shows its place, its progress or its end. A visitor has at most
``limits.view_indexes_per_client`` indexes queued or building at once; the index counts against
the workspace's quota, so a file whose index would not fit is refused before anything is queued.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from src.core.run import RunState
from src.core.settings import Settings
from src.core.viewer import store
from src.core.workspace.space import check_quota
from src.jobs.client import limits as visitor_limits
from src.jobs.client.enqueue import new_job_id
from src.jobs.connection import get_connection
from src.jobs.errors import ViewRefused
from src.jobs.job_model import (
    ENDED_JOB_STATES,
    META_KIND,
    META_WORKSPACE,
    RUN_STATE_OF,
    VIEW_INDEX,
    view_queue_name,
)

log = logging.getLogger(__name__)

TASK = "src.jobs.worker.view_index.build_view_index"
_FILE_KEY, _VISITOR_KEY = "openms:view:file:", "openms:view:client:"
#: A file's index may take about half the file's size (float32 peaks; the file holds them
#: base64-encoded, mostly as 64-bit numbers): what the quota must have room for before it starts.
INDEX_SHARE = 0.5


def _file_key(folder: Path) -> str:
    return _FILE_KEY + hashlib.sha256(str(folder).encode()).hexdigest()[:32]


def _job_of(connection: Redis, folder: Path) -> Job | None:
    raw = connection.get(_file_key(folder))
    if not raw:
        return None
    try:
        return Job.fetch(raw.decode(), connection=connection)
    except NoSuchJobError:
        return None


def state(settings: Settings, workspace: Path, mzml: Path) -> store.IndexState:
    """Where the file's index stands: complete, queued (with the jobs ahead), building, failed."""
    folder = store.index_folder(workspace, mzml)
    if store.is_current(folder, mzml):
        return store.IndexState(store.Index.READY, 1.0)
    connection = get_connection(settings.queue)
    job = _job_of(connection, folder)
    status = RUN_STATE_OF.get(job.get_status()) if job is not None else None  # RQ's states mapped once
    if status is RunState.QUEUED:
        queue = Queue(view_queue_name(settings), connection=connection)
        position = queue.get_job_position(job.id)
        return store.IndexState(store.Index.WAITING, ahead=position or 0)
    if status is RunState.RUNNING:
        return store.IndexState(store.Index.BUILDING, store.fraction_done(folder))
    if status is RunState.CANCELLED:
        return store.IndexState(store.Index.BROKEN, message="Building the index was stopped. Try again.")
    if status is RunState.FAILED and not store.failure(folder):
        return store.IndexState(store.Index.BROKEN, message=_lost(job))
    return store.state_on_disk(folder, mzml)


def _lost(job: Job) -> str:
    return (
        "The worker building this file's index was lost (it ran out of memory or was restarted). "
        "Try again; a file too large for this server's memory cannot be looked at here."
    )


def request(settings: Settings, workspace: Path, mzml: Path, visitor: str) -> store.IndexState:
    """Queue the file's index unless it is complete, waiting or building; return its state.
    Raises ViewRefused (the visitor's share is taken) or StorageRefused (it would not fit)."""
    now = state(settings, workspace, mzml)
    if now.kind != store.Index.NONE:
        return now  # a failed build is tried again only when the visitor asks (:func:`forget`)
    check_quota(workspace, settings.limits, int(mzml.stat().st_size * INDEX_SHARE))
    connection = get_connection(settings.queue)
    mine = _VISITOR_KEY + (visitor_limits.visitor_key(visitor) if visitor else "code")
    _check_share(connection, mine, settings.limits.view_indexes_per_client)
    folder = store.index_folder(workspace, mzml)
    job_id = new_job_id()
    keep = settings.queue.job_timeout + 60
    if not connection.set(_file_key(folder), job_id, nx=True, ex=keep):
        old = _job_of(connection, folder)
        if old is not None and old.get_status() not in ENDED_JOB_STATES:
            return state(settings, workspace, mzml)  # another session queued it a moment ago
        connection.set(_file_key(folder), job_id, ex=keep)
    (folder / store.FAILED).unlink(missing_ok=True)
    _enqueue(settings, connection, workspace, mzml, job_id)
    connection.sadd(mine, job_id)
    connection.expire(mine, keep)
    log.info("queued the view index of a file as job %s", job_id)
    return store.IndexState(store.Index.WAITING)


def forget(settings: Settings, workspace: Path, mzml: Path) -> None:
    """Forget a failed build of the file, so that the next look queues a new one."""
    folder = store.index_folder(workspace, mzml)
    (folder / store.FAILED).unlink(missing_ok=True)
    get_connection(settings.queue).delete(_file_key(folder))


def _check_share(connection: Redis, key: str, limit: int) -> None:
    ids = [raw.decode() for raw in connection.smembers(key)]
    jobs = Job.fetch_many(ids, connection=connection)
    gone = [job is None or job.get_status() in ENDED_JOB_STATES for job in jobs]
    ended = [i for i, over in zip(ids, gone, strict=True) if over]
    if ended:
        connection.srem(key, *ended)
    if len(ids) - len(ended) >= limit:
        raise ViewRefused(
            f"The indexes of {limit} of your files are being built; this file's index is queued as "
            "soon as one of them is done. Keep this page open, or look at one of those files."
        )


def _enqueue(settings: Settings, connection: Redis, workspace: Path, mzml: Path, job_id: str) -> Job:
    queue = Queue(view_queue_name(settings), connection=connection)
    return queue.enqueue(
        TASK,
        args=(str(workspace), str(mzml.relative_to(workspace))),
        job_id=job_id,
        description="Raw data viewer: index of a file",
        job_timeout=settings.queue.job_timeout,
        result_ttl=settings.queue.result_ttl,
        failure_ttl=settings.queue.failure_ttl,
        meta={META_KIND: VIEW_INDEX, META_WORKSPACE: str(workspace), "progress": 0.0},
    )
