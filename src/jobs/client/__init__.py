"""What the pages call: queue a run and stop it (``enqueue``), read its status (``status``, with the
run times of ``durations``), the shared reading of the queue (``queue_reading``) and the runs per client
(``limits``).
"""

from src.jobs.client import durations, enqueue, limits, queue_reading, view_index
from src.jobs.client.durations import record_duration
from src.jobs.client.enqueue import (
    JobAccessError,
    QueueError,
    StartRefused,
    recorded_job_id,
)
from src.jobs.client.limits import client_key
from src.jobs.client.status import QueueStatus, failure_message, job_status

__all__ = [
    "JobAccessError",
    "QueueError",
    "QueueStatus",
    "StartRefused",
    "queue_reading",
    "client_key",
    "durations",
    "enqueue",
    "failure_message",
    "job_status",
    "limits",
    "record_duration",
    "recorded_job_id",
    "view_index",
]
