"""Per-visitor limits on the real image, through a real browser: the workspace quota and the
free-disk guard on a small tmpfs volume, runs per client address, example passwords refused at
start, and no secrets in the image.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.appliance_support import IMAGE, assert_refused
from tests.browser_support import go_to, open_app, shot, start_example_run, state_shown, submit_files
from tests.conftest import REPO, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.container]

MB = 1024**2
WORKSPACES = "/data/workspaces"
LIMITS = {
    "RQ_WORKER_COUNT": "1",
    "WORKSPACE_QUOTA_GB": str(30 / 1024),  # 30 MB
    "MIN_FREE_DISK_GB": str(20 / 1024),  # 20 MB
    "RUNNING_RUNS_PER_CLIENT": "2",
}


@dataclass
class Site:
    """The app as a browser reaches it at one of the container's addresses."""

    url: str


@pytest.fixture(scope="module")
def limited(docker_client):
    """One appliance on a 64 MB tmpfs, reachable on two Docker networks (so two client addresses)."""
    network = docker_client.networks.create(f"openms-visitors-{uuid.uuid4().hex[:8]}")
    container = docker_client.containers.run(
        IMAGE, detach=True, environment=LIMITS, tmpfs={WORKSPACES: "size=64m"}
    )
    try:
        network.connect(container)

        def healthy() -> bool:
            container.reload()
            return container.attrs["State"].get("Health", {}).get("Status") == "healthy"

        wait_for(healthy, 90, interval=1, what="the appliance to be healthy")
        yield container, network
    finally:
        container.remove(force=True)
        network.remove()


def address(container, network_name: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network_name]["IPAddress"]


def sh(container, command: str) -> str:
    result = container.exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return result.output.decode(errors="replace")


def mzml_file(tmp_path, name: str, size: int):
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.write(b'<?xml version="1.0"?>\n<mzML>\n')
        handle.write(b" " * (size - handle.tell()))
    return path


def add_file(page: Page, path) -> None:
    submit_files(page, [path])
    expect(page.get_by_text(re.compile(rf"(Added |Not added: ){re.escape(path.name)}"))).to_be_visible(
        timeout=120_000
    )


def test_quota_and_free_disk_guard_on_a_small_volume(limited, new_page, tmp_path, request):
    container, _ = limited
    site = Site(f"http://{address(container, 'bridge')}:8501")
    first = new_page()
    first_id = open_app(first, site, "file_upload")
    add_file(first, mzml_file(tmp_path, "first-25mb.mzML", 25 * MB))
    expect(first.get_by_text("Added first-25mb.mzML")).to_be_visible()
    add_file(first, mzml_file(tmp_path, "second-10mb.mzML", 10 * MB))
    expect(
        first.get_by_text(
            re.compile(r"Not added: second-10mb\.mzML: This workspace holds 25\.0 MB of its 30\.0 MB quota")
        )
    ).to_be_visible()
    shot(first, "quota", request)

    # Someone else's data leaves 19 MB free, below the 20 MB guard.
    sh(container, f"dd if=/dev/zero of={WORKSPACES}/.filler bs=1M count=20 2>/dev/null")
    second = new_page()
    second_id = open_app(second, site, "file_upload")
    expect(
        second.get_by_text(
            re.compile(r"almost full \(19\.\d MB free.*need at least 20\.0 MB.*tell the administrator")
        )
    ).to_be_visible()
    shot(second, "disk-guard-upload", request)
    go_to(first, "Run")
    first.get_by_role("button", name="Start Workflow").click()
    expect(first.get_by_text(re.compile("almost full.*tell the administrator"))).to_be_visible()
    shot(first, "disk-guard-start", request)

    assert sh(container, f"find {WORKSPACES} -name '*.part'").strip() == ""  # nothing half-written
    listing = sh(container, f"ls -l {WORKSPACES}/{first_id}/topp-workflow/input-files/mzML-files/")
    assert "first-25mb.mzML" in listing and "second-10mb" not in listing
    assert str(25 * MB) in listing  # the first visitor's file is whole
    assert sh(container, f"find {WORKSPACES}/{second_id} -name '*.mzML'").strip() == ""

    sh(container, f"rm {WORKSPACES}/.filler")
    second.reload()
    add_file(second, mzml_file(tmp_path, "after-freeing.mzML", 5 * MB))
    expect(second.get_by_text("Added after-freeing.mzML")).to_be_visible()


def test_runs_per_client_address_on_the_image(limited, new_page, request):
    container, network = limited
    sh(container, "supervisorctl stop 'worker:*'")  # every run stays queued
    here = Site(f"http://{address(container, 'bridge')}:8501")
    there = Site(f"http://{address(container, network.name)}:8501")  # another network, another address

    def start_run(site: Site) -> Page:
        return start_example_run(new_page(), site)

    for _ in range(2):
        expect(state_shown(start_run(here), "Queued")).to_be_visible()
    third = start_run(here)  # over this address's share of 2: held, not refused
    expect(state_shown(third, "Waiting")).to_be_visible()
    expect(
        third.get_by_text(re.compile(r"Held: starts by itself when one of the 2 runs from your network"))
    ).to_be_visible()
    shot(third, "third-run-held", request)
    expect(state_shown(start_run(there), "Queued")).to_be_visible()


@pytest.mark.parametrize(
    ("name", "value"),
    [("ADMIN_PASSWORD", "change-me-too"), ("REDIS_PASSWORD", "change-me-to-a-long-random-string")],
)
def test_the_example_passwords_stop_the_container_with_a_message(docker_client, name, value):
    assert_refused(docker_client, {name: value}, f"{name} is still the example value")


def test_secrets_toml_never_reaches_an_image(docker_client, tmp_path):
    """The repository's .dockerignore keeps .streamlit/secrets.toml out of the build context."""
    context = tmp_path / "context"
    (context / ".streamlit").mkdir(parents=True)
    (context / ".dockerignore").write_text((REPO / ".dockerignore").read_text())
    (context / ".streamlit" / "config.toml").write_text("[server]\nheadless = true\n")
    (context / ".streamlit" / "secrets.toml").write_text('admin_password = "do-not-ship-this"\n')
    (context / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY .streamlit /app/.streamlit\n")
    tag = f"openms-secrets-check:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(path=str(context), tag=tag, rm=True)
    try:
        listing = docker_client.containers.run(tag, ["ls", "/app/.streamlit"], remove=True).decode()
    finally:
        docker_client.images.remove(tag, force=True)
    assert "config.toml" in listing and "secrets.toml" not in listing
    ignored = subprocess.run(
        ["git", "check-ignore", ".streamlit/secrets.toml"], cwd=REPO, capture_output=True, text=True
    )
    assert ignored.returncode == 0, "git must ignore .streamlit/secrets.toml"
    image_files = docker_client.containers.run(IMAGE, ["ls", "-a", "/app/.streamlit"], remove=True).decode()
    assert "secrets.toml" not in image_files
