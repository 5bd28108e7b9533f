"""Shared fixtures: real data, isolated settings and workspaces, process-table helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from src.core.settings import Settings, load_settings

pytest_plugins = ["tests.queue_support", "tests.browser_support", "tests.appliance_support"]

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "mzML"
NZ_FILES = [DATA_DIR / f"NZ_20200227_0{n}.mzML" for n in (25, 27, 29)]
FFM_NOISE = {"algorithm:common:noise_threshold_int": 100.0}


def set_noise_threshold(workflow):
    """Apply FFM_NOISE to a workflow's FeatureFinderMetabo parameters, as the Configure page
    would (the real QC runs need it, see the README); returns the workflow."""
    for key, value in FFM_NOISE.items():
        workflow.params.set_tool_value("FeatureFinderMetabo", key, value)
    return workflow


@pytest.fixture(scope="session")
def nz_files() -> list[Path]:
    missing = [p for p in NZ_FILES if not p.is_file()]
    if missing:
        pytest.fail(
            f"real test data missing: {missing}; the tests expect ../shared/data/mzML beside the repo"
        )
    return NZ_FILES


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One cache (TOPP ini files) for the whole session: writing an ini costs about a second."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(tmp_path, shared_cache) -> Settings:
    """Local-mode settings with a fresh workspaces directory per test."""
    root = tmp_path / "workspaces"
    root.mkdir()
    (root / ".cache").symlink_to(shared_cache, target_is_directory=True)
    return load_settings(env={"WORKSPACES_DIR": str(root), "ONLINE_DEPLOYMENT": "false"})


def put_inputs(workflow, files: list[Path], key: str = "mzML-files") -> list[Path]:
    folder = workflow.files.input_dir(key)
    return [Path(shutil.copy(f, folder / f.name)) for f in files]


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``text`` (e.g. a workspace path). Each one's
    ``info["cmdline"]`` is the command line read then: a process may end (a zombie) at any moment
    after, and reading it again would raise."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(text in part for part in process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for(
    condition: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"
):
    """Poll until ``condition()`` is truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def tmpfs(tmp_path):
    """Mount real tmpfs volumes of a given size: ``tmpfs("64m")`` (root only; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; CI runs the tests as root (tests/run.sh)")
    mounted = []

    def mount(size: str) -> Path:
        path = tmp_path / f"tmpfs-{len(mounted)}"
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=True)
