"""Tried as an attacker would, on the real image with a real browser: Markdown in file names and
run errors is shown as text and makes no browser fetch anything from another host; forged upload
names get the page's own message, never a traceback, and nothing lands outside the workspace;
an e-mail address gets one confirmation code and nothing else until it is confirmed, and no more
mails than the hourly limit after that (a real SMTP server on the host)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Route, expect

from src.ui.text import unlinked
from tests.appliance_support import host_address_seen_from_containers
from tests.browser_support import (
    ADMIN_PASSWORD,
    go_to,
    open_app,
    settle,
    shot,
    state_shown,
)
from tests.conftest import wait_for
from tests.test_notify import Mailbox, code_in

pytestmark = [pytest.mark.slow, pytest.mark.container]

NOT_MZML = b"this is not an mzML file\n"
BROKEN_EXAMPLE = (
    "workflow.load_example()\n"
    "for path in workflow.files.inputs('mzML-files'):\n"
    "    path.write_bytes(path.read_bytes()[:3000])"
)


@dataclass
class Site:
    url: str


class OtherHost:
    """A host of the attacker's choosing: an HTTP server that records every request it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name is the interface's
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_host():
    host = OtherHost()
    yield host
    host.stop()


def record_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    return seen


def choose_payloads(page: Page, names: list[str], content: bytes) -> None:
    """Choose files by name on the File Upload page (any name: they are made in the browser)."""
    go_to(page, "File Upload")
    files = [{"name": name, "mimeType": "application/octet-stream", "buffer": content} for name in names]
    page.locator('input[type="file"]').set_input_files(files)
    for name in names:
        expect(page.get_by_role("button", name=f"Remove {name}")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()


def no_markdown_effects(page: Page, host: OtherHost) -> None:
    port = str(urlparse(host.base).port)
    assert page.locator(f'img[src*="{port}"]').count() == 0
    assert page.locator(f'a[href*="{port}"], a[href^="javascript"]').count() == 0
    assert page.get_by_test_id("stException").count() == 0 and "Traceback" not in page.content()


def test_markdown_in_file_names_and_run_errors_is_text_on_every_page(box, new_page, other_host, request):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "ADMIN_PASSWORD": ADMIN_PASSWORD})
    appliance.wait_healthy()
    site_host = f"{appliance.ip}:8501"
    page = new_page()
    requests = record_requests(page)
    workspace = open_app(page, Site(f"http://{site_host}"), "file_upload")

    names = [
        "[a](javascript:alert(1)).mzML",
        f"![t]({other_host.base}/track.png).mzML",
        f"[click me]({other_host.base}/).mzML",
        f"_{other_host.base}/after-underscore.mzML",  # GFM links an address after "_" too
    ]
    choose_payloads(page, names, NOT_MZML)
    for name in names:
        expect(page.get_by_text(unlinked(f"Not added: {name}: this is not an XML file"))).to_be_visible()
    no_markdown_effects(page, other_host)
    shot(page, "markdown-names-as-text", request)

    # A run whose error carries an image: its parameter is changed while it waits in the queue
    # (as an older version, or a second tab, could leave it), so the worker's run fails with it.
    appliance.sh("supervisorctl stop 'worker:*'")
    page.get_by_role("button", name="Load example data").click()
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(page, "Queued")).to_be_visible()
    image = f"![t]({other_host.base}/error.png)"
    params = f'{{"FeatureFinderMetabo": {{"algorithm:mtd:quant_method": "{image}"}}}}'
    target = f"/data/workspaces/{workspace}/topp-workflow/params.json"
    appliance.sh(f"printf '%s' '{params}' > {target}", user="openms")
    appliance.sh("supervisorctl start 'worker:*'")
    expect(state_shown(page, "Failed")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(unlinked(image)).first).to_be_visible()
    no_markdown_effects(page, other_host)
    shot(page, "markdown-error-as-text", request)

    for title in ("Results", "Configure", "Queue admin"):
        go_to(page, title)
        no_markdown_effects(page, other_host)
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Failed jobs")).to_be_visible()
    settle(page)
    no_markdown_effects(page, other_host)
    shot(page, "markdown-admin", request)

    assert other_host.hits == []  # no page made the browser fetch anything from the other host
    hosts = {urlparse(url).netloc for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {site_host}, hosts


FORGED = ["..", "no-extension", "../x.mzML", "nul\x00.mzML", "crlf\r\n.mzML"]


def forge_names(page: Page) -> list[str]:
    """Rewrite each upload the browser sends so that its file name is the next forged one."""
    sent: list[str] = []

    def rewrite(route: Route) -> None:
        forged = FORGED[len(sent) % len(FORGED)]
        sent.append(forged)
        body = route.request.post_data_buffer or b""
        body = re.sub(rb'filename="[^"]*"', b'filename="' + forged.encode() + b'"', body, count=1)
        route.continue_(post_data=body)

    page.route("**/_stcore/upload_file/**", rewrite)
    return sent


def test_forged_upload_names_get_a_message_and_nothing_lands_outside_the_workspace(box, new_page, request):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    page = new_page()
    workspace = open_app(page, Site(f"http://{appliance.ip}:8501"), "file_upload")
    appliance.sh("touch /tmp/before-uploads", user="openms")
    sent = forge_names(page)
    mzml = b'<?xml version="1.0"?>\n<mzML xmlns="http://psi.hupo.org/ms/mzml"></mzML>\n'
    names = [f"file{n}.mzML" for n in range(len(FORGED))]
    go_to(page, "File Upload")
    files = [{"name": name, "mimeType": "application/octet-stream", "buffer": mzml} for name in names]
    page.locator('input[type="file"]').set_input_files(files)
    wait_for(lambda: page.wait_for_timeout(200) or len(sent) == len(FORGED), 60, what="every upload sent")
    for name in names:  # every upload was answered (none left the widget with an error instead)
        expect(page.get_by_role("button", name=f"Remove {name}")).to_be_visible()
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()
    expect(page.get_by_text("Not added: no-extension: only .mzML files are accepted")).to_be_visible()
    settle(page)
    shot(page, "forged-names", request)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert page.get_by_test_id("stException").count() == 0 and "Traceback" not in page.content()
    assert "StreamlitAPIException" not in text and "Invalid file extension" not in text
    assert "Not added: '..' is not a usable file name." in text
    assert "Added x.mzML" in text  # "../x.mzML": the path part is dropped, never followed
    assert "Added nul_.mzML" in text  # the NUL is replaced like any other character
    assert "Not added: the upload was not valid multipart data" in text  # the CR/LF broke its header
    landed = appliance.sh(
        "find /data /app -newer /tmp/before-uploads -type f -not -path '/data/redis/*'", user="openms"
    ).split()
    inputs = f"/data/workspaces/{workspace}/topp-workflow/input-files/mzML-files/"
    lock = f"/data/workspaces/{workspace}/.uploads/.lock"  # the uploads' quota lock, empty
    assert sorted(set(landed) - {lock}) == [f"{inputs}nul_.mzML", f"{inputs}x.mzML"], landed


@pytest.fixture
def host_mailbox():
    box = Mailbox(hostname="0.0.0.0")
    yield box
    box.stop()


def test_an_address_gets_one_code_and_nothing_else_until_confirmed_then_at_most_the_limit(
    box, docker_client, new_page, host_mailbox, request
):
    appliance = box(
        environment={
            "RQ_WORKER_COUNT": "1",
            "SMTP_HOST": host_address_seen_from_containers(docker_client),
            "SMTP_PORT": str(host_mailbox.port),
            "SMTP_STARTTLS": "false",
            "SMTP_FROM": "openms@example.org",
            "PUBLIC_URL": "https://openms.example.org",
            "MAILS_PER_ADDRESS_PER_HOUR": "5",
        }
    )
    appliance.wait_healthy()
    page = new_page()
    workspace = open_app(page, Site(f"http://{appliance.ip}:8501"), "run")
    page.get_by_text("E-mail me when a run ends").click()
    page.get_by_label("E-mail address", exact=True).fill("victim@example.org")
    page.get_by_role("button", name="Send a confirmation code").click()
    expect(page.get_by_text(unlinked("A code was sent to victim@example.org"))).to_be_visible()
    wait_for(lambda: host_mailbox.messages, 20, what="the confirmation mail")
    assert workspace not in host_mailbox.messages[0][1].get_content()

    assert appliance.run(workspace, setup=BROKEN_EXAMPLE)["mode"] == "queue"  # a run ends, unconfirmed
    appliance.wait_run(workspace, ("failed",), 120)
    assert len(host_mailbox.messages) == 1  # nothing but the code

    page.get_by_label("Code from the e-mail", exact=True).fill(code_in(host_mailbox.messages[0][1]))
    page.get_by_role("button", name="Confirm", exact=True).click()
    confirmed = unlinked("Runs that end will be announced to victim@example.org")
    expect(page.get_by_text(confirmed)).to_be_visible()
    shot(page, "address-confirmed", request)
    for _ in range(10):  # ten runs ending within about a minute
        appliance.run(workspace)
        appliance.wait_run(workspace, ("failed",), 60)
    wait_for(lambda: len(host_mailbox.messages) >= 5, 20, what="the mails within the limit")
    assert len(host_mailbox.messages) == 5  # the code and four runs: five per address and hour
    log = appliance.sh(f"cat /data/workspaces/{workspace}/topp-workflow/logs/minimal.log")
    assert "not sent: this address already got 5 e-mails" in log
