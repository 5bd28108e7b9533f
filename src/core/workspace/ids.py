"""Workspaces: one directory per user (online) or per named project (local).

A workspace id ends up in a filesystem path and in a shareable URL, so every id
that comes from outside is validated here before it touches the disk.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import WorkspaceError

log = logging.getLogger(__name__)

#: Online ids are random UUID4 hex strings: unguessable and safe as path parts.
_ONLINE_ID = re.compile(r"^[0-9a-f]{32}$")
#: Local names are typed by the user: letters, digits, '-', '_' and '.', not starting with '.'.
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_LOCAL_WORKSPACE = "default"


@dataclass(frozen=True)
class Resolution:
    """Which workspace a visitor gets, and what to tell them about it (empty if nothing)."""

    path: Path
    notice: str = ""

    @property
    def id(self) -> str:
        return self.path.name


def new_online_id() -> str:
    return uuid.uuid4().hex


def is_valid_online_id(workspace_id: str) -> bool:
    return bool(_ONLINE_ID.match(workspace_id or ""))


def validate_local_name(name: str) -> str:
    """Return the name if it is a safe directory name, else raise WorkspaceError."""
    name = (name or "").strip()
    if not _LOCAL_NAME.match(name) or ".." in name:
        raise WorkspaceError(
            "Workspace names may use letters, digits, '-', '_' and '.', must start with a letter "
            "or digit and be at most 64 characters long."
        )
    return name


def _inside(root: Path, candidate: Path) -> bool:
    return candidate.resolve().parent == root.resolve()


def workspace_path(root: Path, workspace_id: str) -> Path:
    """Map a validated id to its directory, refusing anything that would leave the root."""
    path = root / workspace_id
    if not _inside(root, path):
        raise WorkspaceError(f"Workspace id {workspace_id!r} does not name a directory in {root}.")
    return path


def create(root: Path, workspace_id: str) -> Path:
    path = workspace_path(root, workspace_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_online(
    root: Path, requested: str | None, may_create: Callable[[], str] | None = None
) -> Resolution:
    """Give an online visitor the workspace in ?workspace=, or a fresh one with a notice why.

    ``may_create`` is asked before a fresh workspace is made: "" lets it be made, anything else
    is the reason why not, raised as WorkspaceError (with what was wrong with the link, if it was).
    """
    if requested and is_valid_online_id(requested) and workspace_path(root, requested).is_dir():
        return Resolution(workspace_path(root, requested))
    if not requested:
        why = ""
    elif not is_valid_online_id(requested):
        log.warning("refused malformed workspace id %r", requested[:80])
        why = "The workspace link is not valid"
    else:
        why = "That workspace does not exist (it may have been removed after a period without use)"
    refused = may_create() if may_create else ""
    if refused:
        raise WorkspaceError(f"{why}, and no new one was made: {refused}" if why else refused)
    notice = f"{why}, so a new empty workspace was created for you." if why else ""
    return Resolution(create(root, new_online_id()), notice)


def resolve_local(root: Path, requested: str | None) -> Resolution:
    """Open (creating if needed) a named local workspace; a bad name falls back to the default."""
    if not requested:
        return Resolution(create(root, DEFAULT_LOCAL_WORKSPACE))
    try:
        return Resolution(create(root, validate_local_name(requested)))
    except WorkspaceError as err:
        return Resolution(
            create(root, DEFAULT_LOCAL_WORKSPACE), f"{err} Opened '{DEFAULT_LOCAL_WORKSPACE}' instead."
        )


def list_local(root: Path) -> list[str]:
    """Named workspaces under root, sorted; hidden and non-conforming directories are skipped."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _LOCAL_NAME.match(p.name))
