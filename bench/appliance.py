"""Appliance figures: image size, build times, start to healthy, idle memory per program.

Figures, not pass/fail. Each figure is printed next to its baseline from the same run:
the image next to its base image, the cached build next to the uncached one, and each
program's memory next to the container's total.

    .venv/bin/python bench/appliance.py [--skip-uncached] [--starts 3] [--workers 2]

Needs Docker and the base image (scripts/build-base-image.sh where nothing can be pulled).
Writes bench/results/appliance-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BASE_IMAGE = "debian:bookworm-slim"
BENCH_TAG = "openms-workflow-server:bench"

# How to recognise each supervisord program in `ps` output inside the container.
PROGRAMS = {
    "redis": re.compile(r"^redis-server"),
    "worker": re.compile(r"-m src\.jobs\.worker"),
    "streamlit": re.compile(r"streamlit run"),
    "rq-dashboard": re.compile(r"rq-dashboard"),
    "workspace-cleanup": re.compile(r"-m src\.jobs\.cleanup"),
    "fatal-exit": re.compile(r"fatal_listener\.py"),
    "supervisord": re.compile(r"supervisord"),
}


def docker(*args: str, timeout: float = 1800) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:2])} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def image_mb(tag: str) -> float:
    return int(docker("image", "inspect", tag, "--format", "{{.Size}}")) / 1e6


def timed_build(*extra: str) -> float:
    start = time.perf_counter()
    docker("build", *extra, "-t", BENCH_TAG, str(REPO))
    return time.perf_counter() - start


def start_to_healthy(workers: int, timeout: float = 180) -> tuple[str, float]:
    start = time.perf_counter()
    name = docker(
        "run", "-d", "-e", f"RQ_WORKER_COUNT={workers}", "-e", "RQ_DASHBOARD_ENABLED=true",
        "-e", "RQ_DASHBOARD_USERNAME=bench", "-e", "RQ_DASHBOARD_PASSWORD=bench-password", BENCH_TAG,
    ).strip()  # fmt: skip
    while time.perf_counter() - start < timeout:
        if docker("inspect", "--format", "{{.State.Health.Status}}", name).strip() == "healthy":
            return name, time.perf_counter() - start
        time.sleep(0.5)
    docker("rm", "-f", name)
    raise SystemExit(f"the container was not healthy within {timeout} s")


def idle_memory_mb(name: str) -> dict[str, float]:
    """Resident memory per program (workers summed, with their count)."""
    rows = docker("top", name, "-eo", "pid,rss,args").splitlines()[1:]  # the image has no ps
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        _pid, rss, args = row.split(None, 2)
        for program, pattern in PROGRAMS.items():
            if pattern.search(args):
                totals[program] = totals.get(program, 0) + int(rss) / 1024
                counts[program] = counts.get(program, 0) + 1
                break
    stats = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0].strip()
    figures = {f"{p} ({counts[p]} processes)" if counts[p] > 1 else p: round(v, 1) for p, v in totals.items()}
    figures["container total (docker stats)"] = stats
    return figures


def measure(uncached: bool, starts: int, workers: int, idle_seconds: float = 20) -> dict:
    """Build (optionally uncached, then cached), size, starts to healthy, idle memory."""
    record: dict = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if uncached:
        record["build_uncached_s"] = round(timed_build("--no-cache"), 1)
    record["build_cached_s"] = round(timed_build(), 1)
    record["image_mb"] = round(image_mb(BENCH_TAG), 1)
    record["base_image_mb"] = round(image_mb(BASE_IMAGE), 1)
    healthy = []
    memory = {}
    for attempt in range(starts):
        name, seconds = start_to_healthy(workers)
        healthy.append(round(seconds, 1))
        if attempt == 0:
            time.sleep(idle_seconds)
            memory = idle_memory_mb(name)
        docker("rm", "-f", name)
    record["start_to_healthy_s"] = healthy
    record["idle_memory_mb"] = memory
    record["workers"] = workers
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-uncached", action="store_true", help="skip the --no-cache build")
    parser.add_argument("--starts", type=int, default=3, help="container starts to time")
    parser.add_argument("--workers", type=int, default=2, help="RQ_WORKER_COUNT for the starts")
    parser.add_argument("--idle-seconds", type=float, default=20, help="wait before measuring memory")
    args = parser.parse_args()

    record = measure(not args.skip_uncached, args.starts, args.workers, args.idle_seconds)
    healthy = record["start_to_healthy_s"]
    memory = record["idle_memory_mb"]

    base = f"(base {BASE_IMAGE}: {record['base_image_mb']} MB)"
    print(f"image                {record['image_mb']:8.1f} MB   {base}")
    if "build_uncached_s" in record:
        print(f"build uncached       {record['build_uncached_s']:8.1f} s")
    print(f"build cached         {record['build_cached_s']:8.1f} s")
    print(f"start to healthy     {', '.join(map(str, healthy))} s  ({args.workers} workers, dashboard on)")
    print("idle memory (RSS; shared pages count once per process, so the sum exceeds the total):")
    for program, value in memory.items():
        print(f"  {program:30} {value}{'' if isinstance(value, str) else ' MB'}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"appliance-{record['when'].replace(':', '').replace('+0000', 'Z')}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
