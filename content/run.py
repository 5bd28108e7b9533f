"""Run: start, watch and stop the workflow."""

import streamlit as st

from src.ui import run_section
from src.ui.page import page_setup

ctx = page_setup(run_page=True)
st.title("Run")
run_section.show(ctx)
