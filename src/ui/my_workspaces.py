"""The sidebar in sign-in mode: who is signed in, their workspaces (open, new, rename, delete)
and signing out. Only the person's own workspaces are ever listed (``src/core/workspace/owners.py``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from src.core.errors import UserError
from src.core.layout import WorkflowLayout
from src.core.run import RunState, RunStateStore
from src.core.settings import Settings
from src.core.workspace import creation as new_workspaces
from src.core.workspace import owners
from src.ui import auth
from src.ui.text import literal
from src.workflows import installed

_NEW = "➕ New workspace…"
_BOX = "my-ws-box-"


def _forget_box() -> None:
    """The next run makes the list anew, on the workspace the page opens."""
    for key in [k for k in st.session_state if str(k).startswith(_BOX)]:
        del st.session_state[key]


def render(settings: Settings, workspace: Path | None, who: auth.Person) -> None:
    signed_in = f"Signed in as **{literal(who.name)}**"
    st.markdown(signed_in + (f" ({literal(who.email)})" if who.email and who.email != who.name else ""))
    if workspace is None:  # a page that makes none (Queue admin), for a person without one
        auth.sign_out_button(settings)
        return
    root = settings.workspaces_dir
    mine = {w.id: w for w in owners.owned(root, who.key)}
    ids = list(mine)
    if workspace.name not in ids:
        ids.insert(0, workspace.name)
    label = {i: f"{mine[i].name} · {i[:6]}" if i in mine else i[:6] for i in ids}
    label[_NEW] = _NEW
    # The box's key follows its labels: a box kept across reruns shows the labels it was made with.
    key = _BOX + hashlib.sha256("|".join(label[i] for i in ids).encode()).hexdigest()[:12]
    choice = st.selectbox(
        "My workspaces", ids + [_NEW], index=ids.index(workspace.name), format_func=label.get, key=key
    )
    if choice == _NEW:
        _create(settings, who)
    elif choice != workspace.name:
        _open(root / choice)
    with st.expander("Rename or delete this workspace"):
        _rename(settings, workspace, who, mine[workspace.name].name if workspace.name in mine else "")
        _delete(settings, workspace, who)
    auth.sign_out_button(settings)


def _open(path: Path) -> None:
    st.session_state["workspace"] = str(path)
    st.query_params["workspace"] = path.name
    _forget_box()
    st.rerun()


def _create(settings: Settings, who: auth.Person) -> None:
    name = st.text_input("Name of the new workspace", max_chars=owners.NAME_MAX, key="my-ws-new-name")
    if not st.button("Create workspace", key="my-ws-create") or not name:
        return
    refused = new_workspaces.take(settings, who.visitor)
    if refused:
        st.error(literal(refused))
        return
    try:
        _open(owners.make(settings.workspaces_dir, who.key, owners.clean_name(name)))
    except UserError as err:
        st.error(literal(err))


def _rename(settings: Settings, workspace: Path, who: auth.Person, current: str) -> None:
    # A form: the typed name and the press of Rename reach the app in one message, so neither can be
    # lost to a rerun in between (the Run page's status reruns its part of the page every second).
    with st.form(key=f"my-ws-rename-{workspace.name}", border=False):
        key = f"my-ws-name-{workspace.name}"
        name = st.text_input("Name", value=current, max_chars=owners.NAME_MAX, key=key)
        pressed = st.form_submit_button("Rename")
    if pressed and name != current:
        try:
            owners.rename(settings.workspaces_dir, who.key, workspace.name, name)
        except UserError as err:
            st.error(literal(err))
            return
        st.rerun()


def _delete(settings: Settings, workspace: Path, who: auth.Person) -> None:
    sure = st.checkbox("Delete this workspace and everything in it", key=f"my-ws-sure-{workspace.name}")
    if not st.button("Delete workspace", key="my-ws-delete", disabled=not sure):
        return
    states = [RunStateStore(WorkflowLayout.of(workspace, cls.id).run).read() for cls in installed()]
    if any(status.state is not RunState.NEW and not status.is_final for status in states):
        st.error("A run of this workspace is queued or running: stop it first, then delete the workspace.")
        return
    try:
        owners.delete(settings.workspaces_dir, who.key, workspace.name)
    except UserError as err:
        st.error(literal(err))
        return
    st.session_state.pop("workspace", None)
    st.query_params.clear()
    _forget_box()
    st.rerun()
