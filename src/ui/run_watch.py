"""A toast on any page when this workspace's run ends while the user is elsewhere.

A small fragment on every page polls the run's state every few seconds and
remembers it in the session; when it goes from queued/running to an end state
the user gets a toast, except on the Run page, which shows the end itself.
"""

from __future__ import annotations

import streamlit as st

from src.core.workflow import WorkflowBase
from src.jobs import runs

POLL_SECONDS = 3.0
ENDINGS = {
    "finished": (
        "Your workflow run is complete. The Results page has the tables and plots.",
        ":material/check_circle:",
    ),
    "failed": (
        "Your workflow run failed. The Run page shows the error and a Retry button.",
        ":material/error:",
    ),
    "cancelled": ("Your workflow run was cancelled.", ":material/cancel:"),
}


def watch(workflow: WorkflowBase, toast: bool = True) -> None:
    key = f"run-watch-{workflow.workspace.name}-{workflow.id}"

    @st.fragment(run_every=POLL_SECONDS)
    def watcher() -> None:
        state = runs.status(workflow).state
        previous = st.session_state.get(key)
        st.session_state[key] = state
        if toast and previous in runs.ACTIVE and state in ENDINGS:
            text, icon = ENDINGS[state]
            st.toast(text, icon=icon)

    with st.sidebar:
        watcher()
