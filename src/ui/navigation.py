"""The app's navigation: the Quickstart, one section per offered workflow, the tools, the Queue admin.

Every workflow gets the same four pages (``content/``); a page learns which workflow it serves
from :func:`current_workflow`, set here before it runs. The first workflow's pages keep the
plain addresses (``/run``, ``/results``, ...), the others' carry their id (``/proteomics-lfq-run``),
so links and bookmarks of the first release still lead where they did.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

from src.core.errors import UserError
from src.core.workflow import WorkflowBase
from src.ui.text import literal

#: The page scripts (absolute: a page may also run without app.py, as in a test).
CONTENT = Path(__file__).resolve().parents[2] / "content"
#: The pages of a workflow section: (script, title, icon, address).
WORKFLOW_PAGES = (
    (CONTENT / "file_upload.py", "File Upload", ":material/upload_file:", "file_upload"),
    (CONTENT / "configure.py", "Configure", ":material/tune:", "configure"),
    (CONTENT / "run.py", "Run", ":material/play_arrow:", "run"),
    (CONTENT / "results.py", "Results", ":material/bar_chart:", "results"),
)
#: The pages of no workflow, in the "Tools" section: (script, title, icon, address).
#: The calculators (src/ui/tools.py) need no workspace or run.
TOOL_PAGES = (
    (CONTENT / "viewer.py", "Raw data viewer", ":material/insights:", "viewer"),
    (CONTENT / "tool_peptide_mz.py", "Peptide m/z", ":material/calculate:", "peptide-mz"),
    (CONTENT / "tool_digest.py", "In-silico digest", ":material/content_cut:", "digest"),
    (CONTENT / "tool_fragments.py", "Fragment ions", ":material/scatter_plot:", "fragment-ions"),
    (CONTENT / "tool_isotopes.py", "Isotope pattern", ":material/equalizer:", "isotope-pattern"),
)
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("openms_workflow_page", default="")
#: The pages declared for this script run: (workflow id, page name) -> page.
_DECLARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("openms_workflow_pages", default=None)


def page_address(workflow: type[WorkflowBase], page: str, first: bool) -> str:
    """The address of one of a workflow's pages ("run", "results", ...)."""
    return page if first else f"{workflow.id}-{page}"


def page(workflow: type[WorkflowBase], name: str, first: bool) -> st.Page:
    """One of a workflow's pages ("file_upload", "run", ...), e.g. for ``st.page_link``."""
    script, title, icon, address = next(entry for entry in WORKFLOW_PAGES if entry[3] == name)
    return st.Page(script, title=title, icon=icon, url_path=page_address(workflow, address, first))


def run(workflows: tuple[type[WorkflowBase], ...]) -> None:
    """Declare the pages, then run the one the visitor opened."""
    serves: dict[str, str] = {}
    declared: dict[tuple[str, str], st.Page] = {}
    sections: dict[str, list] = {
        "": [st.Page(CONTENT / "quickstart.py", title="Quickstart", icon=":material/home:", default=True)]
    }
    for number, workflow in enumerate(workflows):
        pages = [page(workflow, entry[3], number == 0) for entry in WORKFLOW_PAGES]
        serves.update((one.url_path, workflow.id) for one in pages)
        declared.update(
            ((workflow.id, entry[3]), one) for entry, one in zip(WORKFLOW_PAGES, pages, strict=True)
        )
        sections[workflow.name] = pages
    sections["Tools"] = [
        st.Page(script, title=title, icon=icon, url_path=address)
        for script, title, icon, address in TOOL_PAGES
    ]
    sections["Admin"] = [st.Page(CONTENT / "admin.py", title="Queue admin", icon=":material/monitoring:")]
    chosen = st.navigation(sections, expanded=True)  # every page listed: none behind "View N more"
    known = _DECLARED.set(declared)
    try:
        with serving(serves.get(chosen.url_path, "")), user_errors_shown():
            chosen.run()
    finally:
        _DECLARED.reset(known)


@contextlib.contextmanager
def user_errors_shown() -> Iterator[None]:
    """The one net under every page: a :class:`UserError` that no section caught shows its
    message (it says what to do) instead of a traceback. Anything else is a bug and stays one."""
    try:
        yield
    except UserError as err:
        st.error(literal(err))


def link_target(name: str) -> st.Page | Path:
    """What ``st.page_link`` takes to reach another page ("configure", "results", ...) of the
    workflow this page serves: the page declared for it, or its script where a page runs without
    the navigation (a test's)."""
    found = (_DECLARED.get() or {}).get((current_workflow(), name))
    return found or next(entry[0] for entry in WORKFLOW_PAGES if entry[3] == name)


@contextlib.contextmanager
def serving(workflow_id: str) -> Iterator[None]:
    """Pages run inside serve the workflow ``workflow_id`` (tests run a page so, too)."""
    token = _CURRENT.set(workflow_id)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_workflow() -> str:
    """The id of the workflow whose page is running ("" on the Quickstart and admin pages)."""
    return _CURRENT.get()
