"""Workspace clean-up against a real redis-server: stale workspaces go, busy and recent ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rq.job import Job

from src import runs
from src.core.settings import load_settings
from src.jobs.connection import get_connection
from src.jobs.ops import cleanup
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.conftest import REPO, put_inputs
from tests.queue_support import free_port, online_env

DAY = 86400


def age(workspace: Path, days: float) -> None:
    """Make every file of a workspace look untouched for `days`."""
    then = time.time() - days * DAY
    for path in [*workspace.rglob("*"), workspace]:
        os.utime(path, (then, then), follow_symlinks=False)


def workspace_with_file(settings, name: str) -> Path:
    workspace = settings.workspaces_dir / name
    (workspace / "topp-workflow" / "results").mkdir(parents=True)
    (workspace / "topp-workflow" / "results" / "table.tsv").write_text("a\tb\n1\t2\n")
    return workspace


def test_only_stale_workspaces_without_an_active_job_are_removed(online_settings, nz_files):
    stale = workspace_with_file(online_settings, "stale")
    recent = workspace_with_file(online_settings, "recent")
    busy = MetabolomicsWorkflow(online_settings.workspaces_dir / "busy", online_settings)
    put_inputs(busy, nz_files[:1])
    view = runs.start(busy)  # no worker is running: the job stays queued
    assert view.mode == "queue"
    for workspace in (stale, busy.workspace):
        age(workspace, online_settings.workspace_max_age_days + 1)
    age(recent, online_settings.workspace_max_age_days - 1)

    removed = cleanup.cleanup(online_settings)

    assert removed == [stale] and not stale.exists()
    assert recent.is_dir() and busy.workspace.is_dir()
    job = Job.fetch(view.job_id, connection=get_connection(online_settings.queue))
    assert job.get_status() == "queued", "the clean-up touched a queued job"


def test_a_stale_workspace_whose_job_ended_is_removed(online_settings, nz_files):
    done = MetabolomicsWorkflow(online_settings.workspaces_dir / "done", online_settings)
    put_inputs(done, nz_files[:1])
    view = runs.start(done)
    runs.stop(done)
    connection = get_connection(online_settings.queue)
    assert Job.fetch(view.job_id, connection=connection).get_status() not in ("queued", "started")
    age(done.workspace, online_settings.workspace_max_age_days + 1)

    assert cleanup.cleanup(online_settings) == [done.workspace]


def test_nothing_is_removed_while_redis_is_unreachable(settings, nz_files, redis_url):
    online = load_settings(env=online_env(settings, redis_url))
    busy = MetabolomicsWorkflow(online.workspaces_dir / "busy", online)
    put_inputs(busy, nz_files[:1])
    runs.start(busy)
    age(busy.workspace, online.workspace_max_age_days + 1)
    unreachable = load_settings(env=online_env(settings, f"redis://127.0.0.1:{free_port()}/0"))

    assert cleanup.cleanup(unreachable) == []
    assert busy.workspace.is_dir()


def cleanup_pass(env: dict[str, str]) -> subprocess.CompletedProcess:
    """One `python -m src.jobs.ops.cleanup` pass with this environment on top of ours."""
    return subprocess.run(
        [sys.executable, "-m", "src.jobs.ops.cleanup"],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_line_pass_uses_the_environment_and_skips_local_mode(settings, redis_url):
    stale = workspace_with_file(settings, "two-days-old")
    age(stale, 2)

    local = cleanup_pass({"WORKSPACES_DIR": str(settings.workspaces_dir), "ONLINE_DEPLOYMENT": "false"})
    assert local.returncode == 0 and "only in online mode" in local.stdout
    assert stale.is_dir()

    online = cleanup_pass(online_env(settings, redis_url, WORKSPACE_MAX_AGE_DAYS="1"))
    assert online.returncode == 0, online.stderr
    assert "removed workspace two-days-old" in online.stdout
    assert not stale.exists()

    nonsense = cleanup_pass(online_env(settings, redis_url, WORKSPACE_MAX_AGE_DAYS="soon"))
    assert nonsense.returncode == 2
    assert "WORKSPACE_MAX_AGE_DAYS must be a number" in nonsense.stderr


def test_an_empty_workspace_goes_soon_and_one_with_anything_in_it_stays(online_settings):
    empty, used = online_settings.workspaces_dir / "empty", workspace_with_file(online_settings, "used")
    (empty / "topp-workflow" / "input-files" / "mzML-files").mkdir(parents=True)  # folders only
    (empty / ".uploads").mkdir()
    (empty / ".uploads" / ".lock").touch()
    minutes = online_settings.limits.empty_workspace_seconds / 60
    for workspace in (empty, used):
        age(workspace, (minutes + 1) / (24 * 60))
    assert cleanup.cleanup(online_settings) == [empty]
    assert used.is_dir()
    fresh = online_settings.workspaces_dir / "fresh"
    fresh.mkdir()
    assert cleanup.cleanup(online_settings) == [] and fresh.is_dir()  # not yet due
    assert cleanup.pass_interval(online_settings) <= online_settings.limits.empty_workspace_seconds / 2
