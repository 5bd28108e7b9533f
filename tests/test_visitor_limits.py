"""Isolation and limits per visitor against a real redis-server and real workers: random job ids,
runs per visitor, the admin sign-in's limit on wrong passwords, secrets kept from the tools."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
import redis

from src import runs
from src.core.run import read_log
from src.core.settings import load_settings
from src.jobs.client import enqueue
from src.jobs.ops import admin_auth
from src.jobs.scheduler import Scheduler
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run, generate_runs
from tests.conftest import REPO, wait_for
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


def small_workflow(settings, name: str) -> MetabolomicsWorkflow:
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / name, settings)
    generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)
    return workflow


def test_job_ids_are_random_and_name_no_workspace(online_settings, redis_url):
    workflow = small_workflow(online_settings, "f3a1c2d4e5b6a7980a1b2c3d4e5f6a7b")
    job_id = runs.start(workflow, visitor="198.51.100.1").job_id
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert workflow.workspace.name[:12] not in job_id
    job = enqueue.fetch_owned(workflow, job_id, redis.Redis.from_url(redis_url))
    assert workflow.workspace.name not in (job.description or "")
    assert enqueue.recorded_job_id(workflow) == job_id  # the workspace knows its job; the id does not


def test_a_job_with_an_old_style_id_still_shows_its_status(online_settings, workers, redis_url):
    workflow = small_workflow(online_settings, "old-style")
    old_id = f"{workflow.workspace.name}-{workflow.id}-0123456789ab"
    connection = redis.Redis.from_url(redis_url)
    with connection.lock(enqueue.ENQUEUE_LOCK, timeout=10):
        enqueue._enqueue_job(workflow, "normal", Scheduler(online_settings, connection), job_id=old_id)
    assert runs.status(workflow).job_id == old_id and runs.status(workflow).state == "queued"
    workers.start(online_settings, redis_url, 1)
    final = wait_for(
        lambda: (view := runs.status(workflow)).state in ("finished", "failed") and view, 120, what="the run"
    )
    assert final.state == "finished" and final.job_id == old_id, final.error


def test_runs_over_a_clients_share_are_held_and_only_the_held_limit_refuses(settings, redis_url):
    limited = load_settings(env=online_env(settings, redis_url, HELD_RUNS_PER_CLIENT="2"))
    first = "203.0.113.10"
    mine = [small_workflow(limited, f"mine{i}") for i in range(6)]
    for workflow in mine[:5]:
        runs.start(workflow, visitor=first)
    states = [runs.status(w).state for w in mine[:5]]
    assert states == ["queued"] * 3 + ["held"] * 2, states  # no worker: three wait their turn, two are held
    held = runs.status(mine[4])
    assert (held.position, held.queue_length, held.share) == (2, 2, 3)
    with pytest.raises(runs.RunRefused, match="You already have 2 runs waiting.*no more than 2 may wait"):
        runs.start(mine[5], visitor=first)
    assert enqueue.recorded_job_id(mine[5]) is None and mine[5].state.read().state == ""

    assert runs.start(small_workflow(limited, "theirs"), visitor="203.0.113.99").state == "queued"
    assert runs.start(small_workflow(limited, "script")).state == "queued"  # no visitor: a visitor of its own
    assert runs.status(small_workflow(limited, "theirs")).state == "queued"

    runs.stop(mine[0])  # one of the three ended: the first held run takes its place
    assert [runs.status(w).state for w in mine[1:5]] == ["queued", "queued", "queued", "held"]
    assert runs.start(mine[5], visitor=first).state == "queued"  # one fewer held, so one more may wait
    assert runs.status(mine[5]).state == "held"


def test_local_fallback_runs_count_per_client_too(settings):
    down = load_settings(
        env=online_env(
            settings, "redis://127.0.0.1:1/0", RUNNING_RUNS_PER_CLIENT="1", QUEUE_RETRY_INTERVALS=""
        )
    )
    first = MetabolomicsWorkflow(down.workspaces_dir / "a", down)
    generate_large_run(first.files.input_dir("mzML-files"))
    second = small_workflow(down, "b")
    try:
        view = runs.start(first, visitor="192.0.2.50")
        assert view.mode == "local" and "started directly on the web server" in view.notice
        with pytest.raises(runs.RunRefused, match="no more than 1 may run at once for your network"):
            runs.start(second, visitor="192.0.2.50")
        other = runs.start(second, visitor="192.0.2.51")
        assert other.mode == "local"
    finally:
        runs.stop(first)
        runs.stop(second)


def test_wrong_admin_passwords_are_limited_per_client_and_never_logged(online_settings, redis_url, caplog):
    connection = redis.Redis.from_url(redis_url)
    limits = online_settings.limits
    password = "the-right-password"
    caplog.set_level(logging.INFO, logger="src.jobs.ops.admin_auth")

    def sign_in(visitor: str, session: str, given: str) -> admin_auth.SignIn:
        return admin_auth.sign_in(connection, limits, visitor, session, password, given)

    for attempt in range(limits.admin_max_failures):  # each from a fresh page: the address counts
        result = sign_in("198.51.100.7", f"s{attempt}", f"guess-{attempt}")
        assert not result.ok and result.message.startswith("Wrong admin password")
    sixth = sign_in("198.51.100.7", "s6", password)
    assert not sixth.ok and "not checked" in sixth.message and re.search(r"Wait \d+ minute", sixth.message)
    assert sign_in("198.51.100.8", "s7", password).ok  # another visitor
    for attempt in range(limits.admin_max_failures):  # one page that moves between addresses
        sign_in(f"203.0.113.{attempt}", "roaming", "wrong")
    roaming = sign_in("203.0.113.99", "roaming", password)
    assert "not checked" in roaming.message
    assert "wrong admin password from 198.51.100.7" in caplog.text
    assert "guess-" not in caplog.text and password not in caplog.text


def test_a_successful_sign_in_clears_the_clients_wrong_tries(online_settings, redis_url):
    connection = redis.Redis.from_url(redis_url)
    limits = online_settings.limits

    def sign_in(given: str) -> admin_auth.SignIn:
        return admin_auth.sign_in(connection, limits, "198.51.100.9", "page", "right-password", given)

    for _ in range(limits.admin_max_failures - 1):
        sign_in("wrong")
    assert sign_in("right-password").ok
    for _ in range(limits.admin_max_failures - 1):  # the counts started again from nothing
        assert "Wrong admin password" in sign_in("wrong").message


def test_the_admins_tries_are_the_one_count_of_tries_whose_window_starts_at_the_first(
    online_settings, redis_url
):
    """admin_auth counts with hourly_counts.tally_keys, as the e-mail code's tries do: both keys
    at once, each expiring with its window from the first try on, never renewed by later tries."""
    connection = redis.Redis.from_url(redis_url)
    limits = online_settings.limits
    admin_auth.sign_in(connection, limits, "198.51.100.20", "page-a", "right-password", "wrong")
    keys = sorted(k.decode() for k in connection.keys("openms:admin:tries:*"))
    assert [k.split(":")[3] for k in keys] == ["client", "session"]
    connection.expire(keys[0], 5)  # as if the window were nearly over
    admin_auth.sign_in(connection, limits, "198.51.100.20", "page-a", "right-password", "wrong")
    assert [int(connection.get(k)) for k in keys] == [2, 2]
    assert 0 < connection.ttl(keys[0]) <= 5  # a later try does not renew the window
    assert 5 < connection.ttl(keys[1]) <= limits.admin_failure_window_seconds


PRESS_SIGN_IN = """
import sys, threading, redis
from src.core.settings import load_settings
from src.jobs.ops import admin_auth
settings = load_settings()
connection = redis.Redis.from_url(settings.queue.redis_url)
barrier, results = threading.Barrier(15), []
def press(n):
    barrier.wait()
    session = sys.argv[1] + str(n)
    r = admin_auth.sign_in(connection, settings.limits, "192.0.2.9", session, "pw-123456", "wrong")
    results.append("checked" if r.message.startswith("Wrong") else "refused")
threads = [threading.Thread(target=press, args=(n,)) for n in range(15)]
[t.start() for t in threads]
[t.join() for t in threads]
print(" ".join(results))
"""


def test_simultaneous_tries_on_two_web_servers_check_at_most_the_limit_and_a_token_gets_in(
    online_settings, redis_url
):
    """30 sign-ins pressed in the same instant, from two processes (as two web servers would)."""
    env = {**os.environ, **online_env(online_settings, redis_url)}
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", PRESS_SIGN_IN, f"web{n}-"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outcomes = " ".join(server.communicate(timeout=60)[0] for server in servers).split()
    limits = online_settings.limits
    assert len(outcomes) == 30 and outcomes.count("checked") <= limits.admin_max_failures, outcomes
    connection = redis.Redis.from_url(redis_url)
    refused = admin_auth.sign_in(connection, limits, "192.0.2.9", "admin", "pw-123456", "pw-123456")
    assert not refused.ok and "admin-token" in refused.message  # the address is locked, the admin too
    command = [sys.executable, "-m", "src.jobs.ops.admin_auth", "token"]
    printed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    token = printed.stdout.strip()
    assert printed.returncode == 0 and len(token) >= 30
    assert admin_auth.sign_in(connection, limits, "192.0.2.9", "admin", "pw-123456", token).ok
    assert not admin_auth.sign_in(connection, limits, "192.0.2.9", "admin", "pw-123456", token).ok  # once


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
