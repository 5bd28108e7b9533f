"""A study at the machine's limit: the same study by hand with the best thread counts and through the
queue with 1 and 2 workers, for 12, 31 and 100 files, in one process.

    .venv/bin/python -m bench.limit [--sizes 12,31,100] [--full]

The study: the 12 real runs of ``../shared/data/mzML`` (the three NZ files and ``study/``), repeated
under new names up to N, with FeatureFinderMetabo's defaults and the workflow's defaults (alignment
on). For each size, on one redis-server with the project's workers:

(c) through the queue with 2 workers (``RQ_WORKER_COUNT=2``: a core each; the steps that stay one
    command borrow the idle worker, docs/queue.md);
(a) by hand, the machine's limit: the very commands (c) ran, read from its commands log, run
    directly: each per-file step one file per core at a time with ``-threads 1``, each step that stays
    one command with ``-threads`` = the cores (MapAlignerPoseClustering 1, as it must), the table
    script as it is;
(b) through the queue with 1 worker and ``MAX_THREADS=1`` (one core: "1 worker" as the issue
    measured it) and (b2) with 1 worker and the default threads (``RQ_WORKER_COUNT=1``: every core);
    by default only for sizes up to 31 (``--full``: every size).

Prints a table, writes bench/results/limit-<UTC time>.json and bench/LIMIT.md (which BENCHMARKS.md
includes). Nothing passes or fails here: targets stand next to the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from pathlib import Path

from bench.harness import DATA
from bench.spreading import STUDY, SpreadBench
from bench.suite import print_header, record_section, write_section
from src.core.run import read_log
from src.core.settings import host_cores

#: Steps that stay one command and must keep one thread (see SINGLE_THREADED_TOOLS).
ONE_THREAD = {"MapAlignerPoseClustering"}


def study_names(count: int) -> list[tuple[Path, str]]:
    """``count`` runs as (real file, name): the 12 real ones, then the same again under new names."""
    named = []
    for index in range(count):
        source, copy = STUDY[index % len(STUDY)], index // len(STUDY)
        named.append((source, source.name if copy == 0 else f"{source.stem}-copy{copy}.mzML"))
    return named


def study_files(folder: Path, count: int) -> list[Path]:
    """``count`` runs (``study_names``) as links to the real ones in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for source, name in study_names(count):
        link = folder / name
        if not link.exists():
            link.symlink_to(source)
        files.append(link)
    return files


def ran_commands(workflow) -> list[list[str]]:
    """The commands a run ran, in order, from its commands log."""
    log = read_log(workflow.logger.log_dir, "commands")
    return [shlex.split(line.split("Running: ", 1)[1]) for line in log.splitlines() if "Running: " in line]


def by_hand(commands: list[list[str]], cores: int) -> float:
    """Seconds to run ``commands`` directly at the machine's limit: consecutive commands of one
    program are a per-file step (one per core at a time, ``-threads 1``), a program alone gets
    ``-threads`` = the cores."""
    start = time.monotonic()
    for _, group in groupby(commands, key=lambda c: c[0] if Path(c[0]).name != "python" else c[1]):
        step = list(group)
        tool = Path(step[0][0]).name
        if len(step) > 1:
            with ThreadPoolExecutor(max_workers=cores) as pool:
                list(pool.map(lambda c: run(with_threads(c, 1)), step))
        else:
            run(with_threads(step[0], 1 if tool in ONE_THREAD else cores))
    return time.monotonic() - start


def with_threads(command: list[str], threads: int) -> list[str]:
    if "-threads" not in command:
        return command
    at = command.index("-threads")
    return [*command[: at + 1], str(threads), *command[at + 2 :]]


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


class LimitBench(SpreadBench):
    def size(self, count: int, full: bool) -> None:
        files = study_files(self.root / f"study-{count}", count)
        cores = host_cores()
        figures: dict[str, float] = {}

        pool = self.pool(2, RQ_WORKER_COUNT="2", MAX_THREADS="")
        figures["queue_2_workers"], queued = self.study_run(files)
        pool.stop()
        log = read_log(queued.logger.log_dir, "commands")
        lent = [line.split("] ", 1)[1] for line in log.splitlines() if " lent)" in line]
        figures["by_hand"] = by_hand(ran_commands(queued), cores)
        if full or count <= 31:
            pool = self.pool(1, RQ_WORKER_COUNT="1", MAX_THREADS="1")
            figures["queue_1_worker_1_thread"], _ = self.study_run(files)
            pool.stop()
            pool = self.pool(1, RQ_WORKER_COUNT="1", MAX_THREADS="")
            figures["queue_1_worker_all_cores"], _ = self.study_run(files)
            pool.stop()
        self.figures[f"study_{count}"] = {**figures, "cores": cores, "lone_steps": lent}

        limit, two = figures["by_hand"], figures["queue_2_workers"]
        name = f"{count}-file study"
        self.row(f"{name} by hand (the limit)", f"{limit:.1f} s", f"{cores} cores")
        self.row(f"{name}, 2 workers", f"{two:.1f} s", f"limit {limit:.1f} s", f"{two / limit:.2f}",
                 "<= 1.1 x limit", two / limit <= 1.1)  # fmt: skip
        if "queue_1_worker_1_thread" in figures:
            one, every = figures["queue_1_worker_1_thread"], figures["queue_1_worker_all_cores"]
            self.row(f"{name}, 2 workers vs 1 of one core", f"{two:.1f} s", f"1 worker {one:.1f} s",
                     f"{two / one:.2f}", "<= 0.6 x 1 worker", two / one <= 0.6)  # fmt: skip
            self.row(f"{name}, 1 worker, every core", f"{every:.1f} s", f"limit {limit:.1f} s",
                     f"{every / limit:.2f}", "<= 1.1 x limit", every / limit <= 1.1)  # fmt: skip

    def growth(self, sizes: list[int]) -> None:
        """Per-file time of the largest study against the 12-file one (2 workers)."""
        small, large = min(sizes), max(sizes)
        if small == large:
            return
        per_small = self.figures[f"study_{small}"]["queue_2_workers"] / small
        per_large = self.figures[f"study_{large}"]["queue_2_workers"] / large
        ratio = per_large / per_small
        self.row(f"per file at {large} vs {small} files, 2 workers", f"{per_large:.2f} s",
                 f"at {small}: {per_small:.2f} s", f"{ratio:.2f}", "<= 1.1", ratio <= 1.1)  # fmt: skip


def write_limit_section(record: dict) -> None:
    intro = [
        "## A study at the machine's limit (`python -m bench.limit`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs; the 12 real runs of",
        "`../shared/data/mzML` repeated under new names up to each size, FeatureFinderMetabo's and the",
        "workflow's defaults (alignment on); the limit is the same commands run by hand in the same run.",
    ]
    write_section("LIMIT", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,31,100", help="study sizes, comma-separated")
    parser.add_argument("--full", action="store_true", help="1-worker runs at every size, not only up to 31")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(STUDY) != 12:
        raise SystemExit(f"the 12-run study is expected in {DATA} (three NZ files and study/)")
    when = dt.datetime.now(dt.UTC)
    bench = LimitBench(False)
    print_header()
    try:
        for count in sizes:
            bench.size(count, args.full)
        bench.growth(sizes)
    finally:
        bench.close()
    return record_section("limit", when, bench, write_limit_section)


if __name__ == "__main__":
    sys.exit(main())
