"""Configure: the parameters of every tool in the workflow."""

import streamlit as st

from src.ui.page import page_setup
from src.ui.workflow_ui import WorkflowUI

ctx = page_setup()
st.title("Configure")
ctx.workflow.configure(WorkflowUI(ctx.workflow))
