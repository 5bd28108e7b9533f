"""N simulated browsers polling one workflow's status once a second (the Run page's rate).

python -m bench.pollers WORKSPACE COUNT SECONDS
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from src import runs
from src.core.settings import load_settings
from src.workflows.metabolomics import MetabolomicsWorkflow


def main(workspace: str, count: int, seconds: float) -> int:
    workflow = MetabolomicsWorkflow(Path(workspace), load_settings())
    stop = time.monotonic() + seconds
    polls = [0] * count

    def poll(index: int) -> None:
        time.sleep(index / count)  # spread the pollers over the second, like real visitors
        while time.monotonic() < stop:
            runs.status(workflow)
            polls[index] += 1
            time.sleep(1.0)

    threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(polls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
