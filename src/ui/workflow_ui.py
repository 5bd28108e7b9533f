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

from src.core.errors import InputError, ParameterError, UserError
from src.core.run import RunRecord
from src.core.settings import MB
from src.core.workflow import WorkflowBase
from src.core.workspace import space as storage
from src.core.workspace import uploads
from src.ui import navigation, topp_widgets
from src.ui.text import label_text, literal
from src.web import downloads


def _sent_name(upload) -> str:
    """The name the browser gave an upload (the web server keeps it in the ticket, and hands
    Streamlit a safe one of its own: ``src/web/upload_stream.py``)."""
    upload.seek(0)
    found = uploads.read_ticket(upload.read(len(uploads.TICKET_PREFIX) + 4096))
    upload.seek(0)
    return str(found.get("name", "")) if found else upload.name


#: What :meth:`WorkflowUI._saved` gives for a parameters file that cannot be read.
_UNREADABLE = object()


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
        except UserError as err:
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
        except UserError as err:
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
            except UserError as err:
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
                self.workflow.files.remove_input(key, name)
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
            st.page_link(navigation.link_target("configure"), label="Go to Configure", icon=":material/tune:")

    # ---- the workflow's own switches ------------------------------------------------------------
    def checkbox(self, key: str, label: str, default: bool, help: str = "") -> bool:
        """A switch of the workflow's own, saved in its parameters under ``key`` (dropped when it equals
        ``default``, as TOPP values are) and read in ``execution()`` with ``self.params.get``; returns
        whether it is on, so the page can show what belongs to it only then."""
        saved = self._saved(key, default)
        if saved is _UNREADABLE:
            return default
        widget = f"{self.key}::{key}"
        on = st.checkbox(
            label_text(label),
            value=saved if isinstance(saved, bool) else default,
            key=widget,
            help=literal(help) if help else None,
            on_change=self._save_value,
            args=(key, widget, default),
        )
        self._save_error(widget)
        return bool(on)

    # ---- more of the workflow's own parameters, other kinds of files, choices, downloads -----------
    def number(
        self,
        key: str,
        label: str,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
        help: str = "",
    ) -> float:
        """A number of the workflow's own, saved in its parameters under ``key`` (dropped when it
        equals ``default``) like :meth:`checkbox`; returns the value in force."""
        saved = self._saved(key, default)
        if saved is _UNREADABLE:
            return default
        usable = isinstance(saved, int | float) and not isinstance(saved, bool)
        inside = usable and (minimum is None or saved >= minimum) and (maximum is None or saved <= maximum)
        if not inside:
            st.error(f"The saved value {literal(saved)} of this setting is not allowed; set it again below.")
        value = float(saved) if inside else float(default)
        widget = f"{self.key}::{key}::{value!r}"  # a value saved elsewhere (a re-run's) shows at once
        st.number_input(
            label_text(label),
            value=value,
            min_value=None if minimum is None else float(minimum),
            max_value=None if maximum is None else float(maximum),
            format="%g",
            key=widget,
            help=literal(help) if help else None,
            on_change=self._save_value,
            args=(key, widget, default),
        )
        self._save_error(widget)
        return value

    def choice(
        self, key: str, label: str, options: dict[str, str], default: str | None = None, help: str = ""
    ) -> str | None:
        """One of ``options`` (value -> how it is named), saved in the workflow's parameters under
        ``key``; returns the value in force, None while nothing (still offered) is chosen."""
        saved = self._saved(key, default)
        if saved is _UNREADABLE:
            return None
        current = saved if saved in options else None
        widget = f"{self.key}::{key}::{current}"
        st.selectbox(
            label_text(label),
            list(options),
            index=list(options).index(current) if current is not None else None,
            format_func=lambda value: options.get(value, str(value)),
            placeholder="Choose one",
            key=widget,
            help=literal(help) if help else None,
            on_change=self._save_value,
            args=(key, widget, default),
        )
        self._save_error(widget)
        return current

    def _saved(self, key: str, default: object) -> object:
        """The workflow's saved value of ``key``, or _UNREADABLE (said on the page) if its
        parameters file is damaged."""
        try:
            return self.workflow.params.get(key, default)
        except ParameterError as err:
            st.error(f"The saved parameters are not valid: {literal(err)}")
            return _UNREADABLE

    def _save_value(self, key: str, widget: str, default: object) -> None:
        try:
            self.workflow.params.set(key, st.session_state[widget], default)
            st.session_state.pop(f"{widget}::error", None)
        except (ParameterError, OSError) as err:  # a damaged file or a full disk: say so on the page
            st.session_state[f"{widget}::error"] = str(err)

    def _save_error(self, widget: str) -> None:
        if st.session_state.get(f"{widget}::error"):
            st.error(f"Not saved: {literal(st.session_state[f'{widget}::error'])}")

    def select(self, label: str, options: list[str], key: str, index: int = 0) -> str | None:
        """A choice that only changes what a page shows (saved nowhere), e.g. what to compare."""
        if not options:
            return None
        return st.selectbox(
            label_text(label), options, index=min(index, len(options) - 1), key=f"{self.key}-{key}"
        )

    def edit_table(self, frame: pd.DataFrame, title: str, key: str, editable: list[str]) -> pd.DataFrame:
        """``frame`` with its ``editable`` columns open to edits; returns the table as edited. The
        widget is keyed by the data, so a table saved elsewhere (a re-run's parameters) shows at once."""
        st.subheader(literal(title))
        fingerprint = int(pd.util.hash_pandas_object(frame, index=False).sum())
        return st.data_editor(
            frame,
            key=f"{self.key}-edit-{key}-{fingerprint}",
            disabled=[column for column in frame.columns if column not in editable],
            hide_index=True,
            num_rows="fixed",
            width="stretch",
        )

    def problem(self, message: str) -> None:
        """A message about something that stops the workflow (shown exactly as written)."""
        st.error(literal(message))

    def upload_other_files(
        self,
        key: str,
        label: str,
        types: list[str],
        adopt: Callable[[Path, str, Path], Path],
        describe: Callable[[list[Path]], list[tuple[str, str]]] | None = None,
    ) -> None:
        """An upload of files other than mzML (e.g. FASTA): each arrives in the workspace's spool
        folder, within the same limits as an mzML upload, then ``adopt(spooled, name, folder)``
        checks it and moves it into the input folder ``key`` (or raises InputError, removing it);
        ``describe`` may add notes on the new files, as ``describe_inputs`` does for mzML."""
        folder = self.workflow.files.input_dir(key)
        with st.form(f"{self.key}-upload-{key}", clear_on_submit=True):
            try:
                chosen = st.file_uploader(
                    f"Add {label_text(label)}",
                    accept_multiple_files=True,
                    type=types,
                    max_upload_size=max(1, self.workflow.settings.limits.max_upload_bytes // MB),
                )
            except StreamlitAPIException:  # a name the web server replaced (src/web/upload_stream.py)
                chosen = None
                st.error(
                    f"An upload was refused: its name is not one this server accepts for {literal(label)} "
                    f"({literal(', '.join(types))}). Rename the file and upload it again."
                )
            submitted = st.form_submit_button("Add files")
        added = []
        for upload in (chosen or []) if submitted else []:
            name = _sent_name(upload)
            try:
                added.append(adopt(self._spooled(upload, name), name, folder))
                st.success(f"Added {literal(added[-1].name)}")
            except UserError as err:
                st.error(f"Not added: {literal(err)}")
        for kind, message in describe(added) if describe and added else []:
            if kind == "problem":
                st.warning(literal(message))
            else:
                st.info(literal(message))
        self._current_files(key, label)

    def _spooled(self, upload, name: str) -> Path:
        """The upload as a file in the workspace's spool folder: the one the web server wrote, or
        (served without src/web/server.py) written here from memory once it is known to fit."""
        workspace, settings = self.workflow.workspace, self.workflow.settings
        upload.seek(0)
        found = uploads.read_ticket(upload.read(len(uploads.TICKET_PREFIX) + 4096))
        upload.seek(0)
        if found is not None:
            if found.get("refused"):
                raise InputError(str(found["refused"]))
            spooled = uploads.spool_path(workspace, str(found.get("token", "")))
            if not spooled.is_file():
                raise InputError(
                    f"{name}: the uploaded file is gone (uploads are kept for an hour); add it again."
                )
            return spooled
        if upload.size > settings.limits.max_upload_bytes:
            raise InputError(uploads.too_large_message(name, settings.limits))
        storage.check_free_disk(settings.workspaces_dir, settings.limits, upload.size)
        storage.check_quota(workspace, settings.limits, upload.size)
        import uuid  # here, so the module's head stays as it was

        spooled = uploads.spool_path(workspace, uuid.uuid4().hex)
        spooled.parent.mkdir(parents=True, exist_ok=True)
        try:
            with spooled.open("wb") as handle:
                handle.writelines(iter(lambda: upload.read(MB), b""))  # in chunks, never whole
        except OSError as err:
            spooled.unlink(missing_ok=True)
            raise InputError(f"{name}: the file could not be stored ({err.strerror}). Try again.") from None
        return spooled

    def download_folder(self, folder: Path, name: str, label: str) -> None:
        """A link (valid for a few minutes, in this browser only) that downloads one result folder
        as a zip named ``name``, served like :meth:`download_results`."""
        browser = st.context.cookies.get(downloads.COOKIE, "")
        url = downloads.link(
            self.workflow.settings, folder, name, browser if isinstance(browser, str) else ""
        )
        st.link_button(label_text(label), url, icon=":material/download:")
