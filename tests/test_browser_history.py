"""Run history and e-mail notification in a real browser (local mode, real TOPP tools, a real
SMTP server started by the test)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from src.core.settings import load_settings
from src.ui.text import unlinked
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.browser_support import (
    AppServer,
    go_to,
    open_app,
    settle,
    shot,
    start_and_watch_to_completion,
    upload,
)
from tests.conftest import wait_for
from tests.test_notify import Mailbox, code_in

pytestmark = pytest.mark.slow

NOISE = "algorithm:common:noise_threshold_int"


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


def choose(page: Page, label: str, option: re.Pattern, typed: str) -> None:
    """Pick an option of a select box by typing part of it (the box filters its list)."""
    settle(page)  # a box used during a rerun is replaced, and its list closes
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).locator("input")
    box.click()
    box.press_sequentially(typed)
    page.get_by_role("option", name=option).click()
    settle(page)


def run_with_noise(page: Page, workflow: MetabolomicsWorkflow, noise: float, request) -> None:
    workflow.params.set_tool_value("FeatureFinderMetabo", NOISE, noise)  # as the Configure page would
    start_and_watch_to_completion(page, request)


def test_runs_are_kept_compared_and_their_parameters_reused(
    settings, new_page, nz_files, mailbox, tmp_path, request
):
    env = {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "false",
        "RUNS_KEPT": "2",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": "openms@example.org",
        "PUBLIC_URL": "https://openms.example.org",
    }
    server = AppServer(env, tmp_path / "streamlit.log")
    try:
        page = new_page()
        workspace_id = open_app(page, server)
        upload(page, nz_files[:2])
        workflow = MetabolomicsWorkflow(settings.workspaces_dir / workspace_id, load_settings(env=env))

        go_to(page, "Run")
        page.get_by_text("E-mail me when a run ends").click()
        page.get_by_label("E-mail address", exact=True).fill("scientist@example.org")
        page.get_by_role("button", name="Send a confirmation code").click()
        expect(page.get_by_text(unlinked("A code was sent to scientist@example.org"))).to_be_visible()
        wait_for(lambda: mailbox.messages, 10, what="the confirmation mail")
        page.get_by_label("Code from the e-mail", exact=True).fill(code_in(mailbox.messages[0][1]))
        page.get_by_role("button", name="Confirm", exact=True).click()
        confirmed = unlinked("Runs that end will be announced to scientist@example.org")
        expect(page.get_by_text(confirmed)).to_be_visible()
        shot(page, "notify-me", request)

        run_with_noise(page, workflow, 100, request)
        run_with_noise(page, workflow, 1000, request)
        counts = {run.params["FeatureFinderMetabo"][NOISE]: run for run in workflow.kept_runs()}
        assert set(counts) == {100.0, 1000.0}

        expect(page.get_by_role("heading", name="Runs in this workspace")).to_be_visible()
        for noise in ("noise_threshold_int=100", "noise_threshold_int=1000"):
            expect(page.locator('[role="gridcell"]', has_text=noise).first).to_be_attached()
        page.get_by_role("heading", name="Runs in this workspace").scroll_into_view_if_needed()
        shot(page, "run-history", request)
        assert [to for to, _ in mailbox.messages] == [["scientist@example.org"]] * 3  # the code, two runs

        go_to(page, "Results")
        first = counts[100.0]
        first_table = first.results_root / "consensus-table" / "consensus_features.tsv"
        first_count = sum(1 for _ in first_table.open()) - 1
        choose(page, "Run", re.compile(r"noise_threshold_int=100$"), "=100")
        expect(page.get_by_test_id("stMetricValue").first).to_have_text(str(first_count))
        choose(page, "Compare with", re.compile(r"noise_threshold_int=1000"), "=1000")
        expect(page.get_by_text("Consensus features of both runs")).to_be_visible()
        page.get_by_text("Compare with another run").scroll_into_view_if_needed()
        page.mouse.wheel(0, 300)
        shot(page, "compare-runs", request)

        page.get_by_role("button", name="Re-run with these parameters").click()
        expect(page.get_by_text(re.compile(r"The parameters of the run of .* are loaded"))).to_be_visible()
        assert workflow.params.tool_values("FeatureFinderMetabo") == {NOISE: 100.0}
        go_to(page, "Configure")
        expect(page.get_by_label(re.compile(r"^noise_threshold_int"))).to_have_value(
            re.compile(r"^100(\.0*)?$")
        )

        run_with_noise(page, workflow, 300, request)  # a third run: the cap of 2 removes the oldest
        kept = [run.params["FeatureFinderMetabo"][NOISE] for run in workflow.kept_runs()]
        assert kept == [300.0, 1000.0]
        expect(page.locator('[role="gridcell"]', has_text="noise_threshold_int=300").first).to_be_attached()
        oldest = page.locator('[role="gridcell"]', has_text=re.compile(r"noise_threshold_int=100$"))
        expect(oldest).to_have_count(0)
    finally:
        server.stop()
