"""Isolation and limits per visitor against a real redis-server and real workers: random job ids,
runs per client, the admin sign-in's limit on wrong passwords, secrets kept from the tools."""

from __future__ import annotations

import logging
import re

import pytest
import redis

from src.core.logs import read_log
from src.core.settings import load_settings
from src.jobs import admin_auth, runs
from src.jobs import queue as q
from src.workflows.demo_data import generate_large_run, generate_runs
from src.workflows.topp_workflow import TOPPWorkflow
from tests.conftest import wait_for
from tests.env_workflow import EnvWorkflow
from tests.queue_support import online_env

pytestmark = pytest.mark.slow

SECRETS = {
    "ADMIN_PASSWORD": "admin-secret-value-1",
    "REDIS_PASSWORD": "redis-secret-value-22",
    "RQ_DASHBOARD_USERNAME": "dash-user",
    "RQ_DASHBOARD_PASSWORD": "dash-secret-value-3",
    "SMTP_PASSWORD": "smtp-secret-value-4",
}


def small_workflow(settings, name: str) -> TOPPWorkflow:
    workflow = TOPPWorkflow(settings.workspaces_dir / name, settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    return workflow


def test_job_ids_are_random_and_name_no_workspace(online_settings, redis_url):
    workflow = small_workflow(online_settings, "f3a1c2d4e5b6a7980a1b2c3d4e5f6a7b")
    job_id = runs.start(workflow, client="198.51.100.1").job_id
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert workflow.workspace.name[:12] not in job_id
    job = q.fetch_owned(workflow, job_id, redis.Redis.from_url(redis_url))
    assert workflow.workspace.name not in (job.description or "")
    assert q.recorded_job_id(workflow) == job_id  # the workspace knows its job; the id does not


def test_a_job_with_an_old_style_id_still_shows_its_status(online_settings, workers, redis_url):
    workflow = small_workflow(online_settings, "old-style")
    old_id = f"{workflow.workspace.name}-{workflow.id}-0123456789ab"
    connection = redis.Redis.from_url(redis_url)
    with connection.lock(q.ENQUEUE_LOCK, timeout=10):
        q._enqueue_job(workflow, "normal", connection, job_id=old_id)
    assert runs.status(workflow).job_id == old_id and runs.status(workflow).state == "queued"
    workers.start(online_settings, redis_url, 1)
    final = wait_for(
        lambda: (view := runs.status(workflow)).state in ("finished", "failed") and view, 120, what="the run"
    )
    assert final.state == "finished" and final.job_id == old_id, final.error


def test_a_fourth_run_from_one_client_is_refused_and_another_client_may_start(online_settings, redis_url):
    first = "203.0.113.10"
    started = [runs.start(small_workflow(online_settings, f"mine{i}"), client=first) for i in range(3)]
    assert all(view.state == "queued" for view in started)  # no worker: all three wait
    fourth = small_workflow(online_settings, "mine3")
    with pytest.raises(
        runs.RunRefused, match="You already have 3 runs queued or running.*limit is 3 per visitor"
    ):
        runs.start(fourth, client=first)
    assert q.recorded_job_id(fourth) is None and fourth.state.read().state == ""

    assert runs.start(small_workflow(online_settings, "theirs"), client="203.0.113.99").state == "queued"
    assert runs.start(small_workflow(online_settings, "script")).state == "queued"  # no client: not counted

    runs.stop(TOPPWorkflow(online_settings.workspaces_dir / "mine0", online_settings))
    assert runs.start(fourth, client=first).state == "queued"  # one ended, so one more may start


def test_local_fallback_runs_count_per_client_too(settings):
    down = load_settings(
        env=online_env(settings, "redis://127.0.0.1:1/0", MAX_RUNS_PER_CLIENT="1", QUEUE_RETRY_INTERVALS="")
    )
    first = TOPPWorkflow(down.workspaces_dir / "a", down)
    generate_large_run(first.files.input_dir("mzML-files"))
    second = small_workflow(down, "b")
    try:
        view = runs.start(first, client="192.0.2.50")
        assert view.mode == "local" and "started directly on the web server" in view.notice
        with pytest.raises(runs.RunRefused, match="limit is 1 per visitor"):
            runs.start(second, client="192.0.2.50")
        other = runs.start(second, client="192.0.2.51")
        assert other.mode == "local"
    finally:
        runs.stop(first)
        runs.stop(second)


def test_wrong_admin_passwords_are_limited_per_client_and_never_logged(online_settings, redis_url, caplog):
    connection = redis.Redis.from_url(redis_url)
    limits = online_settings.limits
    password = "the-right-password"
    caplog.set_level(logging.INFO, logger="src.jobs.admin_auth")
    for attempt in range(limits.admin_max_failures):
        result = admin_auth.sign_in(connection, limits, "198.51.100.7", password, f"guess-{attempt}")
        assert not result.ok and result.message.startswith("Wrong admin password")
    sixth = admin_auth.sign_in(connection, limits, "198.51.100.7", password, password)
    assert not sixth.ok and "not checked" in sixth.message and re.search(r"Wait \d+ minute", sixth.message)
    assert admin_auth.sign_in(connection, limits, "198.51.100.8", password, password).ok  # another client
    assert "wrong admin password from 198.51.100.7" in caplog.text
    assert "guess-" not in caplog.text and password not in caplog.text


def test_a_successful_sign_in_clears_the_clients_wrong_tries(online_settings, redis_url):
    connection = redis.Redis.from_url(redis_url)
    limits = online_settings.limits
    for _ in range(limits.admin_max_failures - 1):
        admin_auth.sign_in(connection, limits, "198.51.100.9", "right-password", "wrong")
    assert admin_auth.sign_in(connection, limits, "198.51.100.9", "right-password", "right-password").ok
    assert admin_auth.recent_failures(connection, "198.51.100.9", limits, 1e12)[0] == 0


@pytest.mark.parametrize("mode", ["queue", "local"])
def test_tools_of_a_run_see_none_of_the_secrets(settings, workers, redis_url, monkeypatch, mode):
    env = online_env(settings, redis_url, **SECRETS)
    if mode == "queue":
        workers.start(load_settings(env=env), redis_url, 1, **SECRETS)
    else:
        env.update(ONLINE_DEPLOYMENT="false")
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
    workflow = EnvWorkflow(settings.workspaces_dir / "env", load_settings(env=env))
    assert runs.start(workflow).mode == mode
    wait_for(lambda: workflow.state.read().is_final, 120, interval=0.2, what="the run to end")
    assert workflow.state.read().state == "finished", workflow.state.read().error
    printed = read_log(workflow.logger.log_dir, "all")
    assert "ENV PATH=" in printed  # the step really printed its environment
    for name, value in SECRETS.items():
        assert f"ENV {name}=" not in printed and value not in printed
    assert "ENV REDIS_URL=" not in printed and "RQ_DASHBOARD" not in printed
