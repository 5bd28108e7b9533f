"""The benchmark suite: every figure next to its baseline from the same run.

    .venv/bin/python -m bench.suite [--quick] [--no-appliance] [--uncached-build] [--render]

Uses a real redis-server, real workers (the project's and stock `rq worker`s), the real
TOPP tools on the real NZ_20200227 files and, unless --no-appliance, the real image.
Prints a table, writes bench/results/suite-<UTC time>.json and rewrites BENCHMARKS.md.
Nothing here passes or fails: targets are written next to the measured figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rq import Queue

from bench import harness
from bench.harness import NOISE, NZ_FILES, REPO, median, percentile, wait
from src import runs
from src.core.run import read_log
from src.core.settings import load_settings
from src.jobs.client.enqueue import enqueue, priority_queues
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs

RESULTS = REPO / "bench" / "results"
FINAL = ("finished", "failed", "cancelled")
STOCK_QUEUE = "bench-stock"


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.root = Path(tempfile.mkdtemp(prefix="bench-"))
        self.redis = harness.Redis()
        self.env = {
            "WORKSPACES_DIR": str(self.root / "workspaces"),
            "ONLINE_DEPLOYMENT": "true",
            "REDIS_URL": self.redis.url,
            "QUEUE_MAX_QUEUED": "100000",
            # One thread per run everywhere, so direct, local and queued runs do the same work
            # (the appliance's default for online runs).
            "MAX_THREADS": "1",
        }
        os.environ.update(self.env)  # the workers and the in-process calls read the same settings
        self.online = load_settings(env=self.env)
        self.local = load_settings(env={**self.env, "ONLINE_DEPLOYMENT": "false"})
        self.small = self.root / "small-inputs"
        generate_runs(self.small, 2, n_spectra=60)
        self.count = 0
        self.rows: list[dict] = []
        self.figures: dict = {}

    # ---- helpers ----------------------------------------------------------------------------
    def workflow(self, settings, files: list[Path], noise: bool = True) -> MetabolomicsWorkflow:
        """A workspace with these inputs; ``noise``: the noise threshold the QC runs need (else
        FeatureFinderMetabo's defaults)."""
        self.count += 1
        workflow = MetabolomicsWorkflow(settings.workspaces_dir / f"bench-{self.count}", settings)
        folder = workflow.files.input_dir("mzML-files")
        for path in files:
            shutil.copy(path, folder / path.name)
        for key, value in NOISE.items() if noise else ():
            workflow.params.set_tool_value("FeatureFinderMetabo", key, value)
        return workflow

    @staticmethod
    def wait_final(workflow: MetabolomicsWorkflow, timeout: float = 600, interval: float = 0.02) -> None:
        view = wait(
            lambda: (v := runs.status(workflow)).state in FINAL and v, timeout, interval, "a run to end"
        )
        if view.state != "finished":
            raise SystemExit(f"benchmark aborted: a run ended {view.state}: {view.error}")

    def timed_run(self, settings, files: list[Path]) -> float:
        """Start to end of a queued or local run, by the run's own end time (its status file):
        the benchmark's polling neither adds its interval nor competes much with the run."""
        workflow = self.workflow(settings, files)
        start = time.time()
        runs.start(workflow)
        self.wait_final(workflow, interval=0.2)
        return workflow.state.read().ended_at - start

    def workers(self, count: int) -> harness.Workers:
        pool = harness.Workers(self.env)
        pool.start_project(count, self.redis.client)
        return pool

    def row(self, measure: str, figure: str, baseline: str = "", ratio: str = "", target: str = "", met=None):
        verdict = "" if met is None else ("yes" if met else "NO")
        self.rows.append(
            {
                "measure": measure,
                "figure": figure,
                "baseline": baseline,
                "ratio": ratio,
                "target": target,
                "met": verdict,
            }
        )
        print(f"  {measure:44} {figure:>14}  {baseline:>22}  {ratio:>8}  {target:22} {verdict}", flush=True)

    # ---- 1. start latency -----------------------------------------------------------------------
    def start_latency(self) -> None:
        reps = 5 if self.quick else 9
        inputs = sorted(self.small.glob("*.mzML"))

        def first_command(settings) -> float:
            workflow = self.workflow(settings, inputs)
            start = time.perf_counter()
            runs.start(workflow)
            wait(
                lambda: (
                    "Running: /usr/bin/FeatureFinderMetabo" in read_log(workflow.logger.log_dir, "commands")
                ),
                60,
                0.001,
                "the first TOPP command",
            )
            elapsed = time.perf_counter() - start
            self.wait_final(workflow)
            return elapsed * 1000

        pool = self.workers(2)
        queued = [first_command(self.online) for _ in range(reps)]
        pool.stop()
        local = [first_command(self.local) for _ in range(reps)]
        extra = median(queued) - median(local)
        self.figures["start_latency_ms"] = {"queue": queued, "local": local}
        self.row(
            "start -> first TOPP command, queue (median)",
            f"{median(queued):.0f} ms",
            f"local {median(local):.0f} ms",
            f"{median(queued) / median(local):.2f}",
            "queue adds <= 50 ms",
            extra <= 50,
        )

    # ---- 2. the example workflow ----------------------------------------------------------------
    def example_workflow(self) -> None:
        # Interleaved (direct, queued, local, direct, ...) so that the machine's drift over the
        # minutes spreads over all three, and the ratio is the median of each queued run against
        # the direct run just before it: with 15 pairs two runs of the suite agree within a few %.
        reps = 5 if self.quick else 15
        direct, local, queued = [], [], []
        pool = self.workers(1)
        for _ in range(reps):
            workflow = self.workflow(self.local, NZ_FILES)
            start = time.perf_counter()
            workflow.run()
            direct.append(time.perf_counter() - start)
            queued.append(self.timed_run(self.online, NZ_FILES))
            local.append(self.timed_run(self.local, NZ_FILES))
        pool.stop()
        self.figures["example_workflow_s"] = {"direct": direct, "local": local, "queue": queued}
        ratio = median([q / d for q, d in zip(queued, direct, strict=True)])
        self.row(
            "NZ workflow (3 files), queue",
            f"{median(queued):.2f} s",
            f"direct {median(direct):.2f} s",
            f"{ratio:.2f}",
            "queue/direct <= 1.05",
            ratio <= 1.05,
        )
        self.row(
            "NZ workflow (3 files), local mode",
            f"{median(local):.2f} s",
            f"direct {median(direct):.2f} s",
            f"{median([lo / d for lo, d in zip(local, direct, strict=True)]):.2f}",
        )

    # ---- 3. scaling, and Redis memory per finished job -----------------------------------------
    def scaling(self) -> None:
        runs_per_round = 4 if self.quick else 8
        walls = {}
        bytes_per_job = None
        for count in (1, 2, 4):
            pool = self.workers(count)
            workflows = [self.workflow(self.online, NZ_FILES) for _ in range(runs_per_round)]
            before = self.redis.used_memory()
            start = time.perf_counter()
            for workflow in workflows:
                runs.start(workflow)
            for workflow in workflows:
                self.wait_final(workflow)
            walls[count] = time.perf_counter() - start
            if count == 1:
                bytes_per_job = (self.redis.used_memory() - before) / runs_per_round
                self.figures["idle_worker_rss_mb"] = pool.rss_mb()
            pool.stop()
        self.figures["scaling_s"] = walls
        self.figures["redis_bytes_per_finished_job"] = bytes_per_job
        speedup2 = walls[1] / walls[2]
        self.row(
            f"{runs_per_round} NZ runs, 2 workers",
            f"{walls[2]:.1f} s",
            f"1 worker {walls[1]:.1f} s",
            f"{speedup2:.2f}x",
            ">= 1.7x",
            speedup2 >= 1.7,
        )
        self.row(
            f"{runs_per_round} NZ runs, 4 workers",
            f"{walls[4]:.1f} s",
            f"2 workers {walls[2]:.1f} s",
            f"{walls[2] / walls[4]:.2f}x",
            "not slower than 2",
            walls[4] <= walls[2] * 1.02,
        )
        self.row(
            "Redis memory kept per finished job",
            f"{bytes_per_job / 1024:.1f} KB",
            "",
            "",
            "<= 4 KB",
            bytes_per_job <= 4096,
        )

    # ---- 4. status cost -------------------------------------------------------------------------
    def status_cost(self) -> None:
        waiting = [self.workflow(self.online, NZ_FILES) for _ in range(3)]
        for workflow in waiting:
            runs.start(workflow)  # no worker: they wait, so position and ETA are computed
        probe = waiting[-1]
        times = []
        for _ in range(100 if self.quick else 300):
            start = time.perf_counter()
            runs.status(probe)
            times.append((time.perf_counter() - start) * 1000)
        for workflow in waiting:
            runs.stop(workflow)
        self.figures["status_read_ms"] = times
        self.row(
            "one status read (median)",
            f"{median(times):.2f} ms",
            f"p95 {percentile(times, 0.95):.2f} ms",
            "",
            "<= 2 ms",
            median(times) <= 2,
        )

        pool = self.workers(1)
        reps = 3 if self.quick else 7
        quiet, polled = [], []
        for _ in range(reps):  # interleaved and paired, timed alike (see timed_run)
            quiet.append(self.timed_run(self.online, NZ_FILES))
            workflow = self.workflow(self.online, NZ_FILES)
            pollers = subprocess.Popen(
                [sys.executable, "-m", "bench.pollers", str(workflow.workspace), "50", "600"],
                cwd=REPO,
                env={**os.environ},
                stdout=subprocess.DEVNULL,
            )
            time.sleep(2)  # all 50 polling
            start = time.time()
            runs.start(workflow)
            self.wait_final(workflow, interval=0.2)
            polled.append(workflow.state.read().ended_at - start)
            pollers.terminate()
            pollers.wait(10)
        pool.stop()
        ratio = median([p / q for p, q in zip(polled, quiet, strict=True)])
        self.figures["polling_s"] = {"quiet": quiet, "50 pollers": polled}
        self.row(
            "NZ run with 50 pollers at 1 Hz",
            f"{median(polled):.2f} s",
            f"no pollers {median(quiet):.2f} s",
            f"{ratio:.2f}",
            "<= 1.05",
            ratio <= 1.05,
        )

    # ---- 5. raw queue overhead ------------------------------------------------------------------
    def raw_queue(self) -> None:
        jobs = 100 if self.quick else 300
        stock_queue = Queue(STOCK_QUEUE, connection=self.redis.client)
        project_queue = priority_queues(self.online, self.redis.client)["normal"]

        stock_enqueue = []
        for _ in range(200):
            start = time.perf_counter()
            stock_queue.enqueue("bench.jobs.noop")
            stock_enqueue.append((time.perf_counter() - start) * 1000)
        stock_queue.empty()
        project_enqueue = []
        for _ in range(100):
            workflow = self.workflow(self.online, [])
            start = time.perf_counter()
            enqueue(workflow)
            project_enqueue.append((time.perf_counter() - start) * 1000)
        for queue in priority_queues(self.online, self.redis.client).values():
            queue.empty()
        self.row(
            "enqueue a run (project path, p50)",
            f"{median(project_enqueue):.2f} ms",
            f"stock enqueue {median(stock_enqueue):.2f} ms",
            f"{median(project_enqueue) / median(stock_enqueue):.1f}",
        )

        def throughput(queue: Queue, start_workers) -> float:
            pool = harness.Workers(self.env)
            start_workers(pool)
            done_before = queue.finished_job_registry.count
            start = time.perf_counter()
            for _ in range(jobs):
                queue.enqueue("bench.jobs.noop", result_ttl=600)
            wait(lambda: queue.finished_job_registry.count - done_before >= jobs, 300, 0.01, "no-op jobs")
            elapsed = time.perf_counter() - start
            pool.stop()
            return jobs / elapsed

        project = throughput(project_queue, lambda pool: pool.start_project(2, self.redis.client))
        stock = throughput(
            stock_queue, lambda pool: pool.start_stock(2, self.redis.client, self.redis.url, STOCK_QUEUE)
        )
        self.figures["raw_queue"] = {
            "enqueue_ms": {"project": project_enqueue, "stock": stock_enqueue},
            "noop_jobs_per_s": {"project": project, "stock": stock},
        }
        self.row(
            "no-op jobs/s, 2 project workers",
            f"{project:.1f}/s",
            f"2 stock rq workers {stock:.1f}/s",
            f"{project / stock:.2f}",
        )

    # ---- 6. memory ------------------------------------------------------------------------------
    def memory(self) -> None:
        workers = self.figures.get("idle_worker_rss_mb") or []
        streamlit = harness.streamlit_idle_rss_mb(self.env)
        self.figures["idle_streamlit_rss_mb"] = streamlit
        if workers:
            self.row("idle worker RSS (with its scheduler)", f"{median(workers):.0f} MB")
        self.row("idle Streamlit RSS (no session)", f"{streamlit:.0f} MB")

    # ---- 7. the appliance -----------------------------------------------------------------------
    def appliance(self, uncached: bool) -> None:
        from bench import appliance

        previous = latest_appliance_record()
        record = appliance.measure(uncached=uncached, starts=2 if self.quick else 3, workers=2)
        self.figures["appliance"] = record
        old = previous or {}

        def was(key: str, unit: str) -> str:
            value = old.get(key)
            if isinstance(value, list):
                value = median(value)
            return f"previous {value} {unit}" if value is not None else "no previous record"

        self.row("image size", f"{record['image_mb']:.0f} MB", was("image_mb", "MB"))
        if "build_uncached_s" in record:
            self.row("uncached build", f"{record['build_uncached_s']:.0f} s", was("build_uncached_s", "s"))
        self.row("cached build", f"{record['build_cached_s']:.1f} s", was("build_cached_s", "s"))
        healthy = median(record["start_to_healthy_s"])
        self.row(
            "cold start to healthy (median)",
            f"{healthy:.1f} s",
            was("start_to_healthy_s", "s"),
            "",
            "<= 15 s",
            healthy <= 15,
        )
        total = record["idle_memory_mb"].get("container total (docker stats)", "?")
        self.row("appliance idle memory, 2 workers", str(total))

    def close(self) -> None:
        self.redis.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def latest_appliance_record() -> dict | None:
    records = sorted(RESULTS.glob("appliance-*.json")) + sorted(RESULTS.glob("suite-*.json"))
    for path in sorted(records, key=lambda p: p.stem.split("-", 1)[1], reverse=True):
        data = json.loads(path.read_text())
        data = data.get("figures", {}).get("appliance", data) if path.name.startswith("suite-") else data
        if "image_mb" in data:
            return data
    return None


def docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def versions() -> dict:
    def version(package: str) -> str:
        try:
            return md.version(package)
        except md.PackageNotFoundError:
            return "missing"

    redis_server = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()
    return {
        "python": platform.python_version(),
        **{p: version(p) for p in ("rq", "redis", "pyopenms", "streamlit")},
        "redis-server": next((w.split("=")[1] for w in redis_server if w.startswith("v=")), "?"),
    }


def render_newest() -> None:
    """Rewrite BENCHMARKS.md from the newest suite record (and bench/NOTES.md, VIEWERS.md,
    SPREADING.md, WORKFLOWS.md, VIEWER-INDEX.md, CORES.md, LIMIT.md, CONTAINERS.md, TEMPLATE.md,
    UPDATE-CHECK.md, BYTECODE.md)."""
    newest = max(RESULTS.glob("suite-*.json"), default=None)
    if newest is None:
        raise SystemExit("no suite-*.json in bench/results yet: run the suite first")
    write_markdown(json.loads(newest.read_text()))


TABLE_HEAD = [
    "| measure | figure | baseline (same run) | ratio | target | met |",
    "|---|---|---|---|---|---|",
]


def table_lines(rows: list[dict]) -> list[str]:
    """A bench's rows as the Markdown table every section of BENCHMARKS.md shows."""
    cells = ("measure", "figure", "baseline", "ratio", "target", "met")
    return TABLE_HEAD + ["| " + " | ".join(str(r[c]) for c in cells) + " |" for r in rows]


def print_header() -> None:
    """The head of the table every bench prints as it goes (``Bench.row`` prints its lines)."""
    print(f"  {'measure':44} {'figure':>14}  {'baseline (same run)':>22}  {'ratio':>8}  {'target':22} met")


def write_section(name: str, intro: list[str], rows: list[dict]) -> None:
    """bench/<name>.md: the intro, the table and bench/<name>-NOTES.md (BENCHMARKS.md includes it)."""
    lines = [*intro, "", *table_lines(rows)]
    notes = REPO / "bench" / f"{name}-NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (REPO / "bench" / f"{name}.md").write_text("\n".join(lines) + "\n")


def write_markdown(record: dict) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Figures from `python -m bench.suite` (see `bench/`), each measured next to its baseline in",
        "the same run. These are measurements, not tests: a target that is not met is marked NO and",
        "discussed below the table, nothing fails CI. The raw figures of every run are in",
        "`bench/results/`.",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs, {record['machine']['platform']};",
        "versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()) + ".",
        "",
        *table_lines(record["rows"]),
    ]
    extras = ["NOTES.md", "VIEWERS.md", "SPREADING.md", "WORKFLOWS.md", "VIEWER-INDEX.md", "CORES.md"]
    for extra in [*extras, "LIMIT.md", "CONTAINERS.md", "TEMPLATE.md", "UPDATE-CHECK.md", "BYTECODE.md"]:
        section = REPO / "bench" / extra
        if section.exists():
            lines += ["", section.read_text().strip()]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")


def save_record(kind: str, when: dt.datetime, bench: Bench, **extra: object) -> tuple[dict, Path]:
    """A run's rows and figures with the machine and versions (and ``extra``, e.g. the baseline it
    ran against), as bench/results/<kind>-<time>.json."""
    record = {
        "when": when.isoformat(timespec="seconds"),
        **extra,
        "quick": getattr(bench, "quick", False),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "rows": bench.rows,
        "figures": bench.figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{kind}-{when:%Y-%m-%dT%H%M%SZ}.json"
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record, out


def record_section(
    kind: str, when: dt.datetime, bench: Bench, write: Callable[[dict], None], **extra: object
) -> int:
    """A section bench's end: its record saved (with ``extra``), its section written by ``write``,
    BENCHMARKS.md rendered again; returns the exit code."""
    record, out = save_record(kind, when, bench, **extra)
    write(record)
    render_newest()
    print(f"recorded in {out.relative_to(REPO)}; summary in bench/{kind.upper()}.md and BENCHMARKS.md")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a first look)")
    parser.add_argument("--no-appliance", action="store_true", help="skip the Docker image figures")
    parser.add_argument("--uncached-build", action="store_true", help="also time a --no-cache build")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite BENCHMARKS.md from the newest record"
    )
    args = parser.parse_args()
    if args.render:
        render_newest()
        return 0
    if len(NZ_FILES) != 3:
        raise SystemExit(f"the three NZ_20200227 files are expected in {harness.DATA}")

    when = dt.datetime.now(dt.UTC)
    bench = Bench(args.quick)
    print_header()
    try:
        bench.start_latency()
        bench.example_workflow()
        bench.scaling()
        bench.status_cost()
        bench.raw_queue()
        bench.memory()
        if args.no_appliance:
            print("  (appliance figures skipped: --no-appliance)")
        elif not docker_available():
            print("  (appliance figures skipped: no Docker daemon answers)")
        else:
            bench.appliance(args.uncached_build)
    finally:
        bench.close()

    record, out = save_record("suite", when, bench)
    write_markdown(record)
    print(f"recorded in {out.relative_to(REPO)}; summary in BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
