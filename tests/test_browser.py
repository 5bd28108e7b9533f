"""The app in a real browser: Playwright drives Debian's Chromium against a running Streamlit
server, with a real redis-server and real RQ workers (online mode) or no Redis at all (local).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from src import runs
from src.core.settings import load_settings
from src.ui.text import unlinked
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run
from src.workflows.metabolomics.paths import table_in
from tests.browser_support import (
    ADMIN_PASSWORD,
    RUN_TIMEOUT_MS,
    AppServer,
    check_results,
    completed_shown,
    go_to,
    open_app,
    quiet_noise,
    shot,
    start_and_watch_to_completion,
    state_shown,
    submit_files,
    upload,
)
from tests.conftest import DATA_DIR, NZ_FILES, REPO, processes_mentioning, wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow


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
    assert table_in(workflow.files.results_root).is_file()


def test_a_second_workspace_waits_its_turn_with_one_worker(online_app, new_page, nz_files, settings, request):
    first, second = new_page(), new_page()
    first_id = open_app(first, online_app)
    first_inputs = MetabolomicsWorkflow(settings.workspaces_dir / first_id, settings).files.input_dir(
        "mzML-files"
    )
    generate_large_run(first_inputs)
    second_id = open_app(second, online_app)
    assert second_id != first_id
    upload(second, nz_files)
    quiet_noise(settings, second_id)

    go_to(first, "Run")
    first.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(first, "Running")).to_be_visible(timeout=60_000)
    go_to(second, "Run")
    second.get_by_role("button", name="Start Workflow").click()
    expect(second.get_by_text("#1 in the queue")).to_be_visible()
    expect(state_shown(second, "Queued")).to_be_visible()
    expect(second.get_by_role("button", name="Cancel")).to_be_visible()
    shot(second, "queued-behind-first", request)

    go_to(second, "Results")  # the second user looks elsewhere while waiting: a toast tells them
    expect(completed_shown(first)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(second.get_by_text("Your workflow run is complete")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    shot(second, "toast-on-results-page", request)
    go_to(second, "Run")
    expect(completed_shown(second)).to_be_visible()
    shot(second, "ran-after-first", request)
    # The second run did not start before the first one ended.
    first_view = runs.status(MetabolomicsWorkflow(settings.workspaces_dir / first_id, settings))
    second_view = runs.status(MetabolomicsWorkflow(settings.workspaces_dir / second_id, settings))
    assert second_view.started_at >= first_view.ended_at - 1


def test_stop_workflow_mid_run_cancels_and_leaves_no_tool_running(online_app, new_page, settings, request):
    page = new_page()
    workspace_id = open_app(page, online_app)
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / workspace_id, settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))

    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(page, "Running")).to_be_visible(timeout=60_000)
    wait_for(lambda: processes_mentioning(str(workflow.dir)), 60, what="a TOPP tool to run")
    page.reload()  # the status survives a browser reload: same workspace, same run
    expect(state_shown(page, "Running")).to_be_visible()
    assert f"workspace={workspace_id}" in page.url
    shot(page, "running", request)
    page.get_by_role("button", name="Stop Workflow").click()

    expect(state_shown(page, "Cancelled")).to_be_visible(timeout=30_000)
    shot(page, "cancelled", request)
    wait_for(lambda: not processes_mentioning(str(workflow.dir)), 10, what="every tool of the run to end")
    expect(page.get_by_role("button", name="Start Workflow")).to_be_visible()


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
    assert table_in(workflow.files.results_root).is_file()


def test_a_profile_mode_file_is_centroided_and_gives_features(online_app, new_page, settings, request):
    profile = DATA_DIR / "profile-data-zlib-indexed-compressed.mzML"
    page = new_page()
    workspace_id = open_app(page, online_app)
    upload(page, [profile])
    expect(
        page.get_by_text(re.compile(r"profile data; the workflow centroids it with PeakPickerHiRes"))
    ).to_be_visible()
    shot(page, "profile-noted", request)

    start_and_watch_to_completion(page, request)

    expect(page.get_by_text(re.compile(r"Running PeakPickerHiRes on 1 input")).first).to_be_visible()
    check_results(page, request)
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / workspace_id, settings)
    assert runs.status(workflow).state == "finished"
    assert (
        sum(1 for _ in table_in(workflow.files.results_root).open()) > 1
    )  # a header and at least one feature


#: File names a visitor may give that GFM would link (after "_", "*", "(", "~", "'"): each is
#: refused as not XML, and the message names it.
LINKING_NAMES = [
    "_www.host.mzML", "_http://evil.example/x.mzML", "*www.host.mzML", "(https://1.2.3.4/x).mzML",
    "~WWW.host.mzML", "_x@host.org.mzML", "'www.host'.mzML", "__Http://evil.example/x__.mzML",
]  # fmt: skip
#: A parameter value with the same addresses: shown on Configure (not valid) and on Run (refused).
LINKING_VALUE = "_www.host _http://evil.example/x"


def foreign_links(page) -> list[str]:
    """Links on the page that lead anywhere but the app itself (mailto:, other hosts)."""
    hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
    return [h for h in hrefs if not h.startswith(page.url.split("/?")[0].rsplit("/", 1)[0] + "/")]


def test_addresses_in_visitors_text_are_never_links(local_app, new_page, settings, tmp_path, request):
    page = new_page()
    workspace_id = open_app(page, local_app, "file_upload")
    base = foreign_links(page)
    assert base == [], base  # the app itself links nowhere else
    valid = tmp_path / "_www.host.mzML"
    valid.write_bytes(NZ_FILES[0].read_bytes())
    submit_files(page, [valid])
    expect(page.get_by_text(unlinked(f"Added {valid.name}"))).to_be_visible()
    octets = "application/octet-stream"
    files = [{"name": name, "mimeType": octets, "buffer": b"not xml\n"} for name in LINKING_NAMES]
    page.locator('input[type="file"]').set_input_files(files)
    for name in LINKING_NAMES:
        expect(page.get_by_role("button", name=f"Remove {name}")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()
    for name in LINKING_NAMES:
        expect(page.get_by_text(unlinked(f"Not added: {name}: this is not an XML file"))).to_be_visible()
    assert foreign_links(page) == []
    shot(page, "linking-names", request)

    params = {"FeatureFinderMetabo": {"algorithm:mtd:quant_method": LINKING_VALUE}}
    (settings.workspaces_dir / workspace_id / "topp-workflow" / "params.json").write_text(json.dumps(params))
    go_to(page, "Configure")
    expect(page.get_by_text(unlinked(LINKING_VALUE), exact=False).first).to_be_visible()
    assert foreign_links(page) == []
    shot(page, "linking-value", request)
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()  # refused, the message names the value
    expect(page.get_by_text(unlinked(f"got '{LINKING_VALUE}'. Fix it on the Configure page"))).to_be_visible()
    assert foreign_links(page) == []
    shot(page, "linking-error", request)


def test_the_admin_page_signs_in_when_the_address_may_make_no_more_workspaces(
    settings, redis_url, new_page, tmp_path, request
):
    """Anyone behind the administrator's address can use up its new workspaces for the hour; the
    Queue admin page makes none, so the token of ``admin-token`` (and the password) still sign in."""
    limit = {"NEW_WORKSPACES_PER_CLIENT_PER_HOUR": "2"}
    env = online_env(settings, redis_url, ADMIN_PASSWORD=ADMIN_PASSWORD, **limit)
    server = AppServer(env, tmp_path / "streamlit.log")
    try:
        made = [open_app(new_page(), server) for _ in range(2)]
        refused = new_page()
        refused.goto(server.url)
        full = refused.get_by_text("2 new workspaces were made from your address")
        expect(full).to_be_visible(timeout=90_000)
        kept = sorted(p.name for p in settings.workspaces_dir.iterdir())

        admin = new_page()
        admin.goto(f"{server.url}/admin")
        expect(admin.get_by_role("heading", name="Queue admin")).to_be_visible(timeout=90_000)
        expect(admin.get_by_text("No workspace is open on this page")).to_be_visible()
        assert "workspace=" not in admin.url and admin.get_by_test_id("stAlertContentError").count() == 0
        token = subprocess.run(
            [sys.executable, "-m", "src.jobs.ops.admin_auth", "token"],  # what `admin-token` runs
            env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        admin.get_by_label("Admin password").fill(token)
        admin.get_by_role("button", name="Sign in").click()
        expect(admin.get_by_text("Signed in as administrator until")).to_be_visible()
        expect(admin.get_by_role("heading", name="Failed jobs")).to_be_visible()
        shot(admin, "admin-without-workspace", request)

        by_password = new_page()
        by_password.goto(f"{server.url}/admin?workspace={made[0]}")  # a link it has still opens
        by_password.get_by_label("Admin password").fill(ADMIN_PASSWORD)
        by_password.get_by_role("button", name="Sign in").click()
        expect(by_password.get_by_text("Signed in as administrator until")).to_be_visible()
        expect(by_password.get_by_test_id("stSidebar").get_by_text(f"?workspace={made[0]}")).to_be_visible()
        assert sorted(p.name for p in settings.workspaces_dir.iterdir()) == kept  # the admin page made none
    finally:
        server.stop()
