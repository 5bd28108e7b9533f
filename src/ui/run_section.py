"""The Run page: start and stop a run, watch its state, place in the queue, progress and log.

The status block is a fragment that reruns itself while a run is active (every second
near the front of the queue and while running, less often far back), so the page does
not rerun as a whole; when the run ends, or the pace should change, the fragment
triggers one full rerun. What varies above it sits in a fixed container, so the
fragment keeps its place on the page (a shifted place crashes the browser's page).
A poll costs one Redis round trip of its own (``runs.status(..., shared=True)``) and
reads the log only when it changed (``logs.tail``). Everything it shows comes from
``src.runs``, which hides whether the run is a queued job or a local process.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from src import runs
from src.core.errors import UserError
from src.core.notify import subscription
from src.core.run import RunState, RunView, duration_text, history, tail
from src.core.settings import LOG_LEVELS
from src.core.workflow import WorkflowBase
from src.ui import navigation, run_watch
from src.ui.page import PageContext
from src.ui.text import literal

LOG_TAIL_LINES = 200
NOTICE_KEY = "run-notice"
#: Keys of the run's status block and, inside it, of the one element that shows the run's state
#: (the page gives them the classes ``st-key-run-status`` and ``st-key-run-state``; the browser
#: tests look for a state there and nowhere else).
STATUS_BLOCK_KEY, STATE_KEY = "run-status", "run-state"


def show(ctx: PageContext) -> None:
    workflow = ctx.workflow
    view = runs.status(workflow, shared=True)
    # One fixed slot for what varies (buttons, messages): the polling fragment below keeps its
    # place on the page, so a poll in flight never addresses a shifted element (the frontend
    # would crash to a blank page, "Bad delta path index").
    with st.container():
        _controls(ctx, view)
        notice = st.session_state.pop(NOTICE_KEY, "")
        if notice:
            st.warning(literal(notice))
    level = st.selectbox(
        "Log detail", LOG_LEVELS, index=LOG_LEVELS.index(ctx.settings.log_level), key="log-level"
    )
    with st.container(key=STATUS_BLOCK_KEY):  # the polling fragment's own fixed slot
        _status_fragment(workflow, level, view, ctx.visitor)
    _notify_me(ctx)
    _past_runs(workflow)


def _notify_me(ctx: PageContext) -> None:
    """The visitor's e-mail address for this workspace's runs, if the operator set up mail: used only
    once confirmed with the code mailed to it (``src/core/notify/subscription.py``)."""
    if not ctx.settings.notify.email_enabled:
        return
    workspace = ctx.workflow.workspace
    current = subscription.read(workspace)
    with st.expander("E-mail me when a run ends", expanded=current.pending):
        if current.confirmed:
            st.success(f"Runs that end will be announced to {literal(current.email)}.")
            if st.button("Stop these e-mails", key="notify-stop"):
                subscription.forget(workspace)
                st.rerun()
            return
        current = _ask_for_code(ctx, current, ctx.person.email if ctx.person else "")
        if current.pending and current.code_hash:
            _enter_code(ctx.settings, workspace)


def _ask_for_code(
    ctx: PageContext, current: subscription.Subscription, signed_in_email: str = ""
) -> subscription.Subscription:
    settings, workspace = ctx.settings, ctx.workflow.workspace
    with st.form("notify-me"):
        address = st.text_input(
            "E-mail address",
            value=current.email or signed_in_email,  # sign-in mode: the provider's e-mail claim
            max_chars=254,  # the longest address SMTP carries (RFC 5321)
            help="A code is mailed to this address first; once you enter it here, each run of this "
            "workspace that ends sends one e-mail with its outcome and the link to this workspace.",
        )
        send = st.form_submit_button("Send a confirmation code")
    if not send:
        return current
    try:
        current = subscription.ask(settings, workspace, address, ctx.visitor)  # codes per visitor bounded
    except UserError as err:
        st.error(literal(err))
    except OSError as err:
        st.error(f"The address could not be saved ({literal(err.strerror)}). Try again in a moment.")
    else:
        st.success(
            f"A code was sent to {literal(current.email)}. Enter it below within "
            f"{settings.notify.confirm_minutes:d} minutes; nothing else is sent to that address until then."
        )
    return current


def _enter_code(settings, workspace) -> None:
    with st.form("notify-confirm", clear_on_submit=True):
        code = st.text_input("Code from the e-mail", max_chars=6)
        entered = st.form_submit_button("Confirm")
    if not entered:
        return
    try:
        subscription.confirm(settings, workspace, code)
    except UserError as err:
        st.error(literal(err))
    except OSError as err:
        st.error(f"The code could not be checked ({literal(err.strerror)}). Try again in a moment.")
    else:
        st.rerun()


def _past_runs(workflow: WorkflowBase) -> None:
    """Every kept run of this workspace: when, how it ended, how long, what differed."""
    kept = [run for run in workflow.kept_runs() if run.status.is_final]
    if not kept:
        return
    st.subheader("Runs in this workspace")
    rows = [
        {
            "when": run.started,
            "outcome": run.status.state.label,
            "duration": duration_text(run.status.took),
            **workflow.describe_run(run),
            "parameters (not default)": history.changed_parameters(run.params),
        }
        for run in kept
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(
        f"The latest {workflow.settings.runs_kept:d} runs are kept (the oldest is removed first). "
        "Open any of them, compare two and re-use their parameters on the Results page."
    )


def _controls(ctx: PageContext, view: RunView) -> None:
    if view.active:
        label = "Cancel" if view.state in (RunState.QUEUED, RunState.HELD) else "Stop Workflow"
        if st.button(literal(label), type="primary", key="stop"):
            _stop(ctx.workflow)
        return
    if st.button("Start Workflow", type="primary", key="start"):
        _start(ctx.workflow, ctx.visitor)


def _start(workflow: WorkflowBase, visitor: str) -> None:
    try:
        started = runs.start(workflow, visitor)
    except UserError as err:
        st.error(literal(err))
        return
    st.session_state[NOTICE_KEY] = started.notice
    st.rerun(scope="app")


def _stop(workflow: WorkflowBase) -> None:
    try:
        with st.spinner("Stopping…"):
            runs.stop(workflow)
    except UserError as err:
        st.error(literal(err))
        return
    st.rerun()


def poll_seconds(view: RunView) -> float | None:
    """How often the Run page reads a run's status: every second near the front and while it
    runs (progress moves), less often far back in the queue (only the place in line changes
    there), never once it ended."""
    if not view.active:
        return None
    if view.state is RunState.RUNNING or view.position is None or view.position <= 2:
        return 1.0
    return 2.0 if view.position <= 5 else 5.0


def _status_fragment(workflow: WorkflowBase, level: str, first: RunView, visitor: str) -> None:
    every = poll_seconds(first)

    @st.fragment(run_every=every)
    def status_block() -> None:
        view = runs.status(workflow, shared=True)
        run_watch.remember(workflow, view.state)
        with st.container(key=STATE_KEY):
            render_status(view, workflow.settings.auth.signed_in)
            if view.state is RunState.FAILED and st.button("Retry", key="retry", icon=":material/replay:"):
                _start(workflow, visitor)
        _log_tail(workflow, level)
        if every is not None and poll_seconds(view) != every:
            st.rerun(scope="app")  # new buttons (the run ended) or a new polling pace

    status_block()


def render_status(view: RunView, signed_in: bool = False) -> None:
    if view.notice:
        st.info(literal(view.notice))
    if not view.state:
        st.info("This workflow has not been run in this workspace yet. Press 'Start Workflow' to run it.")
        return
    label = view.state.label
    if view.state is RunState.QUEUED:
        _queued(view, label)
    elif view.state is RunState.HELD:
        _held(view, label, signed_in)
    elif view.state is RunState.RUNNING:
        st.markdown(f"### {literal(label)}")
        st.progress(min(max(view.progress or 0.0, 0.0), 1.0), text=literal(view.step or "Starting"))
        if view.eta_seconds is not None:
            st.caption(f"About {literal(duration_text(view.eta_seconds))} left (estimated from recent runs).")
    elif view.state is RunState.FINISHED:
        took = duration_text(view.took) if view.took is not None else "a moment"
        st.success(f"**{literal(label)}** in {literal(took)}. See the Results page.")
        st.page_link(navigation.link_target("results"), label="Go to Results", icon=":material/bar_chart:")
    elif view.state is RunState.FAILED:
        st.error(f"**{literal(label)}**: {literal(view.error)}")
    elif view.state is RunState.CANCELLED:
        st.warning(f"**{literal(label)}**. Press 'Start Workflow' to run it again.")
    _times(view)


def _queued(view: RunView, label: str) -> None:
    st.markdown(f"### {literal(label)}")
    if view.position:
        st.markdown(f"Your workflow is **#{view.position:d} in the queue** ({view.queue_length:d} total).")
        st.progress(1.0 / (view.position + 1), text=f"#{view.position:d} of {view.queue_length:d}")
    else:
        st.markdown("Your workflow is waiting to be retried.")
    if view.eta_seconds is not None:
        st.caption(f"Estimated to be done in about {literal(duration_text(view.eta_seconds))}.")
    else:
        st.caption("A time estimate appears once this server has finished a run.")


def _held(view: RunView, label: str, signed_in: bool) -> None:
    st.markdown(f"### {literal(label)}")
    whose = "of yours" if signed_in else "from your network"  # a signed-in person, or an address
    per = "for one person" if signed_in else "for one network"
    runs_word = "run" if view.share == 1 else "runs"
    st.markdown(
        f"Held: starts by itself when one of the {view.share:d} {runs_word} {whose} ends "
        f"(that many may run at once {per}). "
        "There is no need to press Start again."
    )
    if view.position:
        st.caption(f"#{view.position:d} of {view.queue_length:d} held runs {whose}.")


def _times(view: RunView) -> None:
    parts = []
    if view.started_at:
        parts.append(f"Started {dt.datetime.fromtimestamp(view.started_at):%Y-%m-%d %H:%M:%S}")
    if view.worker:
        parts.append(f"on {view.worker}")
    if view.job_id:
        parts.append(f"job {view.job_id}")
    if parts:
        st.caption(literal(" · ".join(parts)))


def _log_tail(workflow: WorkflowBase, level: str) -> None:
    text = tail(workflow.logger.log_dir, level, LOG_TAIL_LINES)
    if text:
        st.code(text, language=None)
