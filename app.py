"""Entry point: declares the pages and nothing else (`streamlit run app.py`)."""

import streamlit as st

from src.ui import navigation
from src.ui.page import FAVICON, app_title, offered_workflows

# The icon is a local file (a Material icon would be fetched from Google's servers).
st.set_page_config(page_title=app_title(), page_icon=FAVICON, layout="wide")
_, workflows = offered_workflows()
navigation.run(workflows)
