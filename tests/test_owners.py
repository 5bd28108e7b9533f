"""Workspaces that belong to a person (sign-in mode), on a real folder: a person's list holds their
workspaces only, newest first; names are cleaned; rename and delete refuse another person's
workspace; a workspace removed by the clean-up drops out of the list; an anonymous-mode workspace
belongs to nobody; the stored key is a digest, never the subject itself."""

from __future__ import annotations

import os
import shutil

import pytest

from src.core.errors import WorkspaceError
from src.core.workspace import create, new_online_id, owners

ISSUER = "https://id.example.org/realms/lab"


def test_each_person_lists_only_their_own_workspaces(tmp_path):
    alice, bob = owners.owner_key(ISSUER, "alice-sub"), owners.owner_key(ISSUER, "bob-sub")
    first = owners.make(tmp_path, alice, "First  study\n")
    second = owners.make(tmp_path, alice, "Second")
    os.utime(first, (1, 1))  # the first is the older one
    theirs = owners.make(tmp_path, bob)
    anonymous = create(tmp_path, new_online_id())

    assert [(w.id, w.name) for w in owners.owned(tmp_path, alice)] == [
        (second.name, "Second"),
        (first.name, "First study"),
    ]
    assert [w.id for w in owners.owned(tmp_path, bob)] == [theirs.name]
    assert owners.owner_of(tmp_path, first.name) == alice
    assert owners.owner_of(tmp_path, anonymous.name) is None
    assert owners.owner_of(tmp_path, "../../etc") is None
    stored = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "alice-sub" not in stored and len(alice) == 32


def test_rename_and_delete_refuse_another_persons_workspace(tmp_path):
    alice, bob = owners.owner_key(ISSUER, "alice-sub"), owners.owner_key(ISSUER, "bob-sub")
    workspace = owners.make(tmp_path, alice)
    with pytest.raises(WorkspaceError, match="not one of yours"):
        owners.rename(tmp_path, bob, workspace.name, "Mine now")
    with pytest.raises(WorkspaceError, match="not one of yours"):
        owners.delete(tmp_path, bob, workspace.name)
    with pytest.raises(WorkspaceError, match="Give the workspace a name"):
        owners.rename(tmp_path, alice, workspace.name, "   ")
    owners.rename(tmp_path, alice, workspace.name, "Renamed")
    assert owners.owned(tmp_path, alice)[0].name == "Renamed"
    owners.delete(tmp_path, alice, workspace.name)
    assert not workspace.exists() and owners.owned(tmp_path, alice) == []


def test_a_workspace_the_clean_up_removed_drops_out_of_the_list(tmp_path):
    alice = owners.owner_key(ISSUER, "alice-sub")
    kept, removed = owners.make(tmp_path, alice), owners.make(tmp_path, alice)
    shutil.rmtree(removed)  # as the clean-up of old workspaces does
    assert [w.id for w in owners.owned(tmp_path, alice)] == [kept.name]
    assert not (tmp_path / owners.INDEX_DIR / alice / removed.name).exists()
