"""The queue's tests against RQ's newest release on PyPI as well as the pinned one.

The rest of the suite runs with the RQ that requirements.txt pins. Here RQ's newest release is
downloaded from PyPI (whatever index pip is configured with), put in front of the pinned one on
``PYTHONPATH``, and the scheduler's, the spreading's and the adapter's tests run again in a
process of their own (their workers inherit the path). The test says which versions it ran; when
a new RQ release breaks the app, this test fails, with the failing tests' output, before anyone
upgrades.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The queue tests run again with the newest RQ.
QUEUE_TESTS = ("tests/test_rq_adapter.py", "tests/test_scheduler.py", "tests/test_spreading.py")

pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> str:
    env = dict(os.environ, PIP_CONSTRAINT="", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_queue_tests_pass_with_rqs_newest_release(tmp_path, capsys):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    _pip("download", "--no-deps", "--only-binary=:all:", "--dest", str(wheels), "rq", cwd=tmp_path)
    (wheel,) = wheels.glob("rq-*.whl")
    newest = wheel.name.split("-")[1]
    _pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), str(ROOT)])))
    found = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import version; print(version('rq'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == newest, f"the tests would not run with the downloaded RQ {newest} but with {found}"
    with capsys.disabled():
        print(f"\nRQ: pinned {version('rq')}, newest on PyPI {newest}; queue tests run again with {newest}")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *QUEUE_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, f"with RQ {newest}:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
