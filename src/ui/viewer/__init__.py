"""The raw data viewer page: pick an mzML of the workspace, have its index built (a job, or a
process in local mode) the first time, then look at it through the index alone: the file's
summary, its peak map (zoom by drawing a box, click a peak for its spectrum), a spectrum, the
TIC, base peak and stored chromatograms, an XIC, and what a finished run found in it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from src.core.errors import UserError
from src.core.layout import INPUTS
from src.core.viewer import local, store
from src.jobs.client import view_index
from src.jobs.connection import REDIS_ERRORS
from src.ui.page import PageContext
from src.ui.text import literal
from src.ui.viewer import panels

log = logging.getLogger(__name__)


def mzml_files(workspace: Path, workflows) -> list[tuple[str, Path]]:
    """Every mzML among the inputs of the offered workflows: (what the page lists, path)."""
    found = []
    for workflow in workflows:
        root = workspace / workflow.id / INPUTS
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.suffix.lower() == ".mzml" and path.is_file():
                found.append((f"{path.name} ({workflow.name})", path))
    return found


def show(ctx: PageContext) -> None:
    st.title("Raw data viewer")
    files = mzml_files(ctx.workspace, ctx.workflows)
    store.sweep(ctx.workspace)  # indexes of files removed meanwhile
    if not files:
        st.info(
            "There is no mzML file in this workspace yet. Upload one (or load the example data) on a "
            "workflow's File Upload page, then come back here to look at it."
        )
        return
    labels = [label for label, _ in files]
    chosen = st.selectbox("File", range(len(files)), format_func=lambda i: labels[i], key="viewer-file")
    mzml = files[chosen or 0][1]
    try:
        state = _state(ctx, mzml)
    except UserError as err:
        st.warning(literal(err))
        _wait_for_turn(ctx, mzml)
        return
    except REDIS_ERRORS as err:
        log.warning("viewer: the queue did not answer: %s", err)
        st.error(
            "The job queue cannot be reached right now, so this file's index cannot be built. Try "
            "again in a minute; if it persists, tell the administrator of this server."
        )
        return
    if state.kind == store.Index.READY:
        panels.show(ctx, mzml, store.index_folder(ctx.workspace, mzml))
    else:
        _progress(ctx, mzml, state)


def _state(ctx: PageContext, mzml: Path) -> store.IndexState:
    """The index's state; the first look at a file starts its build."""
    if ctx.settings.online_deployment:
        return view_index.request(ctx.settings, ctx.workspace, mzml, ctx.visitor)
    return local.start(ctx.workspace, mzml)


def _now(ctx: PageContext, mzml: Path) -> store.IndexState:
    if ctx.settings.online_deployment:
        return view_index.state(ctx.settings, ctx.workspace, mzml)
    return store.state_on_disk(store.index_folder(ctx.workspace, mzml), mzml)


def _progress(ctx: PageContext, mzml: Path, first: store.IndexState) -> None:
    st.caption(
        "The first look at a file builds a compact index of it on the server (once; every later look "
        "and every other visitor of this workspace reads only the index)."
    )
    if first.kind == store.Index.BROKEN:
        _failed(ctx, mzml, first)
        return

    @st.fragment(run_every=1.0)
    def watch() -> None:
        try:
            now = _now(ctx, mzml)
        except REDIS_ERRORS:
            st.warning("The job queue does not answer right now; this page tries again every second.")
            return
        if now.kind == store.Index.READY:
            st.rerun(scope="app")
        elif now.kind == store.Index.BROKEN:
            st.rerun(scope="app")  # the whole page shows the message and a button
        elif now.kind == store.Index.WAITING:
            if now.ahead:
                st.info(f"Waiting for a worker to build the index ({now.ahead:d} before it).")
            else:
                st.info("Waiting for a worker to build the index.")
        else:
            st.progress(min(max(now.fraction, 0.0), 1.0), text=f"Building the index: {now.fraction:.0%}")

    watch()


def _failed(ctx: PageContext, mzml: Path, state: store.IndexState) -> None:
    st.error(literal(state.message or "Building the index failed."))
    if st.button("Try again", key="viewer-retry"):
        if ctx.settings.online_deployment:
            view_index.forget(ctx.settings, ctx.workspace, mzml)
        else:
            (store.index_folder(ctx.workspace, mzml) / store.FAILED).unlink(missing_ok=True)
        st.rerun()


def _wait_for_turn(ctx: PageContext, mzml: Path) -> None:
    """The visitor's share of index builds is taken: try again every few seconds."""

    @st.fragment(run_every=3.0)
    def again() -> None:
        try:
            if _state(ctx, mzml).kind != store.Index.NONE:
                st.rerun(scope="app")
        except (UserError, *REDIS_ERRORS) as err:  # still waiting; the message above says why
            log.info("viewer: the file's index still cannot be queued: %s", err)

    again()
