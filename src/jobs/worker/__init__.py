"""What a worker is and runs: the RQ worker for this app (``launcher``; ``python -m
src.jobs.worker``), the job functions (``tasks``) and the release of a dead scheduler's locks
(``scheduler_locks``).
"""

from src.jobs.worker.launcher import OpenMSWorker, build_worker, connect, main

__all__ = [
    "OpenMSWorker",
    "build_worker",
    "connect",
    "main",
]
