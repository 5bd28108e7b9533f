"""Appliance-test support: the Docker client (failing loudly without dockerd or the image), the
image's tag and uid, and the check that a bad setting stops a container with a message."""

from __future__ import annotations

import io
import json
import os
import shlex
import tarfile

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be pulled here

import docker
from tests.conftest import wait_for

IMAGE = os.environ.get("IMAGE_TAG", "openms-workflow-server:latest")
APP_UID = 10001


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as err:
        pytest.fail(
            f"Docker is not reachable ({err}); start dockerd (tests/run.sh does) to run the appliance tests"
        )
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} is missing; build it with: bash scripts/build-image.sh")
    return client


def assert_refused(docker_client, environment: dict[str, str], message: str) -> None:
    output = docker_client.containers.run(IMAGE, environment=environment, remove=False, detach=True)
    try:
        result = output.wait(timeout=60)
        logs = output.logs().decode()
    finally:
        output.remove(force=True)
    assert result["StatusCode"] == 64
    assert message in logs


RUN = """
import json
from pathlib import Path
from src.core.settings import load_settings
from src import runs
from src.workflows.topp_workflow import TOPPWorkflow
settings = load_settings()
workflow = TOPPWorkflow(Path(settings.workspaces_dir) / "{ws}", settings)
{setup}
print(json.dumps(runs.{action}(workflow).__dict__))
"""


class Box:
    """One container of the image started with the Docker SDK (any run options)."""

    def __init__(self, docker_client, user: str = "", image: str = IMAGE, **options) -> None:
        self.user = user  # the uid `docker exec` uses for the app's Python, as the container's own
        self.container = docker_client.containers.run(image, detach=True, user=user or None, **options)

    def reload(self):
        self.container.reload()
        return self.container.attrs

    @property
    def ip(self) -> str:
        return self.reload()["NetworkSettings"]["IPAddress"]

    def wait_healthy(self, timeout: float = 90) -> None:
        wait_for(
            lambda: self.reload()["State"].get("Health", {}).get("Status") == "healthy",
            timeout,
            interval=1,
            what=f"the container to be healthy ({self.logs()[-2000:]})",
        )

    def sh(self, command: str, user: str = "root", check: bool = True) -> str:
        result = self.container.exec_run(["sh", "-c", command], user=user)
        output = result.output.decode(errors="replace")
        assert not check or result.exit_code == 0, f"{command!r} failed ({result.exit_code}): {output}"
        return output

    def run(self, ws: str, action: str = "start", setup: str = "") -> dict:
        code = RUN.format(ws=ws, action=action, setup=setup)
        out = self.sh(f"cd /app && python -c {shlex.quote(code)}", user=self.user or "openms")
        return json.loads(out.strip().splitlines()[-1])

    def wait_run(self, ws: str, states: tuple[str, ...], timeout: float) -> dict:
        return wait_for(
            lambda: (s := self.run(ws, "status"))["state"] in states and s,
            timeout,
            interval=1,
            what=f"the run in {ws} to reach {states}",
        )

    def put(self, folder: str, name: str, data: bytes) -> None:
        """Put a file (root's, readable by all) into the container."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(folder, archive.getvalue())

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def remove(self) -> None:
        try:
            self.container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass  # removed already (by the test, or with the named volumes it used)


@pytest.fixture
def box(docker_client):
    started: list[Box] = []

    def start(**options) -> Box:
        started.append(Box(docker_client, **options))
        return started[-1]

    yield start
    for one in started:
        one.remove()
