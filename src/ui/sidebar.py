"""The sidebar: workspace switcher (local) or workspace link (online), and machine load."""

from __future__ import annotations

from pathlib import Path

import psutil
import streamlit as st

from src.core import workspace as ws
from src.core.errors import UserError
from src.core.settings import Settings
from src.core.version import VERSION
from src.jobs.connection import REDIS_ERRORS
from src.jobs.telemetry import queue_load
from src.runs import queue_wanted
from src.ui import auth, my_workspaces
from src.ui.text import literal

_NEW = "➕ New workspace…"


def render(settings: Settings, workspace: Path | None, who: auth.Person | None = None) -> None:
    with st.sidebar:
        st.markdown(f"**{literal(settings.app_name)}** · {literal(settings.mode)} mode")
        with st.container():  # a fixed slot: the monitors below keep their places as this varies
            if who is not None:
                my_workspaces.render(settings, workspace, who)
            elif workspace is None:  # a page that makes none (Queue admin), for a visit without one
                st.caption("No workspace is open on this page; the other pages open yours, or a new one.")
            elif settings.online_deployment:
                _online_workspace(workspace)
            else:
                _local_workspaces(settings, workspace)
        if queue_wanted(settings):
            _queue_load(settings)
        _resources(settings.resource_refresh_seconds)
        st.caption(f"OpenMS Workflow Server {VERSION}")


def _queue_load(settings: Settings) -> None:
    @st.fragment(run_every=settings.resource_refresh_seconds)
    def monitor() -> None:
        try:
            load = queue_load.current_load(settings, shared=True)
        except REDIS_ERRORS:
            st.warning("The job queue cannot be reached right now; runs start on the web server instead.")
            return
        st.progress(
            min(load.utilisation, 1.0), text=f"Workers busy: {load.workers_busy:d} of {load.workers_total:d}"
        )
        st.caption(f"{load.running:d} running · {load.waiting_total:d} waiting")
        if load.backlog_warning:
            st.warning(literal(load.backlog_warning))

    st.markdown("**Job queue**")
    monitor()


def _online_workspace(workspace: Path) -> None:
    st.caption("Your workspace. Keep this link to come back to your files and results:")
    st.code(f"?workspace={workspace.name}", language=None)


def _switch_to(path: Path) -> None:
    st.session_state["workspace"] = str(path)
    st.query_params["workspace"] = path.name


def _local_workspaces(settings: Settings, workspace: Path) -> None:
    names = ws.list_local(settings.workspaces_dir)
    if workspace.name not in names:
        names.append(workspace.name)
    choice = st.selectbox("Workspace", names + [_NEW], index=names.index(workspace.name), key="ws-select")
    if choice == _NEW:
        _create_local(settings)
    elif choice != workspace.name:
        _switch_to(ws.create(settings.workspaces_dir, choice))
        st.rerun()


def _create_local(settings: Settings) -> None:
    # At most 64 characters, as ws.validate_local_name takes them.
    name = st.text_input("Name of the new workspace", max_chars=64, key="ws-new-name")
    if not st.button("Create workspace", key="ws-create") or not name:
        return
    try:
        path = ws.create(settings.workspaces_dir, ws.validate_local_name(name))
    except UserError as err:
        st.error(literal(err))
        return
    _switch_to(path)
    st.session_state.pop("ws-select", None)
    st.rerun()


def _resources(refresh_seconds: float) -> None:
    @st.fragment(run_every=refresh_seconds)
    def monitor() -> None:
        cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory()
        used_gib, total_gib = (memory.total - memory.available) / 2**30, memory.total / 2**30
        st.progress(min(cpu / 100, 1.0), text=f"CPU {cpu:.0f}%")
        st.progress(min(memory.percent / 100, 1.0), text=f"RAM {used_gib:.1f} of {total_gib:.1f} GiB")

    st.markdown("**Machine load**")
    monitor()
