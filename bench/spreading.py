"""Benchmarks of the scheduler and of spreading a study over the workers, each figure next to its
baseline from the same run.

    .venv/bin/python -m bench.spreading [--quick]

Real redis-server, real project workers, the real TOPP tools on the 12-run study
(``../shared/data/mzML``: the three NZ files and ``study/``) with FeatureFinderMetabo's defaults.
Prints a table, writes bench/results/spreading-<UTC time>.json and bench/SPREADING.md (which
BENCHMARKS.md includes). Nothing passes or fails here: targets stand next to the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

from rq.job import Job

from bench import harness
from bench.harness import DATA, median
from bench.suite import Bench, print_header, record_section, write_section
from src import runs
from src.core.run import read_log
from src.jobs import pieces
from src.workflows.metabolomics.demo_data import generate_runs

STUDY = sorted(DATA.glob("NZ_20200227_*.mzML")) + sorted((DATA / "study").glob("*.mzML"))
ONE_FILE = STUDY[:1]
#: queue/direct of the same 1-file run with the code before spreading (fab68de), paired and
#: interleaved with this code's on the same machine (bench/SPREADING-NOTES.md).
BEFORE_ONE_FILE_RATIO = 1.11


class SpreadBench(Bench):
    def pool(self, count: int, **env: str) -> harness.Workers:
        pool = harness.Workers({**self.env, **env})
        pool.start_project(count, self.redis.client)
        return pool

    def study_run(self, files: list[Path], visitor: str = "", noise: bool = False) -> tuple[float, object]:
        """(start to end by the run's own status file, the workflow); FeatureFinderMetabo's defaults
        unless ``noise``, as the study was measured."""
        workflow = self.workflow(self.online, files, noise=noise)
        start = time.time()
        runs.start(workflow, visitor=visitor)
        self.wait_final(workflow, interval=0.2)
        return workflow.state.read().ended_at - start, workflow

    # ---- 1. the study on 1 and 2 workers, and as one job -----------------------------------------
    def study(self) -> None:
        reps = 1 if self.quick else 2
        times: dict[str, list[float]] = {
            "one job, 1 worker": [],
            "spread, 1 worker": [],
            "spread, 2 workers": [],
        }
        settings = {
            "one job, 1 worker": (1, "false"),
            "spread, 1 worker": (1, "true"),
            "spread, 2 workers": (2, "true"),
        }
        for _ in range(reps):
            for name, (count, spread) in settings.items():
                pool = self.pool(count, QUEUE_SPREAD=spread)
                seconds, _ = self.study_run(STUDY)
                times[name].append(seconds)
                pool.stop()
        self.figures["study_12_s"] = times
        one, spread1, spread2 = (median(times[n]) for n in settings)
        self.row("12-file study, 2 workers", f"{spread2:.1f} s", f"1 worker {spread1:.1f} s",
                 f"{spread2 / spread1:.2f}", "<= 0.6 x 1 worker", spread2 / spread1 <= 0.6)  # fmt: skip
        self.row("12-file study, 1 worker, spread", f"{spread1:.1f} s", f"one job {one:.1f} s",
                 f"{spread1 / one:.2f}", "<= 1.05 x one job", spread1 / one <= 1.05)  # fmt: skip

    # ---- 2. what a piece costs -------------------------------------------------------------------
    def piece_overhead(self) -> None:
        folder = self.root / "tiny-study"
        generate_runs(folder, 24, n_spectra=60)
        pool = self.pool(2)
        _, workflow = self.study_run(sorted(folder.glob("*.mzML")), noise=True)
        pool.stop()
        run_id = json.loads((workflow.layout.job).read_text())["job_id"]
        tool_seconds = {
            int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"FeatureFinderMetabo \((\d+)/24\) finished in ([\d.]+) s",
                                 read_log(workflow.logger.log_dir, "commands"))
        }  # fmt: skip
        costs = []
        for job in Job.fetch_many(pieces.of_run(self.redis.client, run_id), connection=self.redis.client):
            if job is None or job.meta.get(pieces.META_IN_RUN_JOB) or not job.enqueued_at:
                continue  # a piece run in the run's own job has no dispatch or fork
            index = int(job.id.rsplit("-", 1)[1])
            dispatch = (job.started_at - job.enqueued_at).total_seconds()
            busy = (job.ended_at - job.started_at).total_seconds()
            costs.append(dispatch + busy - tool_seconds.get(index, busy))
        self.figures["piece_overhead_s"] = costs
        cost = median(costs) if costs else float("nan")
        self.row("overhead per piece on another worker (median)", f"{cost * 1000:.0f} ms",
                 f"{len(costs)} of 24 pieces", "", "<= 50 ms", cost <= 0.05)  # fmt: skip

    # ---- 3. a one-file run, queued against direct ---------------------------------------------
    def one_file_run(self) -> None:
        pool = self.pool(1)
        ratios, queued_times = [], []
        for _ in range(3 if self.quick else 7):
            direct = self.workflow(self.local, ONE_FILE)
            start = time.time()
            direct.run()
            direct_seconds = direct.state.read().ended_at - start
            queued = self.timed_run(self.online, ONE_FILE)
            ratios.append(queued / direct_seconds)
            queued_times.append(queued)
        pool.stop()
        self.figures["one_file_ratios"] = ratios
        ratio = median(ratios)
        before = BEFORE_ONE_FILE_RATIO
        self.row("1-file run, queue (paired median)", f"{median(queued_times):.2f} s", "direct, same run",
                 f"{ratio:.2f}", f"<= 1.05 x {before} (before)", ratio <= 1.05 * before)  # fmt: skip

    # ---- 4. fairness: a small run beside a big study -------------------------------------------
    def fairness(self) -> None:
        pool = self.pool(2)
        alone_b, _ = self.study_run(ONE_FILE, visitor="visitor-b")
        alone_a, study = self.study_run(STUDY, visitor="visitor-a")
        pieces_log = read_log(study.logger.log_dir, "commands")
        longest = max(
            float(t)
            for t in re.findall(r"FeatureFinderMetabo \(\d+/\d+\) finished in ([\d.]+) s", pieces_log)
        )
        a = self.workflow(self.online, STUDY, noise=False)
        b = self.workflow(self.online, ONE_FILE, noise=False)
        a_start = time.time()
        runs.start(a, visitor="visitor-a")
        time.sleep(3)
        b_start = time.time()
        runs.start(b, visitor="visitor-b")
        self.wait_final(b, interval=0.2)
        self.wait_final(a, interval=0.2)
        pool.stop()
        b_took = b.state.read().ended_at - b_start
        a_took = a.state.read().ended_at - a_start
        self.figures["fairness"] = {"a_alone": alone_a, "b_alone": alone_b, "longest_piece": longest,
                                    "a_with_b": a_took, "b_with_a": b_took}  # fmt: skip
        bound_b = alone_b + longest + 2
        target_b = f"<= {bound_b:.1f} s (alone + piece + 2)"
        self.row(
            "1-file run 3 s after a 12-file study", f"{b_took:.1f} s", f"alone {alone_b:.1f} s", "", target_b,
            b_took <= bound_b,
        )  # fmt: skip
        bound_a = alone_a + alone_b
        self.row("the 12-file study beside it", f"{a_took:.1f} s", f"alone {alone_a:.1f} s", "",
                 f"<= {bound_a:.1f} s (alone + B)", a_took <= bound_a)  # fmt: skip

    # ---- 5. a class behind one address -----------------------------------------------------------
    def one_address(self) -> None:
        """As many runs from one address as it may have (running and held) and one more: the one
        more is refused with a message, every other completes on one worker."""
        limits = self.online.limits
        may = limits.running_runs_per_client + limits.held_runs_per_client
        pool = self.pool(1)
        small = sorted(self.small.glob("*.mzML"))
        workflows = [self.workflow(self.online, small) for _ in range(may + 1)]
        started, refused = [], 0
        for workflow in workflows:
            try:
                runs.start(workflow, visitor="198.51.100.20")
                started.append(workflow)
            except runs.RunRefused:
                refused += 1
        held = sum(1 for w in started if runs.status(w).state == "held")
        for workflow in started:
            self.wait_final(workflow, interval=0.2)
        pool.stop()
        done = sum(1 for w in started if w.state.read().state == "finished")
        self.figures["one_address"] = {
            "may": may,
            "refused": refused,
            "held_at_start": held,
            "completed": done,
        }
        self.row(f"{may + 1} runs from one address, 1 worker", f"{done} of {may} completed",
                 f"{held} held at first", f"{refused} refused",
                 f"{may} of {may}, the one beyond refused", done == may and refused == 1)  # fmt: skip


def write_spreading_section(record: dict) -> None:
    intro = [
        "## Spreading a study and the scheduler (`python -m bench.spreading`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs; the 12-run study of",
        "`../shared/data/mzML` with FeatureFinderMetabo's defaults.",
    ]
    write_section("SPREADING", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a first look)")
    args = parser.parse_args()
    if len(STUDY) != 12:
        raise SystemExit(f"the 12-run study is expected in {DATA} (three NZ files and study/)")
    when = dt.datetime.now(dt.UTC)
    bench = SpreadBench(args.quick)
    print_header()
    try:
        bench.study()
        bench.piece_overhead()
        bench.one_file_run()
        bench.fairness()
        bench.one_address()
    finally:
        bench.close()
    return record_section("spreading", when, bench, write_spreading_section)


if __name__ == "__main__":
    sys.exit(main())
