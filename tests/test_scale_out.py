"""Scale-out: the appliance plus worker-only containers of the same image on a private Docker
network, sharing Redis (with a password) and a workspace volume."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest

from tests.appliance_support import IMAGE
from tests.conftest import DATA_DIR, REPO, wait_for
from tests.test_appliance import (
    LARGE,
    NOISE,
    Appliance,
    compose_command,
    put_files,
    run_status,
    start_run,
)

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.core.container import DockerContainer

pytestmark = [pytest.mark.slow, pytest.mark.container]

PASSWORD = "scale-out-secret-0123456789"
WORKSPACES = "/data/workspaces"


@pytest.fixture
def cluster(docker_client):
    """Start an appliance and worker containers on a fresh network with a shared volume."""
    suffix = uuid.uuid4().hex[:8]
    network = docker_client.networks.create(f"openms-test-{suffix}")
    volume = docker_client.volumes.create(f"openms-test-ws-{suffix}")
    started: list[DockerContainer] = []

    def container(*command: str, aliases: tuple[str, ...] = (), **env: str) -> DockerContainer:
        box = DockerContainer(IMAGE).with_network(network).with_volume_mapping(volume.name, WORKSPACES, "rw")
        if aliases:
            box.with_network_aliases(*aliases)
        if command:
            box.with_command(list(command))
        for key, value in env.items():
            box.with_env(key, value)
        box.start()
        started.append(box)
        return box

    class Cluster:
        def appliance(self, **env: str) -> Appliance:
            return Appliance(container(aliases=("app",), **env))

        def worker(self, password: str = PASSWORD, **env: str) -> Appliance:
            url = f"redis://:{password}@app:6379/0"
            return Appliance(container("worker", REDIS_URL=url, **env))

    yield Cluster()
    for box in started:
        try:
            box.stop()
        except Exception as err:  # noqa: BLE001 - already gone (killed by the test); keep cleaning up
            print(f"cleanup: {err}")
    network.remove()
    volume.remove(force=True)


def hostname(box: Appliance) -> str:
    return box.sh("hostname").strip()


def exit_code(box: Appliance, timeout: float = 60) -> int:
    return box.raw.wait(timeout=timeout)["StatusCode"]


def test_runs_spread_over_worker_containers_and_survive_a_killed_one(cluster, nz_files):
    app = cluster.appliance(SCALE_OUT="true", REDIS_PASSWORD=PASSWORD, RQ_WORKER_COUNT="1")
    app.wait_healthy(60)
    app.env_prefix = f"REDIS_URL=redis://:{PASSWORD}@127.0.0.1:6379/0"  # as the app's own processes have it
    workers = [cluster.worker(RQ_WORKER_COUNT="1") for _ in range(2)]
    for box in workers:
        box.wait_healthy(60)
    assert rq_info_workers_with_password(app) == 3
    hosts = {hostname(box) for box in workers}

    for index in range(6):
        put_files(app, f"{WORKSPACES}/spread-{index}/topp-workflow/input-files/mzML-files", nz_files)
        start_run(app, f"spread-{index}", NOISE)
    finals = [
        wait_for(
            lambda i=i: (s := run_status(app, f"spread-{i}"))["state"] in ("finished", "failed") and s, 180, 1
        )
        for i in range(6)
    ]
    assert [f["state"] for f in finals] == ["finished"] * 6, [f["error"] for f in finals]
    ran_on = {f["worker"].rsplit("-", 2)[0] for f in finals}
    assert len(ran_on & hosts) >= 1 and len(ran_on) >= 2, f"all runs on {ran_on}"
    tables = app.sh(f"ls {WORKSPACES}/spread-*/topp-workflow/results/consensus-table/consensus_features.tsv")
    assert len(tables.split()) == 6

    # One six-file study: its pieces ran in every container, the appliance's worker included.
    put_files(app, f"{WORKSPACES}/study/topp-workflow/input-files/mzML-files", STUDY)
    start_run(app, "study", NOISE)
    study = wait_for(lambda: (s := run_status(app, "study"))["state"] in ("finished", "failed") and s, 240, 1)
    assert study["state"] == "finished", study["error"]
    piece_hosts = set(json.loads(app.python(PIECE_HOSTS.format(ws="study")).strip().splitlines()[-1]))
    assert piece_hosts == {hostname(app), *hosts}, piece_hosts

    # A worker container dies mid-run: its job is retried or failed within the bound; others go on.
    app.sh("supervisorctl stop 'worker:*'")  # only the worker containers take jobs from here on
    start_run(app, "victim", LARGE)
    running = wait_for(
        lambda: (s := run_status(app, "victim"))["state"] == "running" and s["worker"] and s, 60, 0.5
    )
    owner = running["worker"].rsplit("-", 2)[0]
    [victim_box] = [box for box in workers if hostname(box) == owner]
    victim_box.raw.kill()
    killed = time.monotonic()
    moved = wait_for(
        lambda: (s := run_status(app, "victim"))["worker"] != running["worker"] or s["state"] != "running",
        45,
        1,
    )
    assert time.monotonic() - killed <= 45, moved
    put_files(app, f"{WORKSPACES}/after/topp-workflow/input-files/mzML-files", nz_files)
    start_run(app, "after", NOISE)
    after = wait_for(lambda: (s := run_status(app, "after"))["state"] in ("finished", "failed") and s, 240, 1)
    assert after["state"] == "finished", after["error"]


STUDY = [DATA_DIR / f"NZ_20200227_0{n}.mzML" for n in (25, 27, 29)] + sorted(
    (DATA_DIR / "study").glob("*.mzML")
)[:3]
#: The hosts whose workers ran the pieces of the run in workspace {ws}.
PIECE_HOSTS = """
import json, redis
from rq.job import Job
from src.core.settings import load_settings
from src.jobs import pieces
settings = load_settings()
connection = redis.Redis.from_url(settings.queue.redis_url)
run = json.load(open("/data/workspaces/{ws}/topp-workflow/run/job.json"))["job_id"]
jobs = [j for j in Job.fetch_many(pieces.of_run(connection, run), connection=connection) if j]
print(json.dumps(sorted({{j.worker_name.rsplit("-", 2)[0] for j in jobs}})))
"""


def rq_info_workers_with_password(app: Appliance) -> int:
    """`rq info` inside the appliance, as the compose scale file sets it up (RQ_REDIS_URL)."""
    output = app.sh(f"RQ_REDIS_URL=redis://:{PASSWORD}@127.0.0.1:6379/0 rq info")
    line = next(line for line in output.splitlines() if " workers, " in line)
    return int(line.split()[0])


def test_scale_out_without_a_password_is_refused(cluster):
    app = cluster.appliance(SCALE_OUT="true")
    assert exit_code(app) == 64
    assert "set REDIS_PASSWORD" in app.logs() and "Redis is not exposed without one" in app.logs()


def test_a_worker_with_a_wrong_password_fails_loudly(cluster):
    app = cluster.appliance(SCALE_OUT="true", REDIS_PASSWORD=PASSWORD)
    app.wait_healthy(60)
    stranger = cluster.worker(password="wrong-password-0123456789")
    assert exit_code(stranger, 90) == 64
    assert "refused the worker's credentials" in stranger.logs()


def test_a_worker_without_an_appliance_redis_url_is_refused(cluster):
    lonely = Appliance(DockerContainer(IMAGE).with_command(["worker"]).start())
    try:
        assert exit_code(lonely) == 64
        assert "ROLE=worker needs REDIS_URL pointing at the appliance's Redis" in lonely.logs()
    finally:
        lonely.container.stop()


def test_compose_scale_file_is_valid_and_keeps_redis_unpublished():
    files = ["-f", str(REPO / "docker-compose.yml"), "-f", str(REPO / "docker-compose.scale.yml")]
    env = {**os.environ, "REDIS_PASSWORD": PASSWORD}
    config = subprocess.run([*compose_command(), *files, "config"], env=env, capture_output=True, text=True)
    assert config.returncode == 0, config.stderr
    assert "worker:" in config.stdout and 'SCALE_OUT: "true"' in config.stdout
    assert config.stdout.count("6379") == 2, "6379 may appear only in the two Redis URLs, never as a port"
    env.pop("REDIS_PASSWORD")
    missing = subprocess.run([*compose_command(), *files, "config"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "set REDIS_PASSWORD" in missing.stderr
