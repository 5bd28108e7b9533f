"""Python processes' start in the image with the bytecode the image compiles at build time, against
the same image with that bytecode deleted (what the image shipped before), in one run.

    .venv/bin/python -m bench.bytecode [--rounds 9]

Two containers of the image (nothing but ``sleep``; no appliance needed): one as built, one whose
``*.pyc`` files under /opt/venv and /app were deleted when it started. The image keeps
PYTHONDONTWRITEBYTECODE=1, so the second compiles every module it imports from source in every
process, as every process of the appliance did before the build compiled them. Each round times,
in both containers (the side that goes first alternates), a fresh process of:

- the metabolomics table script's start (``consensus_table.py --help``: pyOpenMS, NumPy, Arrow), which
  every run starts as a tool;
- a worker's imports (``src.jobs.worker.tasks``: RQ, Redis, pyOpenMS, the workflows);
- a web server's imports (Streamlit and the app's pages' modules).

Writes bench/results/bytecode-<UTC time>.json and bench/BYTECODE.md (which BENCHMARKS.md includes).
Needs Docker and the image (scripts/build-image.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid

import docker
from bench.containers import IMAGE, Box
from bench.suite import Bench, print_header, record_section, write_section

#: What each round starts, in /app, as the app's user.
PROCESSES = {
    "table script start (pyOpenMS, NumPy, Arrow)": (
        "python src/workflows/metabolomics/consensus_table.py --help"
    ),
    "worker's imports": "python -c 'import src.jobs.worker.tasks'",
    "web server's imports": (
        "python -c 'import streamlit, src.ui.page, src.ui.navigation, src.ui.run_section'"
    ),
}
WAYS = {
    "compiled (as built)": "sleep infinity",
    "bytecode deleted": "find /opt/venv /app -name '*.pyc' -delete && sleep infinity",
}
TIMED = "cd /app && s=$(date +%s%N) && {command} > /dev/null && e=$(date +%s%N) && echo $(( (e - s) / 1000 ))"


class BytecodeBench:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.rows: list[dict] = []
        self.figures: dict = {}
        client = docker.from_env()
        suffix = uuid.uuid4().hex[:8]
        self.boxes: dict[str, Box] = {}
        for n, (way, command) in enumerate(WAYS.items()):
            container = client.containers.run(
                IMAGE, ["sh", "-c", command], entrypoint=[], name=f"openms-bench-bytecode{n}-{suffix}",
                detach=True, user="root",
            )  # fmt: skip
            self.boxes[way] = Box(container)
        # The deleting container is ready when its *.pyc are gone.
        stripped = self.boxes["bytecode deleted"]
        deadline = time.monotonic() + 120
        while self.count_pyc(stripped):
            if time.monotonic() > deadline:
                raise SystemExit("benchmark aborted: the bytecode was not deleted within 2 minutes")
            time.sleep(0.5)

    row = Bench.row

    @staticmethod
    def count_pyc(box: Box) -> int:
        return int(box.sh("find /opt/venv /app -name '*.pyc' | wc -l").strip())

    def seconds(self, box: Box, command: str) -> float:
        return int(box.sh(TIMED.format(command=command), user="openms").strip()) / 1e6

    def measure(self) -> None:
        times = {name: {way: [] for way in WAYS} for name in PROCESSES}
        for round_ in range(self.rounds):
            order = list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))
            for name, command in PROCESSES.items():
                for way in order:
                    times[name][way].append(self.seconds(self.boxes[way], command))
            print(f"  round {round_ + 1} of {self.rounds}", flush=True)
        built = self.boxes["compiled (as built)"]
        sizes = built.sh("find /opt/venv /app -name '*.pyc' -printf '%s\\n'")
        size = sum(int(line) for line in sizes.split())
        self.figures = {"times": times, "pyc_files": self.count_pyc(built), "pyc_bytes": size}
        for name in PROCESSES:
            compiled, deleted = (statistics.median(times[name][way]) for way in WAYS)
            self.row(f"{name}, median", f"{compiled:.2f} s", f"bytecode deleted {deleted:.2f} s",
                     f"{compiled / deleted:.2f}", "faster than without", compiled < deleted)  # fmt: skip
        self.row("bytecode in the image", f"{size / 2**20:.0f} MiB", f"{self.figures['pyc_files']} files")

    def close(self) -> None:
        for box in self.boxes.values():
            try:
                box.container.remove(force=True)
            except docker.errors.APIError as err:
                print(f"cleanup: {err}")


def write_bytecode_section(record: dict) -> None:
    intro = [
        "## Python processes' start in the image (`python -m bench.bytecode`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs, the image as built against "
        f"the same image with its bytecode deleted; {record['rounds']} rounds alternated, a fresh "
        "process each time.",
    ]
    write_section("BYTECODE", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="starts of each process each way, alternated")
    args = parser.parse_args()
    when = dt.datetime.now(dt.UTC)
    print_header()
    bench = BytecodeBench(args.rounds)
    try:
        bench.measure()
    finally:
        bench.close()
    return record_section("bytecode", when, bench, write_bytecode_section, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
