"""``python -m src.jobs.worker``: one RQ worker for the OpenMS workflow queues (see ``launcher``)."""

import sys

from src.jobs.worker.launcher import main

if __name__ == "__main__":
    sys.exit(main())
