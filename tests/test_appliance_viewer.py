"""The raw data viewer on the image with a 1 GB mzML (made with pyOpenMS): five browser sessions
look at it at once through the workspace's link; its index is built once, by one job of the
queue; the web server's memory grows by less than 50 MB; every session sees the peak map."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bench import big_mzml
from tests.appliance_support import Box
from tests.browser_support import open_app, settle, shot
from tests.conftest import NZ_FILES
from tests.test_appliance_limits import Site
from tests.test_appliance_web_bounds import web_server_rss
from tests.web_sessions import PeakMemory

pytestmark = [pytest.mark.slow, pytest.mark.container]

WORKSPACES = "/data/workspaces"
SESSIONS = 5
MEMORY_BOUND_MB = 50
INDEX_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "A_big_run.mzML"  # first in the list: the viewer opens it
    big_mzml.write(path, 1.0)
    assert path.stat().st_size > 0.95e9
    return path


def put_input(appliance: Box, ws: str, path: Path) -> str:
    folder = f"{WORKSPACES}/{ws}/topp-workflow/input-files/mzML-files"
    appliance.sh(f"mkdir -p {folder}", user="openms")
    subprocess.run(["docker", "cp", str(path), f"{appliance.container.id}:{folder}/{path.name}"], check=True)
    appliance.sh(f"chown openms {folder}/{path.name}")
    return f"{folder}/{path.name}"


def index_jobs_run(appliance: Box) -> int:
    """Jobs of the viewer's queue that finished or failed (rq info's registries)."""
    out = appliance.sh(
        'cd /app && python -c "from rq import Queue; from src.jobs.connection import get_connection; '
        "from src.core.settings import load_settings; from src.jobs.job_model import view_queue_name; "
        "s = load_settings(); q = Queue(view_queue_name(s), connection=get_connection(s.queue)); "
        'print(q.finished_job_registry.count + q.failed_job_registry.count + q.started_job_registry.count)"',
        user="openms",
    )
    return int(out.strip().splitlines()[-1])


def test_five_sessions_look_at_a_1gb_file_built_once_the_web_server_holding_little(
    box, new_page, big_file, request
):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    site = Site(f"http://{appliance.ip}:8501")
    first = new_page()
    ws = open_app(first, site)
    # What the web server holds once, for all: the viewer's code, warmed on a small real file.
    put_input(appliance, ws, NZ_FILES[0])
    first.goto(f"{site.url}/viewer?workspace={ws}")
    expect(first.get_by_text("Drawn from every peak")).to_be_visible(timeout=INDEX_TIMEOUT_MS)
    first.get_by_role("tab", name="Chromatograms").click()
    expect(first.get_by_text("Total ion chromatogram (MS1)")).to_be_visible()
    warm_jobs = index_jobs_run(appliance)  # the small file's index
    put_input(appliance, ws, big_file)
    pages = [first, *(new_page() for _ in range(SESSIONS - 1))]
    with PeakMemory(lambda: web_server_rss(appliance), interval=0.2) as memory:
        before = memory.rss()
        for page in pages:
            page.goto(f"{site.url}/viewer?workspace={ws}")
        for page in pages:
            expect(page.get_by_text("About this file")).to_be_visible(timeout=INDEX_TIMEOUT_MS)
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("Drawn from").first).to_be_visible()
            settle(page)
        for page in pages:
            page.get_by_role("tab", name="Spectrum").click()
            expect(page.get_by_text("MS1 spectrum at RT").first).to_be_visible()
            page.get_by_role("tab", name="Chromatograms").click()
            expect(page.get_by_text("Total ion chromatogram (MS1)").first).to_be_visible()
        after = memory.rss()
    shot(pages[-1], "1gb-spectrum", request)
    pages[0].get_by_role("tab", name="Peak map").click()
    shot(pages[0], "1gb-map", request)
    grown = (memory.peak - before) / 1e6
    mb = {
        name: round(value / 1e6)
        for name, value in (("before", before), ("peak", memory.peak), ("after", after))
    }
    print(f"web server memory (MB): {mb}")
    assert grown < MEMORY_BOUND_MB, f"the web server grew by {grown:.0f} MB while {SESSIONS} sessions looked"
    assert index_jobs_run(appliance) == warm_jobs + 1  # one job for the 1 GB file, five sessions
    table = pages[0].get_by_test_id("stTable")
    expect(table).to_contain_text("12,499 (MS1: 10,416, MS2: 2,083)")
    for page in pages:
        assert not page.get_by_test_id("stException").count()
        assert not page.get_by_text(re.compile(r"MessageSizeError|Traceback")).count()
