"""Removing workspaces nobody has touched for ``workspace_max_age_days``, and empty ones sooner.

A workspace counts as touched when any file in it changes. One that nothing was ever put in
(every visit without a link makes one) is removed once ``limits.empty_workspace_seconds`` have
passed since it was made, so page loads cannot fill the volume. Each pass also removes uploads
that were streamed to disk but never added to their workspace. A workspace with a queued or
running job, or a live local run, is never removed; when that cannot be checked (Redis
unreachable) nothing is removed in that pass.
Run as ``python -m src cleanup`` (one pass) or ``--loop`` (every ``cleanup_interval_seconds``,
or more often when empty workspaces are due sooner, as the appliance does).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import click
from rq.exceptions import NoSuchJobError
from rq.job import Job

from src.core import process_log
from src.core.execution import is_alive
from src.core.jsonfile import read_json
from src.core.layout import RUN, WorkflowLayout
from src.core.run import RunStateStore
from src.core.settings import Settings, load_for_command
from src.core.workspace import LOCK_NAME, remove_stale_spools
from src.jobs.connection import REDIS_ERRORS, get_connection
from src.jobs.job_model import ACTIVE_JOB_STATES

log = logging.getLogger("src.jobs.ops.cleanup")


def last_touched(workspace: Path) -> float:
    """Newest modification time of the workspace or anything in it."""
    newest = workspace.stat().st_mtime
    for path in workspace.rglob("*"):
        try:
            newest = max(newest, path.lstat().st_mtime)
        except FileNotFoundError:
            return time.time()  # removed while we looked: it was touched just now
    return newest


def _job_active(settings: Settings, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=get_connection(settings.queue))
        return job.get_status(refresh=False) in ACTIVE_JOB_STATES  # fetched just now
    except NoSuchJobError:
        return False


def has_active_run(settings: Settings, workspace: Path) -> bool:
    """True if any workflow in the workspace has a queued/running job or a live local run."""
    for run_dir in workspace.glob(f"*/{RUN}"):
        layout = WorkflowLayout(run_dir.parent)
        job_id = read_json(layout.job).get("job_id")
        if job_id and _job_active(settings, job_id):
            return True
        local_run = RunStateStore(run_dir).read_pid()
        if local_run and is_alive(*local_run):
            return True
    return False


def is_empty(workspace: Path) -> bool:
    """Nothing was ever put in it: no file at all (folders and the upload lock do not count)."""
    return not any(
        path.is_file() and not path.is_symlink() and path.name != LOCK_NAME for path in workspace.rglob("*")
    )


def stale_workspaces(settings: Settings, now: float | None = None) -> list[Path]:
    now = time.time() if now is None else now
    limit = settings.workspace_max_age_days * 86400
    empty_limit = settings.limits.empty_workspace_seconds
    root = settings.workspaces_dir
    if not root.is_dir():
        return []
    candidates = [
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink()
    ]
    stale = []
    for workspace in candidates:
        age = now - last_touched(workspace)
        if age > limit or (age > empty_limit and is_empty(workspace)):
            stale.append(workspace)
    return sorted(stale)


def remove_abandoned_uploads(settings: Settings) -> None:
    """Uploads a visitor never added (closed the tab) would count against the workspace's quota."""
    root = settings.workspaces_dir
    if not root.is_dir():
        return
    for workspace in root.iterdir():
        if workspace.is_dir() and not workspace.is_symlink():
            count = remove_stale_spools(workspace)
            if count:
                log.info("removed %d abandoned upload(s) from workspace %s", count, workspace.name)


def cleanup(settings: Settings, now: float | None = None) -> list[Path]:
    """One pass: remove stale workspaces without active runs; return what was removed."""
    remove_abandoned_uploads(settings)
    removed = []
    for workspace in stale_workspaces(settings, now):
        try:
            if has_active_run(settings, workspace):
                log.info("keeping %s: it has an active run", workspace.name)
                continue
        except REDIS_ERRORS as err:
            log.warning("Redis unreachable (%s); not removing anything in this pass", err)
            return removed
        reason = _why(settings, workspace)
        try:
            shutil.rmtree(workspace)
        except OSError as err:
            log.error("could not remove workspace %s: %s (check the volume's ownership)", workspace.name, err)
            continue
        log.info("removed workspace %s (%s)", workspace.name, reason)
        removed.append(workspace)
    return removed


def _why(settings: Settings, workspace: Path) -> str:
    if is_empty(workspace):
        return f"empty for {settings.limits.empty_workspace_seconds / 60:.0f} min"
    return f"untouched for {settings.workspace_max_age_days:.1f} days"


def pass_interval(settings: Settings) -> float:
    """Seconds between passes: often enough that empty workspaces go about when they are due."""
    return max(10.0, min(settings.cleanup_interval_seconds, settings.limits.empty_workspace_seconds / 2))


@click.command("cleanup")
@click.option(
    "--loop", is_flag=True, help="Repeat every cleanup_interval_seconds (or sooner, as empty ones are due)."
)
def main(loop: bool) -> None:
    """Remove workspaces untouched for workspace_max_age_days, and empty ones sooner."""
    process_log.configure("text")
    settings = load_for_command()
    if not settings.online_deployment:
        click.echo("Workspace clean-up runs only in online mode: local workspaces belong to their user.")
        return
    while True:
        cleanup(settings)
        if not loop:
            return
        time.sleep(pass_interval(settings))


if __name__ == "__main__":  # the older spelling of ``python -m src cleanup``
    main()
