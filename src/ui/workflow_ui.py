"""The UI helper handed to a workflow's upload(), configure() and results() methods.

Workflow modules call these methods instead of Streamlit, which keeps them
importable by queue workers without Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from src.core.files import InputError
from src.core.uploads import store_upload
from src.core.workflow import WorkflowBase
from src.ui import topp_widgets


class WorkflowUI:
    def __init__(self, workflow: WorkflowBase) -> None:
        self.workflow = workflow
        self.key = f"{workflow.workspace.name}-{workflow.id}"

    # ---- upload ---------------------------------------------------------------------------------
    def upload_files(
        self, key: str, label: str, example_loader: Callable[[], list[Path]] | None = None
    ) -> None:
        folder = self.workflow.files.input_dir(key)
        with st.form(f"{self.key}-upload-{key}", clear_on_submit=True):
            uploads = st.file_uploader(f"Add {label}", accept_multiple_files=True, type=["mzML"])
            submitted = st.form_submit_button("Add files")
        if submitted:
            self._store(folder, uploads or [])
        if example_loader and st.button("Load example data", key=f"{self.key}-example-{key}"):
            names = [p.name for p in example_loader()]
            st.success(f"Example data loaded: {', '.join(names)}")
        self._current_files(key, label)

    @staticmethod
    def _store(folder: Path, uploads: list) -> None:
        if not uploads:
            st.warning("Choose one or more files first, then press 'Add files'.")
        for upload in uploads:
            try:
                stored = store_upload(folder, upload.name, upload.getvalue())
                st.success(f"Added {stored.name}")
            except InputError as err:
                st.error(f"Not added: {err}")

    def _current_files(self, key: str, label: str) -> None:
        files = self.workflow.files.inputs(key)
        if not files:
            st.info(f"No {label} in this workspace yet.")
            return
        st.markdown(f"**{label} in this workspace ({len(files)})**")
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
    def info(self, text: str) -> None:
        st.info(text)

    def metric_row(self, metrics: dict[str, object]) -> None:
        for column, (name, value) in zip(st.columns(len(metrics)), metrics.items(), strict=True):
            column.metric(name, value)

    def table(self, frame: pd.DataFrame, title: str) -> None:
        st.subheader(title)
        st.dataframe(frame, hide_index=True, width="stretch")

    def plot(self, figure) -> None:
        st.plotly_chart(figure, width="stretch")

    def download_results(self) -> None:
        st.download_button(
            "Download all results (zip)",
            data=self.workflow.files.results_zip(),
            file_name=f"{self.workflow.id}-results.zip",
            mime="application/zip",
            key=f"{self.key}-download",
        )
