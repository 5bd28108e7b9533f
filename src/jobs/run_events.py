"""One log line per run event, for an operator's search: a run queued, started, ended (with its
outcome and duration). They name the job and the worker, never a workspace, a file or a client
address: the job id leads to the rest for an administrator (the admin page, rq-dashboard).

Logged at INFO by the logger ``openms.runs``; with ``LOG_FORMAT=json`` every field is a key of the
line's JSON object (``src/core/process_log.py``).
"""

from __future__ import annotations

import logging

from rq.job import JobStatus

from src.core.run import RunState

log = logging.getLogger("openms.runs")
#: The events' names: the state the run (its RQ job) enters, and its end.
QUEUED, STARTED, ENDED = RunState.QUEUED.value, JobStatus.STARTED.value, "ended"


def queued(job_id: str, priority: str) -> None:
    log.info(
        "run %s queued (%s)",
        job_id,
        priority,
        extra={"event": QUEUED, "job_id": job_id, "priority": priority},
    )


def started(job_id: str, worker: str, attempt: int) -> None:
    log.info(
        "run %s started on worker %s (attempt %d)",
        job_id,
        worker,
        attempt,
        extra={"event": STARTED, "job_id": job_id, "worker": worker, "attempt": attempt},
    )


def ended(job_id: str, outcome: str, seconds: float | None) -> None:
    took = f" after {seconds:.1f} s" if seconds is not None else ""
    log.info(
        "run %s ended %s%s",
        job_id,
        outcome,
        took,
        extra={"event": ENDED, "job_id": job_id, "outcome": outcome, "seconds": seconds},
    )
