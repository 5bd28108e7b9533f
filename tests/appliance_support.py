"""Appliance-test support: the Docker client (failing loudly without dockerd or the image), the
image's tag and uid, and the check that a bad setting stops a container with a message."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be pulled here

import docker  # noqa: E402 - the docker SDK comes with testcontainers (requirements-dev.txt)

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
