"""``python -m src.jobs.worker``: the older spelling of ``python -m src worker``, one RQ worker for
the OpenMS workflow queues (see ``launcher``)."""

from src.jobs.worker.launcher import main

if __name__ == "__main__":
    main()
