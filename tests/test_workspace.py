"""Workspace ids and names: validated before they touch the filesystem."""

from __future__ import annotations

import pytest

from src.core import workspace as ws
from src.core.errors import WorkspaceError
from src.core.settings import load_settings
from src.core.workspace import creation as new_workspaces


def test_online_visitor_without_id_gets_a_fresh_random_workspace(tmp_path):
    first = ws.resolve_online(tmp_path, None)
    second = ws.resolve_online(tmp_path, None)
    assert first.path.is_dir() and second.path.is_dir()
    assert first.id != second.id
    assert ws.is_valid_online_id(first.id)
    assert first.notice == ""


def test_online_existing_id_is_shared(tmp_path):
    created = ws.resolve_online(tmp_path, None)
    again = ws.resolve_online(tmp_path, created.id)
    assert again.path == created.path
    assert again.notice == ""


@pytest.mark.parametrize(
    "forged", ["../../etc", "..", "a/b", "/etc/passwd", "x" * 32, "ABCDEF" * 6, "%2e%2e"]
)
def test_forged_online_ids_get_a_new_workspace_and_a_message(tmp_path, forged):
    resolution = ws.resolve_online(tmp_path / "root", forged)
    assert resolution.path.parent == tmp_path / "root"
    assert ws.is_valid_online_id(resolution.id)
    assert "not valid" in resolution.notice
    assert not (tmp_path / "etc").exists()


def test_unknown_but_well_formed_id_gets_a_new_workspace(tmp_path):
    unknown = ws.new_online_id()
    resolution = ws.resolve_online(tmp_path, unknown)
    assert resolution.id != unknown
    assert "does not exist" in resolution.notice
    assert not (tmp_path / unknown).exists()


def test_local_names(tmp_path):
    assert ws.resolve_local(tmp_path, None).id == ws.DEFAULT_LOCAL_WORKSPACE
    assert ws.resolve_local(tmp_path, "project-1").path == tmp_path / "project-1"
    bad = ws.resolve_local(tmp_path, "../escape")
    assert bad.id == ws.DEFAULT_LOCAL_WORKSPACE
    assert "Workspace names" in bad.notice
    assert not (tmp_path.parent / "escape").exists()
    (tmp_path / ".cache").mkdir()
    assert ws.list_local(tmp_path) == ["default", "project-1"]


@pytest.mark.parametrize("name", ["", ".hidden", "a..b", "a/b", "x" * 65, "semi;colon"])
def test_invalid_local_names_are_refused(name):
    with pytest.raises(WorkspaceError):
        ws.validate_local_name(name)


def test_new_workspaces_per_client_are_bounded_and_a_link_still_opens(tmp_path):
    settings = load_settings(
        env={"WORKSPACES_DIR": str(tmp_path), "ONLINE_DEPLOYMENT": "true", "QUEUE_ENABLED": "false",
             "NEW_WORKSPACES_PER_CLIENT_PER_HOUR": "3"}
    )  # fmt: skip

    def visit(visitor: str, link: str | None = None) -> ws.Resolution:
        return ws.resolve_online(tmp_path, link, lambda: new_workspaces.take(settings, visitor))

    made = [visit("198.51.100.1") for _ in range(3)]
    with pytest.raises(WorkspaceError, match="3 new workspaces were made from your address"):
        visit("198.51.100.1")
    with pytest.raises(WorkspaceError, match="link is not valid, and no new one was made"):
        visit("198.51.100.1", "forged")
    assert visit("198.51.100.1", made[0].id).path == made[0].path  # an existing link is not counted
    assert visit("198.51.100.2").path.is_dir()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 4
