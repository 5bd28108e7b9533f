"""Settings: settings.json plus environment overrides, with clear errors for nonsense."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from src.core.errors import SettingsError
from src.core.settings import DEFAULT_SETTINGS_FILE, load_settings, tool_environment
from src.core.settings import check as deployment
from src.core.settings import docs as settings_docs
from src.core.settings import spec as settings_spec
from tests.conftest import REPO


def test_defaults_come_from_settings_json():
    settings = load_settings(env={})
    data = json.loads(DEFAULT_SETTINGS_FILE.read_text())
    assert settings.online_deployment is data["online_deployment"]
    assert settings.max_threads_local == data["max_threads"]["local"]
    assert settings.workspaces_dir == DEFAULT_SETTINGS_FILE.parent / data["workspaces_dir"]
    assert settings.mode == "local"


def test_environment_overrides(tmp_path):
    settings = load_settings(
        env={
            "ONLINE_DEPLOYMENT": "yes",
            "WORKSPACES_DIR": str(tmp_path),
            "MAX_THREADS": "3",
            "LOG_LEVEL": "all",
        }
    )
    assert settings.online_deployment is True
    assert settings.mode == "online"
    assert settings.workspaces_dir == tmp_path
    assert settings.max_threads == 3
    assert settings.log_level == "all"


def test_empty_environment_value_means_unset():
    assert load_settings(env={"ONLINE_DEPLOYMENT": "  "}).online_deployment is False


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ONLINE_DEPLOYMENT", "maybe", "must be true or false"),
        ("MAX_THREADS", "abc", "whole number"),
        ("MAX_THREADS", "0", "between 1 and 256"),
        ("LOG_LEVEL", "verbose", "must be one of minimal, commands, all"),
    ],
)
def test_nonsense_environment_is_named_in_the_error(name, value, fragment):
    with pytest.raises(SettingsError) as info:
        load_settings(env={name: value})
    assert fragment in str(info.value)
    assert name in str(info.value) or "log_level" in str(info.value)


def test_broken_settings_file_is_reported(tmp_path):
    broken = tmp_path / "settings.json"
    broken.write_text("{not json")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings(path=broken, env={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(path=tmp_path / "missing.json", env={})


def test_relative_workspaces_dir_is_relative_to_the_settings_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"workspaces_dir": "ws"}))
    assert load_settings(path=path, env={}).workspaces_dir == tmp_path / "ws"


def test_queue_settings_and_their_overrides():
    queue = load_settings(env={}).queue
    assert queue.enabled and queue.ordered_queue_names == ["openms-high", "openms-normal", "openms-low"]
    assert queue.lost_worker_bound == queue.job_monitoring_interval + queue.heartbeat_grace + max(
        queue.worker_ttl - 15, queue.maintenance_interval
    )
    env = {
        "REDIS_URL": "redis://:secret@redis:6380/2",
        "QUEUE_ENABLED": "false",
        "QUEUE_MAX_QUEUED": "7",
        "HELD_RUNS_PER_CLIENT": "6",  # must stay below the queue's size
        "QUEUE_RETRIES": "0",
        "QUEUE_RETRY_INTERVALS": "5, 30",
        "QUEUE_JOB_TIMEOUT": "600",
    }
    queue = load_settings(env=env).queue
    assert (queue.redis_url, queue.enabled, queue.max_queued) == ("redis://:secret@redis:6380/2", False, 7)
    assert (queue.retries, queue.retry_intervals, queue.job_timeout) == (0, (5, 30), 600)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("REDIS_URL", "localhost:6379", "must start with redis://"),
        ("QUEUE_MAX_QUEUED", "0", "between 1 and"),
        ("QUEUE_RETRY_INTERVALS", "soon", "retry interval must be a whole number"),
        ("QUEUE_ENABLED", "perhaps", "QUEUE_ENABLED must be true or false"),
    ],
)
def test_nonsense_queue_settings_are_refused(name, value, fragment):
    with pytest.raises(SettingsError, match=fragment):
        load_settings(env={name: value})


def test_queue_names_must_cover_every_priority(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"queue_settings": {"queues": {"high": "a", "normal": "a", "low": "b"}}}))
    with pytest.raises(SettingsError, match="three different"):
        load_settings(path=path, env={})


def test_visitor_limits_have_safe_defaults_and_environment_overrides():
    limits = load_settings(env={}).limits
    assert limits.max_upload_bytes == 2048 * 1024**2
    assert limits.workspace_quota_bytes == 10 * 1024**3
    assert limits.min_free_bytes == 2 * 1024**3
    assert (limits.running_runs_per_client, limits.held_runs_per_client) == (3, 10)
    assert limits.admin_session_seconds == 30 * 60
    assert (limits.admin_max_failures, limits.admin_failure_window_seconds) == (5, 600)
    changed = load_settings(
        env={
            "MAX_UPLOAD_MB": "5",
            "WORKSPACE_QUOTA_GB": "0.5",
            "MIN_FREE_DISK_GB": "0",
            "RUNNING_RUNS_PER_CLIENT": "1",
            "ADMIN_SESSION_MINUTES": "2",
        }
    ).limits
    assert changed.max_upload_bytes == 5 * 1024**2 and changed.workspace_quota_bytes == 1024**3 // 2
    assert (changed.min_free_bytes, changed.running_runs_per_client, changed.admin_session_seconds) == (
        0,
        1,
        120,
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MAX_UPLOAD_MB", "lots", "MAX_UPLOAD_MB must be a whole number"),
        ("MAX_UPLOAD_MB", "0", "MAX_UPLOAD_MB must be from 1 to"),
        ("WORKSPACE_QUOTA_GB", "-1", "WORKSPACE_QUOTA_GB must be between"),
        ("MIN_FREE_DISK_GB", "two", "MIN_FREE_DISK_GB must be a number"),
        ("RUNNING_RUNS_PER_CLIENT", "0", "RUNNING_RUNS_PER_CLIENT must be from 1 to"),
        ("HELD_RUNS_PER_CLIENT", "-1", "HELD_RUNS_PER_CLIENT must be from 0 to"),
        ("THREADS_PER_PIECE", "many", "THREADS_PER_PIECE must be a whole number"),
        ("QUEUE_SPREAD", "perhaps", "QUEUE_SPREAD"),
        (
            "MAX_RUNS_PER_CLIENT",
            "2",
            "MAX_RUNS_PER_CLIENT is set: .* is now 'limits.running_runs_per_client'",
        ),
        ("ADMIN_SESSION_MINUTES", "0", "ADMIN_SESSION_MINUTES must be between 0.1"),
    ],
)
def test_nonsense_limits_are_refused_with_their_name(name, value, fragment):
    """(A setting of an earlier version, still set, is refused with its new name, not ignored.)"""
    with pytest.raises(SettingsError, match=fragment):
        load_settings(env={name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_PASSWORD", "change-me-too"),
        ("REDIS_PASSWORD", "change-me-to-a-long-random-string"),
        ("RQ_DASHBOARD_PASSWORD", "Change-Me-Please"),
    ],
)
def test_the_example_passwords_are_refused(name, value):
    with pytest.raises(SettingsError, match=f"{name} is still the example value"):
        load_settings(env={name: value})


def test_tools_get_an_environment_without_the_deployments_secrets():
    env = {
        "PATH": "/usr/bin",
        "ADMIN_PASSWORD": "a",
        "REDIS_PASSWORD": "b",
        "REDIS_URL": "redis://:b@x",
        "RQ_DASHBOARD_PASSWORD": "c",
        "RQ_DASHBOARD_REDIS_URL": "d",
        "RQ_REDIS_URL": "redis://:b@127.0.0.1",
        "NOTIFY_WEBHOOK_URL": "https://hooks.example.org/T0KEN",
        "SMTP_USER": "mailer",
        "SMTP_PASSWORD": "e",
        "METRICS_TOKEN": "g",
        "OIDC_CLIENT_SECRET": "h",
        "AUTH_COOKIE_SECRET": "i",
        "SOMETHING_AN_OPERATOR_ADDED": "f",
        "OMP_NUM_THREADS": "1",
        "LC_ALL": "C.UTF-8",
        "OPENMS_DATA_PATH": "/usr/share/OpenMS",
    }
    assert tool_environment(env) == {
        "PATH": "/usr/bin",
        "OMP_NUM_THREADS": "1",
        "LC_ALL": "C.UTF-8",
        "OPENMS_DATA_PATH": "/usr/share/OpenMS",
        "OPENMS_DISABLE_UPDATE_CHECK": "ON",  # added: no tool asks openms.de for a newer release
    }
    # an operator who wants the check back says so
    assert tool_environment({"OPENMS_DISABLE_UPDATE_CHECK": "OFF"}) == {"OPENMS_DISABLE_UPDATE_CHECK": "OFF"}


def test_everything_generated_from_the_declaration_is_current():
    """settings.json, the README and appliance tables, .env.example and the compose environment."""
    assert settings_docs.stale(REPO) == [], "run: python -m src.core.settings --write-docs"


def test_one_default_changed_in_the_declaration_shows_everywhere(monkeypatch, tmp_path):
    changed = tuple(
        dataclasses.replace(s, default=5)
        if s.key == "limits.running_runs_per_client"
        else dataclasses.replace(s, default=3)
        if s.env == "RQ_WORKER_COUNT"
        else s
        for s in settings_spec.SETTINGS
    )
    monkeypatch.setattr(settings_spec, "SETTINGS", changed)
    generated = tmp_path / "settings.json"
    generated.write_text(settings_docs.settings_json())
    assert load_settings(path=generated, env={}).limits.running_runs_per_client == 5
    exports, notes = deployment.check({"SETTINGS_FILE": str(generated)})
    assert exports["RQ_WORKER_COUNT"] == "3"
    assert "RQ_WORKER_COUNT is not set; starting the default of 3 workers." in notes
    assert "| `limits.running_runs_per_client` | `RUNNING_RUNS_PER_CLIENT` | 5 |" in settings_docs.table(
        ("app",)
    )
    assert "| `RQ_WORKER_COUNT` | 3 |" in settings_docs.table(("appliance",))
    assert "# RQ_WORKER_COUNT=3" in settings_docs.env_example()


def test_settings_json_refuses_an_unknown_key(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"queue_settings": {"job_timout": 60}}))
    with pytest.raises(SettingsError, match="unknown setting 'queue_settings.job_timout'"):
        load_settings(path=path, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RQ_WORKER_COUNT": "abc"}, "RQ_WORKER_COUNT must be a whole number from 1 to 32, got 'abc'"),
        ({"RQ_WORKER_COUNT": "40"}, "Without workers no run would ever start"),
        ({"WORKER_STOP_WAIT": "0"}, "WORKER_STOP_WAIT must be from 1 to 99999"),
        ({"SCALE_OUT": "maybe"}, "SCALE_OUT must be true or false, got 'maybe'"),
        ({"RQ_DASHBOARD_ENABLED": "on"}, "never served without credentials"),
        ({"SCALE_OUT": "true"}, "set REDIS_PASSWORD"),
        ({"REDIS_PASSWORD": "short-pass"}, "REDIS_PASSWORD must be at least 16 characters"),
        ({"REDIS_PASSWORD": "has spaces in it, many"}, "may only contain letters"),
        ({"ROLE": "manager"}, "ROLE must be one of appliance, worker"),
        ({"ROLE": "worker"}, "ROLE=worker needs REDIS_URL pointing at the appliance's Redis"),
        ({"ROLE": "worker", "REDIS_URL": "redis://:pw@localhost:6379/0"}, "ROLE=worker needs REDIS_URL"),
        ({"MAX_THREADS": "0"}, "MAX_THREADS must be from 1 to 256"),
        ({"FORWARDED_ALLOW_IPS": "*"}, "FORWARDED_ALLOW_IPS=* would believe an X-Forwarded-For header"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, proxy.local"}, "must list IP addresses or ranges"),
        ({"SMTP_HOST": "mail", "SMTP_FROM": "a@example.org"}, "SMTP_HOST is set but PUBLIC_URL is not"),
    ],
)
def test_the_appliance_start_check_refuses_with_the_reason(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        deployment.check(env)


def test_the_appliance_start_check_spells_switches_for_supervisord():
    exports, notes = deployment.check(
        {
            "RQ_DASHBOARD_ENABLED": "Yes",
            "RQ_DASHBOARD_USERNAME": "ops",
            "RQ_DASHBOARD_PASSWORD": "long-enough",
        }
    )
    assert exports["RQ_DASHBOARD_ENABLED"] == "true" and exports["SCALE_OUT"] == "false"
    assert "rq-dashboard enabled on port 9181 for user 'ops'." in notes
    worker, _ = deployment.check(
        {"ROLE": "worker", "REDIS_URL": "redis://:pw@app:6379/0", "RQ_WORKER_COUNT": "04"}
    )
    assert worker["ROLE"] == "worker" and worker["RQ_WORKER_COUNT"] == "4"


def test_the_web_servers_believe_only_haproxy_and_haproxy_only_the_listed_proxies():
    exports, _ = deployment.check({"FORWARDED_ALLOW_IPS": "10.0.0.0/8 172.18.0.1,fd00::/8"})
    assert exports["TRUSTED_PROXIES"] == "10.0.0.0/8 172.18.0.1/32 fd00::/8"
    assert exports["FORWARDED_ALLOW_IPS"] == "127.0.0.1"  # what uvicorn reads: the appliance's HAProxy
    default, _ = deployment.check({})
    assert default["TRUSTED_PROXIES"] == "" and default["FORWARDED_ALLOW_IPS"] == "127.0.0.1"


#: Trusted-proxy lists that hold every address: ``*`` by another name (HAProxy matches an IPv6
#: pattern against an IPv4 peer in its IPv4-mapped form, so ``::ffff:0:0/96`` holds every IPv4 peer).
TRUSTS_EVERYONE = [
    ("0.0.0.0/0", "IPv4"),
    ("::/0", "IPv4 and IPv6"),
    ("0.0.0.0/1 128.0.0.0/1", "IPv4"),
    ("0.0.0.0/1,128.0.0.0/2,192.0.0.0/2", "IPv4"),
    ("10.0.0.0/8, 0.0.0.0/1 128.0.0.0/2 192.0.0.0/3 224.0.0.0/3", "IPv4"),
    ("::ffff:0:0/96", "IPv4"),
    ("::ffff:0:0/97 128.0.0.0/1", "IPv4"),
    ("::/1 8000::/1", "IPv4 and IPv6"),
    ("::/97 ::1:0:0:0/80 2000::/3 fc00::/7", ""),  # a part of IPv6 only: accepted
]


@pytest.mark.parametrize(("value", "family"), TRUSTS_EVERYONE)
def test_a_trusted_proxy_list_that_holds_every_address_is_refused_like_a_star(value, family):
    if not family:
        deployment.check({"FORWARDED_ALLOW_IPS": value})
        return
    with pytest.raises(SettingsError) as refused:
        deployment.check({"FORWARDED_ALLOW_IPS": value})
    star = "would believe an X-Forwarded-For header from anyone"
    assert str(refused.value).startswith(
        f"FORWARDED_ALLOW_IPS={' '.join(value.replace(',', ' ').split())} {star}"
    )
    assert f"(the list holds every {family} address)" in str(refused.value)
    with pytest.raises(SettingsError, match=re.escape(f"FORWARDED_ALLOW_IPS=* {star}, so every visitor")):
        deployment.check({"FORWARDED_ALLOW_IPS": "*"})


@pytest.mark.parametrize(
    ("value", "warned"),
    [
        ("10.0.0.0/8", ""),
        ("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10", ""),  # every private range
        ("fc00::/7 172.18.0.1", ""),
        ("0.0.0.0/1", "trusts 50.0% of all IPv4 addresses"),
        ("::ffff:0:0/98", "trusts 25.0% of all IPv4 addresses"),
        ("2000::/3", "trusts 12.5% of all IPv6 addresses"),
    ],
)
def test_a_very_broad_trusted_proxy_list_starts_with_a_warning(value, warned):
    exports, notes = deployment.check({"FORWARDED_ALLOW_IPS": value})
    warnings = [note for note in notes if "FORWARDED_ALLOW_IPS" in note]
    assert exports["TRUSTED_PROXIES"]
    if warned:
        assert len(warnings) == 1 and warnings[0].startswith(f"WARNING: FORWARDED_ALLOW_IPS {warned}"), notes
    else:
        assert not warnings, notes


@pytest.mark.parametrize(
    "value", ["0.0.0.0/0", "::/0", "0.0.0.0/1 128.0.0.0/1", "0.0.0.0/1,128.0.0.0/2,192.0.0.0/2"]
)
def test_the_entrypoints_start_check_stops_on_a_list_that_trusts_everyone(value):
    """What entrypoint.sh runs: ``python -m src.core.settings --check --shell``, exit code 64."""
    env = {"PATH": os.environ["PATH"], "FORWARDED_ALLOW_IPS": value}
    done = subprocess.run(
        [sys.executable, "-m", "src.core.settings", "--check", "--shell"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == deployment.EXIT_BAD_CONFIG, done
    assert done.stdout == ""  # nothing for the entrypoint to eval
    shown = " ".join(value.replace(",", " ").split())
    expected = (
        f"entrypoint: ERROR: FORWARDED_ALLOW_IPS={shown} would believe an X-Forwarded-For header from anyone"
    )
    assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_entrypoints_start_check_passes_a_proxy_range_on_to_haproxy():
    env = {"PATH": os.environ["PATH"], "FORWARDED_ALLOW_IPS": "10.0.0.0/8, 172.18.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "src.core.settings", "--check", "--shell"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "TRUSTED_PROXIES='10.0.0.0/8 172.18.0.1/32'" in done.stdout.splitlines()
    assert "FORWARDED_ALLOW_IPS" not in done.stderr  # no warning for a normal range


def test_a_renamed_setting_in_settings_json_names_its_new_name(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"limits": {"max_runs_per_client": 2}}))
    with pytest.raises(
        SettingsError, match="now 'limits.running_runs_per_client'.*held and start by themselves"
    ):
        load_settings(path=path, env={})


def test_online_threads_default_to_the_hosts_cores_shared_by_its_workers(tmp_path):
    """MAX_THREADS unset online: each run (one per worker) gets its share of the cores the process
    may use, at least one; set, it is taken as it is."""
    from src.core.settings.model import host_cores

    cores = len(os.sched_getaffinity(0))
    assert 1 <= host_cores() <= cores
    base = {"ONLINE_DEPLOYMENT": "true", "WORKSPACES_DIR": str(tmp_path)}
    assert load_settings(env={**base, "RQ_WORKER_COUNT": "1"}).max_threads == host_cores()
    assert load_settings(env={**base, "RQ_WORKER_COUNT": "2"}).max_threads == max(1, host_cores() // 2)
    assert load_settings(env={**base, "RQ_WORKER_COUNT": "32"}).max_threads == max(1, host_cores() // 32)
    assert load_settings(env={**base, "RQ_WORKER_COUNT": "1", "MAX_THREADS": "3"}).max_threads == 3
    assert load_settings(env={**base, "ONLINE_DEPLOYMENT": "false"}).max_threads == 2  # local: as before
