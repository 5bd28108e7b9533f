"""The Run page: start and stop a run, watch its state, progress and log.

The status block is a fragment that reruns itself every second while a run is
active, so the page does not rerun as a whole; when the run ends the fragment
triggers one full rerun to swap the buttons.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from src.core.logs import read_log
from src.core.run_state import RunStatus
from src.core.runner import LocalRunner
from src.core.settings import LOG_LEVELS
from src.core.workflow import WorkflowBase
from src.ui.page import PageContext

#: What each state is called on the page.
STATE_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "finished": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
LOG_TAIL_LINES = 200


def show(ctx: PageContext) -> None:
    workflow = ctx.workflow
    runner = LocalRunner(workflow)
    active = runner.is_running()
    _controls(workflow, runner, active)
    level = st.selectbox(
        "Log detail", LOG_LEVELS, index=LOG_LEVELS.index(ctx.settings.log_level), key="log-level"
    )
    _status_fragment(workflow, runner, level, active)


def _controls(workflow: WorkflowBase, runner: LocalRunner, active: bool) -> None:
    if active:
        if st.button("Stop Workflow", type="primary", key="stop"):
            with st.spinner("Stopping…"):
                runner.stop()
            st.rerun()
        return
    if st.button("Start Workflow", type="primary", key="start"):
        problems = workflow.preflight()
        for problem in problems:
            st.error(problem)
        if not problems:
            runner.start()
            st.rerun()


def _status_fragment(workflow: WorkflowBase, runner: LocalRunner, level: str, active: bool) -> None:
    @st.fragment(run_every=1.0 if active else None)
    def status_block() -> None:
        still_active = runner.is_running()
        status = workflow.state.read()
        render_status(status)
        _log_tail(workflow, level)
        if active and not still_active:
            st.rerun(scope="app")

    status_block()


def render_status(status: RunStatus) -> None:
    if not status.state:
        st.info("This workflow has not been run in this workspace yet. Press 'Start Workflow' to run it.")
        return
    label = STATE_LABELS.get(status.state, status.state)
    if status.state == "running":
        st.markdown(f"### {label}")
        st.progress(status.progress or 0.0, text=status.step or "Starting")
    elif status.state == "finished":
        st.success(f"**{label}** in {_duration(status)}. See the Results page.")
        st.page_link("content/results.py", label="Go to Results", icon=":material/bar_chart:")
    elif status.state == "failed":
        st.error(f"**{label}**: {status.error}")
    elif status.state == "cancelled":
        st.warning(f"**{label}**. Press 'Start Workflow' to run it again.")
    if status.started_at:
        st.caption(f"Started {dt.datetime.fromtimestamp(status.started_at):%Y-%m-%d %H:%M:%S}")


def _duration(status: RunStatus) -> str:
    seconds = status.duration or 0.0
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _log_tail(workflow: WorkflowBase, level: str) -> None:
    text = read_log(workflow.logger.log_dir, level)
    if text:
        lines = text.splitlines()[-LOG_TAIL_LINES:]
        st.code("\n".join(lines), language=None)
