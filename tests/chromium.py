"""The browser the UI tests and the viewer benchmark drive: Debian's Chromium where there is one,
else Playwright's own (`python -m playwright install chromium`), with flags for a headless 2-core
machine. No other imports, so bench/ can use it without the test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
