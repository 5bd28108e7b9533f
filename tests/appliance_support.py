"""Appliance-test support: the Docker client (failing loudly without dockerd or the image), the
image's tag and uid, the host's address as containers reach it, and the check that a bad setting
stops a container with a message."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import shlex
import socket
import tarfile
from collections.abc import Iterable
from pathlib import Path

import psutil
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


def bridge_host_address(network: dict, interface_addresses: Iterable[str]) -> str:
    """The host's IPv4 address as containers on a Docker network reach it, from the network's attrs
    (`docker network inspect`) and the IPv4 addresses of its bridge interface on the host: the
    interface's address (in the network's subnet, when one is listed), else the IPAM Gateway if
    listed, else the subnet's first host (where Docker puts its bridge). Some dockerd list only a
    Subnet, so the Gateway is never the only source (see the platform notes)."""
    configs = (network.get("IPAM") or {}).get("Config") or []
    subnets = [
        ipaddress.ip_network(config["Subnet"], strict=False)
        for config in configs
        if config.get("Subnet") and ipaddress.ip_network(config["Subnet"], strict=False).version == 4
    ]
    addresses = [ipaddress.ip_address(address) for address in interface_addresses]
    for address in addresses:
        if address.version == 4 and (not subnets or any(address in subnet for subnet in subnets)):
            return str(address)
    for config in configs:
        if config.get("Gateway") and ipaddress.ip_address(config["Gateway"]).version == 4:
            return config["Gateway"]
    if subnets:
        return str(next(subnets[0].hosts()))
    raise AssertionError(f"network {network.get('Name')!r} lists no IPv4 subnet and its interface no address")


def host_address_seen_from_containers(docker_client, network: str = "bridge") -> str:
    """The address on this host that a container on `network` (the default bridge unless named)
    reaches it at: bind a test's server there and give the container that address."""
    attrs = docker_client.networks.get(network).attrs
    default = "docker0" if attrs.get("Name") == "bridge" else f"br-{attrs['Id'][:12]}"
    interface = (attrs.get("Options") or {}).get("com.docker.network.bridge.name", default)
    addresses = psutil.net_if_addrs().get(interface, [])
    return bridge_host_address(attrs, [a.address for a in addresses if a.family == socket.AF_INET])


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
try:
    from src.workflows.metabolomics import MetabolomicsWorkflow
except ImportError:  # an image of the release before workflows were packages (the upgrade test's)
    from src.workflows.topp_workflow import TOPPWorkflow as MetabolomicsWorkflow
settings = load_settings()
workflow = MetabolomicsWorkflow(Path(settings.workspaces_dir) / "{ws}", settings)
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


PROBE_RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, "/app")
from secrets_probe import SecretsProbe
from src.core.settings import load_settings
from src import runs
settings = load_settings()
workflow = SecretsProbe(Path(settings.workspaces_dir) / "{ws}", settings)
print(runs.start(workflow).mode)
for _ in range(120):
    if runs.status(workflow).state.is_final:
        break
    time.sleep(0.5)
print(runs.status(workflow).state.value)
"""


def run_probe(appliance: Box, ws: str) -> str:
    """Run tests/secrets_probe.py's workflow (a step doing what a taken-over tool could) in workspace
    ``ws`` through the queue, as the app's user would; the run's full log, what its tool printed."""
    source = Path(__file__).with_name("secrets_probe.py")
    appliance.put("/app", "secrets_probe.py", source.read_bytes())
    code = shlex.quote(PROBE_RUN.format(ws=ws))
    out = appliance.sh(f"cd /app && python -c {code}", user="openms")
    assert out.split()[-2:] == ["queue", "finished"], out
    return appliance.sh(f"cat /data/workspaces/{ws}/secrets-probe/logs/all.log")
