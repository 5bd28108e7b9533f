"""Workspaces that belong to a person (sign-in mode, ``AUTH_MODE=oidc``).

A person is known by their provider's stable subject (``sub``), never their e-mail, which can
change or be reassigned. What is stored is a digest of it (the owner key), so that nothing on
the volume lists who uses the server: each owned workspace holds ``.owner`` with its owner's key,
and ``<workspaces>/.owners/<owner key>/<workspace id>`` holds the name its owner gave it, so a
person's list is one directory listing. A workspace without ``.owner`` (made in anonymous mode)
belongs to nobody and opens for nobody: in this mode a workspace id alone is no key.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import WorkspaceError
from src.core.workspace.ids import create, is_valid_online_id, new_online_id, workspace_path

OWNER_FILE = ".owner"
INDEX_DIR = ".owners"
NAME_MAX = 60
DEFAULT_NAME = "My workspace"
_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Owned:
    id: str
    name: str
    modified: float  # when its name or its folder last changed


def owner_key(issuer: str, subject: str) -> str:
    """The person's key: a digest of the provider and its ``sub`` (a person at one provider)."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:32]


def _index(root: Path, owner: str) -> Path:
    if not _KEY.match(owner):
        raise ValueError("not an owner key")
    return root / INDEX_DIR / owner


def owner_of(root: Path, workspace_id: str) -> str | None:
    """The owner key of a workspace; None if it has none (or does not exist)."""
    if not is_valid_online_id(workspace_id):
        return None
    try:
        return (workspace_path(root, workspace_id) / OWNER_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def clean_name(name: str) -> str:
    """A workspace's name as its owner typed it, on one line and not too long."""
    text = " ".join(str(name).split())[:NAME_MAX]
    if not text:
        raise WorkspaceError("Give the workspace a name.")
    return text


def make(root: Path, owner: str, name: str = DEFAULT_NAME) -> Path:
    """A new workspace of ``owner``."""
    workspace_id = new_online_id()
    path = create(root, workspace_id)
    (path / OWNER_FILE).write_text(owner)
    index = _index(root, owner)
    index.mkdir(parents=True, exist_ok=True)
    (index / workspace_id).write_text(clean_name(name))
    return path


def owned(root: Path, owner: str) -> list[Owned]:
    """The owner's workspaces, most recently changed first (entries of removed ones are dropped)."""
    index = _index(root, owner)
    if not index.is_dir():
        return []
    found = []
    for entry in index.iterdir():
        folder = workspace_path(root, entry.name) if is_valid_online_id(entry.name) else None
        if folder is None or not folder.is_dir() or owner_of(root, entry.name) != owner:
            entry.unlink(missing_ok=True)  # removed by the clean-up (or never finished)
            continue
        found.append(Owned(entry.name, entry.read_text().strip() or DEFAULT_NAME, folder.stat().st_mtime))
    return sorted(found, key=lambda w: (-w.modified, w.name))


def rename(root: Path, owner: str, workspace_id: str, name: str) -> None:
    _check_owner(root, owner, workspace_id)
    (_index(root, owner) / workspace_id).write_text(clean_name(name))


def delete(root: Path, owner: str, workspace_id: str) -> None:
    """Remove a workspace of ``owner`` with everything in it."""
    _check_owner(root, owner, workspace_id)
    (_index(root, owner) / workspace_id).unlink(missing_ok=True)
    shutil.rmtree(workspace_path(root, workspace_id))


def _check_owner(root: Path, owner: str, workspace_id: str) -> None:
    if owner_of(root, workspace_id) != owner:
        raise WorkspaceError("That workspace is not one of yours.")
