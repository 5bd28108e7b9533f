"""Tool: Theoretical fragment ions (src/ui/tools.py; the calculation in src/core/chem)."""

import streamlit as st

from src.ui import tools
from src.ui.page import page_setup

page_setup(makes_workspace=False)  # a tool needs no workspace: opening one makes none
st.title("Theoretical fragment ions")
tools.show_fragments()
