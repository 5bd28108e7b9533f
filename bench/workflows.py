"""Benchmarks of the workflows of issue 31 on real data, each figure next to its baseline from the same
run.

    .venv/bin/python -m bench.workflows [--quick] [--render]

Real redis-server, real project workers (online settings, QUEUE_SPREAD true, one thread per run and
per piece), real TOPP tools and Comet:

1. The "Peptides and proteins" search of OpenMS's BSA1-3 (openms-doc) through the queue on 1 and on
   2 workers, against its baseline: the very commands the 1-worker run ran (its commands log: the
   TOPP tools with their ``-threads`` and the table script), run by hand one after another with
   ``subprocess`` in this process. The three are interleaved: three rounds in alternating order (one
   with --quick).
2. The 12-run metabolomics study of ``../shared/data/mzML`` with retention time alignment (on by
   default), FeatureFinderMetabo's noise threshold at 100 (bench.harness.NOISE): what a piece on
   another worker costs beyond its tool, as bench.spreading measures it, for the feature-finding and
   the MapRTTransformer pieces, against the same study without alignment in the same run.

Prints a table, writes bench/results/workflows-<UTC time>.json and bench/WORKFLOWS.md (with
bench/WORKFLOWS-NOTES.md if present) and puts that section into BENCHMARKS.md (--render: only that,
from the newest record). Nothing passes or fails here: targets stand next to the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rq.job import Job

from bench import harness
from bench.harness import REPO, median
from bench.spreading import STUDY, SpreadBench
from bench.suite import print_header, save_record
from src import runs
from src.core.run import read_log
from src.core.settings import tool_environment
from src.jobs import pieces
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.workflow import ALIGN_KEY
from src.workflows.proteomics import ProteomicsWorkflow, demo_data
from src.workflows.proteomics.paths import MZML_KEY

#: Rounds of the BSA search (by hand, 1 worker, 2 workers, alternating) without --quick.
ROUNDS = 3
SECTION = "## The workflows on real data (`python -m bench.workflows`)"
#: A command as the run's commands log records it, and a command's (or piece's) end.
RUNNING = re.compile(r"^\[[^\]]*\] Running: (.+)$", re.M)
FINISHED = re.compile(r"^\[[^\]]*\] (.+?) finished in ([\d.]+) s$", re.M)


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def tool_of(label: str) -> str:
    """A log's label without its file count: CometAdapter (2/3) -> CometAdapter."""
    return re.sub(r" \(\d+/\d+\)$", "", label)


def tool_times(workflow) -> dict[str, list[float]]:
    """Each command's seconds by tool (in file order) as the run's commands log has them."""
    found: dict[str, list[float]] = {}
    for label, seconds in FINISHED.findall(read_log(workflow.logger.log_dir, "commands")):
        found.setdefault(tool_of(label), []).append(float(seconds))
    return found


def best_on_two(times: dict[str, list[float]]) -> float:
    """The least time these commands can take on 2 workers, step after step as the workflow runs
    them: a step's commands at their best split over the two (the step ends with its last one),
    a single command as it is. Queue costs not included."""
    total = 0.0
    for step in times.values():
        total += min(
            max(sum(t for t, here in zip(step, split, strict=True) if here),
                sum(t for t, here in zip(step, split, strict=True) if not here))
            for split in itertools.product((True, False), repeat=len(step))
        )  # fmt: skip
    return total


def beyond_commands(walls: list[float], steps: list[dict[str, list[float]]]) -> float:
    """The median of a configuration's time beyond its commands' own (start to end less the sum)."""
    return median([wall - sum(map(sum, found.values())) for wall, found in zip(walls, steps, strict=True)])


class WorkflowBench(SpreadBench):
    def __init__(self, quick: bool) -> None:
        super().__init__(quick)
        self.figures["load"] = {"uptime before": uptime(), "per run": []}
        self._warm()

    def _warm(self) -> None:
        """What a first run alone would pay: every tool's ini (written once with -write_ini into the
        workspaces' cache) and the example data in the page cache."""
        probe = ProteomicsWorkflow(self.online.workspaces_dir / "warm", self.online)
        for tool in ProteomicsWorkflow.required_tools + MetabolomicsWorkflow.required_tools:
            probe.params.tool_params(tool)
        for path in [*demo_data.example_files(), *STUDY]:
            path.read_bytes()

    def _note_load(self, what: str, seconds: float) -> None:
        self.figures["load"]["per run"].append({"run": what, "seconds": round(seconds, 2), "load": load()})

    # ---- 1. the BSA search: by hand, 1 worker, 2 workers ----------------------------------------
    def bsa_workflow(self) -> ProteomicsWorkflow:
        """A workspace with BSA1-3 and the BSA database, as 'Load example data' adds them."""
        self.count += 1
        workflow = ProteomicsWorkflow(self.online.workspaces_dir / f"bench-{self.count}", self.online)
        workflow.load_example()
        return workflow

    def queued_run(self, workflow, count: int, label: str) -> float:
        """Start to end (by the run's own status file) of one run on ``count`` fresh workers."""
        pool = self.pool(count, QUEUE_SPREAD="true")
        start = time.time()
        runs.start(workflow)
        self.wait_final(workflow, interval=0.2)
        pool.stop()
        seconds = workflow.state.read().ended_at - start
        self._note_load(label, seconds)
        return seconds

    def queued_search(self, count: int) -> tuple[float, ProteomicsWorkflow]:
        workflow = self.bsa_workflow()
        return self.queued_run(workflow, count, f"BSA, {count} worker(s)"), workflow

    def by_hand(self, commands: list[list[str]]) -> tuple[float, dict[str, list[float]]]:
        """The commands one after another, as a person would type them, in the environment a run
        gives its commands (the table script finds the project's modules by PYTHONPATH)."""
        env = {**tool_environment(os.environ), "PYTHONPATH": str(REPO)}
        per_tool: dict[str, list[float]] = {}
        start = time.perf_counter()
        for command in commands:
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"benchmark aborted: by hand, {shlex.join(command)} failed:\n{done.stderr}")
            name = Path(command[1] if command[0] == sys.executable else command[0]).name
            per_tool.setdefault(name, []).append(round(time.perf_counter() - began, 2))
        seconds = time.perf_counter() - start
        self._note_load("BSA, by hand", seconds)
        return seconds, per_tool

    def bsa_search(self) -> None:
        times: dict[str, list[float]] = {"1 worker": [], "by hand": [], "2 workers": []}
        steps: dict[str, list[dict[str, list[float]]]] = {name: [] for name in times}
        commands: list[list[str]] = []
        piece_costs: dict[str, list[float]] = {}
        orders = [("1 worker", "by hand", "2 workers"), ("2 workers", "by hand", "1 worker")] * 2
        for order in orders[: 1 if self.quick else ROUNDS]:
            for name in order:
                if name == "by hand":  # the commands of the first 1-worker run (it comes first)
                    seconds, per_tool = self.by_hand(commands)
                    times[name].append(seconds)
                    steps[name].append(per_tool)
                    continue
                seconds, workflow = self.queued_search(1 if name == "1 worker" else 2)
                times[name].append(seconds)
                steps[name].append(tool_times(workflow))
                if name == "1 worker" and not commands:
                    commands = [shlex.split(c) for c in RUNNING.findall(read_log(workflow.logger.log_dir,
                                                                                  "commands"))]  # fmt: skip
                    self._check_commands(commands, workflow)
                if name == "2 workers":
                    for tool, costs in self.piece_costs(workflow).items():
                        piece_costs.setdefault(tool, []).extend(costs)
        self.figures["bsa_s"] = times
        self.figures["bsa_step_s"] = steps
        self.figures["bsa_commands"] = [shlex.join(c) for c in commands]
        self.figures["bsa_piece_overhead_s"] = piece_costs
        pairs = zip(times["1 worker"], times["by hand"], strict=True)
        self.figures["bsa_paired_ratio"] = [queued / hand for queued, hand in pairs]
        one, hand, two = (median(times[n]) for n in ("1 worker", "by hand", "2 workers"))
        tools = median([sum(map(sum, found.values())) for found in steps["1 worker"]])
        best = median([best_on_two(found) for found in steps["1 worker"]])
        beyond, beyond_hand = (beyond_commands(times[n], steps[n]) for n in ("1 worker", "by hand"))
        self.row("BSA1-3 search, queue, 1 worker", f"{one:.1f} s", f"by hand {hand:.1f} s",
                 f"{one / hand:.2f}", "<= 1.1 x by hand", one / hand <= 1.1)  # fmt: skip
        self.row("  its time beyond its commands' own", f"{beyond:.2f} s", f"by hand {beyond_hand:.2f} s",
                 f"tools {tools:.1f} s")  # fmt: skip
        self.row("BSA1-3 search, queue, 2 workers", f"{two:.1f} s", f"1 worker {one:.1f} s",
                 f"{two / one:.2f}", "<= 0.6 x 1 worker", two / one <= 0.6)  # fmt: skip
        self.row("  best split of its tools over 2 workers", f"{best:.1f} s",
                 f"tools on 1 worker {tools:.1f} s", f"{best / tools:.2f}")  # fmt: skip
        every = [cost for costs in piece_costs.values() for cost in costs]
        if every:
            self.row("BSA search, overhead per piece elsewhere (median)", f"{median(every) * 1000:.0f} ms",
                     f"{len(every)} pieces, 2 workers")  # fmt: skip

    @staticmethod
    def _check_commands(commands: list[list[str]], workflow: ProteomicsWorkflow) -> None:
        """The baseline must be the whole run: six commands per file, ProteomicsLFQ and the tables."""
        files = len(workflow.files.inputs(MZML_KEY, ".mzML"))
        if len(commands) != 6 * files + 2 or not any("ProteomicsLFQ" in c[0] for c in commands):
            raise SystemExit(f"benchmark aborted: the run's commands log has {len(commands)} commands, "
                             f"expected {6 * files + 2}")  # fmt: skip

    # ---- 2. the aligned study: what a piece costs ----------------------------------------------
    def piece_costs(self, workflow) -> dict[str, list[float]]:
        """Per tool, what each piece that ran on another worker cost beyond its tool: from its
        release to RQ's queue to its start, plus its job's start and end beyond the tool's own time
        (the run's commands log), as bench.spreading measures it. Pieces run in the run's own job
        have no dispatch or fork and are left out."""
        client = self.redis.client
        run_id = json.loads(workflow.layout.job.read_text())["job_id"]
        tool_seconds = dict(FINISHED.findall(read_log(workflow.logger.log_dir, "commands")))
        costs: dict[str, list[float]] = {}
        for job in Job.fetch_many(pieces.of_run(client, run_id), connection=client):
            if job is None or job.meta.get(pieces.META_IN_RUN_JOB) or not job.enqueued_at:
                continue
            label = (job.description or "").rsplit(": ", 1)[-1]
            dispatch = (job.started_at - job.enqueued_at).total_seconds()
            busy = (job.ended_at - job.started_at).total_seconds()
            tool = float(tool_seconds.get(label, busy))
            costs.setdefault(tool_of(label), []).append(dispatch + busy - tool)
        return costs

    def aligned_study(self) -> None:
        settings = {"aligned, 2 workers": (2, True), "aligned, 1 worker": (1, True),
                    "not aligned, 2 workers": (2, False)}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in settings}
        steps: dict[str, list[dict]] = {name: [] for name in settings}
        costs: dict[str, dict[str, list[float]]] = {"aligned": {}, "not aligned": {}}
        orders = [list(settings), list(reversed(settings))]
        for order in orders[: 1 if self.quick else 2]:
            for name in order:
                count, align = settings[name]
                workflow = self.workflow(self.online, STUDY, noise=True)
                workflow.params.set(ALIGN_KEY, align)
                seconds = self.queued_run(workflow, count, f"study, {name}")
                times[name].append(seconds)
                steps[name].append(tool_times(workflow))
                if align != ("MapAlignerPoseClustering" in steps[name][-1]):
                    raise SystemExit(f"benchmark aborted: the study '{name}' did not align as asked")
                if count == 2:
                    for tool, found in self.piece_costs(workflow).items():
                        costs["aligned" if align else "not aligned"].setdefault(tool, []).extend(found)
        self.figures["study_s"] = times
        self.figures["study_step_s"] = steps
        self.figures["study_piece_overhead_s"] = costs
        aligned = [c for found in costs["aligned"].values() for c in found]
        plain = [c for found in costs["not aligned"].values() for c in found]
        cost, before = median(aligned), median(plain)
        self.row("aligned study, overhead per piece elsewhere", f"{cost * 1000:.0f} ms",
                 f"not aligned {before * 1000:.0f} ms", f"{len(aligned)} pieces", "<= 50 ms",
                 cost <= 0.05)  # fmt: skip
        for tool, found in sorted(costs["aligned"].items()):
            self.row(f"  of which {tool} pieces", f"{median(found) * 1000:.0f} ms", "",
                     f"{len(found)} pieces")  # fmt: skip
        two, one = median(times["aligned, 2 workers"]), median(times["aligned, 1 worker"])
        unaligned = median(times["not aligned, 2 workers"])
        self.row("12-file study, aligned, 2 workers", f"{two:.1f} s", f"not aligned {unaligned:.1f} s",
                 f"{two / unaligned:.2f}")  # fmt: skip
        self.row("12-file study, aligned, 1 worker", f"{one:.1f} s", f"2 workers {two:.1f} s",
                 f"{two / one:.2f}")  # fmt: skip


def write_section(record: dict) -> str:
    """bench/WORKFLOWS.md from this run's record (and the notes beside it), which is also returned."""
    loads = record["figures"]["load"]
    lines = [
        SECTION,
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs"
        f"{', --quick (each configuration once)' if record['quick'] else ''};",
        "BSA1-3 of openms-doc with the example's target-decoy database and the workflow's defaults; the",
        "12-run study of `../shared/data/mzML` with FeatureFinderMetabo's noise threshold at 100.",
        "The machine was shared with other engineers' test runs while this ran; `uptime` before:",
        f"`{loads['uptime before']}`, after: `{loads['uptime after']}`.",
        "",
        "| measure | figure | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in record["rows"]:
        measure = r["measure"].strip()
        if r["measure"].startswith(" "):  # a row about the one above it
            measure = f"&emsp;{measure}"
        cells = [measure, r["figure"], r["baseline"], r["ratio"], r["target"], r["met"]]
        lines.append("| " + " | ".join(cells) + " |")
    notes = REPO / "bench" / "WORKFLOWS-NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    text = "\n".join(lines) + "\n"
    (REPO / "bench" / "WORKFLOWS.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each configuration once (a first look)")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the section from the newest workflows record"
    )
    args = parser.parse_args()
    if args.render:
        newest = max((REPO / "bench" / "results").glob("workflows-*.json"), default=None)
        if newest is None:
            raise SystemExit("no workflows-*.json in bench/results yet: run the benchmark first")
        harness.into_benchmarks(write_section(json.loads(newest.read_text())), SECTION)
        return 0
    if len(STUDY) != 12:
        raise SystemExit("the 12-run study is expected in ../shared/data/mzML (three NZ files and study/)")
    demo_data.example_files()  # InputError (with what to install) without openms-doc
    when = dt.datetime.now(dt.UTC)
    bench = WorkflowBench(args.quick)
    print(f"  load before: {bench.figures['load']['uptime before']}")
    print_header()
    try:
        bench.bsa_search()
        bench.aligned_study()
    finally:
        bench.close()
    bench.figures["load"]["uptime after"] = uptime()
    print(f"  load after: {bench.figures['load']['uptime after']}")
    record, out = save_record("workflows", when, bench)
    harness.into_benchmarks(write_section(record), SECTION)
    print(f"recorded in {out.relative_to(REPO)}; summary in bench/WORKFLOWS.md and BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
