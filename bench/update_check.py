"""The 3-file run in the image, with the TOPP tools' check for a newer OpenMS off (the default) and on.

    .venv/bin/python -m bench.update_check [--rounds 5]

Two appliances of the image (``RQ_WORKER_COUNT=1`` each), one as shipped and one with
``OPENMS_DISABLE_UPDATE_CHECK=OFF`` (an operator's own value wins, so its tools ask openms.de for a
newer release as they did before the tools' environment turned the check off). Each runs the
3-file run (the three NZ files, the workflow's defaults) in a new workspace per round, as a new
visitor would: its tools run under a uid of their own with a fresh home folder, so each tool checks
on its first command. The two alternate round by round; the time is the run's own (its status
file, started to ended). This machine has no network, so each check waits for its failure. Both
must give the same consensus table.

Writes bench/results/update-check-<UTC time>.json and bench/UPDATE-CHECK.md (which BENCHMARKS.md
includes). Needs Docker and the image (scripts/build-image.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import time
import uuid

import docker
from bench.containers import IMAGE, SOURCE, START, WORKSPACES, Box, put_files
from bench.harness import NZ_FILES
from bench.suite import Bench, print_header, record_section, write_section

#: Each appliance's environment: as shipped, and with the tools' check on again.
WAYS = {
    "check off (as shipped)": {},
    "check on (OPENMS_DISABLE_UPDATE_CHECK=OFF)": {"OPENMS_DISABLE_UPDATE_CHECK": "OFF"},
}


class UpdateCheckBench:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.rows: list[dict] = []
        self.figures: dict = {}
        self.client = docker.from_env()
        suffix = uuid.uuid4().hex[:8]
        self.boxes: dict[str, Box] = {}
        for n, (way, env) in enumerate(WAYS.items()):
            container = self.client.containers.run(
                IMAGE, name=f"openms-bench-check{n}-{suffix}", detach=True,
                environment={"RQ_WORKER_COUNT": "1", **env},
            )  # fmt: skip
            self.boxes[way] = Box(container)
        for box in self.boxes.values():
            box.wait_healthy()
            put_files(box, NZ_FILES)
        self.count = 0

    row = Bench.row

    def run(self, box: Box) -> tuple[float, int]:
        """A 3-file run in a new workspace: (started to ended by its status file, table lines)."""
        self.count += 1
        ws = f"bench-{self.count}"
        inputs = f"{WORKSPACES}/{ws}/topp-workflow/input-files/mzML-files"
        box.sh(f"mkdir -p {inputs} && ln {SOURCE}/*.mzML {inputs}/", user="openms")
        box.sh(f"cd /app && python -c {shlex.quote(START.format(ws=ws))}", user="openms")
        status_file = f"{WORKSPACES}/{ws}/topp-workflow/run/status.json"
        status: dict = {}
        for _ in range(600):
            status = json.loads(box.sh(f"cat {status_file} 2>/dev/null || echo '{{}}'"))
            if status.get("state") in ("finished", "failed", "cancelled"):
                break
            time.sleep(0.5)
        if status.get("state") != "finished":
            ended = f"{status.get('state')}: {status.get('error')}"
            raise SystemExit(f"benchmark aborted: the run in {ws} ended {ended}")
        table = f"{WORKSPACES}/{ws}/topp-workflow/results/consensus-table/consensus_features.tsv"
        return status["ended_at"] - status["started_at"], int(box.sh(f"wc -l < {table}").strip())

    def measure(self) -> None:
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        tables: set[int] = set()
        for round_ in range(self.rounds):
            order = list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))
            for way in order:
                seconds, lines = self.run(self.boxes[way])
                times[way].append(seconds)
                tables.add(lines)
            print("  round", round_ + 1, ", ".join(f"{w}: {times[w][-1]:.2f} s" for w in WAYS), flush=True)
        off, on = (statistics.median(times[w]) for w in WAYS)
        self.figures = {"times": times, "table_lines": sorted(tables)}
        self.row("3-file run in the image, check off", f"{off:.2f} s", f"check on {on:.2f} s",
                 f"{off / on:.2f}", "faster than with the check", off < on)  # fmt: skip
        self.row("same consensus table both ways", f"{len(tables)} table(s)", f"{sorted(tables)} lines", "",
                 "1", len(tables) == 1)  # fmt: skip

    def close(self) -> None:
        for box in self.boxes.values():
            try:
                box.container.remove(force=True, v=True)
            except docker.errors.APIError as err:
                print(f"cleanup: {err}")


def write_update_check_section(record: dict) -> None:
    intro = [
        "## The tools' check for a newer OpenMS (`python -m bench.update_check`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs, the image; "
        f"{record['rounds']} rounds alternated, a new workspace each run.",
    ]
    write_section("UPDATE-CHECK", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs each way, alternated")
    args = parser.parse_args()
    when = dt.datetime.now(dt.UTC)
    print_header()
    bench = UpdateCheckBench(args.rounds)
    try:
        bench.measure()
    finally:
        bench.close()
    return record_section("update-check", when, bench, write_update_check_section, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
