"""The host's address as containers reach it (tests/appliance_support.py), which every appliance test
that puts a server on this host uses: worked out from the network's attrs and the bridge interface,
whatever the default bridge's IPAM lists, checked against the real dockerd and from a container."""

from __future__ import annotations

import ipaddress
import socket
import threading
import uuid

import psutil
import pytest

import docker
from tests.appliance_support import IMAGE, bridge_host_address, host_address_seen_from_containers

#: The default bridge as `docker network inspect` showed it on a CI machine: a Subnet, no Gateway.
ONLY_A_SUBNET = {"Name": "bridge", "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16"}]}}


def network_with(*configs: dict) -> dict:
    return {"Name": "bridge", "IPAM": {"Driver": "default", "Config": list(configs)}}


def test_a_bridge_that_lists_only_a_subnet_gives_its_interface_address_else_the_first_host():
    assert bridge_host_address(ONLY_A_SUBNET, ["172.17.0.1"]) == "172.17.0.1"
    assert bridge_host_address(ONLY_A_SUBNET, []) == "172.17.0.1"  # the subnet's first host
    assert bridge_host_address(network_with({"Subnet": "10.99.0.0/24"}), []) == "10.99.0.1"
    assert bridge_host_address({"Name": "bridge", "IPAM": {"Config": None}}, ["172.17.0.1"]) == "172.17.0.1"


def test_the_interface_address_comes_first_then_the_gateway():
    listed = network_with({"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.254"})
    assert bridge_host_address(listed, ["172.18.0.1"]) == "172.18.0.1"
    assert bridge_host_address(listed, []) == "172.18.0.254"
    assert bridge_host_address(listed, ["192.168.7.5"]) == "172.18.0.254"  # not on this network


def test_ipv6_entries_are_passed_over():
    dual = network_with({"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"}, {"Subnet": "172.19.0.0/16"})
    assert bridge_host_address(dual, []) == "172.19.0.1"
    assert bridge_host_address(dual, ["172.19.0.1"]) == "172.19.0.1"


def test_a_network_with_nothing_to_go_by_fails_saying_so():
    with pytest.raises(AssertionError, match="lists no IPv4 subnet"):
        bridge_host_address(network_with(), [])


@pytest.fixture(scope="module")
def dockerd():
    """The real dockerd, without needing the image (the reachability test asks for that)."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as err:
        pytest.fail(f"Docker is not reachable ({err}); start dockerd (tests/run.sh does)")
    return client


def own_ipv4_addresses() -> set[str]:
    return {
        a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET
    }


def assert_on_network(address: str, network) -> None:
    subnets = [c["Subnet"] for c in network.attrs["IPAM"]["Config"] or [] if "." in c.get("Subnet", "")]
    assert any(ipaddress.ip_address(address) in ipaddress.ip_network(s) for s in subnets), (address, subnets)
    assert address in own_ipv4_addresses(), f"{address} is not an address of this host"


@pytest.mark.container
def test_the_default_bridge_gives_an_address_of_this_host_in_its_subnet(dockerd):
    assert_on_network(host_address_seen_from_containers(dockerd), dockerd.networks.get("bridge"))


@pytest.mark.container
def test_a_network_of_its_own_gives_its_own_bridge_address(dockerd):
    network = dockerd.networks.create(f"openmstest-{uuid.uuid4().hex[:8]}", driver="bridge")
    try:
        network.reload()
        address = host_address_seen_from_containers(dockerd, network.name)
        assert_on_network(address, network)
        assert address != host_address_seen_from_containers(dockerd)
    finally:
        network.remove()


@pytest.mark.container
def test_a_container_reaches_a_server_on_that_address(docker_client):
    address = host_address_seen_from_containers(docker_client)
    listener = socket.create_server((address, 0))
    listener.settimeout(60)
    port = listener.getsockname()[1]

    def answer() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # timed out, or closed: the container's output says why
        with connection:
            connection.sendall(b"hello from the host")

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    code = (
        "import socket\n"
        f"with socket.create_connection(({address!r}, {port}), timeout=20) as s:\n"
        "    print(s.recv(100).decode())"
    )
    try:
        output = docker_client.containers.run(IMAGE, ["python", "-c", code], remove=True, stderr=True)
    finally:
        listener.close()
        server.join(5)
    assert output.decode().strip() == "hello from the host"
