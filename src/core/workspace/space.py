"""Disk room for workspaces: the per-workspace quota and the free-disk guard.

Anonymous visitors share one volume. Each workspace may hold at most
``limits.workspace_quota_bytes`` (inputs, results, logs and uploads in flight), and
nothing new is accepted (uploads, starts) while the volume has less than
``limits.min_free_bytes`` free, so one visitor cannot fill the disk for everyone.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from src.core.errors import StorageRefused
from src.core.settings import Limits


def human(size: float) -> str:
    """A byte count in the unit people read: 512 KB, 3.4 MB, 1.2 GB."""
    if size < 1024**2:
        return f"{size / 1024:.0f} KB"
    if size < 1024**3:
        return f"{size / 1024**2:.1f} MB"
    return f"{size / 1024**3:.1f} GB"


def used_bytes(workspace: Path) -> int:
    """Bytes of all files in a workspace (symlinks not followed: the shared cache is not counted)."""
    total = 0
    stack = [workspace]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue  # removed while we counted
    return total


def free_bytes(path: Path) -> int:
    """Free bytes on the volume holding ``path`` (the workspaces directory)."""
    return shutil.disk_usage(path).free


def disk_low_message(free: int, limits: Limits, incoming: int = 0) -> str:
    reserve = human(limits.min_free_bytes)
    what = (
        f"The server's disk for workspaces has {human(free)} free, and this file ({human(incoming)}) "
        f"would leave less than the {reserve} it keeps free"
        if incoming and free >= limits.min_free_bytes
        else f"The server's disk for workspaces is almost full ({human(free)} free; uploads and new runs "
        f"need at least {reserve})"
    )
    return (
        f"{what}. Please tell the administrator of this server. Removing files you no longer need from "
        "your workspace also helps."
    )


def check_free_disk(root: Path, limits: Limits, incoming: int = 0) -> None:
    """Refuse when the volume would drop below the free-disk guard."""
    free = free_bytes(root)
    if free - incoming < limits.min_free_bytes:
        raise StorageRefused(disk_low_message(free, limits, incoming))


def check_quota(workspace: Path, limits: Limits, incoming: int, used: int | None = None) -> None:
    """Refuse when ``incoming`` more bytes would take the workspace over its quota."""
    used = used_bytes(workspace) if used is None else used
    quota = limits.workspace_quota_bytes
    if used + incoming <= quota:
        return
    what = (
        f"This workspace holds {human(used)}, its whole {human(quota)} quota"
        if used >= quota
        else f"This workspace holds {human(used)} of its {human(quota)} quota; the file does not fit in "
        f"the {human(quota - used)} left"
    )
    raise StorageRefused(
        f"{what}. Remove input files you no longer need on the File Upload page, or download your "
        "results and start a new workspace."
    )


def check_can_start(workspace: Path, root: Path, limits: Limits) -> None:
    """A new run needs the volume above the free-disk guard and the workspace within its quota."""
    check_free_disk(root, limits)
    used = used_bytes(workspace)
    if used > limits.workspace_quota_bytes:
        raise StorageRefused(
            f"This workspace holds {human(used)}, over its {human(limits.workspace_quota_bytes)} quota, so "
            "no new run can start (a run writes results too). Remove input files you no longer need on the "
            "File Upload page."
        )


#: Below this many free bytes the workspaces volume counts as full while a run writes to it.
FULL_BELOW_BYTES = 1024**2


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def volume_full(path: Path) -> bool:
    """True when the volume holding ``path`` has (almost) no space left; False if it cannot tell."""
    try:
        return free_bytes(path) < FULL_BELOW_BYTES
    except OSError:
        return False
