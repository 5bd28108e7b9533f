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
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect, sync_playwright
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from src.core.settings import load_settings
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import REPO, set_noise_threshold, wait_for
from tests.queue_support import free_port, online_env

# Playwright's 5 s default for expect() is too short for a first Streamlit render on a busy
# 2-core machine (pyOpenMS and plotly imports); a real hang still fails, only later.
expect.set_options(timeout=30_000)

SHOTS = REPO / "test-artifacts" / "screenshots"
#: How the Run page's state element says a run completed (with its run time).
COMPLETED_IN = re.compile(r"^Completed\s+in\b")
ADMIN_PASSWORD = "admin-secret-42"
RUN_TIMEOUT_MS = 180_000


class AppServer:
    """`streamlit run src/web/server.py` (app.py, uploads streamed to disk) on a free port, with the
    given environment, as the appliance runs it."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
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
            # MALLOC_ARENA_MAX as supervisord.conf starts a web server
            env={**os.environ, "MALLOC_ARENA_MAX": "2", **env},
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

    def open_page(visitor: str = "") -> Page:
        """A new visitor (own cookies, own Streamlit session); ``visitor`` is the address a proxy
        in front of the app would put in X-Forwarded-For (Streamlit trusts it from loopback)."""
        headers = {"X-Forwarded-For": visitor} if visitor else {}
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, extra_http_headers=headers)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


class ScriptRuns:
    """What a page's websocket carries: the script runs it asks for (the whole page, or one
    fragment by its id) and those the server reports finished, so a test waits for "the page
    reran" or "that block refreshed" instead of sleeping. Attach it before the page is opened."""

    def __init__(self, page: Page) -> None:
        self.page = page
        # Each rerun the page asked for: (fragment id, "" for the whole page; runs finished by then).
        self.asked: list[tuple[str, int]] = []
        self.finished = 0  # script runs (page or fragment) the server reported finished
        self.fragment_texts: dict[str, str] = {}  # fragment id -> the text its elements showed
        page.on("websocket", self._attach)

    def _attach(self, socket: WebSocket) -> None:
        socket.on("framesent", self._sent)
        socket.on("framereceived", self._received)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            message = BackMsg.FromString(payload)
            if message.WhichOneof("type") == "rerun_script":
                self.asked.append((message.rerun_script.fragment_id, self.finished))

    def _received(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes):
            return
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        if kind == "script_finished":
            self.finished += 1
        elif kind == "delta" and message.delta.fragment_id:
            text = str(message.delta.new_element)
            fragment = message.delta.fragment_id
            self.fragment_texts[fragment] = self.fragment_texts.get(fragment, "") + text

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # the page's events are delivered while Playwright waits
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}")
            self.page.wait_for_timeout(100)

    def fragment_showing(self, text: str) -> str:
        found = [f for f, shown in self.fragment_texts.items() if text in shown]
        assert len(found) == 1, f"{len(found)} fragments show {text!r}"
        return found[0]

    def mark(self) -> int:
        """Now, for ``wait_rerun(since=...)``."""
        return len(self.asked)

    def wait_rerun(self, fragment: str = "", since: int | None = None, timeout: float = 60) -> None:
        """Wait until the page (or the fragment with this id) was rerun after ``since`` (default:
        now) and that run finished."""
        start = self.mark() if since is None else since

        def asked_for() -> list[int]:
            return [done for wanted, done in self.asked[start:] if wanted == fragment]

        what = f"a rerun of {fragment or 'the page'}"
        self._wait(asked_for, timeout, f"{what} (asked for: {self.asked[start:]})")
        self._wait(lambda: self.finished > asked_for()[0], timeout, f"{what} to finish")
        settle(self.page)

    def wait_refresh_of(self, text: str, timeout: float = 60) -> None:
        """Wait for one refresh of the fragment (a live block) that shows ``text``."""
        self.wait_rerun(self.fragment_showing(text), timeout=timeout)


def shot(page: Page, name: str, request) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"\W+", "_", request.node.name)
    page.screenshot(path=str(SHOTS / f"{test}-{name}.png"), full_page=True)


def open_app(page: Page, server: AppServer, path: str = "") -> str:
    """Open a page of the app; return the workspace id it gave this visitor ("" on the Queue admin
    page, which makes none for a visitor without one)."""
    page.goto(f"{server.url}/{path}")
    # A server's first page imports pyOpenMS and plotly: on a loaded machine that alone takes long.
    sidebar = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"(online|local) mode"))
    expect(sidebar).to_be_visible(timeout=90_000)
    if path.partition("?")[0] == "admin":
        return parse_qs(urlparse(page.url).query).get("workspace", [""])[0]
    wait_for(lambda: "workspace=" in page.url, 15, what="the workspace id in the URL")
    return parse_qs(urlparse(page.url).query)["workspace"][0]


#: The address of each page of a workflow section (src/ui/navigation.py).
PAGE_ADDRESS = {"File Upload": "file_upload", "Configure": "configure", "Run": "run", "Results": "results"}


def go_to(page: Page, title: str, workflow: str = "") -> None:
    """Open a page from the sidebar, unless it is open already (clicking would rerun it, and a
    rerun that starts after the next action replaces the widget that action used). ``workflow``:
    the id of a workflow other than the first (whose pages have the plain addresses)."""
    heading = page.get_by_role("heading", name=title, exact=True)
    address = f"{workflow}-{PAGE_ADDRESS[title]}" if workflow else PAGE_ADDRESS.get(title, "")
    there = urlparse(page.url).path.rstrip("/").endswith("/" + address) if address else True
    if heading.count() == 0 or not there:
        links = page.get_by_role("link", name=title, exact=True)
        if workflow:
            links = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{address}"]')
        links.first.click()
    expect(heading).to_be_visible()
    if address:
        wait_for(lambda: urlparse(page.url).path.rstrip("/").endswith("/" + address), 15, what=address)
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


def quiet_noise(settings, workspace_id: str) -> MetabolomicsWorkflow:
    """The bundled QC runs need noise_threshold_int 100 (README); set as the Configure page would."""
    return set_noise_threshold(MetabolomicsWorkflow(settings.workspaces_dir / workspace_id, settings))


def progress_values(page: Page) -> list[float]:
    """The progress bar of the run's state element (not the sidebar's load bars), read at once."""
    values = page.eval_on_selector_all(
        '.st-key-run-state [role="progressbar"]',
        "bars => bars.map(b => b.getAttribute('aria-valuenow'))",
    )
    return [float(v) for v in values if v is not None]


def run_state(page: Page) -> Locator:
    """The Run page's state element, inside its status block: the one place a run's state is shown
    (the log beside it, the history and the sidebar also hold these words)."""
    return page.locator(".st-key-run-state")


def state_shown(page: Page, *labels: str) -> Locator:
    """The run's state if it is one of ``labels``; strict, so two states shown at once fail."""
    return run_state(page).get_by_text(re.compile(rf"^({'|'.join(labels)})$"))


def completed_shown(page: Page) -> Locator:
    return run_state(page).get_by_text(COMPLETED_IN)


def started_caption(page: Page) -> Locator:
    """The state element's "Started <time> · on <worker> · job <id>" line (absent while queued)."""
    return run_state(page).get_by_text(re.compile(r"^Started "))


def start_and_watch_to_completion(page: Page, request) -> set[float]:
    """Press Start Workflow on the Run page; return the run's progress values seen until Completed.

    The page may still show the previous run's "Completed" for a moment after the click (on a slow
    machine, the page's rerun takes that long): the new run is the one whose start line differs."""
    go_to(page, "Run")
    previous = started_caption(page).inner_text() if started_caption(page).count() else ""
    page.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(page, "Queued", "Running", "Completed")).to_be_visible()
    expect(started_caption(page)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    if previous:
        expect(started_caption(page)).not_to_have_text(previous, timeout=RUN_TIMEOUT_MS)
    shot(page, "started", request)
    seen: set[float] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not completed_shown(page).is_visible():
        expect(state_shown(page, "Queued", "Running", "Completed")).to_be_visible()  # never another
        if state_shown(page, "Running").is_visible():
            seen.update(progress_values(page))
        time.sleep(0.2)
    expect(completed_shown(page)).to_be_visible()
    shot(page, "completed", request)
    return seen


def check_results(page: Page, request) -> None:
    go_to(page, "Results")
    expect(page.get_by_text("Consensus features").first).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    assert page.locator(".js-plotly-plot").count() >= 2
    download = page.get_by_role("link", name=re.compile("Download all results"))
    expect(download).to_be_visible()
    answer = page.request.get(urljoin(page.url, download.get_attribute("href")))
    assert answer.ok and answer.headers["content-type"] == "application/zip"
    assert answer.body()[:2] == b"PK"  # a zip archive
    shot(page, "results", request)
