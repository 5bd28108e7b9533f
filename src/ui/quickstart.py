"""The Quickstart page: what this app does and how to use it."""

from __future__ import annotations

from shutil import which

import streamlit as st

from src.ui import navigation
from src.ui.page import PageContext
from src.ui.text import literal

_LOCAL = """
You are running in **local mode**: each run is a process on this computer. Your files live in the
workspace chosen in the sidebar; create more workspaces there to keep projects apart.
"""

_ONLINE = """
You are using a **shared server**: your files live in a private workspace created for you. Keep the
link shown in the sidebar (`?workspace=…`) to come back to it later; anyone with that link can see it.
"""

_STEPS = """
Each workflow has its own section in the navigation, with its own files, parameters and runs; the runs
of different workflows in one workspace go side by side.

1. **File Upload**: add your files (mzML; profile data is centroided for you), or press
   *Load example data*.
2. **Configure**: the parameters of every tool the workflow runs, with the tools' own defaults and help
   texts. Only the values you change are saved.
3. **Run**: press *Start Workflow* and follow progress and logs; *Stop Workflow* ends it. Earlier runs
   are listed below; if the server sends e-mail you can ask for one when a run ends.
4. **Results**: tables, plots and a zip with every result file, for any kept run; compare two runs, or
   re-use a run's parameters.
"""


def show(ctx: PageContext) -> None:
    st.title(literal(ctx.settings.app_name))
    st.markdown(
        "Runs [OpenMS](https://openms.de) LC-MS workflows in the browser. The workflows offered here:"
    )
    for number, workflow in enumerate(ctx.workflows):
        with st.container(border=True):
            start = navigation.page(workflow, "file_upload", number == 0)
            st.page_link(start, label=f"**{literal(workflow.name)}**", icon=":material/science:")
            if workflow.description:
                st.markdown(literal(workflow.description))
    st.markdown(_ONLINE if ctx.settings.online_deployment else _LOCAL)
    st.subheader("How to use it")
    st.markdown(_STEPS)
    missing = sorted(
        {tool for workflow in ctx.workflows for tool in workflow.required_tools if not which(tool)}
    )
    if missing:
        st.warning(
            f"Not installed here: {literal(', '.join(missing))}. Install the OpenMS TOPP tools "
            "(Debian/Ubuntu: `apt-get install --no-install-recommends topp`) or use the Docker image."
        )
