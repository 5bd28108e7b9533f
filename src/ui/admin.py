"""The queue admin page: Redis health, workers, queue depth over the last hour, failed jobs.

Looking is open to anyone who can reach the app (it shows no workspace contents);
requeueing or deleting a failed job needs the admin password, from the
ADMIN_PASSWORD environment variable or ``admin_password`` in Streamlit secrets.
"""

from __future__ import annotations

import datetime as dt
import hmac

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from src.core.settings import DASHBOARD_PORT, SettingsError, check_admin_password
from src.jobs import admin, health, metrics
from src.jobs.connection import REDIS_ERRORS, get_connection
from src.jobs.runs import queue_wanted
from src.ui.page import PageContext

REFRESH_SECONDS = 5


def show(ctx: PageContext) -> None:
    settings = ctx.settings
    if not queue_wanted(settings):
        st.info(
            "The queue admin page is available in online mode only (the appliance, or "
            "ONLINE_DEPLOYMENT=true with Redis). In local mode every run is a process on this "
            "computer, so there is no queue to administer."
        )
        return
    _dashboard_link(settings)

    @st.fragment(run_every=REFRESH_SECONDS)
    def live() -> None:
        state = health.redis_health(settings)
        if not state.ok:
            st.error(
                f"Redis cannot be reached: {state.error}. Jobs already queued are kept by Redis; "
                "check it with `supervisorctl status redis` inside the container."
            )
            return
        _redis(state)
        try:
            _workers(settings)
            _queue(settings)
        except REDIS_ERRORS as err:
            st.error(f"Redis stopped answering while this page was read ({err}). It refreshes by itself.")

    live()
    _failed_jobs(settings)


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
    columns[0].metric("Version", state.version)
    columns[1].metric("Memory", state.used_memory_human)
    aof = "on" if state.aof_enabled else "off"
    columns[2].metric("AOF", aof, help=f"last write: {state.aof_last_write_status or 'n/a'}")
    columns[3].metric("Uptime", _duration(state.uptime_seconds))
    columns[4].metric("Clients", state.connected_clients)
    if not state.aof_enabled:
        st.warning("Redis runs without its append-only file: queued jobs would be lost on a crash.")


def _workers(settings) -> None:
    found = health.workers(settings)
    st.subheader(f"Workers ({len(found)})")
    if not found:
        st.warning("No worker is running: queued runs wait until one starts.")
        return
    rows = pd.DataFrame(
        {
            "name": [w.name for w in found],
            "state": [w.state for w in found],
            "current job": [w.current_job or "-" for w in found],
            "since": [_when(w.since) for w in found],
            "finished jobs": [w.successful_jobs for w in found],
            "failed jobs": [w.failed_jobs for w in found],
        }
    )
    st.dataframe(rows, hide_index=True, width="stretch")


def _queue(settings) -> None:
    connection = get_connection(settings.queue)
    # Workers sample too; sampling here as well keeps the chart going when no worker runs,
    # which is when a backlog matters most. At most one sample every few seconds, whoever asks.
    metrics.record_sample(settings, connection)
    stats = health.queue_stats(settings)
    st.subheader("Queue")
    columns = st.columns(4)
    columns[0].metric("Waiting", stats.total_queued)
    columns[1].metric("Running", stats.started)
    columns[2].metric("Finished (kept)", stats.finished)
    columns[3].metric("Failed (kept)", stats.failed)
    st.caption("Waiting per priority: " + ", ".join(f"{p} {n}" for p, n in stats.queued.items()))
    history = metrics.depth_history(settings, connection)
    figure = go.Figure()
    times = [dt.datetime.fromtimestamp(s.at) for s in history]
    figure.add_scatter(x=times, y=[s.waiting for s in history], name="waiting", mode="lines+markers")
    figure.add_scatter(x=times, y=[s.running for s in history], name="running", mode="lines+markers")
    now = dt.datetime.now()
    figure.update_layout(
        title="Queue depth, last hour", height=300, margin=dict(t=40, b=20), yaxis_title="jobs"
    )
    figure.update_xaxes(range=[now - dt.timedelta(seconds=metrics.HISTORY_SECONDS), now])
    figure.update_yaxes(
        rangemode="tozero", dtick=1 if max((s.waiting for s in history), default=0) < 5 else None
    )
    st.plotly_chart(figure, width="stretch")


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
        st.error(str(err))
        return ""


def _failed_jobs(settings) -> None:
    st.subheader("Failed jobs")
    try:
        failed = admin.failed_jobs(settings)
    except REDIS_ERRORS as err:
        st.error(f"The failed jobs cannot be listed while Redis is unreachable ({err}).")
        return
    if not failed:
        st.info("No failed jobs are kept in the queue.")
        return
    table = pd.DataFrame(
        {
            "job": [f.job_id for f in failed],
            "workspace": [f.workspace for f in failed],
            "priority": [f.priority for f in failed],
            "failed at": [_when(f.failed_at) for f in failed],
            "error": [f.error for f in failed],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    password = configured_password(settings)
    if not password:
        st.info(
            "Requeue and delete are locked: set the ADMIN_PASSWORD environment variable (or "
            "admin_password in .streamlit/secrets.toml) to use them."
        )
        return
    with st.form("failed-job-action", clear_on_submit=True):  # the password is not kept
        job_id = st.selectbox("Job", [f.job_id for f in failed])
        action = st.radio("Action", ["Requeue", "Delete"], horizontal=True)
        given = st.text_input("Admin password", type="password")
        apply = st.form_submit_button("Apply")
    if apply:
        _apply(settings, password, given, action, job_id)


def _apply(settings, password: str, given: str, action: str, job_id: str) -> None:
    if not hmac.compare_digest(given.encode(), password.encode()):
        st.error("Wrong admin password: nothing was changed.")
        return
    try:
        if action == "Requeue":
            admin.requeue(settings, job_id)
            st.success(f"Job {job_id} is back in the queue.")
        else:
            admin.delete(settings, job_id)
            st.success(f"Job {job_id} was deleted; its workspace and logs stay.")
    except admin.AdminError as err:
        st.error(str(err))
    except REDIS_ERRORS as err:
        st.error(f"Redis cannot be reached ({err}); nothing was changed. Try again in a moment.")


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
