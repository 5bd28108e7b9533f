"""The operator's command line: ``python -m src <command>`` lists and helps with every command, and
each older ``python -m <module>`` spelling (entrypoint.sh, supervisord, the image's scripts, the
docs) still runs the same command, with the same output and exit code. Real processes throughout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from src.__main__ import COMMANDS
from src.core.settings.check import EXIT_BAD_CONFIG
from tests.conftest import REPO
from tests.queue_support import free_port

#: What each command's --help must offer beside the usage line.
SUB_COMMANDS = {"admin": ["token"], "settings": ["check", "write-docs"]}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_lists_every_command():
    done = run("src", "--help")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS) == ["admin", "cleanup", "health", "settings", "worker", "workflows"]


@pytest.mark.parametrize(
    "command", [[name] for name in COMMANDS] + [[n, sub] for n, subs in SUB_COMMANDS.items() for sub in subs]
)
def test_every_command_has_help(command):
    done = run("src", *command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: python -m src {' '.join(command)} "), done.stdout
    for sub in SUB_COMMANDS.get(command[0], []) if len(command) == 1 else []:
        assert f"  {sub} " in done.stdout


def test_an_unknown_command_is_a_usage_error():
    done = run("src", "nothing")
    assert done.returncode == 2 and "No such command 'nothing'" in done.stderr


def same(older: list[str], newer: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Both spellings, run for real: the same exit code and output (the older one may add Python's
    warning that ``src.jobs.ops`` imported the module before it ran as ``__main__``)."""
    old, new = run(*older, env=env), run("src", *newer, env=env)
    assert (old.returncode, old.stdout) == (new.returncode, new.stdout), (old, new)
    strip = [line for line in old.stderr.splitlines() if "RuntimeWarning" not in line]
    assert strip == new.stderr.splitlines(), (old.stderr, new.stderr)
    return new


def test_the_settings_check_and_its_older_spelling(tmp_path):
    env = {"WORKSPACES_DIR": str(tmp_path), "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
    done = same(["src.core.settings", "--check", "--shell"], ["settings", "check", "--shell"], env)
    assert done.returncode == 0 and "TRUSTED_PROXIES=10.0.0.0/8" in done.stdout.splitlines()
    done = same(["src.core.settings", "--check"], ["settings", "check"], env)
    assert done.returncode == 0 and done.stdout == ""
    refused = {**env, "FORWARDED_ALLOW_IPS": "0.0.0.0/0"}
    done = same(["src.core.settings", "--check", "--shell"], ["settings", "check", "--shell"], refused)
    assert done.returncode == EXIT_BAD_CONFIG and done.stdout == "" and "entrypoint: ERROR:" in done.stderr
    assert run("src.core.settings").returncode == 2  # neither --check nor --write-docs: a usage error


def test_the_workflows_check_and_its_older_spelling():
    done = same(["src.workflows", "--check"], ["workflows", "--check"], {})
    assert done.returncode == 0 and done.stdout.startswith("workflows: offering ")
    done = same(["src.workflows"], ["workflows"], {})
    assert done.returncode == 0 and done.stdout.startswith("*")


def test_cleanup_and_its_older_spelling_in_local_mode(tmp_path):
    env = {"WORKSPACES_DIR": str(tmp_path), "ONLINE_DEPLOYMENT": "false"}
    done = same(["src.jobs.ops.cleanup"], ["cleanup"], env)
    assert done.returncode == 0 and "only in online mode" in done.stdout


def test_the_queue_commands_and_their_older_spellings(tmp_path, redis_url):
    env = {"WORKSPACES_DIR": str(tmp_path), "ONLINE_DEPLOYMENT": "true", "REDIS_URL": redis_url}
    done = same(["src.jobs.worker", "--check"], ["worker", "--check"], env)
    assert done.returncode == 0 and done.stdout.strip() == f"Redis at {redis_url} answers."
    done = same(["src.jobs.ops.health", "--quiet"], ["health", "--quiet"], env)
    assert done.returncode == 1 and "unhealthy: no RQ worker is registered" in done.stderr
    older, newer = run("src.jobs.ops.admin_auth", "token", env=env), run("src", "admin", "token", env=env)
    assert older.returncode == newer.returncode == 0
    assert len(older.stdout.strip()) >= 30 and len(newer.stdout.strip()) >= 30
    assert older.stdout != newer.stdout and "One-time sign-in token" in older.stderr + newer.stderr
    assert run("src.jobs.ops.admin_auth", env=env).returncode == 2  # no sub-command: a usage error


def test_the_queue_commands_say_so_when_redis_is_away(tmp_path):
    env = {
        "WORKSPACES_DIR": str(tmp_path),
        "ONLINE_DEPLOYMENT": "true",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    done = same(["src.jobs.ops.health", "--quiet"], ["health", "--quiet"], env)
    assert done.returncode == 1 and done.stderr.startswith("unhealthy: ")
    done = same(["src.jobs.ops.admin_auth", "token"], ["admin", "token"], env)
    assert done.returncode == 1 and "cannot be reached" in done.stderr
