"""What the pages call: queue a run and stop it (``enqueue``), read its status (``status``, with the
run times of ``src/jobs/telemetry/durations``), the shared reading of the queue
(``queue_reading``) and the runs per visitor (``limits``).
"""

from src.jobs.client import enqueue, limits, queue_reading, view_index
from src.jobs.client.enqueue import recorded_job_id
from src.jobs.client.limits import visitor_key
from src.jobs.client.status import failure_message, job_status
from src.jobs.errors import JobAccessError, QueueError, StartRefused

__all__ = [
    "JobAccessError",
    "QueueError",
    "StartRefused",
    "queue_reading",
    "visitor_key",
    "enqueue",
    "failure_message",
    "job_status",
    "limits",
    "recorded_job_id",
    "view_index",
]
