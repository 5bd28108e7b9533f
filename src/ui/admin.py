"""The queue admin page: queue load for everyone, details for the signed-in administrator.

Anyone who can reach the app may open this page, so without the admin password it
shows aggregate figures only (Redis up, workers busy of all, waiting and running
runs, the depth chart). Job ids, workspaces, worker jobs and error texts, which
name other visitors' work, appear only after signing in with the admin password
(ADMIN_PASSWORD, or ``admin_password`` in Streamlit secrets). A sign-in lasts
``limits.admin_session_seconds`` and wrong passwords are limited per visitor
(``src/jobs/ops/admin_auth.py``).
"""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from src.core.errors import SettingsError, UserError
from src.core.run import duration_text, moment_text
from src.core.settings import DASHBOARD_PORT, PRIORITIES, Settings, check_admin_password
from src.jobs.connection import REDIS_ERRORS, get_connection
from src.jobs.ops import admin, admin_auth, health
from src.jobs.telemetry import queue_load
from src.runs import queue_wanted
from src.ui.page import PageContext
from src.ui.text import literal

REFRESH_SECONDS = 5
#: Session key: until when (epoch seconds) this browser session is signed in as admin.
ADMIN_UNTIL = "admin-until"
#: Session key: what the last Move did, as (kind, text), shown once above the Move form.
MOVE_RESULT = "admin-move-result"


def show(ctx: PageContext) -> None:
    settings = ctx.settings
    if not queue_wanted(settings):
        st.info(
            "The queue admin page is available in online mode only (the appliance, or "
            "ONLINE_DEPLOYMENT=true with Redis). In local mode every run is a process on this "
            "computer, so there is no queue to administer."
        )
        return
    with st.container():  # a fixed slot, so the live block below keeps its place on the page
        signed_in = _sign_in_area(ctx)

    @st.fragment(run_every=REFRESH_SECONDS)
    def live() -> None:
        as_admin = is_admin()  # checked on every refresh: an expired sign-in hides the details at once
        if signed_in and not as_admin:
            st.rerun(scope="app")  # and the rest of the page (failed jobs) goes with them
        state = health.redis_health(settings)
        if not state.ok:
            detail = f": {literal(state.error)}" if as_admin else ""
            st.error(
                f"The job queue (Redis) cannot be reached{detail}. Jobs already queued are kept by Redis. "
                + ("Check it with `supervisorctl status redis` inside the container." if as_admin else "")
            )
            return
        try:
            _overview(settings)
            if as_admin:
                _redis(state)
                _workers(settings)
                _queue(settings)
                _run_order(settings)
        except REDIS_ERRORS as err:
            st.error(
                f"Redis stopped answering while this page was read ({literal(err)}). It refreshes by itself."
            )

    live()
    if signed_in:
        _move_waiting(settings)
        _failed_jobs(settings)
    else:
        _say_move_result()  # a Move pressed as the sign-in ended: it says that nothing was moved


def is_admin() -> bool:
    """True while this browser session's admin sign-in lasts."""
    until = st.session_state.get(ADMIN_UNTIL, 0.0)
    if until and until <= time.time():
        st.session_state.pop(ADMIN_UNTIL, None)
        st.session_state["admin-expired"] = True
    return until > time.time()


def _sign_in_area(ctx: PageContext) -> bool:
    """The sign-in form, or who is signed in and the way out; True when signed in."""
    settings = ctx.settings
    if settings.auth.signed_in:
        return _admin_by_identity(ctx)
    if is_admin():
        until = dt.datetime.fromtimestamp(st.session_state[ADMIN_UNTIL])
        columns = st.columns([3, 1])
        columns[0].success(f"Signed in as administrator until {until:%H:%M}.")
        if columns[1].button("Leave admin mode", icon=":material/logout:"):
            st.session_state.pop(ADMIN_UNTIL, None)
            st.rerun()
        _dashboard_link(settings)
        return True
    if st.session_state.pop("admin-expired", False):
        st.info("Your admin session has ended. Sign in again to see the details.")
    password = configured_password(settings)
    if not password:
        st.info(
            "Visitors see the queue's load below. Details of jobs and workers are for the administrator, "
            "who signs in with the admin password: set ADMIN_PASSWORD (or admin_password in "
            ".streamlit/secrets.toml) to enable the sign-in."
        )
        return False
    with st.form("admin-sign-in", clear_on_submit=True):  # the password is not kept
        given = st.text_input("Admin password", type="password", max_chars=256, key="admin-password")
        submitted = st.form_submit_button("Sign in")
    st.caption("Visitors see the queue's load; details of jobs and workers need the admin password.")
    if submitted:
        _try_sign_in(settings, ctx.visitor, password, given)
    return False


def _admin_by_identity(ctx: PageContext) -> bool:
    """Sign-in mode: the people ADMIN_USERS names are administrators while signed in; there is no
    admin password to try."""
    if ctx.person is None or not ctx.person.is_admin(ctx.settings):
        st.session_state.pop(ADMIN_UNTIL, None)
        st.info(
            "Visitors see the queue's load below. Details of jobs and workers are for administrators: "
            "the server's ADMIN_USERS setting names them (groups, or e-mail addresses your identity "
            "provider has verified)."
        )
        return False
    st.session_state[ADMIN_UNTIL] = time.time() + ctx.settings.limits.admin_session_seconds
    st.success(f"Signed in as administrator ({literal(ctx.person.name)}).")
    _dashboard_link(ctx.settings)
    return True


def _session_id() -> str:
    script_run = get_script_run_ctx()
    return script_run.session_id if script_run is not None else ""


def _try_sign_in(settings: Settings, visitor: str, password: str, given: str) -> None:
    connection = get_connection(settings.queue)
    try:
        result = admin_auth.sign_in(connection, settings.limits, visitor, _session_id(), password, given)
    except REDIS_ERRORS:
        st.error("Signing in needs the job queue (Redis), which cannot be reached right now. Try again soon.")
        return
    if not result.ok:
        st.error(literal(result.message))
        return
    st.session_state[ADMIN_UNTIL] = time.time() + settings.limits.admin_session_seconds
    st.rerun()


def _overview(settings: Settings) -> None:
    """What every visitor may see: load figures and the depth chart, nothing that names a job."""
    connection = get_connection(settings.queue)
    # Workers sample too; sampling here as well keeps the chart going when no worker runs,
    # which is when a backlog matters most. At most one sample every few seconds, whoever asks.
    queue_load.record_sample(settings, connection)
    load = queue_load.current_load(settings, connection)
    st.subheader("Queue")
    columns = st.columns(4)
    columns[0].metric("Redis", "up")
    columns[1].metric("Workers busy", f"{load.workers_busy:d} of {load.workers_total:d}")
    columns[2].metric("Waiting", f"{load.waiting_total:d}")
    columns[3].metric("Running", f"{load.running:d}")
    if not load.workers_total:
        st.warning("No worker is running: queued runs wait until one starts.")
    history = queue_load.depth_history(settings, connection)
    figure = go.Figure()
    times = [dt.datetime.fromtimestamp(s.at) for s in history]
    figure.add_scatter(x=times, y=[s.waiting for s in history], name="Waiting", mode="lines+markers")
    figure.add_scatter(x=times, y=[s.running for s in history], name="Running", mode="lines+markers")
    now = dt.datetime.now()
    figure.update_layout(
        title="Queue depth, last hour", height=300, margin=dict(t=40, b=20), yaxis_title="jobs"
    )
    figure.update_xaxes(range=[now - dt.timedelta(seconds=queue_load.HISTORY_SECONDS), now])
    figure.update_yaxes(
        rangemode="tozero", dtick=1 if max((s.waiting for s in history), default=0) < 5 else None
    )
    st.plotly_chart(figure, width="stretch")


def _dashboard_link(settings) -> None:
    if not settings.dashboard_enabled:
        return
    url = settings.dashboard_url
    if not url:
        host = (st.context.headers.get("Host") or "localhost").split(":")[0]
        url = f"http://{host}:{DASHBOARD_PORT}"
    st.link_button("Open rq-dashboard", url, icon=":material/open_in_new:")


def _redis(state: health.RedisHealth) -> None:
    st.subheader("Redis")
    columns = st.columns(5)
    columns[0].metric("Version", literal(state.version))
    columns[1].metric("Memory", literal(state.used_memory_human))
    aof = "on" if state.aof_enabled else "off"
    columns[2].metric("AOF", aof, help=f"last write: {literal(state.aof_last_write_status or 'n/a')}")
    columns[3].metric("Uptime", literal(duration_text(state.uptime_seconds)))
    columns[4].metric("Clients", f"{state.connected_clients:d}")
    if not state.aof_enabled:
        st.warning("Redis runs without its append-only file: queued jobs would be lost on a crash.")


def _workers(settings) -> None:
    found = health.workers(settings)
    st.subheader(f"Workers ({len(found):d})")
    if not found:
        st.warning("No worker is running: queued runs wait until one starts.")
        return
    rows = pd.DataFrame(
        {
            "name": [w.name for w in found],
            "state": [w.state for w in found],
            "current job": [w.current_job or "-" for w in found],
            "since": [moment_text(w.since) for w in found],
            "finished jobs": [w.successful_jobs for w in found],
            "failed jobs": [w.failed_jobs for w in found],
        }
    )
    st.dataframe(rows, hide_index=True, width="stretch")


def _queue(settings) -> None:
    snap = queue_load.current_load(settings)
    st.subheader("Queue details")
    columns = st.columns(4)
    columns[0].metric("Waiting", f"{snap.jobs_waiting:d}")
    columns[1].metric("Running", f"{snap.running:d}")
    columns[2].metric("Finished (kept)", f"{snap.finished:d}")
    columns[3].metric("Failed (kept)", f"{snap.failed:d}")
    per_priority = ", ".join(f"{p} {n}" for p, n in snap.queued_jobs.items())
    text = f"On the workers' queues per priority: {per_priority}; waiting their turn: {snap.jobs_in_order}"
    st.caption(literal(text))


def _listed(read, what: str, none_text: str) -> list:
    """What ``read()`` lists, or [] with a message: Redis unreachable, or nothing to list."""
    try:
        items = read()
    except REDIS_ERRORS as err:
        st.error(literal(f"The {what} cannot be listed while Redis is unreachable ({err})."))
        return []
    if not items:
        st.info(literal(none_text))
    return items


def _run_order(settings) -> None:
    st.subheader("Runs in the scheduler's order")
    ordered = _listed(lambda: admin.run_order(settings), "runs", "No run is waiting or running.")
    if not ordered:
        return
    table = pd.DataFrame(
        {
            "job": [r.job_id for r in ordered],
            "workspace": [r.workspace for r in ordered],
            "priority": [r.priority for r in ordered],
            "visitor": [r.visitor for r in ordered],
            "state": [r.state for r in ordered],
            "pieces": [r.pieces or "-" for r in ordered],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        f"A visitor (one address, shown by a hash) has at most {settings.limits.running_runs_per_client:d} "
        "runs started at once; its further runs are held and start by themselves when one ends."
    )


def _move_waiting(settings) -> None:
    """A run that has not started yet goes to another priority (``admin.move``). The move is made
    in the button's callback, before the page is drawn again, so the tables show its result and a
    Redis that went away is said as such."""
    st.subheader("Move a waiting run")
    _say_move_result()
    waiting = _listed(
        lambda: [r for r in admin.run_order(settings) if r.movable],
        "waiting runs",
        "No run is waiting: only a run that has not started can be moved.",
    )
    if not waiting:
        return
    current = {r.job_id: r.priority for r in waiting}
    with st.form("move-run"):
        st.selectbox(
            "Run",
            list(current),
            format_func=lambda job_id: f"{job_id} ({current[job_id]} priority)",
            key="move-job",
        )
        st.radio("New priority", PRIORITIES, horizontal=True, key="move-priority")
        st.form_submit_button("Move", on_click=_move, args=(settings, current), key="move-submit")
    st.caption(
        "A run waiting its turn keeps it among the runs of the new priority; one already handed to "
        "the workers goes to the back of the new priority's queue."
    )


def _say_move_result() -> None:
    result = st.session_state.pop(MOVE_RESULT, None)
    if result:
        getattr(st, result[0])(result[1])


def _move(settings, current: dict[str, str]) -> None:
    """The Move button: do it and keep what happened for the page to say."""
    job_id, priority = st.session_state["move-job"], st.session_state["move-priority"]
    if not is_admin():  # the sign-in may have ended while the form was open
        result = ("error", "Your admin session has ended: nothing was moved. Sign in again.")
    elif current.get(job_id) == priority:
        result = ("info", f"Run {literal(job_id)} already waits at {priority} priority; nothing was changed.")
    else:
        try:
            admin.move(settings, job_id, priority)
            result = ("success", f"Run {literal(job_id)} now waits at {priority} priority.")
        except UserError as err:
            result = ("error", literal(err))
        except REDIS_ERRORS as err:
            result = (
                "error",
                f"Redis cannot be reached ({literal(err)}); nothing was moved. Try again in a moment.",
            )
    st.session_state[MOVE_RESULT] = result


def configured_password(settings) -> str:
    """The admin password from the environment, else from Streamlit secrets; "" if neither."""
    if settings.admin_password:
        return settings.admin_password
    try:
        secret = str(st.secrets.get("admin_password", ""))
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return ""
    try:
        return check_admin_password(secret, "admin_password in Streamlit secrets")
    except SettingsError as err:
        st.error(literal(err))
        return ""


def _failed_jobs(settings) -> None:
    st.subheader("Failed jobs")
    failed = _listed(
        lambda: admin.failed_jobs(settings), "failed jobs", "No failed jobs are kept in the queue."
    )
    if not failed:
        return
    table = pd.DataFrame(
        {
            "job": [f.job_id for f in failed],
            "workspace": [f.workspace for f in failed],
            "priority": [f.priority for f in failed],
            "failed at": [moment_text(f.failed_at) for f in failed],
            "error": [f.error for f in failed],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    with st.form("failed-job-action"):
        job_id = st.selectbox("Job", [f.job_id for f in failed])
        action = st.radio("Action", ["Requeue", "Delete"], horizontal=True)
        apply = st.form_submit_button("Apply")
    if apply and is_admin():  # the sign-in may have ended while the form was open
        _apply(settings, action, job_id)
    elif apply:
        st.error("Your admin session has ended: nothing was changed. Sign in again.")


#: A requeued run is a start like any other: over its visitor's share it waits for one of their runs.
HELD_NOTE = (
    " It is held: its visitor's network (or person) has its share of runs started, and it starts by "
    "itself when one of them ends."
)


def _apply(settings, action: str, job_id: str) -> None:
    try:
        if action == "Requeue":
            held = admin.requeue(settings, job_id)
            st.success(f"Job {literal(job_id)} is back in the queue." + (HELD_NOTE if held else ""))
        else:
            admin.delete(settings, job_id)
            st.success(f"Job {literal(job_id)} was deleted; its workspace and logs stay.")
    except UserError as err:
        st.error(literal(err))
    except REDIS_ERRORS as err:
        st.error(f"Redis cannot be reached ({literal(err)}); nothing was changed. Try again in a moment.")
