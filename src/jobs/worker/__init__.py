"""What a worker is and runs: the RQ worker for this app (``launcher``; ``python -m
src.jobs.worker``), the job functions (``tasks``), a step spread over every worker (``spreading``)
and the viewer's index jobs (``view_index``).
"""

from src.jobs.worker.launcher import OpenMSWorker, build_worker, connect, main

__all__ = [
    "OpenMSWorker",
    "build_worker",
    "connect",
    "main",
]
