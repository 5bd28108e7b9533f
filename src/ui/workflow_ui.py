"""The UI helper handed to a workflow's upload(), configure() and results() methods.

Workflow modules call these methods instead of Streamlit, which keeps them
importable by queue workers without Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from src.core.errors import InputError, StorageRefused
from src.core.run import RunRecord
from src.core.settings import MB
from src.core.workflow import WorkflowBase
from src.core.workspace import space as storage
from src.core.workspace import uploads
from src.ui import topp_widgets
from src.ui.text import label_text, literal
from src.web import downloads


def _sent_name(upload) -> str:
    """The name the browser gave an upload (the web server keeps it in the ticket, and hands
    Streamlit a safe one of its own: ``src/web/upload_stream.py``)."""
    upload.seek(0)
    found = uploads.read_ticket(upload.read(len(uploads.TICKET_PREFIX) + 4096))
    upload.seek(0)
    return str(found.get("name", "")) if found else upload.name


class WorkflowUI:
    def __init__(self, workflow: WorkflowBase) -> None:
        self.workflow = workflow
        self.key = f"{workflow.workspace.name}-{workflow.id}"

    # ---- upload ---------------------------------------------------------------------------------
    def upload_files(
        self, key: str, label: str, example_loader: Callable[[], list[Path]] | None = None
    ) -> None:
        folder = self.workflow.files.input_dir(key)
        room_problem = self._room()
        with st.form(f"{self.key}-upload-{key}", clear_on_submit=True):
            try:
                chosen = st.file_uploader(
                    f"Add {label_text(label)}",
                    accept_multiple_files=True,
                    type=["mzML"],
                    max_upload_size=max(1, self.workflow.settings.limits.max_upload_bytes // MB),
                    disabled=bool(room_problem),
                )
            except StreamlitAPIException:  # a name Streamlit refuses, sent past src/web/upload_stream.py
                chosen = None
                st.error(
                    "An upload was refused: its file name is not an .mzML name Streamlit accepts. "
                    "Reload the page and choose .mzML files."
                )
            submitted = st.form_submit_button("Add files", disabled=bool(room_problem))
        if submitted:
            self._store(folder, chosen or [])
        example = example_loader and st.button(
            "Load example data", key=f"{self.key}-example-{key}", disabled=bool(room_problem)
        )
        if example:
            self._load_example(example_loader)
        self._current_files(key, label)

    def _load_example(self, example_loader: Callable[[], list[Path]]) -> None:
        """The example data counts against the quota and the free-disk guard like an upload."""
        try:
            names = [p.name for p in example_loader()]
        except InputError as err:
            st.error(f"Not added: {literal(err)}")
            return
        st.success(f"Example data loaded: {literal(', '.join(names))}")

    def _room(self) -> str:
        """Show the upload limits; return why nothing can be added now ("" if it can)."""
        workspace, limits = self.workflow.workspace, self.workflow.settings.limits
        uploads.remove_stale_spools(workspace)
        used = storage.used_bytes(workspace)
        quota = storage.human(limits.workspace_quota_bytes)
        st.caption(
            f"Up to {literal(storage.human(limits.max_upload_bytes))} per file. This workspace holds "
            f"{literal(storage.human(used))} of its {literal(quota)} quota."
        )
        try:
            storage.check_free_disk(self.workflow.settings.workspaces_dir, limits)
            storage.check_quota(workspace, limits, 1, used)
        except StorageRefused as err:
            st.error(literal(err))
            return str(err)
        return ""

    def _store(self, folder: Path, chosen: list) -> None:
        if not chosen:
            st.warning(
                "No file to add yet. Choose one or more mzML files, wait until each has finished "
                "uploading, then press 'Add files'."
            )
        added = []
        for upload in chosen:
            name = _sent_name(upload)
            try:
                stored = self._accept(folder, upload)
                st.success(f"Added {literal(stored.name)}")
                added.append(stored)
            except InputError as err:
                text = str(err)
                named = text if not name or name in text else f"{name}: {text}"
                st.error(f"Not added: {literal(named)}")
        if added:
            with st.spinner("Reading the peak mode of the new files…"):
                notes = self.workflow.describe_inputs(added)
            for kind, message in notes:
                if kind == "problem":
                    st.warning(literal(message))
                else:
                    st.info(literal(message))

    def _accept(self, folder: Path, upload) -> Path:
        """Move a file the web server streamed to disk into the folder, or store one held in memory
        (served without src/web/server.py, e.g. by `streamlit run app.py`), in chunks either way."""
        workspace, settings = self.workflow.workspace, self.workflow.settings
        upload.seek(0)
        found = uploads.read_ticket(upload.read(len(uploads.TICKET_PREFIX) + 4096))
        upload.seek(0)
        if found is None:
            chunks = iter(lambda: upload.read(MB), b"")
            return uploads.store_chunks(
                workspace, folder, _sent_name(upload), chunks, settings.limits, settings.workspaces_dir
            )
        if found.get("refused"):
            raise InputError(str(found["refused"]))
        try:
            spooled = uploads.spool_path(workspace, str(found.get("token", "")))
        except InputError:
            raise InputError("the upload was not stored; add the file again.") from None
        if not spooled.is_file():
            raise InputError("the uploaded file is gone (uploads are kept for an hour); add it again.")
        return uploads.adopt(spooled, _sent_name(upload), folder)

    def _current_files(self, key: str, label: str) -> None:
        files = self.workflow.files.inputs(key)
        if not files:
            st.info(f"No {literal(label)} in this workspace yet.")
            return
        st.markdown(f"**{literal(label)} in this workspace ({len(files):d})**")
        sizes = pd.DataFrame(
            {"file": [p.name for p in files], "size (MB)": [p.stat().st_size / 1e6 for p in files]}
        )
        st.dataframe(sizes, hide_index=True, width="stretch")
        remove = st.multiselect("Remove files", [p.name for p in files], key=f"{self.key}-remove-{key}")
        if remove and st.button("Remove selected files", key=f"{self.key}-remove-btn-{key}"):
            for name in remove:
                (self.workflow.files.input_dir(key) / name).unlink(missing_ok=True)
            st.session_state.pop(f"{self.key}-remove-{key}", None)
            st.rerun()

    # ---- configure ------------------------------------------------------------------------------
    def topp_parameters(self, tool: str, title: str) -> None:
        topp_widgets.tool_parameters(self.workflow.params, tool, title, self.key)

    # ---- results --------------------------------------------------------------------------------
    # Workflows write these texts themselves; whatever they interpolate (file names, parameter
    # values) must come through ui.literal(), which tests/test_markdown_safety.py checks at the calls.
    literal = staticmethod(literal)

    def info(self, text: str) -> None:
        st.info(text)

    def subheader(self, text: str) -> None:
        st.subheader(text)

    def caption(self, text: str) -> None:
        st.caption(text)

    def metric_row(self, metrics: dict[str, object]) -> None:
        for column, (name, value) in zip(st.columns(len(metrics)), metrics.items(), strict=True):
            column.metric(literal(name), literal(value))

    def table(self, frame: pd.DataFrame, title: str) -> None:
        """A large table travels in chunks of rows as the visitor scrolls (``lazy``), never whole in
        one websocket message, which the server bounds (server.maxMessageSize)."""
        st.subheader(literal(title))
        st.dataframe(frame, hide_index=True, width="stretch", lazy=True)

    def plot(self, figure) -> None:
        st.plotly_chart(figure, width="stretch")

    def download_results(self, run: RunRecord | None = None) -> None:
        """A link (valid for a few minutes) that downloads the run's results as a zip, served by the
        web server itself (src/web/downloads.py), never as a file anyone with its URL could fetch."""
        root = run.results_root if run else self.workflow.files.results_root
        name = f"{self.workflow.id}-{run.id if run else 'results'}.zip"
        browser = st.context.cookies.get(downloads.COOKIE, "")  # the link opens in this browser only
        url = downloads.link(self.workflow.settings, root, name, browser if isinstance(browser, str) else "")
        st.link_button("Download all results (zip)", url, icon=":material/download:")
        minutes = downloads.LINK_SECONDS // 60
        st.caption(
            f"The link works for {minutes:d} minutes, in this browser only; open this page again for another."
        )

    # ---- run history ----------------------------------------------------------------------------
    def pick_run(
        self, label: str, choices: list[RunRecord | None], describe: Callable[[RunRecord], str], key: str
    ) -> RunRecord | None:
        """A run chosen from ``choices`` (None stands for "none"), kept across reruns by its id."""
        ids = [run.id if run else "" for run in choices]
        by_id = dict(zip(ids, choices, strict=True))
        chosen = st.selectbox(
            label_text(label),
            ids,
            format_func=lambda run_id: describe(by_id[run_id]) if by_id[run_id] else "(none)",
            key=f"{self.key}-{key}",
        )
        return by_id.get(chosen)

    def reuse_parameters(self, run: RunRecord) -> None:
        """ "Re-run with these parameters": the run's parameters become the workspace's own."""
        if run.params is None:
            st.caption("The parameters of this run were not recorded (it ran before run history).")
            return
        if st.button(
            "Re-run with these parameters", key=f"{self.key}-reuse-{run.id}", icon=":material/replay:"
        ):
            self.workflow.params.save(run.params)
            st.success(
                f"The parameters of the run of {literal(run.started)} are loaded. Check them on the "
                "Configure page, then press 'Start Workflow' on the Run page."
            )
            st.page_link("content/configure.py", label="Go to Configure", icon=":material/tune:")
