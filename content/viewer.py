"""Raw data viewer: every mzML of the workspace, read through an index built once."""

from src.ui import viewer
from src.ui.page import page_setup

viewer.show(page_setup())
