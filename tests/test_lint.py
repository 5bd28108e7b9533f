"""The code stays ruff-clean (rules in pyproject.toml, unused `noqa` included) and has no dead code."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_dead_code():
    """vulture over the app, its tests and benchmarks (code only a test uses still counts as used);
    tests/vulture_allowlist.py names what other libraries call."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vulture",
            "src",
            "content",
            "app.py",
            "tests",
            "bench",
            "--min-confidence",
            "60",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    product = [line for line in result.stdout.splitlines() if line.startswith(("src/", "content/", "app.py"))]
    assert product == [], "\n".join(product)
