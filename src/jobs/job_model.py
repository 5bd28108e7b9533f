"""What a job of this app is: the run it stands for (its meta and arguments) and what RQ's states
mean for that run. The one place where RQ's job and the app's run meet."""

from __future__ import annotations

from redis import Redis
from rq import Retry
from rq.group import Group
from rq.job import Job, JobStatus

from src.core.layout import WorkflowLayout
from src.core.run import RunState, RunStateStore, RunStatus
from src.core.settings import Settings, load_settings
from src.core.workflow import WorkflowBase
from src.workflows import build as build_workflow

#: What each RQ state means for the run.
RUN_STATE_OF = {
    JobStatus.CREATED: RunState.QUEUED,
    JobStatus.QUEUED: RunState.QUEUED,
    JobStatus.SCHEDULED: RunState.QUEUED,  # a retry waiting for its interval
    JobStatus.DEFERRED: RunState.QUEUED,
    JobStatus.STARTED: RunState.RUNNING,
    JobStatus.FINISHED: RunState.FINISHED,
    JobStatus.FAILED: RunState.FAILED,
    JobStatus.STOPPED: RunState.CANCELLED,  # stopped while running
    JobStatus.CANCELED: RunState.CANCELLED,  # cancelled while waiting
}
#: RQ states in which a job still holds its workflow's single active slot.
ACTIVE_JOB_STATES = frozenset(s for s, run in RUN_STATE_OF.items() if run.is_active)
#: RQ states in which a job waits for a worker.
WAITING_JOB_STATES = frozenset(s for s, run in RUN_STATE_OF.items() if run is RunState.QUEUED)
#: RQ states after which a job does not run again (unless an admin requeues it).
ENDED_JOB_STATES = frozenset(s for s, run in RUN_STATE_OF.items() if run.is_final)
#: The same as the texts RQ keeps in its job hash, less FINISHED: a piece in one of these (or gone:
#: None) ends its step and its run as failed (``worker/spreading.py``).
ENDED_BADLY = frozenset({*(s.value for s in ENDED_JOB_STATES if s != JobStatus.FINISHED), None})

#: A job's meta: the workspace (its folder) and the workflow (its id) of the run.
META_WORKSPACE, META_WORKFLOW = "workspace", "workflow"
#: A piece's meta: the id of its run's own job (``src/jobs/pieces.py``).
META_RUN = "run"
#: A job that is no run at all says what it is: the raw data viewer's index of a file
#: (``src/jobs/client/view_index.py``), on a queue of its own (:func:`view_queue_name`).
META_KIND, VIEW_INDEX = "kind", "view-index"


def run_group(connection: Redis, run_id: str) -> Group:
    """The RQ group of a run's pieces, named by the run: a piece's ``group_id`` is its run's id."""
    return Group(connection, name=run_id)


def is_piece(job: Job) -> bool:
    """A piece of a run's step, not a run's own job: its end is not the run's end."""
    return bool(job.meta.get(META_RUN))


def is_run(job: Job) -> bool:
    """A run's own job: its end is a run's end (not a piece's, not a viewer index's)."""
    return not is_piece(job) and job.meta.get(META_KIND) != VIEW_INDEX


def view_queue_name(settings: Settings) -> str:
    """The queue of the viewer's index jobs, which every worker takes first (they are short and a
    scientist waits at the page): ``openms-normal`` gives ``openms-view``."""
    return settings.queue.queue_names["normal"].removesuffix("-normal") + "-view"


def retry_policy(settings: Settings) -> Retry | None:
    """How often a run's job or a piece is tried again when its worker is lost (never: None)."""
    if settings.queue.retries <= 0:
        return None
    return Retry(max=settings.queue.retries, interval=list(settings.queue.retry_intervals) or 0)


def run_state_of(status: JobStatus) -> RunState:
    return RUN_STATE_OF[status]


def workflow_of(job: Job, settings: Settings | None = None) -> WorkflowBase:
    """The workflow a job runs, built from the job's plain-data arguments."""
    ref, workspace = job.args[:2]  # a piece's arguments go on with what it runs
    return build_workflow(ref, workspace, settings or load_settings())


def recorded_status(job: Job) -> RunStatus | None:
    """What the job's workspace says of its run, read from the folder the job's meta names
    (None for a job whose meta names none); no workflow object is built for it."""
    workspace, workflow_id = job.meta.get(META_WORKSPACE), job.meta.get(META_WORKFLOW)
    if not workspace or not workflow_id:
        return None
    return RunStateStore(WorkflowLayout.of(workspace, workflow_id).run).read()
