"""The Queue admin page's *Move*: a run that has not started goes to another priority, against a
real redis-server (no workers, so the runs stay waiting), through the page in Streamlit's AppTest.

A browser test (tests/test_browser*.py, with the image) should add: sign in on the admin page,
pick a held run in the Move form, choose "high", press Move, and see the message and the run's
new priority in the scheduler's order table after the page's next refresh.
"""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from src import runs
from src.core.settings import load_settings
from src.jobs.ops import admin
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from tests.conftest import REPO
from tests.queue_support import RedisServer, online_env
from tests.test_pages import all_text, texts

PASSWORD = "admin-pass-42"
CLIENT = "198.51.100.78"


def waiting_runs(settings, count: int) -> list[str]:
    """``count`` runs of one visitor that wait (no worker runs): one for a worker, the rest held."""
    job_ids = []
    for index in range(count):
        workflow = MetabolomicsWorkflow(settings.workspaces_dir / f"move-{index}", settings)
        generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=20)
        job_ids.append(runs.start(workflow, visitor=CLIENT).job_id)
    return job_ids


def signed_in_admin_page(monkeypatch, settings, redis_url: str) -> AppTest:
    env = online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1", ADMIN_PASSWORD=PASSWORD)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "content/admin.py"), default_timeout=60).run()
    app.text_input(key="admin-password").set_value(PASSWORD)
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert not app.exception, app.exception
    return app


def press_move(app: AppTest, job_id: str, priority: str) -> AppTest:
    app.selectbox(key="move-job").set_value(job_id)
    app.radio(key="move-priority").set_value(priority)
    app.button(key="move-submit").click().run()
    assert not app.exception, app.exception
    return app


def priorities(settings) -> dict[str, str]:
    return {r.job_id: r.priority for r in admin.run_order(settings)}


@pytest.fixture
def online(settings, redis_url):
    return load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1"))


def test_move_takes_a_waiting_run_to_another_priority(monkeypatch, settings, redis_url, online):
    job_ids = waiting_runs(online, 3)
    app = signed_in_admin_page(monkeypatch, settings, redis_url)
    assert app.selectbox(key="move-job").options == [f"{j} (normal priority)" for j in job_ids]

    press_move(app, job_ids[-1], "high")
    assert f"Run {job_ids[-1]} now waits at high priority." in texts(app, "success")
    assert priorities(online) == {job_ids[0]: "normal", job_ids[1]: "normal", job_ids[2]: "high"}
    assert f"{job_ids[-1]} (high priority)" in app.selectbox(key="move-job").options  # listed anew

    press_move(app, job_ids[-1], "high")
    assert f"Run {job_ids[-1]} already waits at high priority; nothing was changed." in texts(app, "info")
    press_move(app, job_ids[-1], "low")
    assert priorities(online)[job_ids[-1]] == "low"


def test_a_run_that_is_no_longer_waiting_is_not_moved_and_the_page_says_why(
    monkeypatch, settings, redis_url, online
):
    [job_id] = waiting_runs(online, 1)
    app = signed_in_admin_page(monkeypatch, settings, redis_url)
    workflow = MetabolomicsWorkflow(online.workspaces_dir / "move-0", online)
    runs.stop(workflow)  # the visitor cancels it while the admin's form is open

    press_move(app, job_id, "high")
    assert any(
        f"Only waiting jobs can be moved; job {job_id} is canceled." in text for text in texts(app, "error")
    ), all_text(app)
    assert "No run is waiting" in all_text(app)


def test_a_move_after_the_admin_session_ended_changes_nothing(monkeypatch, settings, redis_url, online):
    [job_id] = waiting_runs(online, 1)
    app = signed_in_admin_page(monkeypatch, settings, redis_url)
    app.session_state["admin-until"] = time.time() - 1  # the sign-in ran out while the form was open

    press_move(app, job_id, "high")
    assert "Your admin session has ended: nothing was moved. Sign in again." in texts(app, "error")
    assert priorities(online) == {job_id: "normal"}


def test_a_move_while_redis_is_down_says_so_and_changes_nothing(monkeypatch, settings, tmp_path):
    server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        online = load_settings(env=online_env(settings, server.url, RUNNING_RUNS_PER_CLIENT="1"))
        [job_id] = waiting_runs(online, 1)
        app = signed_in_admin_page(monkeypatch, settings, server.url)
        server.stop()

        press_move(app, job_id, "high")
        errors = texts(app, "error")
        assert any("Redis cannot be reached" in t and "nothing was moved" in t for t in errors), errors
        server.start()  # the AOF kept the run: it still waits at its old priority
        assert priorities(online) == {job_id: "normal"}
    finally:
        server.stop()
