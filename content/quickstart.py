"""Quickstart: what this app is and how to use it."""

from src.ui import quickstart
from src.ui.page import page_setup

quickstart.show(page_setup())
