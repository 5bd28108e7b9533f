"""A study on two worker containers beside the appliance against the appliance's own worker, in the
real image, in one run.

    .venv/bin/python -m bench.containers [--files 31] [--reps 1]

Set up as docs/scale-out.md sets it up: a private Docker network, one workspace volume, the
appliance in scale-out mode (its Redis with a password) with ``RQ_WORKER_COUNT=1``, and two
worker-only containers of the same image (``worker``, ``RQ_WORKER_COUNT=1`` each). The study is
bench.limit's: the 12 real runs of ``../shared/data/mzML`` repeated under new names up to
``--files``, FeatureFinderMetabo's and the workflow's defaults (alignment on), started inside the
appliance as the app starts a run (``runs.start``) and timed by the run's own status file (started
to ended). Alternated ``--reps`` times:

(a) the appliance's 1 worker alone (the worker containers stopped);
(b) the 2 worker containers (the appliance's worker stopped).

Every container may use every core of this machine (no ``--cpus``), as on a host of its own; here
the three share one machine's cores. Both ways must give the same consensus table. Writes
bench/results/containers-<UTC time>.json and bench/CONTAINERS.md (which BENCHMARKS.md includes).
Needs Docker and the image (scripts/build-image.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import shlex
import statistics
import sys
import tarfile
import time
import uuid

import docker
from bench.limit import study_names
from bench.spreading import STUDY
from bench.suite import Bench, print_header, record_section, write_section

IMAGE = os.environ.get("IMAGE_TAG", "openms-workflow-server:latest")
PASSWORD = "bench-containers-" + uuid.uuid4().hex
WORKSPACES = "/data/workspaces"
SOURCE = f"{WORKSPACES}/bench-source"  # the 12 real runs, once; studies link to them
APP_UID = 10001

START = """
import json
from pathlib import Path
from src import runs
from src.core.settings import load_settings
from src.workflows.metabolomics import MetabolomicsWorkflow
settings = load_settings()
workflow = MetabolomicsWorkflow(Path(settings.workspaces_dir) / {ws!r}, settings)
print(json.dumps(runs.start(workflow).__dict__, default=str))
"""


class Box:
    """One running container of the image."""

    def __init__(self, container) -> None:
        self.container = container

    def sh(self, command: str, user: str = "root") -> str:
        result = self.container.exec_run(["sh", "-c", command], user=user)
        output = result.output.decode(errors="replace")
        if result.exit_code != 0:
            raise SystemExit(f"benchmark aborted: {command!r} failed ({result.exit_code}): {output[-2000:]}")
        return output

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.attrs["State"].get("Health", {}).get("Status") == "healthy":
                return
            if self.container.status == "exited":
                break
            time.sleep(1)
        logs = self.container.logs().decode(errors="replace")[-3000:]
        raise SystemExit(f"benchmark aborted: {self.container.name} did not become healthy:\n{logs}")


def put_files(box: Box, paths: list) -> None:
    """Files into the container's SOURCE folder, owned by the app's user (as uploads are)."""
    box.sh(f"mkdir -p {SOURCE}", user="openms")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in paths:
            info = archive.gettarinfo(str(path.resolve()), arcname=path.name)
            info.uid = info.gid = APP_UID
            info.mode = 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    if not box.container.put_archive(SOURCE, buffer.getvalue()):
        raise SystemExit("benchmark aborted: the files could not be copied into the container")


class ContainersBench:
    def __init__(self, files: int, reps: int) -> None:
        self.files, self.reps = files, reps
        self.quick = reps == 1
        self.rows: list[dict] = []
        self.figures: dict = {}
        self.client = docker.from_env()
        suffix = uuid.uuid4().hex[:8]
        self.network = self.client.networks.create(f"openms-bench-{suffix}")
        self.volume = self.client.volumes.create(f"openms-bench-ws-{suffix}")
        self.started: list = []
        self.count = 0
        self.app = self.box(f"openms-bench-app-{suffix}", SCALE_OUT="true", REDIS_PASSWORD=PASSWORD,
                            RQ_WORKER_COUNT="1")  # fmt: skip
        url = f"redis://:{PASSWORD}@{self.app.container.name}:6379/0"
        self.app.wait_healthy()
        self.workers = [self.box(f"openms-bench-worker{n}-{suffix}", "worker", REDIS_URL=url,
                                 RQ_WORKER_COUNT="1") for n in (1, 2)]  # fmt: skip
        for worker in self.workers:
            worker.wait_healthy()
        self.put_source()

    row = Bench.row

    def box(self, name: str, *command: str, **env: str) -> Box:
        container = self.client.containers.run(
            IMAGE,
            list(command) or None,
            name=name,
            detach=True,
            network=self.network.name,
            environment=env,
            volumes={self.volume.name: {"bind": WORKSPACES, "mode": "rw"}},
        )
        self.started.append(container)
        return Box(container)

    def put_source(self) -> None:
        """The 12 real runs into the shared volume."""
        put_files(self.app, STUDY)

    def workers_registered(self) -> int:
        output = self.app.sh(f"RQ_REDIS_URL=redis://:{PASSWORD}@127.0.0.1:6379/0 rq info")
        match = re.search(r"^(\d+) workers, ", output, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def use(self, appliance: bool) -> None:
        """(a): the appliance's worker and no worker container; (b): the two and not the appliance's."""
        if appliance:
            for worker in self.workers:
                worker.container.stop(timeout=60)
            self.app.sh("supervisorctl start 'worker:*'")
            want = 1
        else:
            self.app.sh("supervisorctl stop 'worker:*'")
            for worker in self.workers:
                worker.container.start()
            for worker in self.workers:
                worker.wait_healthy()
            want = 2
        deadline = time.monotonic() + 120
        while self.workers_registered() != want:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"benchmark aborted: {want} workers expected, {self.workers_registered()} seen"
                )
            time.sleep(1)

    def study_run(self) -> tuple[float, int]:
        """(seconds from the run's start to its end by its status file, the consensus table's lines)."""
        self.count += 1
        ws = f"bench-{self.count}"
        inputs = f"{WORKSPACES}/{ws}/topp-workflow/input-files/mzML-files"
        links = [
            f"ln {shlex.quote(f'{SOURCE}/{source.name}')} {shlex.quote(f'{inputs}/{name}')}"
            for source, name in study_names(self.files)
        ]
        self.app.sh(f"mkdir -p {inputs} && " + " && ".join(links), user="openms")
        self.app.sh(f"cd /app && python -c {shlex.quote(START.format(ws=ws))}", user="openms")
        status_file = f"{WORKSPACES}/{ws}/topp-workflow/run/status.json"
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            status = json.loads(self.app.sh(f"cat {status_file} 2>/dev/null || echo '{{}}'"))
            if status.get("state") in ("finished", "failed", "cancelled"):
                break
            time.sleep(1)
        else:
            raise SystemExit(f"benchmark aborted: the run in {ws} did not end within an hour")
        if status["state"] != "finished":
            raise SystemExit(
                f"benchmark aborted: the run in {ws} ended {status['state']}: {status.get('error')}"
            )
        table = f"{WORKSPACES}/{ws}/topp-workflow/results/consensus-table/consensus_features.tsv"
        lines = int(self.app.sh(f"wc -l < {table}").strip())
        return status["ended_at"] - status["started_at"], lines

    def measure(self) -> None:
        times: dict[str, list[float]] = {"appliance": [], "containers": []}
        tables: set[int] = set()
        for _ in range(self.reps):
            for way in times:
                self.use(appliance=way == "appliance")
                seconds, lines = self.study_run()
                times[way].append(seconds)
                tables.add(lines)
        one, two = statistics.median(times["appliance"]), statistics.median(times["containers"])
        self.figures = {"files": self.files, "times": times, "table_lines": sorted(tables)}
        name = f"{self.files}-file study"
        self.row(f"{name}, the appliance's 1 worker", f"{one:.1f} s", "", "", "", None)
        self.row(f"{name}, 2 worker containers", f"{two:.1f} s", f"appliance {one:.1f} s", f"{two / one:.2f}",
                 "<= 0.6 x appliance", two / one <= 0.6)  # fmt: skip
        self.row("same consensus table both ways", f"{len(tables)} table(s)", f"{sorted(tables)} lines", "",
                 "1", len(tables) == 1)  # fmt: skip

    def close(self) -> None:
        for container in self.started:
            try:
                container.remove(force=True)
            except docker.errors.APIError as err:
                print(f"cleanup: {err}")
        self.network.remove()
        self.volume.remove(force=True)


def write_containers_section(record: dict) -> None:
    figures = record["figures"]
    intro = [
        "## Worker containers beside the appliance (`python -m bench.containers`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs, the image; a study of",
        f"{figures.get('files')} files (bench.limit's) on the appliance's 1 worker and on 2 worker-only",
        "containers (1 worker each, the appliance's stopped) on one Docker network and workspace volume",
        "(docs/scale-out.md), alternated; every container may use every core of this one machine.",
    ]
    write_section("CONTAINERS", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=31, help="the study's size")
    parser.add_argument("--reps", type=int, default=1, help="alternations of the two ways")
    args = parser.parse_args()
    if len(STUDY) != 12:
        raise SystemExit("the 12-run study is expected in ../shared/data/mzML (three NZ files and study/)")
    when = dt.datetime.now(dt.UTC)
    print_header()
    bench = ContainersBench(args.files, args.reps)
    try:
        bench.measure()
    finally:
        bench.close()
    return record_section("containers", when, bench, write_containers_section)


if __name__ == "__main__":
    sys.exit(main())
