"""The app in a real browser: Playwright drives Debian's Chromium against a running Streamlit
server, with a real redis-server and real RQ workers (online mode) or no Redis at all (local).

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
from rq.job import Job

from src.core.settings import load_settings
from src.jobs import admin, runs
from src.jobs.connection import get_connection
from src.workflows.demo_data import generate_large_run
from src.workflows.topp_workflow import TOPPWorkflow
from tests.conftest import REPO, processes_mentioning, set_noise_threshold, wait_for
from tests.queue_support import free_port, online_env

pytestmark = pytest.mark.slow
# Playwright's 5 s default for expect() is too short for a first Streamlit render on a busy
# 2-core machine (pyOpenMS and plotly imports); a real hang still fails, only later.
expect.set_options(timeout=30_000)

#: Debian's Chromium; elsewhere Playwright's own (`python -m playwright install chromium`).
CHROMIUM = os.environ.get("CHROMIUM") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = REPO / "test-artifacts" / "screenshots"
ADMIN_PASSWORD = "admin-secret-42"
RUN_TIMEOUT_MS = 180_000


class AppServer:
    """`streamlit run app.py` on a free port, with the given environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.port", str(self.port), "--server.headless", "true",
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

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
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
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def upload(page: Page, files: list[Path]) -> None:
    go_to(page, "File Upload")
    page.locator('input[type="file"]').set_input_files([str(f) for f in files])
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()
    for f in files:
        expect(page.get_by_text(f"Added {f.name}")).to_be_visible()


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


def test_upload_run_and_results_through_the_queue(online_app, new_page, nz_files, settings, request):
    page = new_page()
    workspace_id = open_app(page, online_app)
    expect(page.get_by_text("Job queue")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Workers busy: 0 of 1"))).to_be_visible()
    upload(page, nz_files)
    shot(page, "uploaded", request)
    workflow = quiet_noise(settings, workspace_id)

    seen = start_and_watch_to_completion(page, request)

    assert seen, "no progress was shown while the run was Running"
    check_results(page, request)
    assert workflow.table_path().is_file()


def test_a_second_workspace_waits_its_turn_with_one_worker(online_app, new_page, nz_files, settings, request):
    first, second = new_page(), new_page()
    first_id = open_app(first, online_app)
    first_inputs = TOPPWorkflow(settings.workspaces_dir / first_id, settings).files.input_dir("mzML-files")
    generate_large_run(first_inputs)
    second_id = open_app(second, online_app)
    assert second_id != first_id
    upload(second, nz_files)
    quiet_noise(settings, second_id)

    go_to(first, "Run")
    first.get_by_role("button", name="Start Workflow").click()
    expect(first.get_by_text("Running", exact=True)).to_be_visible(timeout=60_000)
    go_to(second, "Run")
    second.get_by_role("button", name="Start Workflow").click()
    expect(second.get_by_text("#1 in the queue")).to_be_visible()
    expect(second.get_by_text("Queued", exact=True)).to_be_visible()
    expect(second.get_by_role("button", name="Cancel")).to_be_visible()
    shot(second, "queued-behind-first", request)

    go_to(second, "Results")  # the second user looks elsewhere while waiting: a toast tells them
    expect(first.get_by_text(re.compile(r"Completed\s+in"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(second.get_by_text("Your workflow run is complete")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    shot(second, "toast-on-results-page", request)
    go_to(second, "Run")
    expect(second.get_by_text(re.compile(r"Completed\s+in"))).to_be_visible()
    shot(second, "ran-after-first", request)
    # The second run did not start before the first one ended.
    first_view = runs.status(TOPPWorkflow(settings.workspaces_dir / first_id, settings))
    second_view = runs.status(TOPPWorkflow(settings.workspaces_dir / second_id, settings))
    assert second_view.started_at >= first_view.ended_at - 1


def test_stop_workflow_mid_run_cancels_and_leaves_no_tool_running(online_app, new_page, settings, request):
    page = new_page()
    workspace_id = open_app(page, online_app)
    workflow = TOPPWorkflow(settings.workspaces_dir / workspace_id, settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))

    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    expect(page.get_by_text("Running", exact=True)).to_be_visible(timeout=60_000)
    wait_for(lambda: processes_mentioning(str(workflow.dir)), 60, what="a TOPP tool to run")
    page.reload()  # the status survives a browser reload: same workspace, same run
    expect(page.get_by_text("Running", exact=True)).to_be_visible()
    assert f"workspace={workspace_id}" in page.url
    shot(page, "running", request)
    page.get_by_role("button", name="Stop Workflow").click()

    expect(page.get_by_text("Cancelled", exact=True)).to_be_visible(timeout=30_000)
    shot(page, "cancelled", request)
    wait_for(lambda: not processes_mentioning(str(workflow.dir)), 10, what="every tool of the run to end")
    expect(page.get_by_role("button", name="Start Workflow")).to_be_visible()


def test_admin_page_shows_workers_and_locks_actions_behind_the_password(
    online_app, new_page, settings, redis_url, request
):
    online = load_settings(env=online_env(settings, redis_url))
    broken = TOPPWorkflow(online.workspaces_dir / "broken", online)
    (broken.files.input_dir("mzML-files") / "truncated.mzML").write_text("<mzML><run>")
    job_id = runs.start(broken).job_id
    wait_for(lambda: runs.status(broken).state == "failed", 60, interval=0.3, what="the run to fail")

    page = new_page()
    open_app(page, online_app, "admin")
    expect(page.get_by_role("heading", name="Queue admin")).to_be_visible()
    expect(page.get_by_role("heading", name="Workers (1)")).to_be_visible()
    expect(page.get_by_text("Queue depth, last hour")).to_be_visible()
    expect(page.get_by_role("heading", name="Failed jobs")).to_be_visible()
    shot(page, "admin", request)

    page.get_by_label("Admin password").fill("not-the-password")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Wrong admin password: nothing was changed.")).to_be_visible()
    page.get_by_text("Delete", exact=True).click()
    page.get_by_role("button", name="Apply").click()  # the form was cleared: no password at all
    expect(page.get_by_text("Wrong admin password: nothing was changed.")).to_be_visible()
    shot(page, "admin-refused", request)
    connection = get_connection(online.queue)
    assert Job.fetch(job_id, connection=connection).get_status() == "failed"
    assert [f.job_id for f in admin.failed_jobs(online)] == [job_id]

    page.get_by_text("Delete", exact=True).click()
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text(f"Job {job_id} was deleted")).to_be_visible()
    assert admin.failed_jobs(online) == []


def test_local_mode_upload_run_and_results_without_redis(local_app, new_page, nz_files, settings, request):
    page = new_page()
    workspace_id = open_app(page, local_app)
    expect(page.get_by_test_id("stSidebar").get_by_text("local mode")).to_be_visible()
    assert page.get_by_text("Job queue").count() == 0  # nothing queue-related in local mode
    upload(page, nz_files)
    local = load_settings(env={"WORKSPACES_DIR": str(settings.workspaces_dir), "ONLINE_DEPLOYMENT": "false"})
    workflow = quiet_noise(local, workspace_id)

    start_and_watch_to_completion(page, request)

    check_results(page, request)
    assert workflow.table_path().is_file()
