"""The job functions by the import path jobs queued before the packages existed name them.

RQ stores a job's function and callbacks as import paths (``src.jobs.tasks.run_workflow``), so
jobs queued by an earlier version, still waiting in Redis when the image is upgraded, look for
them here. They live in ``src.jobs.worker.tasks``; new jobs name that path.
"""

from src.jobs.worker.tasks import on_job_failure, on_job_stopped, run_workflow

__all__ = ["on_job_failure", "on_job_stopped", "run_workflow"]
