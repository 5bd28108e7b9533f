"""The execution path (src.core, src.jobs, the workflows) never imports Streamlit."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

ENGINE_MODULES = [
    "src.core.settings",
    "src.core.workspace",
    "src.core.params",
    "src.core.execution.executor",
    "src.core.workflow",
    "src.core.workflow.local_runner",
    "src.jobs.worker.tasks",
    # every module of every workflow package (their page-building code included: it gets the UI
    # helper handed in), the registry, and each installed workflow class
    *(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted((REPO / "src/workflows").rglob("*.py"))
        if "tests" not in path.parts and path.name not in ("conftest.py", "__main__.py")
    ),
]


def product_code(folder: str):
    """The modules of a folder of src/, without the tests a workflow package keeps beside it."""
    return [
        path
        for path in (REPO / folder).rglob("*.py")
        if "tests" not in path.relative_to(REPO).parts and path.name != "conftest.py"
    ]


def test_engine_imports_without_streamlit():
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}: importlib.import_module(name)\n"
        "import src.workflows; src.workflows.installed()\n"
        "assert 'streamlit' not in sys.modules, sorted(m for m in sys.modules if m.startswith('streamlit'))\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_no_streamlit_import_statement_in_the_engine():
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("src/core", "src/jobs", "src/workflows")
        for path in product_code(folder)
        if "import streamlit" in path.read_text() or "from streamlit" in path.read_text()
    ]
    assert offenders == []


def test_run_states_are_spelled_only_in_their_enum_module():
    """RunState (src/core/run/state.py) is the one place a run state is written as text; everything
    else uses its members, and RQ's states are mapped onto it in src/jobs/job_model.py."""
    spelled = re.compile(r"[\"'](queued|running|finished|failed|cancelled|canceled|stopped|started)[\"']")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in product_code("src")
        if path != REPO / "src/core/run/state.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert offenders == []
