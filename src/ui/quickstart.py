"""The Quickstart page: what this app does and how to use it."""

from __future__ import annotations

import streamlit as st

from src.ui.page import PageContext
from src.ui.text import bullet_list, literal

_LOCAL = """
You are running in **local mode**: each run is a process on this computer. Your files live in the
workspace chosen in the sidebar; create more workspaces there to keep projects apart.
"""

_ONLINE = """
You are using a **shared server**: your files live in a private workspace created for you. Keep the
link shown in the sidebar (`?workspace=…`) to come back to it later; anyone with that link can see it.
"""

_STEPS = """
1. **File Upload**: add mzML files (profile data is centroided for you with PeakPickerHiRes), or
   press *Load example data* for three small demo runs.
2. **Configure**: every parameter of PeakPickerHiRes, FeatureFinderMetabo and FeatureLinkerUnlabeledKD,
   with the tools' own defaults and help texts. Only the values you change are saved.
3. **Run**: press *Start Workflow* and follow progress and logs; *Stop Workflow* ends it. Earlier runs
   of the workspace are listed below; if the server sends e-mail you can ask for one when a run ends.
4. **Results**: the consensus feature table, plots and a zip with every result file, for any kept run;
   compare two runs, or re-use a run's parameters.
"""


def show(ctx: PageContext) -> None:
    st.title(literal(ctx.settings.app_name))
    st.markdown(
        "Runs [OpenMS](https://openms.de) LC-MS workflows in the browser, each in its own section of the "
        "navigation:\n\n" + bullet_list([(cls.name, cls.description) for cls in ctx.workflows])
    )
    st.markdown(_ONLINE if ctx.settings.online_deployment else _LOCAL)
    st.subheader("How to use it")
    st.markdown(_STEPS)
    missing = ctx.workflow.missing_tools()
    if missing:
        st.warning(
            f"Not installed here: {literal(', '.join(missing))}. Install the OpenMS TOPP tools "
            "(Debian/Ubuntu: `apt-get install --no-install-recommends topp`) or use the Docker image."
        )
