"""The web tier of the image under visitors: eight sessions waiting at once all see their runs
end without disconnects or frontend crashes; two Streamlit servers behind HAProxy keep each
visitor on one server, survive one being killed, and a reload keeps the workspace."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from src.core.settings.check import WEB_PORT_BASE
from tests.browser_support import (
    ScriptRuns,
    completed_shown,
    open_app,
    shot,
    start_and_watch_to_completion,
    start_example_run,
    upload,
)
from tests.conftest import DATA_DIR

pytestmark = [pytest.mark.slow, pytest.mark.container]

BAD_CONSOLE = ("disconnected", "delta path")


class Site:
    def __init__(self, url: str) -> None:
        self.url = url


def watch_console(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


def test_eight_sessions_waiting_at_once_all_see_their_run_end(box, new_page, request):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "RUNNING_RUNS_PER_CLIENT": "20"})
    appliance.wait_healthy()
    site = Site(f"http://{appliance.ip}:8501")
    pages, consoles = [], []
    for _ in range(8):
        page = new_page()
        consoles.append(watch_console(page))
        pages.append(start_example_run(page, site))  # all press Start within seconds; one worker
    for page in pages:
        expect(completed_shown(page)).to_be_visible(timeout=300_000)
    shot(pages[-1], "eighth-session-completed", request)
    bad = [text for seen in consoles for text in seen if any(b in text.lower() for b in BAD_CONSOLE)]
    crashes = [text for seen in consoles for text in seen if text.startswith("pageerror")]
    assert bad == [] and crashes == [], bad + crashes


def server_of(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "OPENMS_WEB")


def test_two_web_servers_behind_the_proxy(box, new_page, request):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "STREAMLIT_SERVER_COUNT": "2"})
    appliance.wait_healthy()
    for port in (WEB_PORT_BASE + 1, WEB_PORT_BASE + 2):
        code = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/_stcore/health').status)"
        assert appliance.sh(f'python -c "{code}"', user="openms").strip() == "200"
    site = Site(f"http://{appliance.ip}:8501")
    first, second = new_page(), new_page()
    console = watch_console(first)
    script_runs = ScriptRuns(first)
    start_example_run(first, site)
    start_example_run(second, site)
    assert {server_of(first), server_of(second)} == {"web1", "web2"}  # by cookie, not by address
    expect(completed_shown(first)).to_be_visible(timeout=180_000)
    url = first.url

    first.reload()
    expect(completed_shown(first)).to_be_visible()
    assert first.url == url  # the same workspace, whichever server answers

    server = server_of(first)
    before_kill = script_runs.mark()
    appliance.sh(f"kill -9 $(supervisorctl pid streamlit:streamlit-{server.removeprefix('web')})")
    state = first.locator("[data-test-connection-state]")
    expect(state).not_to_have_attribute("data-test-connection-state", "CONNECTED", timeout=10_000)
    expect(state).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=60_000)
    script_runs.wait_rerun(since=before_kill)  # the page reruns on the server it reached
    expect(completed_shown(first)).to_be_visible()
    assert first.url == url
    shot(first, "after-server-killed", request)
    assert not [t for t in console if t.startswith("pageerror") or "delta path" in t]
    appliance.wait_healthy()  # supervisord brought the killed server back


def test_a_profile_file_runs_on_the_image_and_each_run_is_kept(box, new_page, request):
    """The scientists' features on the image itself: PeakPickerHiRes is there, the workers (uid
    10001) archive what the web server moved aside, the Run page lists both runs."""
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    site = Site(f"http://{appliance.ip}:8501")
    page = new_page()
    open_app(page, site)
    upload(page, [DATA_DIR / "profile-data-zlib-indexed-compressed.mzML"])
    expect(
        page.get_by_text(re.compile(r"profile data; the workflow centroids it with PeakPickerHiRes"))
    ).to_be_visible()
    for _ in range(2):
        start_and_watch_to_completion(page, request)
    expect(page.get_by_text(re.compile(r"Running PeakPickerHiRes on 1 input")).first).to_be_visible()
    expect(page.get_by_role("heading", name="Runs in this workspace")).to_be_visible()
    expect(page.locator('[role="gridcell"]', has_text="Completed")).to_have_count(2)
    shot(page, "profile-runs-on-the-image", request)
