"""The appliance image built from the Dockerfile, started with testcontainers.

Needs a running Docker daemon and the image `openms-workflow-server:latest`
(`bash scripts/build-image.sh`; tests/run.sh builds it). The tests fail, loudly,
when either is missing: they are part of what CI must show.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from base64 import b64encode

import pytest

from tests.appliance_support import APP_UID, IMAGE, assert_refused
from tests.conftest import REPO, wait_for
from tests.queue_support import free_port

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be pulled here

from testcontainers.core.container import DockerContainer

pytestmark = [pytest.mark.slow, pytest.mark.container]

DASHBOARD = {
    "RQ_DASHBOARD_ENABLED": "true",
    "RQ_DASHBOARD_USERNAME": "admin",
    "RQ_DASHBOARD_PASSWORD": "s3cret-pass",
}


class Appliance:
    """One running container of the image, with helpers to look inside."""

    def __init__(self, container: DockerContainer) -> None:
        self.container = container
        self.env_prefix = ""  # e.g. "REDIS_URL=..." when Redis needs a password

    @property
    def raw(self):
        return self.container.get_wrapped_container()

    @property
    def ip(self) -> str:
        self.raw.reload()
        return self.raw.attrs["NetworkSettings"]["IPAddress"]

    def health(self) -> str:
        self.raw.reload()
        return self.raw.attrs["State"].get("Health", {}).get("Status", "")

    def wait_healthy(self, timeout: float = 60) -> float:
        started = time.monotonic()
        wait_for(
            lambda: self.health() == "healthy",
            timeout,
            interval=1,
            what=f"the container to be healthy ({self.logs()[-3000:]})",
        )
        return time.monotonic() - started

    def sh(self, command: str, user: str = "root") -> str:
        result = self.raw.exec_run(["sh", "-c", command], user=user)
        output = result.output.decode(errors="replace")
        assert result.exit_code == 0, f"{command!r} failed ({result.exit_code}): {output}"
        return output

    def python(self, code: str) -> str:
        return self.sh(f"cd /app && {self.env_prefix} python -c {shell_quote(code)}", user="openms")

    def logs(self) -> str:
        out, err = self.container.get_logs()
        return (out + err).decode(errors="replace")

    def pids(self, program: str) -> str:
        return self.sh(f"supervisorctl pid {program}").strip()


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def start_appliance(docker_client):
    started: list[DockerContainer] = []

    def start(**env: str) -> Appliance:
        container = DockerContainer(IMAGE)
        for key, value in env.items():
            container.with_env(key, value)
        container.start()
        started.append(container)
        return Appliance(container)

    yield start
    for container in started:
        container.stop()


def rq_info_workers(appliance: Appliance) -> int:
    """The worker count `rq info` (no flags, as an operator types it) reports."""
    match = re.search(r"^(\d+) workers, ", appliance.sh("rq info"), re.MULTILINE)
    assert match, "rq info printed no worker count"
    return int(match.group(1))


def queued_in(appliance: Appliance, queue: str, listed: bool = True) -> int:
    """Jobs waiting in a queue, as `rq info` shows them (name, a bar, the count); a queue it does not
    list (never used) counts 0 unless ``listed`` says it must be there."""
    match = re.search(rf"^{queue}\s*\|\S*\s*(\d+),", appliance.sh("rq info"), re.MULTILINE)
    assert match or not listed, f"rq info does not list {queue}"
    return int(match.group(1)) if match else 0


def refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((host, port)) != 0


def http_status(url: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def put_files(appliance: Appliance, folder: str, files) -> None:
    """Copy files into the container, owned by the app user (as an upload would be)."""
    appliance.sh(f"mkdir -p {folder}", user="openms")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in files:
            info = archive.gettarinfo(str(path), arcname=path.name)
            info.uid = info.gid = APP_UID
            info.mode = 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    assert appliance.raw.put_archive(folder, buffer.getvalue())


START_RUN = """
import json
from pathlib import Path
from src.core.settings import load_settings
from src import runs
from src.workflows.metabolomics import MetabolomicsWorkflow
settings = load_settings()
workflow = MetabolomicsWorkflow(Path(settings.workspaces_dir) / "{ws}", settings)
{setup}
print(json.dumps(runs.start(workflow).__dict__))
"""

STATUS = """
import json
from pathlib import Path
from src.core.settings import load_settings
from src import runs
from src.workflows.metabolomics import MetabolomicsWorkflow
settings = load_settings()
workflow = MetabolomicsWorkflow(Path(settings.workspaces_dir) / "{ws}", settings)
print(json.dumps(runs.status(workflow).__dict__))
"""

NOISE = 'workflow.params.set_tool_value("FeatureFinderMetabo", "algorithm:common:noise_threshold_int", 100)'
LARGE = (
    "from src.workflows.metabolomics.demo_data import generate_large_run\n"
    'generate_large_run(workflow.files.input_dir("mzML-files"))'
)
DEMO = "workflow.load_example()"


def start_run(appliance: Appliance, ws: str, setup: str = "") -> dict:
    return json.loads(appliance.python(START_RUN.format(ws=ws, setup=setup)).strip().splitlines()[-1])


def run_status(appliance: Appliance, ws: str) -> dict:
    return json.loads(appliance.python(STATUS.format(ws=ws)).strip().splitlines()[-1])


def wait_run(appliance: Appliance, ws: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    return wait_for(
        lambda: (s := run_status(appliance, ws))["state"] in states and s,
        timeout,
        interval=1,
        what=f"run in {ws} to reach {states}",
    )


def test_three_workers_healthy_private_redis_no_dashboard_non_root(start_appliance):
    appliance = start_appliance(RQ_WORKER_COUNT="3")
    assert appliance.wait_healthy(60) <= 60
    assert rq_info_workers(appliance) == 3
    rq_info = appliance.sh("rq info")
    assert all(name in rq_info for name in ("openms-high", "openms-normal", "openms-low"))
    assert refused(appliance.ip, 9181), "nothing may answer on 9181 while the dashboard is off"
    assert refused(appliance.ip, 6379), "Redis must not be reachable from outside the container"
    assert http_status(f"http://{appliance.ip}:8501/_stcore/health") == 200
    oversubscribed = "is more than the" in appliance.logs()
    assert oversubscribed == (len(os.sched_getaffinity(0)) < 3), "the CPU warning follows the CPU count"
    processes = appliance.raw.top(ps_args="-eo pid,uid,args")["Processes"]
    users = {args: int(uid) for _, uid, args in processes}
    for needle in ("streamlit run", "src.jobs.worker", "redis-server"):
        owners = {uid for args, uid in users.items() if needle in args}
        assert owners == {APP_UID}, f"{needle} runs as {owners}"


def test_example_workflow_through_the_queue_with_the_dashboard(start_appliance, nz_files):
    appliance = start_appliance(RQ_WORKER_COUNT="1", **DASHBOARD)
    appliance.wait_healthy(60)
    base = f"http://{appliance.ip}:9181"
    assert http_status(f"{base}/") == 401
    assert http_status(f"{base}/", ("admin", "wrong-password")) == 401
    assert http_status(f"{base}/", ("admin", "s3cret-pass")) == 200

    start_run(appliance, "busy", LARGE)
    wait_run(appliance, "busy", ("running",), 60)
    assert http_status(f"{base}/0/data/workers.json", ("admin", "s3cret-pass")) == 200
    appliance.python(STATUS.format(ws="busy").replace("runs.status(", "runs.stop("))
    assert wait_run(appliance, "busy", ("cancelled",), 10)["state"] == "cancelled"

    put_files(appliance, "/data/workspaces/nz/topp-workflow/input-files/mzML-files", nz_files)
    view = start_run(appliance, "nz", NOISE)
    assert view["mode"] == "queue"
    final = wait_run(appliance, "nz", ("finished", "failed"))
    assert final["state"] == "finished", final["error"]
    rows = appliance.sh(
        "wc -l < /data/workspaces/nz/topp-workflow/results/consensus-table/consensus_features.tsv"
    )
    assert int(rows) - 1 > 250


def test_killed_worker_and_redis_come_back_and_jobs_survive_a_restart(start_appliance):
    appliance = start_appliance(RQ_WORKER_COUNT="2")
    appliance.wait_healthy(60)
    old = appliance.pids("worker:worker-0")
    appliance.sh(f"kill -9 {old}")
    started = time.monotonic()
    wait_for(
        lambda: (
            "RUNNING" in appliance.sh("supervisorctl status worker:worker-0 || true")
            and appliance.pids("worker:worker-0") != old
        ),
        10,
        interval=0.5,
        what="worker-0 to be restarted",
    )
    assert time.monotonic() - started <= 10

    appliance.sh("supervisorctl stop 'worker:*'")  # keep the next jobs waiting
    queued = [start_run(appliance, ws, DEMO) for ws in ("keep1", "keep2")]
    assert [view["state"] for view in queued] == ["queued", "queued"]
    aof = "cat /data/redis/appendonly/*.aof"
    wait_for(  # appendfsync everysec: written to the AOF within about a second
        lambda: all(view["job_id"] in appliance.sh(aof) for view in queued), 10, what="the jobs in the AOF"
    )
    redis_pid = appliance.pids("redis")
    appliance.sh(f"kill -9 {redis_pid}")
    wait_for(
        lambda: appliance.pids("redis") not in ("0", redis_pid),
        15,
        interval=0.5,
        what="redis to be restarted",
    )
    wait_for(
        lambda: "openms-waiting |" in appliance.sh("rq info || true"),
        15,
        interval=0.5,
        what="redis to answer",
    )
    # Both wait: in their turn's queue, or one on RQ's for the killed worker-0, whose registration
    # (idle, until its key expires) the scheduler cannot tell from a live worker's.
    waiting = queued_in(appliance, "openms-waiting") + queued_in(appliance, "openms-normal", listed=False)
    assert waiting == 2

    appliance.raw.restart(timeout=30)
    appliance.wait_healthy(60)
    for ws in ("keep1", "keep2"):
        assert wait_run(appliance, ws, ("finished", "failed"))["state"] == "finished"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "RQ_WORKER_COUNT must be a whole number from 1 to 32, got 'abc'"),
        ("0", "RQ_WORKER_COUNT must be from 1 to 32, got 0"),
    ],
)
def test_nonsense_worker_count_stops_the_container_with_a_message(docker_client, value, message):
    assert_refused(docker_client, {"RQ_WORKER_COUNT": value}, message)


def test_nonsense_scale_out_switch_stops_the_container_with_a_message(docker_client):
    assert_refused(docker_client, {"SCALE_OUT": "maybe"}, "SCALE_OUT must be true or false, got 'maybe'")


#: What a worker, a web server and a table script import, checked for bytecode compiled at build
#: time (the appliance writes none: PYTHONDONTWRITEBYTECODE), so no process compiles from source.
COMPILED_CHECK = """
import importlib.util, os, sys
import src.jobs.worker.tasks, src.ui.page, src.ui.navigation, streamlit
import numpy, pyarrow.csv, pyopenms
files = [getattr(module, "__file__", None) or "" for module in list(sys.modules.values())]
sources = [path for path in files if path.endswith(".py")]
print(len(sources), os.environ.get("PYTHONDONTWRITEBYTECODE"))
for path in sources:
    if not os.path.exists(importlib.util.cache_from_source(path)):
        print("NOT COMPILED", path)
"""


def test_the_image_ships_its_python_compiled(docker_client):
    printed = docker_client.containers.run(
        IMAGE, ["python", "-c", COMPILED_CHECK], entrypoint=[], working_dir="/app", user=str(APP_UID),
        remove=True,
    ).decode()  # fmt: skip
    count, dont_write = printed.splitlines()[0].split()
    assert int(count) > 1000 and dont_write == "1", printed
    assert "NOT COMPILED" not in printed, printed


@pytest.mark.parametrize("enabled", ["true", "On"])  # every spelling the app's settings accept
def test_dashboard_without_credentials_is_refused(docker_client, enabled):
    container = docker_client.containers.run(
        IMAGE, environment={"RQ_DASHBOARD_ENABLED": enabled}, detach=True
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 64
        assert "never served without credentials" in container.logs().decode()
    finally:
        container.remove(force=True)


def test_unset_worker_count_starts_the_documented_default(start_appliance):
    appliance = start_appliance()
    appliance.wait_healthy(60)
    assert "RQ_WORKER_COUNT is not set; starting the default of 2 workers." in appliance.logs()
    assert rq_info_workers(appliance) == 2


def compose_command() -> list[str]:
    """Compose v1 is what this machine has; a machine with only v2 uses `docker compose`."""
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def test_compose_file_is_valid_and_comes_up_healthy(docker_client, tmp_path):
    app_port = free_port()  # a fixed host port may be held by another program on the machine
    env = dict(
        os.environ,
        COMPOSE_PROJECT_NAME=f"openmstest{os.getpid()}",
        APP_PORT=str(app_port),
        RQ_DASHBOARD_PORT=str(free_port()),
    )
    compose = [*compose_command(), "-f", str(REPO / "docker-compose.yml")]
    config = subprocess.run([*compose, "config"], env=env, capture_output=True, text=True, timeout=60)
    assert config.returncode == 0, config.stderr
    assert "6379" not in config.stdout  # Redis is never published
    try:
        up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        name = subprocess.run(
            [*compose, "ps", "-q", "app"], env=env, capture_output=True, text=True
        ).stdout.strip()
        container = docker_client.containers.get(name)

        def healthy() -> bool:
            container.reload()
            return container.attrs["State"]["Health"]["Status"] == "healthy"

        wait_for(healthy, 90, interval=1, what="the compose service to be healthy")
        assert http_status(f"http://127.0.0.1:{app_port}/_stcore/health") == 200
    finally:
        subprocess.run([*compose, "down", "-v"], env=env, capture_output=True, timeout=120)


def test_container_smoke_test_script_passes(docker_client):
    """The script the GitHub Actions workflow runs after building the image."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "smoke-test.sh"), IMAGE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rq info lists 2 workers" in result.stdout and "SMOKE TEST PASSED" in result.stdout
