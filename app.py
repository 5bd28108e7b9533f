"""Entry point: declares the pages and nothing else (`streamlit run app.py`)."""

import streamlit as st

from src.ui.page import FAVICON, app_title

# The icon is a local file (a Material icon would be fetched from Google's servers).
st.set_page_config(page_title=app_title(), page_icon=FAVICON, layout="wide")

pages = {
    "": [st.Page("content/quickstart.py", title="Quickstart", icon=":material/home:", default=True)],
    "TOPP Workflow": [
        st.Page("content/file_upload.py", title="File Upload", icon=":material/upload_file:"),
        st.Page("content/configure.py", title="Configure", icon=":material/tune:"),
        st.Page("content/run.py", title="Run", icon=":material/play_arrow:"),
        st.Page("content/results.py", title="Results", icon=":material/bar_chart:"),
    ],
    "Admin": [st.Page("content/admin.py", title="Queue admin", icon=":material/monitoring:")],
}
st.navigation(pages).run()
