"""What every page does first: settings, the visitor's workspace, the sidebar.

Pages stay thin: ``ctx = page_setup()`` and then one call into a section module.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from src.core import process_log
from src.core import workspace as ws
from src.core.errors import SettingsError, WorkspaceError
from src.core.settings import Settings, by_key, load_settings
from src.core.workflow import WorkflowBase
from src.core.workspace import creation as new_workspaces
from src.core.workspace import owners
from src.ui import auth, navigation, run_watch, sidebar
from src.ui.text import literal
from src.web import sessions
from src.workflows import RegistryError, offered

log = logging.getLogger(__name__)

WORKSPACE_KEY = "workspace"
#: The browser tab's icon, served from the app itself (as a data URL): no request leaves it.
FAVICON = str(Path(__file__).with_name("favicon.svg"))


@dataclass(frozen=True)
class PageContext:
    settings: Settings
    # None only on a page set up with ``makes_workspace=False`` (Queue admin) for a visit without one.
    workspace: Path | None
    workflow: WorkflowBase | None
    visitor: str  # whom the limits per visitor count: the visitor's address, or the signed-in person
    person: auth.Person | None = None  # sign-in mode: who is signed in
    workflows: tuple[type[WorkflowBase], ...] = ()  # every offered workflow, the first one first


def visitor_address() -> str:
    """The visitor's address as the web server sees it.

    Uvicorn replaces the peer address with the one in X-Forwarded-For when the request
    comes from a trusted proxy (uvicorn's FORWARDED_ALLOW_IPS, default 127.0.0.1: in the
    appliance only its HAProxy, which writes the header itself). A server bound to
    all IPv6 and IPv4 addresses sees IPv4 peers as ``::ffff:a.b.c.d``; that is the same
    visitor as ``a.b.c.d``. Loopback visitors all count as "localhost".
    """
    address = (st.context.ip_address or "").removeprefix("::ffff:")
    return "localhost" if address in ("", "127.0.0.1", "::1") else address


def app_title() -> str:
    """The configured app name for the browser tab; the declared default while the settings are
    broken (the page itself then says what is wrong)."""
    try:
        return load_settings().app_name
    except SettingsError:
        return str(by_key("app_name").default)


def offered_workflows() -> tuple[Settings, tuple[type[WorkflowBase], ...]]:
    """The settings and the workflows the app offers; a page that says what is wrong if either
    cannot be had (the appliance's start-up check refuses such settings before this)."""
    settings = _settings()
    try:
        return settings, offered(settings)
    except RegistryError as err:
        st.error(f"The app is misconfigured: {literal(err)}")
        st.stop()
        raise


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        st.error(f"The app is misconfigured: {literal(err)}")
        st.stop()
        raise  # st.stop() raises; this line only keeps type checkers informed


@functools.cache
def _log_lines(log_format: str) -> None:
    """Once per web server: its run events (a run queued) go to stdout in LOG_FORMAT. Streamlit
    keeps its own loggers; only the project's are configured here."""
    process_log.configure(log_format, "openms")


def _resolve(settings: Settings, who: auth.Person | None, makes: bool = True) -> ws.Resolution | None:
    """The visit's workspace; with ``makes`` False never a new one (None if it has none yet)."""
    requested = st.query_params.get(WORKSPACE_KEY)
    if who is not None:
        return _resolve_owned(settings, who, requested, makes)
    current = st.session_state.get(WORKSPACE_KEY)
    if current and (not requested or requested == Path(current).name) and Path(current).is_dir():
        return ws.Resolution(Path(current))
    root = settings.workspaces_dir
    if not settings.online_deployment:
        return ws.resolve_local(root, requested)
    if not makes:  # the link's workspace if there is one, else none
        if requested and ws.is_valid_online_id(requested) and ws.workspace_path(root, requested).is_dir():
            return ws.Resolution(ws.workspace_path(root, requested))
        return None
    return ws.resolve_online(root, requested, lambda: new_workspaces.take(settings, visitor_address()))


def _resolve_owned(
    settings: Settings, who: auth.Person, requested: str | None, makes: bool = True
) -> ws.Resolution | None:
    """Sign-in mode: the workspace in the link if it is this person's, else their latest (or a new
    one), with a notice why. Another person's workspace is never opened, whoever has its link."""
    root = settings.workspaces_dir
    if requested and owners.owner_of(root, requested) == who.key:
        return ws.Resolution(ws.workspace_path(root, requested))
    notice = ""
    if requested and ws.is_valid_online_id(requested) and ws.workspace_path(root, requested).is_dir():
        log.warning("refused a workspace link of another person (or of none)")
        notice = (
            "That workspace link is not one of your workspaces, so it was not opened: a workspace "
            "opens only for the person it belongs to. Your own workspaces are in the sidebar."
        )
    elif requested:
        notice = "That workspace does not exist (it may have been removed). Yours are in the sidebar."
    mine = owners.owned(root, who.key)
    if mine:
        return ws.Resolution(ws.workspace_path(root, mine[0].id), notice)
    if not makes:
        return None
    refused = new_workspaces.take(settings, who.visitor)
    if refused:
        raise WorkspaceError(refused)
    return ws.Resolution(owners.make(root, who.key), notice)


def select_workspace(settings: Settings, who: auth.Person | None = None, makes: bool = True) -> Path | None:
    """The visitor's workspace: kept in the session and mirrored in the URL so it can be shared.
    With ``makes`` False a visit that has none gets none (None), and no new one is counted."""
    try:
        resolution = _resolve(settings, who, makes)
    except WorkspaceError as err:  # no workspace for this visit (too many made from the address)
        st.error(literal(err))
        st.stop()
        raise
    if resolution is None:
        return None
    with st.container():  # a fixed slot, so the page's fragments keep their places
        if resolution.notice:
            st.warning(literal(resolution.notice))
    st.session_state[WORKSPACE_KEY] = str(resolution.path)
    if st.query_params.get(WORKSPACE_KEY) != resolution.id:
        st.query_params[WORKSPACE_KEY] = resolution.id
    return resolution.path


def page_setup(run_page: bool = False, makes_workspace: bool = True) -> PageContext:
    """Settings, workspace and sidebar; every page but the Run page toasts when a run ends.

    ``makes_workspace=False`` (the Queue admin page) opens the visit's workspace if it has one but
    never makes one: the page needs none, and so stays open to the administrator when the address
    has made all the new workspaces it may this hour."""
    settings = _settings()
    _log_lines(settings.log_format)
    who = auth.person(settings)  # in sign-in mode: asks to sign in first
    workspace = select_workspace(settings, who, makes_workspace)
    _, workflows = offered_workflows()
    workflow = _open_workflow(settings, workspace, workflows)
    sidebar.render(settings, workspace, who)
    if workflow is not None and not run_page:  # the Run page's status block remembers the state itself
        run_watch.watch(workflow)
    visitor = who.visitor if who else visitor_address()
    return PageContext(settings, workspace, workflow, visitor, who, workflows)


def _open_workflow(
    settings: Settings, workspace: Path | None, workflows: tuple[type[WorkflowBase], ...]
) -> WorkflowBase | None:
    """The workflow of the page that runs (the first one on pages of no workflow), in the workspace."""
    if workspace is None or not workflows:
        return None
    script_run = get_script_run_ctx()
    if script_run is not None:  # uploads from this session go to this workspace (src/web/upload_stream.py)
        sessions.register(script_run.session_id, workspace, settings)
    serving = navigation.current_workflow()
    chosen = next((cls for cls in workflows if cls.id == serving), workflows[0])
    return chosen(workspace, settings)
