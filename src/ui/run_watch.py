"""A toast on any page when this workspace's run ends while the user is elsewhere.

A small fragment on every page but the Run page polls the run's state every few
seconds and remembers it in the session; when it goes from queued/running to an
end state the user gets a toast. The Run page shows the end itself and only
remembers the state its own status block read, so nothing is polled twice there.
"""

from __future__ import annotations

import streamlit as st

from src import runs
from src.core.run import RunState
from src.core.workflow import WorkflowBase

POLL_SECONDS = 3.0
ENDINGS = {
    RunState.FINISHED: (
        "Your workflow run is complete. The Results page has the tables and plots.",
        ":material/check_circle:",
    ),
    RunState.FAILED: (
        "Your workflow run failed. The Run page shows the error and a Retry button.",
        ":material/error:",
    ),
    RunState.CANCELLED: ("Your workflow run was cancelled.", ":material/cancel:"),
}


def _key(workflow: WorkflowBase) -> str:
    return f"run-watch-{workflow.workspace.name}-{workflow.id}"


def remember(workflow: WorkflowBase, state: RunState) -> None:
    """Record the state the user has seen, so that the next page toasts only a new ending."""
    st.session_state[_key(workflow)] = state


def watch(workflow: WorkflowBase) -> None:
    @st.fragment(run_every=POLL_SECONDS)
    def watcher() -> None:
        state = runs.status(workflow, shared=True).state
        previous = st.session_state.get(_key(workflow))
        remember(workflow, state)
        if RunState.of(previous).is_active and state in ENDINGS:
            st.toast(ENDINGS[state][0], icon=ENDINGS[state][1])

    with st.sidebar:
        watcher()
