"""Sign-in on the image with two web servers behind its HAProxy: the provider (oidc-provider-mock,
a real process) is reached by the browser and by the container at the same address, people sign
in through the real redirect flow, the sign-in survives a reload, and a second person's sign-in,
wherever HAProxy puts them, works as well. A container started without a secret stops with a
message that names it."""

from __future__ import annotations

import secrets
import subprocess
import sys
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.appliance_support import assert_refused, host_address_seen_from_containers
from tests.browser_support import free_port
from tests.conftest import wait_for
from tests.test_sign_in import PEOPLE, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.container]


@pytest.fixture
def provider_on_bridge(docker_client, tmp_path):
    """The provider on this host's address on the Docker bridge: the browser (on this host) and the
    container both reach it there, so the issuer they see is the same."""
    host = host_address_seen_from_containers(docker_client)
    port = free_port()
    log = (tmp_path / "provider.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", host, "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://{host}:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 30, interval=0.3, what="the OpenID provider")
        for sub, claims in PEOPLE.items():
            assert httpx.put(f"{url}/users/{quote(sub)}", json=claims).status_code == 204
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def oidc_environment(provider: str, public_url: str) -> dict[str, str]:
    return {
        "AUTH_MODE": "oidc",
        "OIDC_METADATA_URL": f"{provider}/.well-known/openid-configuration",
        "OIDC_CLIENT_ID": "openms-image",
        "OIDC_CLIENT_SECRET": "client-secret-for-the-image",
        "AUTH_COOKIE_SECRET": secrets.token_hex(32),
        "PUBLIC_URL": public_url,
    }


def test_sign_in_through_two_web_servers_survives_a_reload(box, provider_on_bridge, new_page):
    port = free_port()
    site = SimpleNamespace(url=f"http://127.0.0.1:{port}")
    environment = {**oidc_environment(provider_on_bridge, site.url), "STREAMLIT_SERVER_COUNT": "2"}
    appliance = box(environment=environment, ports={"8501/tcp": ("127.0.0.1", port)})
    appliance.wait_healthy()
    alice = new_page()
    first = sign_in(alice, site, "alice-0001")
    alice.reload()
    expect(alice.get_by_text("Signed in as Alice Analyst")).to_be_visible(timeout=60_000)
    assert first in alice.url
    bob = new_page()
    assert sign_in(bob, site, "bob-0002") != first


def test_a_container_without_its_sign_in_secret_stops_saying_which(docker_client):
    environment = oidc_environment("http://127.0.0.1:1", "https://openms.example.org")
    assert_refused(
        docker_client, {**environment, "OIDC_CLIENT_SECRET": ""}, "AUTH_MODE=oidc needs OIDC_CLIENT_SECRET"
    )
