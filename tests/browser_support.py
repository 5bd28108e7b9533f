"""Browser-test support: a real Streamlit server, Debian's Chromium driven by Playwright, and the
steps every browser test shares (open the app, upload, go to a page, screenshots).

Screenshots of every step are kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from src.core.settings import load_settings
from src.workflows.topp_workflow import TOPPWorkflow
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import REPO, set_noise_threshold, wait_for
from tests.queue_support import free_port, online_env

# Playwright's 5 s default for expect() is too short for a first Streamlit render on a busy
# 2-core machine (pyOpenMS and plotly imports); a real hang still fails, only later.
expect.set_options(timeout=30_000)

SHOTS = REPO / "test-artifacts" / "screenshots"
ADMIN_PASSWORD = "admin-secret-42"
RUN_TIMEOUT_MS = 180_000


class AppServer:
    """`streamlit run src/web/server.py` (app.py, uploads streamed to disk) on a free port, with the
    given environment, as the appliance runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "src/web/server.py",
                "--server.address", "127.0.0.1", "--server.port", str(self.port), "--server.headless", "true",
                "--browser.gatherUsageStats", "false",
            ],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self._healthy, 60, interval=0.3, what="Streamlit to answer")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def online_app(settings, redis_url, workers, tmp_path):
    env = online_env(settings, redis_url, ADMIN_PASSWORD=ADMIN_PASSWORD)
    workers.start(load_settings(env=env), redis_url, 1)
    server = AppServer(env, tmp_path / "streamlit.log")
    yield server
    server.stop()


@pytest.fixture
def local_app(settings, tmp_path):
    env = {"WORKSPACES_DIR": str(settings.workspaces_dir), "ONLINE_DEPLOYMENT": "false"}
    server = AppServer(env, tmp_path / "streamlit.log")
    yield server
    server.stop()


@pytest.fixture
def new_page(browser, request):
    contexts = []

    def open_page(client: str = "") -> Page:
        """A new visitor (own cookies, own Streamlit session); ``client`` is the address a proxy
        in front of the app would put in X-Forwarded-For (Streamlit trusts it from loopback)."""
        headers = {"X-Forwarded-For": client} if client else {}
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, extra_http_headers=headers)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shot(page: Page, name: str, request) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"\W+", "_", request.node.name)
    page.screenshot(path=str(SHOTS / f"{test}-{name}.png"), full_page=True)


def open_app(page: Page, server: AppServer, path: str = "") -> str:
    """Open a page of the app; return the workspace id it gave this visitor."""
    page.goto(f"{server.url}/{path}")
    expect(page.get_by_test_id("stSidebar").get_by_text(re.compile(r"(online|local) mode"))).to_be_visible()
    wait_for(lambda: "workspace=" in page.url, 15, what="the workspace id in the URL")
    return parse_qs(urlparse(page.url).query)["workspace"][0]


def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar, unless it is open already (clicking would rerun it, and a
    rerun that starts after the next action replaces the widget that action used)."""
    heading = page.get_by_role("heading", name=title, exact=True)
    if heading.count() == 0:
        page.get_by_role("link", name=title, exact=True).click()
    expect(heading).to_be_visible()
    settle(page)


def settle(page: Page) -> None:
    """Wait until the page's script has finished its run (a widget used during a rerun may be
    replaced by the rerun's own and lose what was done to it)."""
    expect(page.locator('[data-test-script-state="notRunning"]')).to_have_count(1)


def submit_files(page: Page, files: list[Path]) -> None:
    """Choose files on the File Upload page and press 'Add files' once every one has finished
    uploading (the widget labels a file's button 'Remove <name>' only then; a form submitted
    while a file is still uploading carries no file)."""
    go_to(page, "File Upload")
    page.locator('input[type="file"]').set_input_files([str(f) for f in files])
    for f in files:
        expect(page.get_by_role("button", name=f"Remove {f.name}")).to_be_visible(timeout=120_000)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()


def upload(page: Page, files: list[Path]) -> None:
    submit_files(page, files)
    for f in files:
        expect(page.get_by_text(f"Added {f.name}")).to_be_visible()


def start_example_run(page: Page, server) -> Page:
    """In a fresh visitor's page: load the example data and press Start Workflow on the Run page."""
    open_app(page, server, "file_upload")
    page.get_by_role("button", name="Load example data").click()
    expect(page.get_by_text("Example data loaded")).to_be_visible()
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    return page


def quiet_noise(settings, workspace_id: str) -> TOPPWorkflow:
    """The bundled QC runs need noise_threshold_int 100 (README); set as the Configure page would."""
    return set_noise_threshold(TOPPWorkflow(settings.workspaces_dir / workspace_id, settings))


def progress_values(page: Page) -> list[float]:
    """The progress bars of the page's main area (not the sidebar's load bars), read at once."""
    values = page.eval_on_selector_all(
        '[data-testid="stMain"] [role="progressbar"]',
        "bars => bars.map(b => b.getAttribute('aria-valuenow'))",
    )
    return [float(v) for v in values if v is not None]


def start_and_watch_to_completion(page: Page, request) -> set[float]:
    """Press Start Workflow on the Run page; return the main progress values seen until Completed."""
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    expect(page.get_by_text(re.compile(r"^(Queued|Running)$"))).to_be_visible()
    shot(page, "started", request)
    seen: set[float] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    completed = page.get_by_text("Completed", exact=False).first
    while time.monotonic() < deadline and not completed.is_visible():
        if page.get_by_text("Running", exact=True).is_visible():
            seen.update(progress_values(page))
        time.sleep(0.2)
    expect(page.get_by_text(re.compile(r"Completed\s+in"))).to_be_visible()
    shot(page, "completed", request)
    return seen


def check_results(page: Page, request) -> None:
    go_to(page, "Results")
    expect(page.get_by_text("Consensus features").first).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    assert page.locator(".js-plotly-plot").count() >= 2
    expect(page.get_by_role("button", name="Download all results (zip)")).to_be_visible()
    shot(page, "results", request)
