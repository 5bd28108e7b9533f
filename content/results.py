"""Results: tables and plots of any kept run, and two runs compared."""

import streamlit as st

from src.ui.page import page_setup
from src.ui.workflow_ui import WorkflowUI

ctx = page_setup()
st.title("Results")
ctx.workflow.results(WorkflowUI(ctx.workflow))
