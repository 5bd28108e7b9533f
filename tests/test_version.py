"""One version everywhere: the Dockerfile's label says what src/core/version.py says (the image's
label itself, the sidebar, /metrics and the log lines are checked where they are made)."""

from __future__ import annotations

import re

from src.core.version import VERSION
from tests.conftest import REPO


def test_the_dockerfile_labels_the_image_with_the_apps_version():
    dockerfile = (REPO / "Dockerfile").read_text()
    labels = re.findall(r'org\.opencontainers\.image\.version="([^"]+)"', dockerfile)
    assert labels == [VERSION], f"set the Dockerfile's version label to {VERSION} (src/core/version.py)"


def test_the_version_is_semantic():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION
