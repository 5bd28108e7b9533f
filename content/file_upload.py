"""File Upload: add mzML files to the workspace, or load the example data."""

import streamlit as st

from src.ui.page import page_setup
from src.ui.workflow_ui import WorkflowUI

ctx = page_setup()
st.title("File Upload")
ctx.workflow.upload(WorkflowUI(ctx.workflow))
