"""Queue admin: Redis, workers, queue depth, runs in order (Move), failed jobs (online mode)."""

import streamlit as st

from src.ui import admin
from src.ui.page import page_setup

ctx = page_setup(makes_workspace=False)  # reachable when the address may make no more workspaces
st.title("Queue admin")
admin.show(ctx)
