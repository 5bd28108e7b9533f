"""Anonymous visitors in a real browser: nothing of one visitor reaches another without the admin
password, the admin sign-in is limited and expires, uploads are bounded and streamed to disk, and
runs are limited per visitor. Real Streamlit server (src/web/server.py), real Redis and workers.
"""

from __future__ import annotations

import json
import re
import threading
import time

import psutil
import pytest
from playwright.sync_api import Page, expect

from src import runs
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.browser_support import (
    ADMIN_PASSWORD,
    AppServer,
    ScriptRuns,
    go_to,
    open_app,
    shot,
    start_example_run,
    state_shown,
    submit_files,
)
from tests.conftest import REPO
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

BROKEN_MZML = '<?xml version="1.0"?>\n<mzML><run><spectrumList count="1"><spectrum>'
MB = 1024**2


@pytest.fixture
def start_server(settings, redis_url, tmp_path):
    started: list[AppServer] = []

    def start(**env: str) -> AppServer:
        full = online_env(settings, redis_url, ADMIN_PASSWORD=ADMIN_PASSWORD, **env)
        server = AppServer(full, tmp_path / f"streamlit-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def add_files(page: Page, paths, expect_text: str = "Added") -> None:
    submit_files(page, list(paths))
    expect(page.get_by_text(expect_text).first).to_be_visible(timeout=300_000)


def sign_in(page: Page, password: str) -> None:
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_visitor_sees_nothing_of_another_visitors_failed_run_without_the_password(
    start_server, workers, online_settings, redis_url, new_page, tmp_path, request
):
    server = start_server()
    workers.start(online_settings, redis_url, 1)
    first = new_page()
    first_id = open_app(first, server)
    private = tmp_path / "visitor-one-private-sample.mzML"
    private.write_text(BROKEN_MZML)
    add_files(first, [private])
    go_to(first, "Run")
    first.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(first, "Failed")).to_be_visible(timeout=120_000)
    job_id = runs.status(
        MetabolomicsWorkflow(online_settings.workspaces_dir / first_id, online_settings)
    ).job_id
    assert len(job_id) == 32
    secrets = [first_id, first_id[:12], job_id, job_id[:12], private.stem]

    second = new_page()
    script_runs = ScriptRuns(second)
    open_app(second, server, "admin")
    expect(second.get_by_text("Queue depth, last hour")).to_be_visible()
    expect(second.get_by_text("Workers busy", exact=True)).to_be_visible()
    script_runs.wait_refresh_of("Queue depth, last hour")  # what it shows after a refresh, too
    shot(second, "admin-as-visitor", request)
    text, html = second.locator("body").inner_text(), second.content()
    assert second.get_by_test_id("stDataFrame").count() == 0  # no table of jobs or workers
    assert second.locator('[role="gridcell"]').count() == 0
    for secret in secrets:
        assert secret not in text and secret not in html, f"{secret!r} reached another visitor"
    assert "Failed jobs" not in text and "Workers (" not in text

    sign_in(second, ADMIN_PASSWORD)
    expect(second.get_by_text("Signed in as administrator until")).to_be_visible()
    expect(second.get_by_role("heading", name="Failed jobs")).to_be_visible()
    expect(second.get_by_role("heading", name="Workers (1)")).to_be_visible()
    expect(second.get_by_role("combobox", name="Job")).to_be_visible()
    for value in (job_id, first_id):  # the failed jobs table's cells name the job and its workspace
        expect(second.locator('[role="gridcell"]', has_text=value).first).to_be_attached()
    shot(second, "admin-signed-in", request)
    second.get_by_text("Delete", exact=True).click()
    second.get_by_role("button", name="Apply").click()
    expect(second.get_by_text(f"Job {job_id} was deleted")).to_be_visible()

    second.get_by_role("button", name="Leave admin mode").click()
    expect(second.get_by_role("button", name="Sign in")).to_be_visible()
    expect(second.get_by_role("heading", name="Failed jobs")).to_have_count(0)  # once the page ran again


def test_the_sixth_wrong_password_is_refused_unchecked_and_a_sign_in_expires(start_server, new_page, request):
    server = start_server(ADMIN_SESSION_MINUTES="0.1")  # six seconds
    page = new_page()
    open_app(page, server, "admin")
    for attempt in range(5):
        sign_in(page, f"wrong-guess-{attempt}")
        expect(page.get_by_text(f"{4 - attempt} more tr")).to_be_visible()
    sign_in(page, ADMIN_PASSWORD)  # right, but too late: not even compared
    expect(
        page.get_by_text(re.compile(r"Too many admin sign-in tries.*not checked.*Wait \d+ minute"))
    ).to_be_visible()
    shot(page, "admin-locked-out", request)
    assert page.get_by_text("Signed in as administrator").count() == 0
    log = server.log_text()
    assert log.count("wrong admin password from") == 5 and "refused unchecked" in log
    assert "wrong-guess" not in log and ADMIN_PASSWORD not in log

    other = new_page(visitor="198.51.100.23")  # another visitor is not held up
    open_app(other, server, "admin")
    sign_in(other, ADMIN_PASSWORD)
    expect(other.get_by_text("Signed in as administrator until")).to_be_visible()
    expect(other.get_by_role("heading", name="Failed jobs")).to_be_visible()
    expect(other.get_by_text("Your admin session has ended")).to_be_visible(timeout=20_000)
    expect(other.get_by_role("heading", name="Failed jobs")).to_have_count(0)


def test_an_upload_over_the_limit_is_refused_with_the_limit(start_server, new_page, tmp_path, request):
    server = start_server(MAX_UPLOAD_MB="1")
    page = new_page()
    open_app(page, server, "file_upload")
    large = tmp_path / "large.mzML"
    large.write_bytes(b'<?xml version="1.0"?>\n<mzML>' + b" " * (2 * MB))
    page.locator('input[type="file"]').set_input_files([str(large)])
    expect(page.get_by_text(re.compile(r"File must be 1\.0\s?MB or smaller"))).to_be_visible()
    expect(page.get_by_text("Up to 1.0 MB per file")).to_be_visible()
    shot(page, "upload-too-large", request)


def test_a_1gb_upload_is_streamed_to_disk_without_growing_the_server(
    start_server, new_page, settings, tmp_path, request
):
    server = start_server()
    page = new_page()
    workspace_id = open_app(page, server, "file_upload")
    big = tmp_path / "one-gigabyte.mzML"
    with big.open("wb") as handle:
        handle.write(b'<?xml version="1.0"?>\n<mzML>\n')
        block = b"<!-- filler to make a large upload -->\n" * 16384
        while handle.tell() < 1024**3:
            handle.write(block)
    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss
    peak, stop = [baseline], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(process.memory_info().rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        add_files(page, [big], expect_text=f"Added {big.name}")
    finally:
        stop.set()
        sampler.join()
    seconds = time.monotonic() - started
    growth_mb = (max(peak) - baseline) / MB
    stored = settings.workspaces_dir / workspace_id / "topp-workflow/input-files/mzML-files" / big.name
    assert stored.stat().st_size == big.stat().st_size
    figure = {
        "upload_bytes": big.stat().st_size,
        "rss_growth_mb": round(growth_mb, 1),
        "seconds": round(seconds, 1),
    }
    print(f"1 GB upload: Streamlit RSS grew {growth_mb:.1f} MB, upload took {seconds:.1f} s")
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "upload-memory.json").write_text(json.dumps(figure, indent=2))
    assert growth_mb < 200, figure
    shot(page, "upload-1gb", request)


def test_a_fourth_run_from_one_client_is_held_and_another_client_queues(start_server, new_page, request):
    server = start_server()  # no worker: every run stays waiting

    def start_run(visitor: str) -> Page:
        return start_example_run(new_page(visitor=visitor), server)

    for _ in range(3):
        expect(state_shown(start_run("203.0.113.5"), "Queued")).to_be_visible()
    fourth = start_run("203.0.113.5")
    expect(state_shown(fourth, "Waiting")).to_be_visible()
    expect(fourth.get_by_text(re.compile(r"Held: starts by itself when one of the 3 runs"))).to_be_visible()
    expect(fourth.get_by_text("#1 of 1 held runs from your network.")).to_be_visible()
    expect(fourth.get_by_role("button", name="Cancel")).to_be_visible()
    shot(fourth, "fourth-run-held", request)
    expect(state_shown(start_run("203.0.113.6"), "Queued")).to_be_visible()


def test_a_page_registers_its_session_so_uploads_land_in_its_own_workspace(
    start_server, new_page, settings, nz_files
):
    server = start_server()
    pages = [new_page(), new_page()]
    ids = [open_app(page, server, "file_upload") for page in pages]
    add_files(pages[0], nz_files[:1])
    add_files(pages[1], nz_files[1:2])
    for workspace_id, source in zip(ids, nz_files[:2], strict=True):
        folder = settings.workspaces_dir / workspace_id / "topp-workflow/input-files/mzML-files"
        assert [p.name for p in folder.iterdir()] == [source.name]
        assert not list((settings.workspaces_dir / workspace_id).rglob("*.part"))
